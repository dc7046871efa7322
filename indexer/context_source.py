"""CONTEXT.md files under the configured roots, as sources of the `code_context` table.

Roots: explicit `roots` (the CLI's repeatable `--root`), else `Settings.context_roots`
(`RUGS_CONTEXT_ROOTS`, os.pathsep-separated), else the current repository (the nearest
parent of the working directory holding `.git`, or the working directory itself). A scan owns
only the files under its roots: indexing root B never deletes what root A contributed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chunkers.chunk import MARKDOWN_CHUNKER_VERSION, Chunk
from chunkers.markdown import chunk_markdown
from indexer.source import SourceScan
from store.settings import Settings

CHUNKER_VERSION = MARKDOWN_CHUNKER_VERSION
FILE_NAME = "CONTEXT.md"
# Directories never searched: VCS data, virtualenvs, caches, build output, dependencies.
SKIP_DIRS = frozenset({
    "node_modules", "__pycache__", "site-packages", "venv", "env", "build", "dist", "target",
})


def repo_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` that holds `.git`, else `start` itself."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / ".git").exists():
            return d
    return here


def resolve_roots(settings: Settings, roots: Sequence[Path] | None = None,
                  cwd: Path | None = None) -> list[Path]:
    chosen = list(roots or settings.context_roots or [repo_root(cwd)])
    out: list[Path] = []
    for r in chosen:
        p = Path(r).expanduser().resolve()
        if p not in out:
            out.append(p)
    return out


def discover(roots: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(root, file) for every CONTEXT.md under the roots, sorted; a file under two roots is
    attributed to the deepest root. Hidden and dependency directories are skipped, symlinked
    directories are not followed (no loops)."""
    found: dict[Path, Path] = {}
    for root in sorted(roots, key=lambda r: len(r.parts), reverse=True):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d for d in dirnames
                if not d.startswith(".") and d not in SKIP_DIRS and not d.endswith(".egg-info")
            )
            if FILE_NAME in filenames:
                f = Path(dirpath) / FILE_NAME
                found.setdefault(f, root)
    return sorted(((root, f) for f, root in found.items()), key=lambda rf: str(rf[1]))


@dataclass(frozen=True)
class ContextFileSource:
    """One CONTEXT.md; its signature hashes root, relative path and bytes (files are small)."""

    key: str
    root: Path
    path: Path
    signature: str

    @property
    def rel(self) -> str:
        return self.path.relative_to(self.root).as_posix()

    def chunks(self) -> list[Chunk]:
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        return chunk_markdown(text, path=self.rel, source=self.key, root=str(self.root))


def _signature(root: Path, path: Path, data: bytes) -> str:
    h = hashlib.sha256()
    h.update(f"{root}\x00{path.relative_to(root).as_posix()}\x00".encode())
    h.update(data)
    return h.hexdigest()[:32]


def scan_sources(settings: Settings, roots: Sequence[Path] | None = None,
                 cwd: Path | None = None) -> SourceScan:
    """The CONTEXT.md sources under the roots (see module docstring for the defaults)."""
    root_list = resolve_roots(settings, roots, cwd)
    sources = []
    warnings = []
    unreadable: set[str] = set()
    for root in root_list:
        if not root.is_dir():
            warnings.append(f"context root {root} is not a directory")
    for root, path in discover(root_list):
        key = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            # Keep its old rows: an unreadable file has not vanished.
            warnings.append(f"cannot read {path}: {exc.strerror or exc}")
            unreadable.add(key)
            continue
        sources.append(ContextFileSource(key=key, root=root, path=path,
                                         signature=_signature(root, path, data)))
    prefixes = tuple(str(r).rstrip(os.sep) + os.sep for r in root_list)

    def owns(key: str) -> bool:
        return key.startswith(prefixes) and key not in unreadable

    return SourceScan(sources=list(sources), owns=owns, warnings=warnings,
                      scope=", ".join(str(r) for r in root_list))
