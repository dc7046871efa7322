"""Embedding backends compared in one run: sentence-transformers on torch against onnxruntime.

all-MiniLM-L6-v2 from the installed package; its ONNX export is made once into --data-dir
(default: a temporary directory), as `replayer index prepare-model` makes it.

  1. single query, distinct texts (the verified questions): torch on one thread (the
     previous production path: direct BERT + mean pool) against the ONNX session with
     onnxruntime's default threads (untuned: every core), two intra-op threads (spinning
     between operators, and not), and one thread (production, `OnnxEmbedder.embed_query`).
     Interleaved rounds; the cores are shared, so each backend's best round is reported
     next to the median round.
  2. many texts (indexing): the 30 real CONTEXT.md files' sections, torch `encode`
     (length-sorted padded batches, all threads) against `OnnxEmbedder.embed` (production:
     one unpadded text per run, one caller thread per core), the same with one caller, and
     onnxruntime on length-sorted padded batches of 16 and 64 (all cores).
  3. cold start in a fresh process: import, load, first query (best of --cold-runs).
  4. agreement: smallest cosine of each ONNX path to sentence-transformers, and whether the
     indexing path gives the serving path's vectors bit for bit.
Targets: the production ONNX query faster than torch's; cosine >= 0.99999 everywhere.

    python bench/query_embedding.py [--json] [--rounds 5] [--queries 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO / ".." / "shared"
QUESTIONS = SHARED / "eval" / "questions.jsonl"
CONTEXTS = SHARED / "data" / "context_md"
MODEL = "all-MiniLM-L6-v2"
MIN_COSINE = 0.99999

_COLD = {
    "torch (sentence-transformers)": """
import sys, time
t = time.perf_counter()
from pathlib import Path
from indexer.embedder import SentenceTransformerEmbedder
e = SentenceTransformerEmbedder(Path(sys.argv[1]))
e.embed_query("how much money does the player have")
print(time.perf_counter() - t)
""",
    "onnxruntime (export)": """
