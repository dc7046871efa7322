"""Debug notes -> chunks with topic, tags, author and date."""

from __future__ import annotations

from datetime import UTC, datetime

from chunkers.notes import chunk_note
from store.notes import Note


def _note(text: str = "Reconnects back off exponentially.") -> Note:
    return Note(note_id="note-1", ts=datetime(2025, 12, 14, 8, 0, tzinfo=UTC),
                topic="ws reconnect", text=text, tags=("cdp", "websocket"), author="claude")


def test_note_chunk_text_leads_with_topic_tags_and_author() -> None:
    (c,) = chunk_note(_note(), source="notes/notes-2025-12.jsonl")
    assert c.text.startswith("Debug note: ws reconnect\ntags: cdp, websocket; by claude on "
                             "2025-12-14\n")
    assert c.chunk_id == "note:note-1:0"
    assert c.metadata == {"note_id": "note-1", "topic": "ws reconnect",
                          "tags": ["cdp", "websocket"], "author": "claude",
                          "ts": "2025-12-14T08:00:00Z", "part": 0}


def test_long_note_is_split_with_stable_part_ids() -> None:
    text = "\n\n".join("A paragraph of reasoning. " * 12 for _ in range(8))
    chunks = chunk_note(_note(text), source="s")
    assert len(chunks) > 1
    assert [c.chunk_id for c in chunks] == [f"note:note-1:{i}" for i in range(len(chunks))]
    assert all(c.text.startswith("Debug note: ws reconnect (part ") for c in chunks)
