"""Embedding budget: index the whole shared corpus from scratch and count what gets embedded.

From an empty data root: ingest every capture and the 927 legacy recordings through the
writer, build the `events` table and the `code_context` table (the 30 CONTEXT.md files)
with the real all-MiniLM-L6-v2 model, and print chunks per table, embeddings per 1,000
ingested events (target <= 20) and the wall time (target <= 120 s). Baseline in the same
run: what embedding every ingested event would cost, from the model's measured speed on a
sample of the raw payloads.

    python bench/embedding_budget.py [--json] [--data DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.build import build_full  # noqa: E402
from indexer.embedder import make_embedder  # noqa: E402
from store.settings import Settings  # noqa: E402

DEFAULT_DATA = REPO / ".." / "shared" / "data"
TARGET_PER_1000 = 20.0
TARGET_WALL_S = 120.0
BASELINE_SAMPLE = 256


def ingest_all(settings: Settings, data: Path) -> dict[str, Any]:
    """Every capture and legacy recording of `data` through the real ingest."""
    from store.ingest import ingest
    from store.legacy import import_legacy
    from store.writer import EventWriter

    captures = [data / "websocket_raw_samples.jsonl", *sorted((data / "captures").iterdir()),
                data / "key-samples.json"]
    read = written = 0
    with EventWriter.open(settings) as w:
        for f in captures:
            s = ingest(w, f)
            read += s.read
            written += sum(s.written.values())
        leg = import_legacy(w, data / "legacy_recordings")
        read += leg.read
        written += sum(leg.written.values())
    return {"events_read": read, "rows_written": written, "capture_files": len(captures)}


def raw_sample(settings: Settings, n: int) -> list[str]:
    """An even sample of stored raw payloads: what a naive index would embed, one per event."""
    from store.paths import DataPaths
    from store.views import connect

    con = connect(DataPaths(settings.data_dir))
    try:
        total = con.execute("SELECT count(*) FROM ws_event").fetchone()
        step = max(1, int((total[0] if total else 0) / n))
        rows = con.execute(
            "SELECT raw_json FROM (SELECT raw_json, row_number() OVER (ORDER BY ts) AS i "
            "FROM all_events WHERE doc_type IN ('ws_event', 'game_tick', 'system_event')) "
            "WHERE i % $step = 0 LIMIT $n", {"step": step, "n": n}).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def run(data: Path, keep: Path | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="embedding_budget_"))
    root = keep or tmp / "data"
    if root.exists():
        shutil.rmtree(root)
    settings = Settings.load(data_dir=root, context_roots=[data / "context_md"],
                                 protocol_docs=data / "protocol_docs")
    t0 = time.perf_counter()
    try:
        ing = ingest_all(settings, data)
        t_ingest = time.perf_counter() - t0
        embedder = make_embedder(settings)
        t1 = time.perf_counter()
        ev = build_full(settings, "events", embedder=embedder)
        t2 = time.perf_counter()
        cc = build_full(settings, "code_context", embedder=embedder)
        t3 = time.perf_counter()
        wall = t3 - t0
        # Baseline: the model's speed on raw payloads, extrapolated to one embedding per event.
        sample = raw_sample(settings, BASELINE_SAMPLE)
        b0 = time.perf_counter()
        embedder.embed(sample)
        per_text = (time.perf_counter() - b0) / max(len(sample), 1)
        from indexer.events_source import scan_sources

        kinds: dict[str, int] = {}
        for src in scan_sources(settings).sources:
            for c in src.chunks():
                kinds[c.metadata.get("kind", "?")] = kinds.get(c.metadata.get("kind", "?"), 0) + 1
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    n = ing["events_read"]
    return {
        "events_ingested": n,
        "rows_written": ing["rows_written"],
        "tables": {
            "events": {"chunks": ev.rows, "embedded": ev.embedded, "embed_s": round(ev.embed_s, 2),
                       "build_s": round(t2 - t1, 2), "kinds": kinds},
            "code_context": {"chunks": cc.rows, "embedded": cc.embedded,
                             "embed_s": round(cc.embed_s, 2), "build_s": round(t3 - t2, 2)},
        },
        "embeddings_per_1000_events": round(1000 * ev.embedded / n, 2) if n else None,
        "embeddings_per_1000_events_all_tables": (
            round(1000 * (ev.embedded + cc.embedded) / n, 2) if n else None),
        "ingest_s": round(t_ingest, 2),
        "wall_s": round(wall, 2),
        "baseline_embed_every_event": {
            "embeddings": n, "per_text_ms": round(per_text * 1000, 2),
            "estimated_s": round(per_text * n, 1),
        },
        "targets": {"per_1000_max": TARGET_PER_1000, "wall_s_max": TARGET_WALL_S},
        "met": {
            "per_1000": bool(n) and 1000 * ev.embedded / n <= TARGET_PER_1000,
            "wall": wall <= TARGET_WALL_S,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep the data root")
    args = ap.parse_args()
    r = run(args.data.resolve(), args.keep)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    ev, cc = r["tables"]["events"], r["tables"]["code_context"]
    b = r["baseline_embed_every_event"]
    print(f"ingested events:            {r['events_ingested']:>9,}  ({r['rows_written']:,} rows, "
          f"{r['ingest_s']} s)")
    print(f"events table:               {ev['chunks']:>9,} chunks, {ev['embedded']:,} embedded "
          f"in {ev['embed_s']} s (build {ev['build_s']} s)")
    print("  by kind:                  " + ", ".join(f"{k} {v}" for k, v in
                                                    sorted(ev["kinds"].items())))
    print(f"code_context table:         {cc['chunks']:>9,} chunks, {cc['embedded']:,} embedded "
          f"in {cc['embed_s']} s (build {cc['build_s']} s)")
    print(f"embeddings / 1,000 events:  {r['embeddings_per_1000_events']:>9} events table "
          f"(target <= {TARGET_PER_1000:g}); {r['embeddings_per_1000_events_all_tables']} "
          "with code_context")
    print(f"wall time from scratch:     {r['wall_s']:>9} s (target <= {TARGET_WALL_S:g} s)")
    print(f"baseline, embed every event: {b['embeddings']:,} embeddings at {b['per_text_ms']} ms "
          f"= ~{b['estimated_s']:,} s")
    print("targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in r["met"].items()))


if __name__ == "__main__":
    main()
