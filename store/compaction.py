"""Compact a partition's small flush files into large sorted ZSTD files, atomically, online."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from store.errors import WriterLockedError
from store.files import JOURNAL_NAME, partition_files, read_journal
from store.locks import FileLock, fsync_dir
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMAS, write_json_atomic

# Rows per compacted file: a past day of ticks (~345k) becomes one file.
MAX_ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 128 * 1024
JOURNAL_VERSION = 1


@dataclass(frozen=True)
class CompactionStats:
    """What one compaction run did."""

    partitions: int
    files_in: int
    files_out: int
    rows_in: int
    rows_out: int
    seconds: float

    @property
    def duplicates_dropped(self) -> int:
        return self.rows_in - self.rows_out


def _is_compacted(f: Path) -> bool:
    return f.name.endswith("-c.parquet")


def _recover_locked(paths: DataPaths) -> int:
    found = 0
    for t in DOC_TYPES:
        for _, d in paths.partitions(t):
            for tmp in d.glob(".tmp-*-c.parquet"):
                tmp.unlink(missing_ok=True)
            journal = read_journal(d)
            if journal is None:
                continue
            found += 1
            outputs = journal["outputs"]
            if all((d / o).exists() for o in outputs):
                for name in journal["inputs"]:
                    (d / name).unlink(missing_ok=True)
            else:
                for name in outputs:
                    (d / name).unlink(missing_ok=True)
            (d / JOURNAL_NAME).unlink(missing_ok=True)
            fsync_dir(d)
    return found


def recover(paths: DataPaths) -> int:
    """Finish or undo compactions a crash interrupted; returns how many it found.

    The journal is written before any output is renamed into place: if every output
    exists the compaction committed and its inputs are unlinked now; otherwise the
    outputs are dropped and the inputs stay live. Skipped while a compaction runs.
    """
    try:
        lock = FileLock(paths.compaction_lock, "compaction of data root")
    except WriterLockedError:
        return 0
    try:
        return _recover_locked(paths)
    finally:
        lock.release()


def _dedup_sorted(table: pa.Table) -> pa.Table:
    """Keep the first row of each event_id, preserving the table's order."""
    idx = pa.array(range(table.num_rows), pa.int64())
    firsts = (
        pa.table({"id": table.column("event_id"), "i": idx})
        .group_by("id", use_threads=False)
        .aggregate([("i", "min")])
        .column("i_min")
    )
    if len(firsts) == table.num_rows:
        return table
    return table.take(pc.take(firsts, pc.sort_indices(firsts)))


def compact_partition(directory: Path, doc_type: str) -> tuple[int, int, int, int]:
    """Rewrite one partition's files as sorted, de-duplicated, ZSTD files.

    Returns (files_in, files_out, rows_in, rows_out). Readers see either the
    inputs or the outputs, never both (see store.files.partition_files).
    """
    files = partition_files(directory)
    if len(files) <= 1 and all(_is_compacted(f) for f in files):
        return 0, 0, 0, 0
    schema = SCHEMAS[doc_type]
    table = pa.concat_tables([pq.read_table(f, schema=schema) for f in files])
    rows_in = table.num_rows
    table = _dedup_sorted(table.sort_by([("ts", "ascending"), ("seq", "ascending")]))
    stamp = time.time_ns()
    outputs: list[tuple[str, pa.Table]] = []
    for n, start in enumerate(range(0, max(table.num_rows, 1), MAX_ROWS_PER_FILE)):
        name = f"part-{stamp:020d}-{os.getpid()}-{n:03d}-c.parquet"
        outputs.append((name, table.slice(start, MAX_ROWS_PER_FILE)))
    for name, part in outputs:
        with open(directory / f".tmp-{name}", "wb") as f:
            pq.write_table(part, f, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            f.flush()
            os.fsync(f.fileno())
    write_json_atomic(
        directory / JOURNAL_NAME,
        {"version": JOURNAL_VERSION, "inputs": [f.name for f in files],
         "outputs": [n for n, _ in outputs]},
    )
    for name, _ in outputs:
        os.replace(directory / f".tmp-{name}", directory / name)
    fsync_dir(directory)
    for f in files:
        f.unlink(missing_ok=True)
    (directory / JOURNAL_NAME).unlink(missing_ok=True)
    fsync_dir(directory)
    return len(files), len(outputs), rows_in, table.num_rows


def compact(paths: DataPaths, doc_types: tuple[str, ...] = DOC_TYPES) -> CompactionStats:
    """Compact every partition that has more than one file; safe beside a running writer."""
    t0 = time.perf_counter()
    lock = FileLock(paths.compaction_lock, "compaction of data root")
    partitions = files_in = files_out = rows_in = rows_out = 0
    try:
        _recover_locked(paths)
        for t in doc_types:
            for _, d in paths.partitions(t):
                fi, fo, ri, ro = compact_partition(d, t)
                partitions += 1 if fi else 0
                files_in += fi
                files_out += fo
                rows_in += ri
                rows_out += ro
    finally:
        lock.release()
    return CompactionStats(partitions, files_in, files_out, rows_in, rows_out,
                           time.perf_counter() - t0)
