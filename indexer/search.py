"""Search the vector tables: vector, full-text (BM25) or hybrid (fused: see `fuse`).

`Searcher` keeps the LanceDB connection, table handles and the embedder warm (the MCP server
holds one); `search()` is the one-call form. Handles always read the latest committed table
version, so a build running next to a search is seen as soon as each of its commits lands.
A cross-table search covers events and code_context, and debug_notes only when asked;
debug-note results are flagged as reasoning, not ground truth.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from indexer.embedder import Embedder, make_embedder
from indexer.errors import InvalidQueryError, TableNotBuiltError
from indexer.filters import Filter, applicable, as_filters, to_sql
from indexer.registry import TableSpec, table_spec
from store.errors import HINT_FULL_BUILD
from store.paths import SEARCH_DEFAULT_TABLES, TABLE_NAMES, DataPaths
from store.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from lancedb.table import Table

    from indexer.vector_cache import VectorCache

Mode = Literal["hybrid", "vector", "text"]
MODES: tuple[str, ...] = ("hybrid", "vector", "text")
MAX_K = 100
RRF_K = 60  # the usual reciprocal-rank-fusion constant: 1 / (60 + rank)
FUSIONS = ("filled", "relative", "rrf")
# Candidates per list of every hybrid search (at least; k * hybrid_candidates if more), so
# the ranking does not depend on k: the top 5 of k=10 are the top 5 of k=50. Under `filled`
# fusion the vector list's candidates take their BM25 score from this list (beyond it: no
# keyword match worth counting).
HYBRID_DEPTH = MAX_K
# The top this many of each list set the fused scales (filled and relative fusion): the
# same scale whatever the depth, so a deeper list adds candidates without moving the others.
SCALE_DEPTH = 10


def _scaled(values: dict[str, float], top: list[str]) -> dict[str, float]:
    """Each value min-max scaled to the range of the `top` ids' values, clamped to [0, 1]."""
    if not values or not top:
        return {}
    lo, hi = min(values[i] for i in top), max(values[i] for i in top)
    if hi <= lo:
        return {k: 1.0 if v >= hi else 0.0 for k, v in values.items()}
    return {k: min(1.0, max(0.0, (v - lo) / (hi - lo))) for k, v in values.items()}


def fuse(results: list[SearchResult], vec_ids: list[str], txt_ids: list[str],
         fusion: str, *, vector_hi: float | None = None) -> None:
    """Set each result's hybrid score from its vector and text scores.

    `filled` (the default): every candidate (the union of the two top lists) is scored on
    both sides with its real scores: a BM25-only candidate carries its cosine, a
    vector-only one its BM25 score if the BM25 list holds it (None: no keyword match, 0).
    Cosines are min-max normalized over the top SCALE_DEPTH of the vector list (below its
    last: 0), BM25 scores over the candidates of the two top SCALE_DEPTH lists (below their
    lowest: 0), then averaged. Why: under `relative` a hit missing from one list got 0
    there, so the best hit of a single list (0.5) outranked a clear winner of the other
    list that BM25 merely ranked 11th, and min-max over a flat BM25 list (ten hits within
    5%) stretched noise to [0, 1] (`What fields are in playerUpdate?`: the long field-list
    card, cosine 0.81 against 0.70, fell behind 27 short field cards). Measured in
    bench/eval_retrieval.py --compare. `vector_hi`: the best cosine of every table of a
    cross-table search, so a table whose best match is weak does not score its best as 1.

    `relative`: each list's scores min-max normalized to [0, 1] over its top SCALE_DEPTH
    (below: 0), then averaged; a hit missing from a list gets 0 there. `rrf`: 1 / (60 +
    rank) summed. The scales come from the top SCALE_DEPTH, never the whole lists, so the
    scores of the best candidates do not depend on how deep the lists were read.
    """
    if fusion == "rrf":
        ranks = [{i: n for n, i in enumerate(ids, start=1)} for ids in (vec_ids, txt_ids)]
        for r in results:
            r.score = sum(1.0 / (RRF_K + rk[r.chunk_id]) for rk in ranks if r.chunk_id in rk)
        return
    if fusion not in FUSIONS:
        raise InvalidQueryError(f"unknown hybrid fusion {fusion!r}; known: {', '.join(FUSIONS)}")
    by_id = {r.chunk_id: r for r in results}
    if fusion == "relative":
        nv = _scaled({i: by_id[i].vector_score or 0.0 for i in vec_ids}, vec_ids[:SCALE_DEPTH])
        nt = _scaled({i: by_id[i].text_score or 0.0 for i in txt_ids}, txt_ids[:SCALE_DEPTH])
        for r in results:
            r.score = 0.5 * nv.get(r.chunk_id, 0.0) + 0.5 * nt.get(r.chunk_id, 0.0)
        return
    listed = [by_id[i].vector_score or 0.0 for i in vec_ids[:SCALE_DEPTH]]
    lo, hi = (min(listed), max(listed)) if listed else (0.0, 0.0)
    if vector_hi is not None:
        hi = max(hi, vector_hi)
    anchors = {*vec_ids[:SCALE_DEPTH], *txt_ids[:SCALE_DEPTH]}
    scale = [by_id[i].text_score or 0.0 for i in anchors] or [0.0]
    tlo, thi = min(scale), max(scale)
    for r in results:
        v, t = r.vector_score, r.text_score or 0.0
        nv_ = 0.0 if v is None else (max(0.0, (v - lo) / (hi - lo)) if hi > lo else 1.0)
        nt_ = max(0.0, (t - tlo) / (thi - tlo)) if thi > tlo else (1.0 if t > 0 else 0.0)
        r.score = 0.5 * nv_ + 0.5 * nt_


