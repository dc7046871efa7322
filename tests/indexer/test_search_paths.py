"""The fast search paths give LanceDB's own answers: in-memory vectors (same rows, scores,
filters as its flat search) and async BM25 (same rows and scores as its sync full-text query)."""

from __future__ import annotations

import hashlib
import random
import time

import numpy as np
import pytest
from lancedb.query import MatchQuery

from indexer import text_search, vector_cache
from indexer.build import build_incremental
from indexer.embedder import HashingEmbedder
from indexer.filters import Filter, as_filters, to_sql
from indexer.registry import table_spec
from indexer.search import Searcher
from indexer.tables import read_rows
from store.settings import Settings

from .conftest import MemorySources

WORDS = ("player cash trade buy sell rug tick price leaderboard position short long side bet "
         "game start end update state server client sent received balance amount bonus real "
         "portion multiplier crash peak round chat pnl fee").split()
NAMES = ["playerUpdate", "gameStateUpdate", "standard/newTrade", "sideBet", "it's_50%"]
QUERIES = ["player cash balance", "rug crash price", "side bet amount", "short position bonus",
           "zzz unknown words"]


def _events(rng: random.Random, n: int, start: int) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    out = []
    for i in range(start, start + n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + f" w{i}"
        meta = {"event_name": rng.choice(NAMES), "doc_type": rng.choice(["ws_event", "game_tick"]),
                "date": f"2025-12-{rng.randint(10, 20)}", "kind": rng.choice(["trade", "card"])}
        if i % 7 == 0:
            del meta["event_name"]  # NULL column values never match, not even `!=`
        out.append((f"e{i}", text, meta))
    return out


def _notes(rng: random.Random, n: int) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    out = []
    for i in range(n):
        meta: dict[str, object] = {"topic": rng.choice(["cash field", "rug timing", "50%_off"]),
                                   "tags": rng.sample(["cash", "rug", "ws", "pnl"],
                                                      rng.randint(0, 3))}
        if i % 9 == 0:
            del meta["tags"]
        out.append((f"n{i}", " ".join(rng.choice(WORDS) for _ in range(6)) + f" n{i}", meta))
    return out


EVENT_FILTERS: list[list[str | Filter]] = [
    [], ["event_name=playerUpdate"], ["event_name!=playerUpdate"],
    ["event_name=playerUpdate,sideBet"], ["event_name^=standard/"], ["event_name^=it's_5"],
    ["event_name^=it's%"], ["event_name~=Update"], ["date>=2025-12-15"], ["date<2025-12-15"],
    ["date>2025-12-15", "date<=2025-12-18", "kind=trade"], ["doc_type=nothing"],
    [Filter("event_name", "in", ["it's_50%", "sideBet"])], ["source^=s/1"], ["id=e3"],
]
NOTE_FILTERS: list[list[str | Filter]] = [
    [], ["tags~=cash"], ["tags=cash,rug"], ["tags!=cash"], ["topic^=50%_"], ["topic~=ru"],
]


class GaussianWords(HashingEmbedder):
    """Sum of a seeded Gaussian vector per word: like the hash embedder, but cosine ties
    (frequent with its integer counts) are practically impossible, so ranks are comparable."""

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim)
        for w in text.lower().split():
            seed = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            vec += np.random.default_rng(seed).standard_normal(self.dim)
        return list(vec / np.linalg.norm(vec))


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return GaussianWords(64)


