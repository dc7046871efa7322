"""`replayer context check|init`: CONTEXT.md beside every Python folder (wraps indexer)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from replayer.app import cli, emit_json


@cli.group("context")
def context_group() -> None:
    """CONTEXT.md files: check that every Python folder has one, write a stub.

    \b
    Examples:
      replayer context check                 # the whole tree; exit 1 if a folder lacks one
      replayer context check src/a.py src/b.py
      replayer context init src/payments     # a stub from the code, never overwriting
    """


@context_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--include-tests", is_flag=True,
              help="Check test folders and test_*.py / conftest.py files too.")
@click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
              help="Skip folders matching GLOB (path from the repository root, or name; "
              "repeatable).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"ok", "checked", "missing": [{"folder", "files"}]}.')
def check_cmd(paths: tuple[Path, ...], include_tests: bool, exclude: tuple[str, ...],
              as_json: bool) -> None:
    """Exit 1 listing the Python files that have no CONTEXT.md in their folder.

    PATHS are directories to walk or files to check (default: the current directory); as a
    pre-commit hook it gets the staged Python files. Skipped: hidden folders (.git, .venv,
    caches), virtualenvs, build/, dist/, node_modules/, site-packages/, *.egg-info and,
    unless --include-tests, tests/, test/, test_*.py, *_test.py and conftest.py.

    \b
    Examples:
      replayer context check
      replayer context check --exclude 'scripts/*' --json
      replayer context check --include-tests tests
    """
    from indexer.context_check import missing_context, python_files

    checked = python_files(list(paths), include_tests=include_tests, exclude=exclude)
    missing = missing_context(list(paths), include_tests=include_tests, exclude=exclude)
    base = Path.cwd()
    if as_json:
        emit_json({"ok": not missing, "checked": len(checked),
                   "missing": [m.to_dict(base) for m in missing]})
    else:
        for m in missing:
            d = m.to_dict(base)
            click.echo(f"{d['folder']}/: no CONTEXT.md beside {len(m.files)} Python "
                       f"file{'s' if len(m.files) != 1 else ''}")
            for f in d["files"]:
                click.echo(f"  {f}")
        if missing:
            click.echo("write a stub with: replayer context init "
                       + " ".join(m.to_dict(base)["folder"] for m in missing[:3])
                       + (" ..." if len(missing) > 3 else ""), err=True)
        else:
            click.echo(f"ok: {len(checked)} Python files, every folder has a CONTEXT.md")
    if missing:
        sys.exit(1)


@context_group.command("init")
@click.argument("directory", default=".",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing CONTEXT.md.")
@click.option("--stdout", "to_stdout", is_flag=True,
              help="Print the stub instead of writing it.")
def init_cmd(directory: Path, force: bool, to_stdout: bool) -> None:
    """Write DIRECTORY/CONTEXT.md: a stub of Purpose, Related Scripts, Data Flow, Key
    Decisions and Status, filled with what the code says.

    Derived: the package docstring as the purpose; each module with its one-line
    docstring; imports between the folder's modules; repository modules it uses and those
    that use it; third-party packages. An existing CONTEXT.md is never replaced without
    --force.

    \b
    Examples:
      replayer context init store
      replayer context init src/payments --stdout
    """
    from indexer.context_stub import build_stub, write_stub

    if to_stdout:
        click.echo(build_stub(directory).render(), nl=False)
        return
    target, stub = write_stub(directory, force=force)
    todo = stub.render().count("TODO")
    click.echo(f"wrote {target} ({len(stub.modules)} modules, {len(stub.uses)} used, "
               f"{len(stub.used_by)} users; {todo} TODOs to fill)")
