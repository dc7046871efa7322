"""Vector tables (events, code_context, debug_notes): incremental builds, search, notes, hook.

Importing this package is cheap: its names load their modules on first use (PEP 562), and
LanceDB, pyarrow, onnxruntime and torch load only when a build must write or a search must
run. (The MCP server imports `indexer.context_source` before its handshake: that must not
pull in the build and search modules.) The functions named like their modules (`build`,
`search`, `stats`) are imported from those modules, so the package never shadows a
submodule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexer.build import BuildReport, build_full, build_incremental
    from indexer.embedder import Embedder, HashingEmbedder, make_embedder
    from indexer.filters import Filter
    from indexer.notes import AddNoteResult, add_note
    from indexer.search import Searcher, SearchResult
    from indexer.stats import TableStats

_HOME = {
    "AddNoteResult": "indexer.notes",
    "BuildReport": "indexer.build",
    "Embedder": "indexer.embedder",
    "Filter": "indexer.filters",
    "HashingEmbedder": "indexer.embedder",
    "SearchResult": "indexer.search",
    "Searcher": "indexer.search",
    "TableStats": "indexer.stats",
    "add_note": "indexer.notes",
    "build_full": "indexer.build",
    "build_incremental": "indexer.build",
    "make_embedder": "indexer.embedder",
}
__all__ = [
    "AddNoteResult",
    "BuildReport",
    "Embedder",
    "Filter",
    "HashingEmbedder",
    "SearchResult",
    "Searcher",
    "TableStats",
    "add_note",
    "build_full",
    "build_incremental",
    "make_embedder",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'indexer' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
