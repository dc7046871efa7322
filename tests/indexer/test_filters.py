"""Filter text forms and their SQL: every value quoted, only known columns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.errors import InvalidFilterError
from indexer.filters import Filter, as_filters, parse_where, to_sql

COLS = {"event_name": "str", "date": "str", "tags": "list", "path": "str"}


@pytest.mark.parametrize(("text", "expected"), [
    ("event_name=playerUpdate", Filter("event_name", "eq", "playerUpdate")),
    ("event_name=a, b", Filter("event_name", "in", ["a", "b"])),
    ("path^=claude-flow/", Filter("path", "prefix", "claude-flow/")),
    ("tags~=cdp", Filter("tags", "contains", "cdp")),
    ("date>=2025-12-01", Filter("date", "gte", "2025-12-01")),
    ("date<2025-12-15", Filter("date", "lt", "2025-12-15")),
    ("event_name!=x", Filter("event_name", "ne", "x")),
    ("path=a^=b", Filter("path", "eq", "a^=b")),
])
def test_text_filters_parse(text: str, expected: Filter) -> None:
    assert parse_where(text) == expected


def test_mapping_filters_become_equality_or_any_of() -> None:
    assert as_filters({"event_name": "x", "tags": ["a", "b"], "date": None}) == [
        Filter("event_name", "eq", "x"), Filter("tags", "in", ["a", "b"])]


def test_sql_quotes_values_and_escapes_like_wildcards() -> None:
    sql = to_sql([Filter("event_name", "eq", "it's"), Filter("path", "prefix", "a_b%"),
                  Filter("tags", "contains", "x")], COLS)
    assert sql == ("(event_name = 'it''s') AND (path LIKE 'a\\_b\\%%' ESCAPE '\\') AND "
                   "(array_has_any(tags, ['x']))")


def test_unknown_column_lists_the_known_ones() -> None:
    with pytest.raises(InvalidFilterError, match="columns: date, event_name, id, path"):
        to_sql([Filter("x; DROP", "eq", "1")], COLS)


def test_range_on_a_list_column_is_refused() -> None:
    with pytest.raises(InvalidFilterError, match="list column"):
        to_sql([Filter("tags", "gte", "a")], COLS)


@given(st.text(max_size=40))
def test_any_value_stays_inside_one_quoted_literal(value: str) -> None:
    sql = to_sql([Filter("event_name", "eq", value)], COLS)
    assert sql is not None
    literal = sql[len("(event_name = "):-1]
    assert literal.startswith("'") and literal.endswith("'")
    assert literal[1:-1].replace("''", "") .count("'") == 0
