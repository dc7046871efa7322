"""all-MiniLM-L6-v2 on onnxruntime with the `tokenizers` tokenizer, from an export in the data root.

Why: `import sentence_transformers` (torch) takes 5-15 s here, onnxruntime and tokenizers
~0.1 s and a session ~0.2 s; a one-thread query takes about half of torch's time (see
bench/query_embedding.py). The export is made once by `indexer.onnx_export` (torch, onnx),
verified against sentence-transformers and kept in `DataPaths.models`:

    models/onnx/<model id>-<weights sha256[:16]>-e<EXPORT_VERSION>/
        model.onnx       BERT + mean pooling + L2 normalisation in one graph
        tokenizer.json   the model's own tokenizer (copied: the export stands alone)
        manifest.json    format, model identity, exporter versions, reference vectors

A new model (other weights digest) or a new export recipe (EXPORT_VERSION) is another
directory, so a stale export is never found. The reference vectors are sentence-
transformers' own output for a few probe texts: when the installed onnxruntime is not the
one that verified the export, the session is checked against them once (no torch needed)
and refused if it drifts. Nothing here imports torch.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.errors import EmbedderUnavailableError
from store.atomic import write_text_atomic

if TYPE_CHECKING:
    import numpy as np

# Bump when the exported graph or its inputs change: old exports are then never found.
EXPORT_VERSION = 1
MANIFEST_FORMAT = 1
# Cosine to sentence-transformers below which an export or a runtime is refused. Measured
# 0.9999996 on the probe texts; 1e-5 leaves room for kernels, none for a wrong graph.
MIN_COSINE = 0.99999
# Up to this many texts, `embed` runs each one unpadded through the query session: the
# vectors are then exactly the serving path's, and a server never builds a batch session
# for a debug note or one changed section.
SMALL_BATCH = 4
# One thread per query: on 2 shared cores a second intra-op thread spin-waits for a busy
# core and doubled the latency (bench/query_embedding.py); batches take every core.
QUERY_THREADS = 1

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_dir(models: Path, model_id: str, weights_sha256: str) -> Path:
    """Where the export of these weights by this recipe lives (it may not exist yet)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.split("/")[-1]) or "model"
    return models / "onnx" / f"{slug}-{weights_sha256[:16]}-e{EXPORT_VERSION}"


