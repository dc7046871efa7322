"""Fixtures of the store tests: settings and a writer on tmp_path (`make_event` is in
tests/event_store.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.settings import Settings
from store.writer import EventWriter


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(data_dir=tmp_path / "data", flush_events=100, flush_seconds=5)


@pytest.fixture
def writer(settings: Settings) -> Iterator[EventWriter]:
    w = EventWriter.open(settings)
    yield w
    w.close()
