"""Incremental and full builds: embed only what changed, repair after crashes, never mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from indexer import build as build_mod
from indexer import checkpoint as ckpt
from indexer.build import build, build_full, build_incremental
from indexer.embedder import HashingEmbedder
from indexer.errors import CheckpointVersionError, FingerprintMismatchError, IndexBusyError
from indexer.search import Searcher
from indexer.tables import connect, read_rows
from store.locks import FileLock
from store.paths import DataPaths
from store.settings import Settings

from .conftest import MemorySources

REPO = Path(__file__).resolve().parents[2]


def _rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    tbl = connect(DataPaths(settings.data_dir)).open_table(table)
    rows: list[dict[str, Any]] = read_rows(
        tbl, None, ["id", "source", "content_hash", "metadata"]).to_pylist()
    return rows


def test_first_build_embeds_every_section_once_and_skips_hidden_dirs(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    rows = _rows(settings, "code_context")
    assert r.sources == 2 and r.sources_added == 2
    assert r.embedded == len(rows) == r.rows == fake_embedder.texts_embedded
    assert len({x["id"] for x in rows}) == len(rows)
    assert not any(".venv" in x["source"] or "node_modules" in x["source"] for x in rows)
    cp = ckpt.load(DataPaths(settings.data_dir).vector_checkpoint)
    assert cp.tables["code_context"].dirty is False
    assert set(cp.tables["code_context"].sources) == {x["source"] for x in rows}


def test_noop_incremental_embeds_nothing(settings: Settings,
                                         fake_embedder: HashingEmbedder) -> None:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    before = fake_embedder.texts_embedded
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    assert r.noop and r.embedded == 0 and fake_embedder.texts_embedded == before


def test_noop_run_imports_neither_torch_nor_lancedb(settings: Settings) -> None:
    """The SessionStart hook path: a no-op must stay cheap (checked in a fresh process)."""
    build_incremental(settings, "code_context", embedder=HashingEmbedder(64))
    code = (
        "import sys\n"
        "from store.settings import Settings\n"
        "from indexer.build import build_incremental\n"
        f"s = Settings.load(data_dir={str(settings.data_dir)!r}, "
        f"context_roots={str(settings.context_roots[0])!r}, model_id='hash:64')\n"
        "r = build_incremental(s, 'code_context')\n"
        "print(r.noop, 'torch' in sys.modules, 'lancedb' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_only_the_changed_section_is_reembedded(settings: Settings, ctx_root: Path,
                                                fake_embedder: HashingEmbedder) -> None:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    f = ctx_root / "store" / "CONTEXT.md"
    f.write_text(f.read_text().replace("Money is decimal128", "Money is always decimal128"))
    before = fake_embedder.texts_embedded
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    assert r.embedded == 1 and fake_embedder.texts_embedded == before + 1
    assert r.sources_changed == 1 and r.rows_deleted == 0
    (change,) = r.changes
    assert change.changed == ["store — CONTEXT > Key decisions"]


def test_added_and_removed_sections_are_reported_and_rows_follow(
        settings: Settings, ctx_root: Path, fake_embedder: HashingEmbedder) -> None:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    f = ctx_root / "hooks" / "CONTEXT.md"
    text = f.read_text().replace("## Exit codes\nExit code 2 blocks the tool call; 0 lets it "
                                 "proceed.\n", "## Events\nSessionStart and PreToolUse.\n")
    f.write_text(text)
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    (change,) = r.changes
    assert change.added == ["Hooks — CONTEXT > Events"]
    assert change.removed == ["Hooks — CONTEXT > Exit codes"]
    headings = {json.loads(x["metadata"])["heading"] for x in _rows(settings, "code_context")}
    assert "Hooks — CONTEXT > Events" in headings
    assert "Hooks — CONTEXT > Exit codes" not in headings


def test_vanished_file_rows_are_deleted(settings: Settings, ctx_root: Path,
                                        fake_embedder: HashingEmbedder) -> None:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    (ctx_root / "hooks" / "CONTEXT.md").unlink()
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    assert r.sources_removed == 1 and r.embedded == 0
    assert not any("hooks" in x["source"] for x in _rows(settings, "code_context"))


def test_building_another_root_never_deletes_the_first_roots_rows(
        settings: Settings, tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    other = tmp_path / "other"
    (other / "pkg").mkdir(parents=True)
    (other / "pkg" / "CONTEXT.md").write_text("# pkg\n\n## Purpose\nAnother repository.\n")
    r = build_incremental(settings.with_(context_roots=(other,)), "code_context",
                          embedder=fake_embedder)
    assert r.sources_removed == 0
    sources = {x["source"] for x in _rows(settings, "code_context")}
    assert len(sources) == 3


def test_metadata_only_change_updates_rows_without_embedding(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> None:
    mem.docs["p1"] = [("a", "alpha text", {"event_name": "x", "kind": "k1"})]
    spec = mem.spec()
    build_incremental(settings, "events", embedder=fake_embedder, spec=spec)
    mem.docs["p1"] = [("a", "alpha text", {"event_name": "x", "kind": "k2"})]
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=spec)
    assert r.embedded == 0 and r.metadata_updated == 1
    (row,) = _rows(settings, "events")
    assert json.loads(row["metadata"])["kind"] == "k2"
    res = Searcher(settings, fake_embedder).search("alpha", table="events",
                                                   filters={"kind": "k2"})
    assert [x.chunk_id for x in res] == ["a"]


def test_identical_texts_are_embedded_once_across_sources_and_runs(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> None:
    mem.docs["p1"] = [("a", "same words", {}), ("b", "other words", {})]
    mem.docs["p2"] = [("c", "same words", {})]
    spec = mem.spec()
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=spec)
    assert r.embedded == 2 and r.rows == 3
    mem.docs["p3"] = [("d", "other words", {})]  # already in the table: reuse its vector
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=spec)
    assert r.embedded == 0 and r.reused_vectors == 1 and r.rows == 4


def test_fingerprint_mismatch_refuses_incremental_and_full_build_fixes_it(
        settings: Settings, mem: MemorySources) -> None:
    mem.docs["p1"] = [("a", "alpha", {})]
    build_incremental(settings, "events", embedder=HashingEmbedder(64), spec=mem.spec())
    with pytest.raises(FingerprintMismatchError, match="--full --table events"):
        build_incremental(settings, "events", embedder=HashingEmbedder(32), spec=mem.spec())
    with pytest.raises(FingerprintMismatchError, match="chunker_version 'mem-1' -> 'mem-2'"):
        build_incremental(settings, "events", embedder=HashingEmbedder(64),
                          spec=mem.spec(version="mem-2"))
    r = build_full(settings, "events", embedder=HashingEmbedder(32), spec=mem.spec())
    assert r.rows == 1 and r.fingerprint["dim"] == 32
    assert build_incremental(settings, "events", embedder=HashingEmbedder(32),
                             spec=mem.spec()).noop


def test_crash_between_batches_is_repaired_without_duplicates_or_reembedding(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for p in range(6):
        mem.docs[f"p{p}"] = [(f"{p}-{i}", f"text {p} {i}", {}) for i in range(3)]
    monkeypatch.setattr(build_mod, "BATCH_CHUNKS", 3)  # one source per batch
    calls = {"n": 0}
    real = build_mod._Builder._apply_batch

    def crash_on_third(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(build_mod._Builder, "_apply_batch", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    state = ckpt.load(DataPaths(settings.data_dir).vector_checkpoint).tables["events"]
    assert state.dirty and len(state.sources) == 2
    monkeypatch.setattr(build_mod._Builder, "_apply_batch", real)
    embedded_before = fake_embedder.texts_embedded
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    assert r.repaired
    rows = _rows(settings, "events")
    assert len(rows) == 18 == len({x["id"] for x in rows})
    # the third batch had been embedded (in memory) but not written: only it is redone
    assert fake_embedder.texts_embedded - embedded_before == 12
    assert not ckpt.load(DataPaths(settings.data_dir).vector_checkpoint).tables["events"].dirty


def test_source_that_vanished_during_a_crash_is_cleaned_up_on_repair(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> None:
    mem.docs["p1"] = [("a", "alpha", {})]
    mem.docs["p2"] = [("b", "beta", {})]
    build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    # a crash after p2's rows were written but before its checkpoint entry was saved
    path = DataPaths(settings.data_dir).vector_checkpoint
    state = ckpt.load(path).tables["events"]
    state.sources.pop("p2")
    state.dirty = True
    ckpt.save_table(path, "events", state)
    del mem.docs["p2"]
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    assert r.repaired and [x["id"] for x in _rows(settings, "events")] == ["a"]


def test_unreadable_source_keeps_its_rows_and_is_retried(
        settings: Settings, mem: MemorySources, fake_embedder: HashingEmbedder) -> None:
    mem.docs["p1"] = [("a", "alpha", {})]
    build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    mem.docs["p1"] = [("a", "alpha two", {})]
    mem.fail.add("p1")
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    assert r.sources_failed == 1 and "cannot read p1" in r.warnings[0]
    assert [x["id"] for x in _rows(settings, "events")] == ["a"]
    mem.fail.clear()
    r = build_incremental(settings, "events", embedder=fake_embedder, spec=mem.spec())
    assert r.embedded == 1


def test_deleted_table_is_rebuilt_by_the_next_incremental_run(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    import shutil

    first = build_incremental(settings, "code_context", embedder=fake_embedder)
    shutil.rmtree(DataPaths(settings.data_dir).table("code_context"))
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    assert not r.noop and r.rows == first.rows


def test_unreadable_checkpoint_is_reconciled_without_reembedding(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    build_incremental(settings, "code_context", embedder=fake_embedder)
    DataPaths(settings.data_dir).vector_checkpoint.write_text("{not json")
    r = build_incremental(settings, "code_context", embedder=fake_embedder)
    assert r.repaired and r.embedded == 0 and "unreadable" in r.warnings[0]


def test_newer_checkpoint_version_is_refused(settings: Settings,
                                             fake_embedder: HashingEmbedder) -> None:
    path = DataPaths(settings.data_dir).vector_checkpoint
    path.parent.mkdir(parents=True)
    path.write_text('{"format_version": 99, "tables": {}}')
    with pytest.raises(CheckpointVersionError, match="version 99"):
        build_incremental(settings, "code_context", embedder=fake_embedder)


def test_second_builder_of_a_table_is_refused_naming_the_holder(
        settings: Settings, fake_embedder: HashingEmbedder) -> None:
    paths = DataPaths(settings.data_dir)
    lock = FileLock(paths.index_lock("code_context"), "test")
    try:
        with pytest.raises(IndexBusyError, match=f"pid {os.getpid()}"):
            build_incremental(settings, "code_context", embedder=fake_embedder)
    finally:
        lock.release()


def test_build_all_reports_each_table(settings: Settings,
                                      fake_embedder: HashingEmbedder) -> None:
    reports = build(settings, ["code_context", "debug_notes"], embedder=fake_embedder)
    assert [r.table for r in reports] == ["code_context", "debug_notes"]
    assert reports[1].rows == 0


class _SlowEmbedder(HashingEmbedder):
    def embed(self, texts):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return super().embed(texts)


def test_search_keeps_answering_while_a_build_runs(settings: Settings,
                                                   mem: MemorySources,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    emb = _SlowEmbedder(64)
    mem.docs["p0"] = [("seed", "alpha seed", {})]
    build_incremental(settings, "events", embedder=emb, spec=mem.spec())
    for p in range(1, 30):
        mem.docs[f"p{p}"] = [(f"{p}-{i}", f"alpha {p} {i}", {}) for i in range(4)]
    monkeypatch.setattr(build_mod, "BATCH_CHUNKS", 8)
    monkeypatch.setattr(build_mod, "EMBED_STEP", 4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            build_incremental(settings, "events", embedder=emb, spec=mem.spec())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=run)
    searcher = Searcher(settings, emb)
    t.start()
    counts = []
    while t.is_alive():
        res = searcher.search("alpha", table="events", k=100, mode="hybrid")
        assert res, "a search during the build found nothing"
        counts.append(len(res))
    t.join()
    assert not errors
    assert len(counts) > 3 and counts[-1] <= 100
    assert len(searcher.search("alpha", table="events", k=100, mode="vector")) == 100


_CHILD = """
import sys, time
from store.settings import Settings
from indexer.build import build_incremental
from indexer.embedder import HashingEmbedder
from indexer.registry import with_provider
from indexer.source import CallableSource, SourceScan
from chunkers.chunk import Chunk
import indexer.build as b