def _rank_key(r: SearchResult) -> tuple[float, str]:
    """Best score first; equal scores by chunk id, so ties come out the same every time."""
    return (-r.score, r.chunk_id)


def candidate_depth(k: int, multiple: int) -> int:
    """How many candidates each list gives a hybrid search of k results:
    max(HYBRID_DEPTH, k * multiple); the default multiple 1 reads HYBRID_DEPTH for every k."""
    if multiple < 1:
        raise InvalidQueryError(f"hybrid_candidates must be at least 1, got {multiple}")
    return max(HYBRID_DEPTH, k * multiple)


REASONING_CAVEAT = ("debug note: recorded reasoning or rationale, not ground truth; "
                    "check it against the data before relying on it")
_SELECT = ["id", "text", "source", "metadata"]
_FP_KEYS = ("provider", "model_id", "weights_sha256", "dim", "normalized")


@dataclass
class SearchResult:
    """One hit: `score` is cosine similarity (vector), BM25 (text) or the fused score (hybrid)."""

    table: str
    score: float
    text: str
    source: str
    metadata: dict[str, Any]
    chunk_id: str
    mode: str
    vector_score: float | None = None
    text_score: float | None = None
    reasoning: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "score": round(self.score, 6),
            "text": self.text,
            "source": self.source,
            "metadata": self.metadata,
            "chunk_id": self.chunk_id,
            "mode": self.mode,
            "vector_score": None if self.vector_score is None else round(self.vector_score, 6),
            "text_score": None if self.text_score is None else round(self.text_score, 6),
            "reasoning": self.reasoning,
        }
        if self.reasoning:
            out["caveat"] = REASONING_CAVEAT
        return out


def _rows(t: Any) -> list[dict[str, Any]]:
    return t.to_pylist() if t is not None else []


def _metadata(raw: str | None) -> dict[str, Any]:
    try:
        m = json.loads(raw or "{}")
    except ValueError:
        return {}
    return m if isinstance(m, dict) else {}


