"""Canonical debug notes: versioned, append-only, fsynced JSONL under DataPaths.notes."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.errors import InvalidNoteError, SchemaVersionError
from store.notes import (
    append_note,
    iter_notes,
    make_note,
    notes_files,
    read_notes_file,
)
from store.paths import DataPaths


def test_note_round_trips_through_its_month_file(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    note = make_note("compaction", "Rewrite while readers run.", "Store, parquet ,store",
                     "claude", now=datetime(2025, 12, 3, 10, tzinfo=UTC))
    path = append_note(paths, note)
    assert path == tmp_path / "notes" / "notes-2025-12.jsonl"
    assert note.tags == ("parquet", "store")
    assert list(iter_notes(paths)) == [note]
    rec = json.loads(path.read_text())
    assert rec["v"] == 1 and rec["ts"] == "2025-12-03T10:00:00Z"


@settings(max_examples=40, deadline=None)
@given(topic=st.text(min_size=1, max_size=50).filter(lambda s: s.strip()),
       text=st.text(min_size=1, max_size=300).filter(lambda s: s.strip()),
       tags=st.lists(st.text(alphabet="abcxyz-", min_size=1, max_size=8), max_size=5))
def test_any_valid_note_reads_back_equal(tmp_path_factory: pytest.TempPathFactory, topic: str,
                                         text: str, tags: list[str]) -> None:
    paths = DataPaths(tmp_path_factory.mktemp("notes"))
    note = make_note(topic, text, tags, "me")
    append_note(paths, note)
    (back,) = list(iter_notes(paths))
    assert back == note


@pytest.mark.parametrize(("topic", "text", "match"), [
    ("", "x", "topic"), ("t", "   ", "text"), ("t" * 201, "x", "topic is longer"),
    ("t", "x" * 50_001, "at most 50000"),
])
def test_invalid_note_is_refused_and_nothing_is_written(tmp_path: Path, topic: str, text: str,
                                                        match: str) -> None:
    with pytest.raises(InvalidNoteError, match=match):
        append_note(DataPaths(tmp_path), make_note(topic, text))
    assert notes_files(DataPaths(tmp_path)) == []


def test_torn_last_line_is_skipped_and_the_next_note_still_lands(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    first = make_note("a", "first", now=datetime(2025, 12, 1, tzinfo=UTC))
    path = append_note(paths, first)
    with open(path, "a") as f:
        f.write('{"v": 1, "note_id": "torn", "ts": "2025-12-01T00:0')  # crash mid-write
    second = make_note("b", "second", now=datetime(2025, 12, 2, tzinfo=UTC))
    append_note(paths, second)
    content = read_notes_file(path)
    assert content.notes == [first, second]
    assert content.bad_lines == [2]


def test_newer_note_format_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes-2025-12.jsonl").write_text(
        '{"v": 9, "note_id": "n", "ts": "2025-12-01T00:00:00Z", "topic": "t", "text": "x"}\n')
    with pytest.raises(SchemaVersionError, match="version 9 is newer"):
        list(iter_notes(DataPaths(tmp_path)))


def test_concurrent_appends_all_land_on_their_own_lines(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    notes = [make_note(f"t{i}", f"text {i} " * 50) for i in range(40)]
    threads = [threading.Thread(target=append_note, args=(paths, n)) for n in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = {n.note_id for n in iter_notes(paths)}
    assert got == {n.note_id for n in notes}
