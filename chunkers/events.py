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
    ID_FORMATS,
    Catalog,
    EventInfo,
    FieldInfo,
    parent_path,
    to_datetime,
    value_format,
)
from store.payload import parse_raw

CHUNKER_VERSION = EVENTS_CHUNKER_VERSION
CATALOG_SOURCE = "catalog"
MAX_LISTED_FIELDS = 40  # top-level fields named in an overview card
MAX_PAIRS = 14  # key/value pairs rendered from one payload
MAX_CHILDREN = 24  # children named in a container card
MAX_FOLDED = 8  # an object with at most this many plain fields is described on one card
MIN_FOR_PHASES = 10  # phases of an event seen fewer times say more about chance than about it
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
        return f"{value:.4g}"
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
    if set(k) == {"trace_only"}:
        return "Payload not captured: only its trace argument was recorded, so its fields " \
            "are unknown"
    if set(k) == {"null"}:
        return "No payload (data null)"
    if k.get("object") or k.get("array"):
        n = k.get("object", 0) + k.get("array", 0)
        parts.append(f"a JSON payload in {n} of {total}")
    if k.get("null"):
        parts.append(f"no payload (data null) in {k['null']} of {total}")
    if k.get("trace_only"):
        parts.append(f"only the trace argument (payload not captured) in {k['trace_only']} "
                     f"of {total}")
    if k.get("scalar"):
        parts.append(f"a plain value in {k['scalar']}")
    if k.get("invalid"):
        parts.append(f"text that is not JSON in {k['invalid']}")
    return "Payload: " + "; ".join(parts) if parts else "Payload: none seen"


def _phases_phrase(phases: dict[str, int], total: int | None = None) -> str:
    if not phases:
        return ""
    n = total or sum(phases.values()) or 1
    items = sorted(phases.items(), key=lambda kv: (-kv[1], kv[0]))
    return _join(f"{phase_words(p)} ({p}, {_pct(c / n)})" for p, c in items)


def _request_payload(cat: Catalog | None, name: str) -> str:
    """What a client request was seen to carry, e.g. "period 7d"."""
    req = cat.get(name) if cat is not None else None
    if req is None:
        return ""
    if set(req.payload_kinds) == {"null"}:
        return " (sent without arguments)"
    pairs = [f"{f.path} {fmt(f.examples[0])}" for f in _top_level(req)
             if f.examples and f.format not in ID_FORMATS]
    return f" (sent with {_join(pairs, 4)})" if pairs else ""


def _relations_phrase(e: EventInfo, cat: Catalog | None = None) -> str:
    parts = []
    if e.replies_to:
        parts.append("Arrives as the reply to the client request " + _join(
            n + _request_payload(cat, n)
            for n in sorted(e.replies_to, key=lambda n: (-e.replies_to[n], n))))
    if e.answered_by:
        parts.append("The server answers it with " + _join(
            sorted(e.answered_by, key=lambda n: (-e.answered_by[n], n))))
    if e.same_trace_as:
        peers = sorted(e.same_trace_as, key=lambda n: (-e.same_trace_as[n], n))
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


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1].removesuffix("[]")


def _approx(n: int) -> str:
    """Counts in texts are rounded so a few new events do not change (and re-embed) a card."""
    if n < 100:
        return str(n)
    digits = len(str(n)) - 2
    return f"about {round(n, -digits):,}"


