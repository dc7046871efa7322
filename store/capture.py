"""Live-capture formats: detect, parse with exact payload text, map wire events to doc-type rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import IO, Any

from store.errors import IngestError, InvalidEventError, RecordRejected
from store.event import MAX_JSON_DEPTH, check_text, event_id_for, parse_ts
from store.payload import is_trace

# The stdlib JSON string scanner (C-accelerated); typeshed does not declare it.
scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

# Record shapes (see the README of ../shared/data):
FMT_TIMESTAMP = "timestamp_event_type"  # {"timestamp", "event_type", "data"}
FMT_SEQ = "seq_event"  # {"seq", "ts", "event", "data"}
FMT_CDP = "cdp"  # FMT_SEQ + {"source": "cdp_intercept", "direction"}
# one object: name -> {"_meta", "event_type", "timestamp_ms", "data"}
FMT_KEY_SAMPLES = "key_samples"

# File layouts
LAYOUT_JSONL = "jsonl"
LAYOUT_ARRAY = "json_array"
LAYOUT_OBJECT = "json_object"

# Client-sent events that are player actions, with the action they stand for when the
# payload carries no `type` of its own (names from the rugs.fun Socket.IO protocol).
SENT_ACTIONS: dict[str, str] = {
    "buyOrder": "buy",
    "sellOrder": "sell",
    "shortOrder": "short_open",
    "closeShort": "short_close",
    "requestSidebet": "sidebet",
    "placeSidebet": "sidebet",
}
# Received broadcasts of one player's trade or sidebet.
RECEIVED_ACTIONS = frozenset({"standard/newTrade", "newSideBet"})
# Connection lifecycle, whatever the direction. Every other client-sent event that is not
# an action (getLeaderboard, checkUsername, chatHistory requests, ...) is a system_event too.
LIFECYCLE = frozenset(
    {
        "connect",
        "disconnect",
        "connect_error",
        "reconnect",
        "reconnect_attempt",
        "reconnect_error",
        "reconnect_failed",
        "error",
        "ping",
        "pong",
        "authenticate",
        "maintenanceUpdate",
    }
)
_SENT_ACTION_HINT = re.compile(r"order|sidebet|short", re.IGNORECASE)

_SOURCES = {"cdp_intercept": "cdp", "cdp": "cdp"}
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


# JSON nested past Python's recursion limit makes the stdlib scanner raise RecursionError.
_TOO_DEEP = f"nested too deeply to read (the store takes up to {MAX_JSON_DEPTH} levels)"


@dataclass(frozen=True)
class WireEvent:
    """One Socket.IO event as captured, payload unwrapped, with its exact payload text."""

    event_name: str
    ts: datetime
    direction: str
    source: str
    session_id: str
    seq: int
    payload: Any
    raw_json: str
    traced: bool = False
    # Spans (start, end) of gameHistory entries inside raw_json, for their exact text.
    history_spans: tuple[tuple[int, int], ...] = ()


# -- exact-text JSON walking ----------------------------------------------------------------


def _skip_ws(s: str, i: int) -> int:
    m = _WS.match(s, i)
    return m.end() if m else i


def _error(msg: str, s: str, i: int) -> json.JSONDecodeError:
    return json.JSONDecodeError(msg, s, i)


def object_members(s: str, i: int = 0) -> tuple[dict[str, tuple[Any, int, int]], int]:
    """The members of the JSON object starting at s[i]: key -> (value, start, end); and its end.

    Values are decoded by the standard library's scanner, so they are exactly what
    `json.loads` gives; the spans let callers keep each value's original text.
    """
    i = _skip_ws(s, i)
    if s[i : i + 1] != "{":
        raise _error("expected an object", s, i)
    out: dict[str, tuple[Any, int, int]] = {}
    i = _skip_ws(s, i + 1)
    if s[i : i + 1] == "}":
        return out, i + 1
    while True:
        if s[i : i + 1] != '"':
            raise _error("expected a member name", s, i)
        key, i = scanstring(s, i + 1)
        i = _skip_ws(s, i)
        if s[i : i + 1] != ":":
            raise _error("expected ':'", s, i)
        i = _skip_ws(s, i + 1)
        value, end = _DECODER.raw_decode(s, i)
        out[key] = (value, i, end)
        i = _skip_ws(s, end)
        c = s[i : i + 1]
        if c == ",":
            i = _skip_ws(s, i + 1)
        elif c == "}":
            return out, i + 1
        else:
            raise _error("expected ',' or '}'", s, i)


def array_items(s: str, i: int = 0) -> tuple[list[tuple[Any, int, int]], int]:
    """The items of the JSON array starting at s[i] as (value, start, end); and its end."""
    i = _skip_ws(s, i)
    if s[i : i + 1] != "[":
        raise _error("expected an array", s, i)
    out: list[tuple[Any, int, int]] = []
    i = _skip_ws(s, i + 1)
    if s[i : i + 1] == "]":
        return out, i + 1
    while True:
        value, end = _DECODER.raw_decode(s, i)
        out.append((value, i, end))
        i = _skip_ws(s, end)
        c = s[i : i + 1]
        if c == ",":
            i = _skip_ws(s, i + 1)
        elif c == "]":
            return out, i + 1
        else:
            raise _error("expected ',' or ']'", s, i)


# -- payloads ---------------------------------------------------------------------------------


def unwrap_text(data: Any, text: str) -> tuple[Any, str, bool]:
    """(payload, its exact text, traced) of a captured `data` value and its original text.

    The storing side of `store.payload.unwrap` (which classifies stored payloads): same
    traced form, but the payload keeps its original bytes.

    `[{"__trace": …}, payload]` is the traced wire form: the payload is the second
    element, sliced out of the original text. With several arguments after the trace the
    payload is the list of them. A bare trace object (the CDP recorder kept only the
    first argument) stays as it is: there is no other payload to keep.
    """
    if isinstance(data, list) and len(data) >= 2 and is_trace(data[0]):
        items, _ = array_items(text)
        if len(items) == 2:
            payload, start, end = items[1]
            return payload, text[start:end], True
        start, end = items[1][1], items[-1][2]
        return [v for v, _, _ in items[1:]], "[" + text[start:end] + "]", True
    return data, text, is_trace(data)


def _history_spans(payload: Any, text: str) -> tuple[tuple[int, int], ...]:
    if not (isinstance(payload, dict) and isinstance(payload.get("gameHistory"), list)):
        return ()
    members, _ = object_members(text)
    _, start, _ = members["gameHistory"]
    items, _ = array_items(text, start)
    return tuple((s, e) for _, s, e in items)


# -- records ----------------------------------------------------------------------------------


def resolve_ts(value: Any, naive_tz: tzinfo | None = None, what: str = "ts") -> datetime:
    """An aware datetime from an ISO-8601 string (naive -> `naive_tz`, default UTC) or epoch ms.

    The store's one rule (`store.event.parse_ts`); a datetime object is not a capture value.
    """
    if isinstance(value, datetime):
        raise RecordRejected(f"{what} is missing or not a timestamp (datetime)")
    try:
        return parse_ts(value, what, naive_tz)
    except InvalidEventError as exc:
        raise RecordRejected(str(exc)) from None


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordRejected(f"{what} is missing or not a string")
    try:
        return check_text(value, what)
    except InvalidEventError as exc:
        raise RecordRejected(str(exc)) from None


def record_format(keys: Any) -> str | None:
    """Which record shape a JSON object's keys are, or None."""
    if "event_type" in keys and "timestamp" in keys and "data" in keys:
        return FMT_TIMESTAMP
    if "event" in keys and "ts" in keys and "data" in keys:
        return FMT_CDP if "source" in keys or "direction" in keys else FMT_SEQ
    return None


