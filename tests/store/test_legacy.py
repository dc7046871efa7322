"""store.legacy: record mapping, the batch import through the real writer, rejects, export."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.errors import IngestError, RecordRejected
from store.event import event_id_for, normalize
from store.files import committed_files
from store.legacy import (
    export_legacy,
    import_legacy,
    legacy_files,
    map_legacy_record,
    parse_legacy_line,
    rows_of_files,
)
from store.paths import DataPaths
from store.rejects import read_rejects
from store.settings import Settings
from store.writer import EventWriter

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "ingest" / "legacy"
DATA = ROOT / ".." / "shared" / "data"
LEGACY = DATA / "legacy_recordings"
needs_data = pytest.mark.skipif(not LEGACY.is_dir(), reason="../shared/data is not present")

TICK = (
    '{"type": "tick", "timestamp": "2025-11-08T12:08:52.381098", "game_id": '
    '"20251108-46643f89da3445cb", "tick": 0, "price": 1, "phase": "PRESALE", "active": false, '
    '"rugged": false, "cooldown_timer": 4800, "trade_count": 0}'
)
GAME_END = (
    '{"type": "game_end", "timestamp": "2025-11-08T12:09:02.753270", "game_id": '
    '"20251108-46643f89da3445cb", "total_ticks": 56, "tick_range": [0, 15], "price_range": '
    '[0.010905761498154606, 1], "peak_price": 1, "final_price": 0.010905761498154606, '
    '"status": "complete"}'
)


def rows(raw: str, seq: int = 3) -> list[dict[str, Any]]:
    return parse_legacy_line(raw, session_id="game_20251108_120852_da3445cb", seq=seq)


def stored(paths: DataPaths, doc_type: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in committed_files(paths, doc_type):
        out.extend(pq.read_table(f).to_pylist())
    return out


@pytest.fixture
def settings_(tmp_path: Path) -> Settings:
    return Settings.load(data_dir=tmp_path / "data")


def run_import(settings_: Settings, directory: Path, **kw: Any) -> Any:
    with EventWriter.open(settings_) as w:
        return import_legacy(w, directory, **kw)


# -- mapping --------------------------------------------------------------------------------


def test_a_tick_is_a_game_tick_with_typed_columns_phase_and_exact_price() -> None:
    (row,) = rows(TICK)
    assert row["doc_type"] == "game_tick" and row["event_name"] == "tick"
    assert row["source"] == "legacy" and row["direction"] == "received"
    assert row["session_id"] == "game_20251108_120852_da3445cb" and row["seq"] == 3
    assert row["raw_json"] == TICK and row["game_id"] == "20251108-46643f89da3445cb"
    assert row["ts"] == datetime(2025, 11, 8, 12, 8, 52, 381098, tzinfo=UTC)
    assert row["tick"] == 0 and row["price"] == Decimal(1) and row["phase"] == "PRESALE"
    assert row["active"] is False and row["rugged"] is False
    assert row["cooldown_timer"] == 4800 and row["trade_count"] == 0
    # the same deterministic id the writer would give it
    assert row["event_id"] == event_id_for("legacy", "tick", row["ts"], TICK)


def test_a_game_end_is_a_system_event_and_the_game_s_complete_game() -> None:
    sys_row, game = rows(GAME_END)
    assert sys_row["doc_type"] == "system_event" and sys_row["event_name"] == "game_end"
    assert game["doc_type"] == "complete_game"
    assert game["event_id"] == "game:20251108-46643f89da3445cb"
    assert game["peak"] == Decimal(1) and game["final_price"] == Decimal("0.010905761498154606")
    assert game["duration_ticks"] == 56 and game["start_tick"] == 0 and game["rug_tick"] == 15
    assert game["status"] == "complete" and game["raw_json"] == GAME_END


def test_session_records_and_game_complete_keep_their_type_as_event_name() -> None:
    lines = (FIX / "session_20251029_174640.jsonl").read_text().splitlines()
    mapped = [parse_legacy_line(x, session_id="session", seq=n) for n, x in enumerate(lines, 1)]
    names = [(r["event_name"], r["doc_type"]) for rs in mapped for r in rs]
    assert names == [
        ("session_start", "system_event"),
        ("tick", "game_tick"),
        ("game_complete", "system_event"),
        ("game_complete", "complete_game"),
        ("session_end", "system_event"),
    ]
    game = mapped[2][1]
    assert game["server_seed"] == "0169a2a1090cb0daca81" and game["rug_tick"] == 262


def test_bad_lines_are_refused_with_the_reason() -> None:
    with pytest.raises(RecordRejected, match="human note"):
        rows("## In this section, instead of calling it unknown")
    with pytest.raises(RecordRejected, match="not JSON"):
        rows('{"type": "tick", "timestamp": "2025-10-31T15:05:33.338433", "trade_count": 0{"{"')
    with pytest.raises(RecordRejected, match="no \"type\""):
        rows('{"timestamp": "2025-10-31T15:05:33.338433"}')
    with pytest.raises(RecordRejected, match="tick is not an integer"):
        rows(TICK.replace('"tick": 0', '"tick": "zero"'))
    with pytest.raises(RecordRejected, match="price is not a number"):
        rows(TICK.replace('"price": 1', '"price": true'))
    with pytest.raises(RecordRejected, match="timestamp"):
        rows(TICK.replace("2025-11-08T12:08:52.381098", "soon"))


def test_mapped_rows_are_valid_writer_events() -> None:
    now = datetime.now(UTC)
    valid: Counter[str] = Counter()
    unreadable = 0
    for path in legacy_files(FIX):
        for n, raw in enumerate(path.read_text().splitlines(), 1):
            try:
                mapped = map_legacy_record(json.loads(raw), raw, session_id=path.stem, seq=n)
            except (ValueError, RecordRejected):
                unreadable += 1
                continue
            for r in mapped:
                valid[normalize(r, ingested_at=now, max_payload_bytes=10**6)["doc_type"]] += 1
    # every line of the fixtures but the four bad ones (see the import test) maps to rows
    assert unreadable == 4
    assert valid == {"game_tick": 6, "system_event": 8, "complete_game": 2}


# -- import ---------------------------------------------------------------------------------


def test_import_lands_every_good_line_and_rejects_bad_ones_with_file_and_line(
    settings_: Settings,
) -> None:
    s = run_import(settings_, FIX)
    assert s.files == 4 and s.rejected == 4  # one ## note, three interleaved writes
    assert s.written["game_tick"] == 2 + 1 + 2 + 1  # per file, in name order
    assert s.written["complete_game"] == 2  # a game_end and the session's game_complete
    rejects = {Path(p).name.split(".")[0]: read_rejects(Path(p)) for p in s.rejects_files}
    note = rejects["game_20251030_121110_da674ded"]
    assert [(r["line"], r["reason"]) for r in note] == [(3, "a human note (#), not a record")]
    assert note[0]["file"].endswith("game_20251030_121110_da674ded.jsonl")
    assert note[0]["text"].startswith("## In this section")
    broken = rejects["game_20251031_150533"]
    assert [r["line"] for r in broken] == [3, 4, 5]
    assert all(r["reason"].startswith("not JSON") for r in broken)


def test_a_second_import_adds_nothing(settings_: Settings) -> None:
    first = run_import(settings_, FIX)
    again = run_import(settings_, FIX)
    assert again.written == {} and again.duplicates == sum(first.written.values())
    paths = DataPaths(settings_.data_dir)
    ticks = stored(paths, "game_tick")
    assert len(ticks) == first.written["game_tick"]
    assert len({t["event_id"] for t in ticks}) == len(ticks)
    assert again.rejected == first.rejected  # rejects files are rewritten, not appended
    assert all(len(read_rejects(Path(p))) == 1 or "150533" in p for p in again.rejects_files)


def test_batch_path_stores_exactly_what_the_pure_mapping_says(settings_: Settings) -> None:
    run_import(settings_, FIX, batch_rows=3)  # many small batches across files
    paths = DataPaths(settings_.data_dir)
    now = datetime.now(UTC)
    expected = {}
    for r in rows_of_files(legacy_files(FIX)):
        n = normalize(r, ingested_at=now, max_payload_bytes=10**6)
        expected[(n["doc_type"], n["event_id"])] = n
    got = {}
    for t in ("game_tick", "system_event", "complete_game"):
        for r in stored(paths, t):
            got[(t, r["event_id"])] = r
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = {k: v for k, v in got[key].items() if k not in ("ingested_at",)}
        want = {k: v for k, v in want.items() if k not in ("ingested_at",)}
        assert have == want, key


def test_a_directory_without_recordings_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not a directory"):
        legacy_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no \\*.jsonl"):
        legacy_files(tmp_path / "empty")


# -- export ---------------------------------------------------------------------------------


def test_export_writes_the_old_files_back_byte_for_byte(
    settings_: Settings, tmp_path: Path
) -> None:
    s = run_import(settings_, FIX)
    out = export_legacy(DataPaths(settings_.data_dir), tmp_path / "out")
    assert out.files == 4
    bad = {(Path(r["file"]).name, r["line"])
           for p in s.rejects_files for r in read_rejects(Path(p))}
    for path in legacy_files(FIX):
        kept = [x for n, x in enumerate(path.read_text().splitlines(), 1)
                if (path.name, n) not in bad]
        assert (tmp_path / "out" / path.name).read_text().splitlines() == kept


tick_records = st.fixed_dictionaries({
    "type": st.just("tick"),
    "timestamp": st.datetimes(min_value=datetime(2025, 10, 1), max_value=datetime(2025, 12, 1))
    .map(lambda d: d.isoformat()),
    "game_id": st.just("20251029-e0e72b644b944a13"),
    "tick": st.integers(0, 5000),
    "price": st.one_of(st.integers(0, 1000), st.floats(0.0001, 1000.0)),
    "phase": st.sampled_from(["UNKNOWN", "PRESALE", "ACTIVE_GAMEPLAY", "RUG_EVENT_1"]),
    "active": st.booleans(),
    "rugged": st.booleans(),
    "cooldown_timer": st.integers(0, 15000),
    "trade_count": st.integers(0, 10**6),
})


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(tick_records, min_size=1, max_size=30,
                        unique_by=lambda r: r["timestamp"]))
def test_import_then_export_round_trips_any_recording(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    work = tmp_path / f"case-{abs(hash(json.dumps(records))) % 10**9}"
    src = work / "in"
    src.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    (src / "game_20251029_183608.jsonl").write_text(text)
    s = run_import(Settings.load(data_dir=work / "data"), src)
    assert s.written["game_tick"] == len(records) and s.rejected == 0
    export_legacy(DataPaths(work / "data"), work / "out")
    assert (work / "out" / "game_20251029_183608.jsonl").read_text() == text
    shutil.rmtree(work)


# -- the real corpus ------------------------------------------------------------------------


@needs_data
@pytest.mark.slow
def test_the_whole_real_corpus_survives_every_fault_and_a_rerun_adds_nothing(
    settings_: Settings,
) -> None:
    s = run_import(settings_, LEGACY)
    assert s.files == 927 and s.read == 304_658 and s.blank == 1
    assert s.rejected == 339 and len(s.rejects_files) == 25
    assert s.written["game_tick"] == 302_443  # 302,451 ticks minus 8 exact repeats
    assert s.written["system_event"] == 1_868
    assert s.written["complete_game"] == 893  # one per game, the first end summary wins
    worst = [p for p in s.rejects_files if "game_20251031_151222" in p]
    assert len(read_rejects(Path(worst[0]))) == 72
    everything = [r for p in s.rejects_files for r in read_rejects(Path(p))]
    notes = [r for r in everything if "human note" in r["reason"]]
    assert len(notes) == 3
    again = run_import(settings_, LEGACY)
    assert again.written == {} and again.rejected == 339


@needs_data
def test_an_824x_real_game_gets_its_summary_row() -> None:
    path = LEGACY / "game_20251031_092338.jsonl"
    games = [r for r in rows_of_files([path]) if r["doc_type"] == "complete_game"]
    assert len(games) == 1
    g = games[0]
    assert g["peak"] == Decimal("824.07884220342") and g["rug_tick"] == 1028
    assert g["duration_ticks"] == 1179 and g["start_tick"] == 0
