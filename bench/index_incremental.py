"""Incremental indexing speed on the 30 real CONTEXT.md files, against raw embedding time.

Measures, with the real all-MiniLM-L6-v2 model on its ONNX export (made first, outside
every timing, as `replayer index prepare-model` makes it):
  1. a no-op incremental run in a fresh process (target <= 0.3 s), and that it imports
     neither torch nor LanceDB; also the whole `replayer index contexts --hook` command,
     and that command exactly as `replayer claude init` writes it into settings.json (run
     by a shell, target <= 0.3 s, torch and LanceDB unimported), against the floor of
     starting the interpreter (`python -c pass`);
  2. re-indexing one changed CONTEXT.md among the 30 with the model warm (target <= 1.5 s):
     one section edited (the usual case) and, for scale, a whole file rewritten; and the
     hook command after one section edited, in a fresh process (model cold), which must
     not import torch either;
  3. the indexer's overhead over the raw embedding time of the same chunks in a full build
     (target <= 15 %);
  4. a warm hybrid search with its query embedding, as the MCP server runs it.

    python bench/index_incremental.py [--json] [--context-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.build import build_full, build_incremental  # noqa: E402
from indexer.context_source import scan_sources  # noqa: E402
from indexer.embedder import make_embedder  # noqa: E402
from indexer.search import Searcher  # noqa: E402
from mcp_server.claude_files import launch_for  # noqa: E402
from store.settings import Settings  # noqa: E402

DEFAULT_CORPUS = REPO / ".." / "shared" / "data" / "context_md"

_NOOP_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from store.settings import Settings
from indexer.build import build_incremental
t1 = time.perf_counter()
s = Settings.load(data_dir=sys.argv[1], context_roots=sys.argv[2])
r = build_incremental(s, "code_context")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "run_s": t2 - t1, "noop": r.noop,
                  "torch": "torch" in sys.modules, "lancedb": "lancedb" in sys.modules,
                  "sentence_transformers": "sentence_transformers" in sys.modules}))
"""


_HOOK_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from replayer.cli import main
sys.argv = ["replayer", "index", "contexts"]
try:
    main()
except SystemExit:
    pass
print(json.dumps({"s": time.perf_counter() - t0, "torch": "torch" in sys.modules}),
      file=sys.stderr)