def is_key_samples(obj: Any) -> bool:
    """A key-samples document: every value an object with event_type, timestamp_ms and data."""
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(
            isinstance(v, dict) and "event_type" in v and "timestamp_ms" in v and "data" in v
            for v in obj.values()
        )
    )


def parse_record(
    text: str,
    start: int = 0,
    *,
    session_id: str,
    position: int,
    naive_tz: tzinfo | None = None,
) -> WireEvent:
    """One capture record (any known shape) from its exact text; RecordRejected if unusable.

    `position` is the line (JSONL) or element number, used as seq when the record has none.
    """
    try:
        members, _ = object_members(text, start)
    except (json.JSONDecodeError, IndexError) as exc:
        raise RecordRejected(f"not a JSON object: {_short(exc)}") from None
    except RecursionError:
        raise RecordRejected(_TOO_DEEP) from None
    return _record_of(members, text, session_id=session_id, position=position,
                      naive_tz=naive_tz)


def _record_of(
    members: dict[str, tuple[Any, int, int]],
    text: str,
    *,
    session_id: str,
    position: int,
    naive_tz: tzinfo | None,
) -> WireEvent:
    """parse_record's work once the record's members are read (a JSONL line reads them once)."""
    fmt = record_format(members)
    if fmt is None:
        keys = ", ".join(sorted(members)[:8]) or "none"
        raise RecordRejected(f"not a capture record (keys: {keys})")
    if fmt == FMT_TIMESTAMP:
        name, ts_value = members["event_type"][0], members["timestamp"][0]
        seq: Any = position
    else:
        name, ts_value = members["event"][0], members["ts"][0]
        seq = members["seq"][0] if "seq" in members else position
    name = _name(name, "event name")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise RecordRejected(f"seq is not an integer: {seq!r}")
    direction = "received"
    source = "public_ws"
    if fmt == FMT_CDP:
        direction = members.get("direction", ("received", 0, 0))[0]
        if direction not in ("received", "sent"):
            raise RecordRejected(f"direction {direction!r} is not received or sent")
        raw_source = members.get("source", ("cdp_intercept", 0, 0))[0]
        source = _SOURCES.get(raw_source, "cdp") if isinstance(raw_source, str) else "cdp"
    data, d_start, d_end = members["data"]
    return _wire_event(
        name=name,
        ts=resolve_ts(ts_value, naive_tz),
        direction=direction,
        source=source,
        session_id=session_id,
        seq=seq,
        data=data,
        data_text=text[d_start:d_end],
    )


