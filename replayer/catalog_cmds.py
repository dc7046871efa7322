"""`replayer data events [NAME]`: the event catalog (fields, types, examples, validation)."""

from __future__ import annotations

from typing import Any

import click

from replayer.app import emit, pass_settings
from replayer.data_cmds import data
from store.catalog import Catalog, EventInfo, catalog_from_store, describe_event, event_to_dict
from store.paths import DataPaths
from store.settings import Settings


def _short(v: Any, n: int = 40) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _types(types: dict[str, int]) -> str:
    return "|".join(t for t, _ in sorted(types.items(), key=lambda kv: -kv[1]))


def _list_lines(cat: Catalog) -> list[str]:
    lines = [f"{'event':<30} {'dir':<13} {'count':>8} {'fields':>6} {'doc types':<34} "
             f"{'last seen':<10} validation"]
    for name in cat.names():
        e = cat.events[name]
        lines.append(
            f"{_short(name, 30):<30} {'/'.join(sorted(e.directions)):<13} {e.count:>8} "
            f"{len(e.fields):>6} {_short(','.join(sorted(e.doc_types)), 34):<34} "
            f"{(e.last_seen or '')[:10]:<10} {(e.validation or {}).get('status', 'unverified')}"
        )
    lines.append(f"({len(cat.events)} event names from {cat.rows} rows)")
    return lines


def _event_lines(e: EventInfo) -> list[str]:
    v = e.validation or {"status": "unverified"}
    lines = [
        f"event:       {e.event_name}",
        f"direction:   {', '.join(f'{d} ({n})' for d, n in sorted(e.directions.items()))}",
        f"access:      {e.auth}",
        f"doc types:   {', '.join(f'{t} ({n})' for t, n in sorted(e.doc_types.items()))}",
        f"count:       {e.count}  first {e.first_seen}  last {e.last_seen}",
        f"payloads:    {', '.join(f'{k} {n}' for k, n in sorted(e.payload_kinds.items()))}",
    ]
    if e.median_interval_s:
        lines.append(f"interval:    median {e.median_interval_s} s")
    if e.phases:
        lines.append("phases:      " + ", ".join(f"{p} {n}" for p, n in
                                              sorted(e.phases.items(), key=lambda kv: -kv[1])))
    for label, rel in (("replies to", e.replies_to), ("answered by", e.answered_by),
                       ("same trace", e.same_trace_as)):
        if rel:
            lines.append(f"{label + ':':<13}" + ", ".join(f"{k} ({n})" for k, n in rel.items()))
    lines.append(f"validation:  {v.get('status')}"
                 + (f" by {v['by']}" if v.get("by") else "")
                 + (f" at {v['at']}" if v.get("at") else "")
                 + (f": {v['note']}" if v.get("note") else ""))
    for s in e.shapes:
        lines.append(f"shape {s.key}: {s.count} seen; only here: {', '.join(s.only_here) or '-'}")
    if e.fields:
        lines.append("")
        lines.append(f"{'field':<48} {'type':<16} {'present':>8}  examples")
        for f in e.fields:
            ex = f.values if f.values is not None else f.examples
            if not ex and f.items:
                ex = [f"{f.items[0]}..{f.items[1]} items"]
            lines.append(f"{_short(f.path, 48):<48} {_short(_types(f.types), 16):<16} "
                         f"{f.presence * 100:>7.1f}%  {_short(', '.join(map(str, ex)), 60)}")
    elif e.payload_kinds.get("trace_only"):
        lines.append("fields: unknown (only the trace argument was captured)")
    return lines


@data.command("events")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--refresh", is_flag=True, help="Recompute instead of using the cached catalog.")
@pass_settings
def events_cmd(settings: Settings, name: str | None, as_json: bool, refresh: bool) -> None:
    """The event catalog: every event name, or one event's fields with types and examples.

    Computed from the stored events (raw payloads, trace wrappers unwrapped) and cached
    under manifests/ until the store changes.

    \b
    Examples:
      replayer data events
      replayer data events playerUpdate
      replayer data events standard/newTrade --json | jq '.fields[].path'
    """
    cat = catalog_from_store(DataPaths(settings.data_dir), use_cache=not refresh)
    if name is None:
        emit(as_json, cat.to_dict(), _list_lines(cat))
        return
    e = describe_event(cat, name)  # CatalogError with close names if unknown
    emit(as_json, event_to_dict(e), _event_lines(e))
