"""store.capture: format detection, exact payload text, trace unwrapping, wire event -> rows."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.capture import (
    LAYOUT_ARRAY,
    LAYOUT_JSONL,
    LAYOUT_OBJECT,
    WireEvent,
    detect_layout,
    doc_types_of,
    iter_document,
    map_event,
    parse_doc_item,
    parse_jsonl_line,
    parse_record,
    parse_tz,
)
from store.errors import IngestError, RecordRejected

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "ingest"
DATA = ROOT / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


# Lines of raw_excerpt.jsonl (see tests/fixtures/ingest/README.md)
CONNECT, MAINTENANCE, CHAT, TRADE, TICK, BLANK, BAD = range(7)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def events_of_line(line: str, n: int = 1, session: str = "s") -> list[WireEvent]:
    return parse_jsonl_line(line, session_id=session, line_no=n)


def one(line: str, n: int = 1) -> WireEvent:
    (ev,) = events_of_line(line, n)
    return ev


def by_type(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["doc_type"]: r for r in rows}


# -- payload text ---------------------------------------------------------------------------


def test_traced_payload_is_unwrapped_and_kept_byte_for_byte() -> None:
    line = lines_of(FIX / "raw_excerpt.jsonl")[TRADE]
    ev = one(line)
    assert ev.event_name == "standard/newTrade" and ev.traced
    assert ev.raw_json in line  # a slice of the original line, not a re-serialisation
    assert ev.raw_json.startswith('{"id": "a5c85252') and "__trace" not in ev.raw_json
    assert json.loads(ev.raw_json) == json.loads(line)["data"][1] == ev.payload


def test_a_bare_trace_of_the_cdp_recorder_is_kept_as_the_payload() -> None:
    line = lines_of(FIX / "cdp_excerpt.jsonl")[2]  # authenticate, sent
    ev = one(line)
    assert ev.event_name == "authenticate" and ev.direction == "sent" and ev.source == "cdp"
    assert ev.traced and json.loads(ev.raw_json) == {"__trace": True, "traceparent": ev.payload[
        "traceparent"]}


def test_null_data_is_stored_as_the_text_null() -> None:
    ev = one(lines_of(FIX / "raw_excerpt.jsonl")[CONNECT])
    assert ev.event_name == "connect" and ev.payload is None and ev.raw_json == "null"
    assert ev.seq == 1 and ev.direction == "received" and ev.source == "public_ws"


def test_payload_text_of_a_pretty_printed_document_is_its_original_slice() -> None:
    text = (FIX / "key_samples_excerpt.json").read_text()
    items = list(iter_document(io.StringIO(text)))
    assert [i.key for i in items] == ["06_trade_buy", "07_trade_sell"]
    ev = parse_doc_item(items[0], session_id="key_samples_excerpt")
    assert ev.raw_json in text and "\n" in ev.raw_json  # indentation kept as it was
    assert ev.ts == datetime.fromtimestamp(1770365083429 / 1000, tz=UTC)
    assert ev.seq == 1 and ev.source == "public_ws"


# -- mapping --------------------------------------------------------------------------------


def test_game_state_update_is_also_a_game_tick_with_typed_columns() -> None:
    rows = map_event(one(lines_of(FIX / "raw_excerpt.jsonl")[TICK]))
    tick = by_type(rows)["game_tick"]
    data = json.loads(lines_of(FIX / "raw_excerpt.jsonl")[TICK])["data"]
    assert tick["tick"] == data["tickCount"] and tick["price"] == data["price"]
    assert tick["active"] is data["active"] and tick["rugged"] is data["rugged"]
    assert tick["cooldown_timer"] == data["cooldownTimer"]
    assert tick["trade_count"] == data["tradeCount"]
    assert tick["game_id"] == data["gameId"]


def test_player_update_is_also_a_server_state_of_that_player() -> None:
    ev = one(lines_of(FIX / "cdp_excerpt.jsonl")[3])
    rows = by_type(map_event(ev))
    assert set(rows) == {"ws_event", "server_state"}
    st_ = rows["server_state"]
    assert st_["player_id"] == "did:privy:cmaibr7rt0094jp0mc2mbpfu4"
    assert st_["cash"] == 0.017619831 and st_["pnl"] == 0 and st_["position_qty"] == 0
    assert st_["avg_cost"] == 0 and st_["total_invested"] == 0 and st_["pnl_percent"] == 0


def test_a_received_trade_is_a_player_action_with_player_game_and_name() -> None:
    rows = by_type(map_event(one(lines_of(FIX / "raw_excerpt.jsonl")[TRADE])))
    act = rows["player_action"]
    assert act["action_type"] == "buy" and act["amount"] == 3 and act["qty"] == 3
    assert act["price"] == 1 and act["tick"] == 0
    assert act["player_id"] == "did:privy:cmb8sq5at0022js0mp6w3f5hh"
    assert act["game_id"] == "20251215-a8311c871b0e4bea" and act["username"] == "ehiwna"


def test_a_client_sent_order_is_a_player_action() -> None:
    line = json.dumps({"seq": 7, "ts": "2025-12-15T05:40:00+00:00", "event": "buyOrder",
                       "data": {"amount": 0.01}, "source": "cdp_intercept", "direction": "sent"})
    rows = by_type(map_event(one(line)))
    assert set(rows) == {"ws_event", "player_action"}
    assert rows["player_action"]["action_type"] == "buy"
    assert rows["player_action"]["direction"] == "sent" and rows["player_action"]["amount"] == 0.01
    side = json.dumps({"seq": 8, "ts": "2025-12-15T05:40:01+00:00", "event": "requestSidebet",
                       "data": None, "source": "cdp_intercept", "direction": "sent"})
    assert by_type(map_event(one(side)))["player_action"]["action_type"] == "sidebet"


def test_client_requests_and_lifecycle_events_are_system_events() -> None:
    cdp = [one(line) for line in lines_of(FIX / "cdp_excerpt.jsonl")]
    kinds = {ev.event_name: doc_types_of(ev) for ev in cdp}
    assert kinds["chatHistory"] == ("ws_event", "system_event")  # sent, data null
    assert kinds["getLeaderboard"] == ("ws_event", "system_event")
    assert kinds["authenticate"] == ("ws_event", "system_event")
    assert kinds["getPlayerLeaderboardPosition"] == ("ws_event", "system_event")
    connect = one(lines_of(FIX / "raw_excerpt.jsonl")[CONNECT])
    assert doc_types_of(connect) == ("ws_event", "system_event")
    chat = one(lines_of(FIX / "raw_excerpt.jsonl")[CHAT])  # only a ws_event
    assert doc_types_of(chat) == ("ws_event",)


def test_rows_of_one_wire_event_share_its_event_id() -> None:
    rows = map_event(one(lines_of(FIX / "raw_excerpt.jsonl")[TRADE]))
    assert len(rows) == 2 and len({r["event_id"] for r in rows}) == 1


def test_each_game_history_entry_becomes_a_complete_game() -> None:
    line = lines_of(FIX / "history_tick.jsonl")[0]
    ev = one(line, 2)
    games = [r for r in map_event(ev) if r["doc_type"] == "complete_game"]
    history = json.loads(line)["data"]["gameHistory"]
    assert [g["event_id"] for g in games] == [f"game:{h['id']}" for h in history]
    first, second = games
    assert first["ts"] == history[0]["timestamp"] and first["server_ts"] == history[0]["timestamp"]
    assert first["peak"] == history[0]["peakMultiplier"]
    assert first["duration_ticks"] == first["rug_tick"] == 4 and first["start_tick"] == 0
    assert first["final_price"] == history[0]["prices"][-1]
    assert first["trade_count"] == len(history[0]["globalTrades"])
    assert first["sidebet_count"] == len(history[0]["globalSidebets"]) == 1
    assert first["server_seed"] == history[0]["provablyFair"]["serverSeed"]
    # the entry's own text, sliced from the line: the recorder used json.dumps defaults
    assert first["raw_json"] in line and first["raw_json"] == json.dumps(history[0])
    assert second["duration_ticks"] is None and second["rug_tick"] is None  # no prices[]
    assert second["sidebet_count"] == 0 and first["event_name"] == "gameStateUpdate"


def test_identity_is_taken_from_the_payload_where_present() -> None:
    chat = by_type(map_event(one(lines_of(FIX / "raw_excerpt.jsonl")[CHAT])))["ws_event"]
    assert chat["username"] == "Connor" and chat["player_id"].startswith("did:privy:")
    assert chat["server_ts"] == 1765761432886  # the message's own epoch-ms timestamp


# -- formats and bad input --------------------------------------------------------------------


def test_layouts_are_detected_from_the_first_bytes() -> None:
    assert detect_layout((FIX / "raw_excerpt.jsonl").read_bytes()[:4096]) == LAYOUT_JSONL
    assert detect_layout((FIX / "array_excerpt.json").read_bytes()) == LAYOUT_ARRAY
    assert detect_layout((FIX / "key_samples_excerpt.json").read_bytes()) == LAYOUT_OBJECT
    with pytest.raises(IngestError, match="not a capture file"):
        detect_layout(b"timestamp,event\n1,2\n")
    with pytest.raises(IngestError, match="empty"):
        detect_layout(b"  \n")


def test_a_truncated_line_is_rejected_with_a_reason() -> None:
    bad = lines_of(FIX / "raw_excerpt.jsonl")[BAD]
    with pytest.raises(RecordRejected, match="not JSON"):
        events_of_line(bad)


def test_an_object_that_is_no_capture_record_is_rejected_naming_its_keys() -> None:
    with pytest.raises(RecordRejected, match="keys: a, b"):
        events_of_line('{"a": 1, "b": 2}')
    with pytest.raises(RecordRejected, match="ISO-8601"):
        events_of_line('{"seq": 1, "ts": "yesterday", "event": "x", "data": null}')
    with pytest.raises(RecordRejected, match="direction"):
        events_of_line('{"seq": 1, "ts": "2025-12-15T05:39:20Z", "event": "x", "data": 1,'
                       ' "source": "cdp_intercept", "direction": "up"}')


def test_a_one_line_key_samples_document_expands_to_its_samples() -> None:
    doc = json.loads((FIX / "key_samples_excerpt.json").read_text())
    evs = events_of_line(json.dumps(doc))
    assert [e.event_name for e in evs] == ["standard/newTrade", "standard/newTrade"]
    assert [e.seq for e in evs] == [1, 2]


def test_naive_timestamps_can_be_read_in_another_zone() -> None:
    line = lines_of(FIX / "raw_excerpt.jsonl")[CONNECT]
    utc = parse_record(line, session_id="s", position=1)
    est = parse_record(line, session_id="s", position=1, naive_tz=parse_tz("-05:00"))
    assert est.ts - utc.ts == timedelta(hours=5)
    assert parse_tz("America/New_York") is not None and parse_tz("UTC") is UTC
    with pytest.raises(IngestError, match="unknown time zone"):
        parse_tz("Mars/Olympus")


def test_a_document_with_a_syntax_error_stops_naming_the_line() -> None:
    text = '[\n{"seq": 1, "ts": "2025-12-14T20:17:11", "event": "connect", "data": null},\n{"se'
    items = iter_document(io.StringIO(text))
    assert next(items).line == 2
    with pytest.raises(IngestError, match="line 3"):
        next(items)


# -- round trips ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(payload=json_values, traced=st.booleans(), indent=st.sampled_from([None, 0, 2]),
       ascii_only=st.booleans(), seps=st.sampled_from([(", ", ": "), (",", ":")]))
def test_any_payload_round_trips_byte_for_byte(
    payload: Any, traced: bool, indent: int | None, ascii_only: bool, seps: tuple[str, str]
) -> None:
    dumps = dict(indent=indent, ensure_ascii=ascii_only,
                 separators=seps if indent is None else (",", ": "))
    payload_text = json.dumps(payload, **dumps)  # type: ignore[arg-type]
    trace = json.dumps({"__trace": True, "traceparent": "00-a-b-01"}, **dumps)  # type: ignore[arg-type]
    data_text = f"[{trace}, {payload_text}]" if traced else payload_text
    line = '{"seq": 5, "ts": "2025-12-14T20:17:11.142710", "event": "e", "data": ' + data_text + "}"
    ev = parse_record(line, session_id="s", position=1)
    assert ev.raw_json == payload_text
    assert json.loads(ev.raw_json) == ev.payload == json.loads(payload_text)


@settings(max_examples=40, deadline=None)
@given(chunk=st.integers(1, 300))
def test_documents_stream_the_same_items_whatever_the_read_size(chunk: int) -> None:
    text = (FIX / "array_excerpt.json").read_text()
    items = [(i.position, i.line, i.text[i.start : i.end])
             for i in iter_document(io.StringIO(text), chunk_chars=chunk)]
    whole = json.loads(text)
    assert [json.loads(t) for _, _, t in items] == whole
    assert [p for p, _, _ in items] == [1, 2] and items[0][1] == 2


# -- the real captures ------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("name", [
    "websocket_raw_samples.jsonl",
    "captures/2025-12-14_20-17-10_raw.jsonl",
    "captures/2025-12-15_00-39-17_cdp.jsonl",
])
def test_every_real_jsonl_record_parses_and_its_payload_is_a_slice_of_its_line(
    name: str,
) -> None:
    for n, line in enumerate(lines_of(DATA / name), 1):
        for ev in events_of_line(line, n):
            assert ev.raw_json in line
            data = json.loads(line)["data"]
            if isinstance(data, list) and isinstance(data[0], dict) and "__trace" in data[0]:
                assert ev.payload == data[1]
            else:
                assert ev.payload == data
            for row in map_event(ev):
                assert row["raw_json"] in line


@needs_data
def test_real_documents_are_detected_and_read_item_by_item() -> None:
    arr = DATA / "captures" / "2025-12-17_16-37-52_gameStatePlayerUpdate_samples.json"
    ks = DATA / "key-samples.json"
    assert detect_layout(arr.read_bytes()[:4096]) == LAYOUT_ARRAY
    assert detect_layout(ks.read_bytes()[:4096]) == LAYOUT_OBJECT
    with open(arr) as fh:
        evs = [parse_doc_item(i, session_id=arr.stem) for i in iter_document(fh, 4096)]
    assert len(evs) == 20 and evs[0].seq == 2 and {e.event_name for e in evs} == {
        "gameStatePlayerUpdate"}
    assert all(e.payload["gameId"] for e in evs)
    with open(ks) as fh:
        evs = [parse_doc_item(i, session_id=ks.stem) for i in iter_document(fh, 8192)]
    assert len(evs) == 11
    games = {r["event_id"] for e in evs for r in map_event(e) if r["doc_type"] == "complete_game"}
    assert len(games) == 10  # the same ~10 finished games repeat on the transition ticks


@needs_data
def test_real_cdp_trades_without_payload_still_are_player_actions() -> None:
    lines = lines_of(DATA / "captures" / "2025-12-15_00-39-17_cdp.jsonl")
    trades = [one(line) for line in lines if '"standard/newTrade"' in line]
    assert len(trades) == 14
    for ev in trades:
        act = by_type(map_event(ev))["player_action"]
        assert act["action_type"] is None and act["player_id"] is None  # only the trace came