def overview_text(e: EventInfo, cat: Catalog | None = None) -> str:
    parts = [head(e.event_name) + ": " + (event_meaning(e.event_name) or
                                          "an event of the rugs.fun protocol")]
    parts.append(_direction_phrase(e))
    parts.append(f"Access: {e.auth}")
    when = f"seen {_approx(e.count)} times"
    if e.first_seen and e.last_seen:
        first, last = e.first_seen[:10], e.last_seen[:10]
        when += f" on {first}" if first == last else f" from {first} to {last}"
    if e.median_interval_s:
        gap = float(f"{e.median_interval_s:.2g}")
        when += f", typically every {gap:g} s" + (f" (~{1 / gap:.0f} per second)"
                                                   if gap <= 1 else "")
    parts.append(f"Stored as {_join(sorted(e.doc_types))}; {when}")
    if e.phases and e.count >= MIN_FOR_PHASES:
        parts.append("Game phases when it occurs: " + _phases_phrase(e.phases))
    parts.append(_payload_phrase(e))
    top = _top_level(e)
    if top:
        listed = [f"{f.path} ({path_words(f.path)})" if path_words(f.path) != f.path.lower()
                  else f.path for f in top]
        parts.append(f"Fields ({len(e.fields)} paths, {len(top)} at the top): "
                     + _join(listed, MAX_LISTED_FIELDS))
        nested = sorted({_leaf(f.path) for f in e.fields
                         if parent_path(f.path) is not None and _leaf(f.path) not in
                         ("<n>", "<id>")} - {f.path for f in top})
        if nested:
            parts.append("Nested fields: " + _join(nested, 2 * MAX_LISTED_FIELDS))
    rel = _relations_phrase(e, cat)
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
            base = "an array (list) of objects"
        elif item_types:
            base = "an array (list) of " + " or ".join(
                "numbers" if t in ("number", "integer") else t + "s"
                for t in _merge_numeric(item_types))
        else:
            base = "an array (always empty in the data)"
        if f.items and f.items[1] > 0:
            lo, hi = f.items
            base += f", {lo} items" if lo == hi else f", {lo} to {hi} items"
    elif names == ["object"]:
        keyed = [c for c in children if c.path in (f.path + ".<n>", f.path + ".<id>")]
        base = ("an object keyed by number" if keyed and keyed[0].path.endswith("<n>")
                else "an object keyed by id" if keyed else "an object")
    else:
        base = " or ".join(_merge_numeric(names))
        base = ("a " if base[0] not in "aeiou" else "an ") + base
    if nulls and names != ["null"]:
        base += f" (null in {_pct(nulls / max(f.count, 1))})"
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
            return "always present"
        return f"present in {_pct(f.presence)} of {e.event_name} payloads"
    within = f.within
    if within is None:
        return ""
    if within >= 0.9995:
        return f"always present in its {path_words(pp)}"
    return f"present in {_pct(within)} of {path_words(pp)}"


def _phase_restriction(e: EventInfo, f: FieldInfo) -> str:
    """The phases a field is limited to, when it is not seen in every phase of its event."""
    if not f.phases or len(e.phases) < 2:
        return ""
    total = sum(f.phases.values()) or 1
    mine = {p for p, n in f.phases.items() if n / total >= 0.01}
    ev_total = sum(e.phases.values()) or 1
    theirs = {p for p, n in e.phases.items() if n / ev_total >= 0.01}
    if not mine or mine >= theirs:
        return ""
    return "only during " + _join(phase_words(p) for p in sorted(
        mine, key=lambda p: (-f.phases[p], p)))


def _values_phrase(f: FieldInfo) -> str:
    fmt_name = f.format
    if f.values is not None and 1 < len(f.values) <= 6:
        s = "one of " + _join(fmt(v) for v in f.values)
        if f.value_phases and len(f.value_phases) <= 4:
            per = []
            seen_sets = set()
            for v, ph in sorted(f.value_phases.items()):
                n = sum(ph.values()) or 1
                top = [p for p, c in sorted(ph.items(), key=lambda kv: (-kv[1], kv[0]))
                       if c / n >= 0.05]
                seen_sets.add(frozenset(top))
                per.append(f"{json.loads(v) if v.startswith(chr(34)) else v} during "
                           + _join(phase_words(p) for p in top[:3]))
            if len(seen_sets) > 1:  # only when the value tells the phase apart
                s += " (" + "; ".join(per) + ")"
        return s
    if f.values is not None and len(f.values) == 1:
        return f"always {fmt(f.values[0])} in the data"
    if not f.examples:
        return ""
    if fmt_name == "epoch milliseconds":
        return f"epoch milliseconds, e.g. {fmt(f.examples[0])} ({_epoch_text(f.examples[0])})"
    if fmt_name in ID_FORMATS:
        return fmt_name  # an opaque id's digits say nothing and cost many word pieces
    ex = "e.g. " + _join(fmt(v) for v in f.examples[:2])
    if fmt_name:
        ex = f"{fmt_name}, {ex}"
    if f.min is not None and f.max is not None and f.min != f.max:
        ex += f"; range {fmt(f.min)} to {fmt(f.max)}"
    return ex


