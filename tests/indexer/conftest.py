"""Indexer test helpers: a small CONTEXT.md tree, settings on tmp_path, in-memory sources."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chunkers.chunk import Chunk
from indexer.registry import TableSpec, with_provider
from indexer.source import CallableSource, SourceScan
from store.settings import Settings

STORE_MD = """# store — CONTEXT

## Purpose
The single writer appends events to a write-ahead log and flushes Parquet atomically.

## Related modules
| module | relationship |
|---|---|
| `../indexer/` | reads the Parquet partitions to build vectors |

## Key decisions
- Compaction rewrites small flush files into one sorted file per day.
- Money is decimal128, never float.
"""

HOOKS_MD = """# Hooks — CONTEXT

## Purpose
Scripts that run at fixed points of a Claude Code session.

## Exit codes
Exit code 2 blocks the tool call; 0 lets it proceed.
"""


def write_tree(root: Path) -> Path:
    (root / "store").mkdir(parents=True, exist_ok=True)
    (root / "hooks").mkdir(parents=True, exist_ok=True)
    (root / "store" / "CONTEXT.md").write_text(STORE_MD)
    (root / "hooks" / "CONTEXT.md").write_text(HOOKS_MD)
    # never searched: hidden and dependency directories
    for skip in (".venv/lib", "node_modules/pkg", ".git"):
        (root / skip).mkdir(parents=True, exist_ok=True)
        (root / skip / "CONTEXT.md").write_text("# hidden\n\n## x\nshould not be indexed\n")
    return root


@pytest.fixture
def ctx_root(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo")


@pytest.fixture
def settings(tmp_path: Path, ctx_root: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", context_roots=(ctx_root,), model_id="hash:64")


@dataclass
class MemorySources:
    """Sources held in memory: key -> list of (chunk_id, text, metadata). Mutate, rebuild."""

    docs: dict[str, list[tuple[str, str, dict]]] = field(default_factory=dict)  # type: ignore[type-arg]
    loads: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)

    def _chunks(self, key: str) -> list[Chunk]:
        self.loads.append(key)
        if key in self.fail:
            raise OSError(f"cannot read {key}")
        return [Chunk(cid, text, key, dict(meta)) for cid, text, meta in self.docs[key]]

    def scan(self, _settings: Settings) -> SourceScan:
        sources = []
        for key, items in sorted(self.docs.items()):
            sig = str(hash(repr(items)))
            sources.append(CallableSource(key, sig, functools.partial(self._chunks, key)))
        return SourceScan(sources=list(sources))

    def spec(self, table: str = "events", version: str = "mem-1") -> TableSpec:
        return with_provider(table, self.scan, chunker_version=version)


@pytest.fixture
def mem() -> MemorySources:
    return MemorySources()
