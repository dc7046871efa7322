"""`replayer claude init` end to end: run it on a temp repo, parse what it wrote, run the hook
exactly as settings.json names it, start the server exactly as .mcp.json names it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[2]

# The parts of Claude Code's formats these files rely on (unknown keys would be ignored by
# Claude Code; here they fail, so a typo cannot pass).
MCP_JSON_SCHEMA = {
    "type": "object",
    "required": ["mcpServers"],
    "additionalProperties": False,
    "properties": {"mcpServers": {"type": "object", "additionalProperties": {
        "type": "object",
        "required": ["command"],
        "additionalProperties": False,
        "properties": {
            "type": {"enum": ["stdio"]},
            "command": {"type": "string", "minLength": 1},
            "args": {"type": "array", "items": {"type": "string"}},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }}},
}
HOOK = {
    "type": "object",
    "required": ["type", "command"],
    "additionalProperties": False,
    "properties": {"type": {"const": "command"}, "command": {"type": "string", "minLength": 1},
                   "timeout": {"type": "number"}},
}
SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {"hooks": {
        "type": "object",
        "propertyNames": {"enum": ["PreToolUse", "PostToolUse", "UserPromptSubmit",
                                   "SessionStart", "SessionEnd", "Stop", "SubagentStop",
                                   "Notification", "PreCompact"]},
        "additionalProperties": {"type": "array", "items": {
            "type": "object",
            "required": ["hooks"],
            "additionalProperties": False,
            "properties": {"matcher": {"type": "string"},
                           "hooks": {"type": "array", "minItems": 1, "items": HOOK}},
        }},
    }},
}


def _base_env() -> dict[str, str]:
    """The environment of a Claude Code session: none of ours, no PYTHONPATH."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("RUGS_") and k != "PYTHONPATH"}


def _replayer() -> list[str]:
    script = Path(sys.executable).parent / "replayer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "replayer.cli"]


