"""The single writer: validated events go to the WAL, then atomically to Parquet, exactly once."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from store import wal as wal_mod
from store.errors import InvalidEventError, WriterClosedError
from store.event import event_id_for, normalize, to_money
from store.files import committed_files
from store.locks import FileLock, fsync_dir
from store.paths import DOC_TYPES, DataPaths
from store.schema import (
    DIRECTIONS,
    MONEY,
    SCHEMA_VERSION,
    SCHEMAS,
    SOURCES,
    ensure_manifest,
    nullable,
)
from store.settings import Settings

_US_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Rejection:
    """One event that was not written, and why."""

    index: int
    event_name: str | None
    reason: str


@dataclass
class WriteResult:
    """What one write call did: rows written per doc type, duplicates skipped, rejections."""

    written: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


def _day_of(us: int) -> str:
    return (_EPOCH + timedelta(days=us // _US_PER_DAY)).isoformat()


def write_parquet_atomic(table: pa.Table, directory: Path, name: str, **options: Any) -> Path:
    """Temp file in the same directory, fsync, rename, fsync the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    tmp = directory / f".tmp-{name}"
    with open(tmp, "wb") as f:
        pq.write_table(table, f, **options)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(directory)
    return final


class EventWriter:
    """The one process that writes a data root.

    `write*()` returns once every accepted event is durable: appended to the WAL and
    fsynced (one fsync serves every thread waiting at that moment), or, when the call
    fills the buffer, already in a renamed, fsynced Parquet file (such rows skip the
    WAL: it holds only rows that stay buffered). Buffered rows are flushed at
    `flush_events` rows or after `flush_seconds`; a flush writes one Parquet file per
    touched partition, then drops the WAL. A crash leaves the WAL, which the next open
    replays; replayed rows whose event_id is already in Parquet are skipped, so each
    event lands exactly once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = DataPaths(settings.data_dir)
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = FileLock(self.paths.writer_lock, "data root")
        self._lock = threading.RLock()
        self._sync_cv = threading.Condition()
        self._closed = False
        try:
            ensure_manifest(self.paths)
            from store.compaction import recover

            recover(self.paths)
            for tmp in self.paths.events.glob("doc_type=*/date=*/.tmp-part-*"):
                if not tmp.name.endswith("-c.parquet"):  # a compactor's temp is its own
                    tmp.unlink(missing_ok=True)
            self._ids: dict[tuple[str, str | None], set[str]] = {}
            self._buffer: dict[str, list[pa.Table]] = {t: [] for t in DOC_TYPES}
            self._buffered = 0
            self._buffer_since: float | None = None
            self._appended = 0  # appends to the WAL so far (tickets)
            self._durable = 0  # every ticket up to this one is durable
            self._syncing = False
            self._file_counter = 0
            self.paths.wal.mkdir(parents=True, exist_ok=True)
            self.replayed = self._replay_wal()
            self._segment = self._new_segment()
        except BaseException:
            self._lock_file.release()
            raise
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._timer_loop, name="wal-flush", daemon=True)
        self._timer.start()

    @classmethod
    def open(cls, settings: Settings | None = None, **flags: Any) -> EventWriter:
        return cls(settings or Settings.load(**flags))

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------

    def write(self, event: Mapping[str, Any]) -> str | None:
        """Write one event; its id once durable, None if it was a duplicate.

        Raises InvalidEventError saying what is wrong with it.
        """
        row = normalize(
            event, ingested_at=datetime.now(UTC), max_payload_bytes=self.settings.max_payload_bytes
        )
        result = WriteResult()
        t = row["doc_type"]
        self._commit({t: pa.Table.from_pylist([row], schema=SCHEMAS[t])}, result)
        return None if result.duplicates else str(row["event_id"])

    def write_many(self, events: Iterable[Mapping[str, Any]]) -> WriteResult:
        """Write a batch; each bad event is rejected with its reason, the rest is written."""
        result = WriteResult()
        now = datetime.now(UTC)
        rows: dict[str, list[dict[str, Any]]] = {}
        limit = self.settings.max_payload_bytes
        for i, ev in enumerate(events):
            try:
                row = normalize(ev, ingested_at=now, max_payload_bytes=limit)
            except InvalidEventError as exc:
                name = ev.get("event_name") if isinstance(ev, Mapping) else None
                result.rejected.append(
                    Rejection(i, name if isinstance(name, str) else None, str(exc))
                )
                continue
            rows.setdefault(row["doc_type"], []).append(row)
        tables = {t: pa.Table.from_pylist(r, schema=SCHEMAS[t]) for t, r in rows.items()}
        self._commit(tables, result)
        return result

    def write_arrow(self, doc_type: str, table: pa.Table) -> WriteResult:
        """The batch path: a table of one doc type, validated column-wise.

        A column that cannot be cast as a whole (one bad value) sends the table through
        the per-event path, so only the bad rows are rejected.
        """
        result = WriteResult()
        if doc_type not in DOC_TYPES:
            raise InvalidEventError(
                f"unknown doc_type {doc_type!r}; expected one of {', '.join(DOC_TYPES)}"
            )
        try:
            table = self._conform(doc_type, table, result)
        except _CastError:
            rows = table.to_pylist()
            for r in rows:
                r.setdefault("doc_type", doc_type)
            return self.write_many(rows)
        self._commit({doc_type: table}, result)
        return result

    def flush(self) -> None:
        """Write every buffered row to Parquet now."""
        with self._lock:
            self._check_open()
            self._flush_locked()

    def close(self) -> None:
        """Flush, stop the timer and release the data-root lock."""
        if self._closed:
            return
        self._stop.set()
        self._timer.join(timeout=5)
        with self._lock:
            try:
                self._flush_locked()
                self._segment.close()
                for p in wal_mod.segment_paths(self.paths.wal):
                    p.unlink()
            finally:
                self._closed = True
                self._lock_file.release()

    @property
    def pending(self) -> int:
        """Rows in the buffer (and so in the WAL), not yet in Parquet."""
        return self._buffered

    # -- internals -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosedError("this EventWriter is closed; open a new one")

    def _conform(self, doc_type: str, table: pa.Table, result: WriteResult) -> pa.Table:
        schema = SCHEMAS[doc_type]
        n = table.num_rows
        now = pa.scalar(datetime.now(UTC), type=schema.field("ingested_at").type)
        fills = {
            "doc_type": pa.scalar(doc_type),
            "schema_version": pa.scalar(SCHEMA_VERSION, pa.int16()),
            "ingested_at": now,
        }
        cols = []
        for f in schema:
            if f.name in table.column_names:
                col = table.column(f.name)
                try:
                    if f.type == MONEY and not pa.types.is_decimal(col.type):
                        # Floats go through their shortest repr, never their binary value.
                        col = pa.array([to_money(v, f.name) for v in col.to_pylist()], MONEY)
                    else:
                        col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, InvalidEventError) as exc:
                    raise _CastError(f"column {f.name}: not {f.type}: {exc}") from None
                if f.name in fills:
                    col = pc.fill_null(col, fills[f.name])
            elif f.name in fills:
                col = pa.array([fills[f.name].as_py()] * n, f.type)
            else:
                col = pa.nulls(n, f.type)
            cols.append(col)
        t = pa.Table.from_arrays(cols, schema=nullable(schema))
        bad = pa.array([False] * n)
        reasons: dict[str, pa.Array] = {}
        for f in schema:
            if not f.nullable and f.name != "event_id":
                m = pc.is_null(t.column(f.name))
                reasons[f"missing required field {f.name}"] = m
        reasons["source is not one of " + ", ".join(SOURCES)] = pc.invert(
            pc.fill_null(pc.is_in(t.column("source"), pa.array(SOURCES)), False)
        )
        reasons["direction is not one of " + ", ".join(DIRECTIONS)] = pc.invert(
            pc.fill_null(pc.is_in(t.column("direction"), pa.array(DIRECTIONS)), False)
        )
        reasons[f"payload over {self.settings.max_payload_bytes} bytes"] = pc.fill_null(
            pc.greater(pc.binary_length(t.column("raw_json")), self.settings.max_payload_bytes),
            False,
        )
        reasons["doc_type column disagrees with the table's doc type"] = pc.fill_null(
            pc.not_equal(t.column("doc_type"), doc_type), False
        )
        for m in reasons.values():
            bad = pc.or_(bad, pc.fill_null(m, True))
        if pc.any(bad).as_py():
            names = t.column("event_name").to_pylist()
            masks = {r: m.to_pylist() for r, m in reasons.items()}
            for i, is_bad in enumerate(bad.to_pylist()):
                if is_bad:
                    why = next(r for r, m in masks.items() if m[i] is not False)
                    result.rejected.append(Rejection(i, names[i], why))
            t = t.filter(pc.invert(bad))
        ids = t.column("event_id")
        if ids.null_count:
            filled = [
                e if e is not None else event_id_for(s, n_, ts, r)
                for e, s, n_, ts, r in zip(
                    ids.to_pylist(),
                    t.column("source").to_pylist(),
                    t.column("event_name").to_pylist(),
                    t.column("ts").to_pylist(),
                    t.column("raw_json").to_pylist(),
                    strict=True,
                )
            ]
            t = t.set_column(0, schema.field("event_id"), pa.array(filled, pa.string()))
        return t.cast(schema)

    def _known_ids(self, doc_type: str, day: str | None) -> set[str]:
        key = (doc_type, None if doc_type == "complete_game" else day)
        ids = self._ids.get(key)
        if ids is None:
            ids = set()
            files = committed_files(self.paths, doc_type, date=key[1])
            for f in files:
                ids.update(pq.read_table(f, columns=["event_id"]).column(0).to_pylist())
            self._ids[key] = ids
        return ids

    def _dedup(self, doc_type: str, table: pa.Table) -> tuple[pa.Table, int]:
        """Drop rows whose event_id is already stored (or earlier in this batch)."""
        if table.num_rows == 0:
            return table, 0
        if doc_type == "complete_game":
            groups: list[tuple[str | None, pa.Table]] = [(None, table)]
        else:
            days = pc.divide(pc.cast(table.column("ts"), pa.int64()), _US_PER_DAY)
            unique = pc.unique(days).to_pylist()
            groups = [
                (_day_of(d * _US_PER_DAY),
                 table if len(unique) == 1 else table.filter(pc.equal(days, d)))
                for d in unique
            ]
        kept: list[pa.Table] = []
        dups = 0
        for day, part in groups:
            known = self._known_ids(doc_type, day)
            ids = part.column("event_id").to_pylist()
            fresh = set(ids)
            if len(fresh) == len(ids) and known.isdisjoint(fresh):
                known |= fresh  # the common case, decided by C-speed set operations
                kept.append(part)
                continue
            keep = []
            for e in ids:
                if e in known:
                    keep.append(False)
                    dups += 1
                else:
                    known.add(e)
                    keep.append(True)
            kept.append(part.filter(pa.array(keep)))
        out = kept[0] if len(kept) == 1 else pa.concat_tables(kept)
        return out, dups

    def _commit(self, tables: dict[str, pa.Table], result: WriteResult) -> None:
        with self._lock:
            self._check_open()
            fresh: dict[str, pa.Table] = {}
            for t, table in tables.items():
                table, dups = self._dedup(t, table)
                result.duplicates += dups
                if table.num_rows:
                    fresh[t] = table
                    result.written[t] = result.written.get(t, 0) + table.num_rows
            if not fresh:
                return
            n = sum(t.num_rows for t in fresh.values())
            for t, table in fresh.items():
                self._buffer[t].append(table)
            self._buffered += n
            if self._buffered >= self.settings.flush_events:
                # These rows reach fsynced Parquet before the call returns, so they
                # need no WAL copy: the WAL holds only rows that stay buffered.
                self._flush_locked()
                return
            for table in fresh.values():
                self._segment.append(wal_mod.to_wal_batch(table))
            if self._buffer_since is None:
                self._buffer_since = time.monotonic()
            self._appended += 1
            ticket = self._appended
            fd = os.dup(self._segment.fileno())
        self._wait_durable(ticket, fd)

    def _wait_durable(self, ticket: int, fd: int) -> None:
        """Group commit: one fsync makes every append up to its start durable."""
        try:
            with self._sync_cv:
                while self._durable < ticket:
                    if self._syncing:
                        self._sync_cv.wait()
                        continue
                    self._syncing = True
                    target = self._appended
                    self._sync_cv.release()
                    try:
                        os.fsync(fd)
                    finally:
                        self._sync_cv.acquire()
                        self._syncing = False
                    self._durable = max(self._durable, target)
                    self._sync_cv.notify_all()
        finally:
            os.close(fd)

    def _flush_locked(self) -> None:
        if self._buffered == 0:
            return
        for t in DOC_TYPES:
            parts = self._buffer[t]
            if parts:
                self._write_partitions(t, pa.concat_tables(parts))
                self._buffer[t] = []
        # Everything appended so far is now in renamed, fsynced Parquet files.
        self._segment.close()
        old = wal_mod.segment_paths(self.paths.wal)
        self._segment = self._new_segment()
        for p in old:
            if p != self._segment.path:
                p.unlink()
        fsync_dir(self.paths.wal)
        self._buffered = 0
        self._buffer_since = None
        with self._sync_cv:
            self._durable = max(self._durable, self._appended)
            self._sync_cv.notify_all()

    def _write_partitions(self, doc_type: str, table: pa.Table) -> None:
        days = pc.divide(pc.cast(table.column("ts"), pa.int64()), _US_PER_DAY)
        unique = pc.unique(days).to_pylist()
        for d in unique:
            part = table if len(unique) == 1 else table.filter(pc.equal(days, d))
            day = _day_of(d * _US_PER_DAY)
            self._file_counter += 1
            name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._file_counter:06d}.parquet"
            write_parquet_atomic(
                part, self.paths.partition(doc_type, day), name, compression="zstd",
                compression_level=1,
            )

    def _new_segment(self) -> wal_mod.WalSegment:
        name = f"wal-{time.time_ns():020d}.arrows"
        seg = wal_mod.WalSegment(self.paths.wal / name)
        fsync_dir(self.paths.wal)
        return seg

    def _replay_wal(self) -> int:
        """Move rows left in the WAL by a crash into Parquet, skipping ones already there."""
        segments = wal_mod.segment_paths(self.paths.wal)
        if not segments:
            return 0
        batches = [b for p in segments for b in wal_mod.read_segment(p)]
        replayed = 0
        if batches:
            table = pa.Table.from_batches(batches, schema=wal_mod.WAL_SCHEMA)
            for t, part in wal_mod.from_wal_table(table).items():
                part, _ = self._dedup(t, part)
                if part.num_rows:
                    self._write_partitions(t, part)
                    replayed += part.num_rows
        for p in segments:
            p.unlink()
        fsync_dir(self.paths.wal)
        return replayed

    def _timer_loop(self) -> None:
        tick = max(0.05, min(0.5, self.settings.flush_seconds / 4))
        while not self._stop.wait(tick):
            since = self._buffer_since
            if since is not None and time.monotonic() - since >= self.settings.flush_seconds:
                try:
                    with self._lock:
                        if not self._closed:
                            self._flush_locked()
                except Exception as exc:  # keep the thread alive; the next write retries
                    import sys

                    print(f"warning: background flush failed: {exc}", file=sys.stderr)


class _CastError(Exception):
    """A column of a write_arrow table has a value that does not fit its schema type."""
