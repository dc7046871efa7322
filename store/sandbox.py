"""Hardened read-only SQL over the doc-type views: statement allowlist, file confinement, caps."""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import duckdb

from store.errors import QueryError, UnsafeQueryError, one_line
from store.files import committed_files
from store.integrity import recover_from_error
from store.paths import DOC_TYPES, DataPaths
from store.settings import Settings
from store.views import create_views, sql_literal

Params = Sequence[Any] | Mapping[str, Any] | None

VIEWS: tuple[str, ...] = (*DOC_TYPES, "all_events")

# Statement types DuckDB's parser may report for a statement we run. Everything else
# (COPY, ATTACH, DETACH, LOAD/INSTALL, SET/RESET/USE, PRAGMA, CALL, CREATE, INSERT, UPDATE,
# DELETE, DROP, ALTER, EXPORT, IMPORT, TRANSACTION, PREPARE/EXECUTE, VACUUM, MULTI, …) is
# refused. SELECT covers WITH … SELECT, FROM-first, VALUES, DESCRIBE, SUMMARIZE and SHOW.
# EXPLAIN is allowed only around a SELECT: EXPLAIN ANALYZE executes its statement.
ALLOWED_STATEMENTS: frozenset[str] = frozenset({"SELECT", "EXPLAIN"})

# Table functions a SELECT may call, checked on DuckDB's own parse tree
# (json_serialize_sql). Readers stay confined to the data root by the sandbox settings;
# what is left out either runs SQL given as a string (query, query_table,
# json_execute_serialized_sql: they would escape this check), takes raw memory pointers
# (arrow_scan, pandas_scan, python_map_function: a crash), changes state (checkpoint,
# enable_logging/profiling, *_external_resource*), or reveals secrets (duckdb_secrets).
ALLOWED_TABLE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "read_json",
        "read_json_auto", "read_ndjson", "read_ndjson_auto", "read_json_objects",
        "read_json_objects_auto", "read_ndjson_objects", "read_text", "read_blob", "glob",
        "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata",
        "range", "generate_series", "unnest", "json_each", "json_tree", "repeat",
        "repeat_row", "summary", "duckdb_columns", "duckdb_views", "duckdb_tables",
        "duckdb_functions", "duckdb_types", "duckdb_keywords", "duckdb_settings",
        "duckdb_schemas", "duckdb_databases", "duckdb_constraints", "pragma_table_info",
        "pragma_show", "pragma_version", "pragma_platform", "icu_calendar_names",
        "pg_timezone_names", "histogram", "histogram_values",
    }
)

