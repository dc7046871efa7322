"""The files Claude Code reads, rendered from this server's real tool list (pure functions).

`.mcp.json` registers the server, `.claude/settings.json` carries the SessionStart hook,
`.claude/agents/rugs-expert.md` is the subagent and `.claude/commands/context.md` the
`/context` command. Every tool name they cite is looked up in the server's tool list, so a
renamed or removed tool fails here instead of leaving an agent that calls nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mcp_server.errors import ClaudeConfigError
from mcp_server.workflow import render_workflow
from store.settings import ENV_PREFIX, Settings

DEFAULT_SERVER_NAME = "rugs"
AGENT_NAME = "rugs-expert"
# The first line of every whole file we write: a later run may replace such a file, and
# must not replace one a person wrote (unless forced).
GENERATED_MARK = "<!-- Written by `replayer claude init`"
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Claude Code's own tools the agent may use besides the server's: reading the code files
# that search_code_context points at.
AGENT_CODE_TOOLS = ("Read", "Grep", "Glob")


@dataclass(frozen=True)
class ToolInfo:
    """One tool as the server lists it."""

    name: str
    summary: str
    read_only: bool


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s", flat)
    return flat[: m.start()] if m else flat


def server_tools(settings: Settings) -> list[ToolInfo]:
    """The tools of the server `build_server` makes, in its order (nothing heavy is loaded)."""
    import anyio

    from mcp_server.server import build_server

    server, state = build_server(settings, warm=False)
    try:
        listed = anyio.run(server.list_tools)
    finally:
        state.close()
    return [
        ToolInfo(name=t.name, summary=_first_sentence(t.description or ""),
                 read_only=bool(t.annotations and t.annotations.read_only_hint))
        for t in listed
    ]


def check_server_name(name: str) -> str:
    if not _SERVER_NAME.match(name):
        raise ClaudeConfigError(
            f"server name {name!r} is not usable in Claude Code tool names "
            "(mcp__<server>__<tool>): use letters, digits, '_' or '-'")
    return name


def claude_tool_name(server: str, tool: str) -> str:
    """How Claude Code names an MCP tool in permissions, agents and commands."""
    return f"mcp__{server}__{tool}"


# ---------------------------------------------------------------- how the server is started


@dataclass(frozen=True)
class Launch:
    """The interpreter, CLI and RUGS_* environment both the server and the hook run with."""

    python: str
    cli: tuple[str, ...]
    env: Mapping[str, str]

    def server_entry(self) -> dict[str, Any]:
        # `python -m mcp_server` answers `initialize` ~0.3 s sooner than `replayer serve`.
        return {"type": "stdio", "command": self.python, "args": ["-m", "mcp_server"],
                "env": dict(self.env)}

    def hook_command(self) -> str:
        # Hooks run in a shell, so the environment goes in front of the command: the hook
        # must index the data root the server reads, whatever the session's shell exports.
        assigns = [f"{k}={shlex.quote(v)}" for k, v in self.env.items()]
        return " ".join([*assigns, shlex.join([*self.cli, "index", "contexts", "--hook"])])


def _env_value(value: Any) -> str:
    if isinstance(value, tuple):
        return os.pathsep.join(str(Path(v).expanduser().resolve()) for v in value)
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    return str(value)


def launch_env(settings: Settings, repo: Path) -> dict[str, str]:
    """RUGS_* for the server and the hook: the data root and CONTEXT.md roots always
    (absolute), every other setting only where it differs from the default."""
    defaults = Settings()
    env: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.name == "context_roots":
            value = value or (repo,)
        elif f.name != "data_dir" and value == getattr(defaults, f.name):
            continue
        env[ENV_PREFIX + f.name.upper()] = _env_value(value)
    return env


def _cli_for(python: str) -> tuple[str, ...]:
    # Claude Code starts hooks without activating any virtualenv: name the `replayer`
    # script installed beside this interpreter (a venv's bin/), else the one on PATH.
    beside = Path(python).parent / "replayer"
    if beside.is_file() and os.access(beside, os.X_OK):
        return (str(beside),)
    found = shutil.which("replayer")
    if found:
        return (str(Path(found).absolute()),)
    return (python, "-m", "replayer.cli")


def launch_for(settings: Settings, repo: Path, python: str | None = None) -> Launch:
    """How this machine starts the server: this interpreter (absolute, symlinks kept so a
    venv stays a venv) unless `python` names another one."""
    exe = str(Path(python or sys.executable).absolute())
    return Launch(python=exe, cli=_cli_for(exe), env=launch_env(settings, repo))


# ---------------------------------------------------------------- agent and /context


class _Tools:
    """Looks tool names up in the server's list; an unknown name is a template bug."""

    def __init__(self, server: str, tools: Sequence[ToolInfo]) -> None:
        self.server = server
        self.names = {t.name for t in tools}

    def __call__(self, tool: str) -> str:
        if tool not in self.names:
            raise ClaudeConfigError(
                f"the rugs-expert template cites tool {tool!r}, which the server does not "
                f"list (it has: {', '.join(sorted(self.names))})")
        return f"`{claude_tool_name(self.server, tool)}`"


