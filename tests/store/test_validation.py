"""Validation status per event type: persisted, versioned, with history; shown in the catalog."""

from __future__ import annotations

import json
import multiprocessing as mp
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.catalog import attach_validation, build_catalog
from store.errors import SchemaVersionError, ValidationError
from store.paths import DataPaths
from store.validation import (
    get_validation,
    history,
    load_validation,
    set_validation,
)


def test_a_status_is_stored_with_note_author_and_time(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rec = set_validation(paths, "playerUpdate", "verified", "fields checked", by="ana", at=at)
    assert rec.at == "2026-01-02T03:04:05+00:00"
    assert load_validation(paths)["playerUpdate"] == rec
    doc = json.loads(paths.validation_manifest.read_text())
    assert doc["version"] == 1 and doc["events"]["playerUpdate"]["by"] == "ana"


def test_an_event_never_verified_is_unverified(tmp_path: Path) -> None:
    assert get_validation(DataPaths(tmp_path), "gameStateUpdate").status == "unverified"


def test_a_new_status_keeps_the_previous_one_in_history(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    set_validation(paths, "usernameStatus", "verified", by="a")
    set_validation(paths, "usernameStatus", "needs-correction", "payload never captured", by="b")
    assert get_validation(paths, "usernameStatus").status == "needs-correction"
    assert [h.status for h in history(paths, "usernameStatus")] == ["verified"]


@pytest.mark.parametrize(("status", "note", "message"), [
    ("ok", "", "unknown status 'ok'"),
    ("needs-correction", "", "requires a --note"),
    ("verified", "x" * 2001, "at most 2000"),
])
def test_bad_records_are_refused_with_a_clear_message(tmp_path: Path, status: str, note: str,
                                                      message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        set_validation(DataPaths(tmp_path), "playerUpdate", status, note)
    assert not DataPaths(tmp_path).validation_manifest.exists()


def test_an_empty_event_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        set_validation(DataPaths(tmp_path), "  ", "verified")


def test_a_newer_manifest_is_refused_and_a_damaged_one_is_not_overwritten(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    paths.manifests.mkdir(parents=True)
    paths.validation_manifest.write_text(json.dumps({"version": 7, "events": {}}))
    with pytest.raises(SchemaVersionError, match="version 7"):
        load_validation(paths)
    paths.validation_manifest.write_text("{oops")
    with pytest.raises(ValidationError, match="cannot read"):
        set_validation(paths, "playerUpdate", "verified")
    assert paths.validation_manifest.read_text() == "{oops"


def _verify_many(root: str, who: int) -> None:
    paths = DataPaths(Path(root))
    for i in range(15):
        set_validation(paths, f"event{who}_{i}", "verified", by=str(who))


def test_concurrent_writers_lose_no_record(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_verify_many, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(load_validation(DataPaths(tmp_path))) == 45


def test_the_catalog_shows_each_events_status(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    set_validation(paths, "playerUpdate", "verified", "ok", by="ana")
    cat = build_catalog([("playerUpdate", "received", "ws_event", "2025-12-15T05:39:20",
                          '{"cash": 1}', "cdp"),
                         ("tick", "received", "game_tick", "2025-10-29T18:36:08",
                          '{"tick": 1}', "legacy")])
    attach_validation(cat, load_validation(paths))
    assert cat.events["playerUpdate"].validation is not None
    assert cat.events["playerUpdate"].validation["status"] == "verified"
    assert cat.events["tick"].validation == {"status": "unverified"}
