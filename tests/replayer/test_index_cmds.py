"""`replayer index ...` and `replayer notes add` through click, and the hook as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from replayer.cli import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "store").mkdir(parents=True)
    (root / "store" / "CONTEXT.md").write_text(
        "# store\n\n## Purpose\nParquet is the truth.\n\n## Compaction\nOne file per day.\n")
    for k in list(os.environ):
        if k.startswith("RUGS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("RUGS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RUGS_MODEL_ID", "hash:64")
    monkeypatch.setenv("RUGS_CONTEXT_ROOTS", str(root))
    return root


def _run(*args: str, input: str | None = None) -> str:
    res = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_build_then_query_json_lists_results_with_table_score_text_source_metadata(
        env: Path) -> None:
    out = _run("index", "build", "--table", "code_context", "--json")
    (report,) = json.loads(out)
    assert report["table"] == "code_context" and report["rows"] == 3
    results = json.loads(_run("index", "query", "one file per day", "--table", "code_context",
                              "-k", "2", "--json"))
    assert len(results) == 2
    top = results[0]
    assert {"table", "score", "text", "source", "metadata"} <= top.keys()
    assert top["metadata"]["heading"] == "store > Compaction"
    assert top["source"].endswith("store/CONTEXT.md")


def test_query_text_output_and_where_filter(env: Path) -> None:
    _run("index", "build", "--table", "code_context")
    out = _run("index", "query", "parquet", "--table", "code_context", "--mode", "text",
               "--where", "heading=store > Purpose")
    assert out.startswith("1. [code_context] score") and "Parquet is the truth" in out
    assert "2. " not in out


def test_build_table_output_and_no_op_second_run(env: Path) -> None:
    out = _run("index", "build", "--table", "code_context")
    assert out.splitlines()[0].split()[:3] == ["table", "mode", "sources"]
    out = _run("index", "build", "--table", "code_context", "--incremental")
    assert "no-op" in out


def test_build_with_root_flag_indexes_that_directory(env: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "CONTEXT.md").write_text("# other\n\n## Purpose\nZebra crossing rules.\n")
    _run("index", "build", "--table", "code_context", "--root", str(other))
    res = json.loads(_run("index", "query", "zebra", "--table", "code_context", "--json"))
    assert res[0]["source"] == str((other / "CONTEXT.md").resolve())


def test_stats_json_reports_each_table(env: Path) -> None:
    _run("index", "build", "--table", "code_context")
    stats = {s["table"]: s for s in json.loads(_run("index", "stats", "--json"))}
    assert stats["code_context"]["rows"] == 3 and stats["code_context"]["built"]
    assert stats["debug_notes"]["built"] is False
    assert stats["code_context"]["pending"] == {"added": 0, "changed": 0, "removed": 0}
    text = _run("index", "stats", "--table", "code_context")
    assert "code_context: 3 rows from 1 sources" in text


def test_notes_add_reads_stdin_then_note_is_searchable(env: Path) -> None:
    out = _run("notes", "add", "--topic", "rug detection", "--tags", "rug,ticks",
               "--author", "claude", "-", input="Rug ticks carry active=true and rugged=true.\n")
    assert out.startswith("stored note-") and out.rstrip().endswith("indexed")
    res = json.loads(_run("index", "query", "rugged ticks", "--table", "debug_notes", "--json"))
    assert res[0]["reasoning"] is True and res[0]["metadata"]["tags"] == ["rug", "ticks"]


def test_contexts_without_hook_prints_the_summary(env: Path) -> None:
    out = _run("index", "contexts")
    assert "store/CONTEXT.md: new (2 sections)" in out


def _replayer(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([sys.executable, "-m", "replayer.cli", *args], cwd=REPO, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def _proc_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    base.update(PYTHONPATH=str(REPO), **extra)
    return base


def test_hook_prints_session_start_json_and_uses_the_sessions_cwd(tmp_path: Path,
                                                                   env: Path) -> None:
    (env / ".git").mkdir()
    e = _proc_env(RUGS_DATA_DIR=str(tmp_path / "d2"), RUGS_MODEL_ID="hash:64")
    res = _replayer("index", "contexts", "--hook", env=e,
                    stdin=json.dumps({"session_id": "s", "cwd": str(env / "store"),
                                      "hook_event_name": "SessionStart"}))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    ctx = out["hookSpecificOutput"]["additionalContext"]
    assert out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "store/CONTEXT.md: new" in ctx


def test_hook_fails_open_exit_zero_with_warning_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "a-file"
    bad.write_text("")
    e = _proc_env(RUGS_DATA_DIR=str(bad), RUGS_MODEL_ID="hash:64",
                  RUGS_CONTEXT_ROOTS=str(tmp_path))
    res = _replayer("index", "contexts", "--hook", env=e)
    assert res.returncode == 0
    assert res.stderr.startswith("warning: CONTEXT.md index not updated")
    assert "stale" in json.loads(res.stdout)["hookSpecificOutput"]["additionalContext"]


def test_indexer_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    e = _proc_env(RUGS_DATA_DIR=str(tmp_path), RUGS_MODEL_ID="hash:64")
    res = _replayer("index", "query", "x", "--table", "events", env=e)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: table events has not been built yet: run `replayer index build --table events`"]
    res = _replayer("index", "query", "x", "--where", "nonsense", env=e)
    assert res.returncode == 1 and "column=value" in res.stderr
    e["RUGS_MODEL_ID"] = "openai:text-embedding-3-small"
    res = _replayer("index", "build", "--table", "code_context", env=e)
    assert res.returncode == 1 and "unknown embedding provider 'openai'" in res.stderr
    res = _replayer("notes", "add", "--topic", " ", "text", env=e)
    assert res.returncode == 1 and "topic" in res.stderr


def test_prepare_model_of_a_hash_model_is_one_clear_error(env: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "replayer.cli", "index", "prepare-model"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip() == ("error: model 'hash:64' has no ONNX export to prepare "
                                  "(only sentence-transformers models do)")


@pytest.mark.slow
def test_prepare_model_finds_an_existing_export_and_reports_it(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_embedder: Any) -> None:
    from tests.conftest import link_model_export

    link_model_export(real_embedder, tmp_path / "data")
    monkeypatch.setenv("RUGS_MODEL_ID", "all-MiniLM-L6-v2")
    out = json.loads(_run("index", "prepare-model", "--json"))
    assert out["model_id"] == "all-MiniLM-L6-v2" and "export_s" not in out  # reused
    assert out["path"].startswith(str(tmp_path / "data" / "models" / "onnx"))
    assert "reference" not in out and out["verified_onnxruntime"]
    assert "already exported" in _run("index", "prepare-model")
