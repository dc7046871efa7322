"""`replayer schema drift [EVENT]`: documented vs observed events and fields (the protocol docs
joined with the catalog)."""

from __future__ import annotations

from pathlib import Path

import click

from replayer.app import emit, emit_json, pass_settings
from replayer.schema_cmds import schema
from store.drift import EventDrift, drift_report, resolve_name, summary
from store.paths import DataPaths
from store.settings import Settings

MAX_FIELD_ROWS = 400


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _spec_mark(ev: EventDrift) -> str:
    if ev.spec_verified is None:
        return "-"
    return "VERIFIED" if ev.spec_verified else "unmarked"


def _list_lines(report: list[EventDrift]) -> list[str]:
    lines = [f"{'event':<30} {'status':<16} {'count':>7} {'both':>5} {'docs':>5} {'data':>5} "
             f"{'types':>5}  {'spec':<10} schema verify"]
    for ev in report:
        c = ev.counts()
        lines.append(
            f"{_short(ev.event_name, 30):<30} {ev.status:<16} {ev.count:>7} {c['both']:>5} "
            f"{c['documented_only']:>5} {c['observed_only']:>5} {c['type_mismatch']:>5}  "
            f"{_spec_mark(ev):<10} {ev.validation}"
            + ("" if ev.payload_captured else "  (payload never captured)"))
    s = summary(report)
    lines.append(f"({len(report)} events: {s['events_both']} documented and observed, "
                 f"{s['events_documented_only']} documented only, {s['events_observed_only']} "
                 f"observed only; fields: {s.get('fields_both', 0)} both, "
                 f"{s.get('fields_documented_only', 0)} documented only, "
                 f"{s.get('fields_observed_only', 0)} observed only, "
                 f"{s.get('fields_type_mismatch', 0)} type disagreements)")
    lines.append("columns both/docs/data: fields documented and observed / documented only / "
                 "observed only; types: type disagreements")
    return lines


def _event_lines(ev: EventDrift) -> list[str]:
    lines = [f"event:       {ev.event_name} ({ev.status.replace('_', ' ')})"]
    if ev.summary:
        lines.append(f"docs say:    {ev.summary}")
    if ev.doc_sources:
        lines.append(f"documented:  {', '.join(ev.doc_sources)}")
    spec = _spec_mark(ev) + (f" ({', '.join(ev.verified_on)})" if ev.verified_on else "")
    lines.append(f"validation:  docs {spec}; schema verify {ev.validation}"
                 + (f": {ev.validation_note}" if ev.validation_note else ""))
    lines.append(f"direction:   documented {ev.documented_direction or '-'}; observed "
                 f"{'/'.join(ev.observed_directions) or '-'}; seen {ev.count} times"
                 + ("" if ev.payload_captured else " (payload never captured)"))
    lines.append("")
    lines.append(f"{'field':<44} {'status':<16} {'documented':<14} {'observed':<18} note")
    for f in ev.fields[:MAX_FIELD_ROWS]:
        note = f.type_mismatch or ""
        if f.needs_validation:
            note = (note + "; " if note else "") + "docs: needs validation"
        if f.observed_at:
            note = (note + "; " if note else "") + "seen at " + ", ".join(f.observed_at[:3])
        if f.status == "trace_wrapper":
            note = "the trace wrapper: the store unwraps it, not a payload field"
        lines.append(f"{_short(f.path, 44):<44} {f.status:<16} "
                     f"{_short(f.documented_type or '-', 14):<14} "
                     f"{_short('/'.join(f.observed_types) or '-', 18):<18} {note}")
    if len(ev.fields) > MAX_FIELD_ROWS:
        lines.append(f"({len(ev.fields) - MAX_FIELD_ROWS} more: --json lists every field)")
    return lines


@schema.command("drift")
@click.argument("event", required=False)
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Protocol docs root (default: $RUGS_PROTOCOL_DOCS).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_settings
def drift_cmd(settings: Settings, event: str | None, docs_dir: Path | None,
              as_json: bool) -> None:
    """Documented vs observed: every event (or one event's fields) of the protocol docs and
    the store, with type disagreements and validation status.

    Statuses: both, documented_only (the docs describe it, the captures never showed it),
    observed_only (the data has it, the docs do not). Validation: the docs' own VERIFIED
    mark beside the project's `schema verify` status.

    \b
    Examples:
      RUGS_PROTOCOL_DOCS=../shared/data/protocol_docs replayer schema drift
      replayer schema drift playerUpdate --docs ../shared/data/protocol_docs
      replayer schema drift --json | jq '.events[] | select(.status == "documented_only")'
    """
    root = docs_dir or settings.protocol_docs
    report, docs = drift_report(DataPaths(settings.data_dir), root)
    if event is not None:
        name = resolve_name([e.event_name for e in report], event)
        ev = next(e for e in report if e.event_name == name)
        emit(as_json, ev.to_dict(), _event_lines(ev))
        return
    if as_json:
        emit_json({"docs_root": str(root), "docs_files": docs.files, "summary": summary(report),
                   "events": [e.to_dict() for e in report]})
        return
    click.echo(f"docs: {root} ({len(docs.files)} files)")
    for line in _list_lines(report):
        click.echo(line)
