"""Search: vector, full-text and hybrid per table; filters; cross-table; notes as reasoning."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from indexer import build as build_mod
from indexer.build import build_full, build_incremental
from indexer.embedder import HashingEmbedder
from indexer.errors import (
    InvalidFilterError,
    InvalidQueryError,
    TableLayoutError,
    TableNotBuiltError,
)
from indexer.filters import Filter
from indexer.notes import add_note
from indexer.registry import TABLE_FORMAT_VERSION
from indexer.search import MAX_K, REASONING_CAVEAT, Searcher
from store.settings import Settings

from .conftest import MemorySources


@pytest.fixture
def built(settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> Searcher:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    mem.docs["ws_event/2025-12-14"] = [
        ("e1", "Player update (playerUpdate): cash is the balance", {
            "event_name": "playerUpdate", "doc_type": "server_state", "date": "2025-12-14"}),
        ("e2", "New trade (standard/newTrade): a buy or a sell", {
            "event_name": "standard/newTrade", "doc_type": "player_action",
            "date": "2025-12-14"}),
    ]
    mem.docs["ws_event/2025-12-15"] = [
        ("e3", "Game state update (gameStateUpdate): price and tick", {
            "event_name": "gameStateUpdate", "doc_type": "game_tick", "date": "2025-12-15"}),
    ]
    build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    add_note(settings, "cash field", "We believe playerUpdate cash excludes open positions.",
             ["playerupdate", "cash"], "claude", embedder=fake_embedder)
    return Searcher(settings, fake_embedder)


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_each_mode_finds_the_matching_section(built: Searcher, mode: str) -> None:
    res = built.search("exit code blocks the tool call", table="code_context", k=3, mode=mode)
    assert res[0].metadata["heading"] == "Hooks — CONTEXT > Exit codes"
    assert res[0].source.endswith("hooks/CONTEXT.md")
    assert res[0].table == "code_context" and res[0].mode == mode
    assert [r.score for r in res] == sorted((r.score for r in res), reverse=True)


def test_hybrid_results_carry_both_component_scores(built: Searcher) -> None:
    (r, *_) = built.search("exit code blocks the tool call", table="code_context", k=3)
    assert r.vector_score is not None and r.text_score is not None
    d = r.to_dict()
    assert {"table", "score", "text", "source", "metadata"} <= d.keys()


def test_filters_narrow_results_by_metadata_columns(built: Searcher) -> None:
    res = built.search("cash balance trade", table="events", k=10,
                       filters={"event_name": "standard/newTrade"})
    assert [r.chunk_id for r in res] == ["e2"]
    res = built.search("update", table="events", k=10, filters=["date>=2025-12-15"])
    assert [r.chunk_id for r in res] == ["e3"]
    res = built.search("update", table="events", k=10,
                       filters=[Filter("event_name", "in", ["playerUpdate", "gameStateUpdate"])])
    assert {r.chunk_id for r in res} == {"e1", "e3"}
    res = built.search("decisions", table="code_context", k=10, filters=["path^=store/"])
    assert res and all(r.metadata["path"] == "store/CONTEXT.md" for r in res)
    res = built.search("cash", table="debug_notes", filters=["tags~=cash"])
    assert len(res) == 1
    assert built.search("cash", table="debug_notes", filters=["tags~=nothing"]) == []


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_asking_for_more_results_keeps_the_first_ones_in_the_same_order(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder,
        mode: str) -> None:
    words = [f"{w}{n}" for w in ("cash", "price", "rug", "pool", "seed", "coin", "bet", "tick")
             for n in ("", "s", "x", "y", "z")]
    mem.docs["ws_event/2025-12-14"] = [
        (f"e{i}", " ".join(random.Random(i).choices(words, k=3 + i % 13)),
         {"event_name": f"event{i % 9}", "doc_type": "ws_event", "date": "2025-12-14"})
        for i in range(150)]
    build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    s = Searcher(settings, fake_embedder)
    for query in ("cash price of the rug", "pools seeds coins", "bet on the tick"):
        many = [r.chunk_id for r in s.search(query, table="events", k=60, mode=mode)]
        few = [r.chunk_id for r in s.search(query, table="events", k=5, mode=mode)]
        assert many[:5] == few


def test_quotes_in_filter_values_are_data_not_sql(built: Searcher) -> None:
    res = built.search("update", table="events", filters={"event_name": "x' OR '1'='1"})
    assert res == []


def test_unknown_filter_column_and_bad_syntax_are_clear_errors(built: Searcher) -> None:
    with pytest.raises(InvalidFilterError, match="no column 'bogus'.*event_name"):
        built.search("x", table="events", filters={"bogus": "1"})
    with pytest.raises(InvalidFilterError, match="column=value"):
        built.search("x", table="events", filters=["no operator here"])


def test_cross_table_search_leaves_debug_notes_out_unless_asked(built: Searcher) -> None:
    res = built.search("playerUpdate cash", k=20)
    assert {r.table for r in res} == {"events", "code_context"}
    res = built.search("playerUpdate cash", k=20, include_notes=True)
    assert "debug_notes" in {r.table for r in res}


def test_cross_table_filters_apply_to_tables_having_the_column(built: Searcher) -> None:
    res = built.search("update", k=20, filters={"event_name": "playerUpdate"})
    assert [r.chunk_id for r in res] == ["e1"]


def test_debug_note_results_are_marked_as_reasoning_not_ground_truth(built: Searcher) -> None:
    (r,) = built.search("cash positions", table="debug_notes")
    assert r.reasoning
    d = r.to_dict()
    assert d["reasoning"] is True and d["caveat"] == REASONING_CAVEAT
    assert d["metadata"]["topic"] == "cash field" and d["metadata"]["author"] == "claude"
    (e, *_) = built.search("cash", table="events")
    assert not e.reasoning and "caveat" not in e.to_dict()


def test_search_on_an_unbuilt_table_says_how_to_build_it(settings: Settings,
                                                          fake_embedder: HashingEmbedder) -> None:
    with pytest.raises(TableNotBuiltError, match="replayer index build --table events"):
        Searcher(settings, fake_embedder).search("x", table="events")
    with pytest.raises(TableNotBuiltError, match="replayer index build"):
        Searcher(settings, fake_embedder).search("x")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"query": "  "}, "empty query"), ({"query": "x", "k": 0}, "k must be"),
    ({"query": "x", "k": MAX_K + 1}, "k must be"), ({"query": "x", "mode": "fuzzy"}, "mode"),
])
def test_bad_queries_are_refused_with_a_reason(built: Searcher, kwargs: dict,  # type: ignore[type-arg]
                                               match: str) -> None:
    with pytest.raises(InvalidQueryError, match=match):
        built.search(table="code_context", **kwargs)


def test_vector_search_with_another_model_is_refused(built: Searcher, settings: Settings) -> None:
    other = Searcher(settings, HashingEmbedder(32))
    with pytest.raises(InvalidQueryError, match="built with model 'hash:64'"):
        other.search("x", table="code_context", mode="vector")
    assert other.search("exit code", table="code_context", mode="text")  # no vectors needed


def test_a_searcher_sees_rows_committed_after_it_opened(built: Searcher, settings: Settings,
                                                        ctx_root: Path,
                                                        fake_embedder: HashingEmbedder) -> None:
    assert built.search("zebra migration", table="code_context", mode="text") == []
    (ctx_root / "hooks" / "CONTEXT.md").write_text("# Hooks\n\n## Zebra\nzebra migration\n")
    build_incremental(settings, "code_context", embedder=fake_embedder)
    res = built.search("zebra migration", table="code_context", mode="text")
    assert res and res[0].metadata["heading"] == "Hooks > Zebra"


@pytest.mark.slow
def test_real_model_ranks_the_answering_context_file_first(
        tmp_path: Path, shared_data: Path, real_embedder: HashingEmbedder) -> None:
    s = Settings(data_dir=tmp_path / "data", context_roots=(shared_data / "context_md",))
    r = build_incremental(s, "code_context", embedder=real_embedder)
    assert r.sources == 30 and r.embedded <= r.rows
    searcher = Searcher(s, real_embedder)
    # plain questions whose answer sits in one file's section (not from the eval set)
    cases = {
        "what exit code should a hook use to block": "claude-flow/hooks/CONTEXT.md",
        "which ChromaDB database stores the RAG vectors": "claude-flow/rag-pipeline",
        "pydantic models for websocket events with decimal money": "src/models/events",
    }
    for question, where in cases.items():
        top = searcher.search(question, table="code_context", k=5)
        assert any(where in x.source for x in top), (question, [x.source for x in top])


def _old_layout_events(settings: Settings, mem: MemorySources,
                       fake_embedder: HashingEmbedder) -> None:
    """An events table as events-1 built it: before the `events` and `path` columns."""
    spec = mem.spec(version="events-1")
    old = dataclasses.replace(spec, columns=tuple(
        c for c in spec.columns if c[0] not in ("events", "path")))
    mem.docs["k"] = [("e1", "playerUpdate: cash is the balance", {"event_name": "playerUpdate"})]
    build_incremental(settings, "events", embedder=fake_embedder, spec=old)


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_a_table_of_an_older_row_layout_is_refused_with_the_rebuild_command(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder,
        mode: str) -> None:
    _old_layout_events(settings, mem, fake_embedder)
    with pytest.raises(TableLayoutError, match=r"older replayer \(no column events, path\).*"
                       r"replayer index build --full --table events"):
        Searcher(settings, fake_embedder).search("cash", table="events", mode=mode)


def test_an_incremental_build_over_an_older_layout_is_refused_and_a_full_build_repairs_it(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> None:
    _old_layout_events(settings, mem, fake_embedder)
    with pytest.raises(TableLayoutError, match="--full --table events"):
        build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    build_full(settings, "events", embedder=fake_embedder, spec=mem.spec())
    (hit,) = Searcher(settings, fake_embedder).search("cash", table="events")
    assert hit.chunk_id == "e1"


def test_a_table_of_a_newer_row_layout_is_refused_not_misread(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    mem.docs["k"] = [("e1", "playerUpdate: cash is the balance", {"event_name": "playerUpdate"})]
    monkeypatch.setattr(build_mod, "TABLE_FORMAT_VERSION", TABLE_FORMAT_VERSION + 1)
    build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    monkeypatch.undo()
    with pytest.raises(TableLayoutError, match=f"newer replayer \\(table format "
                       f"{TABLE_FORMAT_VERSION + 1}; this one reads up to {TABLE_FORMAT_VERSION}"):
        Searcher(settings, fake_embedder).search("cash", table="events")
