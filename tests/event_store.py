"""Test helper: a data root filled from capture files and legacy recordings by the real ingest."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from store.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "events"
CAPTURES = (FIXTURES / "raw_excerpt.jsonl", FIXTURES / "cdp_excerpt.jsonl")
LEGACY = FIXTURES / "legacy"


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
