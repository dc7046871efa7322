"""Query latency (episode, features, catalog, a group-by over all events) before/after compaction.

The store is built through the real EventWriter from the real captures in ../shared/data,
mapped by the real ingest code: every legacy recording (927 games, ~304,000 records,
repeated ticks and all; store.legacy) replayed with fresh game ids and shifted days, plus
every live capture (CDP, public feed, key samples; store.capture) replayed with fresh ids,
until at least --events wire events are stored. Written in writer calls of
--rows-per-file rows (one flush file per doc type and call, as a running recorder leaves
them), measured, compacted with store.compaction.compact, measured again.
Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import math
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
from store.capture import (  # noqa: E402
    LAYOUT_JSONL,
    WireEvent,
    detect_layout,
    iter_document,
    map_event,
    parse_doc_item,
    parse_jsonl_line,
)
from store.compaction import compact  # noqa: E402
from store.event import normalize  # noqa: E402
from store.files import all_committed_files  # noqa: E402
from store.legacy import import_legacy  # noqa: E402
from store.paths import DataPaths  # noqa: E402
from store.schema import SCHEMAS  # noqa: E402
from store.settings import Settings  # noqa: E402
from store.views import connect  # noqa: E402
from store.writer import EventWriter, WriteResult  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FIXTURE = ROOT / "tests" / "fixtures" / "query" / "legacy_game_excerpt.jsonl"
GROUP_BY = (
    "SELECT doc_type, event_name, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts "
    "FROM all_events GROUP BY ALL ORDER BY n DESC"
)


# -- building the corpus ---------------------------------------------------------------------


class _Collector:
    """Stands in for the EventWriter under store.legacy.import_legacy: keeps its tables."""

    def __init__(self, paths: DataPaths) -> None:
        self.paths = paths
        self.settings = Settings.load(data_dir=paths.root)
        self.tables: dict[str, list[pa.Table]] = {}

    def write_arrow(self, doc_type: str, table: pa.Table) -> WriteResult:
        self.tables.setdefault(doc_type, []).append(table)
        return WriteResult()

    def write_records(self, records: list[list[dict[str, Any]]]) -> WriteResult:
        """Non-tick records (already validated by the mapping), by doc type."""
        now = datetime.now(UTC)
        by_type: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            for row in rec:
                r = normalize(row, ingested_at=now, max_payload_bytes=10**7)
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
        directory = FIXTURE.parent
    c = _Collector(DataPaths(scratch))
    import_legacy(c, directory)
    return {t: _conformed(t, ts) for t, ts in c.tables.items()}


def _wire_events(path: Path) -> list[WireEvent]:
    data = path.read_bytes()
    if detect_layout(data[:4096]) == LAYOUT_JSONL:
        out: list[WireEvent] = []
        for n, line in enumerate(data.decode().splitlines(), start=1):
            if line.strip():
                out += parse_jsonl_line(line, session_id=path.name, line_no=n)
        return out
    with open(path) as f:
        return [parse_doc_item(i, session_id=path.name) for i in iter_document(f)]


def live_tables() -> dict[str, pa.Table]:
    """Every live capture event mapped by the real ingest mapping (store.capture.map_event),
    validated by the writer's own normalize."""
    files = [DATA / "websocket_raw_samples.jsonl", DATA / "key-samples.json",
             *sorted((DATA / "captures").glob("*"))]
    rows: dict[str, list[dict[str, Any]]] = {}
    now = datetime.now(UTC)
    for f in files:
        if not f.exists():
            continue
        for ev in _wire_events(f):
            for r in map_event(ev):
                row = normalize(r, ingested_at=now, max_payload_bytes=10**7)
                rows.setdefault(row["doc_type"], []).append(row)
    return {t: _conformed(t, [pa.Table.from_pylist(r, schema=SCHEMAS[t])])
            for t, r in rows.items()}


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
    live = live_tables()
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
            "raw_json_mb": round(raw_bytes / 1e6, 1), "write_s": time.perf_counter() - t1}


# -- measuring ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def _catalog() -> Callable[[DataPaths], Any] | None:
    try:
        from store.catalog import catalog_from_store
    except ImportError:
        return None
    return lambda p: catalog_from_store(p, use_cache=False, with_validation=False)


