"""Export the local sentence-transformers model to ONNX once, checked against sentence-transformers.

Needs torch, transformers, sentence-transformers and the `onnx` package; runs from the
installed weights only (nothing is downloaded). The graph is BERT with eager attention
(the plain pattern onnxruntime's fusions know), mean pooling over the attention mask and
L2 normalisation: what modules.json of all-MiniLM-L6-v2 says sentence-transformers does;
other module stacks are refused rather than exported wrong. The export is written to a
temporary directory, checked (cosine >= MIN_COSINE to sentence-transformers on probe texts,
one at a time and in parallel, through the serving code itself) and only then
renamed into place, under a lock so two processes never export at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from indexer.errors import ModelExportError
from indexer.onnx_embedder import (
    EXPORT_VERSION,
    MANIFEST_FORMAT,
    MIN_COSINE,
    OnnxEmbedder,
    min_cosine,
    read_manifest,
)

OPSET = 17
# Stored with sentence-transformers' vectors for them: a later onnxruntime is checked
# against these without torch. Short and long, camelCase, punctuation, non-ASCII, and one
# past max_seq_length (truncation).
PROBE_TEXTS = (
    "what fields are in playerUpdate? the player's cash balance",
    "rug",
    "gameStateUpdate carries the tick, price and the leaderboard of every active player; "
    "a rug ends the game and sidebets pay 5x when the game ends inside their window.",
    "Ünïcödé naïve café — 日本語 🚀 sidebet payout",
    "tick price multiplier " * 120,
)
_SUPPORTED_MODULES = ["sentence_transformers.models.Transformer",
                      "sentence_transformers.models.Pooling",
                      "sentence_transformers.models.Normalize"]
INSTALL_EXPORT = "pip install onnx torch==2.13.0 sentence-transformers"


def _check_modules(model_dir: Path) -> None:
    """Only Transformer -> mean Pooling -> Normalize is exported (what the graph computes)."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelExportError(f"{model_dir} is not a sentence-transformers model "
                               f"directory ({exc})") from exc
    types = [m.get("type") for m in modules]
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if types != _SUPPORTED_MODULES or modes != ["pooling_mode_mean_tokens"]:
        raise ModelExportError(
            f"the model in {model_dir} is {types} with pooling {modes}: only "
            "Transformer -> mean pooling -> Normalize models are exported to ONNX"
        )
    if not (model_dir / "tokenizer.json").is_file():
        raise ModelExportError(f"{model_dir} has no tokenizer.json (a fast tokenizer file)")


def _imports() -> tuple[Any, Any]:
    try:
        import onnx
        import torch
    except ImportError as exc:
        raise ModelExportError(
            f"cannot export the model to ONNX: {exc.name or exc} is not installed "
            f"({INSTALL_EXPORT})"
        ) from exc
    return torch, onnx


def _graph_module(torch: Any, model_dir: Path) -> Any:
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True,
                                     attn_implementation="eager").eval()

    class MeanPooledBert(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return MeanPooledBert().eval()


def export_model(model_dir: Path, out: Path, *, model_id: str, weights_sha256: str,
                 force: bool = False) -> dict[str, Any]:
    """Make `out` (see `onnx_embedder.export_dir`) unless a valid export is there; its manifest.

    The manifest gains `export_s` when this call exported.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(out.parent / ".export.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # another exporter finishes first; then reuse
        if not force:
            try:
                return read_manifest(out)
            except Exception:  # noqa: BLE001 - absent or unusable: export anew
                pass
        return _export_locked(model_dir, out, model_id=model_id, weights_sha256=weights_sha256)
    finally:
        os.close(lock_fd)


def _export_locked(model_dir: Path, out: Path, *, model_id: str,
                   weights_sha256: str) -> dict[str, Any]:
    _check_modules(model_dir)
    torch, onnx = _imports()
    t0 = time.perf_counter()
    from indexer.embedder import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder(model_dir, model_id)
    st_model = reference._model()  # noqa: SLF001 - the loader with its offline guards
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        module = _graph_module(torch, model_dir)
        dummy = torch.ones((2, 8), dtype=torch.int64)
        axes = {name: {0: "batch", 1: "sequence"} for name in
                ("input_ids", "attention_mask", "token_type_ids")}
        axes["sentence_embedding"] = {0: "batch"}
        with warnings.catch_warnings(), torch.inference_mode():
            # Tracer warnings are about shapes the trace fixes; the checks below are what
            # decides whether the graph is right.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (dummy, dummy, torch.zeros_like(dummy)), str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"], dynamic_axes=axes,
                opset_version=OPSET, do_constant_folding=True, dynamo=False,
            )
        onnx.checker.check_model(str(tmp / "model.onnx"))
        shutil.copyfile(model_dir / "tokenizer.json", tmp / "tokenizer.json")
        texts = list(PROBE_TEXTS)
        ref = reference.embed(texts)
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "model_id": model_id,
            "weights_sha256": weights_sha256,
            "export_version": EXPORT_VERSION,
            "source_dir": str(model_dir),
            "dim": int(ref.shape[1]),
            "max_seq_length": int(st_model.max_seq_length),
            "opset": OPSET,
            "exporter": {"torch": torch.__version__, "onnx": onnx.__version__,
                         "transformers": _version("transformers"),
                         "sentence_transformers": _version("sentence_transformers")},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "verified_onnxruntime": [],
            "reference": {"texts": texts, "vectors": [[round(float(x), 8) for x in row]
                                                      for row in ref]},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        cos = _verify(tmp, texts, ref)
        runtime = OnnxEmbedder(tmp)
        manifest["verified_onnxruntime"] = [runtime.runtime_version]
        manifest["min_cosine"] = round(cos, 8)
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        old = out.parent / f".{out.name}.{os.getpid()}.old"
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest["export_s"] = round(time.perf_counter() - t0, 2)
    return manifest


def _verify(directory: Path, texts: list[str], ref: Any) -> float:
    """Cosine of the serving code's vectors to sentence-transformers', one by one and in
    parallel (the indexing path)."""
    import numpy as np

    runtime = OnnxEmbedder(directory, callers=2)
    single = np.stack([runtime.embed_query(t) for t in texts])
    cos = min(min_cosine(single, ref), min_cosine(runtime.embed(texts), ref))
    if cos < MIN_COSINE:
        raise ModelExportError(
            f"the ONNX export differs from sentence-transformers (cosine {cos:.6f} < "
            f"{MIN_COSINE}); it was not kept"
        )
    return cos


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module.replace("_", "-"))
    except PackageNotFoundError:
        return "unknown"
