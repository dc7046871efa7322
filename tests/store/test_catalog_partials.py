"""Day partial catalogs: merging equals one pass, the cache follows new files, compaction, prune."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.catalog import (
    Catalog,
    CatalogBuilder,
    CatalogRow,
    iter_store_rows,
    update_catalog,
)
from store.catalog import builder as builder_mod
from store.catalog import partials as partials_mod
from store.compaction import compact
from store.errors import SchemaVersionError
from store.paths import DataPaths
from store.retention import prune
from store.settings import Settings
from store.writer import EventWriter
from tests.event_store import fill_store, shared_data_files

T0 = datetime(2025, 12, 14, 23, 58, 30, tzinfo=UTC)


def _traced(tid: int, payload: object) -> str:
    trace = {"__trace": True, "traceparent": f"00-{tid:032x}-f49b235078490b89-01"}
    return json.dumps([trace, payload])


Row = tuple[datetime, str, str, str, str]


def wire_rows(seed: int, n: int = 300, start: datetime = T0) -> list[Row]:
    """(ts, event_name, direction, doc_type, raw_json): a live feed across midnights.

    Ticks (as ws_event and game_tick rows), client requests and their traced replies,
    trades with an enumeration that sometimes overflows, pauses that break intervals.
    """
    rnd = random.Random(seed)
    t = start
    out: list[Row] = []
    tid = 0
    for i in range(n):
        t += timedelta(seconds=rnd.choice([0.2, 0.5, 1, 2, 5, 20, 45, 70]))
        if rnd.random() < 0.02:
            t += timedelta(hours=rnd.choice([3, 11, 30]))  # quiet hours and whole days
        r = rnd.random()
        if r < 0.3:
            p = {"active": rnd.random() < 0.7, "rugged": rnd.random() < 0.1,
                 "cooldownTimer": rnd.choice([0, 0, 5000]), "price": round(rnd.random() * 3, 6),
                 "tickCount": i}
            raw = json.dumps(p)
            out.append((t, "gameStateUpdate", "received", "ws_event", raw))
            out.append((t, "gameStateUpdate", "received", "game_tick", raw))
        elif r < 0.45:
            tid += 1
            out.append((t, "getLeaderboard", "sent", "ws_event", _traced(tid, {"limit": 10})))
            t += timedelta(seconds=rnd.choice([0.1, 0.3]))
            out.append((t, "leaderboardData", "received", "ws_event",
                        _traced(tid, {"rows": rnd.choice([1, 2.0, "a", None, True])})))
        else:
            v = rnd.choice(["buy", "sell", "short", "a", "b", "c", "d", "e", "f", "g", "h", "i",
                            "j", "k", 1, 2])
            out.append((t, "standard/newTrade", "received", "ws_event",
                        json.dumps({"type": str(v), "amount": rnd.random(), "n": v,
                                    f"extra{rnd.randrange(3)}": 1})))
    return out


def as_catalog_rows(rows: list[Row]) -> list[CatalogRow]:
    return [CatalogRow(name, d, dt, t, raw, "public_ws") for t, name, d, dt, raw in rows]


def merged_by_day(rows: list[CatalogRow], split: int = 2) -> CatalogBuilder:
    """Day builders seeded from the day before, each resumed once from its JSON state,
    merged in day order: what the store's partial cache does."""
    merged: CatalogBuilder | None = None
    prev: CatalogBuilder | None = None
    prev_day: date | None = None
    for day, group in itertools.groupby(rows, key=lambda r: r.ts.date()):
        day_rows = list(group)
        b = CatalogBuilder()
        if prev is not None and prev_day is not None and day - prev_day == timedelta(days=1):
            midnight = datetime.combine(day, datetime.min.time(), UTC)
            b.apply_seed(json.loads(json.dumps(prev.tail_seed(midnight))))
        cut = len(day_rows) // split
        for r in day_rows[:cut]:
            b.add(r)
        b = CatalogBuilder.from_state(json.loads(json.dumps(b.to_state())))
        for r in day_rows[cut:]:
            b.add(r)
        prev, prev_day = b, day
        again = CatalogBuilder.from_state(json.loads(json.dumps(b.to_state())))
        if merged is None:
            merged = again
        else:
            merged.merge(again)
    return merged or CatalogBuilder()


def one_pass(rows: list[CatalogRow]) -> Catalog:
    b = CatalogBuilder()
    for r in rows:
        b.add(r)
    return b.build()


