"""Compaction: many flush files become one sorted, de-duplicated file, atomically and online."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow.parquet as pq

from store.compaction import compact, recover
from store.files import JOURNAL_NAME, committed_files, partition_files
from store.paths import DataPaths
from store.settings import Settings
from store.views import connect
from store.writer import EventWriter
from tests.event_store import make_event


def _small_files(tmp_path: Path, n_batches: int = 8) -> Settings:
    s = Settings.load(data_dir=tmp_path, flush_events=10)
    with EventWriter.open(s) as w:
        for b in range(n_batches):
            w.write_many([make_event(b * 10 + i) for i in range(10)])
    return s


def test_a_past_day_ends_up_as_one_sorted_zstd_file(tmp_path: Path) -> None:
    s = _small_files(tmp_path)
    paths = DataPaths(s.data_dir)
    assert len(committed_files(paths, "game_tick")) == 8
    st = compact(paths)
    files = committed_files(paths, "game_tick")
    assert len(files) == 1 and st.files_in == 8 and st.rows_out == 80
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    ts = pq.read_table(files[0]).column("ts").to_pylist()
    assert ts == sorted(ts)
    assert compact(paths).files_in == 0  # already compacted: nothing to do
    assert len(list(files[0].parent.glob("part-*"))) == 9  # inputs kept for readers...
    compact(paths, grace=0)
    assert len(list(files[0].parent.glob("part-*"))) == 1  # ...until their grace is over


def test_compaction_drops_duplicate_event_ids(tmp_path: Path) -> None:
    s = _small_files(tmp_path, 2)
    paths = DataPaths(s.data_dir)
    part = paths.partition("game_tick", "2025-12-14")
    first = partition_files(part)[0]
    (part / "part-99999999999999999999-1-000001.parquet").write_bytes(first.read_bytes())
    assert connect(paths).execute("SELECT count(*) FROM game_tick").fetchall()[0][0] == 30
    st = compact(paths)
    assert st.duplicates_dropped == 10
    assert connect(paths).execute("SELECT count(*) FROM game_tick").fetchall()[0][0] == 20


def test_readers_see_inputs_until_every_output_is_in_place(tmp_path: Path) -> None:
    s = _small_files(tmp_path, 3)
    paths = DataPaths(s.data_dir)
    part = paths.partition("game_tick", "2025-12-14")
    names = [f.name for f in partition_files(part)]
    out = "part-00000000000000000001-1-000-c.parquet"
    (part / JOURNAL_NAME).write_text(
        json.dumps({"version": 1, "inputs": names, "outputs": [out]})
    )
    assert [f.name for f in partition_files(part)] == names  # output not renamed yet
    (part / out).write_bytes(partition_files(part)[0].read_bytes())
    assert [f.name for f in partition_files(part)] == [out]  # committed: inputs hidden
    recover(paths)  # what a crash at that point leaves is finished on the next run
    assert sorted(p.name for p in part.glob("part-*")) == [out]
    assert not (part / JOURNAL_NAME).exists()


def test_compaction_runs_while_the_writer_writes_and_loses_nothing(tmp_path: Path) -> None:
    s = Settings.load(data_dir=tmp_path, flush_events=20, flush_seconds=0.05)
    paths = DataPaths(s.data_dir)
    done = threading.Event()
    with EventWriter.open(s) as w:
        def write() -> None:
            for b in range(60):
                w.write_many([make_event(b * 20 + i) for i in range(20)])
            done.set()

        t = threading.Thread(target=write)
        t.start()
        while not done.is_set():
            compact(paths, grace=0.5)
            n = connect(paths).execute("SELECT count(*) - count(DISTINCT event_id) FROM game_tick")
            assert n.fetchall()[0][0] == 0  # readers never see a row twice
        t.join()
    compact(paths)
    con = connect(paths)
    sql = "SELECT count(DISTINCT event_id), count(*) FROM game_tick"
    assert con.execute(sql).fetchall()[0] == (1200, 1200)
