"""`plan_init` / `apply`: merged, never clobbering, idempotent; bad files refused untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_server.claude_files import ToolInfo
from mcp_server.claude_init import (
    AGENT_MD,
    COMMAND_MD,
    MCP_JSON,
    SETTINGS_JSON,
    InitPlan,
    apply,
    plan_init,
)
from mcp_server.errors import ClaudeConfigError
from store.settings import Settings


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    return r


def _plan(repo: Path, tools: list[ToolInfo], **kw: Any) -> InitPlan:
    settings = Settings(data_dir=repo.parent / "data")
    return plan_init(repo, settings, tools=tools, **kw)


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _actions(plan: InitPlan) -> dict[str, str]:
    return {f.rel: f.action for f in plan.files}


def test_first_run_creates_four_files_and_the_second_changes_nothing(
        repo: Path, tools: list[ToolInfo]) -> None:
    first = _plan(repo, tools)
    assert _actions(first) == {MCP_JSON: "create", SETTINGS_JSON: "create",
                               AGENT_MD: "create", COMMAND_MD: "create"}
    apply(first)
    before = {p: (repo / p).read_bytes() for p in _actions(first)}
    again = _plan(repo, tools)
    assert not again.changed and set(_actions(again).values()) == {"unchanged"}
    assert again.diff() == ""
    assert apply(again) == []
    assert {p: (repo / p).read_bytes() for p in before} == before


def test_settings_keep_other_keys_events_and_session_start_hooks(
        repo: Path, tools: list[ToolInfo]) -> None:
    existing: dict[str, Any] = {
        "permissions": {"allow": ["Bash(git status)"]},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                                                          "command": "./guard.sh"}]}],
            "SessionStart": [{"matcher": "startup",
                              "hooks": [{"type": "command", "command": "echo hi"}]}],
        },
        "model": "sonnet",
    }
    (repo / ".claude").mkdir()
    (repo / SETTINGS_JSON).write_text(json.dumps(existing))
    apply(_plan(repo, tools))
    got = _json(repo / SETTINGS_JSON)
    assert got["permissions"] == existing["permissions"] and got["model"] == "sonnet"
    assert got["hooks"]["PreToolUse"] == existing["hooks"]["PreToolUse"]
    groups = got["hooks"]["SessionStart"]
    assert groups[0] == existing["hooks"]["SessionStart"][0]
    ours = [h for g in groups for h in g["hooks"] if "index contexts --hook" in h["command"]]
    assert len(ours) == 1
    apply(_plan(repo, tools))
    assert _json(repo / SETTINGS_JSON) == got


def test_an_earlier_copy_of_the_hook_is_updated_in_place_and_duplicates_dropped(
        repo: Path, tools: list[ToolInfo]) -> None:
    readme_hook = {"type": "command", "command": "replayer index contexts --hook",
                   "timeout": 30}
    (repo / ".claude").mkdir()
    (repo / SETTINGS_JSON).write_text(json.dumps({"hooks": {"SessionStart": [
        {"hooks": [readme_hook, {"type": "command", "command": "echo keep"}]},
        {"hooks": [{"type": "command",
                    "command": "RUGS_DATA_DIR=/old /old/venv/bin/replayer index contexts "
                               "--hook"}]},
    ]}}))
    plan = _plan(repo, tools)
    change = next(f for f in plan.files if f.rel == SETTINGS_JSON)
    assert change.action == "update" and change.detail == "SessionStart hook updated"
    apply(plan)
    groups = _json(repo / SETTINGS_JSON)["hooks"]["SessionStart"]
    assert len(groups) == 1
    first, keep = groups[0]["hooks"]
    assert first["command"] == plan.launch.hook_command() and first["timeout"] == 30
    assert keep == {"type": "command", "command": "echo keep"}


def test_mcp_json_keeps_other_servers_and_updates_ours(repo: Path,
                                                      tools: list[ToolInfo]) -> None:
    other = {"command": "npx", "args": ["-y", "some-server"]}
    (repo / MCP_JSON).write_text(json.dumps({"mcpServers": {
        "other": other, "rugs": {"command": "/gone/python", "args": ["-m", "mcp_server"]}}}))
    plan = _plan(repo, tools)
    assert _actions(plan)[MCP_JSON] == "update"
    apply(plan)
    servers = _json(repo / MCP_JSON)["mcpServers"]
    assert servers["other"] == other
    assert servers["rugs"] == plan.launch.server_entry()


def test_the_same_json_in_another_layout_is_left_alone(repo: Path,
                                                       tools: list[ToolInfo]) -> None:
    apply(_plan(repo, tools))
    compact = json.dumps(_json(repo / MCP_JSON), separators=(",", ":"))
    (repo / MCP_JSON).write_text(compact)
    assert _actions(_plan(repo, tools))[MCP_JSON] == "unchanged"
    assert (repo / MCP_JSON).read_text() == compact


@pytest.mark.parametrize("rel,text,match", [
    (SETTINGS_JSON, '{"hooks": {"SessionStart": [', r"settings.json is not valid JSON \(line 1"),
    (SETTINGS_JSON, '{"hooks": []}', r'"hooks" must be an object'),
    (SETTINGS_JSON, '{"hooks": {"SessionStart": {}}}', r'"hooks.SessionStart" must be an array'),
    (MCP_JSON, "[1, 2]", r"must hold a JSON object"),
    (MCP_JSON, '{"mcpServers": "x"}', r'"mcpServers" must be an object'),
])
def test_a_malformed_file_is_refused_and_nothing_is_written(
        repo: Path, tools: list[ToolInfo], rel: str, text: str, match: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    with pytest.raises(ClaudeConfigError, match=match):
        _plan(repo, tools)
    assert (repo / rel).read_text() == text
    assert sorted(p.name for p in repo.rglob("*") if p.is_file()) == [Path(rel).name]


def test_a_hand_written_agent_is_kept_unless_forced_and_ours_is_regenerated(
        repo: Path, tools: list[ToolInfo]) -> None:
    mine = "---\nname: rugs-expert\ndescription: my own\n---\nGrep the docs.\n"
    (repo / AGENT_MD).parent.mkdir(parents=True)
    (repo / AGENT_MD).write_text(mine)
    plan = _plan(repo, tools)
    agent = next(f for f in plan.files if f.rel == AGENT_MD)
    assert agent.action == "skip" and "--force" in agent.detail
    apply(plan)
    assert (repo / AGENT_MD).read_text() == mine
    apply(_plan(repo, tools, force=True))
    ours = (repo / AGENT_MD).read_text()
    assert ours != mine and "mcp__rugs__describe_event" in ours
    # An outdated generated copy (e.g. from an older tool list) is regenerated without force.
    (repo / AGENT_MD).write_text(ours.replace("describe_event", "old_tool_name"))
    assert _actions(_plan(repo, tools))[AGENT_MD] == "update"


def test_the_diff_is_unified_and_names_each_file(repo: Path, tools: list[ToolInfo]) -> None:
    diff = _plan(repo, tools).diff()
    for rel in (MCP_JSON, SETTINGS_JSON, AGENT_MD, COMMAND_MD):
        assert f"--- /dev/null\n+++ b/{rel}\n" in diff
    assert not any(repo.iterdir())


def test_another_server_name_is_used_in_every_file(repo: Path, tools: list[ToolInfo]) -> None:
    apply(_plan(repo, tools, server="kb"))
    assert set(_json(repo / MCP_JSON)["mcpServers"]) == {"kb"}
    assert "mcp__kb__describe_event" in (repo / AGENT_MD).read_text()
    assert "mcp__rugs__" not in (repo / COMMAND_MD).read_text()
