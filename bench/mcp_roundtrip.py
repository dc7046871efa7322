"""MCP server latency: `initialize`, spawn to first search (model cold), warm round trips.

The shared corpus (../shared/data: every capture, the 927 legacy recordings, the 30
CONTEXT.md files, the protocol docs as the docs root) is ingested and indexed with the real
all-MiniLM-L6-v2 model into --data-dir (reused when it already holds the three tables;
default: a temp directory; point it only at a dir built from this same corpus), with the
model's ONNX export made as a first build makes it; then the real server is driven
through the SDK's client over stdio, as Claude Code does.

- initialize: spawn to a finished handshake, for `python -m mcp_server` and for
  `replayer serve`, against a baseline in the same run: an MCPServer with one trivial tool
  (the SDK's own floor).
- cold: spawn, handshake, then at once a `search_events` call: time until it is answered,
  for both entry points on onnxruntime, against the same with RUGS_EMBED_BACKEND=torch
  (sentence-transformers, the previous query path) in the same run.
- search: `search_events` with a different question each call (so the query embedding is
  always computed: the searcher caches vectors of repeated queries), model warm; baseline
  the same on torch.
- SQL: `query_sql` with a count and a group-by over every event.
- baseline: `ping` round trips (transport floor) and the same searches in-process.
The load average is printed with each figure: the 2 cores may be shared.
Targets: initialize <= 0.8 s (both entry points); first search <= 2 s after spawn; warm
search round trip p50 <= 20 ms, p95 <= 30 ms.
Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mcp_server.search_worker import CHILD_ENV  # noqa: E402

# The in-process figures run searches as the server's search worker does (before numpy).
os.environ.update(CHILD_ENV)
SHARED = ROOT / ".." / "shared"
DATA = SHARED / "data"
DOCS = DATA / "protocol_docs"
QUESTIONS = SHARED / "eval" / "questions.jsonl"
INIT_TARGET_S = 0.8
COLD_TARGET_S = 2.0
SEARCH_P50_TARGET_MS = 20.0
SEARCH_P95_TARGET_MS = 30.0
ENTRY_POINTS = {"python -m mcp_server": ["-m", "mcp_server"],
                "replayer serve": ["-m", "replayer.cli", "serve"]}

_TRIVIAL = """
from mcp.server.mcpserver import MCPServer
s = MCPServer("trivial")
@s.tool()
def echo(x: int) -> int:
    return x
