"""Events -> chunks: schema cards from the catalog, game summaries, notable events (pure).

Every text starts with the event name in plain words followed by its protocol name
("New trade (standard/newTrade) ..."), names fields by their protocol names with plain
words beside them, and stays short enough for the embedding model (it reads ~256 word
pieces). Plain ticks are never chunked: they are aggregated into game summaries, and
tick-level questions belong to DuckDB. Identical texts are emitted once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chunkers.chunk import EVENTS_CHUNKER_VERSION, Chunk
from chunkers.vocabulary import event_meaning, field_meaning, path_words, phase_words, title
from store.catalog import (
    Catalog,
    EventInfo,
    FieldInfo,
    parent_path,
    parse_raw,
    to_datetime,
    value_format,
)

CHUNKER_VERSION = EVENTS_CHUNKER_VERSION
CATALOG_SOURCE = "catalog"
MAX_LISTED_FIELDS = 40  # top-level fields named in an overview card
MAX_PAIRS = 16  # key/value pairs rendered from one payload
MAX_CHILDREN = 24  # children named in a container card
# Trades are many (hundreds per round): per game and trade type, only the first one and the
# largest by amount become chunks; the rest are counted in the game summary.
TRADE_KEYS_PER_GAME = 2

# Chunk kinds (metadata `kind`), for filtering and for the evaluation report.
KIND_OVERVIEW = "schema_card"
KIND_FIELD = "schema_field"
KIND_SHAPE = "schema_shape"
KIND_GAME = "game_summary"
KIND_TRADE = "trade"
KIND_RUG = "rug"
KIND_PLAYER = "player_state"
KIND_ACTION = "player_action"
KIND_SIDEBET = "sidebet"
KIND_SYSTEM = "system_event"
KIND_REQUEST = "client_request"

_SPECIFIC_DOC_TYPES = ("server_state", "player_action", "system_event", "complete_game",
                       "game_tick", "ws_event")
_NOISY_KEYS = ("time", "stamp", "until", "ends", "seconds", "updated")


# ----------------------------------------------------------------------------- formatting


def fmt(value: Any) -> str:
    """A value as short text: 6 significant digits, strings cut, containers summarized."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        s = value if len(value) <= 48 else value[:24] + "…"
        return s if s else '""'
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return "{" + ", ".join(list(value)[:6]) + ("…" if len(value) > 6 else "") + "}"
    return str(value)


def _pct(x: float) -> str:
    p = x * 100
    if p >= 99.95:
        return "100%"
    if p >= 10:
        return f"{p:.0f}%"
    return f"{p:.2g}%"


def _date(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).date().isoformat() if ts else None


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts else None


def _when(ts: datetime | None) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "an unknown time"