class Slow(HashingEmbedder):
    def embed(self, texts):
        time.sleep(0.01)
        return super().embed(texts)

def scan(_s):
    return SourceScan(sources=[
        CallableSource(f"p{p}", "sig1", lambda p=p: [Chunk(f"{p}-{i}", f"text {p} {i}", f"p{p}")
                                                     for i in range(5)])
        for p in range(40)])

real = b._Builder._apply_batch
def tell(self, *a, **k):
    real(self, *a, **k)
    print("batch", flush=True)
b._Builder._apply_batch = tell
b.BATCH_CHUNKS = 5
b.EMBED_STEP = 5
s = Settings.load(data_dir=sys.argv[1], model_id="hash:64")
build_incremental(s, "events", embedder=Slow(64), spec=with_provider("events", scan, "kill-1"))
print("done", flush=True)
"""


@pytest.mark.parametrize("after_batches", [3, 17])
def test_sigkilled_build_is_repaired_with_no_duplicate_rows(tmp_path: Path,
                                                            after_batches: int) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(data)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(after_batches):
        assert proc.stdout.readline().strip() == "batch"
    time.sleep(0.013 * after_batches % 0.05)  # land somewhere inside the next batch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = ckpt.load(DataPaths(data).vector_checkpoint).tables["events"]
    assert state.dirty and after_batches <= len(state.sources) < 40  # killed mid-build
    out = subprocess.run([sys.executable, "-c", _CHILD, str(data)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert "done" in out.stdout, out.stderr
    s = Settings(data_dir=data, model_id="hash:64")
    rows = _rows(s, "events")
    assert len(rows) == 200 == len({x["id"] for x in rows})
    state = ckpt.load(DataPaths(data).vector_checkpoint).tables["events"]
    assert not state.dirty and len(state.sources) == 40
