"""Retrieval quality on the shared questions: build the index from ../shared/data and score it.

Ingests every capture and legacy recording, builds `events` and `code_context` (the 30
CONTEXT.md files) with the real model, and prints hit@1, hit@5 and MRR per table and mode
(targets: hybrid hit@5 >= 0.9 on each table, MRR >= 0.75, hybrid ahead of both single
modes). Baseline in the same run: the approach that failed before, an events table of raw
JSON payload dumps without the event's name (one chunk per distinct payload, at most
BASELINE_PER_EVENT per event name), scored on the same events questions.

    python bench/eval_retrieval.py [--json] [--data DIR] [--questions FILE] [--no-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chunkers.chunk import Chunk  # noqa: E402
from indexer.build import build_full  # noqa: E402
from indexer.embedder import Embedder, make_embedder  # noqa: E402
from indexer.evaluate import evaluate, format_report, load_questions  # noqa: E402
from indexer.registry import with_provider  # noqa: E402
from indexer.search import Searcher  # noqa: E402
from indexer.source import CallableSource, SourceScan  # noqa: E402
from store.paths import DataPaths  # noqa: E402
from store.settings import Settings  # noqa: E402

DEFAULT_DATA = REPO / ".." / "shared" / "data"
DEFAULT_QUESTIONS = REPO / ".." / "shared" / "eval" / "questions.jsonl"
BASELINE_PER_EVENT = 40
RAW_CHARS = 1_500
MODES = ("hybrid", "vector", "text")


def ingest_all(settings: Settings, data: Path) -> int:
    from store.ingest import ingest
    from store.legacy import import_legacy
    from store.writer import EventWriter

    captures = [data / "websocket_raw_samples.jsonl", *sorted((data / "captures").iterdir()),
                data / "key-samples.json"]
    read = 0
    with EventWriter.open(settings) as w:
        for f in captures:
            read += ingest(w, f).read
        read += import_legacy(w, data / "legacy_recordings").read
    return read


def raw_json_chunks(store: DataPaths) -> list[Chunk]:
    """The old approach: a chunk per raw payload, no name, no words, only the JSON text."""
    from store.views import connect

    con = connect(store)
    try:
        rows = con.execute(
            "SELECT event_name, raw_json FROM (SELECT event_name, raw_json, row_number() OVER "
            "(PARTITION BY event_name ORDER BY ts) AS i FROM all_events "
            "WHERE doc_type IN ('ws_event', 'game_tick', 'system_event')) "
            "WHERE i <= $n", {"n": BASELINE_PER_EVENT}).fetchall()
    finally:
        con.close()
    out: dict[str, Chunk] = {}
    for name, raw in rows:
        text = raw[:RAW_CHARS]
        cid = hashlib.sha256(text.encode()).hexdigest()[:24]
        out.setdefault(text, Chunk(cid, text, "raw", {"event_name": name}))
    return list(out.values())


def scores(rep: Any) -> dict[str, dict[str, dict[str, Any]]]:
    return {t: {m: s.to_dict() for m, s in ms.items()} for t, ms in rep.scores.items()}


def targets_met(figs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, bool]:
    met = {}
    for table, f in figs.items():
        h = f["hybrid"]
        met[f"{table} hybrid hit@5 >= 0.9"] = h["hit@5"] >= 0.9
        met[f"{table} hybrid MRR >= 0.75"] = h["mrr"] >= 0.75
        met[f"{table} hybrid ahead of vector and text"] = all(
            (h["hit@5"], h["mrr"]) > (f[m]["hit@5"], f[m]["mrr"]) for m in ("vector", "text"))
    return met


def run(data: Path, questions: Path, baseline: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="eval_retrieval_"))
    try:
        settings = Settings.load(data_dir=tmp / "data", context_roots=[data / "context_md"])
        t0 = time.perf_counter()
        n = ingest_all(settings, data)
        embedder: Embedder = make_embedder(settings)
        for table in ("events", "code_context"):
            build_full(settings, table, embedder=embedder)
        t_build = time.perf_counter() - t0
        qs = load_questions(questions)
        rep = evaluate(settings, qs, MODES, searcher=Searcher(settings, embedder),
                       question_file=str(questions))
        out: dict[str, Any] = {
            "events_ingested": n, "build_s": round(t_build, 1),
            "questions": len(qs), "scores": scores(rep), "ranks": rep.ranks,
            "report": format_report(rep, qs, show_misses=True),
        }
        out["targets_met"] = targets_met(out["scores"])
        if baseline:
            chunks = raw_json_chunks(DataPaths(settings.data_dir))
            base = settings.with_(data_dir=tmp / "baseline")
            spec = with_provider("events", lambda _s: SourceScan(
                [CallableSource("raw", "1", lambda: chunks)]), chunker_version="raw-json")
            build_full(base, "events", embedder=embedder, spec=spec)
            ev_qs = [q for q in qs if q.table == "events"]
            brep = evaluate(base, ev_qs, MODES, searcher=Searcher(base, embedder))
            out["baseline_raw_json"] = {"chunks": len(chunks), "scores": scores(brep)}
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    ap.add_argument("--no-baseline", action="store_true", help="skip the raw-JSON baseline")
    args = ap.parse_args()
    r = run(args.data.resolve(), args.questions.resolve(), not args.no_baseline)
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "report"}, indent=2))
        return
    print(f"index built from {r['events_ingested']:,} ingested events in {r['build_s']} s")
    print(r["report"])
    if "baseline_raw_json" in r:
        b = r["baseline_raw_json"]
        print(f"\nbaseline: raw JSON dumps without event names ({b['chunks']} chunks), "
              "events questions")
        for m in MODES:
            s = b["scores"]["events"][m]
            print(f"{'events':<14} {m:<8} {s['questions']:>4} {s['hit@1']:>7.3f} "
                  f"{s['hit@5']:>7.3f} {s['mrr']:>7.3f}")
    print("\ntargets: " + "; ".join(f"{k}: {'yes' if v else 'NO'}"
                                     for k, v in r["targets_met"].items()))


if __name__ == "__main__":
    main()
