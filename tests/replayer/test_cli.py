"""The entry point loads only the command modules a call needs; every module is registered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from replayer.cli import _MODULES

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, sys
import click
from replayer.cli import cli
name = sys.argv[1]
cmd = cli.get_command(click.Context(cli), name)
print(json.dumps({
    "found": cmd is not None and cmd.name == name,
    "modules": sorted(m for m in sys.modules if m.startswith("replayer.") and m.endswith("_cmds")),
    "pyarrow": "pyarrow" in sys.modules,
}))
"""


def _load(name: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _CHILD, name], cwd=REPO, capture_output=True,
                         text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("name", sorted(_MODULES))
def test_a_top_level_command_imports_only_the_modules_registered_for_it(name: str) -> None:
    got = _load(name)
    assert got["found"]
    assert got["modules"] == sorted(set(_MODULES[name]))


def test_serve_is_reached_without_importing_pyarrow() -> None:
    assert _load("serve")["pyarrow"] is False


def test_every_command_module_is_registered_and_named_for_its_group() -> None:
    on_disk = {f"replayer.{p.stem}" for p in (REPO / "replayer").glob("*_cmds.py")}
    registered = {m for mods in _MODULES.values() for m in mods}
    assert on_disk == registered
    # a command's own module is named for it (`schema` -> schema_cmds); `legacy
    # import|export` is ingest from (and back to) another format, so it lives with ingest
    for name, mods in _MODULES.items():
        assert f"replayer.{name}_cmds" in mods or name == "legacy", name
