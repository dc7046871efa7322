"""Canonical debug notes: versioned, append-only, fsynced JSONL files under `DataPaths.notes`.

A note is an agent's or developer's reasoning or decision rationale. It is written here first
(durable on return), and only then indexed into the `debug_notes` LanceDB table, which can
always be rebuilt from these files. One file per month (`notes-YYYY-MM.jsonl`) keeps each
file small and lets the indexer skip months that did not change.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.errors import InvalidNoteError, SchemaVersionError
from store.locks import fsync_dir
from store.paths import DataPaths

NOTES_FORMAT_VERSION = 1
MAX_TOPIC_CHARS = 200
MAX_TEXT_CHARS = 50_000
MAX_TAGS = 20
MAX_TAG_CHARS = 50
_FILE = re.compile(r"^notes-(\d{4}-\d{2})\.jsonl$")


@dataclass(frozen=True)
class Note:
    """One debug note as stored."""

    note_id: str
    ts: datetime
    topic: str
    text: str
    tags: tuple[str, ...] = ()
    author: str = "unknown"

    def to_record(self) -> dict[str, Any]:
        return {
            "v": NOTES_FORMAT_VERSION,
            "note_id": self.note_id,
            "ts": self.ts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "topic": self.topic,
            "tags": list(self.tags),
            "author": self.author,
            "text": self.text,
        }


@dataclass
class NotesFile:
    """What one notes file holds: its notes, and lines that could not be read (torn writes)."""

    path: Path
    notes: list[Note] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)


def normalize_tags(tags: Iterable[str] | str | None) -> tuple[str, ...]:
    """Tags as a sorted, de-duplicated tuple of lower-case words; "a, b" is two tags."""
    if tags is None:
        return ()
    items = tags.split(",") if isinstance(tags, str) else [p for t in tags for p in t.split(",")]
    out = sorted({t.strip().lower() for t in items if t.strip()})
    if len(out) > MAX_TAGS:
        raise InvalidNoteError(f"at most {MAX_TAGS} tags per note, got {len(out)}")
    for t in out:
        if len(t) > MAX_TAG_CHARS:
            raise InvalidNoteError(f"tag {t[:20]!r}... is longer than {MAX_TAG_CHARS} characters")
    return tuple(out)


def make_note(
    topic: str,
    text: str,
    tags: Iterable[str] | str | None = None,
    author: str | None = None,
    *,
    now: datetime | None = None,
) -> Note:
    """A validated note with a fresh id; raises InvalidNoteError saying what to fix."""
    topic = (topic or "").strip()
    text = (text or "").strip()
    if not topic:
        raise InvalidNoteError("a note needs a topic (e.g. --topic 'ws reconnect')")
    if len(topic) > MAX_TOPIC_CHARS:
        raise InvalidNoteError(f"topic is longer than {MAX_TOPIC_CHARS} characters")
    if not text:
        raise InvalidNoteError("a note needs some text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidNoteError(
            f"note text is {len(text)} characters; at most {MAX_TEXT_CHARS} (split it in several)"
        )
    ts = (now or datetime.now(UTC)).astimezone(UTC)
    note_id = f"note-{ts.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    return Note(note_id=note_id, ts=ts, topic=topic, text=text, tags=normalize_tags(tags),
                author=(author or "").strip() or "unknown")


def notes_file_for(paths: DataPaths, ts: datetime) -> Path:
    return paths.notes / f"notes-{ts.astimezone(UTC).strftime('%Y-%m')}.jsonl"


def append_note(paths: DataPaths, note: Note) -> Path:
    """Append one note to its month's file, fsynced before returning; returns the file.

    A flock serialises concurrent writers; a torn last line left by a crash is closed with a
    newline first, so it stays one unreadable line instead of corrupting this note too.
    """
    path = notes_file_for(paths, note.ts)
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(note.to_record(), ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        prefix = b""
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    prefix = b"\n"
        os.write(fd, prefix + line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return path


def note_from_record(rec: dict[str, Any], where: str) -> Note:
    version = rec.get("v")
    if not isinstance(version, int):
        raise ValueError("no format version")
    if version > NOTES_FORMAT_VERSION:
        raise SchemaVersionError(
            f"{where}: debug note format version {version} is newer than this code "
            f"({NOTES_FORMAT_VERSION}); upgrade rugs-replayer"
        )
    ts = datetime.fromisoformat(str(rec["ts"]).replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return Note(
        note_id=str(rec["note_id"]),
        ts=ts,
        topic=str(rec["topic"]),
        text=str(rec["text"]),
        tags=tuple(str(t) for t in rec.get("tags") or ()),
        author=str(rec.get("author") or "unknown"),
    )


def read_notes_file(path: Path) -> NotesFile:
    """Every readable note of a file; unreadable lines are listed by number, not fatal."""
    out = NotesFile(path=path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
                out.notes.append(note_from_record(rec, f"{path.name}:{lineno}"))
            except SchemaVersionError:
                raise
            except (ValueError, KeyError, TypeError):
                out.bad_lines.append(lineno)
    return out


def notes_files(paths: DataPaths) -> list[Path]:
    """The notes files of a data root, oldest month first."""
    if not paths.notes.is_dir():
        return []
    return sorted(p for p in paths.notes.iterdir() if _FILE.match(p.name) and p.is_file())


def iter_notes(paths: DataPaths) -> Iterator[Note]:
    for path in notes_files(paths):
        yield from read_notes_file(path).notes
