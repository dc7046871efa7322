"""Fixtures shared by the whole suite: one real embedding model per session, a fake one.

Tests that use `real_embedder` load all-MiniLM-L6-v2 (torch) once per session: mark them
`@pytest.mark.slow`. `fake_embedder` is a deterministic hashing embedder (no model, no
torch) for tests of indexing mechanics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 embedder, loaded (and warmed) once per test session."""
    from indexer.embedder import make_embedder
    from store.settings import Settings

    emb = make_embedder(Settings(model_id="all-MiniLM-L6-v2"))
    emb.embed_query("warm up")
    return emb


@pytest.fixture
def fake_embedder():  # type: ignore[no-untyped-def]
    """A fresh deterministic 64-d hashing embedder that counts the texts it embeds."""
    from indexer.embedder import HashingEmbedder

    return HashingEmbedder(64)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real captures, legacy recordings, CONTEXT.md corpus); skip if absent."""
    path = (SHARED / "data").resolve()
    if not path.is_dir():
        pytest.skip("../shared/data is not present")
    return path
