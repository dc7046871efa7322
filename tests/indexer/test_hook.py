"""The SessionStart hook: incremental over CONTEXT.md files, fail-open, says what changed."""

from __future__ import annotations

from pathlib import Path

from indexer.embedder import HashingEmbedder
from indexer.hook import session_start
from store.settings import Settings


def _text(outcome) -> str:  # type: ignore[no-untyped-def]
    assert outcome.payload["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    return str(outcome.payload["hookSpecificOutput"]["additionalContext"])


def test_first_run_lists_new_files_then_reports_up_to_date(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    text = _text(session_start(settings, embedder=fake_embedder))
    assert "- hooks/CONTEXT.md: new (2 sections)" in text
    assert "- store/CONTEXT.md: new" in text
    text = _text(session_start(settings, embedder=fake_embedder))
    assert text.startswith("CONTEXT.md index up to date: 2 files")
    assert "replayer index query" in text


def test_changed_sections_are_named_in_a_few_lines(settings: Settings, ctx_root: Path,
                                                   fake_embedder: HashingEmbedder) -> None:
    session_start(settings, embedder=fake_embedder)
    f = ctx_root / "store" / "CONTEXT.md"
    f.write_text(f.read_text().replace("Money is decimal128", "Money is exact decimal128")
                 + "\n## Retention\nPrune partitions before a date.\n")
    (ctx_root / "hooks" / "CONTEXT.md").unlink()
    text = _text(session_start(settings, embedder=fake_embedder))
    lines = text.splitlines()
    assert lines[0] == "CONTEXT.md files changed since the last index (2):"
    assert '- store/CONTEXT.md: changed "Key decisions"; added "Retention"' in lines
    assert "- hooks/CONTEXT.md: removed" in lines
    assert len(lines) <= 10


def test_hook_fails_open_with_a_warning(tmp_path: Path, ctx_root: Path) -> None:
    bad = tmp_path / "file-not-dir"
    bad.write_text("x")
    outcome = session_start(Settings(data_dir=bad, context_roots=(ctx_root,),
                                     model_id="hash:64"))
    assert outcome.report is None and outcome.warnings
    assert "not updated" in _text(outcome) and "stale" in _text(outcome)


def test_hook_uses_the_sessions_repository_when_no_roots_are_set(
        tmp_path: Path, ctx_root: Path, fake_embedder: HashingEmbedder) -> None:
    (ctx_root / ".git").mkdir(exist_ok=True)
    s = Settings(data_dir=tmp_path / "d", model_id="hash:64")
    outcome = session_start(s, cwd=ctx_root / "store", embedder=fake_embedder)
    assert outcome.report is not None and outcome.report.sources == 2
