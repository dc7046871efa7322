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
import os
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
# One intra-op thread: on 2 shared cores more threads spin-wait for a busy core and
# doubled a query's latency in the median round (bench/query_embedding.py); `embed` uses
# the cores by running several texts at once instead.
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


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Smallest row-wise cosine between two stacks of vectors."""
    import numpy as np

    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float((num / den).min())


class OnnxEmbedder:
    """One exported model on one single-threaded session: every text is embedded alone.

    Queries and indexing take the same path (one text, unpadded, one intra-op thread), so
    a stored vector is bit for bit what a query of the same text gets. `embed` spreads its
    texts over one caller thread per core (a run releases the GIL): 55.8 texts/s of
    CONTEXT.md sections against 34.7 for torch's padded batches and 46.7-54.2 for
    onnxruntime's own (all cores, batches of 16 or 64) in one run at load 2; the gap
    widens on busy cores (44-49 against 22-31 and 17-31 at load 3.3).
    """

    def __init__(self, directory: Path, *, query_threads: int = QUERY_THREADS,
                 spin: bool = True, callers: int | None = None) -> None:
        self.directory = directory
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
        self.tokenizer = tok
        self._callers = max(1, callers or _cores())
        self.session = self._session(query_threads, spin)  # 0 threads: ORT's default, all
        self._pool: Any = None
        self._pool_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def runtime_version(self) -> str:
        return str(self._ort.__version__)

    def _session(self, threads: int, spin: bool) -> Any:
        ort = self._ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: no optimizer chatter on stderr
        if not spin:  # intra-op threads sleep instead of spin-waiting between operators
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(self.directory / "model.onnx"), opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a broken or foreign file: one clear error
            raise EmbedderUnavailableError(
                f"onnxruntime cannot load {self.directory / 'model.onnx'}: {exc}; re-export "
                "with `replayer index prepare-model --force`"
            ) from exc

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The graph on (batch, sequence) token ids and attention mask: unit-length rows."""
        import numpy as np

        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out = self.session.run(None, feeds)[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One text, unpadded: (dim,) float32 of unit length."""
        import numpy as np

        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        out: np.ndarray = self.run(ids, np.ones_like(ids))[0]
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows of unit length, each exactly `embed_query`'s."""
        import numpy as np

        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        if len(texts) == 1 or self._callers == 1:
            return np.stack([self.embed_query(t) for t in texts])
        return np.stack(list(self._callers_pool().map(self.embed_query, texts)))

    def _callers_pool(self) -> Any:
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self._callers, thread_name_prefix="onnx-embed")
            return self._pool

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
