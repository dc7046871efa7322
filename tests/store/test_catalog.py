"""The event catalog: pure over rows, and from a real store (cached, versioned)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.catalog import (
    Catalog,
    CatalogError,
    build_catalog,
    catalog_from_store,
    describe_event,
    walk,
)
from store.errors import SchemaVersionError
from store.paths import DataPaths
from store.payload import unwrap
from tests.event_store import LEGACY, fill_store, shared_data_files

TRACE = {"__trace": True, "traceparent": "00-1c995641e009e87229031ee3bdd317cb-f49b235078490b89-01"}


def row(name: str, data: object, ts: str = "2025-12-15T05:39:20", direction: str = "received",
        doc_type: str = "ws_event", source: str = "cdp") -> tuple[object, ...]:
    return (name, direction, doc_type, ts, json.dumps(data), source)


def test_traced_wire_form_is_unwrapped_so_fields_are_the_payloads_not_the_traces() -> None:
    cat = build_catalog([row("standard/newTrade", [TRACE, {"type": "buy", "amount": 0.1}])])
    paths = [f.path for f in cat.events["standard/newTrade"].fields]
    assert paths == ["amount", "type"]


def test_trace_only_payload_is_counted_but_reports_no_fields() -> None:
    cat = build_catalog([row("usernameStatus", TRACE), row("usernameStatus", TRACE)])
    e = cat.events["usernameStatus"]
    assert e.count == 2 and e.payload_kinds == {"trace_only": 2} and e.fields == []


def test_unwrap_tells_null_trace_only_and_several_arguments_apart() -> None:
    assert unwrap(None) == ("null", None)
    assert unwrap(TRACE) == ("trace_only", None)
    assert unwrap([TRACE]) == ("trace_only", None)
    assert unwrap([TRACE, 1, 2]) == ("array", [1, 2])


def test_paths_go_through_lists_and_collapse_numeric_and_id_keys() -> None:
    payload = {"gameHistory": [{"provablyFair": {"serverSeed": "ab"}, "prices": [1, 1.5]}],
               "partialPrices": {"values": {"125": 1.2, "126": 1.3}},
               "byPlayer": {"did:privy:cmaibr7rt0094jp0mc2mbpfu4": 3}}
    paths = set(walk(payload))
    assert {"gameHistory[].provablyFair.serverSeed", "gameHistory[].prices[]",
            "partialPrices.values.<n>", "byPlayer.<id>"} <= paths


def test_presence_types_examples_and_enumerations_come_from_the_rows() -> None:
    rows = [row("t", {"type": "buy", "amount": 1, "bonus": None}),
            row("t", {"type": "sell", "amount": 0.5}),
            row("t", {"type": "buy", "amount": 2}),
            row("t", {"type": "buy", "amount": 0.25, "bonus": 0.1}),
            row("t", {"type": "sell", "amount": 1}), row("t", {"type": "buy", "amount": 1})]
    e = build_catalog(rows).events["t"]
    amount, bonus, kind = e.get_field("amount"), e.get_field("bonus"), e.get_field("type")
    assert amount is not None and bonus is not None and kind is not None
    assert amount.types == {"integer": 4, "number": 2} and amount.presence == 1.0
    assert (amount.min, amount.max) == (0.25, 2)
    assert bonus.presence == pytest.approx(2 / 6, abs=1e-3)
    assert bonus.types == {"null": 1, "number": 1}
    assert kind.values == ["buy", "sell"]


def test_phase_of_the_last_tick_is_given_to_the_events_that_follow_it() -> None:
    rows = [row("gameStateUpdate", {"active": True, "rugged": False, "cooldownTimer": 0},
                ts="2025-12-15T05:39:20"),
            row("standard/newTrade", {"type": "buy"}, ts="2025-12-15T05:39:21"),
            row("gameStateUpdate", {"active": True, "rugged": True, "cooldownTimer": 0},
                ts="2025-12-15T05:39:22"),
            row("gameStateUpdate", {"active": False, "allowPreRoundBuys": True,
                                    "cooldownTimer": 9000}, ts="2025-12-15T05:39:30")]
    cat = build_catalog(rows)
    assert cat.events["standard/newTrade"].phases == {"ACTIVE": 1}
    assert cat.events["gameStateUpdate"].phases == {"ACTIVE": 1, "RUGGED": 1, "PRESALE": 1}


def test_a_received_event_named_like_a_client_request_is_recorded_as_its_reply() -> None:
    rows = [row("checkUsername", None, direction="sent", ts="2025-12-15T05:39:29.29"),
            row("usernameStatus", TRACE, ts="2025-12-15T05:39:29.63"),
            row("playerUpdate", {"cash": 1}, ts="2025-12-15T05:39:29.70")]
    cat = build_catalog(rows)
    assert cat.events["usernameStatus"].replies_to == {"checkUsername": 1}
    assert cat.events["checkUsername"].answered_by == {"usernameStatus": 1}
    assert cat.events["playerUpdate"].replies_to == {}


def test_derived_rows_of_one_wire_event_do_not_double_its_count_or_direction() -> None:
    data = {"cash": 0.5}
    cat = build_catalog([row("playerUpdate", data), row("playerUpdate", data,
                                                        doc_type="server_state")])
    e = cat.events["playerUpdate"]
    assert e.count == 1 and e.directions == {"received": 1}
    assert e.doc_types == {"server_state": 1, "ws_event": 1}


def test_describe_event_suggests_close_names_for_a_typo() -> None:
    cat = build_catalog([row("playerUpdate", {"cash": 1})])
    assert describe_event(cat, "playerupdate").event_name == "playerUpdate"
    with pytest.raises(CatalogError, match="did you mean playerUpdate"):
        describe_event(cat, "playerUpdat")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text("abcxyz", min_size=1, max_size=4), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b/c"]), _json), min_size=1, max_size=6))
def test_catalog_survives_a_json_round_trip(events: list[tuple[str, object]]) -> None:
    cat = build_catalog([row(n, d) for n, d in events])
    again = Catalog.from_dict(json.loads(json.dumps(cat.to_dict())))
    assert json.loads(json.dumps(again.to_dict())) == json.loads(json.dumps(cat.to_dict()))


# ----------------------------------------------------------------------------- real store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DataPaths:
    s = fill_store(tmp_path_factory.mktemp("catalog") / "data")
    return DataPaths(s.data_dir)


def test_playerupdate_fields_come_from_the_real_capture(store: DataPaths) -> None:
    e = describe_event(catalog_from_store(store), "playerUpdate")
    paths = {f.path for f in e.fields}
    assert {"cash", "positionQty", "avgCost", "cumulativePnL", "levelInfo.level"} <= paths
    assert e.get_field("cash").types == {"number": 3}  # type: ignore[union-attr]
    assert e.primary_doc_type == "ws_event" and e.doc_types == {"server_state": 3, "ws_event": 3}
    assert e.validation == {"status": "unverified"}


def test_legacy_records_are_in_the_catalog_under_their_own_type(store: DataPaths) -> None:
    cat = catalog_from_store(store)
    end = cat.events["game_end"]
    assert end.sources == {"legacy": 2}
    reason = end.get_field("incomplete_reason")
    assert reason is not None and reason.examples == ["disconnect"]
    assert end.get_field("peak_price") is not None
    assert "RUG_EVENT_1" in cat.events["tick"].phases


def test_trace_only_replies_in_the_cdp_capture_have_no_fields(store: DataPaths) -> None:
    cat = catalog_from_store(store)
    assert cat.events["leaderboardData"].fields == []
    assert cat.events["leaderboardData"].replies_to == {"getLeaderboard": 1}
    assert cat.events["standard/newTrade"].get_field("tickIndex") is not None


def test_the_cache_is_used_until_the_store_changes(tmp_path: Path) -> None:
    s = fill_store(tmp_path / "data", legacy_dir=None)
    paths = DataPaths(s.data_dir)
    first = catalog_from_store(paths)
    assert paths.event_catalog.exists()
    # A cached catalog is returned as is: prove it by planting a marker in the cache.
    doc = json.loads(paths.event_catalog.read_text())
    doc["rows"] = -1
    paths.event_catalog.write_text(json.dumps(doc))
    assert catalog_from_store(paths).rows == -1
    fill_store(tmp_path / "data", captures=[], legacy_dir=LEGACY)
    again = catalog_from_store(paths)
    assert again.rows > first.rows and "game_end" in again.events


def test_a_damaged_cache_is_recomputed_and_a_newer_one_refused(tmp_path: Path) -> None:
    s = fill_store(tmp_path / "data", legacy_dir=None)
    paths = DataPaths(s.data_dir)
    good = catalog_from_store(paths)
    paths.event_catalog.write_text("{not json")
    assert catalog_from_store(paths).rows == good.rows
    paths.event_catalog.write_text(json.dumps({"version": 99, "rows": 0, "events": {}}))
    with pytest.raises(SchemaVersionError, match="newer"):
        catalog_from_store(paths)


def test_an_empty_store_has_an_empty_catalog_and_says_so(tmp_path: Path) -> None:
    cat = catalog_from_store(DataPaths(tmp_path / "empty"))
    assert cat.events == {} and cat.rows == 0
    with pytest.raises(CatalogError, match="holds no events"):
        describe_event(cat, "playerUpdate")


@pytest.mark.slow
def test_catalog_of_the_whole_shared_corpus(tmp_path: Path, shared_data: Path) -> None:
    captures, legacy = shared_data_files(shared_data)
    s = fill_store(tmp_path / "data", captures=captures, legacy_dir=legacy)
    cat = catalog_from_store(DataPaths(s.data_dir))
    assert cat.events["tick"].count == 302_443
    gsu = cat.events["gameStateUpdate"]
    assert gsu.get_field("gameHistory[].provablyFair.serverSeed") is not None
    assert {"__trace", "traceparent"}.isdisjoint(
        f.path for e in cat.events.values() for f in e.fields)


def test_a_recent_cache_may_be_accepted_while_a_writer_keeps_committing(tmp_path: Path) -> None:
    s = fill_store(tmp_path / "data", legacy_dir=None)
    paths = DataPaths(s.data_dir)
    first = catalog_from_store(paths)
    fill_store(tmp_path / "data", captures=[], legacy_dir=LEGACY)
    assert catalog_from_store(paths, max_age_s=600).rows == first.rows
    assert catalog_from_store(paths).rows > first.rows


def test_payloads_beyond_the_walk_limit_are_counted_and_phased_from_their_head() -> None:
    from store.catalog import CatalogRow
    from store.catalog.builder import WALK_FULL

    tick = json.dumps({"active": True, "rugged": False, "cooldownTimer": 0, "price": 1.5,
                       "leaderboard": [{"id": "x", "pnl": 1}] * 200})
    rows = [CatalogRow("gameStateUpdate", "received", "ws_event",
                       f"2025-12-15T05:{i // 600:02d}:{(i // 10) % 60:02d}.{i % 10}",
                       tick if i < WALK_FULL else tick[:300], "public_ws", i < WALK_FULL)
            for i in range(WALK_FULL + 120)]
    e = build_catalog(rows).events["gameStateUpdate"]
    assert e.count == WALK_FULL + 120 and e.phases == {"ACTIVE": WALK_FULL + 120}
    assert e.walked == WALK_FULL and e.payload_kinds == {"object": WALK_FULL + 120}
    assert e.get_field("leaderboard[].pnl") is not None