@pytest.fixture
def walk_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Walk every payload, so per-day sampling and one pass sample the same rows."""
    for mod in (builder_mod, partials_mod):
        monkeypatch.setattr(mod, "WALK_FULL", 10**9)
    from store.catalog import cache

    monkeypatch.setattr(cache, "WALK_FULL", 10**9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 5))
def test_day_partials_merged_equal_one_pass_over_every_row(seed: int, split: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builder_mod, "WALK_FULL", 10**9)
        rows = as_catalog_rows(wire_rows(seed))
        assert len({r.ts.date() for r in rows}) >= 2
        assert merged_by_day(rows, split).build().to_dict() == one_pass(rows).to_dict()


def test_merging_keeps_first_examples_enumerations_and_the_interval_across_midnight() -> None:
    rows = as_catalog_rows([
        (T0, "t", "received", "ws_event", json.dumps({"k": "a"})),
        (T0 + timedelta(seconds=40), "t", "received", "ws_event", json.dumps({"k": "b"})),
        # 00:00:05 the next day: 55 s after the last one, an interval neither day saw
        (T0 + timedelta(seconds=95), "t", "received", "ws_event", json.dumps({"k": "a"})),
        *[(T0 + timedelta(seconds=150 + 50 * i), "t", "received", "ws_event",
           json.dumps({"k": "c"})) for i in range(7)],
    ])
    merged = merged_by_day(rows).build()
    e = merged.events["t"]
    k = e.get_field("k")
    assert k is not None and k.values == ["a", "b", "c"] and k.examples == ["a", "b", "c"]
    assert e.median_interval_s == 50.0
    assert merged.to_dict() == one_pass(rows).to_dict()


def test_a_tick_just_before_midnight_phases_the_first_trades_of_the_next_day() -> None:
    tick = json.dumps({"active": True, "rugged": False, "cooldownTimer": 0})
    rows = as_catalog_rows([
        (datetime(2025, 12, 14, 23, 59, 50, tzinfo=UTC), "gameStateUpdate", "received",
         "ws_event", tick),
        (datetime(2025, 12, 15, 0, 0, 10, tzinfo=UTC), "standard/newTrade", "received",
         "ws_event", json.dumps({"type": "buy"})),
    ])
    assert merged_by_day(rows).build().events["standard/newTrade"].phases == {"ACTIVE": 1}


# ------------------------------------------------------------------------- from the store


def write_rows(data_dir: Path, rows: list[Row], session: str = "s", flush: int = 50) -> None:
    """Through the real writer: one flush file per `flush` rows and touched partition."""
    settings = Settings.load(data_dir=data_dir, flush_events=flush)
    events = []
    for i, (t, name, d, dt, raw) in enumerate(rows):
        ev: dict[str, Any] = {"doc_type": dt, "event_name": name, "ts": t.isoformat(),
                              "source": "public_ws", "direction": d, "session_id": session,
                              "seq": i, "raw_json": raw}
        if dt == "game_tick":
            ev.update(tick=i, price=json.loads(raw)["price"], game_id="20251214-abc")
        events.append(ev)
    with EventWriter.open(settings) as w:
        for start in range(0, len(events), flush):
            w.write_many(events[start:start + flush])


def _days(paths: DataPaths) -> list[str]:
    return sorted({d for t in ("ws_event", "game_tick") for d, _ in paths.partitions(t)})


@pytest.fixture
def live_store(tmp_path: Path) -> DataPaths:
    data = tmp_path / "data"
    write_rows(data, wire_rows(7, 400))
    return DataPaths(data)


def test_cached_merge_equals_a_full_rebuild_and_one_pass_over_the_store(
        live_store: DataPaths, walk_all: None) -> None:
    assert len(_days(live_store)) >= 3
    cached = update_catalog(live_store)
    assert cached.report is not None and cached.report.built == _days(live_store)
    full = update_catalog(live_store, use_cache=False).catalog
    single = one_pass(list(iter_store_rows(live_store)))
    assert cached.catalog.to_dict() | {"fingerprint": None} == full.to_dict() | {
        "fingerprint": None}
    assert full.to_dict() | {"fingerprint": None} == single.to_dict()


def test_a_new_flush_file_of_the_last_day_resumes_that_day_only(live_store: DataPaths) -> None:
    update_catalog(live_store)
    last = _days(live_store)[-1]
    later = datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(hours=23, minutes=50)
    write_rows(live_store.root, [r for r in wire_rows(8, 40, later)
                                 if r[0].date().isoformat() == last], session="s2")
    u = update_catalog(live_store)
    assert u.report is not None
    assert u.report.appended == [last] and u.report.built == [] and u.report.base == "reused"
    assert u.report.rows_read < 100
    assert u.catalog.to_dict() | {"fingerprint": None} == update_catalog(
        live_store, use_cache=False).catalog.to_dict() | {"fingerprint": None}
    assert update_catalog(live_store).source == "cache"


def test_rows_landing_inside_an_earlier_day_rebuild_it_and_what_its_seed_reaches(
        live_store: DataPaths) -> None:
    update_catalog(live_store)
    first = _days(live_store)[0]
    write_rows(live_store.root, [(T0 + timedelta(seconds=5), "late", "received", "ws_event",
                                  "{}")], session="late")
    u = update_catalog(live_store)
    assert u.report is not None and u.report.built[:1] == [first]
    assert set(u.report.built) <= {first, _days(live_store)[1]}  # at most the next day
    assert u.report.base == "merged"
    assert u.catalog.events["late"].count == 1
    assert u.catalog.to_dict() | {"fingerprint": None} == update_catalog(
        live_store, use_cache=False).catalog.to_dict() | {"fingerprint": None}


def test_compaction_rekeys_the_partials_without_reading_a_payload(live_store: DataPaths) -> None:
    before = update_catalog(live_store).catalog
    compact(live_store, grace=0)
    u = update_catalog(live_store)
    assert u.report is not None and u.report.built == [] and u.report.appended == []
    assert u.report.rekeyed == _days(live_store) and u.report.rows_read == 0
    assert u.report.base == "reused"
    assert u.catalog.to_dict() | {"fingerprint": None} == before.to_dict() | {"fingerprint": None}


def test_a_flush_file_after_compaction_of_its_day_is_an_append(live_store: DataPaths) -> None:
    update_catalog(live_store)
    compact(live_store, grace=0)
    last = _days(live_store)[-1]
    later = datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(hours=23, minutes=55)
    write_rows(live_store.root, [r for r in wire_rows(9, 20, later)
                                 if r[0].date().isoformat() == last], session="s3")
    u = update_catalog(live_store)
    assert u.report is not None and u.report.rekeyed and u.report.appended == [last]
    assert u.report.built == []


def test_prune_drops_the_days_before_and_keeps_the_rest(live_store: DataPaths) -> None:
    update_catalog(live_store)
    days = _days(live_store)
    prune(live_store, date.fromisoformat(days[2]))
    u = update_catalog(live_store)
    assert u.report is not None and u.report.dropped == days[:2]
    assert set(u.report.built) <= {days[2]}  # its seed came from a pruned day, if any
    assert set(u.report.reused) >= set(days[3:])
    assert u.catalog.to_dict() | {"fingerprint": None} == update_catalog(
        live_store, use_cache=False).catalog.to_dict() | {"fingerprint": None}


def test_a_damaged_partial_or_index_is_rebuilt_not_trusted(live_store: DataPaths) -> None:
    good = update_catalog(live_store).catalog.to_dict()
    live_store.event_catalog.unlink()
    last = sorted(live_store.catalog_partials.glob("20*.json"))[-1]  # the merge needs it
    last.write_text("{broken")
    for base in live_store.catalog_partials.glob("base-*.json"):
        base.write_text('{"version": 1, "state": {"rows": "x"}}')
    u = update_catalog(live_store)
    assert u.report is not None and u.report.built == [_days(live_store)[-1]]
    assert u.report.base == "merged"
    assert u.catalog.to_dict() == good
    live_store.event_catalog.unlink()
    (live_store.catalog_partials / "index.json").write_text("[]")
    u = update_catalog(live_store)
    assert u.report is not None and u.report.built == _days(live_store)
    assert u.catalog.to_dict() == good


@pytest.mark.parametrize("target", ["index.json", "partial"])
def test_a_partial_cache_from_newer_code_is_refused(live_store: DataPaths, target: str) -> None:
    update_catalog(live_store)
    live_store.event_catalog.unlink()
    path = (live_store.catalog_partials / "index.json" if target == "index.json"
            else sorted(live_store.catalog_partials.glob("20*.json"))[-1])
    doc = json.loads(path.read_text())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    if target == "partial":  # make the last day need its partial
        write_rows(live_store.root, [(datetime.fromisoformat(_days(live_store)[-1]).replace(
            tzinfo=UTC) + timedelta(hours=23, minutes=59), "x", "received", "ws_event", "{}")],
            session="x")
    with pytest.raises(SchemaVersionError, match="newer than this code"):
        update_catalog(live_store)


def test_a_read_only_root_still_gets_its_catalog(
        live_store: DataPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    from store import derived

    def refuse(path: Path, doc: Any, *, durable: bool = False) -> None:
        raise PermissionError(13, "Read-only file system", str(path))

    monkeypatch.setattr(derived, "write_json", refuse)
    monkeypatch.setattr(partials_mod, "write_json", refuse)
    from store.catalog import cache

    monkeypatch.setattr(cache, "write_json", refuse)
    u = update_catalog(live_store)
    assert u.report is not None and u.report.built == _days(live_store)
    assert u.catalog.rows > 0 and not live_store.catalog_partials.exists()


# --------------------------------------------------------------------------- real corpora


def _fields(e: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in e["fields"]}


SAMPLED = ("types", "count", "present", "presence", "within", "min", "max", "phases",
           "value_phases", "items", "examples", "values", "format")


@pytest.mark.slow
def test_merged_catalog_of_the_shared_corpus_equals_one_pass_field_by_field(
        tmp_path: Path, shared_data: Path) -> None:
    """Every event-level fact is equal. Field statistics differ only for names with more
    than WALK_FULL rows on some day: each day samples its own."""
    from store.query import query

    captures, legacy = shared_data_files(shared_data)
    paths = DataPaths(fill_store(tmp_path / "data", captures=captures,
                                 legacy_dir=legacy).data_dir)
    merged = update_catalog(paths).catalog.to_dict()
    single = one_pass(list(iter_store_rows(paths))).to_dict()
    assert merged["rows"] == single["rows"] and merged["events"].keys() == single["events"].keys()
    busy = {r["event_name"] for r in query(paths, f"""
        SELECT DISTINCT event_name FROM (
            SELECT event_name, count(*) AS n FROM all_events
            GROUP BY event_name, doc_type, CAST(ts AS DATE)) WHERE n > {builder_mod.WALK_FULL}
    """).to_pylist()}
    assert busy == {"tick"}  # the legacy ticks: ~27,000 a day
    for name, s in single["events"].items():
        m = merged["events"][name]
        if name not in busy:
            assert m == s, name
            continue
        for k in s:
            if k not in ("fields", "walked", "shapes"):
                assert m[k] == s[k], (name, k)
        assert m["walked"] >= s["walked"]
        mf, sf = _fields(m), _fields(s)
        assert set(sf) <= set(mf), name  # more payloads walked: never fewer paths
        for path, f in sf.items():
            for k, v in f.items():
                if k not in SAMPLED:
                    assert mf[path][k] == v, (name, path, k)


def test_catalog_and_game_list_stay_right_beside_a_live_writer_and_compaction(
        tmp_path: Path) -> None:
    import threading
    import time

    from store import query as q
    from tests.store.test_games import reference

    data = tmp_path / "data"
    rows = wire_rows(11, 600)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            settings = Settings.load(data_dir=data, flush_events=25, flush_seconds=0.05)
            events = []
            for i, (t, name, d, dt, raw) in enumerate(rows):
                ev: dict[str, Any] = {"doc_type": dt, "event_name": name, "ts": t.isoformat(),
                                      "source": "public_ws", "direction": d,
                                      "session_id": "live", "seq": i, "raw_json": raw}
                if dt == "game_tick":
                    ev.update(tick=i, price=json.loads(raw)["price"], game_id=f"g{i // 40}")
                events.append(ev)
            with EventWriter.open(settings) as w:
                for start in range(0, len(events), 15):
                    w.write_many(events[start:start + 15])
                    time.sleep(0.02)  # a recorder's pace: readers and compaction in between
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def compactor() -> None:
        while not done.is_set():
            try:
                compact(DataPaths(data))
            except Exception as exc:  # the writer's lock is not compaction's: no refusal
                errors.append(exc)
            done.wait(0.05)

    threads = [threading.Thread(target=writer), threading.Thread(target=compactor)]
    for t in threads:
        t.start()
    paths = DataPaths(data)
    calls = 0
    while not done.is_set():
        if paths.events.exists():
            update_catalog(paths)
            q.list_games(paths)
            calls += 1
    for t in threads:
        t.join()
    assert not errors, errors
    assert calls >= 5  # while the writer and compaction worked
    final = update_catalog(paths).catalog.to_dict() | {"fingerprint": None}
    assert final == update_catalog(paths, use_cache=False).catalog.to_dict() | {
        "fingerprint": None}
    assert final["rows"] == sum(1 for _ in iter_store_rows(paths))
    games = sorted((g for g in q.list_games(paths) if g["ticks"]), key=lambda g: g["game_id"])
    keys = ("game_id", "first_ts", "last_ts", "ticks", "max_tick", "peak_price", "final_price",
            "rugged")
    assert [{k: g[k] for k in keys} for g in games] == reference(paths)
