"""Hybrid fusion: relative score fusion keeps score gaps, RRF only ranks."""

from __future__ import annotations

import pytest

from indexer.errors import IndexerError
from indexer.search import SearchResult, fuse


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
