"""What the store holds: events and bytes per doc type and date, files, pending WAL, schema."""

from __future__ import annotations

import fcntl
import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from store.files import partition_files
from store.integrity import quarantine_part, quarantined_files
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMA_VERSION, on_disk_version
from store.wal import read_all, segment_paths


def store_status(paths: DataPaths) -> dict[str, Any]:
    """A JSON-ready summary read from Parquet footers only (no data pages).

    A part file whose footer cannot be read is moved to quarantine and listed under
    `damaged`; the figures are those of every other file.
    """
    doc_types: dict[str, Any] = {}
    damaged: list[dict[str, Any]] = []
    for t in DOC_TYPES:
        parts = []
        for day, d in paths.partitions(t):
            rows = size = files = 0
            for f in partition_files(d):
                try:
                    n = pq.ParquetFile(f).metadata.num_rows
                    b = f.stat().st_size
                except FileNotFoundError:
                    continue  # compacted away since the listing
                except (pa.ArrowException, OSError) as exc:
                    if isinstance(exc, OSError) and exc.errno is not None:
                        raise
                    reason = " ".join(str(exc).split())[:300]
                    dest = quarantine_part(f, reason, paths)
                    damaged.append({"file": str(f), "problem": reason,
                                    "moved_to": str(dest) if dest else None})
                    continue
                rows, size, files = rows + n, size + b, files + 1
            parts.append({"date": day, "events": rows, "bytes": size, "files": files})
        doc_types[t] = {
            "events": sum(p["events"] for p in parts),
            "bytes": sum(p["bytes"] for p in parts),
            "files": sum(p["files"] for p in parts),
            "partitions": parts,
        }
    segments = segment_paths(paths.wal)
    newest = segments[-1] if segments else None
    reads = list(read_all(paths.wal))
    wal_problems = [
        {"segment": str(r.path), "problem": r.problem, "good_rows": r.rows}
        for r in reads
        # the newest segment's incomplete last frame is an append in flight, not damage
        if r.problem is not None or (r.torn and r.path != newest)
    ]
    return {
        "data_dir": str(paths.root),
        "schema_version": {"code": SCHEMA_VERSION, "on_disk": on_disk_version(paths)},
        "doc_types": doc_types,
        "total_events": sum(v["events"] for v in doc_types.values()),
        "wal": {
            "segments": len(reads),
            "bytes": sum(r.size for r in reads),
            "pending_events": sum(r.rows for r in reads),
            "problems": wal_problems,
        },
        "damaged": damaged,
        "quarantine": quarantined_files(paths),
        "writer_running": _writer_running(paths),
    }


def _writer_running(paths: DataPaths) -> str | None:
    """Who holds the writer lock, or None.

    Decided by the lock itself, not by the holder's note (a writer that started on a
    full disk could not write one).
    """
    try:
        fd = os.open(paths.writer_lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 512, 0).decode(errors="replace").strip()
            return text or "a writer (it could not note who it is: the disk was full?)"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # free; any text is a crashed holder's
    finally:
        os.close(fd)
