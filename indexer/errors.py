"""Typed errors of the indexer package (a branch of the tree drawn in store/errors.py)."""

from __future__ import annotations

from store.errors import HINT_FULL_BUILD, RugsError


class IndexerError(RugsError):
    """Base of every error the indexer raises on purpose."""


class EmbedderUnavailableError(IndexerError):
    """The embedding model cannot be loaded (not installed, bad path, unknown provider)."""


class ModelExportError(IndexerError):
    """The model cannot be exported to ONNX (torch or onnx missing, unsupported, or wrong)."""


class FingerprintMismatchError(IndexerError):
    """A table was built with another model or chunker version: only a full build may proceed."""

    hint = HINT_FULL_BUILD


class TableLayoutError(IndexerError):
    """A table's row layout is older (missing columns) or newer than this code reads."""

    hint = HINT_FULL_BUILD


class UnknownTableError(IndexerError):
    """A table name that is not one of events, code_context, debug_notes."""


class TableNotBuiltError(IndexerError):
    """A search or stats call on a table that has never been built."""

    hint = "From this server: call sync_index with that table, then search again."


class IndexBusyError(IndexerError):
    """Another process is building the same table right now."""

    hint = "Another build of that table is running: retry in a few seconds."


class InvalidFilterError(IndexerError):
    """A search filter names an unknown column or has a malformed value."""


class InvalidQueryError(IndexerError):
    """An empty query, an unknown mode or an out-of-range k."""


class CheckpointVersionError(IndexerError):
    """The checkpoint file was written by a newer version of this code."""


class ProviderMissingError(IndexerError):
    """A table's source provider module is not installed (e.g. events before its chunker)."""


class EvalFileError(IndexerError):
    """A question file cannot be read or a line is not a valid question."""


class ContextFileExistsError(IndexerError):
    """`replayer context init` would overwrite an existing CONTEXT.md (only --force does)."""
