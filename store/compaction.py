"""Compact a partition's small flush files into large sorted ZSTD files, atomically, online."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from store.errors import SchemaVersionError, WriterLockedError
from store.files import JOURNAL_NAME, partition_files, read_journal
from store.locks import FileLock, fsync_dir
from store.paths import DOC_TYPES, DataPaths
from store.schema import write_json_atomic
from store.views import sql_literal

# Rows per compacted file: a past day of ticks (~345k) becomes one file.
MAX_ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 128 * 1024
JOURNAL_VERSION = 1
# Replaced inputs stay on disk (hidden by the journal) this long, so a reader that
# listed them just before the commit can still finish its query.
GRACE_SECONDS = 30.0


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


def _settle(d: Path, grace: float) -> bool:
    """Finish or undo the compaction journaled in `d`; False while inside its grace period."""
    journal = read_journal(d)
    if journal is None:
        return True
    if journal.get("version", 1) > JOURNAL_VERSION:
        raise SchemaVersionError(
            f"compaction journal in {d} has version {journal['version']}, newer than this "
            f"code's {JOURNAL_VERSION}: upgrade rugs-replayer"
        )
    outputs = journal["outputs"]
    if all((d / o).exists() for o in outputs):
        committed = journal.get("committed_at")
        if committed is not None and time.time() - committed < grace:
            return False
        doomed = journal["inputs"]
    else:  # crashed before every output was renamed: the inputs stay live
        doomed = outputs
    for name in doomed:
        (d / name).unlink(missing_ok=True)
    (d / JOURNAL_NAME).unlink(missing_ok=True)
    fsync_dir(d)
    return True


def _recover_locked(paths: DataPaths, grace: float) -> int:
    found = 0
    for t in DOC_TYPES:
        for _, d in paths.partitions(t):
            for tmp in d.glob(".tmp-*-c.parquet"):
                tmp.unlink(missing_ok=True)
            if (d / JOURNAL_NAME).exists():
                found += 1
                _settle(d, grace)
    return found


def recover(paths: DataPaths) -> int:
    """Finish or undo compactions a crash interrupted; returns how many it found.

    The journal is written before any output is renamed into place: if every output
    exists the compaction committed and its inputs are unlinked (once its grace period
    is over); otherwise the outputs are dropped and the inputs stay live. Skipped
    while a compaction runs.
    """
    try:
        lock = FileLock(paths.compaction_lock, "compaction of data root")
    except WriterLockedError:
        return 0
    try:
        return _recover_locked(paths, GRACE_SECONDS)
    finally:
        lock.release()


def _sql_list(files: list[Path]) -> str:
    # Our own directory listing, quoted: the only literals that enter this SQL.
    return "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> tuple[Any, ...]:
    row = con.execute(sql, params).fetchone()
    assert row is not None  # aggregates and OFFSET < count always return a row
    return row


def _copy_sorted(con: duckdb.DuckDBPyConnection, source: str, where: str,
                 params: list[object], dedup: bool, target: Path) -> None:
    qualify = (
        " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ts, seq) = 1" if dedup else ""
    )
    target_sql = sql_literal(str(target))
    con.execute(
        f"COPY (SELECT * FROM {source}{where}{qualify} ORDER BY ts, seq) TO {target_sql} "
        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
        params,
    )


def compact_partition(
    directory: Path, doc_type: str, grace: float = GRACE_SECONDS
) -> tuple[int, int, int, int]:
    """Rewrite one partition's files as sorted, de-duplicated, ZSTD files.

    DuckDB does the sort out of core, so a day of large payloads fits in bounded
    memory. Returns (files_in, files_out, rows_in, rows_out). Readers see either
    the inputs or the outputs, never both (see store.files.partition_files).
    """
    if not _settle(directory, grace):
        return 0, 0, 0, 0  # the last compaction's inputs may still be read
    files = partition_files(directory)
    if len(files) <= 1 and all(_is_compacted(f) for f in files):
        return 0, 0, 0, 0
    con = duckdb.connect(":memory:")
    try:
        tmp_dir = directory.parent.parent.parent / ".duckdb_tmp"
        con.execute("SET temp_directory = ?", [str(tmp_dir)])
        con.execute("SET preserve_insertion_order = false")
        source = f"read_parquet({_sql_list(files)}, hive_partitioning=false, union_by_name=true)"
        rows_in, distinct = _one(
            con, f"SELECT count(*), count(DISTINCT event_id) FROM {source}", []
        )
        dedup = distinct != rows_in
        n_out = max(1, -(-distinct // MAX_ROWS_PER_FILE))
        bounds: list[object] = []
        if n_out > 1:
            for k in range(1, n_out):
                (b,) = _one(
                    con, f"SELECT ts FROM {source} ORDER BY ts LIMIT 1 OFFSET ?",
                    [k * MAX_ROWS_PER_FILE],
                )
                bounds.append(b)
        stamp = time.time_ns()
        outputs = [f"part-{stamp:020d}-{os.getpid()}-{n:03d}-c.parquet" for n in range(n_out)]
        for n, name in enumerate(outputs):
            conds = []
            params: list[object] = []
            if n > 0:
                conds.append("ts >= ?")
                params.append(bounds[n - 1])
            if n < n_out - 1:
                conds.append("ts < ?")
                params.append(bounds[n])
            where = (" WHERE " + " AND ".join(conds)) if conds else ""
            _copy_sorted(con, source, where, params, dedup, directory / f".tmp-{name}")
            with open(directory / f".tmp-{name}", "rb+") as f:
                os.fsync(f.fileno())
        tmps = _sql_list([directory / f".tmp-{n}" for n in outputs])
        (rows_out,) = _one(con, f"SELECT count(*) FROM read_parquet({tmps})", [])
    finally:
        con.close()
    write_json_atomic(
        directory / JOURNAL_NAME,
        {"version": JOURNAL_VERSION, "inputs": [f.name for f in files], "outputs": outputs},
    )
    for name in outputs:
        os.replace(directory / f".tmp-{name}", directory / name)
    fsync_dir(directory)
    journal = {"version": JOURNAL_VERSION, "inputs": [f.name for f in files],
               "outputs": outputs, "committed_at": time.time()}
    write_json_atomic(directory / JOURNAL_NAME, journal)
    if grace <= 0:
        _settle(directory, 0)
    return len(files), len(outputs), rows_in, rows_out


def compact(
    paths: DataPaths, doc_types: tuple[str, ...] = DOC_TYPES, grace: float = GRACE_SECONDS
) -> CompactionStats:
    """Compact every partition that has more than one file; safe beside a running writer.

    Inputs replaced less than `grace` seconds ago are unlinked by a later run; a
    partition whose last compaction is still inside its grace period is skipped.
    """
    t0 = time.perf_counter()
    lock = FileLock(paths.compaction_lock, "compaction of data root")
    partitions = files_in = files_out = rows_in = rows_out = 0
    try:
        _recover_locked(paths, grace)
        for t in doc_types:
            for _, d in paths.partitions(t):
                fi, fo, ri, ro = compact_partition(d, t, grace)
                partitions += 1 if fi else 0
                files_in += fi
                files_out += fo
                rows_in += ri
                rows_out += ro
    finally:
        lock.release()
    return CompactionStats(partitions, files_in, files_out, rows_in, rows_out,
                           time.perf_counter() - t0)
