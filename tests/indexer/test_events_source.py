"""The events table's sources over a real store: signatures, claims, incremental builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from indexer.build import build_full, build_incremental
from indexer.events_source import game_facts, partition_rows, scan_sources
from indexer.search import Searcher
from store.paths import DataPaths
from store.settings import Settings
from store.validation import set_validation
from store.writer import EventWriter
from tests.event_store import fill_store


def hashed(settings: Settings) -> Settings:
    return settings.with_(model_id="hash:64")


@pytest.fixture
def store(tmp_path: Path) -> Settings:
    return hashed(fill_store(tmp_path / "data"))


def all_chunks(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for src in scan_sources(settings).sources:
        for c in src.chunks():
            assert c.chunk_id not in out, f"{c.chunk_id} produced twice"
            assert c.source == src.key
            out[c.chunk_id] = c
    return out


def test_sources_are_the_catalog_and_one_games_and_notable_source_per_day(
        store: Settings) -> None:
    keys = [s.key for s in scan_sources(store).sources]
    assert keys[0] == "catalog"
    assert "games/date=2025-11-08" in keys and "games/date=2025-12-14" in keys
    assert "notable/date=2025-12-15" in keys
    again = {s.key: s.signature for s in scan_sources(store).sources}
    assert again == {s.key: s.signature for s in scan_sources(store).sources}


def test_every_kind_of_chunk_comes_out_with_its_metadata(store: Settings) -> None:
    chunks = all_chunks(store)
    kinds = {c.metadata["kind"] for c in chunks.values()}
    assert {"schema_card", "schema_field", "game_summary", "trade", "rug", "player_state",
            "client_request", "system_event"} <= kinds
    legacy = chunks["game:20251108-3806a73c6c404176"]
    assert legacy.metadata["event_name"] == "game_end" and "incomplete_reason disconnect" \
        in legacy.text
    for c in chunks.values():
        assert {"doc_type", "event_name", "game_id", "date", "ts"} <= set(c.metadata)
    # no plain tick is ever a chunk
    assert not any(c.metadata["kind"] == "tick" for c in chunks.values())


def test_adding_a_day_changes_only_the_sources_that_read_it(store: Settings) -> None:
    before = {s.key: s.signature for s in scan_sources(store).sources}
    set_validation(DataPaths(store.data_dir), "playerUpdate", "verified", by="t")
    after = {s.key: s.signature for s in scan_sources(store).sources}
    assert [k for k in after if after[k] != before.get(k)] == ["catalog"]


def _event(day: str, seq: int, **over: Any) -> dict[str, Any]:
    ev = {"doc_type": "game_tick", "event_name": "tick", "ts": f"{day}T10:00:{seq:02d}",
          "source": "legacy", "direction": "received", "session_id": "t", "seq": seq,
          "game_id": "20251101-00000000000000aa"}
    ev.update(over)
    ev.setdefault("raw_json", json.dumps({"type": ev["event_name"], "seq": seq}))
    return ev


def test_a_game_is_claimed_by_the_day_of_its_first_row_even_if_its_end_is_days_later(
        tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "data", model_id="hash:64")
    end = {"type": "game_end", "game_id": "20251101-00000000000000aa", "total_ticks": 2,
           "peak_price": 1.5, "status": "complete"}
    with EventWriter.open(settings) as w:
        w.write_many([_event("2025-11-01", i, tick=i, price=1 + i / 2, phase="ACTIVE_GAMEPLAY")
                      for i in range(2)])
        raw = json.dumps(end)
        w.write_many([_event("2025-11-04", 5, doc_type="system_event", event_name="game_end",
                             raw_json=raw),
                      _event("2025-11-04", 5, doc_type="complete_game", event_name="game_end",
                             raw_json=raw, event_id="game:20251101-00000000000000aa")])
    paths = DataPaths(settings.data_dir)
    assert [g.game_id for g in game_facts(paths, "2025-11-01")] == ["20251101-00000000000000aa"]
    assert game_facts(paths, "2025-11-04") == []
    chunks = all_chunks(settings)
    text = chunks["game:20251101-00000000000000aa"].text
    assert "peak_price 1.5" in text and "status complete" in text
    assert ("game_tick", "2025-11-01") in partition_rows(paths)


def test_incremental_build_embeds_only_what_changed(store: Settings) -> None:
    first = build_incremental(store, "events")
    assert first.embedded > 0 and first.rows == first.chunks_written
    noop = build_incremental(store, "events")
    assert noop.noop and noop.embedded == 0
    set_validation(DataPaths(store.data_dir), "playerUpdate", "verified", "checked", by="t")
    again = build_incremental(store, "events")
    assert again.sources_changed == 1 and again.embedded == 1  # the about card only
    hits = Searcher(store).search("what fields are in playerUpdate", table="events", k=5,
                                  filters={"event_name": "playerUpdate"})
    assert hits and all(h.metadata["event_name"] == "playerUpdate" for h in hits)
    assert {h.metadata["validation"] for h in hits} == {"verified"}


def test_cards_are_the_same_from_the_cached_and_a_fresh_catalog(store: Settings) -> None:
    from chunkers.schema_cards import schema_cards
    from store.catalog import catalog_from_store

    paths = DataPaths(store.data_dir)
    fresh = schema_cards(catalog_from_store(paths, use_cache=False))
    catalog_from_store(paths)  # writes the cache
    cached = schema_cards(catalog_from_store(paths))
    assert [(c.chunk_id, c.text) for c in cached] == [(c.chunk_id, c.text) for c in fresh]


DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "protocol_docs"


def test_protocol_docs_are_sources_of_their_own_indexed_incrementally(
        store: Settings, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "docs"
    shutil.copytree(DOCS, root)
    spec = root / "claude-flow" / "knowledge" / "rugs-events" / "WEBSOCKET_EVENTS_SPEC.md"
    (root / "FAQ.md").write_text("# FAQ\n\n## House edge\n\nRoughly 0.05% per tick.\n")
    docs = store.with_(protocol_docs=root)
    keys = {s.key for s in scan_sources(docs).sources}
    assert {str(spec), str(root / "FAQ.md")} <= keys
    first = build_incremental(docs, "events")
    hits = Searcher(docs).search("house edge per tick", table="events", k=3, mode="text")
    assert hits[0].source == str(root / "FAQ.md") and hits[0].metadata["kind"] == "doc_section"
    sections = Searcher(docs).search("requestSidebet xPayout", table="events", k=10,
                                     filters={"kind": "doc_section"}, mode="text")
    assert any(h.metadata["event_name"] == "requestSidebet" for h in sections)
    assert build_incremental(docs, "events").noop  # nothing new: nothing done

    # An edited doc re-embeds its changed sections (and cards the docs feed), not the rest.
    (root / "FAQ.md").write_text("# FAQ\n\n## House edge\n\nRoughly 0.05% per tick (250 ms).\n")
    edited = build_incremental(docs, "events")
    assert 0 < edited.embedded < first.embedded / 4
    # A vanished doc's rows go; so do all doc rows when the docs root is unset. Both are
    # said, the second with the variable that would have kept them.
    (root / "FAQ.md").unlink()
    gone = build_incremental(docs, "events")
    assert gone.rows_deleted >= 1 and gone.sources_removed == 1
    assert gone.warnings == [
        f"removed the sections of 1 protocol doc file no longer under the protocol docs "
        f"root {root}"]
    unset = build_incremental(store, "events")
    assert unset.rows_deleted > 10
    said = " ".join(unset.warnings)
    assert "no protocol docs root is set" in said and "RUGS_PROTOCOL_DOCS" in said
    assert f"under {root}" in said
    assert build_incremental(store, "events").warnings == []  # said once, not every build
    left = Searcher(store).search("requestSidebet", table="events", k=10, mode="text",
                                  filters={"kind": "doc_section"})
    assert left == []


def test_a_full_build_without_the_docs_root_says_it_drops_the_doc_sections(
        store: Settings) -> None:
    docs = store.with_(protocol_docs=DOCS)
    build_full(docs, "events")
    assert build_full(docs, "events").warnings == []
    unset = build_full(store, "events")
    said = " ".join(unset.warnings)
    assert "no protocol docs root is set" in said and f"under {DOCS}" in said
    assert build_full(store, "events").warnings == []  # the last build had none to drop


def test_an_unreadable_doc_keeps_its_rows(store: Settings, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    doc = root / "A.md"
    doc.write_text("# A\n\n## Part\n\nThe `playerUpdate` event carries `cash`.\n")
    docs = store.with_(protocol_docs=root)
    build_incremental(docs, "events")
    read = Path.read_bytes

    def failing(self: Path) -> bytes:
        if self == doc:
            raise PermissionError(13, "Permission denied")
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    scan = scan_sources(docs)
    assert any("cannot read" in w for w in scan.warnings) and not scan.owns(str(doc))
    report = build_incremental(docs, "events")
    assert report.rows_deleted == 0  # its sections stay searchable
