"""Stream a capture file or stdin into the writer in batches; follow a file with a checkpoint."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import IO, Any, Protocol

from store.atomic import write_json_atomic
from store.capture import (
    LAYOUT_JSONL,
    DocItem,
    WireEvent,
    detect_layout,
    iter_document,
    map_event,
    parse_doc_item,
    parse_jsonl_line,
)
from store.errors import DiskFullError, IngestError, SchemaVersionError, StorageError
from store.event import ValidRecord, validate_record
from store.paths import DataPaths
from store.rejects import REJECTABLE, RejectsFile, rejection_reason
from store.settings import Settings

CHECKPOINT_VERSION = 1
HEAD_BYTES = 4096  # how much of a file's start identifies it in a checkpoint
READ_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
# --follow on a full disk: retry the batch in hand, waiting up to this long between tries.
FULL_DISK_RETRY_MAX_S = 5.0


class _Writer(Protocol):
    paths: DataPaths
    settings: Settings

    def write_records(self, records: Any) -> Any: ...


@dataclass
class IngestSummary:
    """What one ingest did: records read, rows written per doc type, duplicates, rejects."""

    input: str
    layout: str | None = None
    read: int = 0  # wire events read
    lines: int = 0  # non-blank lines (JSONL) or items (JSON documents) read
    written: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    start_offset: int = 0
    end_offset: int = 0
    resumed: bool = False
    note: str | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "layout": self.layout,
            "read": self.read,
            "lines": self.lines,
            "written": dict(sorted(self.written.items())),
            "written_total": sum(self.written.values()),
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "resumed": self.resumed,
            "note": self.note,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# -- checkpoints ----------------------------------------------------------------------------


def checkpoint_path(paths: DataPaths, source: Path) -> Path:
    p = source.resolve()
    digest = hashlib.sha1(str(p).encode()).hexdigest()[:8]
    return paths.checkpoints / f"{p.stem}.{digest}.json"


def _head_sha(fh: IO[bytes], n: int) -> str:
    pos = fh.tell()
    fh.seek(0)
    digest = hashlib.sha256(fh.read(n)).hexdigest()
    fh.seek(pos)
    return digest


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """A checkpoint's content, None if there is none; refuses a newer version."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # written atomically, so unreadable means foreign: start over
    if int(data.get("version", 0)) > CHECKPOINT_VERSION:
        raise SchemaVersionError(
            f"ingest checkpoint {path} has version {data['version']}, this code knows up to "
            f"{CHECKPOINT_VERSION}: upgrade rugs-replayer or delete the checkpoint"
        )
    return data


def _resume_point(fh: IO[bytes], cp: dict[str, Any] | None) -> tuple[int, int, str | None]:
    """(offset, lines before it, note) to start a followed file at."""
    if cp is None:
        return 0, 0, None
    offset, head_len = int(cp.get("offset", 0)), int(cp.get("head_len", 0))
    size = os.fstat(fh.fileno()).st_size
    if size < offset:
        return 0, 0, f"file is shorter than the checkpoint ({size} < {offset}): read from the start"
    if _head_sha(fh, head_len) != cp.get("head_sha256"):
        return 0, 0, "file start differs from the checkpoint (replaced?): read from the start"
    return offset, int(cp.get("line", 0)), None


# -- reading --------------------------------------------------------------------------------


