"""Prune partitions before a date and export events to JSONL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.errors import StoreError
from store.files import committed_files
from store.integrity import parquet_problem, quarantine_part
from store.locks import MAINTENANCE_LOCK_WAIT, FileLock
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMAS


@dataclass(frozen=True)
class PruneStats:
    """Partitions and rows removed by a prune."""

    partitions: int
    rows: int
    bytes: int


def prune(paths: DataPaths, before: date) -> PruneStats:
    """Delete every partition dated strictly before `before`, under the compaction lock."""
    lock = FileLock(paths.compaction_lock, "maintenance of data root", wait=MAINTENANCE_LOCK_WAIT)
    parts = rows = size = 0
    try:
        for t in DOC_TYPES:
            for day, d in paths.partitions(t):
                if date.fromisoformat(day) >= before:
                    continue
                for f in committed_files(paths, t, date=day):
                    try:
                        rows += pq.ParquetFile(f).metadata.num_rows
                    except (pa.ArrowException, OSError):
                        pass  # a damaged file is deleted with its partition all the same
                    size += f.stat().st_size
                shutil.rmtree(d)
                parts += 1
    finally:
        lock.release()
    return PruneStats(parts, rows, size)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        # A string keeps the value exact (a JSON float would go through binary).
        return format(v.normalize(), "f")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def iter_rows(
    paths: DataPaths,
    doc_type: str,
    since: date | None = None,
    until: date | None = None,
    batch_size: int = 8192,
) -> Iterator[dict[str, Any]]:
    """Rows of one doc type in partition order, batch by batch (bounded memory)."""
    for day, _ in paths.partitions(doc_type):
        d = date.fromisoformat(day)
        if (since and d < since) or (until and d > until):
            continue
        for f in committed_files(paths, doc_type, date=day):
            # Checked page by page before any row is yielded: a damaged file is moved to
            # quarantine and left out whole, never exported half or with wrong values.
            problem = parquet_problem(f)
            if problem is not None:
                quarantine_part(f, problem, paths)
                continue
            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(batch_size=batch_size):
                yield from batch.to_pylist()


@dataclass(frozen=True)
class ExportStats:
    """Files and rows written by an export."""

    files: dict[str, str]
    rows: dict[str, int]


def export_jsonl(
    paths: DataPaths,
    output: Path,
    doc_types: tuple[str, ...] = DOC_TYPES,
    since: date | None = None,
    until: date | None = None,
) -> ExportStats:
    """One `<doc_type>.jsonl` per doc type; money as exact decimal strings, times ISO-8601."""
    unknown = [t for t in doc_types if t not in SCHEMAS]
    if unknown:
        raise StoreError(f"unknown doc type(s) {', '.join(unknown)}; known: {', '.join(DOC_TYPES)}")
    output.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    for t in doc_types:
        target = output / f"{t}.jsonl"
        tmp = output / f".{t}.jsonl.tmp"
        n = 0
        with open(tmp, "w") as out:
            for row in iter_rows(paths, t, since, until):
                out.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")
                n += 1
        tmp.replace(target)
        files[t] = str(target)
        rows[t] = n
    return ExportStats(files, rows)
