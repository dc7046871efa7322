"""What the store holds: events and bytes per doc type and date, files, pending WAL, schema."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from store.files import partition_files
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMA_VERSION, on_disk_version
from store.wal import pending_rows, segment_paths


def store_status(paths: DataPaths) -> dict[str, Any]:
    """A JSON-ready summary read from Parquet footers only (no data pages)."""
    doc_types: dict[str, Any] = {}
    for t in DOC_TYPES:
        parts = []
        for day, d in paths.partitions(t):
            files = partition_files(d)
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            size = sum(f.stat().st_size for f in files)
            parts.append({"date": day, "events": rows, "bytes": size, "files": len(files)})
        doc_types[t] = {
            "events": sum(p["events"] for p in parts),
            "bytes": sum(p["bytes"] for p in parts),
            "files": sum(p["files"] for p in parts),
            "partitions": parts,
        }
    wal_files = segment_paths(paths.wal)
    return {
        "data_dir": str(paths.root),
        "schema_version": {"code": SCHEMA_VERSION, "on_disk": on_disk_version(paths)},
        "doc_types": doc_types,
        "total_events": sum(v["events"] for v in doc_types.values()),
        "wal": {
            "segments": len(wal_files),
            "bytes": sum(p.stat().st_size for p in wal_files),
            "pending_events": pending_rows(paths.wal),
        },
        "writer_running": _writer_running(paths),
    }


def _writer_running(paths: DataPaths) -> str | None:
    """Who holds the writer lock, or None (the lock file is empty when released)."""
    try:
        text = paths.writer_lock.read_text().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    import fcntl
    import os

    fd = os.open(paths.writer_lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return text
    finally:
        os.close(fd)
    return None  # a crashed holder's text: the lock itself is free
