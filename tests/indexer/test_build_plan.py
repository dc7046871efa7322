"""The build's planners decide from plain data alone: no LanceDB, no model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from chunkers.chunk import Chunk
from indexer.build import (
    check_fingerprint,
    duplicate_ids,
    plan_batch,
    plan_sources,
)
from indexer.checkpoint import TableState
from indexer.errors import FingerprintMismatchError, IndexerError
from indexer.source import CallableSource, SourceScan

FP = {"model": "hash:8", "chunker_version": "1"}


def _src(key: str, sig: str = "s1") -> CallableSource:
    return CallableSource(key, sig, lambda: [])


def _row(c: Chunk) -> dict[str, Any]:
    return {"id": c.chunk_id, "content_hash": c.content_hash, "meta_hash": c.metadata_hash,
            "source": c.source, "metadata": json.dumps({"heading": c.chunk_id})}


def _state(**sources: str) -> TableState:
    return TableState(fingerprint=FP, sources=dict(sources), versions_mtime_ns=7, rows=3)


def test_a_clean_checkpoint_with_equal_signatures_plans_a_noop() -> None:
    plan = plan_sources(_state(a="s1", b="s1"), SourceScan([_src("a"), _src("b")]), FP,
                        table="events", table_present=True, versions_mtime_ns=7)
    assert plan.noop and plan.trusted
    assert plan.changed == [] and plan.vanished == [] and plan.unchanged == ["a", "b"]


def test_new_and_changed_signatures_are_chunked_and_vanished_sources_deleted() -> None:
    scan = SourceScan([_src("a"), _src("b", "s2"), _src("c")])
    plan = plan_sources(_state(a="s1", b="s1", gone="s1"), scan, FP, table="events",
                        table_present=True, versions_mtime_ns=7)
    assert plan.changed == ["b", "c"] and plan.vanished == ["gone"]
    assert plan.unchanged == ["a"] and plan.trusted and not plan.noop


def test_sources_outside_the_scan_scope_are_never_planned_for_deletion() -> None:
    scan = SourceScan([_src("a")], owns=lambda k: k.startswith("root-a/"))
    plan = plan_sources(_state(a="s1", **{"root-b/x": "s1", "root-a/y": "s1"}), scan, FP,
                        table="events", table_present=True, versions_mtime_ns=7)
    assert plan.vanished == ["root-a/y"]


@pytest.mark.parametrize("why", ["dirty", "fingerprint", "foreign commit", "no table"])
def test_a_checkpoint_that_cannot_be_believed_is_not_trusted(why: str) -> None:
    state = _state(a="s1")
    present, mtime = True, 7
    if why == "dirty":
        state.dirty = True
    elif why == "fingerprint":
        state.fingerprint = {"model": "other"}
    elif why == "foreign commit":
        mtime = 8
    else:
        present = False
    plan = plan_sources(state, SourceScan([_src("a")]), FP, table="events",
                        table_present=present, versions_mtime_ns=mtime)
    assert not plan.trusted and not plan.noop and plan.changed == []


def test_a_repair_rediffs_every_source_and_deletes_orphans_found_only_in_the_table() -> None:
    scan = SourceScan([_src("a"), _src("b")], owns=lambda k: k != "foreign")
    state = _state(a="s1", b="s1", gone="s1")
    state.dirty = True
    plan = plan_sources(state, scan, FP, table="events", table_present=True,
                        versions_mtime_ns=7)
    repaired = plan.for_repair({"a", "orphan", "foreign"})
    assert repaired.repaired and repaired.changed == ["a", "b"]
    assert repaired.vanished == ["gone", "orphan"]
    new = plan.for_new_table()
    assert new.trusted and new.changed == ["a", "b"] and new.vanished == []


def test_two_sources_with_one_key_are_refused() -> None:
    with pytest.raises(IndexerError, match="share the key 'a'"):
        plan_sources(TableState(), SourceScan([_src("a"), _src("a")]), FP, table="events",
                     table_present=False, versions_mtime_ns=None)


def test_another_fingerprint_is_refused_naming_what_differs_and_the_fix() -> None:
    check_fingerprint("events", dict(FP), FP)
    with pytest.raises(FingerprintMismatchError, match="model 'old' -> 'hash:8'.*--full"):
        check_fingerprint("events", {**FP, "model": "old"}, FP)
    with pytest.raises(FingerprintMismatchError, match="no fingerprint stored"):
        check_fingerprint("events", None, FP)


def test_a_batch_writes_only_new_changed_and_metadata_only_chunks() -> None:
    same = Chunk("same", "unchanged text", "a", {"heading": "Same"})
    edited_old = Chunk("edited", "old text", "a", {"heading": "Edited"})
    edited = Chunk("edited", "new text", "a", {"heading": "Edited"})
    retagged_old = Chunk("retag", "kept text", "a", {"heading": "Retag", "tag": 1})
    retagged = Chunk("retag", "kept text", "a", {"heading": "Retag", "tag": 2})
    added = Chunk("added", "brand new", "a", {"heading": "Added"})
    dropped = Chunk("dropped", "gone text", "a", {"heading": "Dropped"})
    existing = {c.chunk_id: _row(c) for c in (same, edited_old, retagged_old, dropped)}
    plan = plan_batch("events", [(_src("a", "s2"), [same, edited, retagged, added])],
                      existing, checkpointed={"a"})
    assert [c.chunk_id for c in plan.write] == ["edited", "retag", "added"]
    assert plan.new_texts == {edited.content_hash: "new text", added.content_hash: "brand new"}
    assert plan.unchanged == ["same"] and plan.stale == ["dropped"] and plan.metadata_only == 1
    (change,) = plan.changes
    assert change.status == "changed" and change.added == ["Added"]
    assert change.changed == ["Edited"] and change.removed == ["dropped"]
    assert change.metadata_only == 1


def test_equal_texts_in_a_batch_need_one_vector() -> None:
    a, b = Chunk("a1", "same words", "a"), Chunk("b1", "same words", "b")
    plan = plan_batch("events", [(_src("a"), [a]), (_src("b"), [b])], {}, checkpointed=())
    assert len(plan.write) == 2 and list(plan.new_texts) == [a.content_hash]
    assert [(c.key, c.status) for c in plan.changes] == [("a", "added"), ("b", "added")]


def test_a_chunk_moving_to_another_source_of_the_batch_is_rewritten_not_deleted() -> None:
    old = Chunk("moved", "text", "a")
    new = Chunk("moved", "text", "b")
    plan = plan_batch("events", [(_src("a"), []), (_src("b"), [new])],
                      {"moved": _row(old)}, checkpointed={"a"})
    assert plan.stale == [] and [c.chunk_id for c in plan.write] == ["moved"]
    assert plan.new_texts == {} and plan.metadata_only == 1


def test_one_chunk_id_from_two_sources_of_a_batch_is_refused() -> None:
    with pytest.raises(IndexerError, match="produced by two sources"):
        plan_batch("events", [(_src("a"), [Chunk("x", "1", "a")]),
                              (_src("b"), [Chunk("x", "2", "b")])], {}, checkpointed=())


def test_an_unchanged_source_with_rows_reports_nothing() -> None:
    c = Chunk("c", "text", "a")
    plan = plan_batch("events", [(_src("a", "s2"), [c])], {"c": _row(c)}, checkpointed=())
    assert plan.write == [] and plan.changes == [] and plan.unchanged == ["c"]


def test_duplicate_ids_are_the_repeated_ones() -> None:
    assert duplicate_ids(["a", "b", "a", "c", "b", "a"]) == {"a", "b"}


def test_planning_imports_neither_lancedb_nor_a_model() -> None:
    import subprocess

    code = ("import sys; from indexer.build import plan_batch, plan_sources; "
            "print(any(m in sys.modules for m in ('lancedb', 'torch', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"
