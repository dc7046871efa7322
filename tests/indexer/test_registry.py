"""The table registry: one spec per table name, unknown names refused."""

from __future__ import annotations

import pytest

from indexer.errors import UnknownTableError
from indexer.registry import table_spec
from store.paths import SEARCH_DEFAULT_TABLES, TABLE_NAMES


def test_every_table_name_has_a_spec_of_that_name() -> None:
    assert TABLE_NAMES == ("events", "code_context", "debug_notes")
    assert [table_spec(n).name for n in TABLE_NAMES] == list(TABLE_NAMES)
    # a search without a table leaves out exactly the tables of reasoning (debug notes)
    assert SEARCH_DEFAULT_TABLES == tuple(n for n in TABLE_NAMES if not table_spec(n).reasoning)


def test_an_unknown_table_is_refused_naming_the_tables() -> None:
    with pytest.raises(UnknownTableError, match="events, code_context, debug_notes"):
        table_spec("event")
