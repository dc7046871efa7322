"""`replayer notes add`: store a debug note (store.notes), then index it (indexer.notes)."""

from __future__ import annotations

import os
import sys

import click

from replayer.app import cli, emit_json, pass_settings, warn
from store.settings import Settings


@cli.group("notes")
def notes_group() -> None:
    """Debug notes: reasoning and decision rationale, stored first, then indexed.

    \b
    Examples:
      replayer notes add --topic "ws reconnect" --tags websocket,cdp "Backoff resets ..."
      echo "long note" | replayer notes add --topic compaction -
    """


@notes_group.command("add")
@click.option("--topic", required=True, help="What the note is about.")
@click.option("--tags", default="", help="Comma-separated tags.")
@click.option("--author", default=None, help="Who wrote it (default: $USER).")
@click.option("--no-index", "no_index", is_flag=True,
              help="Only store the note; the next `index build` indexes it.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored note as JSON.")
@click.argument("text")
@pass_settings
def notes_add_cmd(settings: Settings, topic: str, tags: str, author: str | None, no_index: bool,
                  as_json: bool, text: str) -> None:
    """Store a debug note (TEXT, or - to read it from stdin), then index it.

    \b
    Examples:
      replayer notes add --topic "duckdb sandbox" --tags duckdb,security "COPY TO is ..."
      replayer notes add --topic "rug detection" - < reasoning.md
    """
    from indexer.notes import add_note

    body = sys.stdin.read() if text == "-" else text
    result = add_note(settings, topic, body, tags,
                      author or os.environ.get("USER") or "unknown", index=not no_index)
    if result.index_error:
        warn(f"warning: note stored but not indexed yet: {result.index_error}")
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"stored {result.note.note_id} in {result.path}"
               + ("; indexed" if result.indexed else ""))
