"""Damaged part files: Parquet page checksums, a cheap structural check, quarantine, verify.

Every part file is written with page checksums (CRC32 in each page header, pyarrow's
`write_page_checksum`); pyarrow readers here verify them (`page_checksum_verification`).
DuckDB neither writes nor checks them: a flipped bit in a data page changes what DuckDB
returns, silently, so the full check (`parquet_problem`, `verify_store`) always reads
through pyarrow, and compaction checks its inputs that way before merging them.

Whoever meets a damaged part file (a listing, the writer, compaction, `data verify`, a
query that names it) moves it to `quarantine/events_parquet/<partition>/` with a note
of why, and says so on stderr once: every reader then simply no longer sees it, the
rest of the store keeps serving, and nothing is deleted. On a root that cannot be
written the file is only skipped, by this process.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.locks import fsync_dir
from store.paths import DOC_TYPES, DataPaths

# How every part file is written (flushes, WAL replay, compaction).
PARQUET_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "write_page_checksum": True,
}
_MAGIC = b"PAR1"
_MAGIC_ENCRYPTED = b"PARE"
QUARANTINE_NOTE_VERSION = 1

_lock = threading.Lock()
# passed the structural check in this process: path -> (size, mtime_ns) when it did
_intact: dict[str, tuple[int, int]] = {}
_skipped: dict[str, str] = {}  # damaged and could not be moved: skipped by this process
_warned: set[str] = set()


def structural_problem(path: Path, size: int | None = None) -> str | None:
    """What is wrong with a Parquet file's frame (magic bytes, footer length), if anything.

    Two small reads: it catches truncated, emptied and overwritten files, not a flipped
    bit inside (that needs `parquet_problem`). FileNotFoundError if it is gone.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        if size < 12:
            return f"{size} bytes: too small to be a Parquet file"
        head = os.pread(fd, 4, 0)
        tail = os.pread(fd, 8, size - 8)
    finally:
        os.close(fd)
    if head not in (_MAGIC, _MAGIC_ENCRYPTED):
        return "no Parquet magic bytes at the start"
    if len(tail) < 8 or tail[4:] not in (_MAGIC, _MAGIC_ENCRYPTED):
        return "no Parquet magic bytes at the end (truncated?)"
    footer = int.from_bytes(tail[:4], "little")
    if footer + 12 > size:
        return f"footer length {footer} does not fit in the file's {size} bytes"
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def parquet_problem(path: Path, *, pages: bool = True) -> str | None:
    """Why a part file cannot be trusted, or None: the footer parses and (with `pages`)
    every page decodes and matches its checksum. FileNotFoundError if it is gone.

    Reads in bounded memory (no pre-buffering of whole row groups).
    """
    problem = structural_problem(path)
    if problem is not None:
        return problem
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True, pre_buffer=False,
                            buffer_size=1 << 20)
        try:
            if pages:
                for _ in pf.iter_batches(batch_size=8192, use_threads=False):
                    pass
        finally:
            pf.close()
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno is not None:
            raise  # the OS refused (permissions, I/O error): not a verdict on the content
        return _one_line(exc)  # pyarrow's own: a failed page checksum, a bad footer
    except (pa.ArrowException, ValueError, IndexError) as exc:
        return _one_line(exc)
    return None


def read_event_ids(path: Path) -> list[str]:
    """The event_id column of a part file, its pages verified (the writer's dedup input)."""
    ids: list[str] = pq.read_table(path, columns=["event_id"], page_checksum_verification=True,
                                   pre_buffer=False).column(0).to_pylist()
    return ids


def _root_of(path: Path) -> DataPaths | None:
    """The data root of `<root>/events_parquet/doc_type=…/date=…/part-….parquet`."""
    parents = path.parents
    if len(parents) < 4 or parents[2].name != "events_parquet":
        return None
    return DataPaths(parents[3])


