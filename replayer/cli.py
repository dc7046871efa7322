"""Entry point: load only the command modules a call needs and turn errors into one line."""

from __future__ import annotations

import importlib
import json
import sys

import click

from replayer.app import cli
from store.errors import RugsError, explain

__all__ = ["cli", "main"]

# Top-level command -> the modules that attach to it. Importing only these keeps
# `replayer serve` from loading pyarrow and friends before the MCP handshake.
_MODULES: dict[str, tuple[str, ...]] = {
    "data": ("replayer.data_cmds", "replayer.query_cmds", "replayer.catalog_cmds"),
    "schema": ("replayer.schema_cmds", "replayer.drift_cmds"),
    "ingest": ("replayer.ingest_cmds",),
    "legacy": ("replayer.ingest_cmds",),
    "index": ("replayer.index_cmds",),
    "notes": ("replayer.notes_cmds",),
    "serve": ("replayer.serve_cmds",),
    "eval": ("replayer.eval_cmds",),
    "quickstart": ("replayer.quickstart_cmds",),
    "claude": ("replayer.claude_cmds",),
    "context": ("replayer.context_cmds",),
}


def _load(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        _load(tuple(m for mods in _MODULES.values() for m in mods))
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        _load(_MODULES.get(cmd_name, ()))
        return super().get_command(ctx, cmd_name)


cli.__class__ = _LazyGroup


def _is_hook_call(argv: list[str]) -> bool:
    return "--hook" in argv and "contexts" in argv and "index" in argv


def _hook_fail_open() -> None:
    """The SessionStart hook never blocks a session: even a failure before the command runs
    (a bad RUGS_* value, an unknown option) is a warning on stderr, stale-index JSON, exit 0."""
    try:
        cli.main(standalone_mode=False)
        return
    except SystemExit as exc:
        if not exc.code:
            return
        msg = f"exit status {exc.code}"
    except click.exceptions.ClickException as exc:
        msg = exc.format_message()
    except Exception as exc:  # noqa: BLE001 - fail-open is the contract of a hook
        msg = f"{type(exc).__name__}: {exc}"
    print(f"warning: SessionStart hook failed ({msg})", file=sys.stderr)
    text = f"CONTEXT.md index not updated ({msg}); search results may be stale."
    print(json.dumps({"hookSpecificOutput": {"hookEventName": "SessionStart",
                                             "additionalContext": text}}))


def main() -> None:
    if _is_hook_call(sys.argv[1:]):
        _hook_fail_open()
        return
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except RugsError as exc:
        print(f"error: {explain(exc)}", file=sys.stderr)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
