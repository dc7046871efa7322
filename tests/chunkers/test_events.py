"""Event chunkers: schema cards, game summaries, notable events (pure functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chunkers.chunk import dedupe
from chunkers.game_summaries import GameFacts, game_summary_chunk
from chunkers.notable import EventRow, notable_chunks
from chunkers.schema_cards import event_cards, schema_cards
from chunkers.vocabulary import path_words, title, words
from store.catalog import build_catalog
from store.spec import load_documented

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "protocol_docs"

TRACE = {"__trace": True, "traceparent": "00-1c995641e009e87229031ee3bdd317cb-f49b235078490b89-01"}
T0 = datetime(2025, 12, 15, 5, 39, 20, tzinfo=UTC)
TRADE = {"id": "40c140f3-39ec-45bd-979e-b162842fe190", "gameId": "20260206-003482fbeaae4ad5",
         "playerId": "did:privy:cmj0kekh0046il80bwjmpe31d", "price": 0.8209533756239946,
         "type": "short_close", "qty": 0, "tickIndex": 62, "coin": "solana",
         "amount": 0.208619772, "username": "BANDZDAGOD", "level": 11}
PLAYER = {"id": "did:privy:cmaibr7rt0094jp0mc2mbpfu4", "cash": 0.017619831, "positionQty": 0,
          "avgCost": 0, "cumulativePnL": 0, "levelInfo": {"level": 7, "xp": 549}}


def catalog_rows() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i in range(6):
        rows.append(("gameStateUpdate", "received", "ws_event", T0 + timedelta(seconds=i),
                     json.dumps({"active": True, "rugged": False, "cooldownTimer": 0,
                                 "price": 1 + i / 10, "tickCount": i,
                                 "provablyFair": {"serverSeedHash": "ab" * 32, "version": "v3"},
                                 "leaderboard": [{"id": "did:privy:x", "username": "a",
                                                  "pnl": 0.1, "level": 3}]}), "public_ws"))
    rows.append(("standard/newTrade", "received", "ws_event", T0, json.dumps([TRACE, TRADE]),
                 "public_ws"))
    rows.append(("playerUpdate", "received", "ws_event", T0, json.dumps(PLAYER), "cdp"))
    rows.append(("checkUsername", "sent", "ws_event", T0 + timedelta(seconds=7), "null", "cdp"))
    other_trace = {**TRACE,
                   "traceparent": "00-84ec83a787640f734d92269c2f3d85cb-3f9f82bab0d12d40-01"}
    rows.append(("usernameStatus", "received", "ws_event", T0 + timedelta(seconds=7.3),
                 json.dumps(other_trace), "cdp"))
    return rows


def test_plain_words_split_protocol_names() -> None:
    assert title("standard/newTrade") == "New trade"
    assert words("cumulativePnL") == "cumulative profit and loss (PnL)"
    assert words("godCandle50xMassiveJump") == "god candle 50x multiplier massive jump"
    assert path_words("gameHistory[].provablyFair.serverSeed") == (
        "game history (list) > provably fair > server seed")


def test_every_card_starts_with_the_event_name_in_plain_words() -> None:
    cards = schema_cards(build_catalog(catalog_rows()))
    for c in cards:
        name = c.metadata["event_name"]
        assert c.text.startswith(f"{title(name)} ({name})"), c.text[:80]
        assert c.metadata["kind"] in ("schema_card", "schema_field", "schema_shape")
        assert c.source == "catalog"


def test_every_field_path_is_named_on_some_card() -> None:
    cat = build_catalog(catalog_rows())
    text = " ".join(c.text for c in schema_cards(cat))
    for e in cat.events.values():
        for f in e.fields:
            leaf = f.path.rsplit(".", 1)[-1].removesuffix("[]")
            assert leaf in text, f.path


def test_a_field_card_gives_type_presence_examples_and_meaning() -> None:
    cat = build_catalog(catalog_rows())
    by_id = {c.chunk_id: c for c in schema_cards(cat, docs=load_documented(DOCS))}
    cash = by_id["schema:playerUpdate:field:cash"].text
    # the meaning is the spec's ("TRUE wallet balance"), type and example the data's
    assert "TRUE wallet balance" in cash and "A number" in cash and "0.01762" in cash
    price = by_id["schema:gameStateUpdate:field:price"]
    assert price.metadata["field"] == "price" and "range 1 to 1.5" in price.text
    # a small object is described on one card with its fields, not a card per field
    pf = by_id["schema:gameStateUpdate:field:provablyFair"].text
    assert "serverSeedHash" in pf and "version" in pf
    assert "schema:gameStateUpdate:field:provablyFair.version" not in by_id


def test_trace_only_events_say_their_payload_was_not_captured() -> None:
    cards = event_cards(build_catalog(catalog_rows()).events["usernameStatus"])
    assert len(cards) == 1
    text = cards[0].text
    assert "Payload not captured" in text and "Arrives as the reply to the client request "\
        "checkUsername" in text


def test_validation_status_is_on_the_overview_and_in_the_metadata() -> None:
    cat = build_catalog(catalog_rows())
    cat.events["playerUpdate"].validation = {"status": "verified", "by": "ana",
                                             "at": "2026-01-02T00:00:00+00:00", "note": "ok"}
    cards = event_cards(cat.events["playerUpdate"])
    assert "Validation: verified by ana on 2026-01-02: ok" in cards[0].text
    assert {c.metadata["validation"] for c in cards} == {"verified"}


def test_chunk_ids_are_unique_and_texts_identical_only_once() -> None:
    cards = schema_cards(build_catalog(catalog_rows()))
    assert len({c.chunk_id for c in cards}) == len(cards)
    assert len({c.text for c in cards}) == len(cards)
    twice = dedupe(cards + cards)
    assert twice == cards


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


def ev(i: int, name: str, data: object, *, doc_types: tuple[str, ...] = ("ws_event",),
       direction: str = "received", game_id: str | None = None,
       player_id: str | None = None, minutes: int = 0) -> EventRow:
    return EventRow(event_id=f"e{i}", event_name=name,
                    ts=T0 + timedelta(minutes=minutes, seconds=i), direction=direction,
                    source="cdp", doc_types=doc_types, raw_json=json.dumps(data),
                    game_id=game_id, player_id=player_id, partition="notable/date=2025-12-15")


def test_plain_ticks_are_never_chunked_and_a_rug_once_per_game() -> None:
    gid = "20251215-0229cacf684f458c"
    tick = {"gameId": gid, "active": True, "rugged": False, "price": 1.5, "tickCount": 98}
    rug = {"gameId": gid, "active": True, "rugged": True, "price": 0.02, "tickCount": 99,
           "partialPrices": {"startTick": 95, "endTick": 99, "values": {"98": 2.9, "99": 0.02}}}
    rows = [ev(1, "gameStateUpdate", tick, doc_types=("ws_event", "game_tick"), game_id=gid),
            ev(2, "gameStateUpdate", rug, doc_types=("ws_event", "game_tick"), game_id=gid),
            ev(3, "gameStateUpdate", rug, doc_types=("ws_event", "game_tick"), game_id=gid)]
    out = list(notable_chunks(rows))
    assert [c.metadata["kind"] for c in out] == ["rug"]
    assert "rug of game 20251215-0229cacf684f458c at tick 99" in out[0].text
    assert "crashed to 0.02x from 2.9x" in out[0].text


def test_trades_keep_the_first_and_the_largest_of_each_type_per_game() -> None:
    gid = "20260206-003482fbeaae4ad5"
    rows = [ev(i, "standard/newTrade", {**TRADE, "type": "buy", "amount": amt, "id": f"t{i}"},
               doc_types=("ws_event", "player_action"), game_id=gid)
            for i, amt in enumerate([0.1, 0.5, 3.0, 0.2], start=1)]
    rows.append(ev(9, "standard/newTrade", TRADE, doc_types=("ws_event", "player_action"),
                   game_id=gid))
    out = list(notable_chunks(rows))
    assert sorted(c.chunk_id for c in out) == ["event:e1", "event:e3", "event:e9"]
    short = next(c for c in out if c.chunk_id == "event:e9")
    assert short.text.startswith("New trade (standard/newTrade): short_close by BANDZDAGOD "
                                 "(level 11) in game 20260206-003482fbeaae4ad5 at tick 62")
    assert "amount 0.2086" in short.text and "did:privy" not in short.text
    assert short.metadata["game_id"] == gid and short.metadata["date"] == "2025-12-15"


def test_player_state_is_chunked_only_when_it_changed() -> None:
    pid = str(PLAYER["id"])
    rows = [ev(1, "playerUpdate", PLAYER, doc_types=("ws_event", "server_state"),
               player_id=pid),
            ev(2, "playerUpdate", PLAYER, doc_types=("ws_event", "server_state"),
               player_id=pid),
            ev(3, "playerUpdate", {**PLAYER, "cash": 0.5}, doc_types=("ws_event",
                                                                       "server_state"),
               player_id=pid)]
    out = list(notable_chunks(rows))
    assert [c.chunk_id for c in out] == ["event:e1", "event:e3"]
    assert all(c.metadata["kind"] == "player_state" for c in out)
    assert "cash 0.5" in out[1].text


def test_client_requests_and_system_events_are_kept_once_per_day() -> None:
    rows = [ev(1, "checkUsername", None, direction="sent", doc_types=("ws_event",
                                                                       "system_event")),
            ev(2, "checkUsername", None, direction="sent", doc_types=("ws_event",
                                                                       "system_event")),
            ev(3, "getLeaderboard", {"period": "7d"}, direction="sent",
               doc_types=("ws_event", "system_event")),
            ev(4, "connect", None, doc_types=("ws_event", "system_event")),
            ev(5, "game_start", {"type": "game_start"}, doc_types=("system_event",),
               game_id="20251108-3806a73c6c404176"),
            ev(6, "newChatMessage", {"message": "gm"})]
    out = list(notable_chunks(rows))
    assert [(c.chunk_id, c.metadata["kind"]) for c in out] == [
        ("event:e1", "client_request"), ("event:e3", "client_request"),
        ("event:e4", "system_event")]
    assert out[0].text.startswith("Check username (checkUsername), client request sent by "
                                  "the browser on 2025-12-15")
    assert "no payload (data null)" in out[0].text and "period 7d" in out[1].text


def test_side_bet_events_are_notable() -> None:
    out = list(notable_chunks([ev(1, "sidebetEventUpdate", [TRACE, {"status": "INACTIVE"}])]))
    assert len(out) == 1 and out[0].metadata["kind"] == "sidebet"
    assert "status INACTIVE" in out[0].text
