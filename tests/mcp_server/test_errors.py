"""Library errors become tool errors that name the tool to call instead of the CLI command."""

from __future__ import annotations

import inspect

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from indexer.errors import FingerprintMismatchError, IndexBusyError, TableNotBuiltError
from mcp_server.errors import ToolCallError, tool_errors
from store.errors import HINT_LIST_GAMES, QueryError


def test_library_error_becomes_a_tool_error_with_its_hint() -> None:
    @tool_errors
    def episode(game_id: str) -> str:
        raise QueryError(f"no ticks stored for game {game_id!r}; `replayer data games` lists",
                         hint=HINT_LIST_GAMES)

    with pytest.raises(ToolCallError) as info:
        episode("g1")
    assert isinstance(info.value, ToolError)
    assert "no ticks stored for game 'g1'" in str(info.value)
    assert str(info.value).endswith(". " + HINT_LIST_GAMES)


def test_a_reworded_message_keeps_its_hint() -> None:
    @tool_errors
    def build() -> None:
        raise FingerprintMismatchError("vectors of another model")

    with pytest.raises(ToolCallError, match=r"^vectors of another model\. A full rebuild"):
        build()


def test_unbuilt_table_points_to_sync_index_and_busy_build_to_retry() -> None:
    @tool_errors
    def search() -> None:
        raise TableNotBuiltError("table events has not been built yet: run "
                                 "`replayer index build --table events`")

    with pytest.raises(ToolCallError, match=r"built yet: .*\. From this server: call sync_index"):
        search()

    @tool_errors
    def sync() -> None:
        raise IndexBusyError("events is being built by pid 12")

    with pytest.raises(ToolCallError, match="retry in a few seconds"):
        sync()


def test_unexpected_errors_are_not_disguised_and_signatures_survive() -> None:
    @tool_errors
    def broken(x: int = 3) -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        broken()
    assert list(inspect.signature(broken).parameters) == ["x"]
