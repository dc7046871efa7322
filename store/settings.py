"""One settings object for the whole product, built once: flag > environment variable > default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "RUGS_"


def _split_paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p)


@dataclass(frozen=True)
class Settings:
    """Every tunable of the product. Build it with `Settings.load(**flags)`."""

    data_dir: Path = field(default_factory=lambda: Path("~/rugs_data").expanduser())
    # Writer buffering: flush after this many events or this many seconds, whichever first.
    flush_events: int = 100
    flush_seconds: float = 5.0
    max_payload_bytes: int = 1_000_000
    # Indexer
    context_roots: tuple[Path, ...] = ()
    model_path: Path | None = None
    model_id: str = "all-MiniLM-L6-v2"
    embed_batch_size: int = 64
    # Embedding runtime: "auto" (onnxruntime once the model is exported, else torch),
    # "onnx" (onnxruntime or an error) or "torch" (sentence-transformers always).
    embed_backend: str = "auto"
    # Hybrid search: "relative" (normalized score average) or "rrf" (reciprocal rank).
    hybrid_fusion: str = "relative"
    # Query sandbox
    sql_timeout_s: float = 10.0
    sql_max_rows: int = 500
    sql_max_chars: int = 20_000
    sql_memory_limit: str = "1GB"
    sql_threads: int = 2

    @classmethod
    def load(cls, **flags: Any) -> Settings:
        """Resolve every field: explicit flag (not None) > RUGS_<FIELD> env var > default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            flag = flags.get(f.name)
            if flag is not None:
                values[f.name] = _coerce(f.name, flag)
                continue
            env = os.environ.get(ENV_PREFIX + f.name.upper())
            if env not in (None, ""):
                values[f.name] = _coerce(f.name, env)
        unknown = set(flags) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, sub-commands)."""
        return replace(self, **{k: _coerce(k, v) for k, v in changes.items()})


def _coerce(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(value).expanduser()
    if name == "model_path":
        return None if value in (None, "") else Path(value).expanduser()
    if name == "context_roots":
        if isinstance(value, str):
            return _split_paths(value)
        return tuple(Path(v).expanduser() for v in value)
    if name in {"flush_events", "max_payload_bytes", "embed_batch_size", "sql_max_rows",
                "sql_max_chars", "sql_threads"}:
        return int(value)
    if name in {"flush_seconds", "sql_timeout_s"}:
        return float(value)
    return value
