"""store.ingest: streaming files and stdin through the real writer, rejects, --follow resume."""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import store.event as event_mod
from store.errors import IngestError
from store.event import ValidRecord
from store.files import committed_files
from store.ingest import checkpoint_path, ingest, read_checkpoint
from store.paths import DOC_TYPES, DataPaths
from store.rejects import read_rejects
from store.settings import Settings
from store.writer import EventWriter

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "ingest"
DATA = ROOT / ".." / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


@pytest.fixture
def settings_(tmp_path: Path) -> Settings:
    return Settings.load(data_dir=tmp_path / "data", flush_seconds=0.2)


def run(settings_: Settings, source: Path | str, **kw: Any) -> Any:
    with EventWriter.open(settings_) as w:
        return ingest(w, source, **kw)


def stored(settings_: Settings, doc_type: str) -> list[dict[str, Any]]:
    paths = DataPaths(settings_.data_dir)
    out: list[dict[str, Any]] = []
    for f in committed_files(paths, doc_type):
        out.extend(pq.read_table(f).to_pylist())
    return out


def counts(settings_: Settings) -> dict[str, int]:
    return {t: n for t in DOC_TYPES if (n := len(stored(settings_, t)))}


def test_a_capture_lands_in_every_doc_type_with_a_summary(settings_: Settings) -> None:
    s = run(settings_, FIX / "raw_excerpt.jsonl")
    assert s.layout == "jsonl" and s.read == 5 and s.lines == 6 and s.rejected == 1
    assert s.written == {"ws_event": 5, "system_event": 2, "player_action": 1, "game_tick": 1}
    assert counts(settings_) == s.written
    ws = {r["event_name"]: r for r in stored(settings_, "ws_event")}
    assert ws["connect"]["raw_json"] == "null" and ws["connect"]["session_id"] == "raw_excerpt"
    assert ws["standard/newTrade"]["seq"] == 45  # the record's own seq


def test_reingesting_the_same_capture_adds_nothing(settings_: Settings) -> None:
    first = run(settings_, FIX / "cdp_excerpt.jsonl")
    again = run(settings_, FIX / "cdp_excerpt.jsonl")
    assert first.written == {"ws_event": 6, "system_event": 4, "server_state": 1,
                             "player_action": 1}
    assert again.written == {} and again.duplicates == sum(first.written.values())


def test_a_bad_line_goes_to_the_rejects_file_with_file_line_and_reason(
    settings_: Settings,
) -> None:
    s = run(settings_, FIX / "raw_excerpt.jsonl")
    (rej,) = read_rejects(Path(s.rejects_file))
    assert rej["file"].endswith("raw_excerpt.jsonl") and rej["line"] == 7
    assert rej["reason"].startswith("not JSON") and rej["text"].startswith('{"seq": 490')
    assert Path(s.rejects_file).is_relative_to(DataPaths(settings_.data_dir).rejects)


def test_stdin_is_read_like_a_file(settings_: Settings) -> None:
    data = (FIX / "array_excerpt.json").read_bytes()
    s = run(settings_, "-", stdin=io.BytesIO(data))
    assert s.layout == "json_array" and s.read == 2 and s.written["ws_event"] == 2
    assert {r["session_id"] for r in stored(settings_, "ws_event")} == {"stdin"}
    again = run(settings_, FIX / "array_excerpt.json")  # same events from the file: nothing new
    assert again.written == {} and again.duplicates == 4


def test_the_key_samples_object_is_ingested_sample_by_sample(settings_: Settings) -> None:
    s = run(settings_, FIX / "key_samples_excerpt.json")
    assert s.layout == "json_object" and s.written == {"ws_event": 2, "player_action": 2}
    actions = sorted(r["action_type"] for r in stored(settings_, "player_action"))
    assert actions == ["buy", "sell"]


def test_game_history_repeats_are_counted_as_duplicates_not_written_twice(
    settings_: Settings, tmp_path: Path
) -> None:
    line = (FIX / "history_tick.jsonl").read_text()
    doubled = tmp_path / "doubled.jsonl"
    # the same finished games on a later tick
    later = line.replace('"seq": 2,', '"seq": 3,', 1).replace(
        '"ts": "2025-12-14T20:17:11.404595"', '"ts": "2025-12-14T20:17:12"')
    doubled.write_text(line + later)
    s = run(settings_, doubled)
    assert s.written["complete_game"] == 2 and s.written["ws_event"] == 2 and s.duplicates == 2
    games = stored(settings_, "complete_game")
    assert sorted(g["event_id"] for g in games) == sorted(
        f"game:{h['id']}" for h in json.loads(line)["data"]["gameHistory"])


