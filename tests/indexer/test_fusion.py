"""Hybrid fusion: filled and relative score fusion keep score gaps, RRF only ranks."""

from __future__ import annotations

import pytest

from indexer.errors import IndexerError
from indexer.search import SCALE_DEPTH, SearchResult, fuse


def _hit(cid: str, v: float | None, t: float | None) -> SearchResult:
    return SearchResult(table="code_context", score=0.0, text=cid, source=cid, metadata={},
                        chunk_id=cid, mode="hybrid", vector_score=v, text_score=t)


def test_a_clear_vector_winner_beats_weak_keyword_noise_under_relative_fusion() -> None:
    hits = [_hit("answer", 0.80, None), _hit("v2", 0.40, None), _hit("v3", 0.39, None),
            _hit("noise1", None, 2.1), _hit("noise2", None, 2.0), _hit("noise3", None, 1.9)]
    fuse(hits, ["answer", "v2", "v3"], ["noise1", "noise2", "noise3"], "relative")
    ranked = sorted(hits, key=lambda h: h.score, reverse=True)
    assert ranked[0].chunk_id in {"answer", "noise1"}
    assert {h.chunk_id: h.score for h in hits}["answer"] == pytest.approx(0.5)
    assert {h.chunk_id: h.score for h in hits}["v2"] > {h.chunk_id: h.score for h in hits}[
        "noise3"]  # a close second of one list is not sunk by the other list's tail


def test_rrf_sums_reciprocal_ranks_so_a_hit_of_both_lists_ranks_first() -> None:
    hits = [_hit("both", 0.7, 3.0), _hit("vec", 0.9, None), _hit("txt", None, 5.0)]
    fuse(hits, ["vec", "both"], ["txt", "both"], "rrf")
    scores = {h.chunk_id: h.score for h in hits}
    assert scores == pytest.approx({"both": 2 / 62, "vec": 1 / 61, "txt": 1 / 61})


def test_an_unknown_fusion_is_a_clear_error() -> None:
    with pytest.raises(IndexerError, match="unknown hybrid fusion"):
        fuse([_hit("a", 0.5, None)], ["a"], [], "borda")


def test_filled_fusion_scores_a_vector_winner_by_its_deeper_bm25_score_above_short_cards(
) -> None:
    # The long field-list card: clear vector winner, BM25 only 11th (1.19 from the deeper
    # list); short cards: BM25 2.2-2.3 all within 5%, cosines well behind.
    # Another vector hit matches none of the words (no BM25 score: 0).
    hits = [_hit("overview", 0.81, 1.19), _hit("card1", 0.70, 2.29), _hit("card2", 0.69, 2.20),
            _hit("card3", 0.67, 2.17), _hit("other", 0.66, None)]
    vec = ["overview", "card1", "card2", "card3", "other"]
    fuse(hits, vec, ["card1", "card2", "card3"], "filled")
    ranked = sorted(hits, key=lambda h: h.score, reverse=True)
    assert ranked[0].chunk_id == "overview"
    # Under `relative` the same lists put a short card first (the winner's BM25 counted 0).
    fuse(hits, vec, ["card1", "card2", "card3"], "relative")
    assert max(hits, key=lambda h: h.score).chunk_id == "card1"


def test_filled_fusion_counts_no_keyword_match_as_zero_and_clips_cosines_below_the_list() -> None:
    hits = [_hit("v1", 0.8, None), _hit("v2", 0.4, None), _hit("t1", 0.1, 3.0)]
    fuse(hits, ["v1", "v2"], ["t1"], "filled")
    scores = {h.chunk_id: h.score for h in hits}
    assert scores == pytest.approx({"v1": 0.5, "v2": 0.0, "t1": 0.5})


def test_filled_fusion_scales_a_weak_table_by_the_best_cosine_of_every_table() -> None:
    alone = [_hit("a", 0.45, 2.0), _hit("b", 0.40, 1.0)]
    fuse(alone, ["a", "b"], ["a", "b"], "filled")
    assert alone[0].score == pytest.approx(1.0)
    beside = [_hit("a", 0.45, 2.0), _hit("b", 0.40, 1.0)]
    fuse(beside, ["a", "b"], ["a", "b"], "filled", vector_hi=0.80)  # another table's best
    assert beside[0].score == pytest.approx(0.5 + 0.5 * 0.05 / 0.40)


@pytest.mark.parametrize("fusion", ["filled", "relative"])
def test_candidates_below_the_scale_depth_do_not_move_the_scores_of_the_top(fusion: str) -> None:
    top_v = [f"v{i}" for i in range(SCALE_DEPTH)]
    top_t = [f"t{i}" for i in range(SCALE_DEPTH)]

    def hits(extra: int) -> list[SearchResult]:
        out = [_hit(c, 0.9 - 0.02 * i, 1.0 + 0.1 * i) for i, c in enumerate(top_v)]
        out += [_hit(c, 0.3 + 0.01 * i, 5.0 - 0.2 * i) for i, c in enumerate(top_t)]
        out += [_hit(f"deep{i}", 0.2 - 0.001 * i, 1.0 - 0.01 * i) for i in range(extra)]
        return out

    shallow, deep = hits(0), hits(40)
    deep_v = top_v + [f"deep{i}" for i in range(40)]
    deep_t = top_t + [f"deep{i}" for i in range(40)]
    fuse(shallow, top_v, top_t, fusion)
    fuse(deep, deep_v, deep_t, fusion)
    assert {h.chunk_id: h.score for h in deep[:2 * SCALE_DEPTH]} == pytest.approx(
        {h.chunk_id: h.score for h in shallow})
    assert all(0.0 <= h.score <= 1.0 for h in deep)
