"""`replayer schema drift` as a user runs it: the sample spec against the fixture store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.event_store import fill_store
from tests.replayer.test_catalog_cmds import run

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "protocol_docs"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill_store(tmp_path_factory.mktemp("drift") / "data").data_dir


def test_drift_lists_documented_observed_and_both(data_dir: Path) -> None:
    out = run("schema", "drift", data_dir=data_dir, RUGS_PROTOCOL_DOCS=str(DOCS))
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:]
            if line and not line.startswith(("(", "columns"))}
    assert rows["requestSidebet"][1:3] == ["documented_only", "0"]
    assert rows["playerUpdate"][1] == "both" and "VERIFIED" in rows["playerUpdate"]
    assert rows["checkUsername"][1] == "observed_only"


def test_drift_of_one_event_lists_its_fields_and_json_has_everything(data_dir: Path) -> None:
    out = run("schema", "drift", "playerupdate", "--docs", str(DOCS), data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    assert "docs say:    Sync local state with server truth" in out.stdout
    cash = next(line for line in out.stdout.splitlines() if line.startswith("cash "))
    assert cash.split()[1:4] == ["both", "float", "number"]
    js = json.loads(run("schema", "drift", "--json", "--docs", str(DOCS),
                        data_dir=data_dir).stdout)
    by = {e["event_name"]: e for e in js["events"]}
    assert by["requestSidebet"]["spec_verified"] is True
    assert by["playerUpdate"]["counts"]["both"] > 5 and js["summary"]["events_both"] >= 2


def test_drift_without_docs_or_with_a_typo_is_one_clear_line(data_dir: Path) -> None:
    out = run("schema", "drift", data_dir=data_dir)
    assert out.returncode == 1 and out.stderr.startswith("error: no protocol docs root")
    typo = run("schema", "drift", "playerUpdat", "--docs", str(DOCS), data_dir=data_dir)
    assert typo.returncode == 1 and "did you mean playerUpdate" in typo.stderr
