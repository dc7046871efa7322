"""`replayer ingest` and `replayer legacy import|export` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "ingest"


def run(*args: str, data_dir: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, "-m", "replayer.cli", *args], capture_output=True, cwd=ROOT,
        env={**os.environ, "RUGS_DATA_DIR": str(data_dir)}, input=stdin, check=False,
    )
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(), p.stderr.decode())


def test_ingest_json_prints_the_summary_with_rejects(tmp_path: Path) -> None:
    out = run("ingest", str(FIX / "raw_excerpt.jsonl"), "--json", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["read"] == 5 and s["rejected"] == 1 and s["written"]["ws_event"] == 5
    assert s["rejects_file"].startswith(str(tmp_path / "rejects"))
    again = json.loads(run("ingest", str(FIX / "raw_excerpt.jsonl"), "--json",
                           data_dir=tmp_path).stdout)
    assert again["written_total"] == 0 and again["duplicates"] == s["written_total"]


def test_ingest_reads_stdin_and_prints_a_readable_summary(tmp_path: Path) -> None:
    out = run("ingest", "-", data_dir=tmp_path,
              stdin=(FIX / "key_samples_excerpt.json").read_bytes())
    assert out.returncode == 0, out.stderr
    assert "read 2 events from - (json_object)" in out.stdout
    assert "player_action 2" in out.stdout and "rejected: 0" in out.stdout


def test_several_files_are_ingested_by_one_writer_each_with_its_summary(tmp_path: Path) -> None:
    files = [str(FIX / "raw_excerpt.jsonl"), str(FIX / "key_samples_excerpt.json")]
    out = run("ingest", *files, "--json", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)["files"]
    assert [d["read"] for d in docs] == [5, 2]
    text = run("ingest", *files, data_dir=tmp_path)
    assert text.stdout.count("duplicates skipped") == 2 and "nothing new" in text.stdout
    refused = run("ingest", *files, "--follow", data_dir=tmp_path)
    assert refused.returncode == 2 and "single input" in refused.stderr


def test_a_missing_file_is_one_clear_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    out = run("ingest", str(tmp_path / "nope.jsonl"), data_dir=tmp_path)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.jsonl'}: no such "
                                               "capture file"]


def test_follow_with_an_idle_timeout_stops_and_then_resumes(tmp_path: Path) -> None:
    live = tmp_path / "live.jsonl"
    lines = (FIX / "cdp_excerpt.jsonl").read_text().splitlines(keepends=True)
    live.write_text("".join(lines[:2]))
    args = ("ingest", str(live), "--follow", "--idle-timeout", "0", "--poll", "0.01", "--json")
    first = json.loads(run(*args, data_dir=tmp_path / "d").stdout)
    assert first["read"] == 2 and not first["resumed"]
    with open(live, "a") as fh:
        fh.write("".join(lines[2:]))
    second = json.loads(run(*args, data_dir=tmp_path / "d").stdout)
    assert second["resumed"] and second["read"] == 4 and second["duplicates"] == 0


def test_legacy_import_then_export_gives_the_old_files_back(tmp_path: Path) -> None:
    out = run("legacy", "import", str(FIX / "legacy"), "--json", data_dir=tmp_path / "d")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["files"] == 4 and s["rejected"] == 4 and len(s["rejects_files"]) == 2
    human = run("legacy", "import", str(FIX / "legacy"), data_dir=tmp_path / "d")
    assert "written: nothing new" in human.stdout and "rejected: 4 line(s)" in human.stdout
    out = run("legacy", "export", "--output", str(tmp_path / "old"), data_dir=tmp_path / "d")
    assert out.returncode == 0, out.stderr
    assert "wrote 14 records to 4 files" in out.stdout
    src = FIX / "legacy" / "game_20251108_120852_da3445cb.jsonl"
    assert (tmp_path / "old" / src.name).read_bytes() == src.read_bytes()


def test_legacy_import_of_a_folder_without_recordings_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = run("legacy", "import", str(tmp_path / "empty"), data_dir=tmp_path / "d")
    assert out.returncode != 0 and "holds no *.jsonl legacy recordings" in out.stderr


def test_a_second_writer_is_refused_while_one_runs(tmp_path: Path) -> None:
    from store.settings import Settings
    from store.writer import EventWriter

    with EventWriter.open(Settings.load(data_dir=tmp_path / "d")):
        out = run("ingest", str(FIX / "cdp_excerpt.jsonl"), data_dir=tmp_path / "d")
    assert out.returncode != 0 and "held by another process" in out.stderr
    shutil.rmtree(tmp_path / "d")