import sys, time
t = time.perf_counter()
from pathlib import Path
from indexer.onnx_embedder import OnnxEmbedder
e = OnnxEmbedder(Path(sys.argv[2]))
e.embed_query("how much money does the player have")
print(time.perf_counter() - t)
""",
}


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def _questions() -> list[str]:
    if QUESTIONS.is_file():
        return [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()
                if line.strip()]
    return ["how much money does the player have", "which event ends a game",
            "what does the sidebet pay", "how is the parquet store partitioned"]


def _padded(emb: Any, texts: list[str], batch: int) -> Any:
    """onnxruntime the way sentence-transformers batches: sorted by length, padded per batch."""
    import numpy as np

    encoded = [e.ids for e in emb.tokenizer.encode_batch(texts)]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    out = np.empty((len(texts), emb.dim), dtype=np.float32)
    for start in range(0, len(order), batch):
        part = order[start:start + batch]
        ids = np.zeros((len(part), len(encoded[part[0]])), dtype=np.int64)
        for row, i in enumerate(part):
            ids[row, :len(encoded[i])] = encoded[i]
        out[part] = emb.run(ids, (ids != 0).astype(np.int64))  # [PAD] is id 0 here
    return out


def _sections(settings: Any) -> list[str]:
    from indexer.context_source import scan_sources

    chunks = [c for s in scan_sources(settings).sources for c in s.chunks()]
    return list({c.content_hash: c.text for c in chunks}.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="data root holding (or receiving) the ONNX export")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per backend")
    ap.add_argument("--queries", type=int, default=60, help="queries per round")
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    import numpy as np

    from indexer.embedder import LocalModelEmbedder, make_embedder
    from indexer.onnx_embedder import OnnxEmbedder, min_cosine
    from store.settings import Settings

    data = (args.data_dir or Path(tempfile.mkdtemp(prefix="bench-embed-"))).resolve()
    settings = Settings(data_dir=data, model_id=MODEL, context_roots=(CONTEXTS,))
    emb = make_embedder(settings)
    assert isinstance(emb, LocalModelEmbedder)
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    log("loading torch and preparing the ONNX export ...")
    manifest = emb.prepare()
    export = emb.export_path()
    torch_emb = emb.torch
    torch_emb.embed_query("warm up")
    onnx = {f"onnxruntime, {n}": OnnxEmbedder(export, query_threads=t)
            for n, t in (("default threads (untuned)", 0), ("2 threads", 2),
                         ("1 thread (production)", 1))}
    # Two threads that sleep instead of spin-waiting between operators.
    onnx["onnxruntime, 2 threads, no spinning"] = OnnxEmbedder(export, query_threads=2,
                                                               spin=False)
    backends: dict[str, Any] = {"torch, 1 thread (previous production)":
                                torch_emb.embed_query,
                                **{k: v.embed_query for k, v in onnx.items()}}
    qs = _questions()
    rounds: dict[str, list[tuple[float, float]]] = {k: [] for k in backends}
    log(f"single queries: {args.rounds} rounds x {args.queries} per backend ...")
    for r in range(args.rounds):
        for name, fn in backends.items():
            for q in qs[:3]:
                fn(q)
            ms = []
            for i in range(args.queries):
                text = f"{qs[i % len(qs)]} ({r}.{i})"  # distinct: nothing cached anywhere
                t = time.perf_counter()
                fn(text)
                ms.append((time.perf_counter() - t) * 1000)
            rounds[name].append((_pct(ms, 50), _pct(ms, 95)))
    single = {
        name: {"best_p50_ms": round(min(p for p, _ in rs), 2),
               "median_p50_ms": round(statistics.median(p for p, _ in rs), 2),
               "best_p95_ms": round(min(p for _, p in rs), 2),
               "median_p95_ms": round(statistics.median(p for _, p in rs), 2)}
        for name, rs in rounds.items()
    }

    log("many texts: CONTEXT.md sections ...")
    texts = _sections(settings)
    prod = onnx["onnxruntime, 1 thread (production)"]
    sequential = OnnxEmbedder(export, callers=1)
    all_cores = onnx["onnxruntime, default threads (untuned)"]
    batch: dict[str, float] = {}
    vecs: dict[str, Any] = {}
    for name, fn in (
        ("torch encode, padded batches (previous)", torch_emb.embed),
        ("onnxruntime embed, a caller per core (production)", prod.embed),
        ("onnxruntime embed, one caller", sequential.embed),
        ("onnxruntime padded batches of 16, all cores", lambda t: _padded(all_cores, t, 16)),
        ("onnxruntime padded batches of 64, all cores", lambda t: _padded(all_cores, t, 64)),
    ):
        times = []
        for _ in range(2):
            t = time.perf_counter()
            vecs[name] = fn(texts)
            times.append(time.perf_counter() - t)
        batch[name] = round(len(texts) / min(times), 1)

    log("cold starts in fresh processes ...")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    env["PYTHONPATH"] = str(REPO)
    cold: dict[str, float] = {}
    for name, code in _COLD.items():
        runs = []
        for _ in range(args.cold_runs):
            out = subprocess.run([sys.executable, "-c", code, str(emb.model_dir), str(export)],
                                 env=env, capture_output=True, text=True, check=True)
            runs.append(float(out.stdout.split()[-1]))
        cold[name] = round(min(runs), 3)

    probe = qs[:40] + [qs[0] * 40]  # and one past the 256-token limit
    ref_q = torch_emb.embed(probe)
    agreement = {
        "queries: onnx 1 thread vs sentence-transformers": min_cosine(
            np.stack([prod.embed_query(q) for q in probe]), ref_q),
        "queries: onnx untuned vs sentence-transformers": min_cosine(np.stack(
            [onnx["onnxruntime, default threads (untuned)"].embed_query(q) for q in probe]),
            ref_q),
        "sections: onnx embed vs sentence-transformers": min_cosine(
            vecs["onnxruntime embed, a caller per core (production)"],
            vecs["torch encode, padded batches (previous)"]),
        "sections: onnx padded batches vs sentence-transformers": min_cosine(
            vecs["onnxruntime padded batches of 16, all cores"],
            vecs["torch encode, padded batches (previous)"]),
    }
    same_bits = bool(np.array_equal(np.stack([prod.embed_query(t) for t in texts[:60]]),
                                    vecs["onnxruntime embed, a caller per core (production)"]
                                    [:60]))
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    torch_p50 = single["torch, 1 thread (previous production)"]["best_p50_ms"]
    prod_p50 = single["onnxruntime, 1 thread (production)"]["best_p50_ms"]
    result: dict[str, Any] = {
        "load_avg": load, "cores": os.cpu_count(), "export": str(export),
        "export_s": manifest.get("export_s"), "onnxruntime": prod.runtime_version,
        "single_query": single, "batch_texts_per_s": batch, "batch_texts": len(texts),
        "cold_start_s": cold, "min_cosine": {k: round(v, 7) for k, v in agreement.items()},
        "indexing_equals_serving_bitwise": same_bits,
        "targets": {
            "onnx_query_faster_than_torch": {"torch_p50_ms": torch_p50,
                                             "onnx_p50_ms": prod_p50,
                                             "met": prod_p50 < torch_p50},
            "cosine": {"target": MIN_COSINE, "got": round(min(agreement.values()), 7),
                       "met": min(agreement.values()) >= MIN_COSINE},
            "indexing_equals_serving": {"met": same_bits},
        },
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"load average {load['start']} -> {load['end']} on {os.cpu_count()} cores; "
          f"onnxruntime {prod.runtime_version}; export {export}"
          + (f" (made in {manifest['export_s']} s)" if manifest.get("export_s") else ""))
    print(f"\n{'single query, distinct texts':<48}{'best p50':>10}{'med p50':>10}"
          f"{'best p95':>10}{'med p95':>10}")
    for name, row in single.items():
        print(f"  {name:<46}{row['best_p50_ms']:>8.2f}ms{row['median_p50_ms']:>8.2f}ms"
              f"{row['best_p95_ms']:>8.2f}ms{row['median_p95_ms']:>8.2f}ms")
    print(f"\n{str(len(texts)) + ' CONTEXT.md sections':<54}{'texts/s':>10}")
    for name, v in batch.items():
        print(f"  {name:<52}{v:>10.1f}")
    print(f"\n{'cold start: import + load + first query':<48}{'best':>10}")
    for name, v in cold.items():
        print(f"  {name:<46}{v:>9.3f}s")
    print(f"\n{'agreement (smallest cosine)':<48}")
    for name, v in agreement.items():
        print(f"  {name:<58}{v:.7f}")
    print(f"  {'indexing path = serving path, bit for bit':<58}{same_bits}")
    for name, t in result["targets"].items():
        print(f"target {name}: {'met' if t['met'] else 'MISSED'} ({t})")


if __name__ == "__main__":
    main()
