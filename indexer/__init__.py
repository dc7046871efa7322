"""Vector tables (events, code_context, debug_notes): incremental builds, search, notes, hook.

Importing this package is cheap: LanceDB, pyarrow and torch load only when a build must
write or a search must run.
"""

from indexer.build import BuildReport, build, build_full, build_incremental
from indexer.embedder import Embedder, HashingEmbedder, make_embedder
from indexer.filters import Filter
from indexer.notes import AddNoteResult, add_note
from indexer.search import Searcher, SearchResult, search
from indexer.stats import TableStats, stats

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
    "build",
    "build_full",
    "build_incremental",
    "make_embedder",
    "search",
    "stats",
]
