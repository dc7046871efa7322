"""The one place that knows where things live under the data root."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, get_args

DOC_TYPES: tuple[str, ...] = (
    "ws_event",
    "game_tick",
    "player_action",
    "server_state",
    "system_event",
    "complete_game",
)

# The three vector tables under `vectors/` (built by `indexer`). Named here, beside the
# layout of the data root, so that the MCP server's tool signatures can list them without
# importing the indexer package at startup.
TableName = Literal["events", "code_context", "debug_notes"]
TABLE_NAMES: tuple[TableName, ...] = get_args(TableName)
# What a search without a table covers: debug notes are reasoning, asked for explicitly.
SEARCH_DEFAULT_TABLES: tuple[TableName, ...] = ("events", "code_context")

_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class DataPaths:
    """Every path of a data root, derived from it and nothing else."""

    root: Path

    @property
    def events(self) -> Path:
        return self.root / "events_parquet"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def models(self) -> Path:
        """Derived model files (the ONNX export of the embedding model); rebuildable."""
        return self.root / "models"

    @property
    def wal(self) -> Path:
        return self.root / "wal"

    @property
    def notes(self) -> Path:
        """Canonical debug notes (JSONL, append-only); the debug_notes table derives from it."""
        return self.root / "notes"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def quarantine(self) -> Path:
        """Damaged files moved out of the store, kept as evidence (never deleted by the code)."""
        return self.root / "quarantine"

    @property
    def wal_quarantine(self) -> Path:
        """WAL segments that failed their checksums or were cut short, after their replay."""
        return self.quarantine / "wal"

    @property
    def parquet_quarantine(self) -> Path:
        """Part files that failed their checksums or cannot be parsed, in their partition dirs."""
        return self.quarantine / "events_parquet"

    @property
    def checkpoints(self) -> Path:
        """Ingest offsets for `--follow` and other resumable readers."""
        return self.manifests / "ingest_checkpoints"

    @property
    def writer_lock(self) -> Path:
        return self.root / ".writer.lock"

    @property
    def compaction_lock(self) -> Path:
        return self.root / ".compaction.lock"

    @property
    def schema_manifest(self) -> Path:
        return self.manifests / "schema_version.json"

    @property
    def vector_checkpoint(self) -> Path:
        return self.manifests / "vector_index_checkpoint.json"

    @property
    def event_catalog(self) -> Path:
        """Cache of the event catalog (derived; recomputed when the store changes)."""
        return self.manifests / "event_catalog.json"

    @property
    def catalog_partials(self) -> Path:
        """Per-day partial catalogs and their index (derived; see store/catalog/partials.py)."""
        return self.manifests / "event_catalog"

    @property
    def game_summaries(self) -> Path:
        """Per-partition game summaries behind list_games (derived; see store/games.py)."""
        return self.manifests / "game_summaries"

    @property
    def validation_manifest(self) -> Path:
        return self.manifests / "event_validation.json"

    def doc_type_dir(self, doc_type: str) -> Path:
        return self.events / f"doc_type={doc_type}"

    def partition(self, doc_type: str, day: date | str) -> Path:
        return self.doc_type_dir(doc_type) / f"date={day}"

    def partitions(self, doc_type: str) -> list[tuple[str, Path]]:
        """(date, directory) of every existing partition of a doc type, oldest first."""
        base = self.doc_type_dir(doc_type)
        if not base.is_dir():
            return []
        out = []
        for d in base.iterdir():
            m = _DATE_DIR.match(d.name)
            if m and d.is_dir():
                out.append((m.group(1), d))
        return sorted(out)

    def table(self, name: str) -> Path:
        return self.vectors / f"{name}.lance"

    def index_lock(self, table: str) -> Path:
        """Held while one vector table is being built: one builder per table at a time."""
        return self.vectors / f".{table}.build.lock"
