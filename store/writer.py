"""The single writer: validated events go to the WAL, then atomically to Parquet, exactly once."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from store import wal as wal_mod
from store.errors import (
    InvalidEventError,
    StorageError,
    StoreError,
    WriterClosedError,
    WriterFailedError,
    storage_errors,
)
from store.event import (
    NON_NEGATIVE,
    ValidRecord,
    event_id_for,
    lone_surrogate_escape,
    normalize,
    normalize_record,
    to_money,
)
from store.files import committed_files
from store.integrity import PARQUET_WRITE_OPTIONS, quarantine_part, read_event_ids
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
# A record is the rows one input record lands as, one per doc type.
Record = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Rejection:
    """One event (or record) that was not written, and why."""

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


@dataclass(frozen=True)
class WalNotice:
    """A WAL segment found damaged or cut short when it was replayed, and where it went."""

    segment: str
    problem: str
    rows_replayed: int
    moved_to: str | None


def _day_of(us: int) -> str:
    return (_EPOCH + timedelta(days=us // _US_PER_DAY)).isoformat()


def write_parquet_atomic(table: pa.Table, directory: Path, name: str, **options: Any) -> Path:
    """Temp file in the same directory, fsync, rename, fsync the directory.

    A failed write (a full disk) leaves no temp file behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    tmp = directory / f".tmp-{name}"
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, **options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    return final


def _split_days(table: pa.Table) -> dict[str, pa.Table]:
    """Rows by the UTC date of their ts."""
    days = pc.divide(pc.cast(table.column("ts"), pa.int64()), _US_PER_DAY)
    unique = pc.unique(days).to_pylist()
    if len(unique) == 1:
        return {_day_of(unique[0] * _US_PER_DAY): table}
    return {_day_of(d * _US_PER_DAY): table.filter(pc.equal(days, d)) for d in unique}


