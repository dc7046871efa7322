"""The root click group, the settings it carries, and the helpers every command module shares."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from store.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data root (default: $RUGS_DATA_DIR, else ~/rugs_data).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """Canonical rugs.fun event store, DuckDB queries, vector indexes and MCP server.

    \b
    Examples:
      replayer ingest capture.jsonl
      replayer data status --json
      replayer data sql "SELECT event_name, count(*) FROM ws_event GROUP BY 1"
      replayer index build && replayer index query "what fields are in playerUpdate"
      replayer serve
    """
    ctx.obj = Settings.load(data_dir=data_dir)


pass_settings = click.make_pass_decorator(Settings)


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (datetimes, Decimals and Paths as strings)."""
    click.echo(json.dumps(obj, indent=2, default=str))


def emit(as_json: bool, doc: Any, lines: Iterable[str]) -> None:
    """A read command's output: `doc` as JSON under --json, else the text lines."""
    if as_json:
        emit_json(doc)
        return
    for line in lines:
        click.echo(line)


def warn(msg: str) -> None:
    click.echo(msg, err=True)
