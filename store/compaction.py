"""Compact a partition's small flush files into large sorted ZSTD files, atomically, online.

DuckDB sorts (out of core, bounded memory); pyarrow writes the output, because DuckDB
writes no page checksums. Every input is read through pyarrow first, every page against
its checksum: a damaged input goes to quarantine instead of into the merged file, where
it would otherwise get fresh, valid checksums over wrong values.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from store.atomic import write_json_atomic
from store.errors import SchemaVersionError, StoreError, WriterLockedError, storage_errors
from store.files import JOURNAL_NAME, is_compacted, partition_files, read_journal
from store.integrity import PARQUET_WRITE_OPTIONS, parquet_problem, quarantine_part
from store.locks import MAINTENANCE_LOCK_WAIT, FileLock, fsync_dir
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMAS
from store.views import sql_literal

# Rows per compacted file: a past day of ticks (~345k) becomes one file.
MAX_ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 128 * 1024
ROW_GROUP_BYTES = 128 << 20  # large payloads: a row group stops here first (bounded memory)
# Columns that grow with the sort order (ts, seq) or nearly so: delta-encoded in compacted
# files, which makes them smaller than DuckDB's own output (legacy corpus: -5%) and
# faster to write than dictionary pages that end up plain anyway.
_DELTA = frozenset({"ts", "seq", "ingested_at", "server_ts", "tick"})


def _write_options(schema: pa.Schema) -> dict[str, Any]:
    delta = [f.name for f in schema if f.name in _DELTA]
    return {
        **PARQUET_WRITE_OPTIONS,
        "use_dictionary": [f.name for f in schema if f.name not in _DELTA],
        "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
    }
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
    rows = con.execute(sql, params).fetchall()  # all: DuckDB wants a result finished
    assert rows  # aggregates and OFFSET < count always return a row
    return tuple(rows[0])


def _copy_sorted(con: duckdb.DuckDBPyConnection, source: str, where: str,
                 params: list[object], dedup: bool, target: Path, doc_type: str) -> int:
    """Sorted rows into `target` (DuckDB sorts, pyarrow writes with page checksums)."""
    qualify = (
        " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ts, seq) = 1" if dedup else ""
    )
    schema = SCHEMAS[doc_type]
    rel = con.sql(f"SELECT * FROM {source}{where}{qualify} ORDER BY ts, seq", params=params)
    reader: pa.RecordBatchReader = rel.to_arrow_reader(8192)
    rows = 0
    with pq.ParquetWriter(target, schema, **_write_options(schema)) as out:
        pending: list[pa.RecordBatch] = []
        pending_rows = pending_bytes = 0
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            pending_bytes += batch.nbytes
            if pending_rows >= ROW_GROUP_ROWS or pending_bytes >= ROW_GROUP_BYTES:
                table = pa.Table.from_batches(pending).select(schema.names).cast(schema)
                out.write_table(table, row_group_size=ROW_GROUP_ROWS)
                rows += table.num_rows
                pending, pending_rows, pending_bytes = [], 0, 0
        if pending:
            table = pa.Table.from_batches(pending).select(schema.names).cast(schema)
            out.write_table(table, row_group_size=ROW_GROUP_ROWS)
            rows += table.num_rows
    with open(target, "rb+") as f:
        os.fsync(f.fileno())
    return rows


def _verified_inputs(directory: Path, files: list[Path]) -> list[Path]:
    """The inputs whose every page matches its checksum; the others go to quarantine."""
    good = []
    for f in files:
        try:
            problem = parquet_problem(f)
        except FileNotFoundError:
            continue
        if problem is None:
            good.append(f)
        else:
            quarantine_part(f, problem)
    return good


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
    if len(files) <= 1 and all(is_compacted(f) for f in files):
        return 0, 0, 0, 0
    files = _verified_inputs(directory, files)
    if not files or (len(files) == 1 and is_compacted(files[0])):
        return 0, 0, 0, 0
    stamp = time.time_ns()
    tmps: list[Path] = []
    con = duckdb.connect(":memory:")
    try:
        tmp_dir = directory.parent.parent.parent / ".duckdb_tmp"
        con.execute("SET temp_directory = ?", [str(tmp_dir)])
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET TimeZone = 'UTC'")
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
        outputs = [f"part-{stamp:020d}-{os.getpid()}-{n:03d}-c.parquet" for n in range(n_out)]
        rows_out = 0
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
            tmps.append(directory / f".tmp-{name}")
            rows_out += _copy_sorted(con, source, where, params, dedup, tmps[-1], doc_type)
    except BaseException:
        for t in tmps:  # a failed merge (a full disk) leaves nothing behind
            t.unlink(missing_ok=True)
        raise
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
    lock = FileLock(paths.compaction_lock, "compaction of data root", wait=MAINTENANCE_LOCK_WAIT)
    partitions = files_in = files_out = rows_in = rows_out = 0
    try:
        _recover_locked(paths, grace)
        for t in doc_types:
            for _, d in paths.partitions(t):
                try:
                    with storage_errors(f"compacting {d}"):
                        fi, fo, ri, ro = compact_partition(d, t, grace)
                except duckdb.Error as exc:
                    raise StoreError(f"compacting {d}: {' '.join(str(exc).split())}") from exc
                partitions += 1 if fi else 0
                files_in += fi
                files_out += fo
                rows_in += ri
                rows_out += ro
    finally:
        lock.release()
    return CompactionStats(partitions, files_in, files_out, rows_in, rows_out,
                           time.perf_counter() - t0)
