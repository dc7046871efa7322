"""The canonical debug-notes files (one per month) as sources of the `debug_notes` table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chunkers.chunk import NOTES_CHUNKER_VERSION, Chunk
from chunkers.notes import chunk_note
from indexer.source import SourceScan
from store.notes import Note, notes_files, read_notes_file
from store.paths import DataPaths
from store.settings import Settings

CHUNKER_VERSION = NOTES_CHUNKER_VERSION


@dataclass(frozen=True)
class NotesFileSource:
    """One `notes-YYYY-MM.jsonl`; append-only, so size and mtime are an exact signature."""

    key: str
    path: Path
    signature: str

    def chunks(self) -> list[Chunk]:
        content = read_notes_file(self.path)
        # The same note id twice (a retried append): the later line wins.
        latest: dict[str, Note] = {}
        for note in content.notes:
            latest[note.note_id] = note
        out: list[Chunk] = []
        for note in latest.values():
            out.extend(chunk_note(note, source=self.key))
        return out


def scan_sources(settings: Settings) -> SourceScan:
    paths = DataPaths(settings.data_dir)
    sources = []
    for path in notes_files(paths):
        st = path.stat()
        sources.append(NotesFileSource(key=f"notes/{path.name}", path=path,
                                       signature=f"{st.st_size}:{st.st_mtime_ns}"))
    return SourceScan(sources=list(sources), scope=str(paths.notes))