class _Chain(io.RawIOBase):
    """A byte stream that first returns an already-read head, then the rest of a stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        read1 = getattr(self._rest, "read1", None)
        data = read1(len(b)) if read1 else self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def _read_head(stream: IO[bytes]) -> bytes:
    """The first bytes of a stream without waiting for more than what is there."""
    read1 = getattr(stream, "read1", None)
    head = b""
    while len(head) < HEAD_BYTES:
        chunk = read1(HEAD_BYTES) if read1 else stream.read(HEAD_BYTES)
        if not chunk:
            break
        head += chunk
        if b"\n" in head:
            break
    return head


def iter_complete_lines(
    buf: bytearray, offset: int, final: bool
) -> Iterator[tuple[int, bytes]]:
    """(end offset, line without its newline) of each complete line in buf; consumes them.

    A last line without a newline is only returned when `final` (the input has ended):
    a recorder that is still writing it may not have finished.
    """
    start = 0
    while True:
        nl = buf.find(b"\n", start)
        if nl < 0:
            break
        line = bytes(buf[start:nl])
        start = nl + 1
        yield offset + start, line[:-1] if line.endswith(b"\r") else line
    if final and start < len(buf):
        line = bytes(buf[start:])
        start = len(buf)
        yield offset + start, line
    del buf[:start]


# -- the driver -----------------------------------------------------------------------------


class _Run:
    """State of one ingest: the pending batch, its origins, the summary, the rejects file.

    The batch holds records, one per wire event: its rows in every doc type it lands in,
    validated as a `ValidRecord`, so the writer stores them without validating them again;
    it stores a record whole or rejects it whole (`EventWriter.write_records`).
    """

    def __init__(self, writer: _Writer, summary: IngestSummary, rejects: RejectsFile,
                 batch_events: int, retry_full: threading.Event | None = None) -> None:
        self.writer = writer
        self.summary = summary
        self.rejects = rejects
        self.batch_events = batch_events
        # set: a full disk makes commit() wait and retry (--follow) until this is set
        self.retry_full = retry_full
        self.records: list[ValidRecord] = []
        self.origin: list[tuple[int, str]] = []  # (line, event name) per record
        self.rows = 0
        self.stored_games: set[str] = set()  # complete_game ids stored by this run

    def add(self, raw: str, line: int, events_of: Callable[[], list[WireEvent]]) -> None:
        """Add the records of one line (or document item), validated now, while the text
        is at hand: a bad line goes to the rejects file whole, with its text."""
        try:
            pending = []
            now = datetime.now(UTC)
            limit = self.writer.settings.max_payload_bytes
            for ev in events_of():
                rows = []
                for row in map_event(ev):
                    if row["doc_type"] == "complete_game" and row["event_id"] in self.stored_games:
                        # gameHistory repeats each finished game on many ticks
                        self.summary.duplicates += 1
                        continue
                    rows.append(row)
                # the store's one validation: the writer trusts a ValidRecord, never again
                pending.append((ev.event_name, validate_record(
                    rows, ingested_at=now, max_payload_bytes=limit)))
        except REJECTABLE as exc:
            self.reject(line, rejection_reason(exc), raw)
            return
        for name, rec in pending:
            self.summary.read += 1
            self.records.append(rec)
            self.origin.append((line, name))
            self.rows += len(rec)

    def reject(self, line: int, reason: str, text: str | None) -> None:
        self.rejects.add(line, reason, text)
        self.summary.rejected += 1

    def full(self) -> bool:
        return self.rows >= self.batch_events

    def commit(self) -> None:
        """Write the pending batch; returns once it is durable."""
        if not self.records:
            return
        res = self._write()
        for k, v in res.written.items():
            self.summary.written[k] = self.summary.written.get(k, 0) + v
        self.summary.duplicates += res.duplicates
        refused = {rej.index for rej in res.rejected}
        for rej in res.rejected:
            # validated already, so only a row Arrow cannot take gets here; the line text
            # is gone by now (memory stays bounded by the batch), its payload is not
            line, name = self.origin[rej.index]
            self.reject(line, f"{name}: refused by the writer: {rej.reason}",
                        self.records[rej.index].rows[0].get("raw_json"))
        for i, rec in enumerate(self.records):
            if i not in refused:
                self.stored_games.update(
                    r["event_id"] for r in rec.rows if r["doc_type"] == "complete_game")
        self.records, self.origin, self.rows = [], [], 0
        self.rejects.flush()

    def _write(self) -> Any:
        wait = 0.5
        warned = False
        while True:
            try:
                return self.writer.write_records(self.records)
            except DiskFullError as exc:
                # the writer took nothing of the batch: it can be offered again as it is
                stop = self.retry_full
                if stop is None or stop.is_set():
                    raise
                if not warned:
                    print(f"warning: {exc}; retrying every {FULL_DISK_RETRY_MAX_S:.0f} s "
                          "until there is space (Ctrl-C stops)", file=sys.stderr, flush=True)
                    warned = True
                if stop.wait(wait):
                    raise
                wait = min(FULL_DISK_RETRY_MAX_S, wait * 2)


def ingest(
    writer: _Writer,
    source: Path | str,
    *,
    follow: bool = False,
    batch_events: int = 2000,
    progress: Callable[[int], None] | None = None,
    naive_tz: tzinfo | None = None,
    poll_s: float = 0.5,
    stop: threading.Event | None = None,
    idle_timeout_s: float | None = None,
    stdin: IO[bytes] | None = None,
) -> IngestSummary:
    """Ingest one capture (a path, or "-" for stdin) through `writer.write_records`.

    Streams in bounded memory (a batch of rows, one line or one JSON item at a time).
    Bad records go to `rejects/ingest/<stem>.<hash>.jsonl` with their line number.
    With `follow`, the file is tailed until `stop` is set (or nothing new arrived for
    `idle_timeout_s`); after each durable batch its byte offset is saved under
    `manifests/ingest_checkpoints/`, and the next run resumes there. A crash between a
    batch and its checkpoint re-reads that batch, which the deterministic ids drop.
    """
    t0 = time.perf_counter()
    is_stdin = str(source) == "-"
    name = "-" if is_stdin else str(source)
    session_id = "stdin" if is_stdin else Path(source).stem
    paths = writer.paths
    summary = IngestSummary(input=name)
    rejects = RejectsFile.for_source(paths, "ingest", name)
    stop = stop or threading.Event()
    run = _Run(writer, summary, rejects, batch_events, retry_full=stop if follow else None)
    if follow and is_stdin:
        raise IngestError("--follow tails a file; a pipe is read to its end without it")
    try:
        if is_stdin:
            raw = stdin if stdin is not None else sys.stdin.buffer
            head = _read_head(raw)
            stream: IO[bytes] = io.BufferedReader(_Chain(head, raw))
        else:
            path = Path(source)
            if not path.is_file():
                raise IngestError(f"{path}: no such capture file")
            try:
                stream = open(path, "rb")
            except OSError as exc:
                raise IngestError(f"{path}: {exc.strerror}") from None
            head = stream.read(HEAD_BYTES)
            stream.seek(0)
        with stream:
            # A followed file may still be empty: its recorder writes JSON lines.
            layout = LAYOUT_JSONL if follow and not head.strip() else detect_layout(head)
            summary.layout = layout
            if layout != LAYOUT_JSONL:
                if follow:
                    raise IngestError(
                        f"--follow needs a JSON-lines capture; {name} is a {layout} document"
                    )
                rejects.reset()
                _ingest_document(run, stream, session_id, naive_tz, progress)
            elif follow:
                stream.close()  # _follow keeps its own handle: it reopens a rotated file
                _follow(run, Path(source), session_id, naive_tz, progress,
                        poll_s, stop, idle_timeout_s)
            else:
                rejects.reset()
                summary.end_offset, _ = _ingest_lines(
                    run, stream, session_id, naive_tz, progress, 0, 0
                )
                run.commit()
    finally:
        try:
            out = rejects.close()
        except StorageError:
            out = rejects.path if rejects.count else None  # the error in flight says more
        summary.rejects_file = str(out) if out else None
        summary.elapsed_s = time.perf_counter() - t0
    return summary


def _handle_line(
    run: _Run, raw: bytes, line_no: int, session_id: str, naive_tz: tzinfo | None
) -> None:
    if line_no == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM):]  # a byte order mark is not part of the first record
    if not raw.strip():
        return
    run.summary.lines += 1
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        run.reject(line_no, "not UTF-8 text", raw.decode(errors="replace"))
        return
    run.add(text, line_no, lambda: parse_jsonl_line(
        text, session_id=session_id, line_no=line_no, naive_tz=naive_tz))


def _ingest_lines(
    run: _Run,
    stream: IO[bytes],
    session_id: str,
    naive_tz: tzinfo | None,
    progress: Callable[[int], None] | None,
    offset: int,
    line_no: int,
    on_commit: Callable[[int, int], None] | None = None,
    final: bool = True,
    stop: threading.Event | None = None,
) -> tuple[int, int]:
    """Read every complete line available; (offset, line number) after the last one read."""
    buf = bytearray()
    read1 = getattr(stream, "read1", stream.read)
    while True:
        # read1: what is there, so a live pipe's events are not held back for a full chunk
        chunk = read1(READ_CHUNK)
        at_end = not chunk
        buf += chunk
        before = offset
        for end, raw in iter_complete_lines(buf, offset, final and at_end):
            line_no += 1
            offset = end
            _handle_line(run, raw, line_no, session_id, naive_tz)
            if run.full():
                run.commit()
                if on_commit:
                    on_commit(offset, line_no)
                if stop is not None and stop.is_set():
                    return offset, line_no  # a long backlog: stop at a durable batch
        if progress and offset > before:
            progress(offset - before)
        if final and 0 < len(chunk) < READ_CHUNK and run.rows:
            run.commit()  # caught up with a slow producer (a pipe): write what came
        if at_end:
            if not final and buf:
                # an unfinished last line: read it again once the recorder completes it
                stream.seek(offset)
            return offset, line_no


def _ingest_document(
    run: _Run,
    stream: IO[bytes],
    session_id: str,
    naive_tz: tzinfo | None,
    progress: Callable[[int], None] | None,
) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict")
    try:
        for item in iter_document(text):
            run.summary.lines += 1
            def events(it: DocItem = item) -> list[WireEvent]:
                return [parse_doc_item(it, session_id=session_id, naive_tz=naive_tz)]

            run.add(item.text[item.start : item.end], item.line, events)
            if progress:
                progress(item.end - item.start)
            if run.full():
                run.commit()
    except UnicodeDecodeError as exc:
        raise IngestError(f"{run.summary.input} is not UTF-8 text: {exc.reason}") from None
    finally:
        run.commit()
        text.detach()


def _follow(
    run: _Run,
    path: Path,
    session_id: str,
    naive_tz: tzinfo | None,
    progress: Callable[[int], None] | None,
    poll_s: float,
    stop: threading.Event | None,
    idle_timeout_s: float | None,
) -> None:
    paths = run.writer.paths
    cp_path = checkpoint_path(paths, path)
    summary = run.summary
    stop = stop or threading.Event()
    stream: IO[bytes] = open(path, "rb")
    try:
        offset, line_no, note = _resume_point(stream, read_checkpoint(cp_path))
        summary.start_offset = summary.end_offset = offset
        summary.resumed = offset > 0
        summary.note = note
        if offset == 0:
            run.rejects.reset()
        stream.seek(offset)

        def save(at: int, lines: int) -> None:
            head_len = min(at, HEAD_BYTES)
            write_json_atomic(
                cp_path,
                {
                    "version": CHECKPOINT_VERSION,
                    "file": str(path.resolve()),
                    "offset": at,
                    "line": lines,
                    "head_len": head_len,
                    "head_sha256": _head_sha(stream, head_len),
                    "updated_at": datetime.now(UTC).isoformat(),
                },
            )
            summary.end_offset = at

        last_data = time.monotonic()
        while True:
            new_offset, line_no = _ingest_lines(
                run, stream, session_id, naive_tz, progress, offset, line_no,
                on_commit=save, final=False, stop=stop,
            )
            if new_offset != offset or run.rows:
                last_data = time.monotonic()
            run.commit()  # what arrived is written now, not when a batch fills
            if new_offset != summary.end_offset:
                save(new_offset, line_no)
            offset = new_offset
            if stop.is_set():
                return
            if idle_timeout_s is not None and time.monotonic() - last_data >= idle_timeout_s:
                return
            reopened = _replaced(stream, path)
            if reopened is not None:
                # the recorder started a new file under this name: read it from its start
                stream.close()
                stream = reopened
                summary.note = f"{path} was replaced at offset {offset}: read the new file"
                offset, line_no = 0, 0
            elif os.fstat(stream.fileno()).st_size < offset:
                summary.note = f"file was truncated at offset {offset}: read from the start"
                offset, line_no = 0, 0
                stream.seek(0)
            stop.wait(poll_s)
    finally:
        stream.close()


def _replaced(stream: IO[bytes], path: Path) -> IO[bytes] | None:
    """The new file at `path` when it is no longer the file `stream` reads (rotation)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return None  # moved away, a new one not there yet: keep reading the old one
    old = os.fstat(stream.fileno())
    if (now.st_ino, now.st_dev) == (old.st_ino, old.st_dev):
        return None
    try:
        return open(path, "rb")
    except OSError:
        return None