class _FlushFailed(Exception):
    """A flush stopped part way; `unwritten` holds the caller's extra rows not yet stored."""

    def __init__(self, cause: BaseException, unwritten: dict[str, list[pa.Table]]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.unwritten = unwritten


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

    A call that fails (a full disk) leaves no trace: what it did not store is forgotten,
    so the same events can be offered again, and nothing acknowledged before is touched.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = DataPaths(settings.data_dir)
        with storage_errors(f"opening the data root {self.paths.root}"):
            self.paths.root.mkdir(parents=True, exist_ok=True)
            self._lock_file = FileLock(self.paths.writer_lock, "data root")
        self._lock = threading.RLock()
        self._sync_cv = threading.Condition()
        self._closed = False
        self._failed: StoreError | None = None
        self._flush_warned: str | None = None
        self.wal_notices: list[WalNotice] = []
        try:
            with storage_errors(f"opening the data root {self.paths.root}"):
                ensure_manifest(self.paths)
                from store.compaction import recover

                recover(self.paths)
                for tmp in self.paths.events.glob("doc_type=*/date=*/.tmp-part-*"):
                    if not tmp.name.endswith("-c.parquet"):  # a compactor's temp is its own
                        tmp.unlink(missing_ok=True)
                for tmp in self.paths.wal.glob(".tmp-wal-*"):
                    tmp.unlink(missing_ok=True)  # a segment that was never renamed: no rows
            self._ids: dict[tuple[str, str | None], set[str]] = {}
            self._buffer: dict[str, list[pa.Table]] = {t: [] for t in DOC_TYPES}
            self._buffered = 0
            self._buffer_since: float | None = None
            self._appended = 0  # appends to the WAL so far (tickets)
            self._durable = 0  # every ticket up to this one is durable
            self._syncing = False
            self._file_counter = 0
            # Created when the first row needs it: opening needs no free space.
            self._segment: wal_mod.WalSegment | None = None
            with storage_errors("replaying the write-ahead log"):
                self.paths.wal.mkdir(parents=True, exist_ok=True)
                self.replayed = self._replay_wal()
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

        Raises InvalidEventError saying what is wrong with it, StorageError (DiskFullError)
        if it could not be stored.
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
        return self.write_records([ev] for ev in events)

    def write_records(self, records: Iterable[Record | ValidRecord]) -> WriteResult:
        """Write a batch of records: each record is the rows of one input record, one per
        doc type it lands in. A record is validated whole (`store.event.normalize_record`):
        stored in every doc type, or rejected (`Rejection.index` = its position) and none
        of its rows stored. Duplicates (by event_id) are skipped row by row.

        A `store.event.ValidRecord` (only `validate_record` makes one) was validated
        already: its rows are stored as they are, when the payload limit it was checked
        against is not above this writer's (else it is validated again, as is any other
        record).
        """
        result = WriteResult()
        now = datetime.now(UTC)
        limit = self.settings.max_payload_bytes
        accepted: list[tuple[int, list[dict[str, Any]]]] = []
        for i, rec in enumerate(records):
            if type(rec) is ValidRecord:
                if rec.max_payload_bytes <= limit:
                    if rec.rows:
                        accepted.append((i, list(rec.rows)))
                    continue
                rec = list(rec.rows)  # checked against a larger limit: check it against ours
            try:
                if type(rec) is not list and (isinstance(rec, Mapping | str | bytes)
                                              or not isinstance(rec, Sequence)):
                    raise InvalidEventError(
                        f"a record must be a list of event mappings, got {type(rec).__name__}")
                rows = normalize_record(rec, ingested_at=now, max_payload_bytes=limit)
            except InvalidEventError as exc:
                result.rejected.append(Rejection(i, _name_of(rec), str(exc)))
                continue
            if rows:
                accepted.append((i, rows))
        self._commit(self._tables(accepted, result), result)
        return result

    def write_arrow(self, doc_type: str, table: pa.Table) -> WriteResult:
        """The batch path: a table of one doc type, validated column-wise.

        A column that cannot be cast as a whole (one bad value) sends the table through
        the per-event path, so only the bad rows are rejected. Rows get the per-event
        path's verdicts (required fields, enums, payload size, negative counts and prices,
        lone surrogate escapes), except payload nesting depth: checking it on every row
        costs about half the write on capture-sized payloads, so callers with untrusted
        JSON text check it (`store.event.check_payload`, as `store.legacy` does) or use
        `write_records`.
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
            self._flush_or_raise()

    def close(self) -> None:
        """Flush, stop the timer and release the data-root lock.

        If the flush fails (a full disk), the WAL is left in place for the next open to
        replay, the lock is released and the error raised.
        """
        if self._closed:
            return
        self._stop.set()
        self._timer.join(timeout=5)
        with self._lock:
            try:
                self._flush_or_raise()
                if self._segment is not None:
                    self._segment.close()
                    self._segment = None
                for p in wal_mod.segment_paths(self.paths.wal):
                    p.unlink()
            finally:
                if self._segment is not None:
                    self._segment.close()
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
        if self._failed is not None:
            raise WriterFailedError(
                f"this EventWriter stopped after a storage error ({self._failed}); close it "
                "and open a new one, which replays the write-ahead log"
            )

    def _tables(self, accepted: list[tuple[int, list[dict[str, Any]]]],
                result: WriteResult) -> dict[str, pa.Table]:
        """Arrow tables of the accepted records' rows, by doc type.

        Validated rows always convert; should one not, that record alone is rejected
        (all its rows), never the batch.
        """
        by_type: dict[str, list[dict[str, Any]]] = {}
        for _, rows in accepted:
            for row in rows:
                by_type.setdefault(row["doc_type"], []).append(row)
        try:
            return {t: pa.Table.from_pylist(r, schema=SCHEMAS[t]) for t, r in by_type.items()}
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            pass
        parts: dict[str, list[pa.Table]] = {}
        for i, rows in accepted:
            try:
                mine: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    mine.setdefault(row["doc_type"], []).append(row)
                tables = {t: pa.Table.from_pylist(r, schema=SCHEMAS[t]) for t, r in mine.items()}
            except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
                result.rejected.append(Rejection(i, rows[0].get("event_name"),
                                                 f"cannot be stored: {exc}"))
                continue
            for t, table in tables.items():
                parts.setdefault(t, []).append(table)
        result.rejected.sort(key=lambda r: r.index)
        return {t: pa.concat_tables(ts) for t, ts in parts.items()}

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
        for f in schema:
            if f.name in NON_NEGATIVE:
                reasons[f"{f.name} cannot be negative"] = pc.fill_null(
                    pc.less(t.column(f.name), 0), False)
        reasons["payload holds a lone UTF-16 surrogate escape: not valid Unicode"] = (
            _surrogate_mask(t.column("raw_json")))
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
            for f in committed_files(self.paths, doc_type, date=key[1]):
                try:
                    ids.update(read_event_ids(f))
                except FileNotFoundError:
                    continue  # compacted away since the listing: its rows are in the output
                except (pa.ArrowException, OSError) as exc:
                    if isinstance(exc, OSError) and exc.errno is not None:
                        raise  # the OS refused (permissions, I/O): not the file's content
                    # A damaged file: its events are not readable, so they are not stored;
                    # out of the way, re-ingesting their source stores them again.
                    quarantine_part(f, " ".join(str(exc).split())[:300], self.paths)
            self._ids[key] = ids
        return ids

    def _dedup(self, doc_type: str, table: pa.Table) -> tuple[pa.Table, int]:
        """Drop rows whose event_id is already stored (or earlier in this batch)."""
        if table.num_rows == 0:
            return table, 0
        if doc_type == "complete_game":
            groups: list[tuple[str | None, pa.Table]] = [(None, table)]
        else:
            groups = list(_split_days(table).items())
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

    def _forget(self, doc_type: str, tables: Iterable[pa.Table]) -> None:
        """Undo `_dedup` for rows that were not stored after all."""
        for table in tables:
            if table.num_rows == 0:
                continue
            groups = ([(None, table)] if doc_type == "complete_game"
                      else list(_split_days(table).items()))
            for day, part in groups:
                known = self._ids.get((doc_type, day))
                if known is not None:
                    known.difference_update(part.column("event_id").to_pylist())

    def _commit(self, tables: dict[str, pa.Table], result: WriteResult) -> None:
        with self._lock:
            self._check_open()
            fresh: dict[str, pa.Table] = {}
            with storage_errors(f"reading the stored event ids under {self.paths.events}"):
                for t, table in tables.items():
                    table, dups = self._dedup(t, table)
                    result.duplicates += dups
                    if table.num_rows:
                        fresh[t] = table
            if not fresh:
                return
            n = sum(t.num_rows for t in fresh.values())
            if self._buffered + n >= self.settings.flush_events:
                # These rows reach fsynced Parquet before the call returns, so they
                # need no WAL copy: the WAL holds only rows that stay buffered.
                try:
                    self._flush_locked(extra=fresh)
                except _FlushFailed as exc:
                    for t, parts in exc.unwritten.items():
                        self._forget(t, parts)
                    self._raise_storage(exc.cause, f"writing events to {self.paths.events}")
                self._count(fresh, result)
                return
            try:
                segment = self._wal_segment()
                segment.append(wal_mod.to_wal_batch(table) for table in fresh.values())
            except BaseException as exc:
                for t, table in fresh.items():
                    self._forget(t, [table])
                if self._segment is not None and self._segment.broken:
                    self._segment.close()  # its tail could not be undone: a new one next time
                    self._segment = None
                self._raise_storage(exc, f"appending to the write-ahead log in {self.paths.wal}")
            for t, table in fresh.items():
                self._buffer[t].append(table)
            self._buffered += n
            if self._buffer_since is None:
                self._buffer_since = time.monotonic()
            self._appended += 1
            ticket = self._appended
            fd = os.dup(segment.fileno())
        self._wait_durable(ticket, fd)
        self._count(fresh, result)

    @staticmethod
    def _count(fresh: dict[str, pa.Table], result: WriteResult) -> None:
        for t, table in fresh.items():
            result.written[t] = result.written.get(t, 0) + table.num_rows

    @staticmethod
    def _raise_storage(exc: BaseException, doing: str) -> NoReturn:
        if isinstance(exc, OSError):
            raise StorageError.from_os_error(exc, doing) from exc
        raise exc

    def _wal_segment(self) -> wal_mod.WalSegment:
        if self._segment is None:
            name = f"wal-{time.time_ns():020d}.arrows"
            self._segment = wal_mod.WalSegment(self.paths.wal / name)
        return self._segment

    def _wait_durable(self, ticket: int, fd: int) -> None:
        """Group commit: one fsync makes every append up to its start durable.

        A failed fsync is not retried: the kernel may have dropped the pages it could not
        write and a second fsync would report success anyway. Every waiter gets the
        error and the writer refuses further writes (its WAL can no longer be vouched for).
        """
        try:
            with self._sync_cv:
                while self._durable < ticket:
                    if self._failed is not None:
                        raise WriterFailedError(
                            f"not stored: the write-ahead log could not be synced "
                            f"({self._failed}); close this writer and open a new one"
                        )
                    if self._syncing:
                        self._sync_cv.wait()
                        continue
                    self._syncing = True
                    target = self._appended
                    self._sync_cv.release()
                    error: OSError | None = None
                    try:
                        os.fsync(fd)
                    except OSError as exc:
                        error = exc
                    finally:
                        self._sync_cv.acquire()
                        self._syncing = False
                    if error is not None:
                        self._failed = StorageError.from_os_error(
                            error, f"syncing the write-ahead log in {self.paths.wal}")
                        self._sync_cv.notify_all()
                        raise self._failed from error
                    self._durable = max(self._durable, target)
                    self._sync_cv.notify_all()
        finally:
            os.close(fd)

    def _flush_or_raise(self) -> None:
        try:
            self._flush_locked()
        except _FlushFailed as exc:
            self._raise_storage(exc.cause, f"writing events to {self.paths.events}")

    def _flush_locked(self, extra: dict[str, pa.Table] | None = None) -> None:
        """Write the buffer (and `extra`, rows of the call in hand) to Parquet, one
        partition at a time; each partition written leaves the buffer at once, so a
        failure part way (a full disk) keeps exactly the rows not yet stored, and a
        retry writes nothing twice. On failure raises _FlushFailed with `extra`'s rows
        that were not stored.
        """
        if self._buffered == 0 and not extra:
            return
        extra = extra or {}
        types = [t for t in DOC_TYPES if self._buffer[t] or t in extra]
        for k, t in enumerate(types):
            old = _split_days(pa.concat_tables(self._buffer[t])) if self._buffer[t] else {}
            new = _split_days(extra[t]) if t in extra else {}
            days = sorted(old.keys() | new.keys())
            for j, day in enumerate(days):
                part = [x for x in (old.get(day), new.get(day)) if x is not None]
                try:
                    self._write_partition(t, day, part[0] if len(part) == 1
                                          else pa.concat_tables(part))
                except BaseException as exc:
                    left = [old[d] for d in days[j:] if d in old]
                    self._buffer[t] = left
                    self._buffered = sum(x.num_rows for ts in self._buffer.values() for x in ts)
                    unwritten = {t: [new[d] for d in days[j:] if d in new]}
                    unwritten.update({u: [extra[u]] for u in types[k + 1:] if u in extra})
                    raise _FlushFailed(exc, unwritten) from exc
            self._buffer[t] = []
        # Everything buffered is in renamed, fsynced Parquet files: drop the WAL. The
        # segments go first (that frees space); a new one is made when a row needs it.
        self._buffered = 0
        self._buffer_since = None
        with self._sync_cv:
            self._durable = max(self._durable, self._appended)
            self._sync_cv.notify_all()
        if self._segment is not None:
            self._segment.close()
            self._segment = None
        try:
            for p in wal_mod.segment_paths(self.paths.wal):
                p.unlink()
            fsync_dir(self.paths.wal)
        except OSError as exc:  # the rows are stored; the next open drops them as duplicates
            print(f"warning: could not remove flushed WAL segments: {exc}", file=sys.stderr)

    def _write_partition(self, doc_type: str, day: str, table: pa.Table) -> None:
        self._file_counter += 1
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._file_counter:06d}.parquet"
        write_parquet_atomic(table, self.paths.partition(doc_type, day), name,
                             **PARQUET_WRITE_OPTIONS)

    def _write_partitions(self, doc_type: str, table: pa.Table) -> None:
        for day, part in _split_days(table).items():
            self._write_partition(doc_type, day, part)

    def _replay_wal(self) -> int:
        """Move rows left in the WAL by a crash into Parquet, skipping ones already there.

        Every good frame is replayed. A segment that is damaged (a bad checksum, a lost
        start) or cut short is then moved to `quarantine/wal/` with a note, never deleted;
        the others are removed once their rows are in Parquet.
        """
        segments = wal_mod.segment_paths(self.paths.wal)
        if not segments:
            return 0
        reads = [wal_mod.read_segment(p) for p in segments]
        batches = [b for r in reads for b in r.batches]
        replayed = 0
        if batches:
            table = pa.Table.from_batches(batches, schema=wal_mod.WAL_SCHEMA)
            for t, part in wal_mod.from_wal_table(table).items():
                part, _ = self._dedup(t, part)
                if part.num_rows:
                    self._write_partitions(t, part)
                    replayed += part.num_rows
        for r in reads:
            problem = r.problem
            if problem is None and r.torn:
                problem = ("ends in an incomplete frame: a crash during an append (that "
                           "append was never acknowledged) or a truncated file")
            elif problem is None and not r.ended and r.path != segments[-1]:
                problem = "ends without its end frame although a newer segment exists (truncated?)"
            if problem is None:
                r.path.unlink()
                continue
            moved = self._quarantine_segment(r.path, problem, r.rows)
            notice = WalNotice(str(r.path), problem, r.rows, moved)
            self.wal_notices.append(notice)
            where = f"moved to {moved}" if moved else "left in place"
            print(f"warning: write-ahead log segment {r.path.name}: {problem}; its {r.rows} "
                  f"readable row(s) were replayed, the segment {where}", file=sys.stderr,
                  flush=True)
        fsync_dir(self.paths.wal)
        return replayed

    def _quarantine_segment(self, path: Path, problem: str, rows: int) -> str | None:
        import json

        dest_dir = self.paths.wal_quarantine
        dest = dest_dir / path.name
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                dest = dest.with_name(f"{path.stem}.{time.time_ns()}{path.suffix}")
            os.replace(path, dest)
            note = {"v": 1, "segment": str(path), "problem": problem, "rows_replayed": rows,
                    "at": datetime.now(UTC).isoformat()}
            dest.with_name(dest.name + ".why.json").write_text(json.dumps(note, indent=2))
        except OSError:
            return None if path.exists() else str(dest)
        return str(dest)

    def _timer_loop(self) -> None:
        tick = max(0.05, min(0.5, self.settings.flush_seconds / 4))
        while not self._stop.wait(tick):
            since = self._buffer_since
            if since is not None and time.monotonic() - since >= self.settings.flush_seconds:
                try:
                    with self._lock:
                        if not self._closed:
                            self._flush_or_raise()
                    self._flush_warned = None
                except Exception as exc:  # keep the thread alive; the next write retries
                    msg = str(exc)
                    if msg != self._flush_warned:  # once per distinct error, not every tick
                        self._flush_warned = msg
                        print(f"warning: background flush failed (the rows stay in the "
                              f"write-ahead log and are retried): {msg}", file=sys.stderr,
                              flush=True)


def _name_of(rec: Any) -> str | None:
    first = rec[0] if isinstance(rec, Sequence) and not isinstance(rec, str | bytes) and rec \
        else rec
    name = first.get("event_name") if isinstance(first, Mapping) else None
    return name if isinstance(name, str) else None


def _surrogate_mask(raw: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Rows whose JSON text escapes a lone surrogate, as the per-event path refuses them.

    RE2 finds the few candidates (~0.05 ms per MB of capture payloads); only those are
    checked in Python, since a paired escape or an escaped backslash is not one.
    """
    candidates = pc.fill_null(pc.match_substring_regex(raw, r"\\u[dD][89a-fA-F]"), False)
    if not pc.any(candidates).as_py():
        return candidates  # all false
    texts = raw.to_pylist()
    return pa.array([bool(c) and lone_surrogate_escape(texts[i]) is not None
                     for i, c in enumerate(candidates.to_pylist())])


class _CastError(Exception):
    """A column of a write_arrow table has a value that does not fit its schema type."""