def _front_matter(items: Sequence[tuple[str, str]]) -> str:
    # JSON strings are valid YAML double-quoted scalars: colons and quotes stay harmless.
    lines = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in items]
    return "---\n" + "\n".join(lines) + "\n---\n"


AGENT_DESCRIPTION = (
    "Use PROACTIVELY for any question about the rugs.fun crash game and its WebSocket "
    "(Socket.IO) protocol: event names, fields and payloads, game phases, trades and side "
    "bets, captured games, ticks and prices, or which module handles an event. Answers from "
    "the {server} MCP server's captured data and indexed documentation, citing tool results."
)


def render_agent(server: str, tools: Sequence[ToolInfo]) -> str:
    """`.claude/agents/rugs-expert.md`: front matter naming every server tool, the workflow,
    the tool list and the answer format."""
    t = _Tools(server, tools)
    allowed = [claude_tool_name(server, x.name) for x in tools] + list(AGENT_CODE_TOOLS)
    head = _front_matter([
        ("name", AGENT_NAME),
        ("description", AGENT_DESCRIPTION.format(server=server)),
        ("tools", ", ".join(allowed)),
    ])
    tool_rows = "\n".join(
        f"| {t(x.name)} | {'reads' if x.read_only else 'writes (additive)'} | {x.summary} |"
        for x in tools)
    return head + f"""{GENERATED_MARK} from the `{server}` MCP server's tool list; run it again \
after upgrading rugs-replayer. It replaces this file while this line is here: delete the line \
to keep your edits. -->

You are **{AGENT_NAME}**. You answer questions about the rugs.fun WebSocket protocol and \
the games captured from it with the tools of the `{server}` MCP server. What those tools \
return is the record: captured events in a Parquet store, schema cards and protocol \
documentation in a search index, the CONTEXT.md files of the code. Do not answer from \
memory. When the tools do not settle a question, say what is missing.

## Workflow

{render_workflow(t)}
## Tools

| tool | kind | what it does |
|---|---|---|
{tool_rows}

## Answer format

A question about one event gets this shape. Fill every line from a tool result, write \
"not in the data" rather than guess, and drop a section only when it cannot apply.

```markdown
## Event: `<event name as the catalog spells it>`

**Purpose**: what the event tells its receiver, in one or two sentences
**Category**: the event's category in the protocol documentation
**Direction**: client → server, server → client, or both
**Priority**: the priority the documentation assigns, if any
**Auth required**: yes / no (describe_event's access)
**Phases**: the game phases in which it is sent

### Key fields
| field | type | present | meaning |
|---|---|---|---|
| <path as describe_event prints it> | <type> | <share of events> | <meaning> |

### Behaviour by phase
- <phase>: <only where the event differs in that phase>

### Example payload
~~~json
<a real payload or excerpt from describe_event or query_sql>
~~~

### In the code
- <module and handler from search_code_context, path:line once you have read the file>

### Sources
- <each tool call behind a claim: event described, search and hit, SQL>
- <debug notes, marked as reasoning>
```

A question about numbers gets the figure first, then the SQL, how many rows it covered, \
and any truncation the tool reported.
"""


def render_context_command(server: str, tools: Sequence[ToolInfo]) -> str:
    """`.claude/commands/context.md`: `/context [question]` searches code_context."""
    t = _Tools(server, tools)
    allowed = [claude_tool_name(server, "search_code_context"),
               claude_tool_name(server, "sync_index"), "Read"]
    t("search_code_context")  # fails early if the tool is gone
    head = _front_matter([
        ("description", "Search this repository's CONTEXT.md files (the code_context "
                        "index) for a question"),
        ("argument-hint", "[question]"),
        ("allowed-tools", ", ".join(allowed)),
    ])
    return head + f"""{GENERATED_MARK}; run it again after upgrading rugs-replayer. It \
replaces this file while this line is here: delete the line to keep your edits. -->

Look up what this repository's CONTEXT.md files say about: $ARGUMENTS

When nothing follows the colon above, use the question the conversation is on right now, \
in a sentence.

1. Call {t("search_code_context")} with that question as `query` (`k` 5). Use \
`mode: "text"` for exact module, file or function names, and `path_prefix` to stay inside \
one package when the question names it.
2. If it answers that `code_context` is not built or is behind, call {t("sync_index")} \
with `table: "code_context"` and search again.
3. Answer from the hits: for each point, the CONTEXT.md path and heading it comes from. \
When a hit is cut short (`text_truncated`), Read that CONTEXT.md. When no hit answers the \
question, say so and name the CONTEXT.md that should have covered it.
"""
