"""A debug note -> chunks: topic, tags, author and date up front, long text cut in parts."""

from __future__ import annotations

from chunkers.chunk import Chunk
from chunkers.errors import NoteRecordError
from chunkers.markdown import MAX_BODY_CHARS, pack_body
from store.notes import Note


def chunk_note(note: Note, *, source: str, max_body_chars: int = MAX_BODY_CHARS) -> list[Chunk]:
    """Chunks of one note; ids are `note:<note_id>:<part>`, stable for an unchanged note."""
    if not note.note_id or not note.text.strip() or not note.topic.strip():
        raise NoteRecordError(f"note {note.note_id!r} needs an id, a topic and text")
    ts = note.ts.isoformat().replace("+00:00", "Z")
    header = f"Debug note: {note.topic}"
    byline = f"by {note.author} on {note.ts.date().isoformat()}"
    if note.tags:
        byline = f"tags: {', '.join(note.tags)}; " + byline
    parts = pack_body(note.text.strip(), max_body_chars)
    chunks = []
    for n, part in enumerate(parts):
        label = header if len(parts) == 1 else f"{header} (part {n + 1}/{len(parts)})"
        chunks.append(Chunk(
            chunk_id=f"note:{note.note_id}:{n}",
            text=f"{label}\n{byline}\n\n{part}",
            source=source,
            metadata={
                "note_id": note.note_id,
                "topic": note.topic,
                "tags": list(note.tags),
                "author": note.author,
                "ts": ts,
                "part": n,
            },
        ))
    return chunks
