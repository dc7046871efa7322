"""`manifests/vector_index_checkpoint.json`: per table, which source signatures are fully indexed.

Versioned JSON, replaced atomically (temp file, fsync, rename, fsync dir). Several processes
may build different tables at once, so every save re-reads the file under a short flock and
replaces only its own table's entry. A source's signature is recorded only after its rows
are committed, and a table is marked `dirty` while a build runs: after a crash the next run
sees `dirty` and reconciles the table against its sources (no re-embedding: unchanged chunks
keep their vectors).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.errors import CheckpointVersionError
from store.locks import fsync_dir
from store.paths import TABLE_NAMES

CHECKPOINT_VERSION = 1


@dataclass
class TableState:
    """What the checkpoint knows about one table."""

    fingerprint: dict[str, Any] | None = None
    sources: dict[str, str] = field(default_factory=dict)  # source key -> signature
    dirty: bool = False
    last_build: dict[str, Any] | None = None
    # mtime of the table's `_versions` directory after our last commit: if it moved, someone
    # else wrote the table and a no-op run must not trust the checkpoint blindly
    versions_mtime_ns: int | None = None
    rows: int | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TableState:
        return cls(
            fingerprint=obj.get("fingerprint"),
            sources={str(k): str(v) for k, v in (obj.get("sources") or {}).items()},
            dirty=bool(obj.get("dirty", False)),
            last_build=obj.get("last_build"),
            versions_mtime_ns=obj.get("versions_mtime_ns"),
            rows=obj.get("rows"),
        )


@dataclass
class Checkpoint:
    """The whole checkpoint file."""

    tables: dict[str, TableState] = field(default_factory=dict)
    model_digests: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # not saved: e.g. "unreadable, repaired"

    def table(self, name: str) -> TableState:
        return self.tables.setdefault(name, TableState())

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": CHECKPOINT_VERSION,
            "tables": {k: asdict(v) for k, v in sorted(self.tables.items())},
            "model_digests": self.model_digests,
        }


def _parse(path: Path, raw: bytes) -> Checkpoint:
    try:
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
    except ValueError:
        # Atomic replaces make this unlikely; if it happens anyway (disk trouble, hand edits),
        # start from nothing but mark every table dirty so the next build reconciles rows.
        cp = Checkpoint(warnings=[f"{path.name} was unreadable; tables will be reconciled"])
        for name in TABLE_NAMES:
            cp.table(name).dirty = True
        return cp
    version = obj.get("format_version")
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise CheckpointVersionError(
            f"{path} has format version {version}, newer than this code ({CHECKPOINT_VERSION}); "
            "upgrade rugs-replayer"
        )
    tables = {str(k): TableState.from_json(v) for k, v in (obj.get("tables") or {}).items()
              if isinstance(v, dict)}
    digests = obj.get("model_digests") or {}
    return Checkpoint(tables=tables, model_digests=dict(digests))


def load(path: Path) -> Checkpoint:
    """The checkpoint, or an empty one if there is none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Checkpoint()
    return _parse(path, raw)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def save_table(path: Path, name: str, state: TableState,
               model_digests: dict[str, Any] | None = None) -> None:
    """Replace one table's entry (and merge model digests) in the file, atomically."""
    with _locked(path):
        current = load(path)
        current.tables[name] = state
        if model_digests:
            current.model_digests.update(model_digests)
        data = json.dumps(current.to_json(), indent=1, sort_keys=True).encode()
        _write_atomic(path, data)
