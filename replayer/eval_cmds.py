"""`replayer eval QUESTIONS.jsonl`: retrieval quality (hit@1, hit@5, MRR) on a question file."""

from __future__ import annotations

from pathlib import Path

import click

from replayer.app import cli, emit_json, pass_settings
from store.settings import Settings


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