def _epoch_text(v: Any) -> str:
    try:
        return datetime.fromtimestamp(int(v) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return fmt(v)


def _join(items: Iterable[str], limit: int | None = None) -> str:
    xs = list(items)
    if limit is not None and len(xs) > limit:
        return ", ".join(xs[:limit]) + f" and {len(xs) - limit} more"
    return ", ".join(xs)


def head(event_name: str) -> str:
    """The start of every text about an event: plain words, then the protocol name."""
    return f"{title(event_name)} ({event_name})"


# ----------------------------------------------------------------------------- schema cards


def _direction_phrase(e: EventInfo) -> str:
    d = set(e.directions)
    if d == {"sent"}:
        return "Sent by the client (the browser) to the server"
    if d == {"received"}:
        if set(e.sources) <= {"legacy"}:
            return "Written by the legacy recorder"
        return "Received from the server (server to client)"
    if d >= {"sent", "received"}:
        return (f"Both sent by the client ({e.directions.get('sent', 0)} times) and received "
                f"from the server ({e.directions.get('received', 0)} times)")
    return "Direction " + _join(sorted(d))


def _payload_phrase(e: EventInfo) -> str:
    k = e.payload_kinds
    total = sum(k.values()) or 1
    parts = []
    if k.get("object") or k.get("array"):
        n = k.get("object", 0) + k.get("array", 0)
        parts.append(f"a JSON payload in {n} of {total}")
    if k.get("null"):
        parts.append(f"no payload (data null) in {k['null']} of {total}")
    if k.get("trace_only"):
        parts.append(
            f"only the trace argument in {k['trace_only']} of {total} (the payload was not "
            "captured there, so its fields are unknown from those)"
        )
    if k.get("scalar"):
        parts.append(f"a plain value in {k['scalar']}")
    if k.get("invalid"):
        parts.append(f"text that is not JSON in {k['invalid']}")
    return "Payload: " + "; ".join(parts) if parts else "Payload: none seen"


def _phases_phrase(phases: dict[str, int], total: int | None = None) -> str:
    if not phases:
        return ""
    n = total or sum(phases.values()) or 1
    items = sorted(phases.items(), key=lambda kv: -kv[1])
    return _join(f"{phase_words(p)} ({p}, {_pct(c / n)})" for p, c in items)


def _relations_phrase(e: EventInfo) -> str:
    parts = []
    if e.replies_to:
        parts.append("Arrives as the reply to the client request " + _join(
            f"{n}" for n in sorted(e.replies_to, key=lambda n: -e.replies_to[n])))
    if e.answered_by:
        parts.append("The server answers it with " + _join(
            sorted(e.answered_by, key=lambda n: -e.answered_by[n])))
    if e.same_trace_as:
        peers = sorted(e.same_trace_as, key=lambda n: -e.same_trace_as[n])
        parts.append("Shares a trace with " + _join(peers, 4)
                     + " (the server sent it while handling that)")
    return ". ".join(parts)


def _validation_phrase(v: dict[str, Any] | None) -> str:
    if not v:
        return "Validation: unverified"
    s = f"Validation: {v.get('status', 'unverified')}"
    if v.get("by"):
        s += f" by {v['by']}"
    if v.get("at"):
        s += f" on {str(v['at'])[:10]}"
    if v.get("note"):
        s += f": {v['note']}"
    return s


def _top_level(e: EventInfo) -> list[FieldInfo]:
    return [f for f in e.fields if parent_path(f.path) is None and not f.path.endswith("[]")]


def overview_text(e: EventInfo) -> str:
    parts = [head(e.event_name) + ": " + (event_meaning(e.event_name) or
                                          "an event of the rugs.fun protocol")]
    parts.append(_direction_phrase(e))
    parts.append(f"Access: {e.auth}")
    when = f"seen {e.count} times"
    if e.first_seen and e.last_seen:
        first, last = (x[:16].replace("T", " ") for x in (e.first_seen, e.last_seen))
        when += f" from {first} to {last}"
    if e.median_interval_s:
        rate = 1 / e.median_interval_s if e.median_interval_s else 0
        when += (f", typically every {e.median_interval_s:g} s"
                 + (f" (~{rate:.0f} per second)" if rate >= 1 else ""))
    parts.append(f"Stored as {_join(sorted(e.doc_types))}; {when}")
    if e.phases:
        parts.append("Game phases when it occurs: " + _phases_phrase(e.phases))
    parts.append(_payload_phrase(e))
    top = _top_level(e)
    if top:
        listed = [f"{f.path} ({path_words(f.path)})" if path_words(f.path) != f.path.lower()
                  else f.path for f in top]
        parts.append(f"Fields ({len(e.fields)} paths, {len(top)} at the top): "
                     + _join(listed, MAX_LISTED_FIELDS))
    rel = _relations_phrase(e)
    if rel:
        parts.append(rel)
    parts.append(_validation_phrase(e.validation))
    return _sentences(parts)


def _type_phrase(f: FieldInfo, children: list[FieldInfo]) -> str:
    names = [t for t in f.type_names if t != "null"] or ["null"]
    nulls = f.types.get("null", 0)
    if names == ["array"]:
        item_types = sorted({t for c in children if c.path == f.path + "[]"
                             for t in c.type_names})
        if item_types == ["object"]:
            base = "a list of objects"
        elif item_types:
            base = "a list of " + " or ".join(
                "numbers" if t in ("number", "integer") else t + "s"
                for t in _merge_numeric(item_types))
        else:
            base = "a list (always empty in the data)"
    elif names == ["object"]:
        keyed = [c for c in children if c.path in (f.path + ".<n>", f.path + ".<id>")]
        base = ("an object keyed by number" if keyed and keyed[0].path.endswith("<n>")
                else "an object keyed by id" if keyed else "an object")
    else:
        base = " or ".join(_merge_numeric(names))
        base = ("a " if base[0] not in "aeiou" else "an ") + base
    if nulls and names != ["null"]:
        base += f" (null in {nulls} of {f.count})"
    if names == ["null"]:
        base = "always null in the data"
    return base


def _merge_numeric(types: list[str]) -> list[str]:
    if "integer" in types and "number" in types:
        return [t for t in types if t != "integer"]
    return types


def _presence_phrase(e: EventInfo, f: FieldInfo) -> str:
    pp = parent_path(f.path)
    if pp is None:
        if f.presence >= 0.9995:
            return f"present in every {e.event_name} payload"
        return f"present in {_pct(f.presence)} of {e.event_name} payloads"
    within = f.within
    parent_words = path_words(pp)
    s = ""
    if within is not None:
        s = (f"in every {parent_words}" if within >= 0.9995
             else f"in {_pct(within)} of {parent_words}")
    return s + f" ({_pct(f.presence)} of {e.event_name} payloads)"


def _values_phrase(f: FieldInfo) -> str:
    fmt_name = f.format
    if f.values is not None and len(f.values) > 1:
        s = "one of " + _join(fmt(v) for v in f.values)
        if f.value_phases and len(f.value_phases) <= 6:
            per = []
            for v, ph in f.value_phases.items():
                top = sorted(ph.items(), key=lambda kv: -kv[1])
                per.append(f"{json.loads(v) if v.startswith(chr(34)) else v} during "
                           + _join(phase_words(p) for p, _ in top[:4]))
            s += " (" + "; ".join(per) + ")"
        return s
    if f.values is not None and len(f.values) == 1:
        return f"always {fmt(f.values[0])} in the data"
    if not f.examples:
        return ""
    if fmt_name == "epoch milliseconds":
        return f"epoch milliseconds, e.g. {fmt(f.examples[0])} ({_epoch_text(f.examples[0])})"
    ex = "e.g. " + _join(fmt(v) for v in f.examples[:3])
    if fmt_name:
        ex = f"{fmt_name}, {ex}"
    if f.min is not None and f.max is not None and f.min != f.max:
        ex += f"; range {fmt(f.min)} to {fmt(f.max)}"
    return ex


def field_text(e: EventInfo, f: FieldInfo, children: list[FieldInfo]) -> str:
    words = path_words(f.path)
    s = f"{head(e.event_name)} field {f.path}"
    if words.replace(" ", "").lower() != f.path.lower():
        s += f" ({words})"
    meaning = field_meaning(e.event_name, f.path)
    if meaning:
        s += f": {meaning}"
    parts = [s, _type_phrase(f, children)]
    direct = [c for c in children if parent_path(c.path) in (f.path, f.path + "[]")
              and not c.path.endswith("[]")]
    keyed = [c for c in direct if c.path.rsplit(".", 1)[-1] in ("<n>", "<id>")]
    if keyed:
        k = keyed[0]
        parts.append("its values: " + (_values_phrase(k) or _join(k.type_names)))
    elif direct:
        names = [c.path.rsplit(".", 1)[-1] for c in direct]
        label = "each item has" if f.type_names[:1] == ["array"] else "with"
        parts.append(f"{label} {_join(names, MAX_CHILDREN)}")
        grand = [c.path[len(f.path):].lstrip(".[]") for c in children
                 if c not in direct and not c.path.endswith("[]")
                 and parent_path(c.path) not in (f.path, f.path + "[]")]
        if grand:
            parts.append("nested: " + _join(grand, MAX_CHILDREN))
    elif f.type_names[:1] == ["array"]:
        items = [c for c in children if c.path == f.path + "[]"]
        if items and items[0].examples:
            parts.append("items " + _values_phrase(items[0]))
    parts.append(_presence_phrase(e, f))
    if f.phases and e.phases and len(e.phases) > 1:
        parts.append("during " + _join(phase_words(p) for p, _ in
                                       sorted(f.phases.items(), key=lambda kv: -kv[1])))
    if not direct and f.type_names[:1] != ["array"]:
        v = _values_phrase(f)
        if v:
            parts.append(v)
    return _sentences(parts)


def _sentences(parts: Iterable[str]) -> str:
    """Join phrases into sentences, each starting with a capital letter."""
    out = []
    for p in parts:
        p = p.strip().rstrip(".")
        if p:
            out.append(p[0].upper() + p[1:])
    return ". ".join(out) + "."


def shape_text(e: EventInfo, shape_key: str) -> str:
    shape = next(s for s in e.shapes if s.key == shape_key)
    disc, _, value = shape.key.partition("=")
    all_paths = {p for s in e.shapes for p in s.fields}
    missing = sorted(all_paths - set(shape.fields))
    parts = [f"{head(e.event_name)} of {disc} {value}: {shape.count} seen"]
    parts.append("fields " + _join(p for p in shape.fields if "." not in p))
    if shape.only_here:
        parts.append("only this " + disc + " has " + _join(shape.only_here))
    if missing:
        parts.append("it lacks " + _join(missing) + " that other " + disc + "s have")
    if shape.example:
        parts.append("example: " + _join(f"{k} {fmt(v)}" for k, v in shape.example.items()))
    return _sentences(parts)


def _children(e: EventInfo, path: str) -> list[FieldInfo]:
    return [c for c in e.fields if c.path.startswith(path + ".") or c.path.startswith(path + "[]")]


def _card_meta(e: EventInfo, kind: str, **extra: Any) -> dict[str, Any]:
    last = to_datetime(e.last_seen)
    return {
        "kind": kind,
        "doc_type": e.primary_doc_type,
        "event_name": e.event_name,
        "game_id": None,
        "date": _date(last),
        "ts": _iso(last),
        "direction": _join(sorted(e.directions)),
        "validation": (e.validation or {}).get("status", "unverified"),
        **extra,
    }


def _skip_field_card(e: EventInfo, f: FieldInfo) -> bool:
    leaf = f.path.rsplit(".", 1)[-1]
    if f.path.endswith("[]"):
        return True  # list items are described on the list's card
    if leaf in ("<n>", "<id>"):
        return True  # keyed values are described on their object's card
    return False


def event_cards(e: EventInfo, source: str = CATALOG_SOURCE) -> list[Chunk]:
    """The schema cards of one event: an overview, one per field path, one per shape."""
    out = [Chunk(f"schema:{e.event_name}:overview", overview_text(e), source,
                 _card_meta(e, KIND_OVERVIEW))]
    for s in e.shapes:
        out.append(Chunk(f"schema:{e.event_name}:shape:{s.key}", shape_text(e, s.key), source,
                         _card_meta(e, KIND_SHAPE, shape=s.key)))
    for f in e.fields:
        if _skip_field_card(e, f):
            continue
        out.append(Chunk(f"schema:{e.event_name}:field:{f.path}",
                         field_text(e, f, _children(e, f.path)), source,
                         _card_meta(e, KIND_FIELD, field=f.path)))
    return out


def schema_cards(cat: Catalog, source: str = CATALOG_SOURCE) -> list[Chunk]:
    """Schema cards for every event of a catalog, identical texts once."""
    out: list[Chunk] = []
    for name in cat.names():
        out.extend(event_cards(cat.events[name], source))
    return dedupe(out)


# ----------------------------------------------------------------------------- games


@dataclass
class GameFacts:
    """What is known about one game, gathered by the events source from the store."""

    game_id: str
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    sources: list[str] = field(default_factory=list)
    ticks: int = 0  # distinct ticks stored
    min_tick: int | None = None
    max_tick: int | None = None
    peak_price: Any = None
    peak_tick: int | None = None
    final_price: Any = None
    rug_tick: int | None = None
    rug_price: Any = None
    trade_count: int | None = None  # the round's own counter (max seen)
    phases: list[tuple[str, int, int, int]] = field(default_factory=list)  # phase, from, to, n
    trades_seen: dict[str, int] = field(default_factory=dict)  # trade type -> trade events
    trade_volume: float | None = None
    summary_event: str | None = None  # event name of the record that summarizes the game
    summary: dict[str, Any] = field(default_factory=dict)  # that record's payload
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # other records

    @property
    def date(self) -> str | None:
        return _date(self.first_ts or self.last_ts)


def _sidebet_phrase(entries: list[Any]) -> str:
    placed = [b for b in entries if isinstance(b, dict) and b.get("type") == "placed"]
    paid = [b for b in entries if isinstance(b, dict) and b.get("type") == "payout"]
    won = [b for b in paid if isinstance(b.get("payout"), int | float) and b["payout"] > 0]
    staked = sum(b.get("betAmount", 0) or 0 for b in placed
                 if isinstance(b.get("betAmount"), int | float))
    s = f"{len(placed)} side bets placed (globalSidebets) staking {fmt(float(staked))} SOL"
    if paid:
        s += f", {len(paid)} settled of which {len(won)} won"
    return s


def _summary_pairs(rec: dict[str, Any], skip: set[str]) -> list[str]:
    pairs = []
    for k, v in rec.items():
        if k in skip or k in ("type", "timestamp"):
            continue
        if isinstance(v, list) and v and all(not isinstance(x, dict | list) for x in v):
            if len(v) <= 4:
                pairs.append(f"{k} {'–'.join(fmt(x) for x in v)}")
            else:
                pairs.append(f"{k} [{len(v)} values]")
        elif isinstance(v, dict):
            inner = _join(f"{ik} {fmt(iv)}" for ik, iv in v.items()
                          if not isinstance(iv, dict | list))
            pairs.append(f"{k} ({inner})" if inner else k)
        elif isinstance(v, list):
            pairs.append(f"{k} [{len(v)} items]")
        else:
            pairs.append(f"{k} {fmt(v)}")
    return pairs


def game_summary_text(g: GameFacts) -> str:
    ev = g.summary_event or "game"
    lead = (f"Game summary ({ev}) of game {g.game_id}" if ev != "game"
            else f"Game summary of game {g.game_id}")
    where = "by the legacy recorder" if g.sources == ["legacy"] else (
        "from " + _join(g.sources) if g.sources else "")
    parts = [f"{lead}, recorded {_when(g.first_ts)} {where}".rstrip()]
    s = g.summary
    if s:
        skip = {"globalSidebets", "globalTrades", "prices", "id", "game_id", "gameId",
                "provablyFair"}
        pairs = _summary_pairs(s, skip)
        if pairs:
            parts.append(f"{ev} record: " + _join(pairs))
        pf = s.get("provablyFair")
        if isinstance(pf, dict) and pf.get("serverSeed"):
            parts.append(f"revealed server seed {fmt(pf['serverSeed'])} (provablyFair.serverSeed)")
        if isinstance(s.get("prices"), list):
            parts.append(f"{len(s['prices'])} tick-by-tick prices (prices[])")
        if isinstance(s.get("globalSidebets"), list) and s["globalSidebets"]:
            parts.append(_sidebet_phrase(s["globalSidebets"]))
        if isinstance(s.get("globalTrades"), list):
            parts.append(f"{len(s['globalTrades'])} global trades (globalTrades)")
        status = s.get("status")
        if status and status != "complete":
            reason = s.get("incomplete_reason") or s.get("discard_reason")
            parts.append(f"the recording is {status}" + (f" because of {reason}" if reason
                                                          else ""))
    if g.ticks:
        t = f"{g.ticks} ticks stored"
        if g.min_tick is not None and g.max_tick is not None:
            t += f" (ticks {g.min_tick} to {g.max_tick})"
        if g.peak_price is not None:
            t += f"; peak price {fmt(g.peak_price)}x"
            if g.peak_tick is not None:
                t += f" at tick {g.peak_tick}"
        if g.final_price is not None:
            t += f"; final price {fmt(g.final_price)}x"
        parts.append(t)
    if g.rug_tick is not None:
        r = f"rugged at tick {g.rug_tick}"
        if g.rug_price is not None:
            r += f", price fell to {fmt(g.rug_price)}x"
        parts.append(r)
    if g.trade_count is not None:
        parts.append(f"{g.trade_count} trades in the round (trade count)")
    if g.trades_seen:
        parts.append("trade events seen: " + _join(f"{k} {v}" for k, v in
                                                  sorted(g.trades_seen.items())))
    if g.phases:
        parts.append("phases: " + _join(
            f"{phase_words(p)} ticks {a}–{b}" if a != b else f"{phase_words(p)} tick {a}"
            for p, a, b, _ in g.phases))
    for name, rec in g.records:
        pairs = _summary_pairs(rec, {"game_id", "gameId"})
        parts.append(f"{title(name)} ({name})" + (": " + _join(pairs) if pairs else ""))
    return _sentences(parts)


def game_summary_chunk(g: GameFacts, source: str) -> Chunk:
    return Chunk(
        f"game:{g.game_id}",
        game_summary_text(g),
        source,
        {
            "kind": KIND_GAME,
            "doc_type": "complete_game",
            "event_name": g.summary_event or "complete_game",
            "game_id": g.game_id,
            "date": g.date,
            "ts": _iso(g.first_ts),
        },
    )


# ----------------------------------------------------------------------------- notable events


@dataclass(frozen=True)
class EventRow:
    """One wire event as the events source reads it (all doc types of one event_id)."""

    event_id: str
    event_name: str
    ts: Any
    direction: str
    source: str
    doc_types: tuple[str, ...]
    raw_json: str | None
    game_id: str | None = None
    player_id: str | None = None
    username: str | None = None
    partition: str = ""  # the source key of the chunk (a Parquet partition)

    @property
    def doc_type(self) -> str:
        for t in _SPECIFIC_DOC_TYPES:
            if t in self.doc_types:
                return t
        return self.doc_types[0] if self.doc_types else "ws_event"


def render_pairs(payload: Any, limit: int = MAX_PAIRS) -> str:
    """`key value` pairs of a payload's scalars; nested objects and lists summarized."""
    if not isinstance(payload, dict):
        if isinstance(payload, list):
            return f"a list of {len(payload)} items"
        return fmt(payload)
    pairs = []
    for k, v in payload.items():
        if isinstance(v, dict):
            inner = [f"{ik} {fmt(iv)}" for ik, iv in v.items() if not isinstance(iv, dict | list)]
            nested = [ik for ik, iv in v.items() if isinstance(iv, dict | list)]
            pairs.append(f"{k} ({_join(inner + nested, 8)})" if inner or nested else f"{k} {{}}")
        elif isinstance(v, list):
            if v and isinstance(v[0], dict):
                first = _join(f"{ik} {fmt(iv)}" for ik, iv in v[0].items()
                              if not isinstance(iv, dict | list))
                pairs.append(f"{k} [{len(v)} items, first: {first}]")
            else:
                pairs.append(f"{k} [{len(v)} items]")
        else:
            pairs.append(f"{k} {fmt(v)}")
    return _join(pairs, limit)


def _trade_text(r: EventRow, p: dict[str, Any]) -> str:
    who = p.get("username") or r.username or p.get("playerId") or "a player"
    lead = f"{head(r.event_name)}: {p.get('type', 'trade')} by {who}"
    if p.get("level") is not None:
        lead += f" (level {fmt(p['level'])})"
    if p.get("gameId") or r.game_id:
        lead += f" in game {p.get('gameId') or r.game_id}"
    if p.get("tickIndex") is not None:
        lead += f" at tick {fmt(p['tickIndex'])}"
    return f"{lead}. {render_pairs(p)}."


def _generic_text(r: EventRow, kind_words: str, payload_kind: str, p: Any) -> str:
    meaning = event_meaning(r.event_name)
    lead = head(r.event_name) + (f", {kind_words}" if kind_words else "")
    if meaning:
        lead += f": {meaning}"
    if payload_kind == "null":
        body = "no payload (data null)"
    elif payload_kind == "trace_only":
        body = "only the trace argument was captured, not the payload"
    elif payload_kind == "invalid":
        body = "the payload is not valid JSON"
    else:
        body = render_pairs(p)
    return f"{lead}. {body}."


def _rug_text(r: EventRow, p: dict[str, Any]) -> str:
    gid = p.get("gameId") or r.game_id or "?"
    tick = p.get("tickCount", p.get("tick"))
    s = f"{head(r.event_name)}, rug of game {gid}"
    if tick is not None:
        s += f" at tick {fmt(tick)}"
    s += f": rugged true, the price crashed to {fmt(p.get('price'))}x"
    pp = p.get("partialPrices")
    if isinstance(pp, dict) and isinstance(pp.get("values"), dict) and pp["values"]:
        vals = list(pp["values"].values())
        s += f" from {fmt(max(v for v in vals if isinstance(v, int | float)))}x just before"
    return f"{s}. {render_pairs(p)}."


def _state_signature(p: dict[str, Any]) -> str:
    keep = {k: v for k, v in p.items() if not isinstance(v, dict | list)
            and not any(n in k.lower() for n in _NOISY_KEYS)}
    return json.dumps(keep, sort_keys=True, default=str)


def _trade_size(p: dict[str, Any]) -> float:
    v = p.get("amount")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def notable_chunks(rows: Iterable[EventRow]) -> Iterator[Chunk]:
    """Chunks for the events a person asks about, from rows in time order.

    Trades: per game and type the first and the largest. Player state: only when it
    changed. Rugs: the first rug tick of each game. Side bets, system events without a
    game (connect, sessions), client requests and player actions: each. Plain ticks and
    other high-rate updates: none. System records of a game (legacy game_start/game_end)
    are left to the game summary.
    """
    seen_texts: set[str] = set()
    rugged_games: set[str] = set()
    last_state: dict[str, str] = {}
    first_trade: dict[tuple[str, str], str] = {}
    best_trade: dict[tuple[str, str], tuple[float, EventRow, dict[str, Any]]] = {}

    def emit(r: EventRow, kind: str, text: str, chunk_id: str) -> Iterator[Chunk]:
        if text in seen_texts:
            return
        seen_texts.add(text)
        ts = to_datetime(r.ts)
        yield Chunk(chunk_id, text, r.partition, {
            "kind": kind,
            "doc_type": r.doc_type,
            "event_name": r.event_name,
            "game_id": r.game_id,
            "date": _date(ts),
            "ts": _iso(ts),
            "direction": r.direction,
        })

    for r in rows:
        kind, p = parse_raw(r.raw_json)
        if "server_state" in r.doc_types and isinstance(p, dict):
            who = r.player_id or str(p.get("id") or "self")
            sig = _state_signature(p)
            if last_state.get(who) == sig:
                continue
            last_state[who] = sig
            text = (f"{head(r.event_name)}, player state change: "
                    f"{event_meaning(r.event_name) or 'the player state'}. {render_pairs(p)}.")
            yield from emit(r, KIND_PLAYER, text, f"event:{r.event_id}")
        elif "player_action" in r.doc_types:
            yield from emit(r, KIND_ACTION, _generic_text(r, "player action", kind, p),
                            f"event:{r.event_id}")
        elif r.direction == "sent":
            yield from emit(r, KIND_REQUEST, _generic_text(
                r, "client request sent by the browser", kind, p), f"event:{r.event_id}")
        elif "system_event" in r.doc_types:
            if r.game_id:
                continue  # a game's own records are part of its summary
            yield from emit(r, KIND_SYSTEM, _generic_text(r, "system event", kind, p),
                            f"event:{r.event_id}")
        elif isinstance(p, dict) and p.get("rugged") is True:
            gid = str(p.get("gameId") or r.game_id or "")
            if gid and gid not in rugged_games:
                rugged_games.add(gid)
                yield from emit(r, KIND_RUG, _rug_text(r, p), f"rug:{gid}")
        elif isinstance(p, dict) and "trade" in r.event_name.lower() and "type" in p:
            gid = str(p.get("gameId") or r.game_id or "")
            key = (gid, str(p.get("type")))
            if key not in first_trade:
                first_trade[key] = r.event_id
                yield from emit(r, KIND_TRADE, _trade_text(r, p), f"event:{r.event_id}")
            else:
                size = _trade_size(p)
                if key not in best_trade or size > best_trade[key][0]:
                    best_trade[key] = (size, r, p)
        elif "sidebet" in r.event_name.lower():
            yield from emit(r, KIND_SIDEBET, _generic_text(r, "side bet", kind, p),
                            f"event:{r.event_id}")
    # The largest trade of each game and type, when it was not also the first.
    for key, (_size, r, p) in sorted(best_trade.items()):
        if r.event_id != first_trade.get(key):
            yield from emit(r, KIND_TRADE, _trade_text(r, p), f"event:{r.event_id}")


# ----------------------------------------------------------------------------- helpers


def dedupe(chunks: Iterable[Chunk]) -> list[Chunk]:
    """Chunks with identical texts (or ids) once, first one kept."""
    out: list[Chunk] = []
    texts: set[str] = set()
    ids: set[str] = set()
    for c in chunks:
        if c.text in texts or c.chunk_id in ids:
            continue
        texts.add(c.text)
        ids.add(c.chunk_id)
        out.append(c)
    return out


def format_for(values: Iterable[Any]) -> str | None:
    """Re-exported so callers need not reach into the store for value formats."""
    return value_format(values)
