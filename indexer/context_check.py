"""Folders of Python files without a CONTEXT.md beside them (`replayer context check`).

What counts: every `*.py` file, found by walking the given directories or given directly
(as pre-commit passes staged files). What never counts: hidden directories (`.git`,
`.venv`, caches), virtualenvs (a directory holding `pyvenv.cfg`), dependency and build
output (`context_source.SKIP_DIRS`, `*.egg-info`) and, unless `include_tests`, test code
(directories named `tests`/`test`, files `test_*.py`, `*_test.py`, `conftest.py`): tests
mirror the source tree, whose CONTEXT.md files describe them. `exclude` adds glob patterns,
matched against a folder's path relative to the repository root and against its name.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.context_source import FILE_NAME, SKIP_DIRS, repo_root

TEST_DIRS = frozenset({"tests", "test"})


@dataclass(frozen=True)
class MissingContext:
    """A folder holding Python files but no CONTEXT.md."""

    folder: Path
    files: tuple[Path, ...]

    def to_dict(self, base: Path | None = None) -> dict[str, Any]:
        return {"folder": _show(self.folder, base),
                "files": [_show(f, base) for f in self.files]}


def _show(p: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return p.relative_to(base).as_posix() or "."
        except ValueError:
            pass
    return str(p)


def is_test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def _skipped_name(name: str, include_tests: bool) -> bool:
    return (name.startswith(".") or name in SKIP_DIRS or name.endswith(".egg-info")
            or (not include_tests and name in TEST_DIRS))


@dataclass(frozen=True)
class _Rules:
    root: Path
    include_tests: bool
    exclude: tuple[str, ...]

    def skip_dir(self, d: Path) -> bool:
        if (d / "pyvenv.cfg").exists():
            return True
        try:
            rel = d.relative_to(self.root).as_posix()
        except ValueError:
            rel = d.name
        return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(d.name, pat)
                   for pat in self.exclude)

    def skip_file(self, f: Path) -> bool:
        return not f.name.endswith(".py") or (not self.include_tests
                                              and is_test_file(f.name))

    def skip_path(self, f: Path) -> bool:
        """A file given directly: skipped if the walk would skip it or a folder above it
        (up to the repository root; only its own folder outside the repository)."""
        if self.skip_file(f):
            return True
        chain = [f.parent]
        if f.is_relative_to(self.root):
            chain = [d for d in f.parents if d.is_relative_to(self.root) and d != self.root]
        return any(_skipped_name(d.name, self.include_tests) or self.skip_dir(d)
                   for d in chain)


def python_files(paths: Sequence[Path] = (), *, include_tests: bool = False,
                 exclude: Iterable[str] = ()) -> list[Path]:
    """The Python files the check covers under `paths` (default: the current directory).

    A directory given explicitly is walked even if its own name would be skipped."""
    targets = [p.expanduser().resolve() for p in (paths or [Path.cwd()])]
    rules = _Rules(root=repo_root(targets[0] if targets[0].is_dir() else targets[0].parent),
                   include_tests=include_tests, exclude=tuple(exclude))
    found: set[Path] = set()
    for target in targets:
        if target.is_file():
            if not rules.skip_path(target):
                found.add(target)
            continue
        for dirpath, dirnames, filenames in os.walk(target):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d for d in dirnames
                if not _skipped_name(d, include_tests) and not rules.skip_dir(here / d))
            for name in filenames:
                f = here / name
                if not rules.skip_file(f):
                    found.add(f)
    return sorted(found)


def missing_context(paths: Sequence[Path] = (), *, include_tests: bool = False,
                    exclude: Iterable[str] = ()) -> list[MissingContext]:
    """Folders whose Python files have no CONTEXT.md in the same folder, sorted."""
    by_folder: dict[Path, list[Path]] = {}
    for f in python_files(paths, include_tests=include_tests, exclude=exclude):
        by_folder.setdefault(f.parent, []).append(f)
    return [MissingContext(folder=d, files=tuple(fs)) for d, fs in sorted(by_folder.items())
            if not (d / FILE_NAME).is_file()]