def parse_key_sample(
    name: str, text: str, start: int = 0, *, session_id: str, position: int
) -> WireEvent:
    """One member of the key-samples document (its `_meta` is curation, not wire data)."""
    try:
        members, _ = object_members(text, start)
    except (json.JSONDecodeError, IndexError) as exc:
        raise RecordRejected(f"sample {name!r} is not a JSON object: {_short(exc)}") from None
    except RecursionError:
        raise RecordRejected(f"sample {name!r} is {_TOO_DEEP}") from None
    if not {"event_type", "timestamp_ms", "data"} <= members.keys():
        raise RecordRejected(f"sample {name!r} lacks event_type, timestamp_ms or data")
    event_name = _name(members["event_type"][0], f"sample {name!r}: event_type")
    data, d_start, d_end = members["data"]
    return _wire_event(
        name=event_name,
        ts=resolve_ts(members["timestamp_ms"][0], what="timestamp_ms"),
        direction="received",
        source="public_ws",
        session_id=session_id,
        seq=position,
        data=data,
        data_text=text[d_start:d_end],
    )


def _wire_event(
    *,
    name: str,
    ts: datetime,
    direction: str,
    source: str,
    session_id: str,
    seq: int,
    data: Any,
    data_text: str,
) -> WireEvent:
    try:
        payload, raw, traced = unwrap_text(data, data_text)
        spans = _history_spans(payload, raw)
    except json.JSONDecodeError as exc:  # cannot happen for text the scanner just read
        raise RecordRejected(f"payload not readable: {_short(exc)}") from None
    except RecursionError:
        raise RecordRejected(_TOO_DEEP) from None
    return WireEvent(
        event_name=name,
        ts=ts,
        direction=direction,
        source=source,
        session_id=session_id,
        seq=seq,
        payload=payload,
        raw_json=raw,
        traced=traced,
        history_spans=spans,
    )


