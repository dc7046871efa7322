"""`replayer index build|query|stats|contexts`: thin wrappers over indexer/."""

from __future__ import annotations

import json
import os
import select
import sys
from pathlib import Path
from typing import Any

import click

from replayer.app import cli, emit_json, pass_settings, warn
from store.paths import TABLE_NAMES
from store.settings import Settings

_TABLE = click.Choice(TABLE_NAMES)


@cli.group("index")
def index_group() -> None:
    """Build and search the vector tables (events, code_context, debug_notes).

    \b
    Examples:
      replayer index build                       # incremental, all tables
      replayer index build --full --table code_context --root ../other-repo
      replayer index query "what fields are in playerUpdate" --table events -k 5
      replayer index stats --json
      replayer index prepare-model               # ONNX export: fast cold start
    """


def _with_roots(settings: Settings, roots: tuple[Path, ...]) -> Settings:
    return settings.with_(context_roots=roots) if roots else settings


@index_group.command("build")
@click.option("--full", "full", flag_value=True, default=False,
              help="Rebuild from scratch (needed after a model or chunker change).")
@click.option("--incremental", "full", flag_value=False,
              help="Embed only new or changed chunks (default).")
@click.option("--table", "tables", type=_TABLE, multiple=True,
              help="Table to build (repeatable; default: all three).")
@click.option("--root", "roots", type=click.Path(path_type=Path, file_okay=False),
              multiple=True, help="Directory searched for CONTEXT.md files (repeatable; "
              "default: $RUGS_CONTEXT_ROOTS, else the current repository).")
@click.option("--json", "as_json", is_flag=True, help="Print the build reports as JSON.")
@pass_settings
def build_cmd(settings: Settings, full: bool, tables: tuple[str, ...], roots: tuple[Path, ...],
              as_json: bool) -> None:
    """Bring the vector tables up to date with their sources.

    \b
    Examples:
      replayer index build
      replayer index build --table code_context --root ../shared/data/context_md
      replayer index build --full --table events
    """
    from indexer.build import build

    for root in roots:
        if not root.is_dir():
            raise click.BadParameter(f"{root} is not a directory", param_hint="--root")
    reports = build(_with_roots(settings, roots), tables or None, full=full,
                    progress=not as_json and sys.stderr.isatty())
    for r in reports:
        for w in r.warnings:
            warn(f"warning: {r.table}: {w}")
    if as_json:
        emit_json([r.to_dict() for r in reports])
        return
    click.echo(f"{'table':<13} {'mode':<11} {'sources':>7} {'+':>4} {'~':>4} {'-':>4} "
               f"{'embedded':>8} {'reused':>6} {'meta':>5} {'deleted':>7} {'rows':>6} {'s':>6}")
    for r in reports:
        mode = "no-op" if r.noop else r.mode + (" (repair)" if r.repaired else "")
        click.echo(f"{r.table:<13} {mode:<11} {r.sources:>7} {r.sources_added:>4} "
                   f"{r.sources_changed:>4} {r.sources_removed:>4} {r.embedded:>8} "
                   f"{r.reused_vectors:>6} {r.metadata_updated:>5} {r.rows_deleted:>7} "
                   f"{r.rows:>6} {r.duration_s:>6.2f}")


@index_group.command("query")
@click.argument("query")
@click.option("--table", type=_TABLE, default=None,
              help="Search one table (default: events and code_context).")
@click.option("--where", "where", multiple=True,
              help="Filter, repeatable: column=value, column=a,b, column^=prefix, "
              "tags~=word, date>=2025-12-01.")
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Number of results.")
@click.option("--mode", type=click.Choice(["hybrid", "vector", "text"]), default="hybrid",
              show_default=True, help="Vector, full-text (BM25) or both fused (RRF).")
@click.option("--notes", "include_notes", is_flag=True,
              help="Include debug_notes in a cross-table search.")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON list of results: table, score, text, source, metadata.")
@pass_settings
def query_cmd(settings: Settings, query: str, table: str | None, where: tuple[str, ...], k: int,
              mode: str, include_notes: bool, as_json: bool) -> None:
    """Search the vector tables.

    \b
    Examples:
      replayer index query "what fields are in playerUpdate"
      replayer index query "how is the parquet store partitioned" --table code_context
      replayer index query "rug" --table events --where event_name=gameStateUpdate -k 3
      replayer index query "why did we drop chromadb" --table debug_notes --json
    """
    from indexer.search import search

    results = search(settings, query, table=table, k=k, mode=mode, filters=list(where),
                     include_notes=include_notes)
    if as_json:
        emit_json([r.to_dict() for r in results])
        return
    if not results:
        click.echo("no results")
        return
    for i, r in enumerate(results, start=1):
        flag = "  [reasoning, not ground truth]" if r.reasoning else ""
        click.echo(f"{i}. [{r.table}] score {r.score:.4f}  {r.source}{flag}")
        body = r.text if len(r.text) <= 600 else r.text[:600] + " ..."
        click.echo("   " + body.replace("\n", "\n   "))
        click.echo()


