"""Protocol doc sections: cut by heading, tagged with the events and fields they document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chunkers.doc_sections import KIND_DOC, KIND_DOC_OUTLINE, doc_chunks, mentions, tag

SPEC = (Path(__file__).resolve().parents[1] / "fixtures" / "protocol_docs" / "claude-flow"
        / "knowledge" / "rugs-events" / "WEBSOCKET_EVENTS_SPEC.md")
KNOWN = {"playerUpdate": ["cash", "levelInfo.xp", "avgCost"],
         "requestSidebet": ["amount", "xPayout"], "success": ["success"],
         "standard/newTrade": ["amount"]}


def chunks() -> list:  # type: ignore[type-arg]
    return doc_chunks(SPEC.read_text(), path="claude-flow/knowledge/rugs-events/"
                      "WEBSOCKET_EVENTS_SPEC.md", source=str(SPEC), root="/docs", known=KNOWN)


def test_sections_are_tagged_with_the_event_their_heading_names_and_its_fields() -> None:
    by = {c.metadata["heading"]: c for c in chunks() if c.metadata["kind"] == KIND_DOC}
    core = next(c for h, c in by.items() if h.endswith("Core Trading (P0)"))
    assert core.metadata["event_name"] == "playerUpdate"  # from the heading trail
    assert "cash" in core.metadata["fields"] and "xPayout" not in core.metadata["fields"]
    assert core.metadata["path"].endswith("WEBSOCKET_EVENTS_SPEC.md")
    assert core.text.startswith("claude-flow/knowledge/rugs-events/WEBSOCKET_EVENTS_SPEC.md\n")
    side = next(c for h, c in by.items() if "requestSidebet" in h)
    assert side.metadata["event_name"] == "requestSidebet"
    assert set(side.metadata["fields"]) == {"amount", "xPayout"}
    taxonomy = next(c for c in chunks() if c.metadata["heading"].endswith("Category Taxonomy"))
    assert taxonomy.metadata["event_name"] is None  # many events: no primary one
    assert {"playerUpdate", "requestSidebet", "standard/newTrade"} <= set(
        taxonomy.metadata["events"])
    assert [c.metadata["kind"] for c in chunks()].count(KIND_DOC_OUTLINE) == 1


def test_plain_words_count_as_events_only_in_backticks_or_quotes() -> None:
    assert mentions("the `success` ACK", "success")
    assert mentions('{"success": true}', "success")
    assert not mentions("on success the bot", "success")
    assert mentions("after playerUpdate arrives", "playerUpdate")  # camelCase counts bare
    assert not mentions("myplayerUpdates", "playerUpdate")
    events, fields, primary = tag(["Flow"], "send `requestSidebet` with `xPayout`", KNOWN)
    assert (events, fields, primary) == (["requestSidebet"], ["xPayout"], "requestSidebet")


def test_the_header_variants_change_only_the_header() -> None:
    text = ("# Spec\n\nThis document specifies the events.\n\n## `playerUpdate`\n\n"
            "Carries `cash`, the balance.\n")
    kw: dict[str, Any] = {"path": "SPEC.md", "source": "/x/SPEC.md", "known": KNOWN}
    trail, summary, tags = (doc_chunks(text, header=h, **kw) for h in ("trail", "summary",
                                                                        "tags"))
    assert [c.chunk_id for c in trail] == [c.chunk_id for c in tags]
    first = next(i for i, c in enumerate(trail) if c.metadata["event_name"] == "playerUpdate")
    assert trail[first].text == "SPEC.md\nSpec > `playerUpdate`\n\nCarries `cash`, the balance."
    assert "(This document specifies the events.)" in summary[first].text
    assert "Documents playerUpdate; fields cash" in tags[first].text
    with pytest.raises(ValueError, match="unknown doc header"):
        doc_chunks(text, header="fancy", **kw)
