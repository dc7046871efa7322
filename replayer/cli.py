"""Entry point: import every command module onto the root group and turn errors into one line."""

from __future__ import annotations

import importlib
import sys

from replayer.app import cli

# Each module attaches its commands to `cli`; a module per concern keeps them small.
_COMMAND_MODULES = (
    "replayer.data_cmds",
    "replayer.query_cmds",
    "replayer.ingest_cmds",
    "replayer.index_cmds",
    "replayer.serve_cmds",
    "replayer.eval_cmds",
    "replayer.catalog_cmds",
    "replayer.quickstart_cmds",
)

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != _name:
            raise


def _known_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    for mod, name in (
        ("store.errors", "StoreError"),
        ("chunkers.errors", "ChunkerError"),
        ("indexer.errors", "IndexerError"),
        ("mcp_server.errors", "ServerError"),
    ):
        try:
            errors.append(getattr(importlib.import_module(mod), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except _known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