@index_group.command("stats")
@click.option("--table", "tables", type=_TABLE, multiple=True,
              help="Table (repeatable; default: all three).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_settings
def stats_cmd(settings: Settings, tables: tuple[str, ...], as_json: bool) -> None:
    """Rows, sources, last build, fingerprint and pending work per table.

    \b
    Examples:
      replayer index stats
      replayer index stats --table code_context --json
    """
    from indexer.stats import stats

    result = stats(settings, tables or None)
    if as_json:
        emit_json([s.to_dict() for s in result])
        return
    for s in result:
        click.echo(f"{s.table}: " + ("not built" if not s.built else f"{s.rows} rows from "
                                      f"{s.sources} sources"))
        if s.last_build:
            lb = s.last_build
            click.echo(f"  last build: {lb.get('at')} ({lb.get('mode')}, "
                       f"{lb.get('embedded')} embedded, {lb.get('duration_s')} s)")
        if s.fingerprint:
            fp = s.fingerprint
            state = {True: "current", False: "OUTDATED: run a full build", None: "?"}[
                s.fingerprint_matches]
            click.echo(f"  fingerprint: {fp.get('model_id')} dim {fp.get('dim')} "
                       f"{fp.get('chunker_version')} ({state})")
        if s.pending is not None:
            p = s.pending
            click.echo(f"  pending: {p['added']} added, {p['changed']} changed, "
                       f"{p['removed']} removed sources" + (f" under {s.scope}" if s.scope
                                                            else ""))
        if s.dirty:
            click.echo("  interrupted build: the next build repairs it")
        for w in s.warnings:
            click.echo(f"  warning: {w}")


@index_group.command("prepare-model")
@click.option("--force", is_flag=True, help="Export again even if a valid export exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the export's manifest as JSON.")
@pass_settings
def prepare_model_cmd(settings: Settings, force: bool, as_json: bool) -> None:
    """Export the embedding model to ONNX once (needs torch and onnx; nothing is downloaded).

    Searches and index builds then run on onnxruntime: a server answers its first search
    in about a second instead of loading torch. The export lives under the data root
    (models/onnx/) and is tied to the model's weights digest; a first index build makes
    it on its own.

    \b
    Examples:
      replayer index prepare-model
      replayer index prepare-model --force --json
    """
    from indexer.embedder import prepare_model

    manifest = prepare_model(settings, force=force)
    manifest.pop("reference", None)
    if as_json:
        emit_json(manifest)
        return
    how = (f"exported in {manifest['export_s']} s" if "export_s" in manifest
           else "already exported")
    click.echo(f"{manifest['model_id']}: {how} to {manifest['path']}")
    click.echo(f"  checked against sentence-transformers with onnxruntime "
               f"{', '.join(manifest.get('verified_onnxruntime', []))}")


def _hook_stdin() -> dict[str, Any]:
    """The JSON Claude Code pipes to a hook (cwd, session_id, source), if any is waiting."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return {}
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        if not ready:
            return {}
        data = json.loads(sys.stdin.read() or "{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


@index_group.command("contexts")
@click.option("--hook", "as_hook", is_flag=True,
              help="SessionStart hook mode: never fails, prints the hook JSON.")
@click.option("--root", "roots", type=click.Path(path_type=Path), multiple=True,
              help="Directory searched for CONTEXT.md files (repeatable).")
@pass_settings
def contexts_cmd(settings: Settings, as_hook: bool, roots: tuple[Path, ...]) -> None:
    """Refresh the code_context table from CONTEXT.md files and say what changed.

    For Claude Code, in .claude/settings.json:

    \b
      {"hooks": {"SessionStart": [{"hooks": [
        {"type": "command", "command": "replayer index contexts --hook"}]}]}}
    """
    from indexer.hook import session_start

    cwd = None
    if as_hook:
        info = _hook_stdin()
        if isinstance(info.get("cwd"), str) and os.path.isdir(info["cwd"]):
            cwd = Path(info["cwd"])
    outcome = session_start(settings, roots=list(roots) or None, cwd=cwd)
    for w in outcome.warnings:
        warn(f"warning: {w}")
    if as_hook:
        click.echo(json.dumps(outcome.payload))
        return
    click.echo(outcome.payload["hookSpecificOutput"]["additionalContext"])
    if outcome.report is None:
        sys.exit(1)