def _example_item(f: FieldInfo, direct: list[FieldInfo]) -> str:
    pairs = []
    for c in direct:
        if c.type_names[:1] in (["object"], ["array"]) or not c.examples:
            continue
        if c.format in ("player id (Privy DID)", "UUID", "64-hex hash or seed", "hex string"):
            continue  # long ids say nothing about what the field is
        pairs.append(f"{_leaf(c.path)} {fmt(c.examples[0])}")
    return ("e.g. {" + _join(pairs, 6) + "}") if pairs else ""


def _field_heading(e: EventInfo, f: FieldInfo) -> str:
    """'<Event> field <path> (<plain words>): <meaning>' — how every field card starts."""
    words = path_words(f.path)
    s = f"{head(e.event_name)} field {f.path}"
    if words != f.path:
        s += f" ({words})"
    meaning = field_meaning(e.event_name, f.path)
    if meaning:
        s += f": {meaning}"
    return s


def field_text(e: EventInfo, f: FieldInfo, children: list[FieldInfo]) -> str:
    parts = [_field_heading(e, f), _type_phrase(f, children)]
    direct = [c for c in children if parent_path(c.path) in (f.path, f.path + "[]")
              and not c.path.endswith("[]")]
    keyed = [c for c in direct if _leaf(c.path) in ("<n>", "<id>")]
    if keyed:
        k = keyed[0]
        parts.append("its values: " + (_values_phrase(k) or _join(k.type_names)))
    elif direct:
        names = [_leaf(c.path) for c in direct]
        label = "each item has" if f.type_names[:1] == ["array"] else "with"
        parts.append(f"{label} {_join(names, MAX_CHILDREN)}")
        ex = _example_item(f, direct)
        if ex:
            parts.append(ex)
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
    parts.append(_phase_restriction(e, f))
    if not direct and f.type_names[:1] != ["array"]:
        parts.append(_values_phrase(f))
    pp = parent_path(f.path)
    if pp is not None:
        # A nested field is read in the context of what contains it.
        container = pp.removesuffix("[]")
        parts.append(_context_phrase(e, container))
    return _sentences(parts)


def _context_phrase(e: EventInfo, container: str) -> str:
    """Where a nested field lives, with what its container means when that is known."""
    pm = field_meaning(e.event_name, container)
    if pm:
        return f"part of {container}, {pm}"
    words = path_words(container)
    return f"part of {container}" + (f" ({words})" if words != container else "")


def _sentences(parts: Iterable[str]) -> str:
    """Join phrases into sentences, each starting with a capital letter."""
    out = []
    for p in parts:
        p = p.strip().rstrip(".")
        if not p:
            continue
        first = p.split(" ", 1)[0]
        # Field names keep their case ("total_ticks", "peakMultiplier"): only plain words
        # are capitalized.
        out.append(p[0].upper() + p[1:] if first.isalpha() and first.islower() else p)
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
        parts.append("example: " + _join(f"{k} {fmt(v)}" for k, v in sorted(shape.example.items())
                                         if not _is_id(v)))
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


def _direct(fields: list[FieldInfo], path: str) -> list[FieldInfo]:
    """The fields directly inside `path` (inside its items, for a list)."""
    return [c for c in fields if parent_path(c.path) in (path, path + "[]")
            and not c.path.endswith("[]")]


def small_objects(e: EventInfo) -> set[str]:
    """Objects (or lists of objects) whose few fields are all plain values.

    Such a field is described on one card with all its fields (selectedCoin with its name,
    ticker and address; provablyFair with its seeds), not on a card per field: separate
    near-identical cards would crowd out everything else for any word they share.
    """
    out = set()
    for f in e.fields:
        kinds = set(f.type_names) - {"null"}
        if kinds not in ({"object"}, {"array"}) or f.path.endswith("[]"):
            continue
        kids = _direct(e.fields, f.path)
        if not kids or len(kids) > MAX_FOLDED:
            continue
        if any(_leaf(c.path) in ("<n>", "<id>") for c in kids):
            continue
        if all(set(c.type_names) <= {"string", "number", "integer", "boolean", "null"}
               for c in kids):
            out.add(f.path)
    return out


def _folded_child(e: EventInfo, c: FieldInfo) -> str:
    leaf = _leaf(c.path)
    s = leaf
    w = path_words(leaf)
    if w != leaf:
        s += f" ({w})"
    m = field_meaning(e.event_name, c.path)
    if m:
        s += f": {m}"
    v = _values_phrase(c)
    return f"{s}, {_type_phrase(c, [])}" + (f", {v}" if v else "")


