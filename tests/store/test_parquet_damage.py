"""Damaged Parquet files (issue 9, points 3 and 4): page checksums are written and checked,
DuckDB's silence is covered, and a damaged file is named and quarantined while every
other file keeps serving: status, queries, ingest into its partition, compaction, index
builds, `data verify`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from store.compaction import compact
from store.files import committed_files
from store.ingest import ingest
from store.integrity import parquet_problem, verify_store
from store.paths import DataPaths
from store.query import query
from store.settings import Settings
from store.status import store_status
from store.views import connect
from store.writer import EventWriter
from tests.event_store import CAPTURES, fill_store, make_event

ROOT = Path(__file__).resolve().parents[2]
PARQUET = ROOT / "tests" / "fixtures" / "hostile" / "parquet"
CASES = json.loads((ROOT / "tests" / "fixtures" / "hostile" / "cases.json").read_text())
FLIP = CASES["parquet/bitflip.parquet"]


def _sql(paths: DataPaths, sql: str) -> list[tuple[Any, ...]]:
    con = connect(paths)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _flip_price_page(path: Path) -> None:
    """Flip one bit in the middle of the file's first `price` column chunk."""
    md = pq.ParquetFile(path).metadata.row_group(0)
    col = next(md.column(i) for i in range(md.num_columns)
               if md.column(i).path_in_schema == "price")
    data = bytearray(path.read_bytes())
    data[col.data_page_offset + col.total_compressed_size // 2] ^= 0x04
    path.write_bytes(bytes(data))


def _ticks(tmp_path: Path, files: int = 3, per_file: int = 10) -> Settings:
    s = Settings.load(data_dir=tmp_path / "data", flush_events=per_file)
    with EventWriter.open(s) as w:
        for k in range(files):  # one flush file per call
            w.write_many([make_event(i, price=f"{1 + i / 10}")
                          for i in range(k * per_file, (k + 1) * per_file)])
    return s


# -- point 3: checksums ---------------------------------------------------------------------


def test_flush_files_and_compacted_files_carry_page_checksums(tmp_path: Path) -> None:
    s = _ticks(tmp_path)
    paths = DataPaths(s.data_dir)
    (flushed, *_) = committed_files(paths, "game_tick")
    assert parquet_problem(flushed) is None
    _flip_price_page(flushed)
    assert "CRC checksum verification failed" in (parquet_problem(flushed) or "")
    s2 = _ticks(tmp_path / "b")
    compact(DataPaths(s2.data_dir), grace=0)
    (merged,) = committed_files(DataPaths(s2.data_dir), "game_tick")
    assert merged.name.endswith("-c.parquet") and parquet_problem(merged) is None
    _flip_price_page(merged)
    assert "CRC checksum verification failed" in (parquet_problem(merged) or "")


def test_duckdb_reads_a_flipped_bit_without_a_word_and_the_checksum_catches_it() -> None:
    """Why every full check goes through pyarrow: DuckDB ignores page checksums."""
    f = str(PARQUET / "bitflip.parquet")
    (got,) = duckdb.connect().execute(f"SELECT sum(price) FROM '{f}'").fetchall()[0]
    assert str(got) == FLIP["duckdb_sum_price"] != FLIP["sum_price"]
    assert "CRC checksum verification failed" in (parquet_problem(Path(f)) or "")
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(f, page_checksum_verification=True)


def test_verify_checks_every_file_and_moves_the_damaged_one_to_quarantine(
    tmp_path: Path,
) -> None:
    s = _ticks(tmp_path)
    paths = DataPaths(s.data_dir)
    part = paths.partition("game_tick", "2025-12-14")
    bad = part / "part-00000000000000000001-1-000001.parquet"
    shutil.copy(PARQUET / "bitflip.parquet", bad)
    report = verify_store(paths)
    assert report.files == 4 and report.rows == 30 and not report.ok
    (d,) = report.damaged
    assert d["file"] == str(bad) and "CRC" in d["problem"]
    moved = paths.parquet_quarantine / "doc_type=game_tick" / "date=2025-12-14" / bad.name
    assert d["moved_to"] == str(moved) and moved.exists() and not bad.exists()
    assert json.loads(Path(f"{moved}.why.json").read_text())["file"] == str(bad)
    again = verify_store(paths)
    assert again.ok and again.files == 3 and again.rows == 30
    assert again.quarantined == [str(moved)]


def test_compaction_never_copies_a_damaged_input(tmp_path: Path) -> None:
    s = _ticks(tmp_path)
    paths = DataPaths(s.data_dir)
    part = paths.partition("game_tick", "2025-12-14")
    shutil.copy(PARQUET / "bitflip.parquet", part / "part-00000000000000000001-1-1.parquet")
    st = compact(paths, grace=0)
    assert st.files_in == 3 and st.rows_in == st.rows_out == 30
    (merged,) = committed_files(paths, "game_tick")
    assert parquet_problem(merged) is None
    want = sum(Decimal(f"{1 + i / 10}").quantize(Decimal("1e-18")) for i in range(30))
    assert _sql(paths, "SELECT count(*), sum(price) FROM game_tick") == [(30, want)]
    assert len(list(paths.parquet_quarantine.rglob("*.parquet"))) == 1


# -- point 4: everything keeps working ------------------------------------------------------


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Settings, Path, int, int]:
    """A filled store whose ws_event file of 2025-12-14 was cut in half.

    Returns (settings, the damaged file, its rows, total ws_event rows before).
    """
    s = fill_store(tmp_path / "data")
    paths = DataPaths(s.data_dir)
    total = _sql(paths, "SELECT count(*) FROM ws_event")[0][0]
    (f,) = committed_files(paths, "ws_event", date="2025-12-14")
    rows = pq.read_metadata(f).num_rows
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return s, f, rows, total


