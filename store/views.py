"""DuckDB views named after the doc types, over committed Parquet files only."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

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


def sql_literal(text: str) -> str:
    """A SQL string literal of code-owned text (file paths, directories): never user input."""
    return "'" + text.replace("'", "''") + "'"


def view_sql(paths: DataPaths, doc_type: str, files: Iterable[Path] | None = None) -> str:
    """The SELECT behind one doc-type view: an explicit list of committed files.

    `files`: some of them (a caller that knows where its rows are), default all.
    File paths are the only literals placed into SQL; they come from our own
    directory listing (never from a user) and are quoted.
    """
    files = committed_files(paths, doc_type) if files is None else list(files)
    if not files:
        return _empty_select(doc_type)
    listing = ", ".join(sql_literal(str(f)) for f in files)
    return f"SELECT * FROM read_parquet([{listing}], union_by_name=false, hive_partitioning=false)"


def create_views(
    con: duckdb.DuckDBPyConnection,
    paths: DataPaths,
    doc_types: Iterable[str] = DOC_TYPES,
) -> None:
    """(Re)create one view per doc type plus `all_events` (the envelope of every row).

    `doc_types` limits the views to those a caller needs: DuckDB binds each view when it
    is created (reading file footers), so a one-doc-type query skips the others' cost.
    `all_events` exists only when every doc type has its view.
    """
    wanted = tuple(doc_types)
    for t in wanted:
        if t not in DOC_TYPES:
            raise ValueError(f"unknown doc type {t!r}; expected one of {', '.join(DOC_TYPES)}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {t} AS {view_sql(paths, t)}")
    if set(wanted) != set(DOC_TYPES):
        return
    env_cols = ", ".join(f.name for f in SCHEMAS["ws_event"])
    union = " UNION ALL ".join(f"SELECT {env_cols} FROM {t}" for t in DOC_TYPES)
    con.execute(f"CREATE OR REPLACE TEMP VIEW all_events AS {union}")


_engine: tuple[int, duckdb.DuckDBPyConnection] | None = None
_engine_lock = threading.Lock()


def engine() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB instance; work on a `cursor()` of it, never on it.

    Starting an instance costs ~15-20 ms, a cursor ~0.1 ms. A cursor is a connection of
    its own (temp views, settings) and holds no data, so sharing the instance keeps each
    call stateless. A forked child starts its own instance.
    """
    global _engine
    with _engine_lock:
        if _engine is None or _engine[0] != os.getpid():
            _engine = (os.getpid(), duckdb.connect(":memory:"))
        return _engine[1]


def connect(
    paths: DataPaths,
    *,
    threads: int | None = None,
    doc_types: Iterable[str] = DOC_TYPES,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the doc-type views over the files committed now; close it.

    A cursor of the shared `engine()`: its temp views die with it. `threads` asks for
    an instance of its own (the thread count is a setting of the whole instance).
    `doc_types`: create only these views (and no `all_events` unless all of them).
    """
    if threads:
        con = duckdb.connect(":memory:")
    else:
        base = engine()
        with _engine_lock:
            con = base.cursor()
    try:
        if threads:
            con.execute(f"SET threads={int(threads)}")
        con.execute("SET TimeZone='UTC'")
        create_views(con, paths, doc_types)
    except BaseException:
        con.close()
        raise
    return con