def _init(repo: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _base_env() | {"RUGS_DATA_DIR": str(data), "RUGS_MODEL_ID": "hash:64"}
    return subprocess.run([*_replayer(), "claude", "init", str(repo), *args], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=120)


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert m
    return yaml.safe_load(m.group(1)), m.group(2)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A git repo with one package and its CONTEXT.md, settings of its own, then init."""
    base = tmp_path_factory.mktemp("claude")
    repo, data = base / "repo", base / "data"
    (repo / ".git").mkdir(parents=True)
    (repo / "payments").mkdir()
    (repo / "payments" / "ledger.py").write_text('"""Ledger of settled trades."""\n')
    (repo / "payments" / "CONTEXT.md").write_text(
        "# payments — CONTEXT\n\n## Purpose\nThe ledger settles every trade exactly once "
        "and writes a reconciliation report at midnight.\n")
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(json.dumps(
        {"permissions": {"deny": ["Read(./.env)"]},
         "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo done"}]}]}}))
    res = _init(repo, data)
    assert res.returncode == 0, res.stderr
    assert ".mcp.json" in res.stdout and "created" in res.stdout
    return repo, data


def test_every_written_file_parses_in_claude_codes_formats(initialised: tuple[Path, Path],
                                                            ) -> None:
    repo, data = initialised
    mcp = json.loads((repo / ".mcp.json").read_text())
    jsonschema.validate(mcp, MCP_JSON_SCHEMA)
    entry = mcp["mcpServers"]["rugs"]
    assert Path(entry["command"]).is_absolute() and os.access(entry["command"], os.X_OK)
    assert entry["env"]["RUGS_DATA_DIR"] == str(data.resolve())
    assert entry["env"]["RUGS_CONTEXT_ROOTS"] == str(repo.resolve())
    assert entry["env"]["RUGS_MODEL_ID"] == "hash:64"
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    jsonschema.validate(settings, SETTINGS_SCHEMA)
    assert settings["permissions"] == {"deny": ["Read(./.env)"]}
    assert settings["hooks"]["Stop"][0]["hooks"][0]["command"] == "echo done"
    (group,) = settings["hooks"]["SessionStart"]
    (hook,) = group["hooks"]
    assert hook["command"].endswith(" index contexts --hook")
    meta, body = _front_matter((repo / ".claude" / "agents" / "rugs-expert.md").read_text())
    assert meta["name"] == "rugs-expert" and meta["description"]
    assert all(t.startswith("mcp__rugs__") for t in meta["tools"].split(", ")[:-3])
    meta, body = _front_matter((repo / ".claude" / "commands" / "context.md").read_text())
    assert "$ARGUMENTS" in body and meta["allowed-tools"]


def test_a_second_run_changes_nothing_and_says_so(initialised: tuple[Path, Path]) -> None:
    repo, data = initialised
    files = [repo / ".mcp.json", repo / ".claude" / "settings.json",
             repo / ".claude" / "agents" / "rugs-expert.md",
             repo / ".claude" / "commands" / "context.md"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    res = _init(repo, data)
    assert res.returncode == 0, res.stderr
    assert "nothing to change" in res.stdout and "created" not in res.stdout
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before
    dry = _init(repo, data, "--dry-run", "--json")
    assert json.loads(dry.stdout)["changed"] is False and json.loads(dry.stdout)["diff"] == ""


def test_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    res = _init(repo, tmp_path / "data", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "--- /dev/null\n+++ b/.mcp.json\n" in res.stdout
    assert "+++ b/.claude/agents/rugs-expert.md" in res.stdout
    assert res.stdout.rstrip().endswith("dry run: nothing written")
    assert list(repo.iterdir()) == []


def test_a_malformed_settings_file_is_one_error_line_and_stays_as_it_was(
        tmp_path: Path) -> None:
    repo = tmp_path / "bad"
    (repo / ".claude").mkdir(parents=True)
    (repo / ".claude" / "settings.json").write_text("{ not json")
    res = _init(repo, tmp_path / "data")
    assert res.returncode == 1
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "settings.json is not valid JSON" in res.stderr
    assert (repo / ".claude" / "settings.json").read_text() == "{ not json"
    assert not (repo / ".mcp.json").exists()


def _run_hook(repo: Path, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["SessionStart"][0]["hooks"][0]["command"]
    stdin = json.dumps({"session_id": "t", "hook_event_name": "SessionStart",
                        "source": "startup", "cwd": str(repo)})
    # As Claude Code runs it: through a shell, in the project, its JSON on stdin.
    return subprocess.run(command, shell=True, cwd=repo, input=stdin, capture_output=True,
                          text=True, timeout=120,
                          env=_base_env() | {"RUGS_DATA_DIR": str(tmp)} | env)


def _hook_json(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert list(out) == ["hookSpecificOutput"]
    assert out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert set(out["hookSpecificOutput"]) == {"hookEventName", "additionalContext"}
    return str(out["hookSpecificOutput"]["additionalContext"])


def test_the_hook_runs_as_settings_json_names_it_then_is_a_light_no_op(
        initialised: tuple[Path, Path], tmp_path: Path) -> None:
    repo, data = initialised
    ctx = _hook_json(_run_hook(repo, tmp_path / "elsewhere"))
    assert "payments/CONTEXT.md: new" in ctx
    # The command pins the data root .mcp.json names: the session's RUGS_DATA_DIR is moot.
    assert (data / "vectors").is_dir() and not (tmp_path / "elsewhere").exists()
    res = _run_hook(repo, tmp_path / "elsewhere", PYTHONPROFILEIMPORTTIME="1")
    assert "up to date" in _hook_json(res)
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines()
                if line.startswith("import time:")}
    # (Modules loaded by importlib.import_module are not traced; their imports are.)
    assert "indexer.hook" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "lancedb",
                                                           "sentence_transformers")}


async def _server_session(repo: Path) -> tuple[set[str], dict[str, Any]]:
    entry = json.loads((repo / ".mcp.json").read_text())["mcpServers"]["rugs"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"],
                                   env=_base_env() | entry["env"], cwd=str(repo))
    async with Client(params, read_timeout_seconds=60) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        res = await c.call_tool("search_code_context",
                                {"query": "reconciliation report at midnight", "k": 3,
                                 "mode": "text"})
        assert not res.is_error, res.content
        assert res.structured_content is not None
        return names, res.structured_content


@pytest.mark.anyio
async def test_the_server_starts_as_mcp_json_names_it_and_has_every_cited_tool(
        initialised: tuple[Path, Path], tmp_path: Path) -> None:
    repo, _ = initialised
    _hook_json(_run_hook(repo, tmp_path))  # the hook builds what the server searches
    names, found = await _server_session(repo)
    for rel in (".claude/agents/rugs-expert.md", ".claude/commands/context.md"):
        text = (repo / rel).read_text()
        cited = set(re.findall(r"mcp__rugs__(\w+)", text))
        assert cited and cited <= names, (rel, cited - names)
    meta, _ = _front_matter((repo / ".claude" / "agents" / "rugs-expert.md").read_text())
    assert {t[len("mcp__rugs__"):] for t in meta["tools"].split(", ")
            if t.startswith("mcp__")} == names
    top = found["results"][0]
    assert top["source"].endswith("payments/CONTEXT.md")
    assert "midnight" in top["text"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_hook_fails_open_even_when_its_settings_cannot_be_read(
        initialised: tuple[Path, Path], tmp_path: Path) -> None:
    repo, _ = initialised
    res = _run_hook(repo, tmp_path, RUGS_FLUSH_EVENTS="many")
    assert "may be stale" in _hook_json(res)
    assert res.stderr.startswith("warning: SessionStart hook failed (SettingsError: "
                                 "RUGS_FLUSH_EVENTS='many' is not a whole number")
