"""One settings object for the whole product, built once: flag > environment variable > default."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from store.errors import SettingsError

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
    # The users' protocol docs (markdown, e.g. WEBSOCKET_EVENTS_SPEC.md): indexed into the
    # events table and joined with the catalog (documented vs observed). None: no docs.
    protocol_docs: Path | None = None
    model_path: Path | None = None
    model_id: str = "all-MiniLM-L6-v2"
    embed_batch_size: int = 64
    # Embedding runtime: "auto" (onnxruntime once the model is exported, else torch),
    # "onnx" (onnxruntime or an error) or "torch" (sentence-transformers always).
    embed_backend: str = "auto"
    # Hybrid search: "filled" (normalized score average, every candidate scored on both
    # sides), "relative" (normalized score average, 0 where a list lacks the hit) or "rrf"
    # (reciprocal rank), over max(100, k * hybrid_candidates) candidates from each list.
    hybrid_fusion: str = "filled"
    hybrid_candidates: int = 1
    # Query sandbox
    sql_timeout_s: float = 10.0
    sql_max_rows: int = 500
    sql_max_chars: int = 20_000
    sql_memory_limit: str = "1GB"
    sql_threads: int = 2

    @classmethod
    def load(cls, **flags: Any) -> Settings:
        """Resolve every field: explicit flag (not None) > RUGS_<FIELD> env var > default.

        Raises SettingsError, one line naming the variable (or flag) and what it needs.
        """
        unknown = set(flags) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            flag = flags.get(f.name)
            if flag is not None:
                values[f.name] = _coerce(f.name, flag, f"setting {f.name}")
                continue
            var = env_var(f.name)
            env = os.environ.get(var)
            if env not in (None, ""):
                values[f.name] = _coerce(f.name, env, var)
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, sub-commands)."""
        return replace(self, **{k: _coerce(k, v, f"setting {k}") for k, v in changes.items()})


def env_var(name: str) -> str:
    """The environment variable of a settings field: RUGS_<FIELD>."""
    return ENV_PREFIX + name.upper()


# Numeric fields: (type, smallest allowed value, what the number counts).
_INTS: dict[str, tuple[int, str]] = {
    "flush_events": (1, "events per flush"),
    "max_payload_bytes": (1, "bytes"),
    "embed_batch_size": (1, "texts per batch"),
    "sql_max_rows": (1, "rows"),
    "sql_max_chars": (1, "characters"),
    "sql_threads": (1, "threads"),
    "hybrid_candidates": (1, "candidates per list"),
}
_FLOATS: dict[str, str] = {"flush_seconds": "seconds", "sql_timeout_s": "seconds"}
_CHOICES: dict[str, tuple[str, ...]] = {"hybrid_fusion": ("filled", "relative", "rrf"),
                                        "embed_backend": ("auto", "onnx", "torch")}


def _coerce(name: str, value: Any, source: str) -> Any:
    """The typed value of one field; SettingsError naming `source` when it does not fit."""
    if name == "data_dir":
        return Path(value).expanduser()
    if name in ("model_path", "protocol_docs"):
        return None if value in (None, "") else Path(value).expanduser()
    if name == "context_roots":
        if isinstance(value, str):
            return _split_paths(value)
        return tuple(Path(v).expanduser() for v in value)
    if name in _INTS:
        minimum, unit = _INTS[name]
        try:
            n = value if isinstance(value, int) and not isinstance(value, bool) else int(
                str(value).strip().replace("_", ""))
        except ValueError:
            raise SettingsError(
                f"{source}={value!r} is not a whole number ({unit}, at least {minimum})"
            ) from None
        if n < minimum:
            raise SettingsError(f"{source}={value!r} must be at least {minimum} ({unit})")
        return n
    if name in _FLOATS:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise SettingsError(
                f"{source}={value!r} is not a number ({_FLOATS[name]}, above 0)"
            ) from None
        if not math.isfinite(x) or x <= 0:
            raise SettingsError(f"{source}={value!r} must be a number above 0 ({_FLOATS[name]})")
        return x
    if name in _CHOICES:
        allowed = _CHOICES[name]
        if value not in allowed:
            raise SettingsError(f"{source}={value!r} is not one of {', '.join(allowed)}")
        return value
    return value
