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
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.legacy import import_legacy, legacy_files, rows_of_files  # noqa: E402
from store.settings import Settings  # noqa: E402
from store.writer import EventWriter  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "data" / "legacy_recordings"
TARGET_S = 10.0


def json_baseline(directory: Path) -> tuple[float, int]:
    t = time.perf_counter()
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
    return time.perf_counter() - t, n


def batch_import(directory: Path, root: Path) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        s = import_legacy(w, directory)
    return time.perf_counter() - t, s.to_dict()


def dict_path(directory: Path, root: Path, batch: int = 100_000) -> tuple[float, int]:
    t = time.perf_counter()
    written = 0
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        rows: list[dict[str, Any]] = []
        for r in rows_of_files(legacy_files(directory)):
            rows.append(r)
            if len(rows) >= batch:
                written += w.write_many(rows).total_written
                rows = []
        written += w.write_many(rows).total_written
    return time.perf_counter() - t, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="legacy recordings directory")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-dict-path", action="store_true", help="skip the dict-path comparison")
    args = ap.parse_args()
    if not args.dir.is_dir():
        raise SystemExit(f"{args.dir} not found: this benchmark needs ../shared/data")

    tmp = Path(tempfile.mkdtemp(prefix="bench-legacy-"))
    try:
        base_s, lines = json_baseline(args.dir)
        imp_s, summary = batch_import(args.dir, tmp / "a")
        again_s, again = batch_import(args.dir, tmp / "a")
        dict_s, dict_written = (None, None)
        if not args.no_dict_path:
            dict_s, dict_written = dict_path(args.dir, tmp / "b")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

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
        "import_vs_json_baseline": round(imp_s / base_s, 2),
        "reimport_s": round(again_s, 3),
        "reimport_rows_written": again["written_total"],
        "dict_path_s": None if dict_s is None else round(dict_s, 3),
        "dict_path_rows_written": dict_written,
        "target_s": TARGET_S,
        "meets_target": imp_s <= TARGET_S,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"legacy corpus: {result['files']} files, {records:,} records, "
          f"{result['rows_written']:,} rows written, {result['rejected']} lines rejected")
    print(f"{'run':<22} {'seconds':>8} {'records/s':>11} {'x json':>7}")
    table = [("json.loads baseline", base_s), ("import (batch path)", imp_s),
             ("re-import (all dups)", again_s)]
    if dict_s is not None:
        table.append(("dict path (write_many)", dict_s))
    for name, secs in table:
        print(f"{name:<22} {secs:>8.2f} {records / secs:>11,.0f} {secs / base_s:>7.2f}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"target: whole corpus in <= {TARGET_S:.0f} s -> {imp_s:.2f} s ({verdict} it)")


if __name__ == "__main__":
    main()
