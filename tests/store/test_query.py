"""Behaviour of store.query over a real store written by the real EventWriter on tmp_path."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import query as q
from store.errors import QueryError, RecordRejected, UnsafeQueryError
from store.legacy import import_legacy, parse_legacy_line
from store.paths import DataPaths
from store.settings import Settings
from store.writer import EventWriter

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
FIXTURES = Path(__file__).parents[1] / "fixtures"
T0 = datetime(2025, 10, 29, 18, 44, 15, tzinfo=UTC)


# -- helpers: events in the writer's mapping form ------------------------------------------


def tick(
    game_id: str,
    tick_no: int | None,
    price: Any,
    at: float,
    seq: int,
    *,
    phase: str | None = "ACTIVE_GAMEPLAY",
    rugged: bool = False,
    source: str = "legacy",
    session: str = "s1",
    name: str = "tick",
) -> dict[str, Any]:
    ts = T0 + timedelta(seconds=at)
    payload = {"game_id": game_id, "tick": tick_no, "price": price, "phase": phase, "seq": seq}
    return {
        "doc_type": "game_tick",
        "event_name": name,
        "ts": ts,
        "source": source,
        "direction": "received",
        "session_id": session,
        "seq": seq,
        "raw_json": json.dumps(payload),
        "game_id": game_id,
        "tick": tick_no,
        "price": price,
        "phase": phase,
        "active": tick_no is not None and tick_no > 0,
        "rugged": rugged,
    }


def event(doc_type: str, name: str, at: float, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "doc_type": doc_type,
        "event_name": name,
        "ts": T0 + timedelta(seconds=at),
        "source": extra.pop("source", "cdp"),
        "direction": extra.pop("direction", "received"),
        "session_id": extra.pop("session_id", "s1"),
        "seq": seq,
        "raw_json": json.dumps({"name": name, "seq": seq, **{k: str(v) for k, v in extra.items()}}),
        **extra,
    }


def write(root: Path, events: Iterable[Mapping[str, Any]]) -> DataPaths:
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        res = w.write_many(list(events))
        assert not res.rejected, res.rejected
    return DataPaths(root)


def game(game_id: str, prices: list[str], start: float = 0.0, seq0: int = 0
         ) -> list[dict[str, Any]]:
    return [tick(game_id, i, p, start + i * 0.25, seq0 + i) for i, p in enumerate(prices)]


@pytest.fixture
def store(tmp_path: Path) -> DataPaths:
    """Two games, a repeated presale tick 0, a rug, a summary, players and actions."""
    events: list[dict[str, Any]] = []
    # Game A: legacy-style presale repeats tick 0 with changing phase; the last one wins.
    events += [
        tick("A", 0, 1, 0.0, 1, phase="UNKNOWN"),
        tick("A", 0, "1.0", 0.1, 2, phase="PRESALE"),
        tick("A", 0, "1.0", 0.2, 3, phase="GAME_ACTIVATION"),
    ]
    prices_a = ["1.0147941736291315", "1.0309210948964818", "1.0261926263615506",
                "1.242517674774411", "0.020000000000000018"]
    for i, p in enumerate(prices_a, start=1):
        events.append(tick("A", i, p, 0.2 + i * 0.25, 3 + i, rugged=(i == 5)))
    # Game B, an hour later, live-shaped: cooldown rows without a tick come first.
    events += [tick("B", None, None, 3600.0, 100, phase=None, source="public_ws",
                    name="gameStateUpdate", session="live")]
    events += [tick("B", i, p, 3601 + i * 0.25, 101 + i, source="public_ws",
                    name="gameStateUpdate", session="live")
               for i, p in enumerate(["1", "1.5", "2.25", "1.125"])]
    events.append(event("complete_game", "gameHistory", 3700, 200, event_id="game:B",
                        game_id="B", peak="2.25", final_price="1.125", duration_ticks=4,
                        rug_tick=3))
    # A game known only from a summary (gameHistory of a game we did not watch).
    events.append(event("complete_game", "gameHistory", 3700, 201, event_id="game:C",
                        game_id="C", peak="7.5", duration_ticks=300, rug_tick=300))
    # Players: P1 trades in B (public trade) and sends two orders; P2 only chats.
    events.append(event("ws_event", "standard/newTrade", 3601.5, 300, game_id="B",
                        player_id="P1", username="old-name"))
    events.append(event("player_action", "buyOrder", 3601.6, 301, direction="sent",
                        game_id="B", player_id="P1", username="alice", action_type="buy",
                        amount="0.100000000000000001", price="1.5", tick=1))
    events.append(event("player_action", "sellOrder", 3602.0, 302, direction="sent",
                        game_id="B", player_id="P1", username="alice", action_type="sell",
                        percentage="50", price="2.25", tick=2))
    events.append(event("ws_event", "newChatMessage", 3603, 303, player_id="P2",
                        username="bob"))
    return write(tmp_path / "root", events)


# -- episodes -------------------------------------------------------------------------------


def test_episode_keeps_the_last_observation_of_a_repeated_tick(store: DataPaths) -> None:
    ep = q.get_game_episode(store, "A")
    assert ep.column("tick").to_pylist() == [0, 1, 2, 3, 4, 5]
    first = ep.slice(0, 1).to_pylist()[0]
    assert first["phase"] == "GAME_ACTIVATION"
    assert first["observations"] == 3
    assert ep.column("observations").to_pylist()[1:] == [1] * 5


def test_episode_prices_are_exact_decimals(store: DataPaths) -> None:
    ep = q.get_game_episode(store, "A")
    assert pa.types.is_decimal(ep.schema.field("price").type)
    assert ep.column("price")[5].as_py() == Decimal("0.020000000000000018")


def test_episode_orders_by_tick_even_when_rows_were_written_out_of_order(
    tmp_path: Path,
) -> None:
    rows = game("G", ["1", "2", "3", "4"])
    paths = write(tmp_path, reversed(rows))
    assert q.get_game_episode(paths, "G").column("tick").to_pylist() == [0, 1, 2, 3]


def test_episode_with_all_rows_keeps_every_row_and_tickless_rows_come_first(
    store: DataPaths,
) -> None:
    a = q.get_game_episode(store, "A", all_rows=True)
    assert a.num_rows == 8
    assert [r["phase"] for r in a.slice(0, 3).to_pylist()] == [
        "UNKNOWN", "PRESALE", "GAME_ACTIVATION"]
    b = q.get_game_episode(store, "B", all_rows=True)
    assert b.column("tick").to_pylist() == [None, 0, 1, 2, 3]
    assert q.get_game_episode(store, "B").column("tick").to_pylist() == [0, 1, 2, 3]


def test_episode_pages_with_limit_and_offset(store: DataPaths) -> None:
    page = q.get_game_episode(store, "A", limit=2, offset=3)
    assert page.column("tick").to_pylist() == [3, 4]
    assert q.get_game_episode(store, "A", offset=10).num_rows == 0


def test_episode_of_an_unknown_game_is_a_clear_query_error(store: DataPaths) -> None:
    with pytest.raises(QueryError, match="no ticks stored for game 'nope'"):
        q.get_game_episode(store, "nope")
    with pytest.raises(QueryError, match="non-empty string"):
        q.get_game_episode(store, "  ")
    with pytest.raises(QueryError, match="limit"):
        q.get_game_episode(store, "A", limit=-1)


def test_episode_sql_on_an_own_connection_gives_the_same_episode(store: DataPaths) -> None:
    from store.views import connect

    con = connect(store, doc_types=("game_tick",))
    try:
        own = con.sql(q.episode_sql(), params={"game_id": "A"}).to_arrow_table()
    finally:
        con.close()
    assert own.equals(q.get_game_episode(store, "A"))


def test_game_id_is_bound_as_a_value_not_spliced_into_sql(store: DataPaths) -> None:
    with pytest.raises(QueryError, match="no ticks stored"):
        q.get_game_episode(store, "A' OR '1'='1")


# -- features --------------------------------------------------------------------------------


def _stdev_of_last(returns: list[float | None], n: int) -> float | None:
    window = [x for x in returns[-n:] if x is not None]
    return statistics.stdev(window) if len(window) >= 2 else None


def reference_features(prices: list[Decimal]) -> list[dict[str, Any]]:
    """The features computed the slow, obvious way in Python."""
    out = []
    returns: list[float | None] = []
    peak = prices[0]
    for i, p in enumerate(prices):
        prev = prices[i - 1] if i else None
        r = None if prev is None or prev == 0 else float(p) / float(prev) - 1
        returns.append(r)
        peak = max(peak, p)

        out.append({
            "price_change": None if prev is None else p - prev,
            "pct_change": r,
            "volatility_5": _stdev_of_last(returns, 5),
            "volatility_10": _stdev_of_last(returns, 10),
            "max_price": peak,
            "drawdown": float(peak - p) / float(peak) if peak else None,
        })
    return out


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_features_match(table: pa.Table, prices: list[Decimal]) -> None:
    got = table.to_pylist()
    want = reference_features(prices)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["price_change"] == w["price_change"]
        assert g["max_price"] == w["max_price"]
        for k in ("pct_change", "volatility_5", "volatility_10", "drawdown"):
            assert close(g[k], w[k]), (k, g, w)


def test_features_match_a_plain_python_computation(store: DataPaths) -> None:
    f = q.get_tick_features(store, "A")
    prices = [Decimal(str(p)) for p in q.get_game_episode(store, "A").column("price").to_pylist()]
    assert_features_match(f, prices)
    assert f.column("drawdown")[0].as_py() == 0.0
    assert f.column("drawdown")[5].as_py() > 0.98  # the rug
    assert f.column("price_change")[0].as_py() is None


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prices=st.lists(
        st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=9,
                    allow_nan=False, allow_infinity=False),
        min_size=1, max_size=30,
    )
)
def test_features_round_trip_any_price_path(tmp_path_factory: pytest.TempPathFactory,
                                            prices: list[Decimal]) -> None:
    root = tmp_path_factory.mktemp("feat")
    paths = write(root, game("H", [str(p) for p in prices]))
    assert_features_match(q.get_tick_features(paths, "H"), prices)


def test_features_of_an_unknown_game_is_a_clear_query_error(store: DataPaths) -> None:
    with pytest.raises(QueryError, match="no ticks stored for game 'Z'"):
        q.get_tick_features(store, "Z")


# -- iter_episodes ---------------------------------------------------------------------------


def test_iter_episodes_yields_each_game_once_oldest_first_across_batches(
    store: DataPaths,
) -> None:
    eps = list(q.iter_episodes(store, batch_rows=3))
    assert [e.game_id for e in eps] == ["A", "B"]
    assert eps[0].ticks.column("tick").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert eps[1].ticks.equals(q.get_game_episode(store, "B"))


def test_iter_episodes_filters_by_player_min_ticks_and_limit(store: DataPaths) -> None:
    assert [e.game_id for e in q.iter_episodes(store, player_id="P1")] == ["B"]
    assert list(q.iter_episodes(store, player_id="P2")) == []  # chats, no game
    assert [e.game_id for e in q.iter_episodes(store, min_ticks=5)] == ["A"]
    assert [e.game_id for e in q.iter_episodes(store, limit=1)] == ["A"]
    with pytest.raises(QueryError, match="min_ticks"):
        list(q.iter_episodes(store, min_ticks=-2))


def test_iter_episodes_streams_many_games_with_a_tiny_batch(tmp_path: Path) -> None:
    events = []
    for g in range(12):
        events += game(f"g{g:02d}", ["1", "1.1", "1.2"][: 1 + g % 3], start=g * 10.0,
                       seq0=g * 10)
    paths = write(tmp_path, events)
    eps = list(q.iter_episodes(paths, batch_rows=2))
    assert [e.game_id for e in eps] == [f"g{g:02d}" for g in range(12)]
    assert [e.ticks.num_rows for e in eps] == [1 + g % 3 for g in range(12)]


# -- listings ---------------------------------------------------------------------------------


def test_list_games_merges_ticks_and_summaries_newest_first(store: DataPaths) -> None:
    games = {g["game_id"]: g for g in q.list_games(store)}
    assert list(games) == ["C", "B", "A"]
    a, b, c = games["A"], games["B"], games["C"]
    assert (a["ticks"], a["max_tick"], a["rugged"], a["has_summary"]) == (6, 5, True, False)
    assert a["peak_price"] == Decimal("1.242517674774411")
    assert a["final_price"] == Decimal("0.020000000000000018")
    assert b["has_summary"] and b["summary_peak"] == Decimal("2.25")
    assert b["summary_rug_tick"] == 3 and b["final_price"] == Decimal("1.125")
    assert c["ticks"] == 0 and c["peak_price"] is None and c["summary_duration_ticks"] == 300
    assert a["first_ts"] == T0


def test_list_games_pages_and_filters_by_time(store: DataPaths) -> None:
    assert [g["game_id"] for g in q.list_games(store, limit=1, offset=1)] == ["B"]
    since = T0 + timedelta(minutes=30)
    assert [g["game_id"] for g in q.list_games(store, since=since)] == ["C", "B"]
    assert [g["game_id"] for g in q.list_games(store, until=since)] == ["A"]


def test_list_players_counts_events_games_and_actions(store: DataPaths) -> None:
    players = q.list_players(store)
    assert [p["player_id"] for p in players] == ["P1", "P2"]
    p1 = players[0]
    assert (p1["events"], p1["games"], p1["actions"], p1["username"]) == (3, 1, 2, "alice")


def test_count_events_by_doc_type_event_name_and_game(store: DataPaths) -> None:
    assert q.count_events(store) == 8 + 5 + 2 + 4
    assert q.count_events(store, "game_tick") == 13
    assert q.count_events(store, "game_tick", game_id="B") == 5
    assert q.count_events(store, event_name="gameStateUpdate") == 5
    assert q.count_events(store, "complete_game") == 2


def test_count_events_of_an_unknown_doc_type_names_the_valid_ones(store: DataPaths) -> None:
    with pytest.raises(QueryError, match="unknown doc type 'ticks'.*game_tick"):
        q.count_events(store, "ticks")


def test_player_actions_are_ordered_with_exact_amounts(store: DataPaths) -> None:
    t = q.get_player_actions(store, "P1")
    assert t.column("action_type").to_pylist() == ["buy", "sell"]
    assert t.column("amount")[0].as_py() == Decimal("0.100000000000000001")
    assert q.get_player_actions(store, "P1", game_id="other").num_rows == 0
    assert q.get_player_actions(store, "P2").num_rows == 0


# -- free SQL ---------------------------------------------------------------------------------


def test_query_binds_parameters_positionally_and_by_name(store: DataPaths) -> None:
    t = q.query(store, "SELECT count(*) AS n FROM game_tick WHERE game_id = ?", ["A"])
    assert t.column("n").to_pylist() == [8]
    t = q.query(store, "SELECT count(*) AS n FROM all_events WHERE player_id = $p", {"p": "P1"})
    assert t.column("n").to_pylist() == [3]
    t = q.query(store, "SELECT count(*) AS n FROM game_tick WHERE game_id = ?", ["A' OR 1=1--"])
    assert t.column("n").to_pylist() == [0]


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO 'x.csv'",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH ':memory:' AS m",
        "INSTALL httpfs",
        "SET threads=1",
        "PRAGMA version",
        "SELECT 1; SELECT 2",
        "DROP VIEW game_tick",
        "SELECT * FROM query('SELECT 1')",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
    ],
)
def test_query_refuses_anything_but_one_read_statement(store: DataPaths, sql: str) -> None:
    with pytest.raises(UnsafeQueryError):
        q.query(store, sql)


def test_query_allows_explain_of_a_select(store: DataPaths) -> None:
    assert q.query(store, "EXPLAIN SELECT count(*) FROM game_tick").num_rows >= 1


def test_connect_can_build_only_the_views_a_query_needs(store: DataPaths) -> None:
    from store.views import connect

    con = connect(store, doc_types=("game_tick",))
    try:
        names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() "
                                       "WHERE NOT internal").fetchall()}
    finally:
        con.close()
    assert names == {"game_tick"}
    with pytest.raises(ValueError, match="unknown doc type"):
        connect(store, doc_types=("ticks",))


def test_query_errors_are_one_line_query_errors(store: DataPaths) -> None:
    with pytest.raises(QueryError) as info:
        q.query(store, "SELECT no_such_column FROM game_tick")
    assert "\n" not in str(info.value) and "no_such_column" in str(info.value)
    with pytest.raises(QueryError, match="does not parse"):
        q.query(store, "SELEC 1")
    with pytest.raises(QueryError, match="empty"):
        q.query(store, "  ")


def test_an_empty_store_answers_with_empty_results(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path / "empty")
    assert q.list_games(paths) == [] and q.list_players(paths) == []
    assert q.count_events(paths) == 0
    assert list(q.iter_episodes(paths)) == []
    assert q.get_player_actions(paths, "P1").num_rows == 0
    with pytest.raises(QueryError, match="no ticks"):
        q.get_game_episode(paths, "A")


def test_a_partial_temp_file_in_a_partition_is_never_read(store: DataPaths) -> None:
    before = q.count_events(store, "game_tick")
    part = next(store.doc_type_dir("game_tick").glob("date=*"))
    (part / ".tmp-part-999.parquet").write_bytes(b"PAR1 torn")
    assert q.count_events(store, "game_tick") == before


def test_answers_are_the_same_after_compaction(store: DataPaths) -> None:
    from store.compaction import compact

    before = (q.get_game_episode(store, "A"), q.get_tick_features(store, "B"),
              q.list_games(store), q.list_players(store), q.count_events(store))
    compact(store)
    after = (q.get_game_episode(store, "A"), q.get_tick_features(store, "B"),
             q.list_games(store), q.list_players(store), q.count_events(store))
    assert before[0].equals(after[0]) and before[1].equals(after[1])
    assert before[2:] == after[2:]


# -- real data --------------------------------------------------------------------------------


def legacy_events(path: Path) -> list[dict[str, Any]]:
    """The rows of one legacy recording through the real legacy mapping (bad lines dropped)."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            out += parse_legacy_line(line, session_id=path.stem, seq=n)
        except RecordRejected:
            continue
    return out