@pytest.mark.parametrize("name", ["cdp_excerpt.jsonl", "history_tick.jsonl",
                                  "array_excerpt.json", "key_samples_excerpt.json"])
def test_each_row_is_validated_once_and_reaches_the_writer_as_a_valid_record(
    settings_: Settings, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    calls = 0
    real = event_mod.normalize

    def counting(*args: Any, **kw: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return real(*args, **kw)

    monkeypatch.setattr(event_mod, "normalize", counting)
    handed: list[type] = []
    with EventWriter.open(settings_) as w:
        write_records = w.write_records

        def spy(records: Any) -> Any:
            handed.extend(type(r) for r in records)
            return write_records(records)

        monkeypatch.setattr(w, "write_records", spy)
        s = ingest(w, FIX / name)
    assert s.rejected == 0 and s.read == len(handed) > 0
    assert set(handed) == {ValidRecord}
    assert calls == sum(s.written.values())  # not twice: the writer trusts a ValidRecord
    assert counts(settings_) == s.written


def test_unreadable_inputs_are_clear_errors(settings_: Settings, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such capture file"):
        run(settings_, tmp_path / "missing.jsonl")
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(IngestError, match="not a capture file"):
        run(settings_, csv)
    with pytest.raises(IngestError, match="--follow needs a JSON-lines"):
        run(settings_, FIX / "array_excerpt.json", follow=True, idle_timeout_s=0)
    with pytest.raises(IngestError, match="--follow tails a file"):
        run(settings_, "-", follow=True, stdin=io.BytesIO(b""))


def test_a_broken_document_keeps_what_came_before_the_break(
    settings_: Settings, tmp_path: Path
) -> None:
    text = (FIX / "array_excerpt.json").read_text()
    broken = tmp_path / "broken.json"
    broken.write_text(text[: text.rindex("{")] + '{"seq": ')
    with pytest.raises(IngestError, match="JSON syntax error"):
        run(settings_, broken)
    assert counts(settings_) == {"ws_event": 1, "system_event": 1}


# -- follow ---------------------------------------------------------------------------------


def test_follow_resumes_exactly_where_it_stopped_without_duplicates(
    settings_: Settings, tmp_path: Path
) -> None:
    lines = (FIX / "cdp_excerpt.jsonl").read_text().splitlines(keepends=True)
    live = tmp_path / "live.jsonl"
    # a recorder mid-way: three lines and half of the fourth
    live.write_text("".join(lines[:3]) + lines[3][:40])
    s1 = run(settings_, live, follow=True, idle_timeout_s=0, poll_s=0.01)
    assert s1.read == 3 and not s1.resumed
    cp = read_checkpoint(checkpoint_path(DataPaths(settings_.data_dir), live))
    assert cp is not None and cp["offset"] == len("".join(lines[:3]).encode()) and cp["line"] == 3
    with open(live, "a") as fh:
        fh.write(lines[3][40:] + "".join(lines[4:]))
    s2 = run(settings_, live, follow=True, idle_timeout_s=0, poll_s=0.01)
    assert s2.resumed and s2.start_offset == cp["offset"] and s2.read == 3
    assert s2.duplicates == 0 and s2.end_offset == live.stat().st_size
    ws = stored(settings_, "ws_event")
    assert sorted(r["seq"] for r in ws) == [1, 2, 3, 11, 104, 170]
    s3 = run(settings_, live, follow=True, idle_timeout_s=0, poll_s=0.01)
    assert s3.read == 0 and s3.written == {}


def test_follow_tails_a_file_while_its_recorder_writes(
    settings_: Settings, tmp_path: Path
) -> None:
    lines = (FIX / "raw_excerpt.jsonl").read_text().splitlines(keepends=True)[:5]
    live = tmp_path / "recording.jsonl"
    live.write_text("")
    stop = threading.Event()
    result: dict[str, Any] = {}

    def follower() -> None:
        result["s"] = run(settings_, live, follow=True, poll_s=0.02, stop=stop)

    t = threading.Thread(target=follower)
    t.start()
    for line in lines:
        with open(live, "a") as fh:
            fh.write(line)
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    paths = DataPaths(settings_.data_dir)
    while time.monotonic() < deadline:
        cp = read_checkpoint(checkpoint_path(paths, live))
        if cp and cp["offset"] == live.stat().st_size:
            break
        time.sleep(0.05)
    stop.set()
    t.join(10)
    assert result["s"].read == 5 and result["s"].written["ws_event"] == 5
    assert len(stored(settings_, "ws_event")) == 5


def test_follow_reads_a_replaced_file_from_its_start(settings_: Settings, tmp_path: Path) -> None:
    live = tmp_path / "live.jsonl"
    shutil.copy(FIX / "cdp_excerpt.jsonl", live)
    run(settings_, live, follow=True, idle_timeout_s=0, poll_s=0.01)
    shutil.copy(FIX / "raw_excerpt.jsonl", live)  # a new recording under the same name
    s = run(settings_, live, follow=True, idle_timeout_s=0, poll_s=0.01)
    assert not s.resumed and s.note and "read from the start" in s.note
    assert s.written["ws_event"] == 5 and s.rejected == 1


# -- bounded memory and the real captures -----------------------------------------------------


def test_memory_stays_bounded_by_the_batch_not_the_file(
    settings_: Settings, tmp_path: Path
) -> None:
    big = tmp_path / "big.jsonl"
    pad = "x" * 2000
    with open(big, "w") as fh:
        for i in range(5_000):
            fh.write(json.dumps({"seq": i, "ts": f"2025-12-14T20:{i // 3600 % 60:02d}:"
                                 f"{i // 60 % 60:02d}.{i % 60:06d}", "event": "newChatMessage",
                                 "data": {"message": pad, "n": i}}) + "\n")
    size = big.stat().st_size
    with EventWriter.open(settings_.with_(flush_events=1000)) as w:
        tracemalloc.start()
        s = ingest(w, big, batch_events=500)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert s.written["ws_event"] == 5_000
    assert peak < size / 2, f"peak {peak} bytes for a {size}-byte file"


@needs_data
def test_every_real_capture_is_ingested_with_the_expected_rows(settings_: Settings) -> None:
    files = [
        DATA / "websocket_raw_samples.jsonl",
        DATA / "captures" / "2025-12-14_20-17-10_raw.jsonl",
        DATA / "captures" / "2025-12-15_00-39-17_cdp.jsonl",
        DATA / "captures" / "2025-12-17_16-37-52_gameStatePlayerUpdate_samples.json",
        DATA / "key-samples.json",
    ]
    summaries = [run(settings_, f) for f in files]
    assert [s.read for s in summaries] == [200, 488, 419, 20, 11]
    assert all(s.rejected == 0 for s in summaries)
    c = counts(settings_)
    assert c["ws_event"] == 200 + 488 + 419 + 20 + 11
    assert c["game_tick"] == 176 + 446 + 189 + 7
    assert c["server_state"] == 3 and c["system_event"] == 2 + 7
    assert c["player_action"] == 18 + 18 + 14 + 4
    games = stored(settings_, "complete_game")
    assert len(games) == len({g["game_id"] for g in games}) == 44
    states = stored(settings_, "server_state")
    assert {s["player_id"] for s in states} == {"did:privy:cmaibr7rt0094jp0mc2mbpfu4"}
    again = [run(settings_, f) for f in files]
    assert all(s.written == {} for s in again)


def test_follow_moves_to_a_new_file_when_the_recorder_rotates_it(
    settings_: Settings, tmp_path: Path
) -> None:
    live = tmp_path / "rotating.jsonl"
    first = (FIX / "cdp_excerpt.jsonl").read_text().splitlines(keepends=True)
    second = (FIX / "raw_excerpt.jsonl").read_text().splitlines(keepends=True)[:5]
    live.write_text("".join(first))
    stop = threading.Event()
    result: dict[str, Any] = {}

    def follower() -> None:
        result["s"] = run(settings_, live, follow=True, poll_s=0.02, stop=stop)

    t = threading.Thread(target=follower)
    t.start()
    time.sleep(0.3)
    live.rename(tmp_path / "rotating.1.jsonl")
    (tmp_path / "rotating.jsonl.tmp").write_text("".join(second))
    (tmp_path / "rotating.jsonl.tmp").rename(live)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(stored(settings_, "ws_event")) < 11:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    assert result["s"].read == 6 + 5 and "replaced" in (result["s"].note or "")
    assert len(stored(settings_, "ws_event")) == 11


def test_stop_during_a_long_backlog_ends_at_a_durable_batch_and_resumes(
    settings_: Settings, tmp_path: Path
) -> None:
    live = tmp_path / "backlog.jsonl"
    lines = (FIX / "raw_excerpt.jsonl").read_text().splitlines(keepends=True)[:5]
    live.write_text("".join(lines))
    stop = threading.Event()
    stop.set()  # asked to stop before the first batch is through
    s1 = run(settings_, live, follow=True, stop=stop, batch_events=2, poll_s=0.01)
    assert 0 < s1.read < 5 and s1.end_offset < live.stat().st_size
    s2 = run(settings_, live, follow=True, idle_timeout_s=0, poll_s=0.01)
    assert s2.resumed and s1.read + s2.read == 5 and s2.duplicates == 0
    assert len(stored(settings_, "ws_event")) == 5
