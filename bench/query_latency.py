"""Query and catalog latency on 1M+ real-shaped events, before and after compaction.

The store is built through the real EventWriter from the real captures in ../shared/data,
read by the store's own code: every legacy recording (927 games, ~304,000 records,
repeated ticks and all; store.legacy.import_legacy) replayed with fresh game ids and
shifted days, plus every live capture (CDP, public feed, key samples; store.ingest.ingest)
replayed with fresh ids, until at least --events wire events are stored. Written in writer
calls of --rows-per-file rows (one flush file per doc type and call, as a running recorder
leaves them), measured, compacted with store.compaction.compact, measured again.

Queries: best and median of --repeat calls, each opening its connection as the library
does; baselines in the same run: the same episode SQL and group-by on one warm connection,
and list_games' former way (one aggregate over every tick). Catalog: the full rebuild
(every day from its rows, nothing cached) against the cached catalog after one new flush
file of live events on the newest day, after compaction, and after a flush file into the
middle of an old day. The machine's load average is printed with the figures.
Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store import query as q  # noqa: E402
from store.catalog import CatalogBuilder, iter_store_rows, update_catalog  # noqa: E402
from store.compaction import compact  # noqa: E402
from store.event import ValidRecord, normalize  # noqa: E402
from store.files import all_committed_files  # noqa: E402
from store.games import AGGREGATE_SQL  # noqa: E402
from store.ingest import ingest  # noqa: E402
from store.legacy import import_legacy  # noqa: E402
from store.paths import DataPaths  # noqa: E402
from store.schema import SCHEMAS  # noqa: E402
from store.settings import Settings  # noqa: E402
from store.views import connect  # noqa: E402
from store.writer import EventWriter, WriteResult  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FIXTURES = ROOT / "tests" / "fixtures"
GROUP_BY = (
    "SELECT doc_type, event_name, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts "
    "FROM all_events GROUP BY ALL ORDER BY n DESC"
)
# list_games before the game summaries: one aggregate over every committed tick.
LIST_GAMES_AGGREGATE = f"SELECT * FROM ({AGGREGATE_SQL}) ORDER BY first_ts DESC LIMIT 50"


# -- building the corpus ---------------------------------------------------------------------


class _Collector:
    """Stands in for the EventWriter under store.legacy and store.ingest: keeps the tables."""

    def __init__(self, paths: DataPaths) -> None:
        self.paths = paths
        self.settings = Settings.load(data_dir=paths.root)
        self.tables: dict[str, list[pa.Table]] = {}

    def write_arrow(self, doc_type: str, table: pa.Table) -> WriteResult:
        self.tables.setdefault(doc_type, []).append(table)
        return WriteResult()

    def write_records(self, records: list[ValidRecord | list[dict[str, Any]]]) -> WriteResult:
        """Non-tick records by doc type: ValidRecords (store.ingest) as they are, plain
        lists of rows (store.legacy) validated here as the writer would."""
        now = datetime.now(UTC)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            rows = rec.rows if isinstance(rec, ValidRecord) else [
                normalize(row, ingested_at=now, max_payload_bytes=10**7) for row in rec]
            for r in rows:
                by_type.setdefault(r["doc_type"], []).append(r)
        for t, rows in by_type.items():
            self.tables.setdefault(t, []).append(pa.Table.from_pylist(rows, schema=SCHEMAS[t]))
        return WriteResult()


def _conformed(doc_type: str, tables: list[pa.Table]) -> pa.Table:
    """One table in the doc type's schema order (the columns the writer fills left out)."""
    schema = SCHEMAS[doc_type]
    out = []
    for t in tables:
        cols = {}
        for f in schema:
            if f.name in ("ingested_at", "schema_version", "doc_type"):
                continue
            cols[f.name] = (t.column(f.name).cast(f.type) if f.name in t.column_names
                            else pa.nulls(t.num_rows, f.type))
        out.append(pa.table(cols))
    return pa.concat_tables(out)


def legacy_tables(scratch: Path) -> dict[str, pa.Table]:
    """Every legacy recording mapped by the real backfill (store.legacy.import_legacy)."""
    directory = DATA / "legacy_recordings"
    if not directory.is_dir():
        directory = FIXTURES / "query"
    c = _Collector(DataPaths(scratch))
    import_legacy(c, directory)
    return {t: _conformed(t, ts) for t, ts in c.tables.items()}


