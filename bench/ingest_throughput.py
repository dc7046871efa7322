"""Writer ingest rate (WAL on) against pyarrow writing the same rows straight to Parquet.

Events are real capture payloads from ../shared/data replayed many times with fresh ids.
The capture-ingest rows take the real capture files end to end (`store.ingest`: parse,
map, validate, write) against `json.loads` of the same records plus pyarrow writing one
row per record (its name, time, seq and text) to Parquet.
Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.clock import Clock  # noqa: E402
from store.compaction import compact  # noqa: E402
from store.ingest import ingest  # noqa: E402
from store.integrity import PARQUET_WRITE_OPTIONS  # noqa: E402
from store.paths import DataPaths  # noqa: E402
from store.schema import SCHEMAS  # noqa: E402
from store.settings import Settings  # noqa: E402
from store.writer import EventWriter  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FIXTURE = ROOT / "tests" / "fixtures"


def tick_payloads() -> list[tuple[str, str]]:
    """(event_name, raw record) of real legacy tick records (~250 B: the common small event)."""
    out: list[tuple[str, str]] = []
    legacy = sorted((DATA / "legacy_recordings").glob("game_*.jsonl"))[:40]
    for f in legacy or sorted(FIXTURE.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if '"type": "tick"' in line:
                out.append(("tick", line))
    if not out:
        raise SystemExit("no legacy tick records found in ../shared/data or tests/fixtures")
    return out


def real_payloads() -> list[tuple[str, str]]:
    """(event_name, raw payload text) of every event in the real captures."""
    out = []
    files = [DATA / "websocket_raw_samples.jsonl", *sorted((DATA / "captures").glob("*.jsonl"))]
    files = [f for f in files if f.exists()] or sorted(FIXTURE.glob("*.jsonl"))
    for f in files:
        for line in f.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            name = r.get("event") or r.get("event_type")
            if name:
                out.append((name, json.dumps(r.get("data"), separators=(", ", ": "))))
    if not out:
        raise SystemExit("no capture files found in ../shared/data or tests/fixtures")
    return out


def batches(payloads: list[tuple[str, str]], total: int, size: int) -> list[pa.Table]:
    """`total` ws_event rows in tables of `size`, each row with a fresh id and timestamp."""
    base = datetime(2025, 12, 14, tzinfo=UTC)
    now = datetime.now(UTC)
    out = []
    for start in range(0, total, size):
        n = min(size, total - start)
        idx = range(start, start + n)
        pick = [payloads[i % len(payloads)] for i in idx]
        out.append(pa.table({
            "event_id": [f"bench-{i}" for i in idx],
            "session_id": ["bench"] * n,
            "seq": list(idx),
            "doc_type": ["ws_event"] * n,
            "event_name": [p[0] for p in pick],
            "ts": [base + timedelta(milliseconds=250 * i) for i in idx],
            "ingested_at": [now] * n,
            "server_ts": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "game_id": pa.nulls(n, pa.string()),
            "player_id": pa.nulls(n, pa.string()),
            "username": pa.nulls(n, pa.string()),
            "source": ["public_ws"] * n,
            "direction": ["received"] * n,
            "raw_json": [p[1] for p in pick],
            "schema_version": pa.array([1] * n, pa.int16()),
        }, schema=SCHEMAS["ws_event"]))
    return out


def run(payloads: list[tuple[str, str]], total: int, size: int, singles: int,
        reps: int = 2) -> dict[str, Any]:
    tables = batches(payloads, total, size)
    raw_bytes = sum(t.column("raw_json").nbytes for t in tables)
    work = Path(tempfile.mkdtemp(prefix="rugs-bench-"))
    try:
        # Baseline: pyarrow straight to Parquet, same rows, same codec and page checksums
        # as the writer (PARQUET_WRITE_OPTIONS), fsync per file; and the same without
        # page checksums, which prices them.
        def pyarrow_straight(name: str, options: dict[str, Any]) -> tuple[float, float]:
            """(wall, CPU) seconds; CPU time is what a busy shared machine disturbs least."""
            out = work / name
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            t0, c0 = time.perf_counter(), time.process_time()
            for i, t in enumerate(tables):
                with open(out / f"{i}.parquet", "wb") as f:
                    pq.write_table(t, f, **options)
                    f.flush()
                    os.fsync(f.fileno())
            return time.perf_counter() - t0, time.process_time() - c0

        no_crc = {**PARQUET_WRITE_OPTIONS, "write_page_checksum": False}
        runs = [(pyarrow_straight("nocrc", no_crc), pyarrow_straight("crc", PARQUET_WRITE_OPTIONS))
                for _ in range(reps)]  # alternated, best of `reps` each
        nocrc_s = min(r[0][0] for r in runs)
        baseline_s = min(r[1][0] for r in runs)
        crc_cpu_cost = min(r[1][1] for r in runs) / min(r[0][1] for r in runs) - 1

        settings = Settings.load(data_dir=work / "store")
        t0 = time.perf_counter()
        with EventWriter.open(settings) as w:
            for t in tables:
                w.write_arrow("ws_event", t)
        batch_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        with EventWriter.open(settings.with_(data_dir=work / "dicts")) as w:
            for t in tables[:2]:
                w.write_many(t.to_pylist())
        dict_n = sum(t.num_rows for t in tables[:2])
        dict_s = time.perf_counter() - t0

        one = tables[0].slice(0, singles).to_pylist()
        for r in one:
            r["event_id"] = "single-" + r["event_id"]
        with EventWriter.open(settings.with_(data_dir=work / "singles")) as w:
            t0 = time.perf_counter()
            for r in one:
                w.write(r)
            single_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        st = compact(DataPaths(work / "store"))
        compact_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    batch_rate = total / batch_s
    base_rate = total / baseline_s
    nocrc_rate = total / nocrc_s
    return {
        "events": total,
        "avg_payload_bytes": round(raw_bytes / total),
        "batch_size": size,
        "payload_mb": round(raw_bytes / 1e6, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "baseline_pyarrow_events_per_s": round(base_rate),
        "pyarrow_without_page_checksums_events_per_s": round(nocrc_rate),
        "page_checksum_cost": round(1 - base_rate / nocrc_rate, 3),
        "page_checksum_cpu_cost": round(crc_cpu_cost, 3),
        "writer_batch_events_per_s": round(batch_rate),
        "writer_vs_baseline": round(batch_rate / base_rate, 2),
        "writer_vs_pyarrow_without_checksums": round(batch_rate / nocrc_rate, 2),
        "writer_dict_events_per_s": round(dict_n / dict_s),
        "single_write_calls_per_s": round(singles / single_s),
        "compaction_events_per_s": round(st.rows_in / compact_s),
        "compaction_files": f"{st.files_in} -> {st.files_out}",
        "targets": {"batch_events_per_s": 200_000, "vs_baseline": 0.5},
        "meets_targets": batch_rate >= 200_000 and batch_rate / base_rate >= 0.5,
    }


def capture_files() -> list[Path]:
    """The real capture files (JSONL and JSON documents), else the test fixtures' excerpts."""
    files = sorted(p for p in (DATA / "captures").glob("*.json*") if p.is_file())
    return files or sorted((FIXTURE / "ingest").glob("*.json*"))


