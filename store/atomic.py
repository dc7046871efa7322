"""Atomic file writes: a reader sees the old file or the new one, never a torn one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = True,
                       sync_dir: bool = False) -> None:
    """Temp file in the same directory, rename over `path`; an existing file keeps its mode.

    `durable` fsyncs the data before the rename (a manifest or checkpoint: losing it costs
    work); a cache that is checked when read may skip it. `sync_dir` also fsyncs the
    directory, so the rename itself survives a power cut. A failed write (a full disk)
    leaves no temp file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        from store.locks import fsync_dir

        fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str, *, durable: bool = True,
                      sync_dir: bool = False) -> None:
    """write_bytes_atomic of UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), durable=durable, sync_dir=sync_dir)


def write_json_atomic(path: Path, obj: Any, *, compact: bool = False,
                      durable: bool = True) -> None:
    """JSON through write_text_atomic: readable (indented, sorted keys) unless `compact`,
    which keeps key order (it can matter, e.g. field order in the catalog) and no spaces."""
    if compact:
        text = json.dumps(obj, separators=(",", ":"), default=str)
    else:
        text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    write_text_atomic(path, text, durable=durable)


def _umask() -> int:
    # mkstemp creates 0600 files; a new file should get what open() would have given it.
    current = os.umask(0)
    os.umask(current)
    return current
