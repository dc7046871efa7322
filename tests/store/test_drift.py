"""Documented vs observed: the docs joined with the catalog, per event and per field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.catalog import build_catalog
from store.drift import (
    BOTH,
    DOCUMENTED_ONLY,
    OBSERVED_ONLY,
    TRACE_WRAPPER,
    drift,
    open_docs,
    resolve_name,
    summary,
    type_mismatch,
)
from store.errors import CatalogError, DocsError
from store.spec import DocField, parse_docs

T0 = datetime(2025, 12, 15, tzinfo=UTC)
SPEC = """# Spec

### 1. `tick` (A Tick) ✅ VERIFIED

| Field | Type | Description |
|-------|------|-------------|
| `count` | int | Ticks so far |
| `price` | float | Current multiplier |
| `traceparent` | string | OpenTelemetry trace ID |
| `rugPoint` | float | Final multiplier |

#### Event Object Fields

| Field | Type | Description |
|-------|------|-------------|
| `startTime` | string | ISO timestamp |

### 2. `order` (Request)

| Field | Type | Description |
|-------|------|-------------|
| `amount` | float | SOL |
"""


def catalog() -> object:
    rows = [("tick", "received", "ws_event", T0 + timedelta(seconds=i), json.dumps(
        {"count": 1.5 if i else 1, "price": 1, "extra": True,
         "history": [{"rugPoint": 2.0}], "event": {"startTime": "2025-12-15T00:00:00Z"}}),
        "public_ws") for i in range(3)]
    rows.append(("seen", "received", "ws_event", T0, json.dumps({"a": 1}), "public_ws"))
    return build_catalog(rows)


def test_each_event_and_field_is_documented_observed_or_both() -> None:
    cat = catalog()
    docs = parse_docs([("SPEC.md", SPEC)])
    report = {e.event_name: e for e in drift(cat, docs)}  # type: ignore[arg-type]
    assert {n: e.status for n, e in report.items()} == {
        "order": DOCUMENTED_ONLY, "seen": OBSERVED_ONLY, "tick": BOTH}
    tick = report["tick"]
    assert tick.spec_verified is True and report["order"].spec_verified is False
    fields = {f.path: f for f in tick.fields}
    assert fields["count"].status == BOTH
    assert fields["count"].type_mismatch == "documented as int, the data also shows number"
    assert fields["price"].type_mismatch is None  # an integer is a valid float
    assert fields["traceparent"].status == TRACE_WRAPPER
    assert fields["rugPoint"].status == DOCUMENTED_ONLY
    assert fields["rugPoint"].observed_at == ["history[].rugPoint"]  # the data has it elsewhere
    assert fields["*.startTime"].status == BOTH  # a container the docs do not name
    assert fields["extra"].status == OBSERVED_ONLY
    assert report["order"].fields[0].status == DOCUMENTED_ONLY
    totals = summary(list(report.values()))
    assert totals["events_both"] == 1 and totals["fields_type_mismatch"] == 1


def test_validation_of_documented_only_events_comes_from_the_records() -> None:
    docs = parse_docs([("SPEC.md", SPEC)])
    report = {e.event_name: e for e in drift(catalog(), docs,  # type: ignore[arg-type]
                                             {"order": {"status": "verified", "note": "ok"}})}
    assert report["order"].validation == "verified" and report["order"].validation_note == "ok"
    assert report["tick"].validation == "unverified"


def test_type_mismatch_reads_the_docs_types() -> None:
    f = DocField(path="x", types=("integer", "null"), type_text="int/null")
    assert type_mismatch(f, ["integer", "null"]) is None
    assert type_mismatch(f, ["string"]) == "documented as int/null, the data also shows string"
    assert type_mismatch(DocField(path="x"), ["string"]) is None  # the docs name no type
    example = DocField(path="x", types=("integer",), from_example=True)
    assert type_mismatch(example, ["number"]) is None  # an example's 1 says nothing of floats


def test_unknown_names_and_missing_docs_are_clear_errors(tmp_path: Path) -> None:
    assert resolve_name(["playerUpdate", "tick"], "playerupdate") == "playerUpdate"
    with pytest.raises(CatalogError, match="did you mean playerUpdate"):
        resolve_name(["playerUpdate"], "playerUpdat")
    with pytest.raises(DocsError, match="RUGS_PROTOCOL_DOCS"):
        open_docs(None)
    with pytest.raises(DocsError, match="not a directory"):
        open_docs(tmp_path / "missing")
    with pytest.raises(DocsError, match="no markdown"):
        open_docs(tmp_path)
