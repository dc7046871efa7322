"""Typed errors of the MCP server; tool errors reach the model as text saying how to fix a call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError


class ServerError(Exception):
    """Base of every error the MCP server raises on purpose."""


class ServerConfigError(ServerError):
    """The server cannot start as asked (e.g. a non-loopback bind without a token)."""


class ClaudeConfigError(ServerError):
    """A Claude Code file `replayer claude init` must merge into is unreadable or malformed."""


class ToolCallError(ServerError, ToolError):
    """A tool call failed in a way the model can fix; the message says how.

    It is a ToolError, so the SDK returns `isError: true` with this text instead of the
    generic "Error executing tool" it shows for crashes.
    """


P = ParamSpec("P")
R = TypeVar("R")


def _known_errors() -> tuple[type[BaseException], ...]:
    # Imported here, not at module import: the server must start before anything heavy.
    from chunkers.errors import ChunkerError
    from indexer.errors import IndexerError
    from store.errors import StoreError

    return (StoreError, IndexerError, ChunkerError, ServerError)


# Library messages name CLI commands; an agent needs the tool that does the same.
_CLI_TO_TOOL = (
    ("replayer index build --full", " A full rebuild is needed: a person runs "
                                    "`replayer index build --full` outside the agent."),
    ("replayer index build", " From this server: call sync_index with that table, then "
                             "search again."),
    ("replayer data games", " From this server: list_games lists the game ids."),
    ("replayer data events", " From this server: list_event_types lists the event names."),
    ("replayer ingest", " Data is ingested outside the agent (`replayer ingest FILE`)."),
)


def _hint(exc: BaseException) -> str:
    """A pointer to the tool that fixes what the library's message names as a CLI command."""
    if type(exc).__name__ == "IndexBusyError":
        return " Another build of that table is running: retry in a few seconds."
    text = str(exc)
    for phrase, hint in _CLI_TO_TOOL:
        if phrase in text:
            return hint
    return ""


def tool_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the library's typed errors into ToolCallError with the library's own message.

    Anything else is a bug: it propagates, and the SDK reports a generic crash.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ToolError:
            raise
        except _known_errors() as exc:
            msg = str(exc).rstrip()
            hint = _hint(exc)
            if hint and not msg.endswith((".", "!", "?")):
                msg += "."
            raise ToolCallError(msg + hint) from exc

    return wrapper
