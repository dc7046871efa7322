"""File locks: exclusive across processes and threads, a short wait for a brief holder."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from store.compaction import compact
from store.errors import WriterLockedError
from store.locks import FileLock
from store.paths import DataPaths


def test_a_second_taker_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    held = FileLock(tmp_path / "x.lock", "data root")
    try:
        with pytest.raises(WriterLockedError, match=r"data root .* held by .*\(pid \d+ on "):
            FileLock(tmp_path / "x.lock", "data root")
    finally:
        held.release()
    FileLock(tmp_path / "x.lock", "data root").release()  # free again once released


def test_a_waiting_taker_gets_the_lock_a_brief_holder_releases(tmp_path: Path) -> None:
    held = FileLock(tmp_path / "x.lock", "data root")
    timer = threading.Timer(0.2, held.release)
    timer.start()
    try:
        FileLock(tmp_path / "x.lock", "data root", wait=5.0).release()
    finally:
        timer.join()


def test_compaction_waits_out_a_writer_opening_instead_of_refusing(tmp_path: Path) -> None:
    # A writer opening the data root runs crash recovery under the compaction lock.
    paths = DataPaths(tmp_path / "data")
    recovery = FileLock(paths.compaction_lock, "compaction of data root")
    timer = threading.Timer(0.2, recovery.release)
    timer.start()
    try:
        compact(paths)
    finally:
        timer.join()