@pytest.fixture
def tables(settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> Settings:
    rng = random.Random(7)
    for day in range(3):
        mem.docs[f"s/{day}"] = _events(rng, 150, 150 * day)
    build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    notes = MemorySources(docs={"notes/a": _notes(rng, 80)})
    build_incremental(settings, "debug_notes", embedder=fake_embedder,
                      spec=notes.spec("debug_notes"))
    return settings


def _same(a: list, b: list) -> None:  # type: ignore[type-arg]
    assert [r.chunk_id for r in a] == [r.chunk_id for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.score == pytest.approx(y.score, abs=1e-6)
        assert x.vector_score == pytest.approx(y.vector_score, abs=1e-6)
        assert (x.text, x.source, x.metadata) == (y.text, y.source, y.metadata)


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_memory_path_returns_what_lancedb_flat_search_returns(
        tables: Settings, fake_embedder: HashingEmbedder, mode: str) -> None:
    cached = Searcher(tables, fake_embedder)
    lance = Searcher(tables, fake_embedder, vector_cache_rows=0)
    cases = [("events", f) for f in EVENT_FILTERS] + [("debug_notes", f) for f in NOTE_FILTERS]
    for table, flts in cases:
        for q in QUERIES:
            for k in (1, 10, 60):
                got = cached.search(q, table=table, k=k, mode=mode, filters=flts)
                _same(got, lance.search(q, table=table, k=k, mode=mode, filters=flts))
    assert cached._vectors._snaps.keys() == {"events", "debug_notes"}
    assert not lance._vectors._snaps


def test_filters_on_cached_columns_select_the_rows_lancedb_selects(
        tables: Settings, fake_embedder: HashingEmbedder) -> None:
    s = Searcher(tables, fake_embedder)
    for table, cases in (("events", EVENT_FILTERS), ("debug_notes", NOTE_FILTERS)):
        spec = table_spec(table)
        tbl = s.table(table)
        assert tbl is not None
        snap = s._vectors.get(table, tbl, [c for c, _ in spec.columns])
        assert snap is not None
        ids = snap.rows.column("id").to_pylist()
        for flts in cases:
            fl = as_filters(flts)
            where = to_sql(fl, spec.column_kinds)
            expected = set(read_rows(tbl, where, ["id"]).column("id").to_pylist())
            mask = snap.mask(fl, spec.column_kinds)
            got = set(ids) if mask is None else {i for i, m in zip(ids, mask, strict=True) if m}
            assert got == expected, flts


def test_new_versions_are_seen_and_big_tables_go_to_lancedb(
        tables: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> None:
    s = Searcher(tables, fake_embedder)
    assert s.search("quokka", table="events", k=1, mode="vector")[0].chunk_id != "new"
    mem.docs["s/9"] = [("new", "quokka quokka", {"event_name": "quokka"})]
    build_incremental(tables, "events", embedder=fake_embedder, spec=mem.spec())
    (hit,) = s.search("quokka", table="events", k=1, mode="vector")
    assert hit.chunk_id == "new" and hit.vector_score == pytest.approx(1.0)
    small = Searcher(tables, fake_embedder, vector_cache_rows=100)  # events has 451 rows
    assert small.search("quokka", table="events", k=1, mode="vector")[0].chunk_id == "new"
    assert "events" not in small._vectors._snaps


def test_a_big_table_is_reloaded_in_the_background_while_lancedb_answers(
        tables: Settings, mem: MemorySources, fake_embedder: HashingEmbedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = Searcher(tables, fake_embedder)
    s.search("warm", table="events", mode="vector")
    old = s._vectors._snaps["events"]
    monkeypatch.setattr(vector_cache, "INLINE_RELOAD_ROWS", 10)
    mem.docs["s/9"] = [("new", "quokka quokka", {"event_name": "quokka"})]
    build_incremental(tables, "events", embedder=fake_embedder, spec=mem.spec())
    assert s.search("quokka", table="events", k=1, mode="vector")[0].chunk_id == "new"
    deadline = time.monotonic() + 10
    while s._vectors._snaps["events"] is old and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s._vectors._snaps["events"].version > old.version
    assert s.search("quokka", table="events", k=1, mode="vector")[0].chunk_id == "new"


def test_async_bm25_returns_what_the_sync_full_text_query_returns(
        tables: Settings, fake_embedder: HashingEmbedder) -> None:
    s = Searcher(tables, fake_embedder)
    cols = ["id", "text", "source", "metadata", "_score"]
    cases = [("events", f) for f in EVENT_FILTERS] + [("debug_notes", f) for f in NOTE_FILTERS]
    found = 0
    for table, flts in cases:
        tbl = s.table(table)
        assert tbl is not None
        where = to_sql(as_filters(flts), table_spec(table).column_kinds)
        for q in QUERIES + ["it's 50% \"quoted\" AND OR NOT (x"]:
            got = text_search.start(s.paths.vectors, table, q, 20, where, cols).result()
            sync = tbl.search(MatchQuery(q, "text"), query_type="fts")  # type: ignore[call-arg]
            if where:
                sync = sync.where(where, prefilter=True)
            assert got.to_pylist() == sync.limit(20).select(cols).to_arrow().to_pylist()
            found += got.num_rows
    assert found > 500


def test_hybrid_results_carry_both_scores_of_every_candidate_on_either_path(
        tables: Settings, fake_embedder: HashingEmbedder) -> None:
    for searcher in (Searcher(tables, fake_embedder),
                     Searcher(tables, fake_embedder, vector_cache_rows=0)):
        for q in QUERIES:
            for r in searcher.search(q, table="events", k=10, mode="hybrid"):
                # BM25-only candidates carry their real cosine (filled fusion)
                assert r.vector_score is not None, (q, r.chunk_id)