def measure(paths: DataPaths, game_id: str, repeat: int, catalog: bool) -> dict[str, Any]:
    """Each store.query call opens a fresh connection and builds its views (stateless).
    The baselines run the same SQL on one warm connection whose views are built once:
    the difference is the price of statelessness."""
    res: dict[str, Any] = {
        "episode": timed(lambda: q.get_game_episode(paths, game_id), repeat),
        "features": timed(lambda: q.get_tick_features(paths, game_id), repeat),
        "group_by_all_events": timed(lambda: q.query(paths, GROUP_BY), repeat),
        "list_games": timed(lambda: q.list_games(paths, limit=50), repeat),
        "open_connection_all_views": timed(lambda: connect(paths).close(), repeat),
    }
    con = connect(paths)
    try:
        episode_sql = q.episode_sql()
        res["baseline_episode_warm"] = timed(
            lambda: con.sql(episode_sql, params={"game_id": game_id}).to_arrow_table(), repeat)
        res["baseline_group_by_warm"] = timed(lambda: con.sql(GROUP_BY).fetchall(), repeat)
    finally:
        con.close()
    build = _catalog()
    # None: store.catalog is missing, or --no-catalog; the column is left empty on purpose.
    res["catalog_build"] = timed(lambda: build(paths), 1) if build and catalog else None
    return res


def run(events: int, live_share: float, rows_per_file: int, repeat: int, catalog: bool,
        log: Callable[[str], None]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rugs-query-bench-"))
    try:
        paths = DataPaths(work / "root")
        built = build_store(paths, events, live_share, rows_per_file, log)
        files_before = sum(len(v) for v in all_committed_files(paths).values())
        log(f"stored {built['total_rows']:,} rows in {files_before:,} files "
            f"in {built['write_s']:.1f} s")
        # The longest game (the real 824x legacy game's first replay has ~1,000 ticks).
        longest = q.query(paths, "SELECT game_id, count(DISTINCT tick) AS n FROM game_tick "
                                 "GROUP BY 1 ORDER BY n DESC, game_id LIMIT 1").to_pylist()[0]
        before = measure(paths, longest["game_id"], repeat, catalog)
        log("measured before compaction")
        t0 = time.perf_counter()
        st = compact(paths)
        compact_s = time.perf_counter() - t0
        files_after = sum(len(v) for v in all_committed_files(paths).values())
        log(f"compacted {st.files_in:,} -> {st.files_out:,} files in {compact_s:.1f} s")
        after = measure(paths, longest["game_id"], repeat, catalog)
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
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000, help="wire events, at least")
    ap.add_argument("--live-share", type=float, default=0.05,
                    help="share of live-capture events (the rest: legacy recordings)")
    ap.add_argument("--rows-per-file", type=int, default=1_000,
                    help="rows per writer call, i.e. per flush file before compaction")
    ap.add_argument("--repeat", type=int, default=5, help="runs per query (p50, max)")
    ap.add_argument("--no-catalog", action="store_true", help="skip the catalog build")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    r = run(a.events, a.live_share, a.rows_per_file, a.repeat, not a.no_catalog, log)
    if a.json:
        print(json.dumps(r))
        return
    print(f"query latency over {r['wire_events']:,} wire events = {r['total_rows']:,} rows "
          f"({r['raw_json_mb']:,} MB raw JSON); episode of {r['episode_game']} "
          f"({r['episode_ticks']} ticks); p50 of {r['repeat']} runs, fresh connection each")
    print(f"files: {r['files_before']:,} before compaction ({r['rows_per_file']} rows per "
          f"writer call), {r['files_after']:,} after ({r['compaction_s']} s to compact)")
    head = f"  {'query':<34} {'before p50':>11} {'after p50':>11} {'speed-up':>9}"
    print(head)
    for name in r["before"]:
        b, a_ = r["before"][name], r["after"][name]
        if b is None or a_ is None:
            note = "not run (store.catalog missing)" if _catalog() is None else "skipped"
            print(f"  {name:<34} {note:>22}")
            continue
        print(f"  {name:<34} {b['p50_ms']:>9.1f}ms {a_['p50_ms']:>9.1f}ms "
              f"{b['p50_ms'] / max(a_['p50_ms'], 1e-9):>8.1f}x")


if __name__ == "__main__":
    main()
