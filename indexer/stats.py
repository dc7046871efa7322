"""Per-table status: rows, sources, last build, fingerprint, and pending work (no embedding)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from indexer import checkpoint as ckpt
from indexer.build import table_fingerprint
from indexer.embedder import Embedder, make_embedder
from indexer.errors import IndexerError
from indexer.registry import table_spec
from store.paths import TABLE_NAMES, DataPaths
from store.settings import Settings


@dataclass
class TableStats:
    table: str
    built: bool
    rows: int = 0
    sources: int = 0
    last_build: dict[str, Any] | None = None
    fingerprint: dict[str, Any] | None = None
    fingerprint_matches: bool | None = None  # False: only a full build will do
    pending: dict[str, int] | None = None  # sources added / changed / removed since
    dirty: bool = False  # a build was interrupted; the next one repairs
    scope: str = ""
    path: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(settings: Settings, tables: Sequence[str] | None = None, *,
          embedder: Embedder | None = None, pending: bool = True) -> list[TableStats]:
    """Status of each table (default: all three), without loading the embedding model."""
    paths = DataPaths(settings.data_dir)
    cp = ckpt.load(paths.vector_checkpoint)
    out = []
    for name in tables or TABLE_NAMES:
        spec = table_spec(name)
        state = cp.tables.get(name, ckpt.TableState())
        st = TableStats(table=name, built=paths.table(name).is_dir(), path=str(paths.table(name)),
                        sources=len(state.sources), last_build=state.last_build,
                        dirty=state.dirty, warnings=list(cp.warnings))
        if st.built:
            from indexer import tables as tb

            tbl = tb.open_table(tb.connect(paths), name)
            if tbl is not None:
                st.rows = tbl.count_rows()
                st.fingerprint = tb.stored_fingerprint(tbl)
        try:
            emb = embedder or make_embedder(settings)
            current = table_fingerprint(spec, emb, dict(cp.model_digests))
            if st.fingerprint is not None:
                st.fingerprint_matches = st.fingerprint == current
        except IndexerError as exc:
            st.warnings.append(str(exc))
        if pending:
            try:
                scan = spec.scan(settings)
            except IndexerError as exc:
                st.warnings.append(str(exc))
            else:
                st.scope = scan.scope
                st.warnings.extend(scan.warnings)
                keys = {s.key: s.signature for s in scan.sources}
                st.pending = {
                    "added": sum(1 for k in keys if k not in state.sources),
                    "changed": sum(1 for k, sig in keys.items()
                                   if k in state.sources and state.sources[k] != sig),
                    "removed": sum(1 for k in state.sources if k not in keys and scan.owns(k)),
                }
        out.append(st)
    return out