def folded_text(e: EventInfo, f: FieldInfo, kids: list[FieldInfo]) -> str:
    parts = [_field_heading(e, f), _type_phrase(f, _children(e, f.path))]
    label = "each item has" if f.type_names[:1] == ["array"] else "its fields"
    parts.append(f"{label}: " + "; ".join(_folded_child(e, c) for c in kids))
    parts.append(_presence_phrase(e, f))
    parts.append(_phase_restriction(e, f))
    pp = parent_path(f.path)
    if pp is not None:
        container = pp.removesuffix("[]")
        parts.append(_context_phrase(e, container))
    return _sentences(parts)


def same_shape(e: EventInfo) -> dict[str, str]:
    """Containers whose fields repeat an earlier container's (a history entry holding the same
    leaderboard as the live one): container path -> the path described in full."""
    seen: dict[frozenset[str], str] = {}
    out: dict[str, str] = {}
    containers = [f for f in e.fields if set(f.type_names) - {"null"} in ({"object"}, {"array"})
                  and not f.path.endswith("[]")]
    for f in sorted(containers, key=lambda f: (f.path.count(".") + f.path.count("[]"), f.path)):
        if any(f.path.startswith(d + ".") or f.path.startswith(d + "[]") for d in out):
            continue  # inside a repeat already
        names = frozenset(_leaf(c.path) for c in _direct(e.fields, f.path))
        if len(names) < 3:
            continue
        if names in seen:
            out[f.path] = seen[names]
        else:
            seen[names] = f.path
    return out


def repeat_text(e: EventInfo, f: FieldInfo, original: str) -> str:
    words = path_words(f.path)
    s = f"{head(e.event_name)} field {f.path}" + (f" ({words})" if words != f.path else "")
    names = [_leaf(c.path) for c in _direct(e.fields, f.path)]
    parts = [s, _type_phrase(f, _children(e, f.path)),
             f"same fields as {original}: " + _join(names, MAX_CHILDREN),
             _presence_phrase(e, f)]
    pp = parent_path(f.path)
    if pp is not None:
        parts.append(_context_phrase(e, pp.removesuffix("[]")))
    return _sentences(parts)


def event_cards(e: EventInfo, source: str = CATALOG_SOURCE,
                cat: Catalog | None = None) -> list[Chunk]:
    """The schema cards of one event: an overview, one per shape, one per field path
    (the fields of a small object on its object's card). `cat` lets the overview say what a
    client request it answers carries."""
    out = [Chunk(f"schema:{e.event_name}:overview", overview_text(e, cat), source,
                 _card_meta(e, KIND_OVERVIEW))]
    for s in e.shapes:
        out.append(Chunk(f"schema:{e.event_name}:shape:{s.key}", shape_text(e, s.key), source,
                         _card_meta(e, KIND_SHAPE, shape=s.key)))
    folded = small_objects(e)
    repeats = same_shape(e)
    for f in e.fields:
        leaf = _leaf(f.path)
        if f.path.endswith("[]") or leaf in ("<n>", "<id>"):
            continue  # list items and keyed values are described on their container's card
        pp = parent_path(f.path)
        if pp is not None and pp.removesuffix("[]") in folded:
            continue
        if any(f.path.startswith(r + ".") or f.path.startswith(r + "[]") for r in repeats):
            continue  # described once, on the container it repeats
        if f.path in repeats:
            text = repeat_text(e, f, repeats[f.path])
        elif f.path in folded:
            text = folded_text(e, f, _direct(e.fields, f.path))
        else:
            text = field_text(e, f, _children(e, f.path))
        out.append(Chunk(f"schema:{e.event_name}:field:{f.path}", text, source,
                         _card_meta(e, KIND_FIELD, field=f.path)))
    return out


def schema_cards(cat: Catalog, source: str = CATALOG_SOURCE) -> list[Chunk]:
    """Schema cards for every event of a catalog, identical texts once."""
    out: list[Chunk] = []
    for name in cat.names():
        out.extend(event_cards(cat.events[name], source, cat))
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
    tick_event: str | None = None  # event name of its ticks (when no record summarizes it)
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
    s = f"globalSidebets {len(placed)} placed ({fmt(float(staked))} SOL)"
    if paid:
        s += f", {len(won)} of {len(paid)} paid out won"
    return s


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and value_format([value]) in ID_FORMATS