def parse_jsonl_line(
    line: str, *, session_id: str, line_no: int, naive_tz: tzinfo | None = None
) -> list[WireEvent]:
    """The events of one JSONL line: a record, or a one-line key-samples document."""
    i = _skip_ws(line, 0)
    if line.startswith("[", i):
        raise RecordRejected("a JSON array on one line of a JSONL file; ingest it as a .json file")
    try:
        members, _ = object_members(line, i)
    except (json.JSONDecodeError, IndexError) as exc:
        raise RecordRejected(f"not JSON: {_short(exc)}") from None
    except RecursionError:
        raise RecordRejected(_TOO_DEEP) from None
    if record_format(members) is None and is_key_samples({k: v[0] for k, v in members.items()}):
        return [
            parse_key_sample(k, line, s, session_id=session_id, position=n)
            for n, (k, (_, s, _e)) in enumerate(members.items(), 1)
        ]
    return [_record_of(members, line, session_id=session_id, position=line_no, naive_tz=naive_tz)]


def _short(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc) or type(exc).__name__


# -- layouts ----------------------------------------------------------------------------------


def detect_layout(head: bytes) -> str:
    """jsonl, json_array or json_object from the first bytes of a capture file."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise IngestError("the input is empty")
    if text[:1] == b"[":
        return LAYOUT_ARRAY
    if text[:1] != b"{":
        raise IngestError(
            f"not a capture file: it starts with {text[:20]!r}, expected JSON lines, "
            "a JSON array or the key-samples object"
        )
    first = text.split(b"\n", 1)[0].strip()
    try:
        json.loads(first)
    except ValueError:
        # A first line that is not a whole object: a pretty-printed document (key-samples),
        # or a JSONL file whose first line is damaged. A lone "{" decides for the document.
        return LAYOUT_OBJECT if first == b"{" else LAYOUT_JSONL
    # A one-line key-samples document is JSONL too: parse_jsonl_line expands it.
    return LAYOUT_JSONL


@dataclass(frozen=True)
class DocItem:
    """One element of a JSON array, or one member of a JSON object, with its exact text."""

    position: int  # 1-based
    line: int  # 1-based line where it starts
    key: str | None
    text: str  # the document text the spans index into (a window of it)
    start: int
    end: int


def iter_document(stream: IO[str], chunk_chars: int = 1 << 20) -> Iterator[DocItem]:
    """Stream the items of a top-level JSON array or object in bounded memory.

    Each item is decoded when it is complete in the buffer; consumed text is dropped.
    A syntax error stops the stream with IngestError naming the line.
    """
    buf = ""
    base_line = 1  # line number at buf[0]
    eof = False
    pos = 0

    def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        chunk = stream.read(chunk_chars)
        if not chunk:
            eof = True
            return False
        buf += chunk
        return True

    while not buf.strip() and more():
        pass
    pos = _skip_ws(buf, 0)
    if buf.startswith("\ufeff", pos):
        pos += 1
    opener = buf[pos : pos + 1]
    if opener not in ("[", "{"):
        raise IngestError("not a JSON array or object")
    closer = "]" if opener == "[" else "}"
    pos += 1
    position = 0
    while True:
        # Drop consumed text so memory stays bounded by the largest item.
        if pos > chunk_chars:
            base_line += buf.count("\n", 0, pos)
            buf, pos = buf[pos:], 0
        pos = _skip_ws(buf, pos)
        while pos >= len(buf) and more():
            pos = _skip_ws(buf, pos)
        c = buf[pos : pos + 1]
        if c == closer:
            return
        if c == "," and position:
            pos = _skip_ws(buf, pos + 1)
            while pos >= len(buf) and more():
                pos = _skip_ws(buf, pos)
        elif position:
            raise IngestError(f"JSON syntax error at line {base_line + buf.count(chr(10), 0, pos)}")
        key = None
        while True:
            try:
                if closer == "}":
                    if buf[pos : pos + 1] != '"':
                        raise _error("expected a member name", buf, pos)
                    key, j = scanstring(buf, pos + 1)
                    j = _skip_ws(buf, j)
                    if buf[j : j + 1] != ":":
                        raise _error("expected ':'", buf, j)
                    start = _skip_ws(buf, j + 1)
                else:
                    start = pos
                try:
                    _, end = _DECODER.raw_decode(buf, start)
                except RecursionError:
                    # too deep for the stdlib scanner: find its end without recursion; the
                    # item is then rejected by parse_doc_item, the document read on
                    end = _container_end(buf, start)
                # a number at the very end of the buffer may continue in the next chunk
                if end >= len(buf) and not eof:
                    raise _error("incomplete", buf, end)
                break
            except (json.JSONDecodeError, IndexError) as exc:
                if more():
                    continue
                line = base_line + buf.count("\n", 0, pos)
                detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "truncated"
                raise IngestError(
                    f"JSON syntax error in item {position + 1} (line {line}): {detail}"
                ) from None
        position += 1
        yield DocItem(
            position=position,
            line=base_line + buf.count("\n", 0, start),
            key=key,
            text=buf,
            start=start,
            end=end,
        )
        pos = end


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|"|[\[\]{}]', re.DOTALL)


def _container_end(s: str, i: int) -> int:
    """End of the JSON object or array starting at s[i], found iteratively (any depth)."""
    depth = 0
    for m in _TOKEN.finditer(s, i):
        tok = m.group()
        if tok in ("{", "["):
            depth += 1
        elif tok in ("}", "]"):
            depth -= 1
            if depth == 0:
                return m.end()
        elif tok == '"':
            break  # an unterminated string: the item is not complete in the buffer
    raise _error("incomplete", s, len(s))


def parse_doc_item(
    item: DocItem, *, session_id: str, naive_tz: tzinfo | None = None
) -> WireEvent:
    """The event of one document item: a key-samples member or an array element record."""
    if item.key is not None:
        return parse_key_sample(
            item.key, item.text, item.start, session_id=session_id, position=item.position
        )
    return parse_record(
        item.text, item.start, session_id=session_id, position=item.position, naive_tz=naive_tz
    )


# -- mapping to doc-type rows -------------------------------------------------------------------


def _get(d: Any, key: str) -> Any:
    return d.get(key) if isinstance(d, dict) else None


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _epoch_ms(v: Any) -> int | float | None:
    # Plausible epoch milliseconds only (2001..2286), so a small counter is never a time.
    if isinstance(v, int | float) and not isinstance(v, bool) and 1e12 <= v < 1e13:
        return v
    return None


def identity(event_name: str, payload: Any) -> dict[str, str | None]:
    """game_id, player_id and username where the payload's top level has them."""
    game_id = _str_or_none(_get(payload, "gameId"))
    player_id = _str_or_none(_get(payload, "playerId"))
    if player_id is None and event_name == "playerUpdate":
        player_id = _str_or_none(_get(payload, "id"))
    return {
        "game_id": game_id,
        "player_id": player_id,
        "username": _str_or_none(_get(payload, "username")),
    }


