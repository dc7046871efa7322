"""Poison records (issue 9, points 1 and 7): each is a rejected line and the run goes on.

The corpus is tests/fixtures/hostile (README there); its cases.json says which line is
stored and which rejected. Counts are exact: rows kept, lines rejected, nothing lost.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from store.capture import map_event, parse_jsonl_line
from store.errors import InvalidEventError, RecordRejected
from store.event import normalize_record
from store.ingest import checkpoint_path, ingest, read_checkpoint
from store.legacy import _Ticks, decode_line, import_legacy, map_legacy_record
from store.paths import DataPaths
from store.rejects import read_rejects
from store.settings import Settings
from store.views import connect
from store.writer import EventWriter

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
CASES = json.loads((HOSTILE / "cases.json").read_text())
CAPTURE = HOSTILE / "captures" / "hostile.jsonl"
LEGACY = HOSTILE / "legacy"
BOM = "\ufeff"


def expected(name: str, verdict: str) -> list[int]:
    return [c["line"] for c in CASES[name] if c["expect"] == verdict]


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").removeprefix(BOM).splitlines()


def sql(settings: Settings, query: str) -> list[tuple[Any, ...]]:
    con = connect(DataPaths(settings.data_dir))
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.fixture
def settings_(tmp_path: Path) -> Settings:
    return Settings.load(data_dir=tmp_path / "data", flush_seconds=0.2)


def _assert_rejects(rejects_file: str | None, source: Path, lines: list[int]) -> None:
    assert rejects_file is not None
    recs = read_rejects(Path(rejects_file))
    assert [r["line"] for r in recs] == lines
    text = lines_of(source)
    for r in recs:
        assert r["text"] == text[r["line"] - 1], r  # the original line, never null
        assert r["reason"] and r["file"].endswith(source.name)


def test_every_poison_capture_line_is_rejected_with_its_text_and_the_rest_is_stored(
    settings_: Settings,
) -> None:
    with EventWriter.open(settings_) as w:
        s = ingest(w, CAPTURE)
    rejected = expected("captures/hostile.jsonl", "rejected")
    assert s.lines == 12 and s.rejected == len(rejected) == 8 and s.read == 4
    assert s.written == {"ws_event": 4, "game_tick": 2, "server_state": 1}
    _assert_rejects(s.rejects_file, CAPTURE, rejected)
    # Stored whole or not at all: no ws_event row of a rejected line (price "abc" was
    # once in ws_event but not game_tick), every stored line in all its doc types.
    assert [r[0] for r in sql(settings_, "SELECT seq FROM ws_event ORDER BY seq")] == [
        1, 8, 10, 12]
    assert sql(settings_, "SELECT seq, price, tick FROM game_tick ORDER BY seq") == [
        (1, Decimal("1.25"), 1), (8, Decimal("1.5"), 8)]
    assert sql(settings_, "SELECT count(*) FROM server_state") == [(1,)]
    # the BOM did not cost the first record
    assert sql(settings_, "SELECT event_name FROM ws_event WHERE seq = 1") == [
        ("gameStateUpdate",)]


def test_reasons_say_what_is_wrong_with_each_poison_line(settings_: Settings) -> None:
    with EventWriter.open(settings_) as w:
        s = ingest(w, CAPTURE)
    assert s.rejects_file is not None
    reasons = {r["line"]: r["reason"] for r in read_rejects(Path(s.rejects_file))}
    assert "nested too deeply" in reasons[2]
    assert "lone surrogate" in reasons[3] and "event name" in reasons[3]
    assert "lone UTF-16 surrogate" in reasons[4]
    assert "ts" in reasons[5] and "range" in reasons[5]
    assert "seq" in reasons[6] and "int64" in reasons[6]
    assert "game_tick" in reasons[7] and "price is not a number: 'abc'" in reasons[7]
    assert "tick cannot be negative: -7" in reasons[9]
    assert "deeper than 64" in reasons[11]


def test_follow_passes_every_poison_line_and_keeps_storing_what_comes_after(
    settings_: Settings, tmp_path: Path
) -> None:
    live = tmp_path / "live.jsonl"
    shutil.copy(CAPTURE, live)
    with EventWriter.open(settings_) as w:
        s = ingest(w, live, follow=True, poll_s=0.05, idle_timeout_s=0.3)
    assert s.rejected == 8 and s.written == {"ws_event": 4, "game_tick": 2, "server_state": 1}
    cp = read_checkpoint(checkpoint_path(DataPaths(settings_.data_dir), live))
    assert cp is not None and cp["offset"] == live.stat().st_size and cp["line"] == 12
    # the recorder writes another poison line and a good one: the next run takes both
    with open(live, "a") as fh:
        fh.write('{"seq": 13, "ts": "2025-12-14T20:17:13", "event": "x", "data": '
                 + "[" * 5000 + "]" * 5000 + "}\n")
        fh.write('{"seq": 14, "ts": "2025-12-14T20:17:14", "event": "newChatMessage", '
                 '"data": {"message": "after the poison"}}\n')
    with EventWriter.open(settings_) as w:
        again = ingest(w, live, follow=True, poll_s=0.05, idle_timeout_s=0.3)
    assert again.resumed and again.rejected == 1 and again.written == {"ws_event": 1}
    assert again.rejects_file is not None
    recs = read_rejects(Path(again.rejects_file))
    assert [r["line"] for r in recs] == [*expected("captures/hostile.jsonl", "rejected"), 13]
    assert sql(settings_, "SELECT count(*) FROM ws_event") == [(5,)]


def test_a_legacy_import_rejects_each_poison_line_and_imports_the_rest(
    settings_: Settings,
) -> None:
    with EventWriter.open(settings_) as w:
        s = import_legacy(w, LEGACY)
    name = "legacy/game_20251214_201710_hostile.jsonl"
    rejected = expected(name, "rejected")
    assert s.files == 1 and s.read == 12 and s.rejected == len(rejected) == 8
    assert s.written == {"game_tick": 3, "system_event": 1, "complete_game": 1}
    (rejects_file,) = s.rejects_files
    _assert_rejects(rejects_file, LEGACY / "game_20251214_201710_hostile.jsonl", rejected)
    assert sql(settings_, "SELECT seq, price FROM game_tick ORDER BY seq") == [
        (1, Decimal("1.25")), (8, Decimal("1.5")), (12, Decimal("1.25"))]
    # the game_end with peak_price "abc" is in neither doc type
    assert sql(settings_, "SELECT seq FROM system_event") == [(10,)]
    assert sql(settings_, "SELECT game_id, peak FROM complete_game") == [
        ("20251214-3c3ebc6051054e71", Decimal("2.5"))]


def test_poison_lines_in_the_real_corpus_layout_cost_nothing_else(
    settings_: Settings, tmp_path: Path
) -> None:
    """A poison line among real recordings: every other file and line still lands."""
    legacy = tmp_path / "legacy"
    shutil.copytree(ROOT / "tests" / "fixtures" / "ingest" / "legacy", legacy)
    clean = Settings.load(data_dir=tmp_path / "clean")
    with EventWriter.open(clean) as w:
        base = import_legacy(w, legacy)
    shutil.copy(LEGACY / "game_20251214_201710_hostile.jsonl", legacy)
    with EventWriter.open(settings_) as w:
        s = import_legacy(w, legacy)
    assert s.rejected == base.rejected + 8
    for t, n in base.written.items():
        assert s.written[t] == n + {"game_tick": 3, "system_event": 1, "complete_game": 1}.get(t, 0)


# -- one validation, one verdict ----------------------------------------------------------


def _capture_verdict(price: Any, tick: Any, ts: str) -> tuple[str, Any]:
    data = {"gameId": "20251214-3c3ebc6051054e71", "tickCount": tick, "price": price}
    line = json.dumps({"seq": 1, "ts": ts, "event": "gameStateUpdate", "data": data})
    try:
        (ev,) = parse_jsonl_line(line, session_id="s", line_no=1)
        rows = normalize_record(map_event(ev), ingested_at=datetime.now(UTC),
                                max_payload_bytes=10**6)
    except (RecordRejected, InvalidEventError):
        return "rejected", None
    tick_row = next(r for r in rows if r["doc_type"] == "game_tick")
    return "stored", (tick_row["price"], tick_row["tick"], tick_row["ts"])


def _legacy_verdicts(price: Any, tick: Any, ts: str) -> list[tuple[str, Any]]:
    """The verdict of the tick batch path and of the general mapping (both must agree)."""
    line = json.dumps({"type": "tick", "timestamp": ts, "game_id": "20251214-3c3ebc6051054e71",
                       "tick": tick, "price": price})
    out: list[tuple[str, Any]] = []
    ticks = _Ticks(10**6)
    ticks.start_file("f", "s")
    try:
        ticks.add(decode_line(line), line, 1)
        row = ticks.table().to_pylist()[0]
        out.append(("stored", (row["price"], row["tick"], row["ts"])))
    except (RecordRejected, InvalidEventError):
        out.append(("rejected", None))
    try:
        (r,) = normalize_record(map_legacy_record(decode_line(line), line, session_id="s", seq=1),
                                ingested_at=datetime.now(UTC), max_payload_bytes=10**6)
        out.append(("stored", (r["price"], r["tick"], r["ts"])))
    except (RecordRejected, InvalidEventError):
        out.append(("rejected", None))
    return out


_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1.5", "abc", "", " 2 ", "1e400", "-0.5", "NaN", "0x10", "1_000"]),
    st.text(max_size=5), st.lists(st.integers(), max_size=2),
)
_times = st.sampled_from([
    "2025-12-14T20:17:10.123456", "2025-12-14T20:17:10", "2025-12-14T20:17:10+01:00",
    "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "soon", "2025-12-14T20:17:10Z",
])


@given(price=_values, tick=_values, ts=_times)
@hsettings(max_examples=300, deadline=None)
def test_a_value_gets_the_same_verdict_from_a_capture_and_from_a_legacy_recording(
    price: Any, tick: Any, ts: str
) -> None:
    capture = _capture_verdict(price, tick, ts)
    fast, general = _legacy_verdicts(price, tick, ts)
    assert fast == general  # the tick batch path is the general mapping, faster
    assert capture == general


def test_the_store_s_own_corpus_verdicts_match_across_captures_and_legacy() -> None:
    for price, tick in [("abc", 1), ("1.5", 1), (1.25, -7), (1.25, 2**40), (-1.0, 1),
                        (True, 1), (1.25, 1.0), (1.25, 1.5), (1e30, 1)]:
        capture = _capture_verdict(price, tick, "2025-12-14T20:17:10")
        assert [capture, capture] == _legacy_verdicts(price, tick, "2025-12-14T20:17:10"), (
            price, tick)


# -- the command line ---------------------------------------------------------------------


def _cli(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replayer.cli", *args], capture_output=True,
                          text=True, cwd=ROOT,
                          env={**os.environ, "RUGS_DATA_DIR": str(data_dir), **env})


def test_the_cli_ingests_and_imports_the_corpus_without_a_traceback(tmp_path: Path) -> None:
    out = _cli("ingest", str(CAPTURE), "--json", data_dir=tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rejected"] == 8 and summary["written_total"] == 7
    out = _cli("legacy", "import", str(LEGACY), "--json", data_dir=tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["rejected"] == 8
