"""Typed errors of the indexer package; the CLI prints their message as one line."""

from __future__ import annotations


class IndexerError(Exception):
    """Base of every error the indexer raises on purpose."""


class EmbedderUnavailableError(IndexerError):
    """The embedding model cannot be loaded (not installed, bad path, unknown provider)."""


class FingerprintMismatchError(IndexerError):
    """A table was built with another model or chunker version: only a full build may proceed."""


class UnknownTableError(IndexerError):
    """A table name that is not one of events, code_context, debug_notes."""


class TableNotBuiltError(IndexerError):
    """A search or stats call on a table that has never been built."""


class IndexBusyError(IndexerError):
    """Another process is building the same table right now."""


class InvalidFilterError(IndexerError):
    """A search filter names an unknown column or has a malformed value."""


class InvalidQueryError(IndexerError):
    """An empty query, an unknown mode or an out-of-range k."""


class CheckpointVersionError(IndexerError):
    """The checkpoint file was written by a newer version of this code."""


class ProviderMissingError(IndexerError):
    """A table's source provider module is not installed (e.g. events before its chunker)."""


class ContextFileExistsError(IndexerError):
    """`replayer context init` would overwrite an existing CONTEXT.md (only --force does)."""