def test_status_names_the_damaged_file_and_counts_the_rest(
    damaged: tuple[Settings, Path, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    s, f, rows, total = damaged
    st = store_status(DataPaths(s.data_dir))
    assert st["doc_types"]["ws_event"]["events"] == total - rows
    (moved,) = st["quarantine"]
    assert moved.endswith(f.name) and not f.exists()
    assert str(f) in capsys.readouterr().err


def test_queries_serve_the_other_files(damaged: tuple[Settings, Path, int, int]) -> None:
    s, _, rows, total = damaged
    paths = DataPaths(s.data_dir)
    assert query(paths, "SELECT count(*) AS n FROM ws_event").to_pylist() == [
        {"n": total - rows}]
    assert _sql(paths, "SELECT count(*) FROM game_tick")[0][0] > 0


def test_ingest_into_the_damaged_partition_restores_exactly_what_was_lost(
    damaged: tuple[Settings, Path, int, int],
) -> None:
    s, _, rows, total = damaged
    with EventWriter.open(s) as w:
        res = [ingest(w, c) for c in CAPTURES]
    assert sum(r.written.get("ws_event", 0) for r in res) == rows
    assert _sql(DataPaths(s.data_dir), "SELECT count(*), count(DISTINCT event_id) FROM ws_event"
                ) == [(total, total)]


def test_a_footer_only_pyarrow_refuses_is_quarantined_by_the_writer(tmp_path: Path) -> None:
    """DuckDB reads this file (it ignores the Arrow schema in the footer); pyarrow cannot."""
    s = _ticks(tmp_path, files=2)
    paths = DataPaths(s.data_dir)
    first, second = committed_files(paths, "game_tick")
    data = bytearray(first.read_bytes())
    at = data.rfind(b"ARROW:schema") + 40  # inside the base64 Arrow schema
    data[at] = ord("!")
    first.write_bytes(bytes(data))
    with EventWriter.open(s) as w:
        res = w.write_many([make_event(i, price=f"{1 + i / 10}") for i in range(20)])
    assert res.written == {"game_tick": 10} and res.duplicates == 10  # the lost 10 restored
    assert not first.exists() and committed_files(paths, "game_tick")[0] == second
    assert _sql(paths, "SELECT count(DISTINCT event_id), count(*) FROM game_tick") == [(20, 20)]


def test_an_index_build_quarantines_a_footer_pyarrow_cannot_read(
    tmp_path: Path, fake_embedder: Any
) -> None:
    from indexer.build import build

    s = fill_store(tmp_path / "data")
    paths = DataPaths(s.data_dir)
    (f,) = committed_files(paths, "ws_event", date="2025-12-14")
    data = bytearray(f.read_bytes())
    data[data.rfind(b"ARROW:schema") + 40] = ord("!")  # DuckDB reads it, pyarrow cannot
    f.write_bytes(bytes(data))
    (report,) = build(s, ["events"], embedder=fake_embedder)
    assert report.rows > 0 and not f.exists()
    assert (paths.parquet_quarantine / "doc_type=ws_event" / "date=2025-12-14" / f.name).exists()


def test_compaction_and_index_builds_go_on_around_a_damaged_file(
    damaged: tuple[Settings, Path, int, int], fake_embedder: Any
) -> None:
    from indexer.build import build

    s, _, rows, total = damaged
    paths = DataPaths(s.data_dir)
    st = compact(paths, grace=0)
    assert st.rows_out == st.rows_in and st.files_out >= 1
    reports = build(s, ["events"], embedder=fake_embedder)
    assert reports[0].rows > 0 and not reports[0].warnings
    assert _sql(paths, "SELECT count(*) FROM ws_event")[0][0] == total - rows


# -- the command line ---------------------------------------------------------------------


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replayer.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "RUGS_DATA_DIR": str(data_dir)})


def test_the_cli_names_the_file_and_keeps_working(
    damaged: tuple[Settings, Path, int, int],
) -> None:
    s, f, rows, total = damaged
    out = _cli("data", "status", "--json", data_dir=s.data_dir)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert str(f) in out.stderr and "quarantine" in out.stderr
    assert json.loads(out.stdout)["doc_types"]["ws_event"]["events"] == total - rows
    for args in (("data", "compact"), ("data", "sql", "SELECT count(*) FROM ws_event"),
                 ("ingest", str(CAPTURES[0]))):
        out = _cli(*args, data_dir=s.data_dir)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (args, out.stderr)


def test_data_verify_reports_damage_as_json_with_a_nonzero_exit(tmp_path: Path) -> None:
    s = _ticks(tmp_path)
    paths = DataPaths(s.data_dir)
    out = _cli("data", "verify", "--json", data_dir=s.data_dir)
    assert out.returncode == 0 and json.loads(out.stdout)["ok"] is True
    part = paths.partition("game_tick", "2025-12-14")
    shutil.copy(PARQUET / "bitflip.parquet", part / "part-00000000000000000001-1-1.parquet")
    shutil.copy(PARQUET / "truncated.parquet", part / "part-00000000000000000002-1-1.parquet")
    out = _cli("data", "verify", "--json", data_dir=s.data_dir)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is False and report["files_checked"] == 4 and report["rows_checked"] == 30
    (d,) = report["damaged"]  # the truncated one was already moved by the listing
    assert "CRC" in d["problem"]
    assert len(report["quarantine"]) == 2
    out = _cli("data", "verify", data_dir=s.data_dir)
    assert out.returncode == 0 and "all files intact" in out.stdout
