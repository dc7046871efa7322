"""Vector tables (events, code_context, debug_notes): incremental builds, search, notes, hook.

Importing this package is cheap: LanceDB, pyarrow and torch load only when a build must
write or a search must run. The functions named like their modules (`build`, `search`,
`stats`) are imported from those modules, so the package never shadows a submodule.
"""

from indexer.build import BuildReport, build_full, build_incremental
from indexer.embedder import Embedder, HashingEmbedder, make_embedder
from indexer.filters import Filter
from indexer.notes import AddNoteResult, add_note
from indexer.search import Searcher, SearchResult
from indexer.stats import TableStats

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
