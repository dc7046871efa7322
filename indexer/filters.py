"""Search filters on a table's metadata columns, turned into LanceDB SQL with quoted values.

Callers never write SQL: a filter is (column, op, value), checked against the table's
columns, and every value is quoted here. Text form (CLI `--where`, MCP arguments):
`event_name=playerUpdate`, `event_name=a,b` (any of), `path^=claude-flow/` (prefix),
`tags~=lancedb` (list contains / text contains), `date>=2025-12-01`, `date<2025-12-15`,
`kind!=trade`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from indexer.errors import InvalidFilterError

Op = Literal["eq", "ne", "in", "prefix", "contains", "gt", "gte", "lt", "lte"]
_TEXT_OPS: tuple[tuple[str, Op], ...] = (
    ("^=", "prefix"), ("~=", "contains"), (">=", "gte"), ("<=", "lte"), ("!=", "ne"),
    ("=", "eq"), (">", "gt"), ("<", "lt"),
)
_SQL_CMP = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Columns every table has besides its own metadata columns.
COMMON_COLUMNS: dict[str, str] = {"source": "str", "id": "str"}


@dataclass(frozen=True)
class Filter:
    column: str
    op: Op
    value: Any


def parse_where(expr: str) -> Filter:
    """`column<op>value` -> Filter (ops: = != ^= ~= >= <= > <; `a,b` after = means any of)."""
    for token, op in _TEXT_OPS:
        col, sep, value = expr.partition(token)
        if sep:
            col = col.strip()
            if not _NAME.match(col):
                continue
            value = value.strip()
            if op == "eq" and "," in value:
                return Filter(col, "in", [v.strip() for v in value.split(",") if v.strip()])
            return Filter(col, op, value)
    raise InvalidFilterError(
        f"cannot read filter {expr!r}: write column=value (also != ^= ~= >= <= > <), "
        "e.g. event_name=playerUpdate or path^=store/"
    )


def as_filters(filters: Mapping[str, Any] | Iterable[Filter | str] | None) -> list[Filter]:
    """Normalise the accepted filter forms: a mapping column -> value (a list = any of),
    a list of Filter objects, or a list of `column<op>value` strings."""
    if filters is None:
        return []
    if isinstance(filters, Mapping):
        out = []
        for col, value in filters.items():
            if value is None:
                continue
            if isinstance(value, list | tuple | set):
                out.append(Filter(col, "in", [str(v) for v in value]))
            else:
                out.append(Filter(col, "eq", str(value)))
        return out
    return [f if isinstance(f, Filter) else parse_where(f) for f in filters]


def _lit(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        value = str(value)
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _lit(escaped + "%")


def filter_sql(f: Filter, kind: str) -> str:
    col = f.column
    if kind == "list":
        values = f.value if isinstance(f.value, list) else [f.value]
        if f.op in ("eq", "in", "contains"):
            return f"array_has_any({col}, [{', '.join(_lit(str(v)) for v in values)}])"
        if f.op == "ne":
            return f"NOT array_has_any({col}, [{', '.join(_lit(str(v)) for v in values)}])"
        raise InvalidFilterError(f"{col} is a list column: use {col}=a,b or {col}~=a")
    if f.op == "in":
        values = f.value if isinstance(f.value, list) else [f.value]
        if not values:
            raise InvalidFilterError(f"filter on {col} lists no values")
        return f"{col} IN ({', '.join(_lit(str(v)) for v in values)})"
    if f.op == "prefix":
        return f"{col} LIKE {_like_prefix(str(f.value))} ESCAPE '\\'"
    if f.op == "contains":
        return f"strpos({col}, {_lit(str(f.value))}) > 0"
    return f"{col} {_SQL_CMP[f.op]} {_lit(str(f.value))}"


def to_sql(filters: Sequence[Filter], columns: Mapping[str, str]) -> str | None:
    """One SQL predicate for the filters (AND), or None; unknown columns are refused."""
    known = {**COMMON_COLUMNS, **columns}
    parts = []
    for f in filters:
        kind = known.get(f.column)
        if kind is None:
            raise InvalidFilterError(
                f"no column {f.column!r} to filter on; columns: {', '.join(sorted(known))}"
            )
        parts.append(filter_sql(f, kind))
    return " AND ".join(f"({p})" for p in parts) if parts else None


def applicable(filters: Sequence[Filter], columns: Mapping[str, str]) -> bool:
    """Whether every filtered column exists in a table (cross-table search skips others)."""
    known = {**COMMON_COLUMNS, **columns}
    return all(f.column in known for f in filters)
