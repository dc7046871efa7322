"""The `Chunk` every chunker produces: id, text to embed, its source, filterable metadata."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from chunkers.errors import DuplicateChunkIdError

# Bump a chunker's version whenever its output for the same input changes (text, ids or
# metadata): the version is part of its table's fingerprint, so a bump makes the indexer
# refuse an incremental build and ask for a full one instead of mixing old and new chunks.
MARKDOWN_CHUNKER_VERSION = "markdown-1"
NOTES_CHUNKER_VERSION = "notes-1"
EVENTS_CHUNKER_VERSION = "events-3"
DOCS_CHUNKER_VERSION = "docs-1"  # protocol doc sections (built on the markdown chunker)


def _digest(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """One unit of retrieval.

    `chunk_id` is unique within its table and stable across runs for the same logical piece
    (the indexer decides what to re-embed by id + content hash). `source` is the key of the
    canonical input it came from (a file path, a Parquet partition, a notes file), so rows of
    a vanished source can be deleted. `metadata` holds JSON-serialisable values; keys that match
    a table's filter columns become columns, all of it is kept as JSON.
    """

    chunk_id: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # What the embedding model reads, when it should not be `text` (stored, shown and
    # matched by BM25): a list of 48 field names with a few words each embeds as a soup of
    # descriptions, the names alone as "the fields of X". None: the text itself.
    embed_text: str | None = None

    @property
    def vector_text(self) -> str:
        """The text the vector is made from."""
        return self.text if self.embed_text is None else self.embed_text

    @cached_property
    def content_hash(self) -> str:
        """Hash of the stored text (and of the embedded one, when it differs): equal hashes
        share one vector."""
        if self.embed_text is None:
            return _digest(self.text)
        return _digest(self.text + "\x00embed\x00" + self.embed_text)

    @cached_property
    def metadata_hash(self) -> str:
        """Hash of the metadata and source: a change updates the row without re-embedding."""
        return _digest(self.source + "\x00" + metadata_json(self.metadata))


def metadata_json(metadata: dict[str, Any]) -> str:
    """Canonical JSON of a metadata dict (sorted keys; dates and Decimals as strings)."""
    return json.dumps(metadata, sort_keys=True, default=str, ensure_ascii=False)


def ensure_unique_ids(chunks: Iterable[Chunk]) -> list[Chunk]:
    """The chunks as a list; raises DuplicateChunkIdError naming the first repeated id."""
    out: list[Chunk] = []
    seen: set[str] = set()
    for c in chunks:
        if c.chunk_id in seen:
            raise DuplicateChunkIdError(f"chunk id {c.chunk_id!r} produced twice by {c.source}")
        seen.add(c.chunk_id)
        out.append(c)
    return out


def dedupe(chunks: Iterable[Chunk]) -> list[Chunk]:
    """Chunks with identical texts (or ids) once, first one kept."""
    out: list[Chunk] = []
    texts: set[str] = set()
    ids: set[str] = set()
    for c in chunks:
        if c.text in texts or c.chunk_id in ids:
            continue
        texts.add(c.text)
        ids.add(c.chunk_id)
        out.append(c)
    return out
