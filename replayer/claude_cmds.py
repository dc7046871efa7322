"""`replayer claude init`: set a repository up for Claude Code (thin wrapper over mcp_server)."""

from __future__ import annotations

from pathlib import Path

import click

from replayer.app import cli, emit_json, pass_settings, warn
from store.settings import Settings


@cli.group("claude")
def claude_group() -> None:
    """Claude Code integration: the MCP server, the SessionStart hook, the agent, /context.

    \b
    Examples:
      replayer claude init                  # this repository
      replayer claude init ../VECTRA-PLAYER --dry-run
    """


@claude_group.command("init")
@click.argument("directory", default=".",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", "server", default="rugs", show_default=True,
              help="Server name in .mcp.json; Claude Code calls its tools mcp__NAME__TOOL.")
@click.option("--python", "python", default=None,
              help="Interpreter that runs the server (default: the one running this command; "
              "its venv's replayer runs the hook).")
@click.option("--force", is_flag=True,
              help="Replace an agent or command file that replayer did not write.")
@click.option("--dry-run", is_flag=True, help="Print the unified diff; write nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (with the diff under --dry-run).")
@pass_settings
def init_cmd(settings: Settings, directory: Path, server: str, python: str | None,
             force: bool, dry_run: bool, as_json: bool) -> None:
    """Write what Claude Code reads into DIRECTORY (default: the current one).

    \b
      .mcp.json                      the MCP server (this venv's python -m mcp_server)
      .claude/settings.json          the SessionStart hook (replayer index contexts --hook)
      .claude/agents/rugs-expert.md  the rugs-expert subagent, using the server's tools
      .claude/commands/context.md    /context QUESTION: search the CONTEXT.md index

    JSON files are merged: other servers, hooks and keys are kept, and a second run changes
    nothing. The server and the hook get this run's data root (--data-dir /
    RUGS_DATA_DIR), CONTEXT.md roots (default DIRECTORY) and any other RUGS_* setting
    that differs from its default.

    \b
    Examples:
      replayer claude init
      replayer --data-dir /srv/rugs_data claude init ~/code/VECTRA-PLAYER
      replayer claude init --dry-run | less
    """
    from mcp_server.claude_init import apply, plan_init

    plan = plan_init(directory, settings, server=server, python=python, force=force)
    for f in plan.files:
        if f.action == "skip":
            warn(f"warning: {f.rel} {f.detail}")
    if not dry_run:
        apply(plan)
    if as_json:
        doc = plan.to_dict() | {"dry_run": dry_run}
        if dry_run:
            doc["diff"] = plan.diff()
        emit_json(doc)
        return
    if dry_run:
        click.echo(plan.diff(), nl=False)
        click.echo("dry run: nothing written" if plan.changed else "nothing to change")
        return
    width = max(len(f.rel) for f in plan.files)
    for f in plan.files:
        label = {"create": "created", "update": "updated", "unchanged": "unchanged",
                 "skip": "skipped"}[f.action]
        click.echo(f"{f.rel:<{width}}  {label}" + (f" ({f.detail})" if f.detail and f.writes
                                                   else ""))
    if not plan.changed:
        click.echo("nothing to change: every file is up to date")
        return
    click.echo(f"MCP server: {plan.launch.python} -m mcp_server ({len(plan.tools)} tools as "
               f"mcp__{plan.server}__*); restart Claude Code and approve the project server.")
