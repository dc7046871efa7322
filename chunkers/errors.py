"""Typed errors of the chunkers package (a branch of the tree drawn in store/errors.py)."""

from __future__ import annotations

from store.errors import RugsError


class ChunkerError(RugsError):
    """Base of every error a chunker raises on purpose."""


class DuplicateChunkIdError(ChunkerError):
    """One source produced two chunks with the same id (ids must be unique per table)."""


class NoteRecordError(ChunkerError):
    """A stored debug note lacks the id, topic or text the notes chunker needs."""
