"""Damaged WAL segments (issue 9, point 2): every good frame is replayed, the segment is
kept in quarantine with a note, a clear line says so, and nothing is ever deleted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from store.errors import SchemaVersionError
from store.paths import DataPaths
from store.settings import Settings
from store.status import store_status
from store.views import connect
from store.wal import WAL_FORMAT_VERSION, read_segment
from store.writer import EventWriter
from tests.event_store import make_event

ROOT = Path(__file__).resolve().parents[2]
WAL = ROOT / "tests" / "fixtures" / "hostile" / "wal"
CASES = json.loads((ROOT / "tests" / "fixtures" / "hostile" / "cases.json").read_text())


def _root_with(tmp_path: Path, *segments: str) -> Settings:
    settings = Settings.load(data_dir=tmp_path / "data")
    wal = DataPaths(settings.data_dir).wal
    wal.mkdir(parents=True)
    for name in segments:
        shutil.copy(WAL / name, wal / name)
    return settings


def _stored_ids(settings: Settings) -> list[str]:
    con = connect(DataPaths(settings.data_dir))
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM game_tick ORDER BY seq, event_id")
                .fetchall()]
    finally:
        con.close()


def test_a_sound_segment_replays_every_row_and_is_then_removed(tmp_path: Path) -> None:
    name = "wal-00000000000000000001.arrows"
    settings = _root_with(tmp_path, name)
    with EventWriter.open(settings) as w:
        assert w.replayed == 12 and w.wal_notices == []
    assert _stored_ids(settings) == [f"walok-{i}" for i in range(12)]
    assert not (DataPaths(settings.data_dir).wal / name).exists()
    assert not DataPaths(settings.data_dir).wal_quarantine.exists()


@pytest.mark.parametrize(("name", "tag", "good"), [
    ("wal-00000000000000000002.arrows", "walflip", [0, 1, 2, 3, 8, 9, 10, 11]),
    ("wal-00000000000000000003.arrows", "waltrunc", list(range(8))),
    ("wal-00000000000000000004.arrows", "-", []),
    ("wal-00000000000000000005.arrows", "walhead", [0, 1, 2, 3, 8, 9, 10, 11]),
    ("wal-00000000000000000006.arrows", "-", []),
])
def test_a_damaged_segment_keeps_every_good_frame_and_goes_to_quarantine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, tag: str, good: list[int]
) -> None:
    settings = _root_with(tmp_path, name)
    paths = DataPaths(settings.data_dir)
    original = (WAL / name).read_bytes()
    with EventWriter.open(settings) as w:
        assert w.replayed == len(good) == CASES[f"wal/{name}"]["rows"]
        (notice,) = w.wal_notices
    assert _stored_ids(settings) == [f"{tag}-{i}" for i in good]
    # never deleted: moved, byte for byte, with a note of why
    kept = paths.wal_quarantine / name
    assert kept.read_bytes() == original and str(kept) == notice.moved_to
    note = json.loads((paths.wal_quarantine / f"{name}.why.json").read_text())
    assert note["rows_replayed"] == len(good) and note["problem"] == notice.problem
    err = capsys.readouterr().err
    assert name in err and "quarantine" in err and f"its {len(good)} readable row" in err
    assert not (paths.wal / name).exists()


def test_good_and_damaged_segments_together_lose_no_good_row(tmp_path: Path) -> None:
    names = [f"wal-0000000000000000000{k}.arrows" for k in (1, 2, 3, 5)]
    settings = _root_with(tmp_path, *names)
    with EventWriter.open(settings) as w:
        assert w.replayed == 12 + 8 + 8 + 8
        assert sorted(Path(n.segment).name for n in w.wal_notices) == names[1:]
    assert len(_stored_ids(settings)) == 36


def test_a_segment_of_a_newer_format_is_refused_and_left_untouched(tmp_path: Path) -> None:
    name = "wal-00000000000000000007.arrows"
    settings = _root_with(tmp_path, name)
    with pytest.raises(SchemaVersionError, match="format version 3.*upgrade rugs-replayer"):
        EventWriter.open(settings)
    wal = DataPaths(settings.data_dir).wal
    assert (wal / name).read_bytes() == (WAL / name).read_bytes()
    assert WAL_FORMAT_VERSION == 2


def test_a_format_1_segment_written_by_the_old_code_still_replays(tmp_path: Path) -> None:
    settings = _root_with(tmp_path, "wal-v1.arrows")
    assert read_segment(WAL / "wal-v1.arrows").version == 1
    with EventWriter.open(settings) as w:
        assert w.replayed == 5 and w.wal_notices == []
    assert _stored_ids(settings) == [f"walv1-{i}" for i in range(5)]


def test_the_next_replay_of_a_replayed_segment_adds_nothing(tmp_path: Path) -> None:
    """The crash window between the Parquet rename and the segment's removal."""
    settings = _root_with(tmp_path, "wal-00000000000000000002.arrows")
    with EventWriter.open(settings):
        pass
    shutil.copy(WAL / "wal-00000000000000000002.arrows",
                DataPaths(settings.data_dir).wal / "wal-00000000000000000002.arrows")
    with EventWriter.open(settings) as w:
        assert w.replayed == 0
    assert len(_stored_ids(settings)) == 8


def test_status_reports_a_damaged_segment_without_touching_it(tmp_path: Path) -> None:
    name = "wal-00000000000000000002.arrows"
    settings = _root_with(tmp_path, "wal-00000000000000000001.arrows", name)
    st = store_status(DataPaths(settings.data_dir))
    assert st["wal"]["segments"] == 2 and st["wal"]["pending_events"] == 12 + 8
    (problem,) = st["wal"]["problems"]
    assert problem["segment"].endswith(name) and "checksum" in problem["problem"]
    assert (DataPaths(settings.data_dir).wal / name).exists()


def test_what_a_writer_appends_reads_back_frame_by_frame(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path, flush_events=1000, flush_seconds=60)
    w = EventWriter.open(settings)
    try:
        for i in range(7):
            w.write(make_event(i))
        (seg,) = DataPaths(tmp_path).wal.glob("wal-*.arrows")
        r = read_segment(seg)
        assert r.rows == 7 and r.problems == [] and not r.torn and r.version == 2
    finally:
        w.close()
    assert list(DataPaths(tmp_path).wal.glob("wal-*.arrows")) == []


def test_a_killed_writer_s_segment_replays_on_the_next_open(tmp_path: Path) -> None:
    code = (
        f"import os, sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from store.settings import Settings; from store.writer import EventWriter\n"
        "from tests.event_store import make_event\n"
        f"w = EventWriter.open(Settings.load(data_dir={str(tmp_path)!r}, flush_events=1000, "
        "flush_seconds=600))\n"
        "[w.write(make_event(i)) for i in range(9)]\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    with EventWriter.open(Settings.load(data_dir=tmp_path)) as w:
        assert w.replayed == 9 and w.wal_notices == []  # no end frame: a crash, not damage
