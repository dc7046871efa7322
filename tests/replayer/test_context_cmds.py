"""`replayer context check|init` as commands, and as the pre-commit hook this repo declares."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from replayer.cli import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    for rel in ("core/a.py", "core/CONTEXT.md", "extra/b.py", "extra/c.py", "tests/test_x.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text('"""A module."""\n')
    (root / ".git").mkdir()
    monkeypatch.chdir(root)
    return root


def _argv() -> list[str]:
    script = Path(sys.executable).parent / "replayer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "replayer.cli"]


def _proc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    env["RUGS_DATA_DIR"] = str(root.parent / "data")
    return subprocess.run([*_argv(), *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=60)


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def test_check_exits_1_listing_each_python_file_without_a_context_md(proj: Path) -> None:
    code, out, err = _run("context", "check")
    assert code == 1
    assert out.splitlines() == ["extra/: no CONTEXT.md beside 2 Python files",
                                "  extra/b.py", "  extra/c.py"]
    assert "replayer context init extra" in err


def test_check_passes_once_every_folder_has_one_and_says_what_it_checked(proj: Path) -> None:
    (proj / "extra" / "CONTEXT.md").write_text("# extra\n")
    code, out, _ = _run("context", "check")
    assert code == 0 and out.strip() == "ok: 3 Python files, every folder has a CONTEXT.md"


def test_check_json_and_tests_on_request(proj: Path) -> None:
    code, out, _ = _run("context", "check", "--json", "--include-tests", "--exclude", "extra")
    assert code == 1
    assert json.loads(out) == {"ok": False, "checked": 2, "missing": [
        {"folder": "tests", "files": ["tests/test_x.py"]}]}


def test_init_writes_a_stub_that_then_passes_the_check_and_never_overwrites(
        proj: Path) -> None:
    code, out, _ = _run("context", "init", "extra")
    assert code == 0 and out.startswith(f"wrote {proj / 'extra' / 'CONTEXT.md'} (2 modules")
    text = (proj / "extra" / "CONTEXT.md").read_text()
    assert "| `b.py` | module: A module. |" in text
    assert _run("context", "check")[0] == 0
    res = _proc(proj, "context", "init", "extra")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert res.stderr.startswith("error: ") and "already exists" in res.stderr
    assert "--force" in res.stderr
    assert (proj / "extra" / "CONTEXT.md").read_text() == text


def test_init_stdout_prints_the_stub_and_writes_nothing(proj: Path) -> None:
    code, out, _ = _run("context", "init", "extra", "--stdout")
    assert code == 0 and out.startswith("# extra — CONTEXT")
    assert not (proj / "extra" / "CONTEXT.md").exists()


def test_the_pre_commit_hook_runs_on_staged_files_as_pre_commit_would(proj: Path) -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["id"] == "context-check" and hook["language"] == "system"
    assert hook["types"] == ["python"] and hook["pass_filenames"] is True
    entry = shlex.split(hook["entry"])
    assert entry[0] == "replayer"
    # pre-commit appends the staged files of the hook's types to the entry, run from the root.
    res = _proc(proj, *entry[1:], "core/a.py", "extra/b.py", "tests/test_x.py")
    assert res.returncode == 1, res.stderr
    assert res.stdout.splitlines() == ["extra/: no CONTEXT.md beside 1 Python file",
                                       "  extra/b.py"]
    ok = _proc(proj, *entry[1:], "core/a.py")
    assert ok.returncode == 0, ok.stdout + ok.stderr
