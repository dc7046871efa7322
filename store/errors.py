"""Typed errors of the store package; the CLI prints their message as one line."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class WriterLockedError(StoreError):
    """Another process holds the single-writer lock of this data root."""


class SchemaVersionError(StoreError):
    """The on-disk format is newer (or otherwise unknown) to this code."""


class InvalidEventError(StoreError):
    """One event failed validation; the rest of its batch is still written."""


class WriterClosedError(StoreError):
    """write() was called on a writer that was closed."""


class QueryError(StoreError):
    """A DuckDB query failed or was refused."""


class UnsafeQueryError(QueryError):
    """A SQL statement was refused by the read-only allowlist or the sandbox."""


class IngestError(StoreError):
    """An input file cannot be read as any known capture format."""
