"""Game summaries: one short text per game from its facts and its records."""

from __future__ import annotations

from chunkers.game_summaries import GameFacts, game_summary_chunk
from tests.chunkers.event_samples import T0


def test_a_legacy_game_summary_names_its_record_fields() -> None:
    g = GameFacts(
        game_id="20251108-3806a73c6c404176", first_ts=T0, sources=["legacy"], ticks=46,
        min_tick=0, max_tick=45, peak_price=1.186, peak_tick=45, final_price=1.186,
        summary_event="game_end",
        summary={"type": "game_end", "timestamp": "2025-11-08T12:09:35.226708",
                 "game_id": "20251108-3806a73c6c404176", "total_ticks": 195,
                 "tick_range": [0, 45], "peak_price": 1.1861330829693686,
                 "final_price": 1.1861330829693686, "status": "incomplete",
                 "incomplete_reason": "disconnect"},
        records=[("game_start", {"type": "game_start", "session_game_number": 2})])
    c = game_summary_chunk(g, "games/date=2025-12-15")
    assert c.text.startswith("Game end (game_end) summary of game 20251108-3806a73c6c404176")
    for needle in ("peak_price 1.186 at tick 45", "incomplete_reason disconnect",
                   "total_ticks 195 (ticks 0–45)",
                   "legacy recording", "game_start session_game_number 2"):
        assert needle in c.text
    assert c.metadata == {"kind": "game_summary", "doc_type": "complete_game",
                          "event_name": "game_end", "game_id": "20251108-3806a73c6c404176",
                          "date": "2025-12-15", "ts": T0.isoformat()}


def test_a_live_game_summary_counts_sidebets_and_names_the_seed() -> None:
    entry = {"id": "20251215-3c3ebc6051054e71", "peakMultiplier": 2.04, "rugged": True,
             "prices": [1, 1.1, 0.01], "provablyFair": {"serverSeed": "1b0c1da3f961" + "0" * 52},
             "globalTrades": [],
             "globalSidebets": [{"type": "placed", "betAmount": 0.5},
                                {"type": "payout", "payout": 2.5}]}
    g = GameFacts(game_id=str(entry["id"]), first_ts=T0, summary_event="gameStateUpdate",
                  summary=entry, rug_tick=2, rug_price=0.01)
    text = game_summary_chunk(g, "games/date=2025-12-15").text
    assert "peakMultiplier 2.04" in text and "provablyFair.serverSeed 1b0c1da3f961" in text
    assert "prices[] 3 tick-by-tick prices" in text
    assert "globalSidebets 1 placed (0.5 SOL), 1 of 1 paid out won" in text
    assert "rugged at tick 2" in text


