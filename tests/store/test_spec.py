"""The protocol docs parsed as data: event sections, field tables, wire examples, marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.spec import (
    doc_files,
    docs_signature,
    example_fields,
    field_path,
    is_canonical,
    load_documented,
    parse_docs,
    wire_examples,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "protocol_docs"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "protocol_docs"

DICTIONARY = """# Field Dictionary

## gameStateUpdate Fields

### Leaderboard

| Field | Type | Units | Meaning |
|-------|------|-------|---------|
| `$.data.leaderboard[*].pnl` | number | SOL | Server-authoritative profit/loss |
| `$.data.partialPrices.values.{key}` | number | multiplier | Price at specific tick |
| `$.data.gameHistory[*].prices[*]` | number | multiplier | Tick-by-tick prices |
"""

MATRIX = """# Spec

| Category | Events | Direction | Description |
|----------|--------|-----------|-------------|
| **TRADING_ACTION** | `buyOrder`, `sellOrder` | Client → Server | User trade requests |

| Event | COOLDOWN | PRESALE | ACTIVE | RUGGED | Notes |
|-------|:--------:|:-------:|:------:|:------:|-------|
| `buyOrder/sellOrder` | ❌ | ✅ | ✅ | ❌ | Trading phases only |

### 7. `buyOrder` / `sellOrder` (Trade Requests) ✅ VERIFIED

**Purpose**: Execute buy/sell trades

```
42425["buyOrder", {"amount": 0.001}]
42426["sellOrder", {"percentage": 100}]
```

### 11. `success` (ACK Response)

```json
43XXXX[{"success": true, "sidebet": {"betAmount": 0.002, "xPayout": 5}}]
```

> **NEEDS VALIDATION**: not yet checked live.

| Field | Type | Description |
|-------|------|-------------|
| `message` | string | What happened |

| Date | Events Verified | Notes |
|------|-----------------|-------|
| Dec 28, 2025 | `buyOrder`, `success` | review |
"""


def test_the_sample_spec_documents_playerupdate_with_its_field_tables() -> None:
    doc = load_documented(FIXTURE)
    pu = doc.events["playerUpdate"]
    assert pu.verified and pu.purpose == "Sync local state with server truth"
    assert pu.category == "PLAYER_STATE" and pu.direction == "received" and pu.auth == "yes"
    assert pu.phases == ["PRESALE", "ACTIVE", "RUGGED"]
    cash = pu.fields["cash"]
    assert (cash.types, cash.type_text, cash.description) == (("number",), "float",
                                                               "TRUE wallet balance")
    assert pu.fields["levelInfo.xp"].types == ("integer",)  # a dotted path in a table
    assert pu.fields["autosellPrice"].types == ("null", "number")  # "null/float"
    # the wire example adds what no table row names, typed by its values
    assert pu.fields["crateKeys.gold"].from_example
    assert pu.fields["cash"].sources[0].startswith("claude-flow/knowledge/rugs-events/")


def test_a_client_request_is_documented_from_its_traced_wire_example_and_table() -> None:
    req = load_documented(FIXTURE).events["requestSidebet"]
    assert req.direction == "sent" and req.category == "SIDEBET_ACTION"
    assert list(req.fields) == ["amount", "coinAddress", "xPayout"]  # trace keys unwrapped
    assert req.fields["xPayout"].types == ("integer",) and not req.fields["xPayout"].from_example


def test_field_dictionary_paths_become_catalog_paths() -> None:
    assert field_path("`$.data.leaderboard[*].pnl`") == "leaderboard[].pnl"
    assert field_path("`$.data.partialPrices.values.{key}`") == "partialPrices.values.<key>"
    assert field_path("`$.data.gameHistory[*].prices[*]`") == "gameHistory[].prices"
    assert field_path("**Server Seed**") is None  # a label, not a field
    # "<event> Fields" headings count for names known from elsewhere (the spec, the catalog)
    assert parse_docs([("FIELD_DICTIONARY.md", DICTIONARY)]).events == {}
    doc = parse_docs([("FIELD_DICTIONARY.md", DICTIONARY)], known=["gameStateUpdate"])
    gs = doc.events["gameStateUpdate"]
    assert set(gs.fields) == {"leaderboard[].pnl", "partialPrices.values.<key>",
                              "gameHistory[].prices"}
    assert doc.field_of("gameStateUpdate", "partialPrices.values.<n>") is not None


def test_event_tables_examples_marks_and_history_are_read() -> None:
    doc = parse_docs([("SPEC.md", MATRIX)])
    buy, sell = doc.events["buyOrder"], doc.events["sellOrder"]
    assert buy.direction == sell.direction == "sent"  # from the taxonomy row
    assert buy.phases == sell.phases == ["PRESALE", "ACTIVE"]  # `a/b` of the phase matrix
    assert buy.verified and buy.verified_on == ["Dec 28, 2025"] and sell.verified_on == []
    assert set(buy.fields) == {"amount"} and set(sell.fields) == {"percentage"}
    ok = doc.events["success"]
    assert not ok.verified  # no VERIFIED mark on its heading
    assert {"success", "sidebet", "sidebet.xPayout", "message"} <= set(ok.fields)
    assert ok.fields["message"].needs_validation  # the section says NEEDS VALIDATION


def test_wire_examples_are_parsed_leniently_and_unwrapped() -> None:
    code = '42["gameStateUpdate", {"gameId": "g", "leaderboard": [...], "prices": [1, 0.9, ...]}]'
    [(name, payload)] = wire_examples(code, {"gameStateUpdate"})
    assert name == "gameStateUpdate" and payload["leaderboard"] == []
    assert wire_examples(code, {"other"}) == []  # only names known as events
    assert [p for p, _, _ in example_fields({"a": {"b": 1}, "c": [{"d": 2}]})] == [
        "a", "a.b", "c", "c[].d"]


def test_canonical_docs_come_first_and_the_signature_follows_the_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "NOTES.md").write_text("# notes\n")
    (tmp_path / "SPEC.md").write_text("# Spec\n> **Canonical Source**: this file\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "X.md").write_text("# x\n")
    assert [p.name for p in doc_files(tmp_path)] == ["SPEC.md", "NOTES.md"]
    assert is_canonical("**Status**: CANONICAL") and not is_canonical("the canonical spec")
    sig = docs_signature(tmp_path)
    (tmp_path / "a" / "NOTES.md").write_text("# notes, edited\n")
    assert docs_signature(tmp_path) != sig and docs_signature(None) == ""
    assert load_documented(None).events == {}


def test_the_shared_docs_document_the_events_the_captures_never_show() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    doc = load_documented(SHARED)
    for name in ("buyOrder", "sellOrder", "requestSidebet", "currentSidebet",
                 "currentSidebetResult", "success", "ping"):
        assert doc.events[name].verified, name
    assert doc.events["ping"].fields["lastPing"].types == ("number",)
    assert doc.files[0].endswith(("OFFICIAL_FAQ.md", "WEBSOCKET_EVENTS_SPEC.md"))
    assert "leaderboard[].pnl" in doc.events["gameStateUpdate"].fields
    assert doc.phases["PRESALE"].startswith("Trigger: Cooldown ends")
