"""Pure functions that turn canonical inputs (events, CONTEXT.md files, notes) into Chunks."""

from chunkers.chunk import (
    EVENTS_CHUNKER_VERSION,
    MARKDOWN_CHUNKER_VERSION,
    NOTES_CHUNKER_VERSION,
    Chunk,
)

__all__ = [
    "Chunk",
    "EVENTS_CHUNKER_VERSION",
    "MARKDOWN_CHUNKER_VERSION",
    "NOTES_CHUNKER_VERSION",
]
