"""Helpers shared by the store tests: event factories and a writer on tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store.settings import Settings
from store.writer import EventWriter


def make_event(i: int = 0, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "doc_type": "game_tick",
        "event_name": "gameStateUpdate",
        "ts": f"2025-12-14T20:17:{i % 60:02d}.{i:06d}",
        "source": "public_ws",
        "direction": "received",
        "session_id": "test-session",
        "seq": i,
        "raw_json": f'{{"tickCount": {i}, "price": 1.061531247396796}}',
        "tick": i,
        "price": 1.061531247396796,
        "game_id": "20251215-3c3ebc6051054e71",
    }
    ev.update(over)
    return ev


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(data_dir=tmp_path / "data", flush_events=100, flush_seconds=5)


@pytest.fixture
def writer(settings: Settings) -> Iterator[EventWriter]:
    w = EventWriter.open(settings)
    yield w
    w.close()
