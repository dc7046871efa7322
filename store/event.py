"""The one validation: an event mapping becomes a row of its doc type's Arrow schema, or is refused.

Every input (captures, stdin, `--follow`, the legacy backfill, direct `EventWriter` calls)
gets its verdict here: the value rules (what a price, a tick, a time, a text is) are these
functions and no others, so one record gets the same verdict whichever path it came by.
A record that lands in several doc types is validated whole (`normalize_record`);
`validate_record` returns it as a `ValidRecord`, which the writer stores without validating
it a second time (it validates everything else it is handed).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
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
MAX_MONEY = Decimal(10) ** 20
INT32 = 2**31
INT64 = 2**63
# Payloads nested deeper than this are refused: real ones reach 6 levels, and every
# consumer of stored JSON (catalog, chunkers, DuckDB, json.loads) stays far from its limits.
MAX_JSON_DEPTH = 64
# Counts, ticks and prices (multipliers) cannot be negative; balances and PnL can.
NON_NEGATIVE = frozenset({
    "tick", "cooldown_timer", "trade_count", "duration_ticks", "rug_tick", "start_tick",
    "sidebet_count", "price", "peak", "final_price",
})
_INT_KINDS = {"int32", "int64", "int16"}
_TYPED_KIND: dict[str, dict[str, str]] = {
    t: {f.name: str(f.type) for f in fields} for t, fields in TYPED.items()
}
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_KEEP_QUOTES_BRACKETS = {c: None for c in range(128) if chr(c) not in '"[]{}'}
_NOT_QUOTE_OR_BRACKET = re.compile(r'[^"\[\]{}]+')
_NOT_QUOTE_OR_BRACKET_BYTES = bytes(c for c in range(256) if chr(c) not in '"[]{}')
_INNERMOST = re.compile(r"\{\}|\[\]")


# -- values ---------------------------------------------------------------------------------


def check_text(value: str, name: str) -> str:
    """`value` if it is valid Unicode (storable as UTF-8); lone surrogates are refused."""
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        raise InvalidEventError(
            f"{name} is not valid Unicode: it holds a lone surrogate ({ascii(bad)[1:-1]})"
        ) from None
    return value


def parse_ts(value: Any, name: str = "ts", naive_tz: tzinfo | None = None) -> datetime:
    """An aware UTC datetime from a datetime, an ISO-8601 string or epoch milliseconds.

    Naive times are read in `naive_tz` (default UTC). Times that cannot be represented in
    UTC (year 9999 with a negative offset, epoch ms beyond year 9999) are refused.
    """
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, str):
            try:
                dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidEventError(
                    f"{name} is not an ISO-8601 timestamp: {value[:40]!r}"
                ) from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise InvalidEventError(f"{name} is not a finite epoch-ms number")
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        else:
            raise InvalidEventError(
                f"{name} is missing or not a timestamp (expected an ISO-8601 string or epoch "
                f"ms, got {type(value).__name__})"
            )
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=naive_tz or UTC)
        return dt.astimezone(UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidEventError(f"{name} {str(value)[:40]!r} is outside the representable "
                                "range of times") from None


def to_money(value: Any, name: str, *, minimum: Decimal | None = None) -> Decimal | None:
    """Exact decimal of a number or a decimal string: floats via their shortest repr."""
    if value is None:
        return None
    if type(value) is float:
        d = Decimal(repr(value))  # NaN and infinities are caught below
    elif isinstance(value, bool):
        raise InvalidEventError(f"{name} is not a number: {value!r}")
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | float | str):
        try:
            d = Decimal(value if isinstance(value, str) else str(value))
        except (InvalidOperation, ValueError):
            raise InvalidEventError(f"{name} is not a number: {str(value)[:40]!r}") from None
    else:
        raise InvalidEventError(f"{name} is not a number: {type(value).__name__}")
    if not d.is_finite():
        raise InvalidEventError(f"{name} is not a finite number: {str(value)[:40]!r}")
    if abs(d) >= MAX_MONEY:
        raise InvalidEventError(f"{name} {str(value)[:40]!r} is out of range for decimal(38,18)")
    if minimum is not None and d < minimum:
        raise InvalidEventError(f"{name} cannot be negative: {str(value)[:40]!r}")
    # Digits past the 18th decimal are rounded half-even (floats' repr never has more).
    return d.quantize(_QUANTUM, context=_CTX)


def to_int(value: Any, name: str, *, bits: int = 32, minimum: int | None = None) -> int | None:
    """An integer that fits `bits` (integral floats accepted); booleans and text refused."""
    if value is None:
        return None
    if type(value) is not int:
        if isinstance(value, bool):
            raise InvalidEventError(f"{name} is not an integer: {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise InvalidEventError(f"{name} is not an integer: {str(value)[:40]!r}")
    limit = 1 << (bits - 1)
    if not -limit <= value < limit:
        raise InvalidEventError(f"{name} {value} is out of range for int{bits}")
    if minimum is not None and value < minimum:
        raise InvalidEventError(f"{name} cannot be negative: {value}")
    return value


def to_bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidEventError(f"{name} is not true/false: {str(value)[:40]!r}")


def to_str(value: Any, name: str) -> str | None:
    """Text (integers become their decimal text); lone surrogates refused."""
    if value is None:
        return None
    if isinstance(value, str):
        return check_text(value, name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidEventError(f"{name} is not a string: {type(value).__name__}")


def _converter(doc_type: str, column: str) -> Callable[[Any], Any]:
    kind = _TYPED_KIND[doc_type][column]
    if column in MONEY_COLUMNS[doc_type]:
        floor = Decimal(0) if column in NON_NEGATIVE else None
        return lambda v: to_money(v, column, minimum=floor)
    if kind in _INT_KINDS:
        least = 0 if column in NON_NEGATIVE else None
        bits = int(kind[3:])
        return lambda v: to_int(v, column, bits=bits, minimum=least)
    if kind == "bool":
        return lambda v: to_bool(v, column)
    return lambda v: to_str(v, column)


# Per doc type, (column, validator) of every typed column, in schema order.
_CONVERTERS: dict[str, tuple[tuple[str, Callable[[Any], Any]], ...]] = {
    t: tuple((c, _converter(t, c)) for c in _TYPED_KIND[t]) for t in DOC_TYPES
}
_CONVERTER_OF = {t: dict(cs) for t, cs in _CONVERTERS.items()}


def column_value(doc_type: str, column: str, value: Any) -> Any:
    """The validated value of one typed column of a doc type (store.schema.TYPED)."""
    return _CONVERTER_OF[doc_type][column](value)


def json_depth(text: str) -> int:
    """How deeply a JSON text nests objects and arrays (brackets inside strings not counted).

    No recursion and no regex over the whole text (on the real captures' large payloads
    an eighth of the cost of the former string-stripping regex): escaped backslashes, then
    escaped quotes are dropped, so every string is `"…"` with no quote inside; only quotes
    and brackets are kept (a C-speed translate), adjacent quotes dropped (an empty pair: it
    changes no quote's parity, so what is inside a string stays inside), and the brackets
    between strings are the even pieces of a split on the quote. Counting stops past the
    limit.
    """
    if "\\" in text:
        # Left to right, a run of backslashes is pairs and at most one escaping the next
        # character: drop the pairs, then escaped quotes; other escapes hold no quote.
        text = text.replace("\\\\", "").replace('\\"', "")
    if text.isascii():
        kept = text.encode().translate(None, _NOT_QUOTE_OR_BRACKET_BYTES).replace(
            b'""', b"").decode()
    else:  # str.translate keeps characters its table does not name: drop them too
        kept = _NOT_QUOTE_OR_BRACKET.sub("", text.translate(_KEEP_QUOTES_BRACKETS))
        kept = kept.replace('""', "")
    pieces = kept.split('"')
    brackets = "".join(pieces[::2])
    if len(pieces) % 2 == 0:  # an unterminated string (not JSON): count its brackets too
        brackets += pieces[-1]
    depth = 0
    while brackets:
        shorter = _INNERMOST.sub("", brackets)  # one level: every innermost pair at once
        if shorter == brackets:  # unbalanced (not JSON): the openers left can still nest
            return depth + brackets.count("{") + brackets.count("[")
        brackets = shorter
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return depth
    return depth


def lone_surrogate_escape(text: str) -> str | None:
    r"""The first `\uXXXX` escape in a JSON text that is an unpaired UTF-16 surrogate, if any."""
    if "\\u" not in text:
        return None
    pending: re.Match[str] | None = None
    for m in _ESCAPE.finditer(text):
        code = m.group(1)
        unit = int(code, 16) if code else -1
        if pending is not None:
            if 0xDC00 <= unit <= 0xDFFF and m.start() == pending.end():
                pending = None
                continue
            return pending.group(0)
        if 0xD800 <= unit <= 0xDBFF:
            pending = m
        elif 0xDC00 <= unit <= 0xDFFF:
            return m.group(0)
    return pending.group(0) if pending is not None else None


def check_payload(raw_json: str, max_payload_bytes: int, name: str = "payload") -> None:
    """Refuse a payload text that is too large, nested too deep or not valid Unicode."""
    if raw_json.isascii():
        size = len(raw_json)
    else:
        check_text(raw_json, name)
        size = len(raw_json.encode())
    if size > max_payload_bytes:
        raise InvalidEventError(
            f"{name} is {size} bytes, over the limit of {max_payload_bytes} "
            "(RUGS_MAX_PAYLOAD_BYTES)"
        )
    # Nesting cannot exceed the number of opening brackets: most payloads stop here.
    if (raw_json.count("{") + raw_json.count("[") > MAX_JSON_DEPTH
            and json_depth(raw_json) > MAX_JSON_DEPTH):
        raise InvalidEventError(f"{name} nests deeper than {MAX_JSON_DEPTH} levels")
    bad = lone_surrogate_escape(raw_json)
    if bad is not None:
        raise InvalidEventError(
            f"{name} holds the escape {bad}, a lone UTF-16 surrogate: not valid Unicode"
        )


def event_id_for(source: str, event_name: str, ts: datetime, raw_json: str) -> str:
    """Deterministic id of an event that has none of its own: same input, same id.

    `surrogatepass` so an id can be computed for any text, also one validation refuses.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{source}\x1f{event_name}\x1f{ts.isoformat()}\x1f".encode("utf-8", "surrogatepass"))
    h.update(raw_json.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


# -- rows and records -----------------------------------------------------------------------


def normalize(
    ev: Mapping[str, Any], *, ingested_at: datetime, max_payload_bytes: int,
    payload_checked: bool = False,
) -> dict[str, Any]:
    """Validate one event mapping and return its row (column -> Python value).

    Raises InvalidEventError naming the first field that is wrong. `payload_checked`: the
    caller already ran `check_payload` on this raw_json (a record's rows share it).
    """
    if type(ev) is not dict and not isinstance(ev, Mapping):
        raise InvalidEventError(f"an event must be a mapping, got {type(ev).__name__}")
    missing = [k for k in REQUIRED if ev.get(k) is None]
    if missing:
        raise InvalidEventError(f"missing required field(s): {', '.join(missing)}")
    doc_type = ev["doc_type"]
    if doc_type not in DOC_TYPES:
        raise InvalidEventError(
            f"unknown doc_type {str(doc_type)[:40]!r}; expected one of {', '.join(DOC_TYPES)}"
        )
    source = ev["source"]
    if source not in SOURCES:
        raise InvalidEventError(
            f"source {str(source)[:40]!r} is not one of {', '.join(SOURCES)}"
        )
    direction = ev["direction"]
    if direction not in DIRECTIONS:
        raise InvalidEventError(
            f"direction {str(direction)[:40]!r} is not one of {', '.join(DIRECTIONS)}"
        )
    event_name = ev["event_name"]
    if not isinstance(event_name, str) or not event_name:
        raise InvalidEventError("event_name must be a non-empty string")
    check_text(event_name, "event_name")
    raw_json = ev["raw_json"]
    if not isinstance(raw_json, str):
        raise InvalidEventError(f"raw_json must be the payload text, got {type(raw_json).__name__}")
    if not payload_checked:
        check_payload(raw_json, max_payload_bytes, f"payload of {event_name}")
    session_id = ev["session_id"]
    if not isinstance(session_id, str):
        raise InvalidEventError("session_id must be a string")
    check_text(session_id, "session_id")
    seq = ev["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InvalidEventError(f"seq is not an integer: {str(seq)[:40]!r}")
    to_int(seq, "seq", bits=64)
    ts = parse_ts(ev["ts"])
    event_id = ev.get("event_id")
    if event_id is None:
        event_id = event_id_for(source, event_name, ts, raw_json)
    elif not isinstance(event_id, str) or not event_id:
        raise InvalidEventError("event_id must be a non-empty string")
    else:
        check_text(event_id, "event_id")
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
        v = ev.get(k)
        row[k] = v if v is None or (type(v) is str and v.isascii()) else to_str(v, k)
    for name, convert in _CONVERTERS[doc_type]:
        v = ev.get(name)
        row[name] = None if v is None else convert(v)
    return row


class ValidRecord:
    """The rows of one record as `normalize_record` returned them, and the payload limit
    they were checked against: the writer stores them without validating them again.

    Only `validate_record` makes one (the constructor wants this module's private token),
    so holding one means the record was validated; a writer trusts it only when that limit
    is not above its own. Anything else handed to the writer is validated there.
    """

    __slots__ = ("_rows", "_limit")
    _rows: tuple[dict[str, Any], ...]
    _limit: int

    def __init__(self, rows: Sequence[dict[str, Any]], max_payload_bytes: int,
                 token: object = None) -> None:
        if token is not _MINT:
            raise TypeError("a ValidRecord is made by store.event.validate_record only")
        object.__setattr__(self, "_rows", tuple(rows))
        object.__setattr__(self, "_limit", max_payload_bytes)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a ValidRecord cannot be changed")

    @property
    def rows(self) -> tuple[dict[str, Any], ...]:
        return self._rows

    @property
    def max_payload_bytes(self) -> int:
        return self._limit

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        names = sorted({r["doc_type"] for r in self._rows})
        return f"ValidRecord({', '.join(names) or 'no rows'})"


_MINT = object()


def validate_record(
    events: Sequence[Mapping[str, Any]], *, ingested_at: datetime, max_payload_bytes: int
) -> ValidRecord:
    """`normalize_record`, its rows handed on as a `ValidRecord` (not validated again)."""
    rows = normalize_record(events, ingested_at=ingested_at, max_payload_bytes=max_payload_bytes)
    return ValidRecord(rows, max_payload_bytes, _MINT)


def normalize_record(
    events: Sequence[Mapping[str, Any]], *, ingested_at: datetime, max_payload_bytes: int
) -> list[dict[str, Any]]:
    """The rows of one input record (one per doc type it lands in), all valid or none.

    Raises InvalidEventError for the first row that is wrong, naming its doc type when the
    record has several: the record is then refused whole, never stored half.
    """
    rows = []
    checked: str | None = None
    for ev in events:
        raw = ev.get("raw_json") if type(ev) is dict or isinstance(ev, Mapping) else None
        same = raw is not None and raw is checked
        try:
            rows.append(normalize(ev, ingested_at=ingested_at,
                                  max_payload_bytes=max_payload_bytes, payload_checked=same))
        except InvalidEventError as exc:
            if len(events) > 1 and isinstance(ev, Mapping):
                raise InvalidEventError(f"{ev.get('doc_type')}: {exc}") from None
            raise
        if isinstance(raw, str):
            checked = raw
    return rows
