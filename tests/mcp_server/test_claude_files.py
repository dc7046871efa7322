"""The Claude Code files rendered from the server's real tool list: agent, /context, launch."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_server.claude_files import (
    AGENT_CODE_TOOLS,
    ToolInfo,
    check_server_name,
    launch_env,
    launch_for,
    render_agent,
    render_context_command,
)
from mcp_server.errors import ClaudeConfigError
from store.settings import Settings


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert m, text[:200]
    meta = yaml.safe_load(m.group(1))
    assert isinstance(meta, dict)
    return meta, m.group(2)


def test_the_tool_list_is_the_servers_own_with_one_line_summaries(
        tools: list[ToolInfo]) -> None:
    names = [t.name for t in tools]
    assert {"list_event_types", "describe_event", "search_events", "search_code_context",
            "search_debug_notes", "query_sql", "sync_index", "add_debug_note"} <= set(names)
    assert len(names) == len(set(names))
    for t in tools:
        assert t.summary and "\n" not in t.summary, t.name
    by_name = {t.name: t for t in tools}
    assert by_name["describe_event"].read_only and not by_name["add_debug_note"].read_only


def test_agent_front_matter_names_every_server_tool_as_claude_code_does(
        tools: list[ToolInfo]) -> None:
    meta, body = front_matter(render_agent("rugs", tools))
    assert meta["name"] == "rugs-expert"
    assert "PROACTIVELY" in meta["description"] and "rugs.fun" in meta["description"]
    listed = [x.strip() for x in meta["tools"].split(",")]
    assert listed == [f"mcp__rugs__{t.name}" for t in tools] + list(AGENT_CODE_TOOLS)
    cited = set(re.findall(r"mcp__rugs__(\w+)", body))
    assert cited == {t.name for t in tools}


def test_agent_workflow_starts_with_the_catalog_and_marks_notes_as_reasoning(
        tools: list[ToolInfo]) -> None:
    _, body = front_matter(render_agent("rugs", tools))
    workflow = body.split("## Workflow", 1)[1].split("## Tools", 1)[0]
    steps = re.findall(r"^\d+\. \*\*(.+?)\*\*", workflow, re.M)
    assert len(steps) >= 6
    first = workflow.split("\n2. ", 1)[0]
    assert "mcp__rugs__list_event_types" in first and "mcp__rugs__describe_event" in first
    assert workflow.index("describe_event") < workflow.index("search_events")
    assert re.search(r"query_sql", workflow.split("Numbers", 1)[1].split("\n4. ", 1)[0])
    notes = workflow.split("search_debug_notes", 1)[1].split("\n6. ", 1)[0]
    assert "reasoning" in notes and "describe_event" in notes


def test_agent_answer_format_has_the_users_event_sections(tools: list[ToolInfo]) -> None:
    _, body = front_matter(render_agent("rugs", tools))
    fmt = body.split("## Answer format", 1)[1]
    for part in ("## Event:", "**Purpose**", "**Category**", "**Direction**", "**Priority**",
                 "**Auth required**", "**Phases**", "### Key fields",
                 "| field | type | present | meaning |", "### Behaviour by phase",
                 "### Example payload", "~~~json", "### In the code", "### Sources"):
        assert part in fmt, part
    # The template is one fenced block: its inner headings are not the agent's headings.
    assert fmt.count("```") == 2


def test_a_template_citing_a_tool_the_server_lacks_fails_loudly(
        tools: list[ToolInfo]) -> None:
    fewer = [t for t in tools if t.name != "describe_event"]
    with pytest.raises(ClaudeConfigError, match="describe_event"):
        render_agent("rugs", fewer)
    with pytest.raises(ClaudeConfigError, match="search_code_context"):
        render_context_command("rugs", [t for t in tools if t.name != "search_code_context"])


def test_context_command_takes_the_question_and_may_only_search_code_context(
        tools: list[ToolInfo]) -> None:
    meta, body = front_matter(render_context_command("kb", tools))
    assert set(meta) == {"description", "argument-hint", "allowed-tools"}
    allowed = [x.strip() for x in meta["allowed-tools"].split(",")]
    assert allowed == ["mcp__kb__search_code_context", "mcp__kb__sync_index", "Read"]
    assert "$ARGUMENTS" in body and "mcp__kb__search_code_context" in body
    assert set(re.findall(r"mcp__kb__(\w+)", body)) <= {t.name for t in tools}


def test_server_names_must_be_usable_in_tool_names() -> None:
    assert check_server_name("rugs-replayer_2") == "rugs-replayer_2"
    for bad in ("", "rugs server", "a/b", "x" * 65):
        with pytest.raises(ClaudeConfigError):
            check_server_name(bad)


def test_launch_env_pins_data_root_and_context_roots_and_passes_changed_settings(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = launch_env(Settings(data_dir=tmp_path / "d"), repo)
    assert env == {"RUGS_DATA_DIR": str((tmp_path / "d").resolve()),
                   "RUGS_CONTEXT_ROOTS": str(repo.resolve())}
    other = tmp_path / "other"
    env = launch_env(Settings(data_dir=Path("rel"), model_id="hash:64", sql_max_rows=50,
                              context_roots=(repo, other)), repo)
    assert env["RUGS_DATA_DIR"] == str(Path("rel").resolve())
    assert env["RUGS_CONTEXT_ROOTS"].split(":") == [str(repo.resolve()), str(other.resolve())]
    assert env["RUGS_MODEL_ID"] == "hash:64" and env["RUGS_SQL_MAX_ROWS"] == "50"
    assert "RUGS_FLUSH_EVENTS" not in env and "RUGS_HYBRID_FUSION" not in env


def test_the_hook_command_survives_spaces_in_paths(tmp_path: Path) -> None:
    venv_bin = tmp_path / "my venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(Path("/usr/bin/env"))
    script = venv_bin / "replayer"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    repo = tmp_path / "a repo"
    repo.mkdir()
    launch = launch_for(Settings(data_dir=tmp_path / "data dir"), repo,
                        python=str(venv_bin / "python"))
    # The interpreter path keeps the venv: its symlink is not resolved.
    assert launch.python == str(venv_bin / "python")
    words = shlex.split(launch.hook_command())
    assert words[:2] == [f"RUGS_DATA_DIR={(tmp_path / 'data dir').resolve()}",
                         f"RUGS_CONTEXT_ROOTS={repo.resolve()}"]
    assert words[2:] == [str(script), "index", "contexts", "--hook"]
    entry = launch.server_entry()
    assert entry["command"] == str(venv_bin / "python")
    assert entry["args"] == ["-m", "mcp_server"] and entry["env"] == dict(launch.env)
