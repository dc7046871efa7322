"""Errors of the MCP server (a branch of the tree in store/errors.py) and the tool wrapper."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from store.errors import RugsError, explain


class ServerError(RugsError):
    """Base of every error the MCP server raises on purpose."""


class ServerConfigError(ServerError):
    """The server cannot start as asked (e.g. a non-loopback bind without a token)."""


class SearchWorkerError(ServerError):
    """The search worker process stopped or did not answer; the next call starts a new one."""

    hint = "Retry the search once; if it fails again, call index_status."


class ClaudeConfigError(ServerError):
    """A Claude Code file `replayer claude init` must merge into is unreadable or malformed."""


class ToolCallError(ServerError, ToolError):
    """A tool call failed in a way the model can fix; the message says how.

    It is a ToolError, so the SDK returns `isError: true` with this text instead of the
    generic "Error executing tool" it shows for crashes.
    """


P = ParamSpec("P")
R = TypeVar("R")


def tool_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into ToolCallError: the message plus the error's agent hint.

    Anything else is a bug: it propagates, and the SDK reports a generic crash.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ToolError:
            raise
        except RugsError as exc:
            raise ToolCallError(explain(exc, for_agent=True)) from exc

    return wrapper
