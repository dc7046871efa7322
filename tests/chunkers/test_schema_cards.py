"""Schema cards: catalog and protocol docs -> overview, about, field, shape and docs cards."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from chunkers.chunk import dedupe
from chunkers.schema_cards import event_cards, schema_cards
from chunkers.vocabulary import path_words, title, words
from store.catalog import build_catalog
from store.spec import load_documented
from tests.chunkers.event_samples import PLAYER, T0, TRACE, TRADE

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "protocol_docs"



def catalog_rows() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i in range(6):
        rows.append(("gameStateUpdate", "received", "ws_event", T0 + timedelta(seconds=i),
                     json.dumps({"active": True, "rugged": False, "cooldownTimer": 0,
                                 "price": 1 + i / 10, "tickCount": i,
                                 "provablyFair": {"serverSeedHash": "ab" * 32, "version": "v3"},
                                 "leaderboard": [{"id": "did:privy:x", "username": "a",
                                                  "pnl": 0.1, "level": 3}]}), "public_ws"))
    rows.append(("standard/newTrade", "received", "ws_event", T0, json.dumps([TRACE, TRADE]),
                 "public_ws"))
    rows.append(("playerUpdate", "received", "ws_event", T0, json.dumps(PLAYER), "cdp"))
    rows.append(("checkUsername", "sent", "ws_event", T0 + timedelta(seconds=7), "null", "cdp"))
    other_trace = {**TRACE,
                   "traceparent": "00-84ec83a787640f734d92269c2f3d85cb-3f9f82bab0d12d40-01"}
    rows.append(("usernameStatus", "received", "ws_event", T0 + timedelta(seconds=7.3),
                 json.dumps(other_trace), "cdp"))
    return rows


def test_plain_words_split_protocol_names() -> None:
    assert title("standard/newTrade") == "New trade"
    assert words("cumulativePnL") == "cumulative profit and loss (PnL)"
    assert words("godCandle50xMassiveJump") == "god candle 50x multiplier massive jump"
    assert path_words("gameHistory[].provablyFair.serverSeed") == (
        "game history (list) > provably fair > server seed")


def test_every_card_starts_with_the_event_name_in_plain_words() -> None:
    cards = schema_cards(build_catalog(catalog_rows()))
    for c in cards:
        name = c.metadata["event_name"]
        assert c.text.startswith(f"{title(name)} ({name})"), c.text[:80]
        assert c.metadata["kind"] in ("schema_card", "schema_about", "schema_field",
                                      "schema_shape")
        assert c.source == "catalog"


def test_every_field_path_is_named_on_some_card() -> None:
    cat = build_catalog(catalog_rows())
    text = " ".join(c.text for c in schema_cards(cat))
    for e in cat.events.values():
        for f in e.fields:
            leaf = f.path.rsplit(".", 1)[-1].removesuffix("[]")
            assert leaf in text, f.path


def test_a_field_card_gives_type_presence_examples_and_meaning() -> None:
    cat = build_catalog(catalog_rows())
    by_id = {c.chunk_id: c for c in schema_cards(cat, docs=load_documented(DOCS))}
    cash = by_id["schema:playerUpdate:field:cash"].text
    # the meaning is the spec's ("TRUE wallet balance"), type and example the data's
    assert "TRUE wallet balance" in cash and "A number" in cash and "0.01762" in cash
    price = by_id["schema:gameStateUpdate:field:price"]
    assert price.metadata["field"] == "price" and "range 1 to 1.5" in price.text
    # a small object is described on one card with its fields, not a card per field
    pf = by_id["schema:gameStateUpdate:field:provablyFair"].text
    assert "serverSeedHash" in pf and "version" in pf
    assert "schema:gameStateUpdate:field:provablyFair.version" not in by_id


def test_trace_only_events_say_their_payload_was_not_captured() -> None:
    cards = event_cards(build_catalog(catalog_rows()).events["usernameStatus"])
    assert len(cards) == 1
    text = cards[0].text
    assert "Payload not captured" in text and "Arrives as the reply to the client request "\
        "checkUsername" in text


def test_validation_status_is_on_the_overview_and_in_the_metadata() -> None:
    cat = build_catalog(catalog_rows())
    cat.events["playerUpdate"].validation = {"status": "verified", "by": "ana",
                                             "at": "2026-01-02T00:00:00+00:00", "note": "ok"}
    cards = {c.chunk_id: c for c in event_cards(cat.events["playerUpdate"])}
    assert "Validation: verified by ana on 2026-01-02: ok" in cards[
        "schema:playerUpdate:about"].text
    assert {c.metadata["validation"] for c in cards.values()} == {"verified"}


def test_chunk_ids_are_unique_and_texts_identical_only_once() -> None:
    cards = schema_cards(build_catalog(catalog_rows()))
    assert len({c.chunk_id for c in cards}) == len(cards)
    assert len({c.text for c in cards}) == len(cards)
    twice = dedupe(cards + cards)
    assert twice == cards




def test_the_overview_names_every_top_level_field_with_a_few_words_of_the_docs() -> None:
    cat = build_catalog(catalog_rows())
    cards = {c.chunk_id: c for c in schema_cards(cat, docs=load_documented(DOCS))}
    ov = cards["schema:playerUpdate:overview"]
    assert ov.metadata["kind"] == "schema_card"
    assert ov.text.startswith("Player update (playerUpdate) fields (6 at the top, 8 paths): ")
    for piece in ("cash (TRUE wallet balance)", "levelInfo (object: level, xp)",
                  "avgCost (Weighted avg entry price)"):
        assert piece in ov.text
    # its vector is made from the names alone: descriptions beside them blur "the fields of X"
    assert ov.embed_text is not None and ov.embed_text.startswith(
        "The fields of Player update (playerUpdate): avgCost, cash,")
    # fields the spec describes but these payloads never showed are on one card
    doc_only = cards["schema:playerUpdate:documented"]
    assert "autobuysEnabled: Auto-buy feature" in doc_only.text
    assert "schema:playerUpdate:field:autobuysEnabled" not in cards


def test_an_event_only_the_docs_know_gets_an_overview_from_them() -> None:
    cards = {c.chunk_id: c for c in schema_cards(build_catalog(catalog_rows()),
                                                 docs=load_documented(DOCS))}
    req = cards["schema:requestSidebet:overview"]
    assert req.text.startswith("Request side bet (requestSidebet) fields (documented): amount "
                               "(Bet amount (SOL)), coinAddress")
    assert "never seen in the captured data" in req.text and "marked VERIFIED" in req.text
    assert req.metadata["documented_only"] and req.metadata["direction"] == "sent"
    assert not [k for k in cards if k.startswith("schema:requestSidebet:field:")]


def test_fields_that_differ_only_in_their_numbers_share_one_card() -> None:
    payload = {f"count{n}x": n for n in (2, 10, 50)} | {"price": 1.0}
    cat = build_catalog([("tick", "received", "ws_event", T0, json.dumps(payload), "public_ws")])
    cards = {c.chunk_id: c for c in event_cards(cat.events["tick"])}
    family = cards["schema:tick:field:count10x"]  # the first of the family in catalog order
    assert family.metadata["fields"] == ["count10x", "count2x", "count50x"]
    assert "count2x" in family.text and "count50x" in family.text
    assert family.embed_text == family.text.split(". ", 1)[0] + "."  # its heading
    assert "schema:tick:field:count2x" not in cards and "schema:tick:field:price" in cards


def test_a_field_card_says_when_the_data_disagrees_with_the_documented_type() -> None:
    rows = [("playerUpdate", "received", "ws_event", T0, json.dumps({"cash": "0.1"}), "cdp")]
    cards = {c.chunk_id: c for c in schema_cards(build_catalog(rows),
                                                 docs=load_documented(DOCS))}
    assert "Documented as float, the data also shows string" in cards[
        "schema:playerUpdate:field:cash"].text


def test_an_object_carrying_another_events_payload_is_described_there_once() -> None:
    royale: dict[str, Any] = {"status": "SCHEDULED", "activeEventId": None,
                              "currentEvent": {"startTime": "x"}, "upcomingEvents": [],
                              "timeRemaining": 5}
    rows = [("rugRoyaleUpdate", "received", "ws_event", T0, json.dumps(royale), "public_ws"),
            ("gameStateUpdate", "received", "ws_event", T0, json.dumps(
                {"price": 1.0, "rugRoyale": {k: royale[k] for k in (
                    "status", "activeEventId", "currentEvent", "upcomingEvents")}}),
             "public_ws")]
    cards = {c.chunk_id: c for c in schema_cards(build_catalog(rows))}
    holder = cards["schema:gameStateUpdate:field:rugRoyale"].text
    assert "Same fields as the rugRoyaleUpdate payload: activeEventId, currentEvent" in holder
    assert "schema:gameStateUpdate:field:rugRoyale.currentEvent.startTime" not in cards
    assert "schema:rugRoyaleUpdate:field:currentEvent.startTime" in cards or \
        "schema:rugRoyaleUpdate:field:currentEvent" in cards
