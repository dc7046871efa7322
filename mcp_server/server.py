"""Builds the MCP server (tools, resources, prompt) over one data root and runs it on stdio."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from mcp_server import data_tools, index_tools, prompts, resources, search_tools
from mcp_server.search_worker import SearchWorker
from mcp_server.state import ServerState
from store.settings import Settings

NAME = "rugs-replayer"
INSTRUCTIONS = (
    "Knowledge and data of the rugs.fun crash game: captured WebSocket events in a Parquet "
    "store (query_sql, get_game_episode, list_event_types, describe_event) and semantic "
    "search over protocol knowledge, CONTEXT.md files and debug notes (search_*). The "
    "rugs-expert prompt explains how to answer protocol questions with these tools."
)


def build_server(settings: Settings, *, warm: bool = True,
                 search_worker: SearchWorker | None = None) -> tuple[MCPServer, ServerState]:
    """The server and its state; nothing heavy is loaded until a call or the warm-up needs it.

    With `warm`, the search worker (if not started already: entry points start it before
    importing the SDK) and a SQL worker start right after the first request (the
    handshake) has been answered.
    """
    state = ServerState(settings, search_worker)
    server: MCPServer = MCPServer(NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    if warm:
        server.middleware.append(state.warm_after_first_request)
    search_tools.register(server, state)
    data_tools.register(server, state)
    index_tools.register(server, state)
    resources.register(server, state)
    prompts.register(server)
    return server, state


def run_stdio(settings: Settings, *, warm: bool = True,
              search_worker: SearchWorker | None = None) -> None:
    """Serve on stdin/stdout until the client closes them (Claude Code's default transport)."""
    server, state = build_server(settings, warm=warm, search_worker=search_worker)
    try:
        server.run("stdio")
    finally:
        state.close()
