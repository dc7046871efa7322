"""add_note: the canonical notes file first, then the debug_notes table."""

from __future__ import annotations

import pytest

from indexer.build import build_incremental
from indexer.embedder import HashingEmbedder
from indexer.notes import add_note
from indexer.search import Searcher
from store.errors import InvalidNoteError
from store.notes import iter_notes
from store.paths import DataPaths
from store.settings import Settings


def test_note_is_stored_then_searchable(settings: Settings,
                                        fake_embedder: HashingEmbedder) -> None:
    r = add_note(settings, "ws reconnect", "Backoff resets after a successful auth.",
                 "websocket, CDP", "claude", embedder=fake_embedder)
    assert r.indexed and r.index_error is None
    assert [n.note_id for n in iter_notes(DataPaths(settings.data_dir))] == [r.note.note_id]
    (hit,) = Searcher(settings, fake_embedder).search("backoff auth", table="debug_notes")
    assert hit.metadata["note_id"] == r.note.note_id and hit.metadata["tags"] == ["cdp",
                                                                                  "websocket"]


def test_a_second_note_embeds_only_itself(settings: Settings,
                                          fake_embedder: HashingEmbedder) -> None:
    add_note(settings, "a", "first note", embedder=fake_embedder)
    before = fake_embedder.texts_embedded
    add_note(settings, "b", "second note", embedder=fake_embedder)
    assert fake_embedder.texts_embedded == before + 1


def test_invalid_note_is_refused_before_anything_is_written(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    with pytest.raises(InvalidNoteError, match="topic"):
        add_note(settings, " ", "text", embedder=fake_embedder)
    assert not DataPaths(settings.data_dir).notes.exists()


def test_note_is_kept_when_indexing_fails_and_indexed_by_the_next_build(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    add_note(settings, "a", "first", embedder=fake_embedder)
    r = add_note(settings, "b", "second", embedder=HashingEmbedder(32))  # wrong model
    assert not r.indexed and "--full" in (r.index_error or "")
    assert len(list(iter_notes(DataPaths(settings.data_dir)))) == 2
    build_incremental(settings, "debug_notes", embedder=fake_embedder)
    assert len(Searcher(settings, fake_embedder).search("second", table="debug_notes")) == 2