def legacy_ticks(path: Path) -> list[dict[str, Any]]:
    """The tick records of a legacy file read the plain way, to check episodes against."""
    recs = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("type") == "tick":
            recs.append(rec)
    return recs


def legacy_file(name: str) -> Path:
    for base in (SHARED / "legacy_recordings", FIXTURES / "query"):
        p = base / name
        if p.exists():
            return p
    pytest.skip(f"{name} not in ../shared/data or tests/fixtures")


@pytest.mark.parametrize(
    "name", ["game_20251029_184415.jsonl", "game_20251031_092338.jsonl"]
)
def test_a_real_legacy_recording_becomes_one_row_per_tick(tmp_path: Path, name: str) -> None:
    src = legacy_file(name)
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(src, inbox / name)
    with EventWriter.open(Settings.load(data_dir=tmp_path / "root")) as w:
        import_legacy(w, inbox)  # the real backfill path
    paths = DataPaths(tmp_path / "root")
    recs = legacy_ticks(src)
    gid = recs[0]["game_id"]
    ep = q.get_game_episode(paths, gid)
    ticks = sorted({r["tick"] for r in recs})
    assert ep.column("tick").to_pylist() == ticks
    assert sum(ep.column("observations").to_pylist()) == len(recs)
    last_of = {}
    for r in recs:  # file order is time order: the last record of a tick wins
        last_of[r["tick"]] = r
    assert ep.column("phase").to_pylist() == [last_of[t]["phase"] for t in ticks]
    prices = [Decimal(str(last_of[t]["price"])) for t in ticks]
    f = q.get_tick_features(paths, gid)
    assert f.column("max_price")[-1].as_py() == max(prices)
    assert_features_match(f, prices)
    game = next(g for g in q.list_games(paths) if g["game_id"] == gid)
    assert game["has_summary"] and game["summary_peak"] == max(prices)


def test_the_fixture_excerpt_of_a_legacy_recording_is_readable_without_shared_data(
    tmp_path: Path,
) -> None:
    events = legacy_events(FIXTURES / "query" / "legacy_game_excerpt.jsonl")
    paths = write(tmp_path, events)
    ep = q.get_game_episode(paths, events[0]["game_id"])
    assert ep.column("tick").to_pylist()[0] == 0
    assert ep.column("phase")[0].as_py() == "GAME_ACTIVATION"
    assert ep.column("rugged").to_pylist()[-1] is True
