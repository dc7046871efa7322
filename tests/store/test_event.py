"""store.event: the one validation's hand-off type (ValidRecord) and the payload depth scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from store.errors import InvalidEventError
from store.event import (
    MAX_JSON_DEPTH,
    ValidRecord,
    check_payload,
    json_depth,
    normalize_record,
    validate_record,
)
from tests.event_store import make_event

NOW = datetime(2025, 12, 14, 20, 0, tzinfo=UTC)
LIMIT = 1_000_000


def nesting(value: Any) -> int:
    """How deeply a decoded JSON value nests containers (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def test_validate_record_hands_on_the_rows_normalize_record_makes() -> None:
    rec = [make_event(1), make_event(1, doc_type="ws_event")]
    valid = validate_record(rec, ingested_at=NOW, max_payload_bytes=LIMIT)
    assert type(valid) is ValidRecord and len(valid) == 2
    assert list(valid.rows) == normalize_record(rec, ingested_at=NOW, max_payload_bytes=LIMIT)
    assert valid.max_payload_bytes == LIMIT


def test_validate_record_refuses_a_poison_record_instead_of_making_one() -> None:
    with pytest.raises(InvalidEventError, match="price"):
        validate_record([make_event(1, price="abc")], ingested_at=NOW, max_payload_bytes=LIMIT)
    with pytest.raises(InvalidEventError, match="deeper than 64"):
        validate_record([make_event(1, raw_json="[" * 100 + "]" * 100)], ingested_at=NOW,
                        max_payload_bytes=LIMIT)


def test_a_valid_record_cannot_be_made_or_changed_outside_the_validator() -> None:
    rows = [make_event(1, price="abc")]
    with pytest.raises(TypeError, match="validate_record only"):
        ValidRecord(rows, LIMIT)
    with pytest.raises(TypeError, match="validate_record only"):
        ValidRecord(rows, LIMIT, object())
    valid = validate_record([make_event(1)], ingested_at=NOW, max_payload_bytes=LIMIT)
    with pytest.raises(AttributeError):
        valid._rows = tuple(rows)
    with pytest.raises(AttributeError):
        valid.trusted = True
    assert isinstance(valid.rows, tuple)


_text = st.text(alphabet=st.sampled_from('ab"\\[]{}é\u2028\n :,'), max_size=8)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=40,
)


@hsettings(max_examples=300, deadline=None)
@given(value=_json, ascii_only=st.booleans(), indent=st.sampled_from([None, 2]))
def test_json_depth_is_the_nesting_of_any_json_text_brackets_and_escapes_in_strings_included(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    assert json_depth(text) == nesting(value)


def test_json_depth_of_hostile_nesting_is_over_the_limit_without_recursion() -> None:
    assert json_depth("[" * 10_000 + "]" * 10_000) == MAX_JSON_DEPTH + 1  # stops counting
    assert json_depth('{"a": ' * 100 + "1" + "}" * 100) > MAX_JSON_DEPTH
    with pytest.raises(InvalidEventError, match="deeper than 64"):
        check_payload("[" * 10_000 + "]" * 10_000, LIMIT)


def test_json_depth_counts_every_opener_of_text_that_is_not_json() -> None:
    assert json_depth("[" * 100) == 100  # never closed
    assert json_depth('"abc' + "[" * 100) == 100  # an unterminated string is no cover
    assert json_depth('["\\\\"' + "[" * 99) == 100  # an escaped backslash ends no string early
