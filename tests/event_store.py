"""Test helpers shared across test packages: one event mapping (`make_event`), and a data root
filled from capture files and legacy recordings by the real ingest (`fill_store`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from store.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "events"
CAPTURES = (FIXTURES / "raw_excerpt.jsonl", FIXTURES / "cdp_excerpt.jsonl")
LEGACY = FIXTURES / "legacy"


def make_event(i: int = 0, **over: Any) -> dict[str, Any]:
    """One game_tick event mapping as the writer takes it: the i-th tick, fields overridable."""
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


def fill_store(data_dir: Path, captures: Iterable[Path] = CAPTURES,
               legacy_dir: Path | None = LEGACY) -> Settings:
    """Ingest the captures and a legacy directory into `data_dir`; returns its settings."""
    from store.ingest import ingest
    from store.legacy import import_legacy
    from store.writer import EventWriter

    settings = Settings.load(data_dir=data_dir)
    with EventWriter.open(settings) as w:
        for f in captures:
            ingest(w, f)
        if legacy_dir is not None:
            import_legacy(w, legacy_dir)
    return settings


def shared_data_files(shared: Path) -> tuple[list[Path], Path]:
    """Every capture file of ../shared/data and its legacy directory."""
    captures = [shared / "websocket_raw_samples.jsonl", *sorted((shared / "captures").iterdir()),
                shared / "key-samples.json"]
    return captures, shared / "legacy_recordings"
