"""`replayer data events`, `replayer schema verify` and `replayer eval` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.event_store import fill_store

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    full_env.update(RUGS_DATA_DIR=str(data_dir), RUGS_USER="tester", **env)
    return subprocess.run([sys.executable, "-m", "replayer.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=full_env, check=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill_store(tmp_path_factory.mktemp("cli") / "data").data_dir


def test_data_events_lists_every_event_with_its_direction_and_count(data_dir: Path) -> None:
    out = run("data", "events", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["event", "dir", "count", "fields"]
    pu = next(line for line in lines if line.startswith("playerUpdate "))
    assert pu.split()[1:3] == ["received", "3"]
    assert any(line.startswith("checkUsername ") and " sent " in line for line in lines)


def test_data_events_name_shows_the_fields_of_playerupdate(data_dir: Path) -> None:
    out = run("data", "events", "playerUpdate", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    fields = {line.split()[0] for line in out.stdout.splitlines()[10:] if line.strip()}
    assert {"cash", "positionQty", "avgCost", "cumulativePnL"} <= fields
    js = json.loads(run("data", "events", "playerUpdate", "--json", data_dir=data_dir).stdout)
    assert js["event_name"] == "playerUpdate" and js["count"] == 3
    assert {"cash", "levelInfo.level"} <= {f["path"] for f in js["fields"]}


def test_an_unknown_event_is_one_line_with_close_names(data_dir: Path) -> None:
    out = run("data", "events", "playerUpdat", data_dir=data_dir)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: unknown event 'playerUpdat'; did you mean playerUpdate")
    assert lines[0].endswith("(19 known: replayer data events)")


def test_schema_verify_records_a_status_shown_by_data_events(tmp_path: Path) -> None:
    data = fill_store(tmp_path / "data", legacy_dir=None).data_dir
    out = run("schema", "verify", "usernameStatus", "--status", "needs-correction", "--note",
              "payload never captured", data_dir=data)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usernameStatus: needs-correction by tester at ")
    shown = json.loads(run("data", "events", "usernameStatus", "--json", data_dir=data).stdout)
    assert shown["validation"]["status"] == "needs-correction"
    assert shown["validation"]["note"] == "payload never captured"
    typo = run("schema", "verify", "usernameStatos", "--status", "verified", data_dir=data)
    assert typo.returncode == 1 and "did you mean usernameStatus" in typo.stderr
    forced = run("schema", "verify", "futureEvent", "--status", "verified", "--force", "--json",
                 data_dir=data)
    assert json.loads(forced.stdout)["event_name"] == "futureEvent"
    bad = run("schema", "verify", "usernameStatus", "--status", "needs-correction",
              data_dir=data)
    assert bad.returncode == 1 and "requires a --note" in bad.stderr


def test_eval_prints_figures_per_table_and_mode_and_json(tmp_path: Path) -> None:
    data = fill_store(tmp_path / "data", legacy_dir=None).data_dir
    env = {"RUGS_MODEL_ID": "hash:64"}
    built = run("index", "build", "--table", "events", data_dir=data, **env)
    assert built.returncode == 0, built.stderr
    q = tmp_path / "q.jsonl"
    q.write_text("\n".join(json.dumps(x) for x in [
        {"id": "a", "question": "what fields are in playerUpdate cash", "table": "events",
         "expect": {"event_name": ["playerUpdate"], "field": "cash"}},
        {"id": "b", "question": "check username request", "table": "events",
         "expect": {"event_name": ["checkUsername"]}},
    ]) + "\n")
    out = run("eval", str(q), data_dir=data, **env)
    assert out.returncode == 0, out.stderr
    assert [line.split()[:2] for line in out.stdout.splitlines()[1:4]] == [
        ["events", "hybrid"], ["events", "vector"], ["events", "text"]]
    js = json.loads(run("eval", str(q), "--mode", "hybrid", "--json", data_dir=data,
                        **env).stdout)
    assert js["modes"] == ["hybrid"] and js["questions"] == 2
    assert set(js["tables"]["events"]["hybrid"]) == {"questions", "hit@1", "hit@5", "mrr"}


def test_eval_of_a_bad_file_is_one_clear_line(tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": "a"}\n')
    out = run("eval", str(q), data_dir=tmp_path / "data")
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: {q}:1: missing question, table, expect"
