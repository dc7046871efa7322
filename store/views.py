"""DuckDB views named after the doc types, over committed Parquet files only."""

from __future__ import annotations

import duckdb

from store.files import committed_files
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMAS


def _empty_select(doc_type: str) -> str:
    cols = ", ".join(
        f"CAST(NULL AS {_duck_type(str(f.type))}) AS {f.name}" for f in SCHEMAS[doc_type]
    )
    return f"SELECT {cols} WHERE false"


def _duck_type(arrow_type: str) -> str:
    if arrow_type.startswith("decimal128"):
        return "DECIMAL(38,18)"
    return {
        "string": "VARCHAR",
        "int64": "BIGINT",
        "int32": "INTEGER",
        "int16": "SMALLINT",
        "bool": "BOOLEAN",
        "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    }[arrow_type]


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def view_sql(paths: DataPaths, doc_type: str) -> str:
    """The SELECT behind one doc-type view: an explicit list of committed files.

    File paths are the only literals placed into SQL; they come from our own
    directory listing (never from a user) and are quoted.
    """
    files = committed_files(paths, doc_type)
    if not files:
        return _empty_select(doc_type)
    listing = ", ".join(_quote(str(f)) for f in files)
    return f"SELECT * FROM read_parquet([{listing}], union_by_name=true, hive_partitioning=false)"


def create_views(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    """(Re)create one view per doc type plus `events` (the envelope of every row)."""
    for t in DOC_TYPES:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {t} AS {view_sql(paths, t)}")
    env_cols = ", ".join(f.name for f in SCHEMAS["ws_event"])
    union = " UNION ALL ".join(f"SELECT {env_cols} FROM {t}" for t in DOC_TYPES)
    con.execute(f"CREATE OR REPLACE TEMP VIEW all_events AS {union}")


def connect(paths: DataPaths, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with the doc-type views; callers close it."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    con.execute("SET TimeZone='UTC'")
    create_views(con, paths)
    return con
