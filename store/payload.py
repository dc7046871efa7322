"""One stored payload: the traced wire form `[{"__trace": …}, payload]` unwrapped and typed.

Used by the catalog and the chunkers; `store.capture.unwrap_text` is its storing side.
"""

from __future__ import annotations

import json
from typing import Any

TRACE_KEYS = frozenset({"__trace", "traceparent", "tracestate"})


def is_trace(value: Any) -> bool:
    return isinstance(value, dict) and "__trace" in value


def trace_id(value: Any) -> str | None:
    """The trace id (second part of a W3C traceparent) of a trace argument, if any."""
    if isinstance(value, list) and value and is_trace(value[0]):
        value = value[0]
    if not is_trace(value):
        return None
    parts = str(value.get("traceparent", "")).split("-")
    return parts[1] if len(parts) >= 3 and parts[1] else None


def unwrap(data: Any) -> tuple[str, Any]:
    """(kind, payload) of one event's data, with the `[{"__trace": …}, payload]` form unwrapped.

    kind is `object`, `array`, `scalar`, `null` or `trace_only` (only the trace argument was
    captured, so the event's fields are unknown: never report the trace's keys as fields).
    """
    if isinstance(data, list) and data and is_trace(data[0]):
        rest = data[1:]
        if not rest:
            return "trace_only", None
        data = rest[0] if len(rest) == 1 else rest
    elif is_trace(data):
        extra = {k: v for k, v in data.items() if k not in TRACE_KEYS}
        if not extra:
            return "trace_only", None
        data = extra
    if data is None:
        return "null", None
    if isinstance(data, dict):
        return "object", data
    if isinstance(data, list):
        return "array", data
    return "scalar", data


def parse_raw(raw_json: str | None) -> tuple[str, Any]:
    """unwrap() over raw JSON text; text that is not JSON is kind `invalid`."""
    if raw_json is None or raw_json == "":
        return "null", None
    try:
        return unwrap(json.loads(raw_json))
    except (json.JSONDecodeError, RecursionError):
        return "invalid", None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
