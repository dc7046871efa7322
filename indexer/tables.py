"""The LanceDB side: one table per name under `DataPaths.vectors`, its schema and fingerprint.

Every row: id, text, vector, content_hash, meta_hash, source, metadata (all of it, JSON) and
the table's filter columns. The fingerprint lives in the Arrow schema metadata of the table,
so it travels with the data; a full build overwrites the table in one commit (readers keep
the previous version until then).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import lancedb
import numpy as np
import pyarrow as pa

from chunkers.chunk import Chunk, metadata_json
from indexer.errors import TableLayoutError
from indexer.registry import TABLE_FORMAT_VERSION, TableSpec
from store.paths import DataPaths

if TYPE_CHECKING:
    from lancedb.db import DBConnection
    from lancedb.table import Table

FINGERPRINT_KEY = b"rugs.fingerprint"
# Cheap columns read by the build to diff a source (never the vectors unless needed).
DIFF_COLUMNS = ["id", "content_hash", "meta_hash", "source"]
# Fold new rows into the full-text index once this many are not indexed yet; until then
# LanceDB searches them by a flat scan, which is correct, just slower on big tables.
# Old table versions stay readable this long after a build, for searches still running on them.
KEEP_OLD_VERSIONS = timedelta(minutes=10)


def connect(paths: DataPaths) -> DBConnection:
    """A connection whose table handles always read the latest committed version."""
    paths.vectors.mkdir(parents=True, exist_ok=True)
    return lancedb.connect(str(paths.vectors), read_consistency_interval=timedelta(0))


def arrow_schema(spec: TableSpec, dim: int, fingerprint: Mapping[str, Any]) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), dim)),
        pa.field("content_hash", pa.string()),
        pa.field("meta_hash", pa.string()),
        pa.field("source", pa.string()),
        pa.field("metadata", pa.string()),
    ]
    for name, kind in spec.columns:
        fields.append(pa.field(name, pa.list_(pa.string()) if kind == "list" else pa.string()))
    meta = {FINGERPRINT_KEY: json.dumps(dict(fingerprint), sort_keys=True).encode()}
    return pa.schema(fields, metadata=meta)


def open_table(db: DBConnection, name: str) -> Table | None:
    try:
        return db.open_table(name)
    except (FileNotFoundError, ValueError):
        return None


def check_layout(tbl: Table, spec: TableSpec) -> None:
    """Refuse a table this code cannot read: a newer row layout, or one missing our columns.

    A table built before a column was added (events-1 had no `events` or `path`) would
    otherwise fail every vector search and filter inside LanceDB with a schema ValueError.
    """
    fmt = (stored_fingerprint(tbl) or {}).get("table_format")
    if isinstance(fmt, int) and fmt > TABLE_FORMAT_VERSION:
        raise TableLayoutError(
            f"table {spec.name} was built by a newer replayer (table format {fmt}; this one "
            f"reads up to {TABLE_FORMAT_VERSION}): upgrade replayer, or rebuild it with "
            f"`replayer index build --full --table {spec.name}`"
        )
    have = set(tbl.schema.names)
    missing = [name for name, _ in spec.columns if name not in have]
    if missing:
        raise TableLayoutError(
            f"table {spec.name} was built by an older replayer (no column "
            f"{', '.join(missing)}): rebuild it with "
            f"`replayer index build --full --table {spec.name}`"
        )


def stored_fingerprint(tbl: Table) -> dict[str, Any] | None:
    raw = (tbl.schema.metadata or {}).get(FINGERPRINT_KEY)
    if not raw:
        return None
    try:
        out = json.loads(raw)
    except ValueError:
        return None
    return out if isinstance(out, dict) else None


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return [str(value)]


def rows_table(
    spec: TableSpec,
    schema: pa.Schema,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
) -> pa.Table:
    """The Arrow rows for these chunks (vectors[i] belongs to chunks[i])."""
    dim = schema.field("vector").type.list_size
    vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(chunks), dim)
    cols: dict[str, Any] = {
        "id": [c.chunk_id for c in chunks],
        "text": [c.text for c in chunks],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel(), pa.float32()), dim),
        "content_hash": [c.content_hash for c in chunks],
        "meta_hash": [c.metadata_hash for c in chunks],
        "source": [c.source for c in chunks],
        "metadata": [metadata_json(c.metadata) for c in chunks],
    }
    for name, kind in spec.columns:
        conv = _as_list if kind == "list" else _as_str
        cols[name] = [conv(c.metadata.get(name)) for c in chunks]
    return pa.Table.from_pydict(cols, schema=schema)


def sql_str(value: str) -> str:
    """A SQL string literal (LanceDB filters are SQL text; quotes are doubled)."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


def read_rows(tbl: Table, where: str | None, columns: list[str]) -> pa.Table:
    """All rows matching a filter (no limit), only the given columns."""
    q = tbl.search()
    if where:
        q = q.where(where)
    # A plain scan has no implicit limit of 10 only when limit is disabled explicitly.
    return q.select(columns).limit(None).to_arrow()


def rebuild_fts(tbl: Table) -> None:
    """(Re)create the full-text index on `text` over exactly the current rows.

    An index that is only extended keeps the term statistics of deleted rows and leaves
    new rows to a flat scan with other statistics, so BM25 scores after an incremental build
    would differ from a full build of the same rows. Recreating costs ~40 ms per 2,000 rows
    and runs only when a build wrote something.
    """
    from lancedb.index import FTS

    tbl.create_index("text", config=FTS(), replace=True)
