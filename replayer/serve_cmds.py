"""`replayer serve`: the MCP server on stdio (default) or streamable HTTP (thin wrapper)."""

from __future__ import annotations

from pathlib import Path

import click

from replayer.app import cli, pass_settings
from store.settings import Settings


@cli.command("serve")
@click.option("--http", "use_http", is_flag=True,
              help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind with --http; anything but loopback requires --token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              help="Port to bind with --http.")
@click.option("--token", envvar="RUGS_MCP_TOKEN", default=None,
              help="Bearer token clients must send with --http (env RUGS_MCP_TOKEN; at "
              "least 16 characters).")
@click.option("--root", "roots", type=click.Path(path_type=Path, file_okay=False),
              multiple=True, help="Directory searched for CONTEXT.md resources (repeatable; "
              "default: $RUGS_CONTEXT_ROOTS, else the current repository).")
@click.option("--no-warm", is_flag=True,
              help="Start no search worker (model) or SQL worker until a call needs one.")
@pass_settings
def serve_cmd(settings: Settings, use_http: bool, host: str, port: int, token: str | None,
              roots: tuple[Path, ...], no_warm: bool) -> None:
    """Run the MCP server for Claude Code and other MCP clients.

    \b
    Examples:
      replayer serve                          # stdio, what Claude Code starts
      claude mcp add rugs -- replayer serve
      replayer serve --http                   # http://127.0.0.1:8765/mcp
      replayer serve --http --host 0.0.0.0 --token "$(openssl rand -hex 24)"
    """
    if roots:
        settings = settings.with_(context_roots=roots)
    if use_http:
        from mcp_server.http import run_http

        run_http(settings, host=host, port=port, token=token, warm=not no_warm)
    else:
        from mcp_server.search_worker import SearchWorker, core_is_idle

        # Started before the SDK import when a core is free, so its loading overlaps the
        # handshake (see mcp_server/search_worker.py); else by the warm-up after it.
        worker = SearchWorker(settings)
        if not no_warm and core_is_idle():
            worker.start()
        from mcp_server.server import run_stdio

        run_stdio(settings, warm=not no_warm, search_worker=worker)