def read_manifest(directory: Path) -> dict[str, Any]:
    """The export's manifest; EmbedderUnavailableError if it is missing, broken or newer."""
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise EmbedderUnavailableError(f"no ONNX export at {directory}") from None
    except (OSError, ValueError) as exc:
        raise EmbedderUnavailableError(f"unreadable ONNX manifest {path}: {exc}") from exc
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    if not isinstance(fmt, int):
        raise EmbedderUnavailableError(f"ONNX manifest {path} has no format version")
    if fmt > MANIFEST_FORMAT:
        raise EmbedderUnavailableError(
            f"ONNX export {directory} was written by a newer rugs-replayer (manifest format "
            f"{fmt}, this one reads {MANIFEST_FORMAT}): upgrade, or re-export with "
            "`replayer index prepare-model --force`"
        )
    for name in ("model.onnx", "tokenizer.json"):
        if not (directory / name).is_file():
            raise EmbedderUnavailableError(f"ONNX export {directory} lacks {name}")
    return manifest  # type: ignore[no-any-return]


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest row-wise cosine between two stacks of vectors."""
    import numpy as np

    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float((num / den).min())


class OnnxEmbedder:
    """One exported model: a one-thread query session and, for big batches, an all-cores one."""

    def __init__(self, directory: Path, batch_size: int = 64, *,
                 query_threads: int = QUERY_THREADS, spin: bool = True) -> None:
        self.directory = directory
        self.batch_size = max(1, batch_size)
        self.manifest = read_manifest(directory)
        self._dim = int(self.manifest["dim"])
        self.max_seq_length = int(self.manifest["max_seq_length"])
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailableError(
                f"onnxruntime or tokenizers is not installed ({exc}): "
                "pip install onnxruntime tokenizers"
            ) from exc
        self._ort = ort
        tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # The file carries the model card's fixed 128-token padding and truncation;
        # sentence-transformers truncates at max_seq_length and pads per batch only.
        tok.no_padding()
        tok.enable_truncation(self.max_seq_length)
        self._tok = tok
        self._spin = spin  # intra-op threads spin-wait between operators (ORT's default)
        self._query = self._session(query_threads)  # 0: onnxruntime's default (all cores)
        self._batch: Any = None
        self._batch_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def runtime_version(self) -> str:
        return str(self._ort.__version__)

    def _session(self, threads: int) -> Any:
        ort = self._ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: no optimizer chatter on stderr
        if not self._spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(self.directory / "model.onnx"), opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a broken or foreign file: one clear error
            raise EmbedderUnavailableError(
                f"onnxruntime cannot load {self.directory / 'model.onnx'}: {exc}; re-export "
                "with `replayer index prepare-model --force`"
            ) from exc

    def _run(self, session: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import numpy as np

        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out = session.run(None, feeds)[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One text, unpadded, on the one-thread session: (dim,) float32 of unit length."""
        import numpy as np

        ids = np.asarray([self._tok.encode(text).ids], dtype=np.int64)
        out: np.ndarray = self._run(self._query, ids, np.ones_like(ids))[0]
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows of unit length; batches sorted by token length."""
        import numpy as np

        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        if len(texts) <= SMALL_BATCH:
            return np.stack([self.embed_query(t) for t in texts])
        encoded = [e.ids for e in self._tok.encode_batch(list(texts))]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        session = self._batch_session()
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            part = order[start:start + self.batch_size]
            width = len(encoded[part[0]])  # sorted: the first is the longest
            # Padded positions are masked out of attention and pooling: their id is irrelevant.
            ids = np.zeros((len(part), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(part):
                ids[row, :len(encoded[i])] = encoded[i]
                mask[row, :len(encoded[i])] = 1
            out[part] = self._run(session, ids, mask)
        return out

    def _batch_session(self) -> Any:
        with self._batch_lock:
            if self._batch is None:
                self._batch = self._session(0)  # 0: one thread per physical core
            return self._batch

    def check_runtime(self) -> float | None:
        """Against the export's reference vectors, once per onnxruntime version.

        Returns the cosine measured now, or None when this onnxruntime already verified
        the export. Raises EmbedderUnavailableError when the vectors drifted.
        """
        import numpy as np

        ref = self.manifest.get("reference") or {}
        verified = self.manifest.get("verified_onnxruntime") or []
        if self.runtime_version in verified:
            return None
        texts, vectors = ref.get("texts") or [], ref.get("vectors") or []
        if not texts or len(texts) != len(vectors):
            raise EmbedderUnavailableError(
                f"ONNX export {self.directory} has no reference vectors to check onnxruntime "
                f"{self.runtime_version} against: re-export with "
                "`replayer index prepare-model --force`"
            )
        got = np.stack([self.embed_query(t) for t in texts])
        cos = min_cosine(got, np.asarray(vectors, dtype=np.float32))
        if cos < MIN_COSINE:
            raise EmbedderUnavailableError(
                f"onnxruntime {self.runtime_version} gives vectors that differ from "
                f"sentence-transformers on the export's probe texts (cosine {cos:.6f} < "
                f"{MIN_COSINE}): re-export with `replayer index prepare-model --force` or "
                "set RUGS_EMBED_BACKEND=torch"
            )
        self.manifest["verified_onnxruntime"] = [*verified, self.runtime_version]
        try:  # remember it; a read-only data root just checks again next time
            write_text_atomic(self.directory / "manifest.json", json.dumps(self.manifest))
        except OSError:
            pass
        return cos
