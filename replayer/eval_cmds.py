"""`replayer eval QUESTIONS.jsonl` and `replayer schema verify EVENT`: retrieval quality and
per-event validation status."""

from __future__ import annotations

from pathlib import Path

import click

from replayer.app import cli, emit_json, pass_settings, warn
from replayer.data_cmds import schema
from store.paths import DataPaths
from store.settings import Settings
from store.validation import STATUSES


@cli.command("eval")
@click.argument("questions", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--mode", type=click.Choice(["hybrid", "vector", "text", "all"]), default="all",
              show_default=True, help="Search mode(s) to score.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object with the figures.")
@click.option("--show-misses", is_flag=True, help="List questions not answered in the top 5.")
@pass_settings
def eval_cmd(settings: Settings, questions: tuple[Path, ...], mode: str, as_json: bool,
             show_misses: bool) -> None:
    """Score retrieval on question files: hit@1, hit@5 and MRR per table and mode.

    Each QUESTIONS file is JSONL in the format of shared/eval/README.md: one object per
    line with id, question, table (events or code_context) and expect ({"event_name":
    [...], "field": ...}, and/or {"path": [...]}: on events a path names a protocol doc,
    answered by a section of it when RUGS_PROTOCOL_DOCS is indexed). Several files are
    scored together. Runs against the current index (build it first).

    \b
    Examples:
      replayer eval ../shared/eval/questions.jsonl ../shared/eval/docs_questions.jsonl
      replayer eval my_questions.jsonl --mode hybrid --json
    """
    from indexer.evaluate import evaluate, format_report, load_question_files

    qs = load_question_files(questions)
    modes = ["hybrid", "vector", "text"] if mode == "all" else [mode]
    rep = evaluate(settings, qs, modes, question_file=", ".join(map(str, questions)))
    if as_json:
        emit_json(rep.to_dict())
    else:
        click.echo(format_report(rep, qs, show_misses=show_misses))


@schema.command("verify")
@click.argument("event")
@click.option("--status", type=click.Choice(STATUSES), required=True,
              help="verified, unverified or needs-correction.")
@click.option("--note", default="", help="What was checked, or what is wrong.")
@click.option("--by", default=None, help="Who verified (default: $RUGS_USER or the login).")
@click.option("--force", is_flag=True, help="Accept an event name the store has not seen.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@pass_settings
def schema_verify(settings: Settings, event: str, status: str, note: str, by: str | None,
                  force: bool, as_json: bool) -> None:
    """Record the validation status of one event type (shown in the catalog and search).

    \b
    Examples:
      replayer schema verify playerUpdate --status verified --note "fields checked vs capture"
      replayer schema verify usernameStatus --status needs-correction \\
          --note "payload never captured: only the trace argument"
    """
    from store.catalog import catalog_from_store, describe_event
    from store.validation import set_validation

    paths = DataPaths(settings.data_dir)
    name = event
    if not force:
        # Typos would create statuses for events that do not exist: resolve against the
        # catalog (exact, else case-insensitive), with close names in the error.
        name = describe_event(catalog_from_store(paths, with_validation=False), event).event_name
    rec = set_validation(paths, name, status, note, by=by)
    if as_json:
        emit_json(rec.to_dict())
    else:
        click.echo(f"{rec.event_name}: {rec.status} by {rec.by} at {rec.at}"
                   + (f" ({rec.note})" if rec.note else ""))
        warn("run `replayer index build` to show the new status in search results")
