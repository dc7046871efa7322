"""Typed errors of the store package; the CLI prints their message as one line.

A class with a clear fix carries it as `hint` (a short "how to fix" string) for the CLI
and the MCP translation.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class StoreError(Exception):
    """Base of every error the store raises on purpose."""

    hint: str | None = None


class WriterLockedError(StoreError):
    """Another process holds the single-writer lock of this data root."""

    hint = "stop the other writer or wait for it to finish"


class SchemaVersionError(StoreError):
    """The on-disk format is newer (or otherwise unknown) to this code."""

    hint = "upgrade rugs-replayer"


class InvalidEventError(StoreError):
    """One event failed validation; the rest of its batch is still written."""


class WriterClosedError(StoreError):
    """write() was called on a writer that was closed."""

    hint = "open a new EventWriter"


class WriterFailedError(StoreError):
    """The writer hit a storage error it cannot vouch for (a failed fsync); reopen it."""

    hint = "close this writer and open a new one: the next open replays the write-ahead log"


class QueryError(StoreError):
    """A DuckDB query failed or was refused."""


class UnsafeQueryError(QueryError):
    """A SQL statement was refused by the read-only allowlist or the sandbox."""


class IngestError(StoreError):
    """An input file cannot be read as any known capture format."""


class RecordRejected(IngestError):
    """One record (line, array element, sample) cannot be read; it goes to the rejects file."""


class SettingsError(StoreError):
    """A setting (environment variable or flag) has a value that cannot be used."""


class StorageError(StoreError):
    """The file system refused a read or write under the data root (I/O error, permissions)."""

    @classmethod
    def from_os_error(cls, exc: OSError, doing: str) -> StorageError:
        """The typed error for an OSError met while `doing` something (one line)."""
        where = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno in _FULL:
            return DiskFullError(f"{doing}: {reason}{where}")
        return StorageError(f"{doing}: {reason}{where}")


class DiskFullError(StorageError):
    """No space left (or the quota is used up) on the file system of the data root."""

    hint = (
        "free space on that file system (df -h), then run the command again: "
        "nothing acknowledged was lost"
    )

    def __str__(self) -> str:
        return f"{super().__str__()}; {self.hint}"


class DamagedFileError(StoreError):
    """A stored file (Parquet part, WAL segment) failed its checksum or cannot be parsed."""

    hint = "run `replayer data verify --quarantine` to move damaged files aside"


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_disk_full(exc: BaseException) -> bool:
    """True for the OS errors that mean "no space": ENOSPC, EDQUOT, EFBIG (file size limit)."""
    return isinstance(exc, OSError) and exc.errno in _FULL


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Turn an OSError raised inside into a StorageError (DiskFullError when out of space)."""
    try:
        yield
    except StoreError:
        raise
    except OSError as exc:
        raise StorageError.from_os_error(exc, doing) from exc