class Searcher:
    """A reusable searcher over one data root (thread-safe; handles are cached)."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, *,
                 vector_cache_rows: int | None = None) -> None:
        self.settings = settings
        self.paths = DataPaths(settings.data_dir)
        self._embedder = embedder
        self._db: Any = None
        self._tables: dict[str, Table] = {}
        self._checked: dict[str, str] = {}  # table -> fingerprint json it was checked against
        self._checked_at: dict[str, int] = {}  # table -> version whose fingerprint matched
        self._vector_cache_rows = vector_cache_rows  # None: the default; 0: always LanceDB
        self._vector_cache: VectorCache | None = None
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def _vectors(self) -> VectorCache:
        if self._vector_cache is None:
            from indexer.vector_cache import MAX_ROWS, VectorCache  # numpy, pyarrow: lazily

            rows = MAX_ROWS if self._vector_cache_rows is None else self._vector_cache_rows
            self._vector_cache = VectorCache(rows)
        return self._vector_cache

    # ------------------------------------------------------------------ handles

    def table(self, name: str) -> Table | None:
        """The open table, or None if it was never built."""
        with self._lock:
            tbl = self._tables.get(name)
            if tbl is not None and self.paths.table(name).is_dir():
                return tbl
            self._tables.pop(name, None)
            self._checked.pop(name, None)
            self._checked_at.pop(name, None)
            if self._db is not None:  # the table is (re)opened: so is its BM25 handle
                from indexer import text_search

                text_search.forget(self.paths.vectors, name)
            if not self.paths.table(name).is_dir():
                return None
            from indexer import tables as tb

            if self._db is None:
                self._db = tb.connect(self.paths)
            opened = tb.open_table(self._db, name)
            if opened is not None:
                tb.check_layout(opened, table_spec(name))
                self._tables[name] = opened
            return opened

    def _check_model(self, name: str, tbl: Table, version: int) -> None:
        """A table is only searched by vector with the model that built it."""
        from indexer import checkpoint as ckpt
        from indexer import tables as tb

        if self._checked_at.get(name) == version:
            return  # reading the schema costs ~0.5 ms: once per table version is enough
        stored = tb.stored_fingerprint(tbl) or {}
        key = json.dumps(stored, sort_keys=True)
        if self._checked.get(name) == key:
            self._checked_at[name] = version
            return
        digests = ckpt.load(self.paths.vector_checkpoint).model_digests
        mine = self.embedder.fingerprint(digests)
        if any(stored.get(k) != mine.get(k) for k in _FP_KEYS):
            raise InvalidQueryError(
                f"table {name} was built with model {stored.get('model_id')!r} "
                f"(dim {stored.get('dim')}), but the query model is {mine.get('model_id')!r} "
                f"(dim {mine.get('dim')}): use the same model (RUGS_MODEL_ID / RUGS_MODEL_PATH) "
                f"or rebuild with `replayer index build --full --table {name}`",
                hint=HINT_FULL_BUILD,
            )
        self._checked[name] = key
        self._checked_at[name] = version

    def query_vector(self, query: str) -> np.ndarray:
        with self._lock:
            hit = self._qcache.get(query)
            if hit is not None:
                self._qcache.move_to_end(query)
                return hit
        vec = self.embedder.embed_query(query)
        with self._lock:
            self._qcache[query] = vec
            while len(self._qcache) > 256:
                self._qcache.popitem(last=False)
        return vec

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str,
        *,
        table: str | None = None,
        tables: Sequence[str] | None = None,
        k: int = 10,
        mode: str = "hybrid",
        filters: Mapping[str, Any] | Iterable[Filter | str] | None = None,
        include_notes: bool = False,
    ) -> list[SearchResult]:
        """The k best results for a query.

        `table` searches one table; otherwise `tables` (default events and code_context,
        plus debug_notes if `include_notes`). Filters apply to the tables that have the
        filtered columns; tables without them are skipped in a cross-table search.
        """
        query = (query or "").strip()
        if not query:
            raise InvalidQueryError("empty query: say what you are looking for")
        if mode not in MODES:
            raise InvalidQueryError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        if not 1 <= int(k) <= MAX_K:
            raise InvalidQueryError(f"k must be between 1 and {MAX_K}, got {k}")
        flts = as_filters(filters)
        if table is not None:
            names = [table]
        elif tables:
            names = list(tables)
        else:
            names = [n for n in TABLE_NAMES if n in SEARCH_DEFAULT_TABLES or include_notes]
        specs = [table_spec(n) for n in names]
        single = len(specs) == 1
        if single:
            to_sql(flts, specs[0].column_kinds)  # unknown column -> clear error
        plan: list[tuple[TableSpec, Table, list[Filter], str | None]] = []
        for spec in specs:
            if not single and not applicable(flts, spec.column_kinds):
                continue
            tbl = self.table(spec.name)
            if tbl is None:
                if single:
                    raise TableNotBuiltError(
                        f"table {spec.name} has not been built yet: run "
                        f"`replayer index build --table {spec.name}`"
                    )
                continue
            plan.append((spec, tbl, flts, to_sql(flts, spec.column_kinds)))
        searched = len(plan)
        n = k if mode != "hybrid" else candidate_depth(k, self.settings.hybrid_candidates)
        filled = mode == "hybrid" and self.settings.hybrid_fusion == "filled"
        # BM25 queries start first (LanceDB's async API, off the GIL) and run while this
        # thread embeds the query (~13 ms on one torch thread): see indexer/text_search.py.
        texts = [self._start_fts(spec.name, query, n, where) if mode != "vector" else None
                 for spec, _, _, where in plan]
        lists = []
        for (spec, tbl, fl, where), txt in zip(plan, texts, strict=True):
            # One version per table per search (each read is a LanceDB loop round trip):
            # the vector list and the filled cosines then come from the same snapshot.
            version = tbl.version if mode != "text" else None
            vec = (self._vector_rows(spec, tbl, version, query, n, fl, where)
                   if version is not None else [])
            txt_rows = self._fts_rows(txt) if txt is not None else []
            lists.append((spec, tbl, version, vec, txt_rows))
        # Cosines are comparable across tables (one model): the best of all of them is the
        # top of every table's vector scale in a cross-table search.
        hi = max((1.0 - float(r["_distance"]) for _, _, _, vec, _ in lists for r in vec),
                 default=None) if filled and not single else None
        results: list[SearchResult] = []
        for spec, tbl, version, vec, txt_rows in lists:
            results.extend(self._fuse(spec, mode, k, vec, txt_rows, tbl=tbl, version=version,
                                      query=query, vector_hi=hi))
        if searched == 0 and not single:
            built = [n for n in names if self.paths.table(n).is_dir()]
            if not built:
                raise TableNotBuiltError(
                    f"none of {', '.join(names)} has been built yet: run `replayer index build`"
                )
        if mode == "text" and not single:
            # BM25 scores of different tables are not comparable: fuse by rank instead.
            per_table: dict[str, list[SearchResult]] = {}
            for r in results:
                per_table.setdefault(r.table, []).append(r)
            for rs in per_table.values():
                for rank, r in enumerate(rs, start=1):
                    r.score = 1.0 / (RRF_K + rank)
        results.sort(key=_rank_key)
        return results[:k]

    def _vector_rows(self, spec: TableSpec, tbl: Table, version: int, query: str, n: int,
                     flts: list[Filter], where: str | None) -> list[dict[str, Any]]:
        """The n nearest rows with `_distance`: from the in-memory snapshot, else LanceDB."""
        self._check_model(spec.name, tbl, version)
        qv = self.query_vector(query)
        snap = self._vectors.get(spec.name, tbl, [c for c, _ in spec.columns], version)
        if snap is not None:
            hits = snap.nearest(qv, n, snap.mask(flts, spec.column_kinds))
            rows = snap.rows_at([i for i, _ in hits])
            for row, (_, d) in zip(rows, hits, strict=True):
                row["_distance"] = d
            return rows
        q: Any = tbl.search(qv, vector_column_name="vector").distance_type(  # type: ignore[attr-defined]
            "cosine")
        if where:
            q = q.where(where, prefilter=True)
        return _rows(q.limit(n).select(_SELECT + ["_distance"]).to_arrow())

    def _fuse(self, spec: TableSpec, mode: str, k: int, vec_rows: list[dict[str, Any]],
              txt_rows: list[dict[str, Any]], *, tbl: Table | None = None,
              version: int | None = None, query: str = "",
              vector_hi: float | None = None) -> list[SearchResult]:
        by_id: dict[str, SearchResult] = {}
        raw_meta: dict[str, str | None] = {}  # parsed only for the k returned

        def result(row: dict[str, Any]) -> SearchResult:
            r = by_id.get(row["id"])
            if r is None:
                r = SearchResult(table=spec.name, score=0.0, text=row["text"],
                                 source=row["source"], metadata={},
                                 chunk_id=row["id"], mode=mode, reasoning=spec.reasoning)
                by_id[row["id"]] = r
                raw_meta[row["id"]] = row.get("metadata")
            return r

        fusion = self.settings.hybrid_fusion
        filled = mode == "hybrid" and fusion == "filled"
        for row in vec_rows:
            r = result(row)
            r.score = r.vector_score = 1.0 - float(row["_distance"])
        for row in txt_rows:
            r = result(row)
            r.score = r.text_score = float(row["_score"])
        if filled:
            missing = [i for i, r in by_id.items() if r.vector_score is None]
            if missing and tbl is not None and version is not None:
                for cid, cos in self._cosines(spec, tbl, version, query, missing).items():
                    by_id[cid].vector_score = cos
        if mode == "hybrid":
            fuse(list(by_id.values()), [row["id"] for row in vec_rows],
                 [row["id"] for row in txt_rows], fusion, vector_hi=vector_hi)
        out = sorted(by_id.values(), key=_rank_key)[:k]
        for r in out:
            r.metadata = _metadata(raw_meta[r.chunk_id])
        return out

    def _cosines(self, spec: TableSpec, tbl: Table, version: int, query: str,
                 ids: list[str]) -> dict[str, float]:
        """Cosines of the query to these rows: from the in-memory snapshot, else a LanceDB
        flat search restricted to them (same values: the paths are tested row for row)."""
        qv = self.query_vector(query)
        snap = self._vectors.get(spec.name, tbl, [c for c, _ in spec.columns], version)
        if snap is not None:
            return snap.cosines(qv, ids)
        from indexer import tables as tb

        q: Any = tbl.search(qv, vector_column_name="vector").distance_type(  # type: ignore[attr-defined]
            "cosine").where(tb.sql_in("id", ids), prefilter=True)
        rows = _rows(q.limit(len(ids)).select(["id", "_distance"]).to_arrow())
        return {r["id"]: 1.0 - float(r["_distance"]) for r in rows}

    def _start_fts(self, name: str, query: str, n: int, where: str | None) -> Future[Any]:
        from indexer import text_search

        return text_search.start(self.paths.vectors, name, query, n, where,
                                 _SELECT + ["_score"])

    @staticmethod
    def _fts_rows(fut: Future[Any]) -> list[dict[str, Any]]:
        try:
            return _rows(fut.result())
        except ValueError as exc:
            # Between a full rebuild's commit and its index creation there is no FTS index
            # for a moment: answer from the vectors alone rather than fail.
            if "INVERTED index" in str(exc):
                return []
            raise


_SEARCHERS: dict[tuple[str, str, str], Searcher] = {}
_SEARCHERS_LOCK = threading.Lock()


def searcher_for(settings: Settings, embedder: Embedder | None = None) -> Searcher:
    """A process-wide Searcher per data root and model (warm handles across calls)."""
    if embedder is not None:
        return Searcher(settings, embedder)
    key = (str(settings.data_dir), settings.model_id, str(settings.model_path or ""))
    with _SEARCHERS_LOCK:
        s = _SEARCHERS.get(key)
        if s is None:
            s = _SEARCHERS[key] = Searcher(settings)
        return s


def search(
    settings: Settings,
    query: str,
    *,
    table: str | None = None,
    tables: Sequence[str] | None = None,
    k: int = 10,
    mode: str = "hybrid",
    filters: Mapping[str, Any] | Iterable[Filter | str] | None = None,
    include_notes: bool = False,
    embedder: Embedder | None = None,
) -> list[SearchResult]:
    """Search one table (`table=`) or several (default: events + code_context)."""
    return searcher_for(settings, embedder).search(
        query, table=table, tables=tables, k=k, mode=mode, filters=filters,
        include_notes=include_notes,
    )
