"""The ONNX backend: same vectors for serving and indexing, a cached export, clear fallbacks."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer import onnx_embedder
from indexer.embedder import LocalModelEmbedder, make_embedder, prepare_model
from indexer.errors import EmbedderUnavailableError, ModelExportError
from indexer.onnx_embedder import MIN_COSINE, OnnxEmbedder, min_cosine, read_manifest
from store.paths import DataPaths
from store.settings import Settings
from tests.conftest import link_model_export

REPO = Path(__file__).resolve().parents[2]
MODEL = "all-MiniLM-L6-v2"
QUERIES = [
    "how much money does the logged-in player have",
    "rug",
    "Ünïcödé naïve café — which sidebet pays 5x?",
    "gameStateUpdate price tick leaderboard " * 80,  # past max_seq_length: truncated
]


def _local(tmp_path: Path, **settings: Any) -> LocalModelEmbedder:
    emb = make_embedder(Settings(data_dir=tmp_path / "data", model_id=MODEL, **settings))
    assert isinstance(emb, LocalModelEmbedder)
    return emb


def _model_copy(src: Path, dst: Path) -> Path:
    """A model directory of symlinks to the package's files (replace one to change it)."""
    for f in src.rglob("*"):
        if f.is_file():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, dst / f.relative_to(src))
    return dst


def _rewrite(path: Path, text: str) -> None:
    path.unlink()  # a symlink into the package: leave the package's file alone
    path.write_text(text)


