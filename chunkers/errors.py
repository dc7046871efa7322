"""Typed errors of the chunkers package; the CLI prints their message as one line."""

from __future__ import annotations


class ChunkerError(Exception):
    """Base of every error a chunker raises on purpose."""


class DuplicateChunkIdError(ChunkerError):
    """One source produced two chunks with the same id (ids must be unique per table)."""


class InvalidNoteError(ChunkerError):
    """A debug note record lacks a field the notes chunker needs."""