def action_type(ev: WireEvent) -> str | None:
    """What a player_action row stands for: the payload's type, else the event's action."""
    t = _get(ev.payload, "type")
    if isinstance(t, str) and t:
        return t
    return SENT_ACTIONS.get(ev.event_name)


def doc_types_of(ev: WireEvent) -> tuple[str, ...]:
    """Which doc types one wire event lands in (ws_event always first)."""
    name = ev.event_name
    out = ["ws_event"]
    if name == "gameStateUpdate":
        out.append("game_tick")
    elif name == "playerUpdate":
        out.append("server_state")
    if name in RECEIVED_ACTIONS and ev.direction == "received":
        out.append("player_action")
    elif ev.direction == "sent" and (name in SENT_ACTIONS or _SENT_ACTION_HINT.search(name)):
        out.append("player_action")
    elif name in LIFECYCLE or ev.direction == "sent":
        out.append("system_event")
    return tuple(out)


# Typed column -> payload key, per doc type (store.schema.TYPED names the columns).
TYPED_FIELDS: dict[str, dict[str, str]] = {
    "game_tick": {"tick": "tickCount", "price": "price", "active": "active",
                  "rugged": "rugged", "cooldown_timer": "cooldownTimer",
                  "trade_count": "tradeCount"},
    "server_state": {"cash": "cash", "position_qty": "positionQty", "avg_cost": "avgCost",
                     "total_invested": "totalInvested", "pnl": "cumulativePnL",
                     "pnl_percent": "pnlPercent", "has_active_trades": "hasActiveTrades"},
    "player_action": {"amount": "amount", "price": "price", "percentage": "percentage",
                      "qty": "qty", "tick": "tickIndex"},
}


