"""Append-only write-ahead log of not-yet-flushed rows: Arrow IPC stream segments under wal/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from store.errors import SchemaVersionError
from store.paths import DOC_TYPES
from store.schema import ENVELOPE, SCHEMAS, TYPED

WAL_FORMAT_VERSION = 1
_META = {b"rugs_wal_version": str(WAL_FORMAT_VERSION).encode()}


def _union_schema() -> pa.Schema:
    """Envelope plus every typed column of every doc type, all nullable.

    One schema for all doc types means one file and one fsync per group commit;
    columns shared by name (price, tick, trade_count) have the same type everywhere.
    """
    fields: dict[str, pa.Field] = {f.name: f.with_nullable(True) for f in ENVELOPE}
    for t in DOC_TYPES:
        for f in TYPED[t]:
            prev = fields.get(f.name)
            if prev is not None and prev.type != f.type:
                raise AssertionError(f"typed column {f.name} has two types")
            fields.setdefault(f.name, f.with_nullable(True))
    return pa.schema(list(fields.values()), metadata=_META)


WAL_SCHEMA = _union_schema()


def to_wal_batch(table: pa.Table) -> pa.RecordBatch:
    """Widen one doc type's rows to the WAL schema (missing columns as nulls)."""
    n = table.num_rows
    cols = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(n, f.type)
        for f in WAL_SCHEMA
    ]
    return pa.Table.from_arrays(cols, schema=WAL_SCHEMA).combine_chunks().to_batches()[0]


def from_wal_table(table: pa.Table) -> dict[str, pa.Table]:
    """Split replayed WAL rows back into one table per doc type, in its own schema."""
    out: dict[str, pa.Table] = {}
    if table.num_rows == 0:
        return out
    doc_types = table.column("doc_type")
    for t in DOC_TYPES:
        mask = pa.compute.equal(doc_types, t)
        part = table.filter(mask)
        if part.num_rows:
            schema = SCHEMAS[t]
            out[t] = pa.Table.from_arrays(
                [part.column(f.name) for f in schema], schema=schema
            )
    return out


class WalSegment:
    """One open segment being appended to; `sync()` makes every append so far durable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb", buffering=0)
        self._writer = ipc.new_stream(self._file, WAL_SCHEMA)
        self.rows = 0

    def append(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def fileno(self) -> int:
        return self._file.fileno()

    def sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.close()


def segment_paths(wal_dir: Path) -> list[Path]:
    if not wal_dir.is_dir():
        return []
    return sorted(wal_dir.glob("wal-*.arrows"))


def read_segment(path: Path) -> Iterator[pa.RecordBatch]:
    """Every complete batch of a segment; a torn tail (crash mid-append) ends the read.

    A torn batch was never acknowledged: acknowledgement waits for the fsync that
    follows a complete append.
    """
    try:
        reader = ipc.open_stream(pa.OSFile(str(path), "rb"))
    except (pa.ArrowInvalid, OSError):
        return  # crashed before the schema message was complete: nothing was acked
    meta = reader.schema.metadata or {}
    version = int(meta.get(b"rugs_wal_version", b"1"))
    if version > WAL_FORMAT_VERSION:
        raise SchemaVersionError(
            f"write-ahead log {path} has format version {version}, this code knows up to "
            f"{WAL_FORMAT_VERSION}: upgrade rugs-replayer before opening this data root"
        )
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError, EOFError):
            return
        yield batch


def pending_rows(wal_dir: Path) -> int:
    """Rows waiting in the WAL (for `data status`); readable while a writer appends."""
    return sum(b.num_rows for p in segment_paths(wal_dir) for b in read_segment(p))
