"""OS-level exclusive file locks and directory fsync, shared by the writer and compaction."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from store.errors import WriterLockedError

# A writer opening the data root holds the compaction lock for its crash recovery
# (milliseconds): compaction and pruning wait this long for it instead of refusing, and
# are still refused by a compaction that runs longer.
MAINTENANCE_LOCK_WAIT = 2.0


def fsync_dir(path: Path) -> None:
    """Make renames and unlinks in a directory durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileLock:
    """An exclusive flock on a file, released by the kernel if the process dies.

    The holder writes who it is into the file, so a refused caller can name it. That
    note is a courtesy: on a full disk it cannot be written and the lock holds anyway.
    """

    def __init__(self, path: Path, what: str, *, wait: float = 0.0) -> None:
        """Take the lock, retrying for up to `wait` seconds before naming its holder."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
            holder = os.pread(self._fd, 512, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise WriterLockedError(
                f"{what} {path.parent} is held by another process ({holder}); "
                "stop it or wait for it to finish"
            ) from None
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        info = f"pid {os.getpid()} on {socket.gethostname()} since {now}Z"
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, info.encode(), 0)
        except OSError:
            pass  # no space for the note (ENOSPC): the flock is what excludes other writers

    def release(self) -> None:
        if self._fd >= 0:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
