"""`replayer data …` and `replayer schema …` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from store.settings import Settings
from store.writer import EventWriter
from tests.event_store import make_event

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replayer.cli", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "RUGS_DATA_DIR": str(data_dir)},
    )


def _seed(data_dir: Path) -> None:
    with EventWriter.open(Settings.load(data_dir=data_dir, flush_events=3)) as w:
        w.write_many([make_event(i) for i in range(9)])


def test_status_json_reports_events_files_wal_and_schema(tmp_path: Path) -> None:
    _seed(tmp_path)
    out = run("data", "status", "--json", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["total_events"] == 9
    gt = st["doc_types"]["game_tick"]
    assert gt["partitions"][0]["date"] == "2025-12-14" and gt["files"] >= 1
    assert st["wal"]["pending_events"] == 0 and st["schema_version"]["on_disk"] == 1


def test_compact_then_status_shows_one_file(tmp_path: Path) -> None:
    _seed(tmp_path)
    assert run("data", "compact", data_dir=tmp_path).returncode == 0
    st = json.loads(run("data", "status", "--json", data_dir=tmp_path).stdout)
    assert st["doc_types"]["game_tick"]["files"] == 1


def test_export_and_prune_from_the_command_line(tmp_path: Path) -> None:
    _seed(tmp_path)
    out = run("data", "export", "--format", "jsonl", "--output", str(tmp_path / "x"),
              "--doc-type", "game_tick", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "x" / "game_tick.jsonl").read_text().splitlines()) == 9
    out = run("data", "prune", "--before", "2026-01-01", "--yes", data_dir=tmp_path)
    assert "1 partition" in out.stdout


def test_a_bad_date_is_one_clear_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    out = run("data", "prune", "--before", "yesterday", "--yes", data_dir=tmp_path)
    assert out.returncode != 0 and "not a date" in out.stderr
    assert "Traceback" not in out.stderr


def test_schema_migrate_refuses_a_newer_on_disk_version(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir(parents=True)
    (tmp_path / "manifests" / "schema_version.json").write_text('{"schema_version": 7}')
    out = run("schema", "migrate", data_dir=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().startswith("error:") and "newer" in out.stderr
    assert "Traceback" not in out.stderr


def test_schema_show_lists_typed_columns(tmp_path: Path) -> None:
    out = run("schema", "show", "--json", data_dir=tmp_path)
    cols = {c["name"] for c in json.loads(out.stdout)["doc_types"]["player_action"]}
    assert {"action_type", "amount", "price", "percentage"} <= cols
