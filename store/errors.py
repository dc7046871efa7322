"""The project's error tree, and `explain()`: the one place an error becomes a line of text.

Every error raised on purpose derives from `RugsError`; each package keeps its own branch:

    RugsError
    ├── StoreError                      store/errors.py
    │   ├── WriterLockedError           another process holds the single-writer lock
    │   ├── WriterClosedError           write() after close()
    │   ├── WriterFailedError           a failed fsync: the writer must be reopened
    │   ├── SchemaVersionError          an on-disk format newer than this code
    │   ├── InvalidEventError           one event failed validation (the batch goes on)
    │   ├── QueryError                  a DuckDB query failed or found nothing to answer
    │   │   └── UnsafeQueryError        refused by the read-only allowlist or the sandbox
    │   ├── IngestError                 an input cannot be read as any capture format
    │   │   └── RecordRejected          one record cannot be read: it goes to the rejects file
    │   ├── CatalogError                the event catalog cannot be built, read or asked
    │   ├── DocsError                   the protocol docs root is not set or cannot be read
    │   ├── ValidationError             a validation record was refused
    │   ├── InvalidNoteError            a debug note was refused; nothing was written
    │   ├── SettingsError               a setting's value cannot be used (names its variable)
    │   └── StorageError                the file system refused a read or write
    │       └── DiskFullError           no space left (ENOSPC, EDQUOT, EFBIG)
    ├── ChunkerError                    chunkers/errors.py
    │   ├── DuplicateChunkIdError       one source produced two chunks with one id
    │   └── NoteRecordError             a stored note lacks what the notes chunker needs
    ├── IndexerError                    indexer/errors.py
    │   ├── EmbedderUnavailableError    the embedding model cannot be loaded
    │   ├── ModelExportError            the model cannot be exported to ONNX
    │   ├── FingerprintMismatchError    a table of another model or chunker: full build only
    │   ├── TableLayoutError            a table of an older or newer row layout than this code
    │   ├── UnknownTableError           not one of events, code_context, debug_notes
    │   ├── TableNotBuiltError          a table that has never been built
    │   ├── IndexBusyError              another process is building that table
    │   ├── InvalidFilterError          a search filter names an unknown column or bad value
    │   ├── InvalidQueryError           an empty query, an unknown mode, a k out of range
    │   ├── CheckpointVersionError      a checkpoint written by newer code
    │   ├── ProviderMissingError        a table's source provider is not installed
    │   ├── EvalFileError               a question file or line cannot be read
    │   └── ContextFileExistsError      `context init` would overwrite a CONTEXT.md
    └── ServerError                     mcp_server/errors.py
        ├── ServerConfigError           the server cannot start as asked
        ├── ClaudeConfigError           a Claude Code file to merge into is malformed
        ├── SearchWorkerError           the search worker process stopped or hung
        └── ToolCallError               a tool call the model can fix (an MCP ToolError)

The message (`str(exc)`) says what happened, for a person at the shell, and may name the
`replayer` command that fixes it. `hint` says how an agent fixes it with the MCP tools; a
class sets a default, a raise site may pass its own (`QueryError(msg, hint=...)`).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class RugsError(Exception):
    """Root of every error the project raises on purpose."""

    hint: str = ""  # how the caller of an MCP tool fixes it; empty when the message says all

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint


def one_line(exc: BaseException) -> str:
    """The exception's text on one line (DuckDB and others span several)."""
    return " ".join(str(exc).split())


def explain(exc: BaseException, *, for_agent: bool = False) -> str:
    """One line: the message, and for an agent the hint that names the tool to call."""
    msg = one_line(exc) or type(exc).__name__
    hint = getattr(exc, "hint", "") if for_agent else ""
    if not hint:
        return msg
    if not msg.endswith((".", "!", "?")):
        msg += "."
    return f"{msg} {hint}"


# Hints shared by raise sites in several packages.
HINT_LIST_GAMES = "From this server: list_games lists the game ids."
HINT_LIST_EVENTS = "From this server: list_event_types lists the event names."
HINT_INGEST = "Data is ingested outside the agent (`replayer ingest FILE`)."
HINT_FULL_BUILD = ("A full rebuild is needed: a person runs `replayer index build --full` "
                   "outside the agent.")


class StoreError(RugsError):
    """Base of every error the store raises on purpose."""


class WriterLockedError(StoreError):
    """Another process holds the single-writer lock of this data root."""


class SchemaVersionError(StoreError):
    """The on-disk format is newer (or otherwise unknown) to this code."""


class InvalidEventError(StoreError):
    """One event failed validation; the rest of its batch is still written."""


class WriterClosedError(StoreError):
    """write() was called on a writer that was closed."""


class WriterFailedError(StoreError):
    """The writer hit a storage error it cannot vouch for (a failed fsync); reopen it."""


class QueryError(StoreError):
    """A DuckDB query failed or was refused."""


class UnsafeQueryError(QueryError):
    """A SQL statement was refused by the read-only allowlist or the sandbox."""


class IngestError(StoreError):
    """An input file cannot be read as any known capture format."""


class RecordRejected(IngestError):
    """One record (line, array element, sample) cannot be read; it goes to the rejects file."""


class CatalogError(StoreError):
    """The event catalog cannot be built or read, or names no such event."""


class DocsError(StoreError):
    """The protocol docs root is not set, or is not a directory of markdown files."""

    hint = ("The protocol docs are configured outside the agent (RUGS_PROTOCOL_DOCS, a "
            "folder of markdown files such as WEBSOCKET_EVENTS_SPEC.md).")


class ValidationError(StoreError):
    """A validation record was refused (unknown status, empty event name, bad file)."""


class InvalidNoteError(StoreError):
    """A note was refused (empty topic or text, too long, bad tags); nothing was written."""


class SettingsError(StoreError):
    """A setting (environment variable or flag) has a value that cannot be used."""


class StorageError(StoreError):
    """The file system refused a read or write under the data root (I/O error, permissions)."""

    @classmethod
    def from_os_error(cls, exc: OSError, doing: str) -> StorageError:
        """The typed error for an OSError met while `doing` something (one line)."""
        where = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or one_line(exc) or type(exc).__name__
        if exc.errno in _FULL:
            return DiskFullError(f"{doing}: {reason}{where}; free space on that file system "
                                 "(df -h), then run the command again: nothing acknowledged "
                                 "was lost")
        return StorageError(f"{doing}: {reason}{where}")


class DiskFullError(StorageError):
    """No space left (or the quota is used up) on the file system of the data root."""

    hint = ("The data root's disk is full: a person frees space outside the agent; nothing "
            "acknowledged was lost.")


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Turn an OSError raised inside into a StorageError (DiskFullError when out of space)."""
    try:
        yield
    except StoreError:
        raise
    except OSError as exc:
        raise StorageError.from_os_error(exc, doing) from exc