def live_tables(scratch: Path) -> dict[str, pa.Table]:
    """Every live capture read and mapped by the store's ingest (store.ingest.ingest)."""
    files = [DATA / "websocket_raw_samples.jsonl", *sorted((DATA / "captures").glob("*")),
             DATA / "key-samples.json"]
    files = [f for f in files if f.is_file()] or [FIXTURES / "events" / "raw_excerpt.jsonl",
                                                   FIXTURES / "events" / "cdp_excerpt.jsonl"]
    c = _Collector(DataPaths(scratch))
    for f in files:
        ingest(c, f)
    return {t: _conformed(t, ts) for t, ts in c.tables.items()}


def replay(doc_type: str, base: pa.Table, k: int, shift: timedelta, tag: str) -> pa.Table:
    """Replay k of a base table: fresh event/game/session ids, every ts shifted by k*shift.

    complete_game keeps its per-game id ("game:<game_id>"), so the repeats of one game in
    gameHistory[] and repeated game_end records are deduplicated by the writer as in life.
    """
    n = base.num_rows
    suffix = f"-{tag}{k}"
    game_id = pc.binary_join_element_wise(base.column("game_id"), suffix, "")
    if doc_type == "complete_game":
        event_id = pc.binary_join_element_wise("game:", game_id, "")
    else:
        event_id = pa.array([f"{tag}{k}-{i}" for i in range(n)], pa.string())
    cols = {
        "event_id": event_id,
        "session_id": pc.binary_join_element_wise(base.column("session_id"), suffix, ""),
        "game_id": game_id,
        "ts": pc.add(base.column("ts"), pa.scalar(shift * k, pa.duration("us"))),
    }
    out = base
    for name, col in cols.items():
        i = out.schema.get_field_index(name)
        out = out.set_column(i, out.schema.field(name), col.cast(out.schema.field(name).type))
    return out


def build_store(paths: DataPaths, events: int, live_share: float, rows_per_file: int,
                log: Callable[[str], None]) -> dict[str, Any]:
    t0 = time.perf_counter()
    legacy = legacy_tables(paths.root.parent / "scratch")
    live = live_tables(paths.root.parent / "scratch-live")
    legacy_events = legacy["game_tick"].num_rows + legacy["system_event"].num_rows
    live_events = live["ws_event"].num_rows
    live_reps = max(1, math.ceil(events * live_share / max(live_events, 1)))
    legacy_reps = max(1, math.ceil((events - live_reps * live_events) / max(legacy_events, 1)))
    log(f"corpus: {legacy_events:,} legacy records x {legacy_reps}, "
        f"{live_events:,} live events x {live_reps} (mapped in {time.perf_counter() - t0:.1f} s)")
    settings = Settings.load(data_dir=paths.root, flush_events=rows_per_file)
    written: dict[str, int] = {}
    raw_bytes = 0
    t1 = time.perf_counter()
    with EventWriter.open(settings) as w:
        plan = [(legacy, k, timedelta(days=11), "L") for k in range(legacy_reps)]
        plan += [(live, k, timedelta(minutes=15), "W") for k in range(live_reps)]
        for tables, k, shift, tag in plan:
            for t, base in tables.items():
                table = replay(t, base, k, shift, tag)
                raw_bytes += table.column("raw_json").nbytes
                for start in range(0, table.num_rows, rows_per_file):
                    res = w.write_arrow(t, table.slice(start, rows_per_file))
                    for dt, n in res.written.items():
                        written[dt] = written.get(dt, 0) + n
    wire = legacy_events * legacy_reps + live_events * live_reps
    return {"wire_events": wire, "rows": written, "total_rows": sum(written.values()),
            "raw_json_mb": round(raw_bytes / 1e6, 1), "write_s": time.perf_counter() - t1,
            "live": live}


# -- measuring ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"best_ms": round(min(times), 1), "p50_ms": round(statistics.median(times), 1),
            "load": round(os.getloadavg()[0], 2)}