@pytest.fixture
def torch_stub(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace the sentence-transformers backend's calls: fallbacks are tested without torch."""
    from indexer.embedder import SentenceTransformerEmbedder

    calls: list[str] = []

    def one(self: Any, text: str) -> np.ndarray:
        calls.append(text)
        return np.full(384, 1 / np.sqrt(384), dtype=np.float32)

    monkeypatch.setattr(SentenceTransformerEmbedder, "embed_query", one)
    monkeypatch.setattr(SentenceTransformerEmbedder, "embed",
                        lambda self, texts: np.stack([one(self, t) for t in texts]))
    return calls


# -- fallbacks: decided without loading any model ------------------------------------------


def test_without_an_export_a_query_falls_back_to_torch_and_names_the_fix(
        tmp_path: Path, torch_stub: list[str], caplog: pytest.LogCaptureFixture) -> None:
    emb = _local(tmp_path)
    with caplog.at_level(logging.WARNING, logger="rugs.embedder"):
        emb.embed_query("where is the cash balance")
        emb.embed_query("and again")
    assert torch_stub == ["where is the cash balance", "and again"]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "replayer index prepare-model" in said[0], said
    assert "sentence-transformers" in said[0]
    assert not (tmp_path / "data" / "models").exists()  # serving never exports
    assert emb.describe()["fallback_reason"] and emb.backend != "onnxruntime"


def test_missing_onnxruntime_falls_back_with_the_install_command(
        tmp_path: Path, torch_stub: list[str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    emb = _local(tmp_path)
    with caplog.at_level(logging.WARNING, logger="rugs.embedder"):
        vecs = emb.embed(["a", "b"])  # the build path: no export without onnxruntime either
    assert vecs.shape == (2, 384) and torch_stub == ["a", "b"]
    assert "pip install onnxruntime" in caplog.text


def test_an_impossible_export_falls_back_on_the_build_path_and_fails_prepare(
        tmp_path: Path, torch_stub: list[str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # the exporter's dependency is missing
    emb = _local(tmp_path)
    with caplog.at_level(logging.WARNING, logger="rugs.embedder"):
        emb.embed(["one text"])
    assert torch_stub == ["one text"]
    assert "cannot export" in caplog.text and "pip install onnx" in caplog.text
    with pytest.raises(ModelExportError, match="onnx is not installed.*pip install onnx"):
        prepare_model(Settings(data_dir=tmp_path / "data", model_id=MODEL))
    assert not list((tmp_path / "data" / "models" / "onnx").glob("all-MiniLM*"))


def test_backend_onnx_refuses_to_fall_back(tmp_path: Path, torch_stub: list[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUGS_EMBED_BACKEND", "onnx")
    emb = make_embedder(Settings.load(data_dir=tmp_path / "data", model_id=MODEL))
    with pytest.raises(EmbedderUnavailableError, match="prepare-model.*no fallback"):
        emb.embed_query("x")
    assert torch_stub == []


def test_backend_torch_never_looks_for_an_export(tmp_path: Path, torch_stub: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUGS_EMBED_BACKEND", "torch")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    emb = make_embedder(Settings.load(data_dir=tmp_path / "data", model_id=MODEL))
    emb.embed(["a", "b", "c", "d", "e", "f"])
    emb.embed_query("q")
    assert len(torch_stub) == 7
    assert emb.describe()["fallback_reason"] is None  # type: ignore[attr-defined]


def test_an_unknown_backend_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailableError, match="unknown embedding backend 'gpu'"):
        make_embedder(Settings(data_dir=tmp_path, model_id=MODEL, embed_backend="gpu"))


def test_only_mean_pooled_normalized_models_are_exported(tmp_path: Path) -> None:
    from indexer.onnx_export import export_model

    model = _model_copy(_local(tmp_path).model_dir, tmp_path / "cls-model")
    pooling = model / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text())
    _rewrite(pooling, json.dumps({**cfg, "pooling_mode_mean_tokens": False,
                                  "pooling_mode_cls_token": True}))
    with pytest.raises(ModelExportError, match="only Transformer -> mean pooling"):
        export_model(model, tmp_path / "out", model_id="x", weights_sha256="0" * 64)


def test_a_manifest_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "export"
    d.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (d / name).write_text("")
    (d / "manifest.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(EmbedderUnavailableError, match="newer rugs-replayer.*--force"):
        read_manifest(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(EmbedderUnavailableError, match="unreadable ONNX manifest"):
        read_manifest(d)


def test_the_export_directory_names_the_weights_and_the_recipe(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a = onnx_embedder.export_dir(tmp_path, "sentence-transformers/all-MiniLM-L6-v2", "ab" * 32)
    assert a == tmp_path / "onnx" / f"all-MiniLM-L6-v2-{'ab' * 8}-e{onnx_embedder.EXPORT_VERSION}"
    assert onnx_embedder.export_dir(tmp_path, MODEL, "cd" * 32) != a  # other weights
    monkeypatch.setattr(onnx_embedder, "EXPORT_VERSION", onnx_embedder.EXPORT_VERSION + 1)
    assert onnx_embedder.export_dir(tmp_path, "sentence-transformers/all-MiniLM-L6-v2",
                                    "ab" * 32) != a  # a new recipe


# -- the real export -------------------------------------------------------------------------


@pytest.mark.slow
def test_serving_and_indexing_give_the_same_vectors_as_sentence_transformers(
        real_embedder: LocalModelEmbedder) -> None:
    others = [f"filler text number {i} about playerUpdate cash" for i in range(9)]
    indexed = real_embedder.embed([*others, *QUERIES])  # the build path, texts in parallel
    reference = real_embedder.torch.embed(QUERIES)  # sentence-transformers on torch
    for i, q in enumerate(QUERIES):
        served = real_embedder.embed_query(q)
        assert served.dtype == np.float32 and served.shape == (384,)
        assert np.array_equal(served, indexed[len(others) + i])  # bit for bit
        assert float(served @ reference[i]) >= MIN_COSINE
        assert float(real_embedder.torch.embed_query(q) @ served) >= MIN_COSINE


@pytest.mark.slow
def test_the_export_is_made_once_and_found_by_the_weights_digest(
        real_embedder: LocalModelEmbedder, tmp_path: Path) -> None:
    again = real_embedder.prepare()
    assert "export_s" not in again  # found, not exported again
    assert again["weights_sha256"].startswith(real_embedder.fingerprint()["weights_sha256"])
    assert again["verified_onnxruntime"] and again["min_cosine"] >= MIN_COSINE
    # The same weights under another data root: no export there until one is linked or made.
    other = _local(tmp_path)
    assert other.export_path().name == real_embedder.export_path().name
    assert not (other.export_path() / "manifest.json").exists()
    link_model_export(real_embedder, other.paths.root)
    assert other.embed_query("cash balance").shape == (384,) and other.backend == "onnxruntime"
    # Other weights (here: a changed config.json) are another export that does not exist.
    model = _model_copy(real_embedder.model_dir, tmp_path / "model-copy")
    _rewrite(model / "config.json", (model / "config.json").read_text() + "\n")
    changed = LocalModelEmbedder(model, MODEL, paths=other.paths)
    assert changed.export_path() != other.export_path()


@pytest.mark.slow
def test_a_new_onnxruntime_is_checked_once_against_the_reference_vectors(
        real_embedder: LocalModelEmbedder, tmp_path: Path) -> None:
    d = link_model_export(real_embedder, tmp_path / "root")
    manifest = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").unlink()
    (d / "manifest.json").write_text(json.dumps({**manifest, "verified_onnxruntime": ["0.1"]}))
    emb = OnnxEmbedder(d)
    cos = emb.check_runtime()
    assert cos is not None and cos >= MIN_COSINE
    assert emb.runtime_version in read_manifest(d)["verified_onnxruntime"]
    assert OnnxEmbedder(d).check_runtime() is None  # remembered
    ref = manifest["reference"]
    bad = {**manifest, "verified_onnxruntime": [],
           "reference": {**ref, "vectors": [[-x for x in v] for v in ref["vectors"]]}}
    (d / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(EmbedderUnavailableError, match="differ from sentence-transformers"):
        OnnxEmbedder(d).check_runtime()


@pytest.mark.slow
def test_the_reference_vectors_are_sentence_transformers_own(
        real_embedder: LocalModelEmbedder) -> None:
    ref = read_manifest(real_embedder.export_path())["reference"]
    st = real_embedder.torch.embed(ref["texts"])
    assert min_cosine(st, np.asarray(ref["vectors"], dtype=np.float32)) >= 0.9999999


_SEARCH_CHILD = """
import json, sys
from store.settings import Settings
from indexer.search import Searcher
s = Searcher(Settings.load(data_dir=sys.argv[1], context_roots=sys.argv[2]))
hits = s.search("which exit code blocks the tool call", table="code_context", k=3)
print(json.dumps({"top": hits[0].source, "backend": s.embedder.backend,
                  "torch": "torch" in sys.modules,
                  "sentence_transformers": "sentence_transformers" in sys.modules}))
"""


@pytest.mark.slow
def test_a_search_with_the_export_never_imports_torch(real_embedder: LocalModelEmbedder,
                                                      tmp_path: Path, ctx_root: Path) -> None:
    from indexer.build import build_incremental

    data = tmp_path / "data"
    link_model_export(real_embedder, data)
    settings = Settings(data_dir=data, context_roots=(ctx_root,), model_id=MODEL)
    build_incremental(settings, "code_context", embedder=real_embedder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUGS_")}
    out = subprocess.run([sys.executable, "-c", _SEARCH_CHILD, str(data), str(ctx_root)],
                         cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True,
                         text=True, check=True, timeout=120)
    got = json.loads(out.stdout)
    assert got == {"top": got["top"], "backend": "onnxruntime", "torch": False,
                   "sentence_transformers": False}, out.stderr
    assert got["top"].endswith("hooks/CONTEXT.md")


def test_data_paths_keep_models_under_the_data_root(tmp_path: Path) -> None:
    assert DataPaths(tmp_path).models == tmp_path / "models"