_EXAMPLE = "SELECT event_name, count(*) AS n FROM ws_event GROUP BY 1 ORDER BY n DESC"
_VIEW_LIST = ", ".join(VIEWS)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """Bytes in a DuckDB-style size such as '1GB', '512MiB' or '2000000'."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (expected e.g. '1GB' or '512MiB')")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


@dataclass(frozen=True)
class SandboxLimits:
    """Every bound the sandbox puts on one query."""

    timeout_s: float = 10.0
    max_rows: int = 500
    max_chars: int = 20_000
    max_value_chars: int = 1_000
    memory_limit: str = "1GB"
    threads: int = 2
    max_temp_size: str = "2GB"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SandboxLimits:
        values: dict[str, Any] = {
            "timeout_s": settings.sql_timeout_s,
            "max_rows": settings.sql_max_rows,
            "max_chars": settings.sql_max_chars,
            "memory_limit": settings.sql_memory_limit,
            "threads": settings.sql_threads,
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_rows < 1 or self.max_chars < 100 or self.max_value_chars < 10:
            raise ValueError("max_rows >= 1, max_chars >= 100 and max_value_chars >= 10")
        if self.threads < 1:
            raise ValueError("threads must be >= 1")
        parse_size(self.memory_limit)
        parse_size(self.max_temp_size)


@dataclass
class QueryResult:
    """Rows of one sandboxed query, bounded, with every truncation said out loud."""

    columns: list[dict[str, str]]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    more_rows: bool
    shortened_values: int
    notes: list[str] = field(default_factory=list)
    statement_type: str = "SELECT"
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the statement check ------------------------------------------------------------------


def check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Refuse anything but one read statement; return its type (SELECT or EXPLAIN).

    Decided by DuckDB's own parser: the statement type from `extract_statements`, then
    every table function in the parse tree (`json_serialize_sql`) against an allowlist.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError(f"empty SQL: pass one SELECT statement, e.g. {_EXAMPLE}")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL does not parse: {one_line(exc)}") from exc
    if len(statements) != 1:
        kinds = ", ".join(_kind(s) for s in statements) or "none"
        raise UnsafeQueryError(
            f"one statement per call, got {len(statements)} ({kinds}): send a single "
            "SELECT without a second statement after ';'"
        )
    stmt = statements[0]
    kind = _kind(stmt)
    if kind not in ALLOWED_STATEMENTS:
        raise UnsafeQueryError(
            f"{_describe_kind(kind, stmt.query)} statements are refused: this sandbox is "
            "read-only and runs one SELECT (WITH … SELECT, FROM …, VALUES, DESCRIBE, "
            f"SUMMARIZE, SHOW) or EXPLAIN SELECT. Query the views {_VIEW_LIST}, e.g. {_EXAMPLE}"
        )
    select_text = stmt.query
    if kind == "EXPLAIN":
        select_text = _explained_statement(con, stmt.query)
    _check_table_functions(con, select_text)
    return kind


def _kind(stmt: duckdb.Statement) -> str:
    try:
        return stmt.type.name
    except ValueError:  # a type the Python binding cannot name (UPDATE EXTENSIONS is 29)
        return "UNKNOWN"


def _describe_kind(kind: str, text: str) -> str:
    """The user's own keyword where the parser's type is vague (INSTALL is a LOAD)."""
    head = text.lstrip().split(None, 1)
    word = head[0].upper() if head else kind
    return word if word.isalpha() else kind


def _explained_statement(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """The statement inside EXPLAIN [ANALYZE]; refused unless it is a SELECT."""
    tokens = [(pos, tt) for pos, tt in duckdb.tokenize(text) if tt != duckdb.token_type.comment]
    i = 0
    while i < len(tokens) and text[tokens[i][0]:].split(None, 1)[0].upper() in (
        "EXPLAIN", "ANALYZE", "ANALYSE"
    ):
        i += 1
    inner = text[tokens[i][0]:] if i < len(tokens) else ""
    try:
        kinds = [_kind(s) for s in con.extract_statements(inner)] if inner.strip() else []
    except Exception as exc:
        raise UnsafeQueryError(f"EXPLAIN of a statement that does not parse: {exc}") from exc
    if kinds != ["SELECT"]:
        raise UnsafeQueryError(
            f"EXPLAIN is allowed only around a SELECT, got {', '.join(kinds) or 'nothing'}"
        )
    return inner


def _check_table_functions(con: duckdb.DuckDBPyConnection, select_text: str) -> None:
    try:
        # fetchall: DuckDB 2.0 refuses new work while a result is partly fetched.
        rows = con.execute("SELECT json_serialize_sql(?)", [select_text]).fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"SQL does not parse: {one_line(exc)}") from exc
    tree = json.loads(rows[0][0]) if rows else {"error": True, "error_message": "no parse tree"}
    if tree.get("error"):
        raise UnsafeQueryError(
            "the statement could not be verified as a plain SELECT "
            f"({tree.get('error_message', 'unknown parser error')}); rewrite it as one SELECT"
        )
    refused = sorted(set(_table_functions(tree)) - ALLOWED_TABLE_FUNCTIONS)
    if refused:
        raise UnsafeQueryError(
            f"table function(s) {', '.join(refused)} are not allowed here; read the views "
            f"{_VIEW_LIST}, or files under the data root with read_parquet/read_json/read_csv"
        )


def _table_functions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            name = node["function"].get("function_name")
            if isinstance(name, str):
                yield name.lower()
        for v in node.values():
            yield from _table_functions(v)
    elif isinstance(node, list):
        for v in node:
            yield from _table_functions(v)


# -- the sandboxed connection -------------------------------------------------------------


def _locked_connection(
    root: DataPaths, limits: SandboxLimits, tmp: str
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection confined to `root`, its configuration locked, no views yet."""
    con = duckdb.connect(":memory:")
    try:
        # Literals below come from our own settings, never from the caller's SQL.
        con.execute(f"SET threads={int(limits.threads)}")
        con.execute(f"SET memory_limit='{parse_size(limits.memory_limit)}B'")
        con.execute(f"SET temp_directory={sql_literal(tmp)}")
        con.execute(f"SET max_temp_directory_size='{parse_size(limits.max_temp_size)}B'")
        con.execute("SET TimeZone='UTC'")
        con.execute("SET enable_progress_bar=false")
        con.execute("SET autoinstall_known_extensions=false")
        con.execute("SET autoload_known_extensions=false")
        con.execute("SET allow_community_extensions=false")
        con.execute(f"SET allowed_directories=[{sql_literal(str(root.root) + '/')}]")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
    except BaseException:
        con.close()
        raise
    return con