def once(fn: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    t0 = time.perf_counter()
    out = fn()
    ms = round((time.perf_counter() - t0) * 1000, 1)
    return {"best_ms": ms, "p50_ms": ms, "load": round(os.getloadavg()[0], 2)}, out


def measure(paths: DataPaths, game_id: str, repeat: int) -> dict[str, Any]:
    """Each store.query call opens its own connection and lists the committed files.
    The warm baselines run the same SQL on one connection whose views are built once."""
    res: dict[str, Any] = {}
    # The first call brings the game summaries up to date (all of them on a new store).
    res["list_games_first_call"], _ = once(lambda: q.list_games(paths, limit=50))
    res["list_games"] = timed(lambda: q.list_games(paths, limit=50), repeat)
    res["baseline_list_games_aggregate"] = timed(lambda: q.query(paths, LIST_GAMES_AGGREGATE),
                                                 repeat)
    res["episode"] = timed(lambda: q.get_game_episode(paths, game_id), repeat)
    res["features"] = timed(lambda: q.get_tick_features(paths, game_id), repeat)
    res["group_by_all_events"] = timed(lambda: q.query(paths, GROUP_BY), repeat)
    res["open_connection_all_views"] = timed(lambda: connect(paths).close(), repeat)
    con = connect(paths)
    try:
        episode_sql = q.episode_sql()
        res["baseline_episode_warm"] = timed(
            lambda: con.sql(episode_sql, params={"game_id": game_id}).to_arrow_table(), repeat)
        res["baseline_group_by_warm"] = timed(lambda: con.sql(GROUP_BY).fetchall(), repeat)
    finally:
        con.close()
    return res


def catalog_step(paths: DataPaths, *, use_cache: bool = True) -> dict[str, Any]:
    """One catalog call: its time and what the partial cache did."""
    t0 = time.perf_counter()
    u = update_catalog(paths, use_cache=use_cache)
    out: dict[str, Any] = {"s": round(time.perf_counter() - t0, 2), "source": u.source,
                           "load": round(os.getloadavg()[0], 2), "rows": u.catalog.rows}
    if u.report is not None:
        r = u.report
        out.update(built=len(r.built), appended=len(r.appended), rekeyed=len(r.rekeyed),
                   reused=len(r.reused), base=r.base, rows_read=r.rows_read)
    return out


def one_pass(paths: DataPaths) -> dict[str, Any]:
    """The former catalog rebuild: one builder over every row of the store in time order."""
    t0 = time.perf_counter()
    b = CatalogBuilder()
    for row in iter_store_rows(paths):
        b.add(row)
    cat = b.build()
    return {"s": round(time.perf_counter() - t0, 2), "source": "one pass",
            "load": round(os.getloadavg()[0], 2), "rows": cat.rows}


def new_flush_file(paths: DataPaths, live: dict[str, pa.Table], rows: int, *, at: datetime,
                   tag: str) -> int:
    """One writer call of `rows` live ws_event rows starting at `at`: one new flush file, as
    a running recorder leaves one. The rows are the biggest live capture session in its
    own order, repeated back to back (fresh ids) until there are enough."""
    ws = live["ws_event"]
    sessions = pc.value_counts(ws.column("session_id")).to_pylist()
    biggest = max(sessions, key=lambda v: v["counts"])["values"]
    t = ws.filter(pc.equal(ws.column("session_id"), biggest)).sort_by("ts")
    first, last = t.column("ts")[0].as_py(), t.column("ts")[-1].as_py()
    span = last - first + timedelta(seconds=1)
    copies = [replay("ws_event", t, k, span, f"{tag}{k}-") for k in range(-(-rows // len(t)))]
    batch = pa.concat_tables(copies).slice(0, rows)
    batch = replay("ws_event", batch, 1, at - first, tag)
    with EventWriter.open(Settings.load(data_dir=paths.root, flush_events=rows + 1)) as w:
        return w.write_arrow("ws_event", batch).total_written


def run(events: int, live_share: float, rows_per_file: int, repeat: int, catalog: bool,
        log: Callable[[str], None]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rugs-query-bench-"))
    cat: dict[str, Any] = {}
    try:
        paths = DataPaths(work / "root")
        built = build_store(paths, events, live_share, rows_per_file, log)
        live = built.pop("live")
        files_before = sum(len(v) for v in all_committed_files(paths).values())
        log(f"stored {built['total_rows']:,} rows in {files_before:,} files "
            f"in {built['write_s']:.1f} s")
        # The longest game (the real 824x legacy game's first replay has ~1,300 ticks).
        longest = q.query(paths, "SELECT game_id, count(DISTINCT tick) AS n FROM game_tick "
                                 "GROUP BY 1 ORDER BY n DESC, game_id LIMIT 1").to_pylist()[0]
        before = measure(paths, longest["game_id"], repeat)
        log("measured the queries before compaction")
        if catalog:
            cat["first_build_before_compaction"] = catalog_step(paths)
            log(f"catalog built and cached: {cat['first_build_before_compaction']}")
        t0 = time.perf_counter()
        st = compact(paths, grace=0)
        compact_s = time.perf_counter() - t0
        files_after = sum(len(v) for v in all_committed_files(paths).values())
        log(f"compacted {st.files_in:,} -> {st.files_out:,} files in {compact_s:.1f} s")
        after = measure(paths, longest["game_id"], repeat)
        log("measured the queries after compaction")
        if catalog:
            cat["after_compaction"] = catalog_step(paths)
            cat["full_rebuild"] = catalog_step(paths, use_cache=False)
            log(f"catalog full rebuild: {cat['full_rebuild']}")
            cat["baseline_one_pass"] = one_pass(paths)
            log(f"one builder over the whole store: {cat['baseline_one_pass']}")
            newest = q.query(paths, "SELECT max(ts) AS t FROM all_events").column("t")[0]
            new_flush_file(paths, live, rows_per_file, tag="N",
                           at=newest.as_py() + timedelta(seconds=1))
            cat["after_new_flush_file"] = catalog_step(paths)
            log(f"catalog after one new flush file: {cat['after_new_flush_file']}")
            busiest = q.query(paths, "SELECT CAST(ts AS DATE) AS d, count(*) AS n "
                                     "FROM all_events GROUP BY 1 ORDER BY n DESC LIMIT 1")
            day = busiest.column("d")[0].as_py()
            new_flush_file(paths, live, rows_per_file, tag="O",
                           at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
            cat["after_flush_into_busiest_old_day"] = catalog_step(paths)
            log(f"catalog after a flush file into {day}: "
                f"{cat['after_flush_into_busiest_old_day']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "wire_events": built["wire_events"],
        "stored_rows": built["rows"],
        "total_rows": built["total_rows"],
        "raw_json_mb": built["raw_json_mb"],
        "rows_per_file": rows_per_file,
        "files_before": files_before,
        "files_after": files_after,
        "compaction_s": round(compact_s, 1),
        "episode_game": longest["game_id"],
        "episode_ticks": longest["n"],
        "repeat": repeat,
        "before": before,
        "after": after,
        "catalog": cat,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="wire events, at least")
    ap.add_argument("--live-share", type=float, default=0.05,
                    help="share of live-capture events (the rest: legacy recordings)")
    ap.add_argument("--rows-per-file", type=int, default=1_000,
                    help="rows per writer call, i.e. per flush file before compaction")
    ap.add_argument("--repeat", type=int, default=7, help="calls per query (best, median)")
    ap.add_argument("--no-catalog", action="store_true", help="skip the catalog builds")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    load0 = [round(x, 2) for x in os.getloadavg()]
    r = run(a.events, a.live_share, a.rows_per_file, a.repeat, not a.no_catalog, log)
    r["loadavg_start"] = load0
    if a.json:
        print(json.dumps(r, default=str))
        return
    print(f"query latency over {r['wire_events']:,} wire events = {r['total_rows']:,} rows "
          f"({r['raw_json_mb']:,} MB raw JSON); episode of {r['episode_game']} "
          f"({r['episode_ticks']} ticks); best and median of {r['repeat']} calls")
    print(f"load average {r['loadavg_start']} at start, {r['loadavg_end']} at the end "
          "(2 cores; figures under load are noisy)")
    print(f"files: {r['files_before']:,} before compaction ({r['rows_per_file']} rows per "
          f"writer call), {r['files_after']:,} after ({r['compaction_s']} s to compact)")
    print(f"  {'query':<32} {'before best':>11} {'p50':>8} {'after best':>11} {'p50':>8}")
    for name in r["before"]:
        b, a_ = r["before"][name], r["after"][name]
        print(f"  {name:<32} {b['best_ms']:>9.1f}ms {b['p50_ms']:>6.1f}ms "
              f"{a_['best_ms']:>9.1f}ms {a_['p50_ms']:>6.1f}ms")
    if r["catalog"]:
        print(f"  {'catalog':<32} {'seconds':>8}  what the cache did")
        for name, c in r["catalog"].items():
            did = ", ".join(f"{k} {c[k]}" for k in ("built", "appended", "rekeyed", "reused",
                                                     "base", "rows_read") if k in c)
            print(f"  {name:<32} {c['s']:>8.2f}  {c['source']}: {did} (load {c['load']})")


if __name__ == "__main__":
    main()