def map_event(ev: WireEvent) -> list[dict[str, Any]]:
    """The writer's event mappings for one wire event; rows derived from it share its id.

    gameHistory entries follow as complete_game rows with event_id "game:<id>".
    """
    p = ev.payload
    base: dict[str, Any] = {
        "event_id": event_id_for(ev.source, ev.event_name, ev.ts, ev.raw_json),
        "event_name": ev.event_name,
        "ts": ev.ts,
        "source": ev.source,
        "direction": ev.direction,
        "session_id": ev.session_id,
        "seq": ev.seq,
        "raw_json": ev.raw_json,
        **identity(ev.event_name, p),
    }
    server_ms = _epoch_ms(_get(p, "timestamp"))
    if server_ms is not None:
        base["server_ts"] = server_ms
    rows: list[dict[str, Any]] = []
    for doc_type in doc_types_of(ev):
        row = {"doc_type": doc_type, **base}
        row.update({col: _get(p, key) for col, key in TYPED_FIELDS.get(doc_type, {}).items()})
        if doc_type == "player_action":
            row["action_type"] = action_type(ev)
        rows.append(row)
    rows.extend(complete_games(ev))
    return rows


def complete_games(ev: WireEvent) -> list[dict[str, Any]]:
    """One complete_game row per gameHistory entry of a gameStateUpdate."""
    history = _get(ev.payload, "gameHistory")
    if not isinstance(history, list) or len(ev.history_spans) != len(history):
        return []
    rows = []
    for entry, (start, end) in zip(history, ev.history_spans, strict=True):
        game_id = _str_or_none(_get(entry, "id"))
        if game_id is None:
            continue
        prices = _get(entry, "prices")
        ticks = len(prices) - 1 if isinstance(prices, list) and prices else None
        trades, sidebets = _get(entry, "globalTrades"), _get(entry, "globalSidebets")
        ended = _epoch_ms(_get(entry, "timestamp"))
        rows.append(
            {
                "doc_type": "complete_game",
                "event_id": f"game:{game_id}",
                # the entry's own end time; the carrying tick's time when it has none
                "ts": ended if ended is not None else ev.ts,
                "server_ts": ended,
                "event_name": ev.event_name,
                "source": ev.source,
                "direction": ev.direction,
                "session_id": ev.session_id,
                "seq": ev.seq,
                "raw_json": ev.raw_json[start:end],
                "game_id": game_id,
                "peak": _get(entry, "peakMultiplier"),
                "final_price": prices[-1] if ticks is not None else None,
                "duration_ticks": ticks,
                "rug_tick": ticks,
                "start_tick": 0 if ticks is not None else None,
                "trade_count": len(trades) if isinstance(trades, list) else None,
                "sidebet_count": len(sidebets) if isinstance(sidebets, list) else None,
                "server_seed": _str_or_none(_get(_get(entry, "provablyFair"), "serverSeed")),
            }
        )
    return rows


def parse_tz(text: str) -> tzinfo:
    """A zone for naive capture timestamps: "UTC", an IANA name, or an offset like "-05:00"."""
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if m:
        from datetime import timedelta, timezone

        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(-delta if m.group(1) == "-" else delta)
    if text.strip().upper() in ("UTC", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise IngestError(
            f"unknown time zone {text!r}: use an IANA name (America/New_York) or an offset "
            "(-05:00)"
        ) from None