def _records_of(path: Path) -> list[tuple[str, str, int, str]]:
    """(event name, ts text, seq, record text) of every record of one capture file."""
    rows: list[tuple[str, str, int, str]] = []
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            rows.append((str(r.get("event") or r.get("event_type")),
                         str(r.get("ts") or r.get("timestamp")), int(r.get("seq", n)), line))
        return rows
    doc = json.loads(text)
    items = doc if isinstance(doc, list) else list(doc.values())
    for n, r in enumerate(items, 1):
        rows.append((str(r.get("event") or r.get("event_type")),
                     str(r.get("ts") or r.get("timestamp_ms")), int(r.get("seq", n)),
                     json.dumps(r)))
    return rows


def capture_baseline(files: list[Path], out: Path) -> int:
    """json.loads every record, pyarrow writes one row per record, fsync: the floor."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, path in enumerate(files):
        recs = _records_of(path)
        n += len(recs)
        table = pa.table({
            "event_name": [r[0] for r in recs],
            "ts": [r[1] for r in recs],
            "seq": pa.array([r[2] for r in recs], pa.int64()),
            "raw_json": [r[3] for r in recs],
        })
        with open(out / f"{i}.parquet", "wb") as f:
            pq.write_table(table, f, **PARQUET_WRITE_OPTIONS)
            f.flush()
            os.fsync(f.fileno())
    return n


def capture_ingest(reps: int = 2) -> dict[str, Any]:
    """store.ingest over the real capture files into a fresh root, against the baseline;
    alternated, best of `reps` each (CPU and wall apart)."""
    files = capture_files()
    work = Path(tempfile.mkdtemp(prefix="rugs-bench-ingest-"))
    base: list[Clock] = []
    prod: list[Clock] = []
    summary: dict[str, int] = {}
    try:
        for rep in range(reps):
            with Clock() as c:
                records = capture_baseline(files, work / f"base-{rep}")
            base.append(c)
            totals = {"lines": 0, "read": 0, "written_total": 0, "rejected": 0}
            with Clock() as c, EventWriter.open(Settings.load(data_dir=work / f"s-{rep}")) as w:
                for f in files:
                    d = ingest(w, f).to_dict()
                    for k in totals:
                        totals[k] += d[k]
            prod.append(c)
            summary = totals
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base_cpu, base_wall = min(c.cpu for c in base), min(c.wall for c in base)
    cpu, wall = min(c.cpu for c in prod), min(c.wall for c in prod)
    return {
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "records": records,
        **summary,
        "reps": reps,
        "baseline_cpu_s": round(base_cpu, 3),
        "baseline_wall_s": round(base_wall, 3),
        "ingest_cpu_s": round(cpu, 3),
        "ingest_wall_s": round(wall, 3),
        "ingest_vs_baseline_cpu": round(cpu / base_cpu, 2),
        "ingest_vs_baseline_wall": round(wall / base_wall, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


SHAPES = {"captures": real_payloads, "ticks": tick_payloads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--singles", type=int, default=1_000)
    ap.add_argument("--shape", choices=[*SHAPES, "capture_ingest", "all"], default="all",
                    help="captures: full real payloads (gameStateUpdate with leaderboards, "
                         "~8 KB); ticks: real legacy tick records (~250 B); capture_ingest: "
                         "the real capture files through store.ingest end to end")
    ap.add_argument("--reps", type=int, default=2,
                    help="pyarrow baselines (with and without page checksums), alternated: "
                         "best of this many; capture_ingest: ingest and its baseline, "
                         "alternated, best of this many")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    shapes = list(SHAPES) if a.shape == "all" else [a.shape] if a.shape in SHAPES else []
    results: dict[str, Any] = {
        s: run(SHAPES[s](), a.events, a.batch, a.singles, a.reps) for s in shapes}
    if a.shape in ("capture_ingest", "all"):
        results["capture_ingest"] = capture_ingest(max(1, a.reps))
    if a.json:
        print(json.dumps(results))
        return
    ci = results.pop("capture_ingest", None)
    for shape, r in results.items():
        print(f"\n[{shape}] {r['events']:,} events, avg payload {r['avg_payload_bytes']:,} B "
              f"({r['payload_mb']} MB), batches of {r['batch_size']:,}, WAL on")
        rows = [
            ("pyarrow to Parquet, no page checksums",
             r["pyarrow_without_page_checksums_events_per_s"]),
            ("pyarrow to Parquet, page checksums (baseline)", r["baseline_pyarrow_events_per_s"]),
            ("EventWriter.write_arrow (batch path)", r["writer_batch_events_per_s"]),
            ("EventWriter.write_many (dicts)", r["writer_dict_events_per_s"]),
            ("EventWriter.write (one durable event/call)", r["single_write_calls_per_s"]),
            ("compaction", r["compaction_events_per_s"]),
        ]
        for name, rate in rows:
            print(f"  {name:<48} {rate:>12,} events/s")
        print(f"  page checksums cost pyarrow {r['page_checksum_cost']:.1%} wall, "
              f"{r['page_checksum_cpu_cost']:.1%} CPU; writer / pyarrow "
              f"without them: {r['writer_vs_pyarrow_without_checksums']:.2f}; "
              f"load {r['load_avg_1m']}")
        print(f"  writer / baseline: {r['writer_vs_baseline']:.2f} (target >= 0.5); "
              f"200,000 events/s and half the baseline: "
              f"{'met' if r['meets_targets'] else 'NOT met'}")
    if ci is not None:
        print(f"\n[capture_ingest] {ci['files']} capture files, {ci['bytes'] / 1e6:.1f} MB, "
              f"{ci['lines']:,} lines/items, {ci['read']:,} events read, "
              f"{ci['written_total']:,} rows written, {ci['rejected']} rejected; "
              f"best of {ci['reps']}")
        print(f"  {'run':<48} {'cpu s':>7} {'wall s':>7}")
        print(f"  {'json.loads + pyarrow one row/record (baseline)':<48} "
              f"{ci['baseline_cpu_s']:>7.3f} {ci['baseline_wall_s']:>7.3f}")
        print(f"  {'store.ingest -> EventWriter (capture path)':<48} "
              f"{ci['ingest_cpu_s']:>7.3f} {ci['ingest_wall_s']:>7.3f}")
        print(f"  ingest / baseline: {ci['ingest_vs_baseline_cpu']:.2f} CPU, "
              f"{ci['ingest_vs_baseline_wall']:.2f} wall; load {ci['load_avg_1m']}")


if __name__ == "__main__":
    main()
