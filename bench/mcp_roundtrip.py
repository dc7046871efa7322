"""MCP server latency: time to `initialize`, warm search and SQL round trips (p50, p95).

The shared corpus (../shared/data: every capture, the 927 legacy recordings, the 30
CONTEXT.md files) is ingested and indexed with the real all-MiniLM-L6-v2 model into
--data-dir (reused when it already holds the three tables; default: a temp directory),
then the real server is driven through the SDK's client over stdio, as Claude Code does.

- initialize: spawn to a finished handshake, for `python -m mcp_server` and for
  `replayer serve`, against a baseline in the same run: an MCPServer with one trivial tool
  (the SDK's own floor).
- search: `search_events` with a different question each call (so the query embedding is
  always computed: the searcher caches vectors of repeated queries), model warm.
- SQL: `query_sql` with a count and a group-by over every event.
- baseline: `ping` round trips (transport floor) and the same searches in-process.
Targets: initialize within 1 s; warm search round trip at most 25 ms p50.
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
SHARED = ROOT / ".." / "shared"
DATA = SHARED / "data"
QUESTIONS = SHARED / "eval" / "questions.jsonl"
INIT_TARGET_S = 1.0
SEARCH_TARGET_MS = 25.0

_TRIVIAL = """
from mcp.server.mcpserver import MCPServer
s = MCPServer("trivial")
@s.tool()
def echo(x: int) -> int:
    return x
s.run("stdio")
"""


def prepare(data_dir: Path, log: Any) -> dict[str, Any]:
    """Ingest and index the shared corpus into data_dir unless it is already there."""
    from store.paths import TABLE_NAMES, DataPaths
    from store.settings import Settings

    settings = Settings.load(data_dir=data_dir, context_roots=str(DATA / "context_md"))
    if all(DataPaths(settings.data_dir).table(t).is_dir() for t in TABLE_NAMES):
        log(f"reusing the indexed corpus in {data_dir}")
        return {"prepared_s": 0.0, "reused": True}
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
            "reused": False}


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    env.update(RUGS_DATA_DIR=str(data_dir), RUGS_CONTEXT_ROOTS=str(DATA / "context_md"),
               PYTHONPATH=str(ROOT))
    return env


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(ms, 50), 2), "p95_ms": round(_pct(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 2), "n": len(ms)}


async def time_initialize(args: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    from mcp import Client, StdioServerParameters

    times = []
    for _ in range(runs):
        params = StdioServerParameters(command=sys.executable, args=args, env=env,
                                       cwd=str(ROOT))
        t0 = time.perf_counter()
        async with Client(params, mode="legacy"):
            times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "runs": runs}


async def time_calls(env: dict[str, str], questions: list[str], rounds: int,
                     log: Any) -> dict[str, Any]:
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

        ping = []
        for _ in range(rounds):
            t = time.perf_counter()
            await c.send_ping()
            ping.append((time.perf_counter() - t) * 1000)
        out["ping"] = _summary(ping)

        search_ms = []
        for i in range(rounds):
            q = f"{questions[i % len(questions)]} ({i})"  # distinct text: embedded every time
            t = time.perf_counter()
            res = await c.call_tool("search_events", {"query": q, "k": 8})
            search_ms.append((time.perf_counter() - t) * 1000)
            assert not res.is_error, res.content
        out["search_events"] = _summary(search_ms)

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


def in_process(data_dir: Path, questions: list[str], rounds: int) -> dict[str, Any]:
    """The same searches and SQL without MCP: what the server adds on top."""
    from indexer.search import searcher_for
    from store.paths import DataPaths
    from store.sandbox import run_query
    from store.settings import Settings

    settings = Settings.load(data_dir=data_dir, context_roots=str(DATA / "context_md"))
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
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the benchmark needs the shared corpus")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="rugs-mcp-bench-"))).resolve()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()
                 if line.strip()]
    result: dict[str, Any] = {"data_dir": str(data_dir), **prepare(data_dir, log)}
    env = _env(data_dir)
    log("timing initialize ...")
    result["initialize"] = {
        "baseline_trivial_server": asyncio.run(time_initialize(
            ["-c", _TRIVIAL], env, args.init_runs)),
        "python -m mcp_server": asyncio.run(time_initialize(
            ["-m", "mcp_server"], env, args.init_runs)),
        "replayer serve": asyncio.run(time_initialize(
            ["-m", "replayer.cli", "serve"], env, args.init_runs)),
    }
    log("timing round trips ...")
    result["round_trips"] = asyncio.run(time_calls(env, questions, args.rounds, log))
    result["in_process"] = in_process(data_dir, questions, args.rounds)
    init = result["initialize"]["python -m mcp_server"]["median_s"]
    search = result["round_trips"]["search_events"]["p50_ms"]
    result["targets"] = {
        "initialize_s": {"target": INIT_TARGET_S, "got": init, "met": init <= INIT_TARGET_S},
        "search_p50_ms": {"target": SEARCH_TARGET_MS, "got": search,
                          "met": search <= SEARCH_TARGET_MS},
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"corpus: {data_dir} ({'reused' if result['reused'] else 'built'}"
          f"{'' if result['reused'] else ', ' + str(result['prepared_s']) + ' s'})")
    print(f"\n{'initialize (spawn to handshake)':<44}{'median':>9}{'min':>9}{'max':>9}")
    for name, r in result["initialize"].items():
        print(f"  {name:<42}{r['median_s']:>8.3f}s{r['min_s']:>8.3f}s{r['max_s']:>8.3f}s")
    print(f"\n{'round trip (warm)':<44}{'p50':>9}{'p95':>9}{'mean':>9}")
    rows = [(f"  {k}", v) for k, v in result["round_trips"].items() if isinstance(v, dict)]
    rows += [(f"  in-process {k}", v) for k, v in result["in_process"].items()]
    for name, r in rows:
        print(f"{name:<44}{r['p50_ms']:>7.2f}ms{r['p95_ms']:>7.2f}ms{r['mean_ms']:>7.2f}ms")
    print(f"\nfirst search after start (model load): {result['round_trips']['first_search_s']} s")
    for name, t in result["targets"].items():
        print(f"target {name}: {t['got']} vs {t['target']} -> {'met' if t['met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
