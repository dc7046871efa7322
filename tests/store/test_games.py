"""Game summaries: list_games and episode pruning equal an aggregate over every tick, always."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import query as q
from store.compaction import compact
from store.errors import SchemaVersionError
from store.games import AGGREGATE_SQL, GameSummaries, game_files
from store.paths import DataPaths
from store.retention import prune
from store.settings import Settings
from store.views import connect, view_sql
from store.writer import EventWriter

# What list_games computed before the summaries: one aggregate over every committed tick.
REFERENCE = f"SELECT * FROM ({AGGREGATE_SQL}) ORDER BY game_id"
MIDNIGHT = datetime(2025, 11, 2, 0, 0, tzinfo=UTC)


def tick_rows(seed: int, games: int = 6) -> list[dict[str, Any]]:
    """Games around a midnight: presale ticks repeated, tick-less cooldown rows, a second
    capture of the same game overlapping the first, prices missing now and then."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    seq = 0
    start = MIDNIGHT - timedelta(minutes=rnd.randrange(1, 20))
    for g in range(games):
        gid = f"20251101-{seed:06x}{g:02d}"
        n = rnd.randrange(1, 40)
        captures = 2 if rnd.random() < 0.3 else 1
        for c in range(captures):
            first = rnd.randrange(0, n) if c else 0
            t = start + timedelta(seconds=c * 0.05)
            for i in range(first, n):
                repeats = 3 if i == 0 and rnd.random() < 0.5 else 1
                for _ in range(repeats):
                    seq += 1
                    t += timedelta(seconds=rnd.choice([0.25, 0.25, 1, 20]))
                    price = None if rnd.random() < 0.05 else f"{1 + rnd.random():.6f}"
                    rows.append(_tick(gid, i, price, t, seq, f"cap{c}",
                                      rugged=i == n - 1 and rnd.random() < 0.7))
            if rnd.random() < 0.5:
                seq += 1
                rows.append(_tick(gid, None, None, t + timedelta(seconds=2), seq, f"cap{c}"))
        start += timedelta(minutes=rnd.randrange(1, 10))
    return rows


def _tick(gid: str, tick: int | None, price: str | None, t: datetime, seq: int, session: str,
          rugged: bool = False) -> dict[str, Any]:
    return {"doc_type": "game_tick", "event_name": "gameStateUpdate", "ts": t.isoformat(),
            "source": "public_ws", "direction": "received", "session_id": session, "seq": seq,
            "raw_json": json.dumps({"tickCount": tick, "price": price, "seq": seq}),
            "game_id": gid, "tick": tick, "price": price, "rugged": rugged}


def reference(paths: DataPaths) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = q.query(paths, REFERENCE).to_pylist()
    return rows


def listed(paths: DataPaths) -> list[dict[str, Any]]:
    keys = ("game_id", "first_ts", "last_ts", "ticks", "max_tick", "peak_price", "final_price",
            "rugged")
    rows = [{k: g[k] for k in keys} for g in q.list_games(paths) if g["ticks"]]
    return sorted(rows, key=lambda g: g["game_id"])


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**6), st.lists(st.integers(20, 90), min_size=1, max_size=4))
def test_summaries_kept_up_to_date_flush_by_flush_equal_one_aggregate(
        tmp_path_factory: pytest.TempPathFactory, seed: int, chunks: list[int]) -> None:
    root = tmp_path_factory.mktemp("games") / "data"
    rows = tick_rows(seed, games=5)
    with EventWriter.open(Settings.load(data_dir=root, flush_events=10**6)) as w:
        i = 0
        for k in itertools_cycle(chunks):
            if i >= len(rows):
                break
            w.write_many(rows[i:i + k])
            w.flush()  # one flush file per chunk and day
            i += k
            assert listed(DataPaths(root)) == reference(DataPaths(root))
    paths = DataPaths(root)
    compact(paths, grace=0)
    assert listed(paths) == reference(paths)


def itertools_cycle(xs: list[int]) -> Any:
    while True:
        yield from xs


@pytest.fixture
def two_days(tmp_path: Path) -> DataPaths:
    root = tmp_path / "data"
    with EventWriter.open(Settings.load(data_dir=root, flush_events=25)) as w:
        w.write_many(tick_rows(3, games=8))
    return DataPaths(root)


def test_an_episode_reads_only_the_days_that_hold_its_game(two_days: DataPaths) -> None:
    days = [d for d, _ in two_days.partitions("game_tick")]
    assert len(days) == 2
    games = {g["game_id"]: g for g in q.list_games(two_days)}
    con = connect(two_days, doc_types=())
    try:
        for gid, g in games.items():
            files = game_files(con, two_days, gid)
            spans = {g["first_ts"].date().isoformat(), g["last_ts"].date().isoformat()}
            assert {p.parent.name.removeprefix("date=") for p in files} == spans
        assert game_files(con, two_days, "no-such-game") == []
    finally:
        con.close()
    full = connect(two_days, doc_types=("game_tick",))
    try:
        for gid in games:
            want = full.sql(q.episode_sql(), params={"game_id": gid}).to_arrow_table()
            assert q.get_game_episode(two_days, gid).equals(want)
    finally:
        full.close()


def test_summaries_follow_compaction_and_prune(two_days: DataPaths) -> None:
    assert listed(two_days) == reference(two_days)
    compact(two_days, grace=0)
    assert listed(two_days) == reference(two_days)
    first = two_days.partitions("game_tick")[0][0]
    prune(two_days, datetime.fromisoformat(first).date() + timedelta(days=1))
    assert listed(two_days) == reference(two_days)


def test_nothing_is_recomputed_while_the_files_stay_the_same(two_days: DataPaths) -> None:
    q.list_games(two_days)
    before = {f.name: f.stat().st_mtime_ns for f in two_days.game_summaries.iterdir()}
    q.list_games(two_days)
    q.get_game_episode(two_days, q.list_games(two_days)[0]["game_id"])
    after = {f.name: f.stat().st_mtime_ns for f in two_days.game_summaries.iterdir()}
    assert before == after


def test_damaged_summaries_are_recomputed(two_days: DataPaths) -> None:
    good = q.list_games(two_days)
    (two_days.game_summaries / "index.json").write_text("{torn")
    assert q.list_games(two_days) == good
    for f in two_days.game_summaries.glob("*.parquet"):
        f.unlink()
    assert q.list_games(two_days) == good


def test_summaries_of_newer_code_are_refused(two_days: DataPaths) -> None:
    q.list_games(two_days)
    index = two_days.game_summaries / "index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "version": 99}))
    with pytest.raises(SchemaVersionError, match="newer than this code"):
        q.list_games(two_days)


def test_a_read_only_root_answers_from_temp_tables(
        two_days: DataPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    import store.games as games_mod

    def refuse(self: GameSummaries, stem: str, stamps: Any, sql: str) -> dict[str, Any]:
        self.writable = False
        return original(self, stem, stamps, sql)

    original = games_mod.GameSummaries._store
    monkeypatch.setattr(games_mod.GameSummaries, "_store", refuse)
    assert listed(two_days) == reference(two_days)
    assert not two_days.game_summaries.exists()
    gid = q.list_games(two_days)[0]["game_id"]
    con = connect(two_days, doc_types=())
    try:
        con.execute(f"CREATE TEMP VIEW game_tick AS {view_sql(two_days, 'game_tick')}")
        want = con.sql(q.episode_sql(), params={"game_id": gid}).to_arrow_table()
    finally:
        con.close()
    assert q.get_game_episode(two_days, gid).equals(want)
