"""Fixtures shared by the whole suite: one real embedding model per session, a fake one.

Tests that use `real_embedder` get all-MiniLM-L6-v2 as production runs it: exported to
ONNX once per session (that loads torch) into a session data root, then on onnxruntime;
mark them `@pytest.mark.slow`. `link_model_export` puts that export into another data
root (hard links: no second export). `fake_embedder` is a deterministic hashing embedder
(no model, no torch) for tests of indexing mechanics.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"


@pytest.fixture(scope="session")
def real_embedder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 embedder on its ONNX export, made once per test session."""
    from indexer.embedder import make_embedder
    from store.settings import Settings

    root = tmp_path_factory.mktemp("model-root")
    emb = make_embedder(Settings(model_id="all-MiniLM-L6-v2", data_dir=root))
    emb.prepare()  # type: ignore[attr-defined]
    emb.embed_query("warm up")
    assert emb.backend == "onnxruntime"  # type: ignore[attr-defined]
    return emb


def link_model_export(embedder: Any, data_dir: Path) -> Path:
    """Hard-link the embedder's ONNX export into another data root; the new directory."""
    src: Path = embedder.export_path()
    dst = data_dir / src.relative_to(embedder.paths.root)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if not (dst / f.name).exists():
            os.link(f, dst / f.name)
    return dst


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
