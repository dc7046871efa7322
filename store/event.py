"""Turn one event mapping into a validated row of its doc type's Arrow schema."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from store.errors import InvalidEventError
from store.paths import DOC_TYPES
from store.schema import DIRECTIONS, MONEY_COLUMNS, SCHEMA_VERSION, SOURCES, TYPED

REQUIRED = ("doc_type", "event_name", "ts", "source", "direction", "session_id", "seq", "raw_json")
OPTIONAL_STR = ("game_id", "player_id", "username")
_QUANTUM = Decimal(1).scaleb(-18)
# decimal(38,18) needs 38 significant digits; the default context has 28.
_CTX = Context(prec=38)
_MAX_MONEY = Decimal(10) ** 20
_INT32 = 2**31
_INT_KINDS = {"int32", "int64", "int16"}
_TYPED_KIND: dict[str, dict[str, str]] = {
    t: {f.name: str(f.type) for f in fields} for t, fields in TYPED.items()
}


def parse_ts(value: Any, name: str = "ts") -> datetime:
    """An aware UTC datetime from a datetime, an ISO-8601 string (naive = UTC) or epoch ms."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEventError(f"{name}: not an ISO-8601 timestamp: {value[:40]!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidEventError(f"{name}: not a finite epoch-ms number")
        dt = datetime.fromtimestamp(value / 1000.0, tz=UTC)
    else:
        raise InvalidEventError(
            f"{name}: expected datetime, ISO string or epoch ms, got {type(value).__name__}"
        )
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_money(value: Any, name: str) -> Decimal | None:
    """Exact decimal of a number: floats go through their shortest repr, never binary."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidEventError(f"{name}: expected a number, got a boolean")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | float | str):
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise InvalidEventError(f"{name}: not a number: {str(value)[:40]!r}") from None
    else:
        raise InvalidEventError(f"{name}: expected a number, got {type(value).__name__}")
    if not d.is_finite():
        raise InvalidEventError(f"{name}: not a finite number: {value!r}")
    if abs(d) >= _MAX_MONEY:
        raise InvalidEventError(f"{name}: {value!r} is out of range for decimal(38,18)")
    # Digits past the 18th decimal are rounded half-even (floats' repr never has more).
    return d.quantize(_QUANTUM, context=_CTX)


def _to_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidEventError(f"{name}: expected an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise InvalidEventError(f"{name}: expected an integer, got {type(value).__name__}")
    if not -_INT32 <= value < _INT32:
        raise InvalidEventError(f"{name}: {value} is out of range for int32")
    return value


def _to_bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidEventError(f"{name}: expected true/false, got {type(value).__name__}")


def _to_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidEventError(f"{name}: expected a string, got {type(value).__name__}")


def event_id_for(source: str, event_name: str, ts: datetime, raw_json: str) -> str:
    """Deterministic id of an event that has none of its own: same input, same id."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{source}\x1f{event_name}\x1f{ts.isoformat()}\x1f".encode())
    h.update(raw_json.encode())
    return h.hexdigest()


def normalize(
    ev: Mapping[str, Any], *, ingested_at: datetime, max_payload_bytes: int
) -> dict[str, Any]:
    """Validate one event mapping and return its row (column -> Python value).

    Raises InvalidEventError naming the first field that is wrong.
    """
    if not isinstance(ev, Mapping):
        raise InvalidEventError(f"an event must be a mapping, got {type(ev).__name__}")
    missing = [k for k in REQUIRED if ev.get(k) is None]
    if missing:
        raise InvalidEventError(f"missing required field(s): {', '.join(missing)}")
    doc_type = ev["doc_type"]
    if doc_type not in DOC_TYPES:
        raise InvalidEventError(
            f"unknown doc_type {doc_type!r}; expected one of {', '.join(DOC_TYPES)}"
        )
    source = ev["source"]
    if source not in SOURCES:
        raise InvalidEventError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    direction = ev["direction"]
    if direction not in DIRECTIONS:
        raise InvalidEventError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    event_name = ev["event_name"]
    if not isinstance(event_name, str) or not event_name:
        raise InvalidEventError("event_name must be a non-empty string")
    raw_json = ev["raw_json"]
    if not isinstance(raw_json, str):
        raise InvalidEventError(f"raw_json must be the payload text, got {type(raw_json).__name__}")
    size = len(raw_json) if raw_json.isascii() else len(raw_json.encode())
    if size > max_payload_bytes:
        raise InvalidEventError(
            f"payload of {event_name} is {size} bytes, over the limit of {max_payload_bytes}"
        )
    session_id = ev["session_id"]
    if not isinstance(session_id, str):
        raise InvalidEventError("session_id must be a string")
    seq = ev["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InvalidEventError(f"seq must be an integer, got {type(seq).__name__}")
    ts = parse_ts(ev["ts"])
    event_id = ev.get("event_id")
    if event_id is None:
        event_id = event_id_for(source, event_name, ts, raw_json)
    elif not isinstance(event_id, str) or not event_id:
        raise InvalidEventError("event_id must be a non-empty string")
    server_ts = ev.get("server_ts")
    row: dict[str, Any] = {
        "event_id": event_id,
        "session_id": session_id,
        "seq": seq,
        "doc_type": doc_type,
        "event_name": event_name,
        "ts": ts,
        "ingested_at": parse_ts(ev["ingested_at"], "ingested_at")
        if ev.get("ingested_at") is not None
        else ingested_at,
        "server_ts": None if server_ts is None else parse_ts(server_ts, "server_ts"),
        "source": source,
        "direction": direction,
        "raw_json": raw_json,
        "schema_version": SCHEMA_VERSION,
    }
    for k in OPTIONAL_STR:
        row[k] = _to_str(ev.get(k), k)
    money = MONEY_COLUMNS[doc_type]
    for name, kind in _TYPED_KIND[doc_type].items():
        v = ev.get(name)
        if name in money:
            row[name] = to_money(v, name)
        elif kind in _INT_KINDS:
            row[name] = _to_int(v, name)
        elif kind == "bool":
            row[name] = _to_bool(v, name)
        else:
            row[name] = _to_str(v, name)
    return row
