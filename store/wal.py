"""Write-ahead log of not-yet-flushed rows: checksummed frames of Arrow IPC messages under wal/.

Segment format 2 (`WAL_FORMAT_VERSION`):

    header  b"RUGSWAL\\n" | u16 version | u16 0 | u32 crc32 of the 12 bytes before it
    frames  b"WF" | u8 kind | u8 0 | u32 length | u32 crc32(payload) | u32 crc32(header[:12])
            payload

Kinds: 1 the Arrow schema (first frame), 2 one record batch (an IPC message), 3 the end
(written when the segment is closed). A segment is created under a temp name with its
header and schema frame, fsynced, then renamed: a segment under its own name always
starts whole. Each append is one frame per doc type, written in one call and truncated
back if the write fails. Every frame carries its own checksum and its header is
checksummed too, so a damaged frame is skipped and the reader finds the next one:
every good frame is kept. Format 1 segments (a plain Arrow IPC stream, no checksums)
are still read.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from store.errors import SchemaVersionError
from store.locks import fsync_dir
from store.paths import DOC_TYPES
from store.schema import ENVELOPE, SCHEMAS, TYPED

WAL_FORMAT_VERSION = 2
MAGIC = b"RUGSWAL\n"
_HEADER = struct.Struct("<8sHH")  # magic, version, reserved; then its crc32
_FRAME = struct.Struct("<2sBxIII")  # b"WF", kind, length, payload crc32, header crc32
_FRAME_MAGIC = b"WF"
SCHEMA, BATCH, END = 1, 2, 3
_IPC_CONTINUATION = b"\xff\xff\xff\xff"  # how a format-1 segment (an IPC stream) starts
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


def _header(version: int = WAL_FORMAT_VERSION) -> bytes:
    head = _HEADER.pack(MAGIC, version, 0)
    return head + struct.pack("<I", zlib.crc32(head))


def frame_header(kind: int, payload: bytes | pa.Buffer) -> bytes:
    """The checksummed header of a frame carrying `payload`."""
    head = _FRAME.pack(_FRAME_MAGIC, kind, len(payload), zlib.crc32(payload), 0)[:12]
    return head + struct.pack("<I", zlib.crc32(head))


def frame(kind: int, payload: bytes | pa.Buffer) -> bytes:
    """One frame: checksummed header, then the payload."""
    return frame_header(kind, payload) + bytes(payload)


def _write_all(fd: int, parts: list[bytes | pa.Buffer] | bytes) -> int:
    """Write every part in order (one writev, then whatever a short write left); the size."""
    views = [memoryview(parts)] if isinstance(parts, bytes) else [memoryview(p) for p in parts]
    total = sum(v.nbytes for v in views)
    while views:
        n = os.writev(fd, views)
        while views and n >= views[0].nbytes:
            n -= views[0].nbytes
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]
    return total


class WalSegment:
    """One open segment being appended to; `sync()` makes every append so far durable.

    Created whole (header and schema frame fsynced under a temp name, then renamed), so
    a segment under its final name never lacks its start.
    """

    def __init__(self, path: Path, schema: pa.Schema = WAL_SCHEMA) -> None:
        self.path = path
        self.rows = 0
        self.broken = False  # a failed append could not be undone: start a new segment
        tmp = path.with_name(f".tmp-{path.name}")
        start = _header() + frame(SCHEMA, schema.serialize())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, start)
            os.fsync(fd)
            os.replace(tmp, path)
            fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise
        self._fd = fd
        self._size = len(start)

    def append(self, batches: Iterable[pa.RecordBatch]) -> None:
        """Append one frame per batch, all or nothing (a failed write is truncated back)."""
        batches = list(batches)
        parts: list[bytes | pa.Buffer] = []
        for b in batches:
            payload = b.serialize()
            parts += [frame_header(BATCH, payload), payload]
        try:
            size = _write_all(self._fd, parts)
        except BaseException:
            try:
                os.ftruncate(self._fd, self._size)
                os.lseek(self._fd, self._size, os.SEEK_SET)
            except OSError:
                self.broken = True
            raise
        self._size += size
        self.rows += sum(b.num_rows for b in batches)

    def fileno(self) -> int:
        return self._fd

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        """Write the end frame (best effort: the segment is complete without it) and close."""
        if self._fd < 0:
            return
        try:
            if not self.broken:
                _write_all(self._fd, frame(END, b""))
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = -1


def segment_paths(wal_dir: Path) -> list[Path]:
    """Segments under their final names, oldest first (temp names never match)."""
    if not wal_dir.is_dir():
        return []
    return sorted(wal_dir.glob("wal-*.arrows"))


@dataclass
class SegmentRead:
    """What one segment holds: its good batches, and what (if anything) was wrong with it.

    `problem`: damage (bad checksum, bad header, no start): the segment should be kept
    for inspection. `torn`: it ends in an incomplete frame, which a crash during an
    append leaves (that append was never acknowledged) and so does a truncated file.
    `ended`: its end frame was found (the segment was closed).
    """

    path: Path
    version: int
    batches: list[pa.RecordBatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn: bool = False
    ended: bool = False
    size: int = 0

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)

    @property
    def problem(self) -> str | None:
        return "; ".join(self.problems) if self.problems else None


def _next_frame(data: bytes, pos: int) -> int | None:
    """Offset of the next frame header with a valid checksum at or after `pos`."""
    while True:
        pos = data.find(_FRAME_MAGIC, pos)
        if pos < 0 or pos + _FRAME.size > len(data):
            return None
        head = data[pos : pos + _FRAME.size]
        if zlib.crc32(head[:12]) == struct.unpack_from("<I", head, 12)[0]:
            return pos
        pos += 1


def read_segment(path: Path) -> SegmentRead:
    """Every good batch of a segment, and what was wrong with it (see SegmentRead).

    Raises SchemaVersionError for a segment written by a newer format than this code.
    """
    data = path.read_bytes()
    if data.startswith(_IPC_CONTINUATION):
        return _read_v1(path, data)
    out = SegmentRead(path, WAL_FORMAT_VERSION, size=len(data))
    pos = _HEADER.size + 4
    if len(data) == 0:
        out.problems.append("the segment is empty (its start was lost)")
        return out
    head = data[: _HEADER.size]
    crc_ok = (len(data) >= pos
              and zlib.crc32(head) == struct.unpack_from("<I", data, _HEADER.size)[0])
    if crc_ok and data.startswith(MAGIC):
        out.version = _HEADER.unpack(head)[1]
        if out.version > WAL_FORMAT_VERSION:
            raise SchemaVersionError(
                f"write-ahead log segment {path} has format version {out.version}, this code "
                f"knows up to {WAL_FORMAT_VERSION}: upgrade rugs-replayer before opening this "
                "data root (nothing was replayed or removed)"
            )
    else:
        out.problems.append("damaged segment header")
        found = _next_frame(data, 0)
        pos = found if found is not None else len(data)
    schema: pa.Schema | None = None
    while pos < len(data):
        if len(data) - pos < _FRAME.size:
            out.torn = True
            break
        magic, kind, length, payload_crc, head_crc = _FRAME.unpack_from(data, pos)
        if (magic != _FRAME_MAGIC or kind not in (SCHEMA, BATCH, END)
                or zlib.crc32(data[pos : pos + 12]) != head_crc):
            found = _next_frame(data, pos + 1)
            out.problems.append(f"damaged frame header at byte {pos}")
            if found is None:
                break
            pos = found
            continue
        end = pos + _FRAME.size + length
        if end > len(data):
            out.torn = True
            break
        payload = data[pos + _FRAME.size : end]
        if zlib.crc32(payload) != payload_crc:
            out.problems.append(f"checksum mismatch in the frame at byte {pos}")
        elif kind == SCHEMA:
            try:
                schema = ipc.read_schema(pa.py_buffer(payload))
            except (pa.ArrowInvalid, OSError):
                out.problems.append(f"unreadable schema frame at byte {pos}")
        elif kind == BATCH:
            if schema is None:  # its schema frame was lost: this code's own is the best guess
                schema = WAL_SCHEMA
                out.problems.append("no readable schema frame; read with this code's schema")
            try:
                out.batches.append(ipc.read_record_batch(pa.py_buffer(payload), schema))
            except (pa.ArrowInvalid, OSError, ValueError) as exc:
                out.problems.append(f"unreadable batch at byte {pos}: {str(exc)[:80]}")
        else:
            out.ended = True
        pos = end
    return out


def _read_v1(path: Path, data: bytes) -> SegmentRead:
    """A format-1 segment (Arrow IPC stream, no checksums): every complete batch.

    Its end of stream marks a closed segment; a read that stops before it is a torn tail.
    """
    out = SegmentRead(path, 1, size=len(data))
    try:
        reader = ipc.open_stream(pa.py_buffer(data))
    except (pa.ArrowInvalid, OSError):
        out.torn = True
        return out
    meta = reader.schema.metadata or {}
    out.version = int(meta.get(b"rugs_wal_version", b"1"))
    if out.version > WAL_FORMAT_VERSION:
        raise SchemaVersionError(
            f"write-ahead log segment {path} has format version {out.version}, this code "
            f"knows up to {WAL_FORMAT_VERSION}: upgrade rugs-replayer before opening this "
            "data root (nothing was replayed or removed)"
        )
    while True:
        try:
            out.batches.append(reader.read_next_batch())
        except StopIteration:
            out.ended = True
            return out
        except (pa.ArrowInvalid, OSError, EOFError):
            out.torn = True
            return out


def read_all(wal_dir: Path) -> Iterator[SegmentRead]:
    for p in segment_paths(wal_dir):
        try:
            yield read_segment(p)
        except FileNotFoundError:
            continue  # flushed and removed by a running writer since the listing


def pending_rows(wal_dir: Path) -> int:
    """Rows waiting in the WAL (for `data status`); readable while a writer appends."""
    return sum(r.rows for r in read_all(wal_dir))
