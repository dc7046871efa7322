"""`replayer ingest` and `replayer legacy import|export`: thin wrappers over store.ingest/legacy."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from replayer.app import cli, emit_json, pass_settings
from store.capture import parse_tz
from store.ingest import ingest
from store.legacy import export_legacy, import_legacy, legacy_files
from store.paths import DataPaths
from store.settings import Settings
from store.writer import EventWriter


@contextmanager
def _bar(total: int | None, unit: str = "B") -> Iterator[Any]:
    """A tqdm bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, unit_scale=True, leave=False, disable=None)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C / SIGTERM end a --follow cleanly: the batch in hand is written first."""
    stop = threading.Event()
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _written(written: dict[str, int]) -> str:
    return ", ".join(f"{t} {n}" for t, n in written.items() if n) or "nothing new"


@cli.command("ingest")
@click.argument("sources", metavar="FILE...|-", nargs=-1, required=True)
@click.option("--follow", is_flag=True,
              help="Tail a capture that is still being written; resumes after a restart.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as one JSON object (several files: {\"files\": [...]}).")
@click.option("--tz", "tz", default=None,
              help="Zone of naive timestamps (default UTC), e.g. America/New_York or -05:00.")
@click.option("--batch", "batch", default=2000, show_default=True, type=click.IntRange(1),
              help="Rows per write.")
@click.option("--poll", "poll", default=0.5, show_default=True, type=click.FloatRange(0.01),
              help="Seconds between looks at a followed file.")
@click.option("--idle-timeout", "idle_timeout", default=None, type=click.FloatRange(0),
              help="With --follow: stop after this many seconds without new lines.")
@pass_settings
def ingest_cmd(settings: Settings, sources: tuple[str, ...], follow: bool, as_json: bool,
               tz: str | None, batch: int, poll: float, idle_timeout: float | None) -> None:
    """Ingest capture files (or - for stdin) into the store.

    Reads every capture format and detects it per file: JSON lines of {timestamp,
    event_type, data}, {seq, ts, event, data} or the CDP {…, source, direction}; a JSON
    array of records; the key-samples object. Bad lines go to the rejects file under the
    data root; ingesting the same input twice adds nothing.

    \b
    Examples:
      replayer ingest captures/2025-12-15_00-39-17_cdp.jsonl
      replayer ingest captures/*.jsonl key-samples.json
      replayer ingest key-samples.json --json
      cat capture.jsonl | replayer ingest -
      replayer ingest live.jsonl --follow      # Ctrl-C stops; the next run resumes
    """
    if len(sources) > 1 and (follow or "-" in sources):
        raise click.UsageError("--follow and - (stdin) take a single input")
    naive_tz = parse_tz(tz) if tz else None
    summaries = []
    with _stop_on_signals() as stop, EventWriter.open(settings) as w:
        for source in sources:
            if stop.is_set():
                break
            path = Path(source)
            total = None if source == "-" or not path.is_file() else path.stat().st_size
            with _bar(total) as bar:
                summaries.append(ingest(
                    w, source, follow=follow, batch_events=batch, progress=bar.update,
                    naive_tz=naive_tz, poll_s=poll, stop=stop, idle_timeout_s=idle_timeout,
                ))
    if as_json:
        docs = [s.to_dict() for s in summaries]
        emit_json(docs[0] if len(sources) == 1 else {"files": docs})
        return
    for summary in summaries:
        click.echo(f"read {summary.read} events from {summary.input} ({summary.layout})")
        click.echo(f"written: {_written(summary.written)}")
        click.echo(f"duplicates skipped: {summary.duplicates}")
        click.echo(f"rejected: {summary.rejected}"
                   + (f" (see {summary.rejects_file})" if summary.rejects_file else ""))
        if summary.resumed:
            click.echo(f"resumed at byte {summary.start_offset}, now at {summary.end_offset}")
        if summary.note:
            click.echo(f"note: {summary.note}")


@cli.group()
def legacy() -> None:
    """Import the old recorder's JSONL recordings, or write the store back in that format."""


@legacy.command("import")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_settings
def legacy_import_cmd(settings: Settings, directory: Path, as_json: bool) -> None:
    """Import every *.jsonl legacy recording of DIRECTORY.

    tick -> game_tick; game_start, game_end, game_complete, session_* -> system_event;
    each game's end summary -> complete_game. Lines that are not records (broken
    writes, ## notes) go to rejects/legacy/ with file name and line number. A re-run
    imports nothing twice.

    \b
    Examples:
      replayer legacy import ../shared/data/legacy_recordings
      replayer legacy import ~/old_recordings --json
    """
    files = legacy_files(directory)  # a clear error before the writer is opened
    total = sum(p.stat().st_size for p in files)
    with EventWriter.open(settings) as w, _bar(total) as bar:
        s = import_legacy(w, directory, progress=bar.update)
    if as_json:
        emit_json(s.to_dict())
        return
    click.echo(f"read {s.read} records from {s.files} files in {s.elapsed_s:.1f} s "
               f"({s.records_per_s:,.0f} records/s)")
    click.echo(f"written: {_written(s.written)}")
    click.echo(f"duplicates skipped: {s.duplicates}")
    click.echo(f"rejected: {s.rejected} line(s)"
               + (f" in {len(s.rejects_files)} rejects file(s) under "
                  f"{DataPaths(settings.data_dir).rejects / 'legacy'}" if s.rejects_files else ""))


@legacy.command("export")
@click.option("--output", "output", required=True, type=click.Path(path_type=Path),
              help="Directory for the <session>.jsonl files.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_settings
def legacy_export_cmd(settings: Settings, output: Path, as_json: bool) -> None:
    """Write the stored legacy recordings back in the old recorder's JSONL format.

    One file per original recording, its records in their original line order and
    bytes (lines that were rejected on import are not in the store).

    \b
    Example:
      replayer legacy export --output /tmp/legacy_again
    """
    s = export_legacy(DataPaths(settings.data_dir), output)
    if as_json:
        emit_json(s.to_dict())
        return
    click.echo(f"wrote {s.records} records to {s.files} files in {s.output}")
