"""Caches derived from committed Parquet files: file stamps that key them, atomic writes, cleanup.

The event catalog's per-day partials and the per-partition game summaries are both derived
from the files of one partition and are valid while those files are: a committed part file
is never rewritten in place (the writer and compaction always create new names), so its
(name, size, mtime) stamp identifies its rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.paths import DOC_TYPES, DataPaths

# Cache files no index refers to are deleted once older than this: another process may have
# written one a moment ago and not yet have written the index that refers to it.
GARBAGE_AGE_S = 600.0


@dataclass(frozen=True)
class StoredFile:
    """One committed part file and the stamp that identifies its content."""

    doc_type: str
    day: str
    path: Path
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> tuple[str, int, int]:
        """(name relative to events_parquet/, size, mtime): moves with the data root."""
        return (f"doc_type={self.doc_type}/date={self.day}/{self.path.name}", self.size,
                self.mtime_ns)


def stored_files(paths: DataPaths, doc_types: Iterable[str] = DOC_TYPES) -> list[StoredFile]:
    """Every committed part file of these doc types with its stamp, oldest partition first.

    A file compacted away between the listing and its stat is left out, as it would be
    from a listing taken a moment later.
    """
    from store.files import partition_files  # its integrity check loads pyarrow

    out = []
    for t in doc_types:
        for day, d in paths.partitions(t):
            for f in partition_files(d):
                try:
                    st = f.stat()
                except FileNotFoundError:
                    continue
                out.append(StoredFile(t, day, f, st.st_size, st.st_mtime_ns))
    return out


def digest(value: Any, n: int = 16) -> str:
    """A short hex digest of a JSON-ready value (stamps, seeds, keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def write_json(path: Path, doc: Any, *, durable: bool = False) -> None:
    """Write JSON through a temp file and a rename; keys keep their order (it can matter).

    `durable` also fsyncs: for an index, whose loss costs a full rebuild. A cache file
    torn by a crash is detected when read (it does not parse) and recomputed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"), default=str)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """A cache file's content, or None when it is missing or damaged (never trusted then)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None


def collect_garbage(directory: Path, keep: Iterable[str], older_than_s: float = GARBAGE_AGE_S
                    ) -> int:
    """Delete files of a cache directory that are not in `keep` and older than the bound."""
    kept = set(keep)
    now = time.time()
    removed = 0
    try:
        entries = list(directory.iterdir())
    except OSError:
        return 0
    for f in entries:
        if f.name in kept or not f.is_file():
            continue
        try:
            if now - f.stat().st_mtime > older_than_s:
                f.unlink()
                removed += 1
        except OSError:
            continue
    return removed
