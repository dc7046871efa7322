"""Entry point: load only the command modules a call needs and turn errors into one line."""

from __future__ import annotations

import importlib
import sys

import click

from replayer.app import cli
from store.errors import RugsError, explain

# Top-level command -> the modules that attach to it. Importing only these keeps
# `replayer serve` from loading pyarrow and friends before the MCP handshake.
_MODULES: dict[str, tuple[str, ...]] = {
    "data": ("replayer.data_cmds", "replayer.query_cmds", "replayer.catalog_cmds"),
    "schema": ("replayer.data_cmds", "replayer.eval_cmds", "replayer.drift_cmds"),
    "ingest": ("replayer.ingest_cmds",),
    "legacy": ("replayer.ingest_cmds",),
    "index": ("replayer.index_cmds",),
    "notes": ("replayer.index_cmds",),
    "serve": ("replayer.serve_cmds",),
    "eval": ("replayer.eval_cmds",),
    "quickstart": ("replayer.quickstart_cmds",),
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


def main() -> None:
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