class SandboxSession:
    """One locked-down DuckDB connection with the doc-type views, reusable across queries.

    File access is confined to the data root (and the private temp directory DuckDB
    spills to, which it adds to the allowed set itself, hence a directory of our own),
    external access is off, and the configuration is locked before any caller SQL runs,
    so no statement can loosen it. Only checked read statements ever run on it, so a
    query leaves nothing behind for the next one. Before each query the committed file
    list is compared with the one the views were made from (a directory listing, a few
    ms); the views are rebuilt when it changed, so new data is seen at once.
    """

    def __init__(self, paths: DataPaths, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self.root = DataPaths(paths.root.expanduser().resolve())
        self._tmp = tempfile.mkdtemp(prefix="rugs-sql-")
        self._con: duckdb.DuckDBPyConnection | None = None
        self._files: tuple[tuple[str, ...], ...] | None = None

    def connection(self, *, refresh: bool = False) -> duckdb.DuckDBPyConnection:
        """The connection, with views over the files committed right now."""
        if self._con is None:
            self._con = _locked_connection(self.root, self.limits, self._tmp)
            self._files = None
        files = tuple(tuple(str(f) for f in committed_files(self.root, t)) for t in DOC_TYPES)
        if refresh or files != self._files:
            create_views(self._con, self.root)
            self._files = files
        return self._con

    def run(self, sql: str, params: Params = None) -> QueryResult:
        """Run one read-only statement and return bounded, JSON-safe rows.

        Raises UnsafeQueryError for anything but one SELECT / EXPLAIN SELECT or for file
        access outside the data root, QueryError for SQL that fails, runs past the
        timeout or needs more memory than allowed. Retries once on fresh views when a
        file vanished under it (a compaction replaced it between listing and reading).
        """
        try:
            return self._run_once(sql, params, refresh=False)
        except _VanishedFile:
            return self._run_once(sql, params, refresh=True)

    def _run_once(self, sql: str, params: Params, *, refresh: bool) -> QueryResult:
        started = time.perf_counter()
        limits = self.limits
        try:
            con = self.connection(refresh=refresh)
        except duckdb.Error as exc:
            self.reset()
            if isinstance(exc, duckdb.IOException) and not refresh:
                raise _VanishedFile() from exc
            raise QueryError(
                f"cannot open the store at {self.root.root}: {one_line(exc)}"
            ) from exc
        kind = check_statement(con, sql)
        timer = threading.Timer(limits.timeout_s, con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            rel = con.sql(sql, params=params)
            if rel is None:
                raise UnsafeQueryError("the statement returned no result set; send a SELECT")
            names, types = rel.columns, rel.types
            columns = [{"name": n, "type": str(t)} for n, t in zip(names, types, strict=True)]
            table = _bounded(rel, limits).limit(limits.max_rows + 1).to_arrow_table()
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.IOException) and "No such file" in str(exc):
                raise _VanishedFile() from exc
            damaged = recover_from_error(exc)
            if damaged is not None:
                if damaged.retry and not refresh:
                    raise _VanishedFile() from exc  # quarantined: retry on fresh views
                raise QueryError(damaged.message) from exc
            raise _translate(exc, limits, self.root) from exc
        finally:
            timer.cancel()
        # Column by column: duplicate column names (SELECT 1 a, 2 a) must not collapse.
        data = [table.column(i).to_pylist() for i in range(table.num_columns)]
        result = _shape([list(r) for r in zip(*data, strict=True)], columns, limits)
        result.statement_type = kind
        result.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    def reset(self) -> None:
        """Drop the connection; the next query opens a fresh one."""
        if self._con is not None:
            self._con.close()
            self._con = None
            self._files = None

    def close(self) -> None:
        self.reset()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _VanishedFile(Exception):
    pass


@contextmanager
def sandbox_connection(
    paths: DataPaths, limits: SandboxLimits | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh locked-down connection with the doc-type views (for callers that check SQL)."""
    with SandboxSession(paths, limits) as session:
        yield session.connection()


# -- running one query --------------------------------------------------------------------


def run_query(
    paths: DataPaths,
    sql: str,
    *,
    params: Params = None,
    limits: SandboxLimits | None = None,
) -> QueryResult:
    """One statement on a fresh `SandboxSession` (see `SandboxSession.run`)."""
    with SandboxSession(paths, limits) as session:
        return session.run(sql, params)


def _bounded(rel: duckdb.DuckDBPyRelation, limits: SandboxLimits) -> duckdb.DuckDBPyRelation:
    """Cut long text inside DuckDB so a huge value never reaches Python whole."""
    cut = limits.max_value_chars + 1
    exprs = []
    changed = False
    for i, (name, typ) in enumerate(zip(rel.columns, rel.types, strict=True), start=1):
        alias = '"' + name.replace('"', '""') + '"'
        t = str(typ)
        if t == "VARCHAR":
            exprs.append(f"left(#{i}, {cut}) AS {alias}")
            changed = True
        elif t in ("BLOB", "JSON", "BIT", "INTERVAL", "TIME WITH TIME ZONE"):
            exprs.append(f"left(CAST(#{i} AS VARCHAR), {cut}) AS {alias}")
            changed = True
        else:
            exprs.append(f"#{i} AS {alias}")
    return rel.project(", ".join(exprs)) if changed else rel


def _translate(exc: duckdb.Error, limits: SandboxLimits, paths: DataPaths) -> QueryError:
    msg = one_line(exc)
    if isinstance(exc, duckdb.InterruptException):
        return QueryError(
            f"the query ran longer than {limits.timeout_s:g} s and was stopped: filter on "
            "game_id, event_name or ts, aggregate, or add a LIMIT"
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        # DuckDB's own hints (SET memory_limit, SET threads) cannot work here: drop them.
        detail = msg.split(" Possible solutions")[0]
        return QueryError(
            f"the query needs more than the sandbox's {limits.memory_limit} of memory: "
            f"aggregate, select fewer columns or filter first ({detail})"
        )
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in msg:
        return UnsafeQueryError(
            f"access refused: only files under the data root {paths.root} can be read and "
            f"settings cannot change ({msg}); query the views {_VIEW_LIST}"
        )
    if isinstance(exc, duckdb.CatalogException):
        return QueryError(f"{msg}. The views are: {_VIEW_LIST}")
    return QueryError(msg)


# -- shaping rows for an agent ------------------------------------------------------------


def _shape(
    raw: list[list[Any]], columns: list[dict[str, str]], limits: SandboxLimits
) -> QueryResult:
    more_rows = len(raw) > limits.max_rows
    raw = raw[: limits.max_rows]
    rows: list[list[Any]] = []
    shortened = 0
    used = 0
    char_capped = False
    for values in raw:
        row = []
        for v in values:
            jv, cut = json_value(v, limits.max_value_chars)
            shortened += cut
            row.append(jv)
        size = len(json.dumps(row, ensure_ascii=False, default=str))
        if rows and used + size > limits.max_chars:
            char_capped = True
            break
        used += size
        rows.append(row)
    notes = []
    if more_rows:
        notes.append(
            f"row cap: only the first {limits.max_rows} rows are returned and more exist; "
            "aggregate, filter or add ORDER BY … LIMIT to see what matters"
        )
    if char_capped:
        notes.append(
            f"character cap: {len(rows)} of {len(raw)}{'+' if more_rows else ''} rows fit in "
            f"{limits.max_chars} characters; select fewer or shorter columns"
        )
    if shortened:
        notes.append(
            f"{shortened} value(s) longer than {limits.max_value_chars} characters were "
            "shortened (ending in '…'); use substr()/json_extract() to read a part of them"
        )
    return QueryResult(
        columns=columns,
        rows=rows,
        row_count=len(rows),
        truncated=more_rows or char_capped or shortened > 0,
        more_rows=more_rows or char_capped,
        shortened_values=shortened,
        notes=notes,
    )


def json_value(v: Any, max_chars: int) -> tuple[Any, int]:
    """A JSON-safe value (exact decimals as text), shortened past max_chars; (value, 0|1 cut).

    Shared with the MCP tools that return rows from `store.query`.
    """
    if v is None or isinstance(v, bool | int):
        return v, 0
    if isinstance(v, float):
        return (v if math.isfinite(v) else str(v)), 0
    if isinstance(v, Decimal):
        return _decimal_text(v), 0
    if isinstance(v, datetime | date | dtime):
        return v.isoformat(), 0
    if isinstance(v, timedelta):
        return str(v), 0
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    if isinstance(v, str):
        if len(v) > max_chars:
            return v[:max_chars] + "…", 1
        return v, 0
    if isinstance(v, dict | list | tuple):
        converted = _json_nested(v)
        text = json.dumps(converted, ensure_ascii=False, default=str)
        if len(text) > max_chars:
            return text[:max_chars] + "…", 1
        return converted, 0
    text = str(v)
    if len(text) > max_chars:
        return text[:max_chars] + "…", 1
    return text, 0


def _json_nested(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _json_nested(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_nested(x) for x in v]
    value, _ = json_value(v, 1 << 30)
    return value


def _decimal_text(d: Decimal) -> str:
    if not d.is_finite():
        return str(d)
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"
