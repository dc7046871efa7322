"""`replayer data status|compact|verify|prune|export`: inspect and maintain the Parquet store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from replayer.app import cli, emit_json, pass_settings
from store.compaction import compact
from store.integrity import verify_store
from store.paths import DOC_TYPES, DataPaths
from store.retention import export_jsonl, prune
from store.schema import check_version
from store.settings import Settings
from store.status import store_status


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-12-14") from None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@cli.group()
def data() -> None:
    """Inspect and maintain the canonical Parquet store."""


@data.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_settings
def status_cmd(settings: Settings, as_json: bool) -> None:
    """Events and bytes per doc type and date, files per partition, pending WAL, schema.

    \b
    Examples:
      replayer data status
      replayer data status --json | jq .total_events
    """
    st = store_status(DataPaths(settings.data_dir))
    if as_json:
        emit_json(st)
        return
    click.echo(f"data root: {st['data_dir']}")
    sv = st["schema_version"]
    click.echo(f"schema version: {sv['on_disk']} on disk, {sv['code']} in code")
    click.echo(f"{'doc_type':<14} {'date':<11} {'events':>10} {'bytes':>10} {'files':>6}")
    for t, info in st["doc_types"].items():
        for p in info["partitions"]:
            click.echo(
                f"{t:<14} {p['date']:<11} {p['events']:>10} {_size(p['bytes']):>10} "
                f"{p['files']:>6}"
            )
    click.echo(f"total events: {st['total_events']}")
    w = st["wal"]
    click.echo(f"pending in WAL: {w['pending_events']} events in {w['segments']} segment(s)")
    for p in w["problems"]:
        click.echo(f"WAL segment {p['segment']}: {p['problem']} ({p['good_rows']} good rows; "
                   "the next writer replays them and keeps the segment in quarantine)")
    for d in st["damaged"]:
        where = f"moved to {d['moved_to']}" if d["moved_to"] else "skipped"
        click.echo(f"damaged: {d['file']}: {d['problem']} ({where})")
    if st["quarantine"]:
        click.echo(f"quarantine: {len(st['quarantine'])} file(s) under "
                   f"{DataPaths(settings.data_dir).quarantine}")
    if st["writer_running"]:
        click.echo(f"writer: {st['writer_running']}")


@data.command("verify")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_settings
def verify_cmd(settings: Settings, as_json: bool) -> None:
    """Check every stored file: each Parquet page against its checksum, each WAL frame.

    Reads everything (through pyarrow: DuckDB does not check page checksums). A damaged
    part file is moved to <data root>/quarantine/ (its events can be restored by
    ingesting their source again); the exit code is 1 when anything was damaged.

    \b
    Examples:
      replayer data verify
      replayer data verify --json | jq .damaged
    """
    from replayer.ingest_cmds import _bar

    paths = DataPaths(settings.data_dir)
    check_version(paths)
    with _bar(None) as bar:
        report = verify_store(paths, progress=bar.update)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"checked {report.files} file(s), {_size(report.bytes)}, {report.rows} rows "
                   f"and {report.wal_segments} WAL segment(s) in {report.seconds:.2f} s")
        for d in report.damaged:
            where = f"moved to {d['moved_to']}" if d["moved_to"] else "skipped (read-only root)"
            click.echo(f"damaged: {d['file']}: {d['problem']}; {where}")
        for p in report.wal_problems:
            click.echo(f"WAL segment {p['segment']}: {p['problem']} ({p['good_rows']} good rows;"
                       " the next writer replays them and keeps the segment in quarantine)")
        if report.quarantined:
            click.echo(f"quarantine: {len(report.quarantined)} file(s) under {paths.quarantine}")
        click.echo("all files intact" if report.ok else "damage found (see above)")
    if not report.ok:
        raise SystemExit(1)


@data.command("compact")
@click.option("--doc-type", type=click.Choice(DOC_TYPES), multiple=True, help="Only these.")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def compact_cmd(settings: Settings, doc_type: tuple[str, ...], as_json: bool) -> None:
    """Merge each partition's small flush files into large sorted ZSTD files.

    Safe while a writer and readers run. Example: replayer data compact
    """
    paths = DataPaths(settings.data_dir)
    check_version(paths)
    st = compact(paths, doc_type or DOC_TYPES)
    if as_json:
        emit_json({**st.__dict__, "duplicates_dropped": st.duplicates_dropped})
        return
    click.echo(
        f"compacted {st.partitions} partition(s): {st.files_in} files -> {st.files_out}, "
        f"{st.rows_out} rows ({st.duplicates_dropped} duplicates dropped) in {st.seconds:.2f} s"
    )


@data.command("prune")
@click.option("--before", required=True, callback=_date, help="Delete partitions before DATE.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_settings
def prune_cmd(settings: Settings, before: date, yes: bool) -> None:
    """Delete every partition dated before DATE.

    Example: replayer data prune --before 2025-11-01 --yes
    """
    if not yes:
        click.confirm(f"Delete all events dated before {before}?", abort=True, err=True)
    st = prune(DataPaths(settings.data_dir), before)
    click.echo(f"pruned {st.partitions} partition(s), {st.rows} events, {_size(st.bytes)}")


@data.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Directory (default: <data root>/exports).")
@click.option("--doc-type", type=click.Choice(DOC_TYPES), multiple=True)
@click.option("--since", callback=_date, help="First date (inclusive).")
@click.option("--until", callback=_date, help="Last date (inclusive).")
@click.option("--json", "as_json", is_flag=True)
@pass_settings
def export_cmd(settings: Settings, fmt: str, output: Path | None, doc_type: tuple[str, ...],
               since: date | None, until: date | None, as_json: bool) -> None:
    """Export events to one JSONL file per doc type.

    \b
    Examples:
      replayer data export --format jsonl --output out/ --doc-type game_tick
      replayer data export --output out/ --since 2025-12-01 --until 2025-12-31
    """
    paths = DataPaths(settings.data_dir)
    st = export_jsonl(paths, output or paths.exports, doc_type or DOC_TYPES, since, until)
    if as_json:
        emit_json(st.__dict__)
        return
    for t, f in st.files.items():
        click.echo(f"{st.rows[t]:>10} {t:<14} -> {f}")