def _summary_pairs(rec: dict[str, Any], skip: set[str]) -> list[str]:
    pairs = []
    for k, v in rec.items():
        if k in skip or k in ("type", "timestamp") or _is_id(v):
            continue
        if isinstance(v, list) and v and all(not isinstance(x, dict | list) for x in v):
            pairs.append(f"{k} {'–'.join(fmt(x) for x in v)}" if len(v) <= 4
                         else f"{k} [{len(v)} values]")
        elif isinstance(v, dict):
            inner = _join(f"{ik} {fmt(iv)}" for ik, iv in v.items()
                          if not isinstance(iv, dict | list) and not _is_id(iv))
            pairs.append(f"{k} ({inner})" if inner else k)
        elif isinstance(v, list):
            pairs.append(f"{k} [{len(v)} items]")
        else:
            pairs.append(f"{k} {fmt(v)}")
    return pairs


_PEAK_KEYS = ("peak_price", "peakMultiplier", "peak_multiplier")
_FINAL_KEYS = ("final_price",)
_TICKS_KEYS = ("total_ticks",)
# Record fields a summary states through its own facts (or leaves to the schema card).
_SUMMARY_SKIP = {"globalSidebets", "globalTrades", "prices", "provablyFair", "gameVersion",
                 "price_range", "tick_range", "rugged", *_PEAK_KEYS, *_FINAL_KEYS, *_TICKS_KEYS}


def _first_key(rec: dict[str, Any], keys: Iterable[str]) -> str | None:
    return next((k for k in keys if rec.get(k) is not None), None)


def game_summary_text(g: GameFacts) -> str:
    """A short text per game: peak, end, length, rug, trades, and what its record adds.

    Record fields keep their protocol names next to the value ("peak_price 148.3"), so a
    search with the field's name finds the summaries that carry it. About 60 word pieces.
    """
    ev = g.summary_event
    # Without a summary record the game is summarized from its ticks; "Tick (tick) summary"
    # would make a near-empty text about ticks that matches every question about ticks.
    lead = (f"{head(ev)} summary of game {g.game_id}" if ev
            else f"Game summary of game {g.game_id}")
    origin = ("legacy recording" if g.sources == ["legacy"]
              else "live capture" if g.sources else "")
    parts = [lead + (f", {origin}" if origin else "") + f", {g.date or 'date unknown'}"]
    s = g.summary or {}
    facts: list[str] = []
    pk = _first_key(s, _PEAK_KEYS)
    peak = f"{pk} {fmt(s[pk])}" if pk else (
        f"peak {fmt(g.peak_price)}x" if g.peak_price is not None else "")
    if peak and g.peak_tick is not None:
        peak += f" at tick {g.peak_tick}"
    if peak:
        facts.append(peak)
    fk = _first_key(s, _FINAL_KEYS)
    if fk:
        facts.append(f"{fk} {fmt(s[fk])}")
    elif g.final_price is not None:
        facts.append(f"final price {fmt(g.final_price)}x")
    tk = _first_key(s, _TICKS_KEYS)
    span = (f"ticks {g.min_tick}–{g.max_tick}" if g.min_tick is not None
            and g.max_tick is not None else "")
    if isinstance(s.get("tick_range"), list) and len(s["tick_range"]) == 2:
        span = f"ticks {fmt(s['tick_range'][0])}–{fmt(s['tick_range'][1])}"
    if tk:
        facts.append(f"{tk} {fmt(s[tk])}" + (f" ({span})" if span else ""))
    elif isinstance(s.get("prices"), list):
        facts.append(f"prices[] {len(s['prices'])} tick-by-tick prices")
    elif g.ticks:
        facts.append(f"{g.ticks} ticks" + (f" ({span})" if span else ""))
    if g.rug_tick is not None:
        final = s.get(fk) if fk else g.final_price
        shown = g.rug_price is not None and fmt(g.rug_price) != fmt(final)
        facts.append(f"rugged at tick {g.rug_tick}" + (
            f" (price {fmt(g.rug_price)}x)" if shown else ""))
    if g.trade_count is not None:
        facts.append(f"{g.trade_count} trades")
    if g.trades_seen:
        facts.append("trade events " + _join(f"{k} {v}" for k, v in
                                            sorted(g.trades_seen.items())))
    facts.extend(_summary_pairs(s, _SUMMARY_SKIP))
    pf = s.get("provablyFair")
    if isinstance(pf, dict) and isinstance(pf.get("serverSeed"), str):
        facts.append(f"provablyFair.serverSeed {pf['serverSeed'][:12]}… revealed")
    if isinstance(s.get("globalSidebets"), list) and s["globalSidebets"]:
        facts.append(_sidebet_phrase(s["globalSidebets"]))
    if isinstance(s.get("globalTrades"), list) and s["globalTrades"]:
        facts.append(f"globalTrades {len(s['globalTrades'])}")
    for name, rec in g.records:
        pairs = _summary_pairs(rec, {"game_id", "gameId"})
        if pairs:
            facts.append(f"{name} {_join(pairs, 6)}")
    parts.append(_join(facts))
    return _sentences(parts)


