"""Small tables held in memory per LanceDB version: exact cosine top-k and filters in numpy.

Why: on a ~1.5k-row table LanceDB's flat vector search costs 4-10 ms a query, almost all
fixed overhead (query planning, schema reads through its event loop), against ~0.1 ms for
the same exact scan in numpy. A snapshot holds one committed version's ids, texts, sources,
metadata, filter columns and vectors; it is reloaded when the table's version moves
(`Table.version` is a ~0.1 ms check). Tables above `MAX_ROWS` are never held: LanceDB
searches them. Results equal LanceDB's flat cosine search (which these tables use: they
have no ANN index) up to float rounding; filters follow the SQL of `indexer.filters`
(a row passes only if the predicate is TRUE, so NULLs never match, NOT included).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from indexer.filters import COMMON_COLUMNS, Filter

if TYPE_CHECKING:
    from lancedb.table import Table

# ~2 KB a row with a 384-d vector and its text: 100k rows is ~200 MB and ~1 s to load.
MAX_ROWS = 100_000
# A newer version of a bigger table is loaded in the background; LanceDB answers meanwhile,
# so a build committing batch after batch never makes each search pay a full reload.
INLINE_RELOAD_ROWS = 20_000
ROW_COLUMNS = ("id", "text", "source", "metadata")
_CMP = {"eq": pc.equal, "ne": pc.not_equal, "gt": pc.greater, "gte": pc.greater_equal,
        "lt": pc.less, "lte": pc.less_equal}


@dataclass(frozen=True)
class Snapshot:
    """One committed version of a table (immutable: searches share it without locks)."""

    version: int
    rows: pa.Table  # ROW_COLUMNS + the table's filter columns
    vectors: np.ndarray  # (n, dim) float32
    norms: np.ndarray  # (n,) float32: LanceDB's cosine divides by both norms, so do we

    @classmethod
    def load(cls, tbl: Table, version: int, columns: Sequence[str]) -> Snapshot:
        from indexer.tables import read_rows

        data = read_rows(tbl, None, [*ROW_COLUMNS, *columns, "vector"])
        vec_col = data.column("vector").combine_chunks()
        dim = vec_col.type.list_size
        vectors = np.ascontiguousarray(
            vec_col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32
        ).reshape(len(data), dim)
        rows = data.drop_columns(["vector"]).combine_chunks()
        return cls(version, rows, vectors, np.linalg.norm(vectors, axis=1))

    def mask(self, filters: Sequence[Filter], kinds: Mapping[str, str]) -> np.ndarray | None:
        """Rows passing every filter (None: no filter). Filters must be checked by
        `indexer.filters.to_sql` first (unknown columns, bad list ops, empty IN)."""
        if not filters:
            return None
        known = {**COMMON_COLUMNS, **kinds}
        keep = np.ones(len(self.rows), dtype=bool)
        for f in filters:
            col = self.rows.column(f.column).combine_chunks()
            passed = _predicate(col, f, known[f.column]).fill_null(False)
            keep &= passed.to_numpy(zero_copy_only=False)
        return keep

    def nearest(self, query: np.ndarray, n: int,
                mask: np.ndarray | None) -> list[tuple[int, float]]:
        """The n closest rows by cosine distance: (row position, distance), closest first.
        Rows at equal distance come in chunk id order, so which of them make the cut never
        depends on n (the search's ranking is a prefix of a deeper one)."""
        q = np.asarray(query, dtype=np.float32)
        denom = self.norms * np.float32(np.linalg.norm(q))
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = 1.0 - (self.vectors @ q) / denom
        dist = np.where(denom > 0, dist, np.float32(1.0)).astype(np.float32)
        cand = np.arange(len(dist)) if mask is None else np.flatnonzero(mask)
        if len(cand) > n:
            dc = dist[cand]
            nth = dc[np.argpartition(dc, n - 1)[n - 1]]
            ties = cand[dc == nth]
            cand = cand[dc < nth]
            cand = np.concatenate([cand, ties[np.argsort(self.ids[ties], kind="stable")]
                                   [: n - len(cand)]])
        cand = cand[np.lexsort((self.ids[cand], dist[cand]))]
        return [(int(i), float(dist[i])) for i in cand]

    def rows_at(self, positions: Sequence[int]) -> list[dict[str, Any]]:
        """These rows' ROW_COLUMNS, in this order (one take: ~6x faster than per-value
        reads, which were ~1 ms of every 100-candidate search)."""
        index = pa.array(positions, type=pa.int64())  # typed: an empty list is not null
        rows: list[dict[str, Any]] = self.rows.select(list(ROW_COLUMNS)).take(index).to_pylist()
        return rows

    @cached_property
    def ids(self) -> np.ndarray:
        """Chunk ids by row position, for ordering rows at equal distance."""
        return np.asarray(self.rows.column("id").to_pylist(), dtype=object)

    @cached_property
    def positions(self) -> dict[str, int]:
        """Row position by id (built on first use, once per snapshot)."""
        return {cid: i for i, cid in enumerate(self.ids)}

    def cosines(self, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of the query to each of these rows (ids not held are left out):
        a hybrid search's BM25-only candidates get their real vector score this way."""
        pos = [(cid, self.positions[cid]) for cid in ids if cid in self.positions]
        if not pos:
            return {}
        q = np.asarray(query, dtype=np.float32)
        rows = np.fromiter((i for _, i in pos), dtype=np.int64, count=len(pos))
        denom = self.norms[rows] * np.float32(np.linalg.norm(q))
        with np.errstate(divide="ignore", invalid="ignore"):
            sims = (self.vectors[rows] @ q) / denom
        sims = np.where(denom > 0, sims, np.float32(0.0))
        return {cid: float(x) for (cid, _), x in zip(pos, sims, strict=True)}


def _values(f: Filter) -> list[str]:
    return [str(v) for v in (f.value if isinstance(f.value, list) else [f.value])]


def _predicate(col: pa.Array, f: Filter, kind: str) -> pa.BooleanArray:
    """The filter as `indexer.filters.filter_sql` writes it, with SQL's NULL semantics."""
    if kind == "list":  # array_has_any(col, values); NULL list -> NULL
        hit = pc.is_in(pc.list_flatten(col), value_set=pa.array(_values(f), pa.string()))
        parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
        has = np.zeros(len(col), dtype=bool)
        has[parents[hit.to_numpy(zero_copy_only=False)]] = True
        out = pa.array(has, mask=col.is_null().to_numpy(zero_copy_only=False))
        return pc.invert(out) if f.op == "ne" else out
    if f.op == "in":
        # `x IN (...)` is NULL for a NULL x; is_in says false: both drop the row
        return pc.is_in(col, value_set=pa.array(_values(f), pa.string()))
    if f.op == "prefix":
        return pc.starts_with(col, pattern=str(f.value))
    if f.op == "contains":
        return pc.match_substring(col, pattern=str(f.value))
    return _CMP[f.op](col, pa.scalar(str(f.value), pa.string()))


class VectorCache:
    """Snapshots of the tables a Searcher reads, one per table name (thread-safe)."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._snaps: dict[str, Snapshot] = {}
        self._loading: set[str] = set()
        self._lock = threading.Lock()

    def get(self, name: str, tbl: Table, columns: Sequence[str],
            version: int | None = None) -> Snapshot | None:
        """The snapshot of the table's latest version (`version` if the caller just read
        it), or None: search it with LanceDB."""
        version = tbl.version if version is None else version
        snap = self._snaps.get(name)
        if snap is not None and snap.version == version:
            return snap
        if self.max_rows <= 0:
            return None
        if snap is not None and len(snap.rows) > INLINE_RELOAD_ROWS:
            self._reload_in_background(name, tbl, version, columns)
            return None
        with self._lock:
            snap = self._snaps.get(name)
            if snap is None or snap.version != version:
                snap = self._load(name, tbl, version, columns)
            return snap

    def _load(self, name: str, tbl: Table, version: int,
              columns: Sequence[str]) -> Snapshot | None:
        # The version is read before the rows: if a commit lands in between, the rows are
        # newer than the recorded version and the next search simply reloads.
        if tbl.count_rows() > self.max_rows:
            self._snaps.pop(name, None)
            return None
        snap = Snapshot.load(tbl, version, columns)
        self._snaps[name] = snap
        return snap

    def _reload_in_background(self, name: str, tbl: Table, version: int,
                              columns: Sequence[str]) -> None:
        with self._lock:
            if name in self._loading:
                return
            self._loading.add(name)

        def run() -> None:
            try:  # outside the lock: searches of other tables go on meanwhile
                self._load(name, tbl, version, columns)
            except Exception:  # noqa: BLE001 - the next search retries; LanceDB answers now
                pass
            finally:
                with self._lock:
                    self._loading.discard(name)

        threading.Thread(target=run, name=f"vector-cache-{name}", daemon=True).start()
