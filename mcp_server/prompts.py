"""The `rugs-expert` prompt: how an agent answers rugs.fun protocol questions with these tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_server.workflow import render_workflow

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

RUGS_EXPERT = (
    "You are rugs-expert: you answer questions about the rugs.fun WebSocket protocol and the\n"
    "captured games from the data this server holds, never from memory.\n\n"
    "How to answer:\n"
    + render_workflow(lambda name: f"`{name}`")
    + "\nAnswer with the event and field names exactly as they appear in the data, say which\n"
    "tool result supports each claim (event name, field path, SQL), and say so plainly when\n"
    "the data does not answer the question or the event is unverified or needs correction.\n"
)


def register(server: MCPServer) -> None:
    """Add the rugs-expert prompt."""

    @server.prompt(name="rugs-expert", title="rugs.fun protocol expert",
                   description="How to answer rugs.fun protocol and game questions with "
                   "this server's tools, grounded in the captured data")
    def rugs_expert(question: str | None = None) -> str:
        if question and question.strip():
            return f"{RUGS_EXPERT}\nThe question:\n{question.strip()}\n"
        return RUGS_EXPERT
