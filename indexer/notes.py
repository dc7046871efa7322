"""`add_note`: store a debug note in its canonical file first, then index it (debug_notes)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.build import build_incremental
from indexer.embedder import Embedder
from indexer.errors import IndexerError
from store.notes import Note, append_note, make_note
from store.paths import DataPaths
from store.settings import Settings


@dataclass
class AddNoteResult:
    note: Note
    path: Path
    indexed: bool
    index_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.note.to_record(), "path": str(self.path), "indexed": self.indexed,
                "index_error": self.index_error}


def add_note(
    settings: Settings,
    topic: str,
    text: str,
    tags: Iterable[str] | str | None = None,
    author: str | None = None,
    *,
    index: bool = True,
    embedder: Embedder | None = None,
) -> AddNoteResult:
    """Append a note durably (raises store.notes.InvalidNoteError if it is refused), then
    run an incremental build of debug_notes. The note is kept even if indexing fails: the
    error is returned in `index_error` and the next build picks the note up."""
    note = make_note(topic, text, tags, author)
    path = append_note(DataPaths(settings.data_dir), note)
    if not index:
        return AddNoteResult(note=note, path=path, indexed=False)
    try:
        build_incremental(settings, "debug_notes", embedder=embedder)
    except IndexerError as exc:
        return AddNoteResult(note=note, path=path, indexed=False, index_error=str(exc))
    return AddNoteResult(note=note, path=path, indexed=True)
