"""The Chunk contract: content hash of the text, metadata hash, unique ids."""

from __future__ import annotations

import pytest

from chunkers.chunk import Chunk, ensure_unique_ids
from chunkers.errors import DuplicateChunkIdError


def test_content_hash_depends_on_text_only() -> None:
    a = Chunk("a", "same text", "s1", {"k": 1})
    b = Chunk("b", "same text", "s2", {"k": 2})
    assert a.content_hash == b.content_hash
    assert Chunk("a", "other", "s1").content_hash != a.content_hash


def test_metadata_hash_changes_with_metadata_or_source_but_not_key_order() -> None:
    a = Chunk("a", "t", "s", {"x": 1, "y": [1, 2]})
    assert a.metadata_hash == Chunk("a", "t", "s", {"y": [1, 2], "x": 1}).metadata_hash
    assert a.metadata_hash != Chunk("a", "t", "s", {"x": 2, "y": [1, 2]}).metadata_hash
    assert a.metadata_hash != Chunk("a", "t", "s2", {"x": 1, "y": [1, 2]}).metadata_hash


def test_duplicate_ids_are_refused_naming_the_id() -> None:
    with pytest.raises(DuplicateChunkIdError, match="'x'"):
        ensure_unique_ids([Chunk("x", "1", "s"), Chunk("x", "2", "s")])