def game_summary_chunk(g: GameFacts, source: str) -> Chunk:
    return Chunk(
        f"game:{g.game_id}",
        game_summary_text(g),
        source,
        {
            "kind": KIND_GAME,
            "doc_type": "complete_game",
            "event_name": g.summary_event or g.tick_event or "complete_game",
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
    """`key value` pairs of a payload's scalars; ids by name only, nested parts summarized."""
    if not isinstance(payload, dict):
        if isinstance(payload, list):
            return f"a list of {len(payload)} items"
        return fmt(payload)
    pairs = []
    for k, v in payload.items():
        if _is_id(v):
            pairs.append(k)  # the field's name matters, its opaque id does not
        elif isinstance(v, dict):
            inner = [f"{ik} {fmt(iv)}" for ik, iv in v.items()
                     if not isinstance(iv, dict | list) and not _is_id(iv)]
            nested = [ik for ik, iv in v.items() if isinstance(iv, dict | list)]
            pairs.append(f"{k} ({_join(inner + nested, 6)})" if inner or nested else f"{k} {{}}")
        elif isinstance(v, list):
            if v and isinstance(v[0], dict):
                first = _join((f"{ik} {fmt(iv)}" for ik, iv in v[0].items()
                               if not isinstance(iv, dict | list) and not _is_id(iv)), 6)
                pairs.append(f"{k} [{len(v)} items, first: {first}]")
            else:
                pairs.append(f"{k} [{len(v)} items]")
        else:
            pairs.append(f"{k} {fmt(v)}")
    return _join(pairs, limit)


def _trade_text(r: EventRow, p: dict[str, Any]) -> str:
    who = p.get("username") or r.username or "a player"
    lead = f"{head(r.event_name)}: {p.get('type', 'trade')} by {who}"
    if p.get("level") is not None:
        lead += f" (level {fmt(p['level'])})"
    if p.get("gameId") or r.game_id:
        lead += f" in game {p.get('gameId') or r.game_id}"
    if p.get("tickIndex") is not None:
        lead += f" at tick {fmt(p['tickIndex'])}"
    return f"{lead}. {render_pairs(p)}."


def _generic_text(r: EventRow, kind_words: str, payload_kind: str, p: Any,
                  dated: bool = False) -> str:
    meaning = event_meaning(r.event_name)
    lead = head(r.event_name) + (f", {kind_words}" if kind_words else "")
    day = _date(to_datetime(r.ts)) if dated else None
    if day:
        # Requests and lifecycle events repeat with the same payload: one chunk per day.
        lead += f" on {day}"
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
            "player_id": r.player_id,
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
        elif "player_action" in r.doc_types:
            yield from emit(r, KIND_ACTION, _generic_text(r, "player action", kind, p),
                            f"event:{r.event_id}")
        elif r.direction == "sent":
            yield from emit(r, KIND_REQUEST, _generic_text(
                r, "client request sent by the browser", kind, p, dated=True),
                f"event:{r.event_id}")
        elif "system_event" in r.doc_types:
            if r.game_id:
                continue  # a game's own records are part of its summary
            yield from emit(r, KIND_SYSTEM, _generic_text(r, "system event", kind, p,
                                                          dated=True), f"event:{r.event_id}")
        elif isinstance(p, dict) and p.get("rugged") is True:
            gid = str(p.get("gameId") or r.game_id or "")
            if gid and gid not in rugged_games:
                rugged_games.add(gid)
                yield from emit(r, KIND_RUG, _rug_text(r, p), f"event:{r.event_id}")
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