def _warn(key: str, msg: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def quarantine_part(path: Path, reason: str, paths: DataPaths | None = None) -> Path | None:
    """Move a damaged part file to the quarantine, with a note of why; its new path.

    None when it cannot be moved (a read-only root): this process then skips it. Says
    what happened on stderr, once per file.
    """
    paths = paths or _root_of(path)
    key = str(path)
    dest: Path | None = None
    if paths is not None:
        try:
            rel = path.relative_to(paths.events)
        except ValueError:
            rel = Path(path.name)
        dest = paths.parquet_quarantine / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                dest = dest.with_name(f"{dest.stem}.{time.time_ns()}{dest.suffix}")
            os.replace(path, dest)
            fsync_dir(path.parent)
            note = {
                "v": QUARANTINE_NOTE_VERSION,
                "file": str(path),
                "reason": reason,
                "at": datetime.now(UTC).isoformat(),
                "pid": os.getpid(),
            }
            dest.with_name(dest.name + ".why.json").write_text(json.dumps(note, indent=2))
        except FileNotFoundError:
            if not dest.exists():
                return None  # gone already (compaction, another process's quarantine)
        except OSError as exc:
            with _lock:
                _skipped[key] = reason
            _warn(key, f"damaged part file {path} ({reason}) is skipped; it could not be "
                       f"moved to quarantine ({exc.strerror or exc})")
            return None
    else:
        with _lock:
            _skipped[key] = reason
        _warn(key, f"damaged part file {path} ({reason}) is skipped")
        return None
    with _lock:
        _intact.pop(key, None)
    _warn(key, f"damaged part file {path} ({reason}) moved to {dest}; the rest of the store "
               "is unaffected; re-ingesting its source restores its events")
    return dest


def usable(path: Path) -> bool:
    """Whether a listed part file may be read: it passes the structural check. The verdict
    is kept per (path, size, mtime), so a listing costs a stat per file; a file that fails
    is quarantined here."""
    key = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False  # removed since the listing (a compaction's input)
    except OSError:
        return True  # unreadable for another reason: the reader reports it
    if _intact.get(key) == (st.st_size, st.st_mtime_ns):
        return True
    if key in _skipped:
        return False
    try:
        problem = structural_problem(path, st.st_size)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    if problem is None:
        with _lock:
            _intact[key] = (st.st_size, st.st_mtime_ns)
        return True
    quarantine_part(path, problem)
    return False


_QUOTED_PATH = re.compile(r"""['"]([^'"]+\.parquet)['"]""")
# DuckDB's words for a page or footer it could not decode (it names the file only in some).
_CORRUPT_HINTS = ("corrupt", "magic bytes", "too small to be a parquet file", "decompression",
                  "out of buffer", "dictionary offset", "payload value bigger")


def looks_damaged(message: str) -> bool:
    low = message.lower()
    return any(h in low for h in _CORRUPT_HINTS)


@dataclass(frozen=True)
class Recovery:
    """What `recover_from_error` did: a sentence for the user, and whether a retry can work
    (the damaged file is out of the listing now)."""

    message: str
    retry: bool


def recover_from_error(exc: BaseException) -> Recovery | None:
    """When a DuckDB error says a part file is damaged: quarantine the file it names (after
    pyarrow confirms it) and say what happened and what to do; None when the error is not
    about a damaged file."""
    msg = str(exc)
    if not looks_damaged(msg):
        return None
    for m in _QUOTED_PATH.finditer(msg):
        path = Path(m.group(1))
        if _root_of(path) is None:
            continue
        try:
            problem = parquet_problem(path)
        except FileNotFoundError:
            continue
        if problem is not None:
            dest = quarantine_part(path, problem)
            where = f"moved to {dest}" if dest else "skipped from now on"
            return Recovery(f"the stored file {path} is damaged ({problem}) and was {where}; "
                            "run the query again", retry=True)
    return Recovery("a stored Parquet file looks damaged (" + _one_line(exc)[:160] + "); run "
                    "`replayer data verify` to find it and move it to quarantine, then query "
                    "again", retry=False)


# -- data verify -------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What `replayer data verify` found."""

    data_dir: str
    files: int = 0
    bytes: int = 0
    rows: int = 0
    damaged: list[dict[str, Any]] = field(default_factory=list)
    wal_segments: int = 0
    wal_rows: int = 0
    wal_problems: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.wal_problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "files_checked": self.files,
            "bytes_checked": self.bytes,
            "rows_checked": self.rows,
            "damaged": self.damaged,
            "wal": {"segments": self.wal_segments, "rows": self.wal_rows,
                    "problems": self.wal_problems},
            "quarantine": self.quarantined,
            "seconds": round(self.seconds, 3),
        }


def quarantined_files(paths: DataPaths) -> list[str]:
    """Every file in the quarantine (parts and WAL segments), notes left out."""
    if not paths.quarantine.is_dir():
        return []
    return sorted(str(p) for p in paths.quarantine.rglob("*")
                  if p.is_file() and not p.name.endswith(".why.json"))


def verify_store(paths: DataPaths, progress: Callable[[int], None] | None = None
                 ) -> VerifyReport:
    """Read every committed part file through pyarrow (every page against its checksum)
    and every WAL segment (every frame against its checksum).

    Damaged part files are moved to quarantine, as everywhere in the store; WAL segments
    are only reported (the writer replays them and quarantines what is damaged).
    """
    from store.files import committed_files
    from store.wal import read_all, segment_paths

    t0 = time.perf_counter()
    report = VerifyReport(data_dir=str(paths.root))
    for t in DOC_TYPES:
        for f in committed_files(paths, t):
            try:
                size = f.stat().st_size
                problem = parquet_problem(f)
            except FileNotFoundError:
                continue  # compacted away since the listing
            report.files += 1
            report.bytes += size
            if problem is None:
                report.rows += pq.read_metadata(f).num_rows
            else:
                dest = quarantine_part(f, problem, paths)
                report.damaged.append({"file": str(f), "problem": problem,
                                       "moved_to": str(dest) if dest else None})
            if progress:
                progress(size)
    segments = segment_paths(paths.wal)
    newest = segments[-1] if segments else None
    for seg in read_all(paths.wal):
        report.wal_segments += 1
        report.wal_rows += seg.rows
        problem = seg.problem
        if problem is None and seg.torn and seg.path != newest:
            problem = "ends in an incomplete frame"
        if problem is not None:
            report.wal_problems.append({"segment": str(seg.path), "problem": problem,
                                        "good_rows": seg.rows})
    report.quarantined = quarantined_files(paths)
    report.seconds = time.perf_counter() - t0
    return report
