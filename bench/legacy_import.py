"""Whole legacy corpus import (target <= 10 s) against plain JSON parsing of the same files.

Rows in the same run:
  json.loads baseline  read every file and json.loads every line, nothing else (the floor)
  import (batch path)  store.legacy.import_legacy: map + columnar write_arrow, WAL on, Parquet
  re-import            the same again into the same root: everything is a duplicate
  dict path            the same rows through EventWriter.write_many (per-row normalize), for
                       comparison with the batch path (skip with --no-dict-path)
Prints a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.clock import Clock  # noqa: E402
from store.legacy import import_legacy, legacy_files, rows_of_files  # noqa: E402
from store.settings import Settings  # noqa: E402
from store.writer import EventWriter  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "legacy_recordings"
TARGET_S = 10.0


def json_baseline(directory: Path) -> int:
    n = 0
    for path in legacy_files(directory):
        for line in path.read_bytes().split(b"\n"):
            if not line.strip():
                continue
            n += 1
            try:
                json.loads(line)
            except ValueError:
                pass
    return n


def batch_import(directory: Path, root: Path) -> dict[str, Any]:
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        return import_legacy(w, directory).to_dict()


def dict_path(directory: Path, root: Path, batch: int = 100_000) -> int:
    written = 0
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        rows: list[dict[str, Any]] = []
        for r in rows_of_files(legacy_files(directory)):
            rows.append(r)
            if len(rows) >= batch:
                written += w.write_many(rows).total_written
                rows = []
        written += w.write_many(rows).total_written
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="legacy recordings directory")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-dict-path", action="store_true", help="skip the dict-path comparison")
    args = ap.parse_args()
    if not args.dir.is_dir():
        raise SystemExit(f"{args.dir} not found: this benchmark needs ../shared/data")

    tmp = Path(tempfile.mkdtemp(prefix="bench-legacy-"))
    clocks: dict[str, Clock] = {}
    dict_written = None
    try:
        with Clock() as clocks["json.loads baseline"]:
            lines = json_baseline(args.dir)
        with Clock() as clocks["import (batch path)"]:
            summary = batch_import(args.dir, tmp / "a")
        with Clock() as clocks["re-import (all dups)"]:
            again = batch_import(args.dir, tmp / "a")
        if not args.no_dict_path:
            with Clock() as clocks["dict path (write_many)"]:
                dict_written = dict_path(args.dir, tmp / "b")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base_s = clocks["json.loads baseline"].wall
    imp_s = clocks["import (batch path)"].wall
    again_s = clocks["re-import (all dups)"].wall
    dict_s = clocks["dict path (write_many)"].wall if dict_written is not None else None
    records = summary["read"]
    result: dict[str, Any] = {
        "files": summary["files"],
        "records": records,
        "rows_written": summary["written_total"],
        "rejected": summary["rejected"],
        "json_baseline_s": round(base_s, 3),
        "json_baseline_records_per_s": round(lines / base_s),
        "import_s": round(imp_s, 3),
        "import_records_per_s": round(records / imp_s),
        "import_cpu_s": round(clocks["import (batch path)"].cpu, 3),
        "import_vs_json_baseline": round(imp_s / base_s, 2),
        "reimport_s": round(again_s, 3),
        "reimport_rows_written": again["written_total"],
        "dict_path_s": None if dict_s is None else round(dict_s, 3),
        "dict_path_rows_written": dict_written,
        "target_s": TARGET_S,
        "meets_target": imp_s <= TARGET_S,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"legacy corpus: {result['files']} files, {records:,} records, "
          f"{result['rows_written']:,} rows written, {result['rejected']} lines rejected")
    print(f"{'run':<22} {'wall s':>7} {'cpu s':>7} {'events/s':>11} {'x json':>7}")
    for name, c in clocks.items():
        print(f"{name:<22} {c.wall:>7.2f} {c.cpu:>7.2f} {records / c.wall:>11,.0f} "
              f"{c.wall / base_s:>7.2f}")
    print(f"load average (1 min) at the end: {result['load_average_1m']} on {os.cpu_count()} CPUs")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"target: whole corpus in <= {TARGET_S:.0f} s -> {imp_s:.2f} s ({verdict} it)")


if __name__ == "__main__":
    main()