"""


def _env(data: Path, corpus: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    env.update(RUGS_DATA_DIR=str(data), RUGS_CONTEXT_ROOTS=str(corpus), PYTHONPATH=str(REPO))
    return env


def noop_runs(data: Path, corpus: Path, repeats: int = 5) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _NOOP_CHILD, str(data), str(corpus)],
                             cwd=REPO, env=_env(data, corpus), capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(out.stdout))
    hook = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "replayer.cli", "index", "contexts", "--hook"],
                       cwd=REPO, env=_env(data, corpus), capture_output=True, text=True,
                       check=True, stdin=subprocess.DEVNULL)
        hook.append(time.perf_counter() - t0)
    # The hook as `replayer claude init` writes it: env assignments + the venv's replayer.
    written = launch_for(Settings(data_dir=data, context_roots=(corpus,)), corpus)
    command = written.hook_command()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    as_written, floor = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(command, shell=True, cwd=corpus, env=base_env, capture_output=True,
                       text=True, check=True, stdin=subprocess.DEVNULL)
        as_written.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([written.python, "-c", "pass"], check=True)
        floor.append(time.perf_counter() - t0)
    traced = subprocess.run(command, shell=True, cwd=corpus, capture_output=True, text=True,
                            env=base_env | {"PYTHONPROFILEIMPORTTIME": "1"}, check=True,
                            stdin=subprocess.DEVNULL)
    imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()
                if line.startswith("import time:")}
    best = min(runs, key=lambda r: r["run_s"])
    return {
        "hook_as_written_s": min(as_written),
        "hook_as_written_noop": "up to date" in traced.stdout,
        "hook_as_written_heavy_imports": sorted(
            m for m in imported if m.split(".")[0] in ("torch", "lancedb",
                                                       "sentence_transformers")),
        "interpreter_start_s": min(floor),
        "noop_run_s": best["run_s"],
        "noop_import_s": best["import_s"],
        "noop_all_noop": all(r["noop"] for r in runs),
        "noop_torch_imported": any(r["torch"] or r["sentence_transformers"] for r in runs),
        "noop_lancedb_imported": any(r["lancedb"] for r in runs),
        "hook_command_s": min(hook),
    }


def _edit_one_section(path: Path) -> None:
    """Add a sentence to the middle `##` section (the usual edit: one section's text)."""
    lines = path.read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("## ")]
    at = heads[len(heads) // 2] + 1
    lines.insert(at, f"Edited at {time.time():.0f}: the bench changed this section.")
    path.write_text("\n".join(lines) + "\n")


def _rewrite_file(path: Path) -> None:
    """Change every section of the file (the worst case of one changed file)."""
    out = []
    for line in path.read_text().splitlines():
        out.append(line)
        if line.startswith("#"):
            out.append(f"Revised {time.time():.0f}.")
    path.write_text("\n".join(out) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--context-dir", type=Path, default=DEFAULT_CORPUS,
                    help="directory with the CONTEXT.md corpus (default ../shared/data/context_md)")
    args = ap.parse_args()
    src = args.context_dir.resolve()
    if not src.is_dir():
        sys.exit(f"no CONTEXT.md corpus at {src}")

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        corpus = Path(tmp) / "context_md"
        shutil.copytree(src, corpus)
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data, context_roots=(corpus,))
        files = sorted(corpus.rglob("CONTEXT.md"))

        t0 = time.perf_counter()
        emb = make_embedder(settings)
        manifest = emb.prepare()  # type: ignore[attr-defined]  # the export, once
        emb.embed_query("warm up")  # session load, outside every timing
        load_s = time.perf_counter() - t0
        backend = emb.backend  # type: ignore[attr-defined]

        # 3. overhead: raw embedding of the build's chunks vs the full build, best of 2 each
        chunks = [c for s in scan_sources(settings).sources for c in s.chunks()]
        texts = list({c.content_hash: c.text for c in chunks}.values())
        raw, full = [], []
        report = None
        for _ in range(3):  # interleaved, best of 3: the 2 cores are shared with others
            t = time.perf_counter()
            emb.embed(texts)
            raw.append(time.perf_counter() - t)
            t = time.perf_counter()
            report = build_full(settings, "code_context", embedder=emb)
            full.append(time.perf_counter() - t)
        assert report is not None
        raw_s, full_s = min(raw), min(full)

        # 1. no-op incremental in fresh processes (model, torch, LanceDB all cold)
        build_incremental(settings, "code_context", embedder=emb)  # checkpoint digests
        noop = noop_runs(data, corpus)

        # 2. one changed file among the 30, model warm (best of 3 edits of each kind)
        target = max(files, key=lambda p: p.stat().st_size)
        edits, rewrites = [], []
        for _ in range(3):
            _edit_one_section(target)
            t = time.perf_counter()
            edit = build_incremental(settings, "code_context", embedder=emb)
            edits.append(time.perf_counter() - t)
            _rewrite_file(target)
            t = time.perf_counter()
            rewrite = build_incremental(settings, "code_context", embedder=emb)
            rewrites.append(time.perf_counter() - t)
        edit_s, rewrite_s = min(edits), min(rewrites)

        # the SessionStart hook's real case: a fresh process, one section edited
        cold = []
        for _ in range(3):
            _edit_one_section(target)
            out = subprocess.run([sys.executable, "-c", _HOOK_CHILD], cwd=REPO,
                                 env=_env(data, corpus), capture_output=True, text=True,
                                 check=True, stdin=subprocess.DEVNULL)
            cold.append(json.loads(out.stderr.strip().splitlines()[-1]))
        cold_edit = min(cold, key=lambda r: r["s"])

        # what the MCP server pays per search: query embedding + vector + BM25 + fusion
        searcher = Searcher(settings, emb)
        searcher.search("warm up", table="code_context")
        lat = []
        for i in range(40):
            t = time.perf_counter()
            searcher.search(f"which hook events can scripts attach to {i}",
                            table="code_context", k=5)
            lat.append(time.perf_counter() - t)
        lat.sort()

    result = {
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "files": len(files),
        "chunks": len(chunks),
        "unique_texts": len(texts),
        "model_load_s": round(load_s, 3),
        "backend": backend,
        "onnx_export_s": manifest.get("export_s", 0.0),
        "noop_incremental_s": round(noop["noop_run_s"], 4),
        "noop_import_s": round(noop["noop_import_s"], 4),
        "noop_target_s": 0.3,
        "noop_torch_imported": noop["noop_torch_imported"],
        "noop_lancedb_imported": noop["noop_lancedb_imported"],
        "hook_command_s": round(noop["hook_command_s"], 3),
        "hook_as_written_s": round(noop["hook_as_written_s"], 3),
        "hook_as_written_noop": noop["hook_as_written_noop"],
        "hook_as_written_heavy_imports": noop["hook_as_written_heavy_imports"],
        "interpreter_start_s": round(noop["interpreter_start_s"], 3),
        "one_file_edited_s": round(edit_s, 3),
        "one_file_edited_embedded": edit.embedded,
        "one_file_rewritten_s": round(rewrite_s, 3),
        "one_file_rewritten_embedded": rewrite.embedded,
        "changed_file": str(target.relative_to(corpus)),
        "one_file_target_s": 1.5,
        "one_file_edited_cold_process_s": round(cold_edit["s"], 3),
        "one_file_edited_cold_torch_imported": any(r["torch"] for r in cold),
        "full_build_s": round(full_s, 3),
        "raw_embedding_s": round(raw_s, 3),
        "overhead_pct": round(100 * (full_s - raw_s) / raw_s, 1),
        "overhead_target_pct": 15.0,
        "search_hybrid_p50_ms": round(1000 * lat[len(lat) // 2], 1),
        "search_hybrid_p95_ms": round(1000 * lat[int(len(lat) * 0.95)], 1),
    }
    result["pass"] = (result["noop_incremental_s"] <= 0.3 and not result["noop_torch_imported"]
                      and not result["one_file_edited_cold_torch_imported"]
                      and result["hook_as_written_s"] <= 0.3 and result["hook_as_written_noop"]
                      and not result["hook_as_written_heavy_imports"]
                      and result["one_file_edited_s"] <= 1.5
                      and result["overhead_pct"] <= 15.0)
    if args.json:
        print(json.dumps(result))
        return
    r = result
    print(f"corpus: {r['files']} CONTEXT.md files, {r['chunks']} chunks "
          f"({r['unique_texts']} distinct texts); model {r['backend']}, load "
          f"{r['model_load_s']} s (ONNX export {r['onnx_export_s']} s); "
          f"load average {r['load_avg_1min']} on {os.cpu_count()} cores\n")
    print(f"{'measure':<52} {'value':>10} {'target':>10}")
    rows = [
        ("no-op incremental, fresh process (s)", r["noop_incremental_s"], "<= 0.3"),
        ("  of which imports before the call (s)", r["noop_import_s"], ""),
        ("  torch imported", r["noop_torch_imported"], "False"),
        ("  LanceDB imported", r["noop_lancedb_imported"], ""),
        ("`replayer index contexts --hook`, whole process (s)", r["hook_command_s"], ""),
        ("  as `claude init` writes it, via a shell (s)", r["hook_as_written_s"], "<= 0.3"),
        ("  torch / LanceDB imported by it",
         ",".join(r["hook_as_written_heavy_imports"]) or "none", "none"),
        ("  baseline: interpreter start, `python -c pass` (s)", r["interpreter_start_s"], ""),
        (f"one file, one section edited (s) [{r['one_file_edited_embedded']} embedded]",
         r["one_file_edited_s"], "<= 1.5"),
        (f"one file, every section changed (s) [{r['one_file_rewritten_embedded']} emb.]",
         r["one_file_rewritten_s"], ""),
        ("one section edited, hook command in a fresh process (s)",
         r["one_file_edited_cold_process_s"], ""),
        ("  torch imported", r["one_file_edited_cold_torch_imported"], "False"),
        ("full build of the corpus (s)", r["full_build_s"], ""),
        ("raw embedding of the same texts, baseline (s)", r["raw_embedding_s"], ""),
        ("indexer overhead over raw embedding (%)", r["overhead_pct"], "<= 15"),
        ("warm hybrid search incl. query embedding, p50 (ms)", r["search_hybrid_p50_ms"],
         ""),
        ("  p95 (ms)", r["search_hybrid_p95_ms"], ""),
    ]
    for label, value, goal in rows:
        print(f"{label:<52} {value!s:>10} {goal:>10}")
    print(f"\nchanged file: {r['changed_file']}; all targets met: {r['pass']}")


if __name__ == "__main__":
    main()