s.run("stdio")
"""


def _settings(data_dir: Path) -> Any:
    """The product's corpus: the shared CONTEXT.md files and protocol docs. Why the docs
    too: a build with another docs root deletes the doc sections of an index it reuses."""
    from store.settings import Settings

    return Settings.load(data_dir=data_dir, context_roots=str(DATA / "context_md"),
                         protocol_docs=DOCS)


def prepare(data_dir: Path, log: Any) -> dict[str, Any]:
    """Ingest and index the shared corpus into data_dir unless it is already there."""
    from indexer.embedder import prepare_model
    from store.paths import TABLE_NAMES, DataPaths

    settings = _settings(data_dir)
    if all(DataPaths(settings.data_dir).table(t).is_dir() for t in TABLE_NAMES):
        log(f"reusing the indexed corpus in {data_dir}")
        # An index built before the ONNX backend existed: export as a first build would.
        return {"prepared_s": 0.0, "reused": True,
                "onnx_export_s": prepare_model(settings).get("export_s", 0.0)}
    from indexer.build import build
    from indexer.notes import add_note
    from store.ingest import ingest
    from store.legacy import import_legacy
    from store.writer import EventWriter

    t0 = time.perf_counter()
    log(f"ingesting {DATA} into {data_dir} ...")
    with EventWriter.open(settings) as w:
        for f in sorted((DATA / "captures").iterdir()):
            ingest(w, f)
        ingest(w, DATA / "websocket_raw_samples.jsonl")
        ingest(w, DATA / "key-samples.json")
        import_legacy(w, DATA / "legacy_recordings")
    add_note(settings, "benchmark", "a note so that debug_notes has a row", ["bench"],
             "bench", index=False)
    t1 = time.perf_counter()
    log("building the three indexes with the real model ...")
    for r in build(settings):
        log(f"  {r.table}: {r.rows} rows, {r.embedded} embedded, {r.duration_s:.1f} s")
    return {"prepared_s": round(time.perf_counter() - t0, 1), "ingest_s": round(t1 - t0, 1),
            "reused": False, "onnx_export_s": prepare_model(settings).get("export_s", 0.0)}


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    env.update(RUGS_DATA_DIR=str(data_dir), RUGS_CONTEXT_ROOTS=str(DATA / "context_md"),
               RUGS_PROTOCOL_DOCS=str(DOCS), PYTHONPATH=str(ROOT), **extra)
    return env


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(ms, 50), 2), "p95_ms": round(_pct(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 2), "n": len(ms)}


async def time_initialize(args: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    times, loads = [], []
    for _ in range(runs):
        params = StdioServerParameters(command=sys.executable, args=args, env=env,
                                       cwd=str(ROOT))
        loads.append(_load())
        t0 = time.perf_counter()
        async with Client(params, mode="legacy"):
            times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "runs": runs, "load_avg": loads}


async def time_cold_search(args: list[str], env: dict[str, str], runs: int,
                           questions: list[str]) -> dict[str, Any]:
    """Spawn, handshake, one search at once: seconds from spawn to the answer (model cold)."""
    from mcp import Client, StdioServerParameters

    init, first, loads = [], [], []
    for i in range(runs):
        params = StdioServerParameters(command=sys.executable, args=args, env=env,
                                       cwd=str(ROOT))
        loads.append(_load())
        t0 = time.perf_counter()
        async with Client(params, read_timeout_seconds=300, mode="legacy") as c:
            init.append(time.perf_counter() - t0)
            res = await c.call_tool("search_events", {"query": questions[i], "k": 8})
            first.append(time.perf_counter() - t0)
            assert not res.is_error, res.content
    return {"first_search_median_s": round(statistics.median(first), 3),
            "first_search_min_s": round(min(first), 3),
            "first_search_max_s": round(max(first), 3),
            "initialize_median_s": round(statistics.median(init), 3), "runs": runs,
            "load_avg": loads}


async def time_calls(env: dict[str, str], questions: list[str], rounds: int,
                     log: Any, *, search_only: bool = False) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server"],
                                   env=env, cwd=str(ROOT))
    out: dict[str, Any] = {}
    # Handshake-era protocol, as Claude Code speaks it today (and `ping` still exists there).
    async with Client(params, read_timeout_seconds=300, mode="legacy") as c:
        # Warm: the server loads the model in the background; one search waits for it.
        t0 = time.perf_counter()
        res = await c.call_tool("search_events", {"query": "warm up please", "k": 5})
        assert not res.is_error, res.content
        out["first_search_s"] = round(time.perf_counter() - t0, 2)
        log(f"first search (model load included): {out['first_search_s']} s")
        out["load_avg"] = _load()
        if search_only:
            out["search_events"] = _summary(await _searches(c, questions, rounds))
            return out

        ping = []
        for _ in range(rounds):
            t = time.perf_counter()
            await c.send_ping()
            ping.append((time.perf_counter() - t) * 1000)
        out["ping"] = _summary(ping)

        out["search_events"] = _summary(await _searches(c, questions, rounds))

        cross = []
        for i in range(rounds):
            q = f"{questions[(i + 7) % len(questions)]} [{i}]"
            t = time.perf_counter()
            res = await c.call_tool("search", {"query": q, "k": 8})
            cross.append((time.perf_counter() - t) * 1000)
            assert not res.is_error, res.content
        out["search_cross_table"] = _summary(cross)

        for name, sql in (
            ("sql_count", "SELECT count(*) FROM all_events"),
            ("sql_group_by", "SELECT doc_type, event_name, count(*) FROM all_events "
                             "GROUP BY ALL ORDER BY 3 DESC"),
        ):
            ms = []
            for _ in range(max(10, rounds // 3)):
                t = time.perf_counter()
                res = await c.call_tool("query_sql", {"sql": sql})
                ms.append((time.perf_counter() - t) * 1000)
                assert not res.is_error, res.content
            out[name] = _summary(ms)
    return out


async def _searches(c: Any, questions: list[str], rounds: int) -> list[float]:
    ms = []
    for i in range(rounds):
        q = f"{questions[i % len(questions)]} ({i})"  # distinct text: embedded every time
        t = time.perf_counter()
        res = await c.call_tool("search_events", {"query": q, "k": 8})
        ms.append((time.perf_counter() - t) * 1000)
        assert not res.is_error, res.content
    return ms


def in_process(data_dir: Path, questions: list[str], rounds: int) -> dict[str, Any]:
    """The same searches and SQL without MCP (the search worker's environment): what the
    server adds on top."""
    from indexer.search import searcher_for
    from store.paths import DataPaths
    from store.sandbox import run_query

    settings = _settings(data_dir)
    s = searcher_for(settings)
    s.search("warm up", table="events", k=5)
    embed, search = [], []
    for i in range(rounds):
        q = f"{questions[i % len(questions)]} <{i}>"
        t = time.perf_counter()
        s.embedder.embed_query(q)
        embed.append((time.perf_counter() - t) * 1000)
        q2 = q + " again"
        t = time.perf_counter()
        s.search(q2, table="events", k=8)
        search.append((time.perf_counter() - t) * 1000)
    sql = []
    for _ in range(max(10, rounds // 3)):
        t = time.perf_counter()
        run_query(DataPaths(data_dir), "SELECT count(*) FROM all_events")
        sql.append((time.perf_counter() - t) * 1000)
    return {"embed_query": _summary(embed), "search_events": _summary(search),
            "sql_count_no_worker": _summary(sql)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="indexed data root to reuse or fill (default: a temp directory)")
    ap.add_argument("--rounds", type=int, default=60, help="round trips per measurement")
    ap.add_argument("--init-runs", type=int, default=5)
    ap.add_argument("--cold-runs", type=int, default=3,
                    help="spawn-to-first-search runs per entry point and backend")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the benchmark needs the shared corpus")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="rugs-mcp-bench-"))).resolve()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()
                 if line.strip()]
    result: dict[str, Any] = {"data_dir": str(data_dir), "cores": os.cpu_count(),
                              **prepare(data_dir, log)}
    env = _env(data_dir)
    torch_env = _env(data_dir, RUGS_EMBED_BACKEND="torch")
    log("timing initialize ...")
    result["initialize"] = {
        "baseline_trivial_server": asyncio.run(time_initialize(
            ["-c", _TRIVIAL], env, args.init_runs)),
        **{name: asyncio.run(time_initialize(argv, env, args.init_runs))
           for name, argv in ENTRY_POINTS.items()},
    }
    log("timing spawn to first search (model cold) ...")
    cold: dict[str, Any] = {}
    for name, argv in ENTRY_POINTS.items():
        cold[f"{name} (onnxruntime)"] = asyncio.run(time_cold_search(
            argv, env, args.cold_runs, questions))
    cold["python -m mcp_server (torch, baseline)"] = asyncio.run(time_cold_search(
        ENTRY_POINTS["python -m mcp_server"], torch_env, args.cold_runs, questions))
    result["cold_first_search"] = cold
    log("timing round trips ...")
    result["round_trips"] = asyncio.run(time_calls(env, questions, args.rounds, log))
    result["round_trips_torch_baseline"] = asyncio.run(time_calls(
        torch_env, questions, args.rounds, log, search_only=True))
    result["in_process"] = in_process(data_dir, questions, args.rounds)
    search = result["round_trips"]["search_events"]
    targets: dict[str, Any] = {}
    for name in ENTRY_POINTS:
        got = result["initialize"][name]["median_s"]
        targets[f"initialize_s, {name}"] = {"target": INIT_TARGET_S, "got": got,
                                            "met": got <= INIT_TARGET_S}
        got = cold[f"{name} (onnxruntime)"]["first_search_median_s"]
        targets[f"first_search_cold_s, {name}"] = {"target": COLD_TARGET_S, "got": got,
                                                   "met": got <= COLD_TARGET_S}
    targets["search_p50_ms"] = {"target": SEARCH_P50_TARGET_MS, "got": search["p50_ms"],
                                "met": search["p50_ms"] <= SEARCH_P50_TARGET_MS}
    targets["search_p95_ms"] = {"target": SEARCH_P95_TARGET_MS, "got": search["p95_ms"],
                                "met": search["p95_ms"] <= SEARCH_P95_TARGET_MS}
    result["targets"] = targets
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"corpus: {data_dir} ({'reused' if result['reused'] else 'built'}"
          f"{'' if result['reused'] else ', ' + str(result['prepared_s']) + ' s'}); "
          f"{os.cpu_count()} cores; load average (1 min) shown per measurement")
    print(f"\n{'initialize (spawn to handshake)':<44}{'median':>9}{'min':>9}{'max':>9}  load")
    for name, r in result["initialize"].items():
        print(f"  {name:<42}{r['median_s']:>8.3f}s{r['min_s']:>8.3f}s{r['max_s']:>8.3f}s  "
              f"{r['load_avg']}")
    print(f"\n{'spawn to first search answered (cold)':<44}{'median':>9}{'min':>9}{'max':>9}"
          "  load")
    for name, r in cold.items():
        print(f"  {name:<42}{r['first_search_median_s']:>8.3f}s{r['first_search_min_s']:>8.3f}s"
              f"{r['first_search_max_s']:>8.3f}s  {r['load_avg']}")
    print(f"\n{'round trip (warm)':<44}{'p50':>9}{'p95':>9}{'mean':>9}")
    rows = [(f"  {k}", v) for k, v in result["round_trips"].items() if isinstance(v, dict)]
    rows.append(("  search_events (torch, baseline)",
                 result["round_trips_torch_baseline"]["search_events"]))
    rows += [(f"  in-process {k}", v) for k, v in result["in_process"].items()]
    for name, r in rows:
        print(f"{name:<44}{r['p50_ms']:>7.2f}ms{r['p95_ms']:>7.2f}ms{r['mean_ms']:>7.2f}ms")
    print(f"  (load average {result['round_trips']['load_avg']} onnxruntime, "
          f"{result['round_trips_torch_baseline']['load_avg']} torch)")
    for name, t in targets.items():
        print(f"target {name}: {t['got']} vs {t['target']} -> {'met' if t['met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
