"""`replayer quickstart`: ingest sample captures, build the three indexes, answer one question."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import click

from replayer.app import cli, pass_settings
from store.ingest import ingest
from store.legacy import import_legacy
from store.settings import Settings
from store.writer import EventWriter

REPO = Path(__file__).resolve().parents[1]
# Small real excerpts shipped with the repository; ../shared/data holds the full corpus.
SAMPLES = REPO / "tests" / "fixtures" / "ingest"
# A small excerpt of the users' protocol spec (its playerUpdate and requestSidebet sections).
DOCS_SAMPLE = REPO / "tests" / "fixtures" / "protocol_docs"
QUESTION = "What fields are in playerUpdate?"
ANSWER_CHARS = 1_200  # of the best hit, shown whole up to this


def _captures(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix in {".jsonl", ".json"})


@cli.command("quickstart")
@click.option("--from", "source", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, help="Directory of capture files (and a legacy/ subfolder). "
              "Default: the sample excerpts shipped in tests/fixtures/ingest.")
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, help="Protocol docs root (default: $RUGS_PROTOCOL_DOCS, else the "
              "--from directory's protocol_docs/, else the sample in tests/fixtures).")
@click.option("--question", default=QUESTION, show_default=True, help="What to ask at the end.")
@pass_settings
def quickstart(settings: Settings, source: Path | None, docs_dir: Path | None,
               question: str) -> None:
    """Run the main job end to end on embedded defaults: no server to start.

    \b
    1. ingest every capture in the sample directory (and its legacy/ recordings)
    2. build the events, code_context and debug_notes indexes
    3. answer one protocol question from the index (its best hit shown whole)

    \b
    Examples:
      replayer quickstart
      replayer --data-dir /tmp/rugs quickstart --from ../shared/data
    """
    from indexer.build import build
    from indexer.search import search

    directory = source or SAMPLES
    if not directory.is_dir():
        raise click.ClickException(
            f"no sample directory at {directory}; pass --from DIR with capture files")
    settings_docs = docs_dir or settings.protocol_docs
    docs = settings_docs or next(
        (d for d in ((source / "protocol_docs") if source else None, DOCS_SAMPLE)
         if d is not None and d.is_dir()), None)
    settings = settings.with_(protocol_docs=docs)
    click.echo(f"data root: {settings.data_dir}")
    click.echo(f"protocol docs: {docs}")
    t0 = time.perf_counter()
    with EventWriter.open(settings) as writer:
        for f in _captures(directory):
            s = ingest(writer, f)
            new = sum(s.written.values())
            click.echo(f"  ingested {f.name}: {s.read} records, {new} new rows")
        for legacy in (directory / "legacy", directory / "legacy_recordings"):
            if legacy.is_dir():
                ls = import_legacy(writer, legacy)
                click.echo(f"  imported {legacy.name}/: {ls.read} records")
    click.echo(f"ingest done in {time.perf_counter() - t0:.1f} s; building indexes "
               "(loads the embedding model once)…")
    t0 = time.perf_counter()
    for r in build(settings, progress=True):
        click.echo(f"  {r.table:<13} {r.rows:>6} rows, {r.embedded} embedded, "
                   f"{r.duration_s:.1f} s")
        for w in r.warnings:
            click.echo(f"  warning: {r.table}: {w}", err=True)
    click.echo(f"indexes built in {time.perf_counter() - t0:.1f} s")
    click.echo(f"\nQ: {question}")
    hits = search(settings, question, k=5)
    # The answer to "what fields are in X" is X's overview card (its field list): shown
    # whole when it is among the top hits, with the hits' ranks beside it.
    best = next((h for h in hits if h.metadata.get("kind") == "schema_card"), None)
    for n, hit in enumerate(hits[:3], start=1):
        text = " ".join(hit.text.split())
        click.echo(f"  {n}. [{hit.table} {hit.score:.3f}] {text[:110]}\n      source: {hit.source}")
    if best is not None:
        text = " ".join(best.text.split())
        shown = text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + " …"
        rank = hits.index(best) + 1
        click.echo(f"\n  the field list (hit {rank}, {best.metadata.get('event_name')}'s "
                   "overview card):")
        click.echo(textwrap.indent(textwrap.fill(shown, 96), "    "))
    click.echo("\nNext: replayer data status | replayer index query \"…\" | replayer serve")
    if docs is not None and settings_docs is None:
        # The docs root chosen here is this run's only: a later build without it drops the
        # doc sections (and says so), and the server would not join the docs with the data.
        click.echo(f"Keep the protocol docs in later builds and the server: "
                   f"export RUGS_PROTOCOL_DOCS={docs}")
