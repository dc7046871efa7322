"""`replayer claude init`: merge the Claude Code files into a repository, idempotently.

`plan_init` computes each file's new text next to its current one (nothing is written);
`apply` writes the files that change, each atomically. JSON files are merged: other servers,
hooks and keys stay, our entries are replaced in place, a re-run adds no duplicate, and a
file whose parsed content would not change is not rewritten. Whole files (the agent and the
command) are replaced only when a previous run wrote them, or with `force`.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_server.claude_files import (
    AGENT_NAME,
    DEFAULT_SERVER_NAME,
    GENERATED_MARK,
    Launch,
    ToolInfo,
    check_server_name,
    claude_tool_name,
    launch_for,
    render_agent,
    render_context_command,
    server_tools,
)
from mcp_server.errors import ClaudeConfigError
from store.atomic import write_text_atomic
from store.settings import Settings

MCP_JSON = ".mcp.json"
SETTINGS_JSON = ".claude/settings.json"
AGENT_MD = f".claude/agents/{AGENT_NAME}.md"
COMMAND_MD = ".claude/commands/context.md"
# Recognises our hook whatever path or environment an earlier run wrote in front of it.
_OUR_HOOK = re.compile(r"(^|[\s/])(replayer|replayer\.cli)\s+index\s+contexts\b.*\s--hook\b")

Action = Literal["create", "update", "unchanged", "skip"]


@dataclass
class FileChange:
    """One file: its current text (None if absent), the text it would get, and why."""

    rel: str
    path: Path
    old: str | None
    new: str
    action: Action
    detail: str = ""

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update")

    def diff(self) -> str:
        if not self.writes:
            return ""
        old = (self.old or "").splitlines(keepends=True)
        new = self.new.splitlines(keepends=True)
        src = f"a/{self.rel}" if self.old is not None else "/dev/null"
        return "".join(difflib.unified_diff(old, new, fromfile=src, tofile=f"b/{self.rel}"))

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.rel, "action": self.action, "detail": self.detail}


@dataclass
class InitPlan:
    """What `replayer claude init` would do in `repo`."""

    repo: Path
    server: str
    launch: Launch
    tools: list[ToolInfo]
    files: list[FileChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(f.writes for f in self.files)

    def diff(self) -> str:
        return "".join(f.diff() for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": str(self.repo),
            "server": self.server,
            "changed": self.changed,
            "files": [f.to_dict() for f in self.files],
            "server_command": [self.launch.python, "-m", "mcp_server"],
            "hook_command": self.launch.hook_command(),
            "env": dict(self.launch.env),
            "tools": [claude_tool_name(self.server, t.name) for t in self.tools],
        }


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaudeConfigError(f"cannot read {path}: {exc}") from exc


def _load_json(path: Path, text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClaudeConfigError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "fix it or move it aside, then run `replayer claude init` again") from exc
    if not isinstance(data, dict):
        raise ClaudeConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _json_change(rel: str, path: Path, old_text: str | None, old: dict[str, Any],
                 new: dict[str, Any], detail: str) -> FileChange:
    if old_text is None:
        return FileChange(rel, path, None, _dump(new), "create", detail)
    if new == old:
        # Same content: leave the file (and its formatting) alone.
        return FileChange(rel, path, old_text, old_text, "unchanged")
    return FileChange(rel, path, old_text, _dump(new), "update", detail)


def _sub(data: dict[str, Any], key: str, kind: type, path: Path, where: str) -> Any:
    value = data.setdefault(key, kind())
    if not isinstance(value, kind):
        want = "an object" if kind is dict else "an array"
        raise ClaudeConfigError(f"{path}: {where} must be {want}, not "
                                f"{type(value).__name__}; fix it, then run again")
    return value


def merge_mcp_json(path: Path, text: str | None, server: str,
                   entry: dict[str, Any]) -> FileChange:
    """`.mcp.json` with our server registered under `server`; other servers untouched."""
    old = _load_json(path, text)
    new = copy.deepcopy(old)
    servers = _sub(new, "mcpServers", dict, path, '"mcpServers"')
    had = servers.get(server)
    servers[server] = entry
    detail = (f'server "{server}" registered' if had is None
              else f'server "{server}" updated')
    return _json_change(MCP_JSON, path, text, old, new, detail)


def is_our_hook(hook: Any) -> bool:
    return (isinstance(hook, dict) and hook.get("type") == "command"
            and isinstance(hook.get("command"), str) and bool(_OUR_HOOK.search(hook["command"])))


def merge_settings(path: Path, text: str | None, command: str) -> FileChange:
    """`.claude/settings.json` with exactly one SessionStart hook running `command`.

    Every other key, event and hook is kept. An earlier copy of our hook (another path, the
    README's bare `replayer index contexts --hook`) is updated in place; extra copies go.
    """
    old = _load_json(path, text)
    new = copy.deepcopy(old)
    hooks = _sub(new, "hooks", dict, path, '"hooks"')
    groups = _sub(hooks, "SessionStart", list, path, '"hooks.SessionStart"')
    found = False
    emptied: list[dict[str, Any]] = []
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
            continue
        kept = []
        for hook in group["hooks"]:
            if is_our_hook(hook):
                if found:
                    continue  # a duplicate of ours
                found = True
                hook["command"] = command
            kept.append(hook)
        if group["hooks"] and not kept:
            emptied.append(group)
        group["hooks"] = kept
    # Drop only the groups that held nothing but duplicates of our hook.
    groups[:] = [g for g in groups if not any(g is e for e in emptied)]
    if not found:
        groups.append({"hooks": [{"type": "command", "command": command}]})
    detail = "SessionStart hook updated" if found else "SessionStart hook added"
    return _json_change(SETTINGS_JSON, path, text, old, new, detail)


def whole_file(rel: str, path: Path, text: str | None, new: str, force: bool) -> FileChange:
    """A file we own entirely: replaced only if a previous run wrote it, or with `force`."""
    if text is None:
        return FileChange(rel, path, None, new, "create")
    if text == new:
        return FileChange(rel, path, text, text, "unchanged")
    if GENERATED_MARK in text or force:
        return FileChange(rel, path, text, new, "update",
                          "replaced" if GENERATED_MARK not in text else "regenerated")
    return FileChange(rel, path, text, text, "skip",
                      "exists and was not written by replayer; --force replaces it")


def plan_init(repo: Path, settings: Settings, *, server: str = DEFAULT_SERVER_NAME,
              python: str | None = None, force: bool = False,
              tools: Sequence[ToolInfo] | None = None) -> InitPlan:
    """Every change `replayer claude init` would make in `repo`; nothing is written."""
    repo = repo.expanduser().resolve()
    if not repo.is_dir():
        raise ClaudeConfigError(f"{repo} is not a directory")
    check_server_name(server)
    launch = launch_for(settings, repo, python)
    tool_list = list(tools) if tools is not None else server_tools(settings)
    plan = InitPlan(repo=repo, server=server, launch=launch, tools=tool_list)
    p = repo / MCP_JSON
    plan.files.append(merge_mcp_json(p, _read(p), server, launch.server_entry()))
    p = repo / SETTINGS_JSON
    plan.files.append(merge_settings(p, _read(p), launch.hook_command()))
    p = repo / AGENT_MD
    plan.files.append(whole_file(AGENT_MD, p, _read(p), render_agent(server, tool_list), force))
    p = repo / COMMAND_MD
    plan.files.append(whole_file(COMMAND_MD, p, _read(p),
                                 render_context_command(server, tool_list), force))
    return plan


def apply(plan: InitPlan) -> list[FileChange]:
    """Write the files the plan changes; returns them."""
    written = []
    for f in plan.files:
        if f.writes:
            write_text_atomic(f.path, f.new)
            written.append(f)
    return written
