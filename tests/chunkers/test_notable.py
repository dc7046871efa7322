"""Notable events: the rows a person asks about become chunks, repeats do not."""

from __future__ import annotations

import json
from datetime import timedelta

from chunkers.notable import EventRow, notable_chunks
from tests.chunkers.event_samples import PLAYER, T0, TRACE, TRADE


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

