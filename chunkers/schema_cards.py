"""The catalog and the protocol docs -> schema cards: an overview per event (naming every
top-level field with a few words each), a card per field path and per shape.

Every card starts with the event name in plain words and its protocol name, names fields
by their protocol names with plain words beside them, and stays short enough for the
embedding model (it reads ~256 word pieces). What an event or a field means comes from the
docs (`store.spec`: the spec's field tables, the field dictionary); events and fields the
docs describe but the captures never showed get cards too, saying so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chunkers.chunk import Chunk, dedupe
from chunkers.phrases import (
    approx,
    day,
    epoch_text,
    fmt,
    head,
    is_id,
    iso,
    join,
    pct,
    sentences,
)
from chunkers.vocabulary import path_words, phase_words
from store.catalog import ID_FORMATS, Catalog, EventInfo, FieldInfo, parent_path, to_datetime
from store.drift import type_mismatch
from store.spec import EMPTY, DocEvent, DocField, Documented, normalize_path

CATALOG_SOURCE = "catalog"
FEW_WORDS = 4  # words of a field's description in an overview's field list
MAX_CHILDREN = 24  # children named in a container card
MAX_FOLDED = 8  # an object with at most this many plain fields is described on one card
MIN_FOR_PHASES = 10  # phases of an event seen fewer times say more about chance than about it

# Chunk kinds (metadata `kind`), for filtering and for the evaluation report.
KIND_OVERVIEW = "schema_card"  # an event's fields, a few words each
KIND_ABOUT = "schema_about"  # what an event is: direction, access, timing, relations, docs
KIND_FIELD = "schema_field"
KIND_SHAPE = "schema_shape"
KIND_DOCUMENTED = "schema_documented"  # the fields only the docs describe, one card per event


def field_meaning(docs: Documented, event_name: str, path: str) -> str:
    """What the docs say a field is ("" when they do not describe it)."""
    f = docs.field_of(event_name, path)
    return f.description if f is not None else ""


def event_meaning(d: DocEvent | None) -> str:
    """What the docs say an event is: its summary, then up to two other descriptions."""
    if d is None:
        return ""
    s = d.summary
    extra = [a for a in d.about if a.lower() not in s.lower()][:2]
    if extra:
        s = f"{s} ({'; '.join(extra)})" if s else "; ".join(extra)
    return s


def _few_words(text: str) -> str:
    first = text.split("; ", 1)[0]
    ws = first.split()
    return " ".join(ws[:FEW_WORDS]) + ("…" if len(ws) > FEW_WORDS else "")


def _docs_phrase(d: DocEvent | None, observed: bool) -> str:
    """Where the docs describe the event and what they say about its wire behaviour."""
    if d is None:
        return ""  # an event the docs do not describe: nothing to say about them
    files = join(dict.fromkeys(src.rsplit("/", 1)[-1] for src in d.sources), 3)
    s = f"Documented in {files}"
    if d.verified:
        s += ", marked VERIFIED there" + (f" ({join(d.verified_on)})" if d.verified_on else "")
    if not observed:
        s += "; never seen in the captured data"
    said = []
    if d.direction:
        said.append({"sent": "sent by the client to the server",
                     "received": "sent by the server to the client",
                     "both": "sent both ways"}.get(d.direction, d.direction))
    if d.auth:
        said.append(f"auth required {d.auth}")
    if d.phases:
        said.append("phases " + join(d.phases))
    if d.category:
        said.append(f"category {d.category}")
    if d.frequency:
        said.append(f"frequency {d.frequency}")
    return s + (": " + "; ".join(said) if said else "")


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
    return "Direction " + join(sorted(d))


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
    return join(f"{phase_words(p)} ({p}, {pct(c / n)})" for p, c in items)


def _request_payload(cat: Catalog | None, name: str) -> str:
    """What a client request was seen to carry, e.g. "period 7d"."""
    req = cat.get(name) if cat is not None else None
    if req is None:
        return ""
    if set(req.payload_kinds) == {"null"}:
        return " (sent without arguments)"
    pairs = [f"{f.path} {fmt(f.examples[0])}" for f in _top_level(req)
             if f.examples and f.format not in ID_FORMATS]
    return f" (sent with {join(pairs, 4)})" if pairs else ""


def _said(docs: Documented, name: str) -> str:
    """An event name with what the docs say it is: "usernameStatus (Player identity ...)"."""
    d = docs.get(name.split(" (", 1)[0])
    return f"{name} ({_few_words(d.summary)})" if d is not None and d.summary else name


def _relations_phrase(e: EventInfo, cat: Catalog | None = None,
                      docs: Documented = EMPTY) -> str:
    parts = []
    if e.replies_to:
        parts.append("Arrives as the reply to the client request " + join(
            _said(docs, n) + _request_payload(cat, n)
            for n in sorted(e.replies_to, key=lambda n: (-e.replies_to[n], n))))
    if e.answered_by:
        parts.append("The server answers it with " + join(
            _said(docs, n) for n in sorted(e.answered_by, key=lambda n: (-e.answered_by[n], n))))
    if e.same_trace_as:
        peers = sorted(e.same_trace_as, key=lambda n: (-e.same_trace_as[n], n))
        parts.append("Shares a trace with " + join((_said(docs, n) for n in peers), 4)
                     + " (the server sent it while handling that)")
    # The other side of a shared trace: replies the server sent while handling this one.
    handled = sorted(n for n, other in (cat.events.items() if cat is not None else ())
                     if any(k.split(" (", 1)[0] == e.event_name for k in other.same_trace_as)
                     and n not in e.same_trace_as)
    if handled:
        parts.append("While handling it the server sent " + join(
            (_said(docs, n) for n in handled), 4))
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




def _short_type(f: FieldInfo, e: EventInfo) -> str:
    names = [t for t in f.type_names if t != "null"] or ["null"]
    if names == ["object"] or names == ["array"]:
        kids = [_leaf(c.path) for c in _direct(e.fields, f.path)
                if _leaf(c.path) not in ("<n>", "<id>")]
        base = "object" if names == ["object"] else "list"
        return f"{base}: {join(kids, 5)}" if kids else base
    return " or ".join(_merge_numeric(names))


def _field_list(e: EventInfo | None, d: DocEvent | None, docs: Documented) -> list[str]:
    """The phrases naming every top-level field, a few words each: observed fields first
    (in the docs' words when they describe them), then fields only the docs name."""
    parts = []
    top = _top_level(e) if e is not None else []
    if top:
        listed = []
        for f in top:
            said = field_meaning(docs, e.event_name, f.path) if e is not None else ""
            listed.append(f"{f.path} ({_few_words(said) if said else _short_type(f, e)})"
                          if e is not None else f.path)
        parts.append(f"Fields ({len(top)} at the top, {len(e.fields) if e else 0} paths): "
                     + join(listed))
    seen = {f.path for f in top}
    doc_top = [f for f in (d.fields.values() if d else ()) if f.path not in seen
               and "." not in f.path and "[]" not in f.path and not f.trace
               and not f.path.startswith("*")]
    if doc_top and d is not None:
        label = ("Fields (documented)" if not top else
                 "Documented fields not seen in the data")
        parts.append(f"{label}: " + join(f"{f.path} ({_doc_short(d, f)})" for f in doc_top))
    return parts


def _doc_children(d: DocEvent, path: str) -> list[DocField]:
    return [c for c in d.fields.values() if parent_path(c.path) in (path, path + "[]")]


def _doc_short(d: DocEvent, f: DocField) -> str:
    """A few words about a documented field: its description, or its documented children."""
    kids = [_leaf(c.path) for c in _doc_children(d, f.path)]
    said = _few_words(f.description) if f.description else ""
    if kids:
        return (f"{said}; " if said else "") + "fields " + join(kids, 8)
    return said or f.type_text or "no description"


def field_names_text(name: str, e: EventInfo | None, d: DocEvent | None) -> str:
    """What the overview's vector is made from: the event and its top-level field names
    (descriptions beside 48 names make the vector a soup; measured in chunkers/CONTEXT.md)."""
    names = [f.path for f in _top_level(e)] if e is not None else []
    names += [f.path for f in (d.fields.values() if d else ()) if f.path not in names
              and "." not in f.path and "[]" not in f.path and not f.trace
              and not f.path.startswith("*")]
    return f"The fields of {head(name)}: {join(names)}."


def overview_text(e: EventInfo, cat: Catalog | None = None, docs: Documented = EMPTY) -> str:
    """The event's fields card: every top-level field with a few words, then what the event
    is and which way it travels (the rest is on its `about` card)."""
    d = docs.get(e.event_name)
    meaning = event_meaning(d)
    listed = _field_list(e, d, docs)
    if not listed:
        listed = [f"{head(e.event_name)} fields: none known. " + _payload_phrase(e)]
    else:
        listed[0] = f"{head(e.event_name)} {listed[0][0].lower()}{listed[0][1:]}"
    parts = listed + [head(e.event_name) + (f": {meaning}" if meaning else ""),
                      _direction_phrase(e)]
    return sentences(parts)


def about_vector_text(e: EventInfo, docs: Documented = EMPTY) -> str:
    """What the about card's vector is made from: what the event is, which way it travels
    and its top-level fields with a few words each. The counts, timing, payload and docs
    lines after them read alike on every card and blur it (measured in chunkers/CONTEXT.md)."""
    d = docs.get(e.event_name)
    meaning = event_meaning(d)
    listed = _field_list(e, d, docs)
    return sentences([head(e.event_name) + (f": {meaning}" if meaning else ""),
                      _direction_phrase(e), *listed[:1]])


def about_text(e: EventInfo, cat: Catalog | None = None, docs: Documented = EMPTY) -> str:
    """What the event is, as the data and the docs show it: direction, access, counts and
    timing, phases, payload, request/reply and trace relations, docs, validation."""
    d = docs.get(e.event_name)
    meaning = event_meaning(d)
    parts = [head(e.event_name) + (f": {meaning}" if meaning else "")]
    parts.append(f"{len(_top_level(e))} top-level fields, {len(e.fields)} paths"
                 if e.fields else "")
    parts.append(_direction_phrase(e))
    parts.append(f"Access: {e.auth}")
    when = f"seen {approx(e.count)} times"
    if e.first_seen and e.last_seen:
        first, last = e.first_seen[:10], e.last_seen[:10]
        when += f" on {first}" if first == last else f" from {first} to {last}"
    if e.median_interval_s:
        gap = float(f"{e.median_interval_s:.2g}")
        when += f", typically every {gap:g} s" + (f" (~{1 / gap:.0f} per second)"
                                                   if gap <= 1 else "")
    parts.append(f"Stored as {join(sorted(e.doc_types))}; {when}")
    if e.phases and e.count >= MIN_FOR_PHASES:
        parts.append("Game phases when it occurs: " + _phases_phrase(e.phases))
    parts.append(_payload_phrase(e))
    rel = _relations_phrase(e, cat, docs)
    if rel:
        parts.append(rel)
    parts.append(_docs_phrase(d, observed=True))
    parts.append(_validation_phrase(e.validation))
    return sentences(parts)


def documented_overview_text(d: DocEvent, docs: Documented) -> str:
    """The overview of an event only the docs know: its documented fields, what it is."""
    meaning = event_meaning(d)
    listed = _field_list(None, d, docs)
    if listed:
        listed[0] = f"{head(d.name)} {listed[0][0].lower()}{listed[0][1:]}"
    parts = [*listed, head(d.name) + (f": {meaning}" if meaning else ""),
             _docs_phrase(d, observed=False)]
    return sentences(parts)


def _doc_field_phrase(f: DocField | None, observed: list[str] | None) -> str:
    """What the docs add to a field card: a type the data disagrees with, a missing
    validation."""
    if f is None:
        return ""
    out = []
    if observed is not None:
        mm = type_mismatch(f, observed)
        if mm:
            out.append(mm)
    elif f.type_text:
        out.append(f"documented as {f.type_text}" + (f", e.g. {f.example}" if f.example else ""))
    if f.needs_validation:
        out.append("the docs mark it as needing validation")
    return "; ".join(out)


def documented_fields_text(d: DocEvent, fields: list[DocField]) -> str:
    """One card for the fields of an event that only the docs describe (one card, not one
    per field: near-identical cards would crowd out everything else for words they share)."""
    listed = []
    for f in fields:
        s = f.path
        if f.description:
            s += f": {f.description}"
        extra = _doc_field_phrase(f, None)
        listed.append(s + (f" ({extra})" if extra else ""))
    return sentences([f"{head(d.name)} fields the docs describe but the captured data never "
                      "showed", "; ".join(listed)])


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
        base += f" (null in {pct(nulls / max(f.count, 1))})"
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
        return f"present in {pct(f.presence)} of {e.event_name} payloads"
    within = f.within
    if within is None:
        return ""
    if within >= 0.9995:
        return f"always present in its {path_words(pp)}"
    return f"present in {pct(within)} of {path_words(pp)}"


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
    return "only during " + join(phase_words(p) for p in sorted(
        mine, key=lambda p: (-f.phases[p], p)))


def _values_phrase(f: FieldInfo) -> str:
    fmt_name = f.format
    if f.values is not None and 1 < len(f.values) <= 6:
        s = "one of " + join(fmt(v) for v in f.values)
        if f.value_phases and len(f.value_phases) <= 4:
            per = []
            seen_sets = set()
            for v, ph in sorted(f.value_phases.items()):
                n = sum(ph.values()) or 1
                top = [p for p, c in sorted(ph.items(), key=lambda kv: (-kv[1], kv[0]))
                       if c / n >= 0.05]
                seen_sets.add(frozenset(top))
                per.append(f"{json.loads(v) if v.startswith(chr(34)) else v} during "
                           + join(phase_words(p) for p in top[:3]))
            if len(seen_sets) > 1:  # only when the value tells the phase apart
                s += " (" + "; ".join(per) + ")"
        return s
    if f.values is not None and len(f.values) == 1:
        return f"always {fmt(f.values[0])} in the data"
    if not f.examples:
        return ""
    if fmt_name == "epoch milliseconds":
        return f"epoch milliseconds, e.g. {fmt(f.examples[0])} ({epoch_text(f.examples[0])})"
    if fmt_name in ID_FORMATS:
        return fmt_name  # an opaque id's digits say nothing and cost many word pieces
    ex = "e.g. " + join(fmt(v) for v in f.examples[:2])
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
    return ("e.g. {" + join(pairs, 6) + "}") if pairs else ""


def _field_heading(e: EventInfo, f: FieldInfo, docs: Documented) -> str:
    """'<Event> field <path> (<plain words>): <meaning>' — how every field card starts."""
    words = path_words(f.path)
    s = f"{head(e.event_name)} field {f.path}"
    if words != f.path:
        s += f" ({words})"
    meaning = field_meaning(docs, e.event_name, f.path)
    if meaning:
        s += f": {meaning}"
    return s


def field_text(e: EventInfo, f: FieldInfo, children: list[FieldInfo],
               docs: Documented = EMPTY) -> str:
    parts = [_field_heading(e, f, docs), _type_phrase(f, children),
             _doc_field_phrase(docs.field_of(e.event_name, f.path), f.type_names)]
    direct = [c for c in children if parent_path(c.path) in (f.path, f.path + "[]")
              and not c.path.endswith("[]")]
    keyed = [c for c in direct if _leaf(c.path) in ("<n>", "<id>")]
    if keyed:
        k = keyed[0]
        parts.append("its values: " + (_values_phrase(k) or join(k.type_names)))
    elif direct:
        names = [_leaf(c.path) for c in direct]
        label = "each item has" if f.type_names[:1] == ["array"] else "with"
        parts.append(f"{label} {join(names, MAX_CHILDREN)}")
        ex = _example_item(f, direct)
        if ex:
            parts.append(ex)
        grand = [c.path[len(f.path):].lstrip(".[]") for c in children
                 if c not in direct and not c.path.endswith("[]")
                 and parent_path(c.path) not in (f.path, f.path + "[]")]
        if grand:
            parts.append("nested: " + join(grand, MAX_CHILDREN))
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
        parts.append(_context_phrase(e, container, docs))
    return sentences(parts)


def _context_phrase(e: EventInfo, container: str, docs: Documented) -> str:
    """Where a nested field lives, with what its container means when that is known."""
    pm = field_meaning(docs, e.event_name, container)
    if pm:
        return f"part of {container}, {pm}"
    words = path_words(container)
    return f"part of {container}" + (f" ({words})" if words != container else "")



def shape_text(e: EventInfo, shape_key: str) -> str:
    shape = next(s for s in e.shapes if s.key == shape_key)
    disc, _, value = shape.key.partition("=")
    all_paths = {p for s in e.shapes for p in s.fields}
    missing = sorted(all_paths - set(shape.fields))
    parts = [f"{head(e.event_name)} of {disc} {value}: {shape.count} seen"]
    parts.append("fields " + join(p for p in shape.fields if "." not in p))
    if shape.only_here:
        parts.append("only this " + disc + " has " + join(shape.only_here))
    if missing:
        parts.append("it lacks " + join(missing) + " that other " + disc + "s have")
    if shape.example:
        parts.append("example: " + join(f"{k} {fmt(v)}" for k, v in sorted(shape.example.items())
                                         if not is_id(v)))
    return sentences(parts)


def _children(e: EventInfo, path: str) -> list[FieldInfo]:
    return [c for c in e.fields if c.path.startswith(path + ".") or c.path.startswith(path + "[]")]


def _card_meta(e: EventInfo, kind: str, **extra: Any) -> dict[str, Any]:
    last = to_datetime(e.last_seen)
    return {
        "kind": kind,
        "doc_type": e.primary_doc_type,
        "event_name": e.event_name,
        "game_id": None,
        "date": day(last),
        "ts": iso(last),
        "direction": join(sorted(e.directions)),
        "validation": (e.validation or {}).get("status", "unverified"),
        "events": [e.event_name],
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


def _folded_child(e: EventInfo, c: FieldInfo, docs: Documented) -> str:
    leaf = _leaf(c.path)
    s = leaf
    w = path_words(leaf)
    if w != leaf:
        s += f" ({w})"
    m = field_meaning(docs, e.event_name, c.path)
    if m:
        s += f": {m}"
    v = _values_phrase(c)
    return f"{s}, {_type_phrase(c, [])}" + (f", {v}" if v else "")


def folded_text(e: EventInfo, f: FieldInfo, kids: list[FieldInfo],
                docs: Documented = EMPTY) -> str:
    parts = [_field_heading(e, f, docs), _type_phrase(f, _children(e, f.path))]
    label = "each item has" if f.type_names[:1] == ["array"] else "its fields"
    parts.append(f"{label}: " + "; ".join(_folded_child(e, c, docs) for c in kids))
    parts.append(_presence_phrase(e, f))
    parts.append(_phase_restriction(e, f))
    pp = parent_path(f.path)
    if pp is not None:
        container = pp.removesuffix("[]")
        parts.append(_context_phrase(e, container, docs))
    return sentences(parts)


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


def other_payloads(e: EventInfo, cat: Catalog | None) -> dict[str, str]:
    """Objects inside an event that carry another event's own fields (at least 3 of them:
    `gameStateUpdate.rugRoyale` holds fields of `rugRoyaleUpdate`): path -> "the
    rugRoyaleUpdate payload". Described once, there, like a repeated container."""
    if cat is None:
        return {}
    roots = {n: frozenset(f.path for f in _top_level(o)) for n, o in cat.events.items()
             if n != e.event_name}
    out: dict[str, str] = {}
    for f in e.fields:
        if set(f.type_names) - {"null"} != {"object"} or f.path.endswith("[]"):
            continue
        if any(f.path.startswith(d + ".") or f.path.startswith(d + "[]") for d in out):
            continue
        names = frozenset(_leaf(c.path) for c in _direct(e.fields, f.path))
        match = sorted(n for n, r in roots.items() if len(names) >= 3 and names <= r)
        if match:
            out[f.path] = f"the {match[0]} payload"
    return out


def repeat_text(e: EventInfo, f: FieldInfo, original: str, docs: Documented = EMPTY) -> str:
    words = path_words(f.path)
    s = f"{head(e.event_name)} field {f.path}" + (f" ({words})" if words != f.path else "")
    names = [_leaf(c.path) for c in _direct(e.fields, f.path)]
    parts = [s, _type_phrase(f, _children(e, f.path)),
             f"same fields as {original}: " + join(names, MAX_CHILDREN),
             _presence_phrase(e, f)]
    pp = parent_path(f.path)
    if pp is not None:
        parts.append(_context_phrase(e, pp.removesuffix("[]"), docs))
    return sentences(parts)


MIN_FAMILY = 3  # sibling fields that differ only in their numbers, described on one card


def number_families(e: EventInfo) -> list[list[FieldInfo]]:
    """Sibling fields whose names differ only in their numbers (`count2x`, `count10x`,
    `count50x`, ...), at least MIN_FAMILY of them and none a container of named fields:
    one card describes them all, instead of near-identical cards that crowd each other."""
    groups: dict[tuple[str | None, str], list[FieldInfo]] = {}
    for f in e.fields:
        leaf = _leaf(f.path)
        if f.path.endswith("[]") or leaf in ("<n>", "<id>") or not re.search(r"\d", leaf):
            continue
        if any(not c.path.endswith("[]") for c in _direct(e.fields, f.path)):
            continue
        groups.setdefault((parent_path(f.path), re.sub(r"\d+", "#", leaf)), []).append(f)
    return [v for v in groups.values() if len(v) >= MIN_FAMILY]


def family_text(e: EventInfo, members: list[FieldInfo], docs: Documented = EMPTY) -> str:
    first = members[0]
    meaning = next((m for m in (field_meaning(docs, e.event_name, f.path) for f in members)
                    if m), "")
    s = f"{head(e.event_name)} fields {join(f.path for f in members)} ({path_words(first.path)}"
    s += " and its siblings)" + (f": {meaning}" if meaning else "")
    each = []
    for f in members:
        bits = [_type_phrase(f, _children(e, f.path)), _presence_phrase(e, f), _values_phrase(f),
                _doc_field_phrase(docs.field_of(e.event_name, f.path), f.type_names)]
        each.append(f"{_leaf(f.path)}: " + ", ".join(b for b in bits if b))
    parts = [s, "; ".join(each)]
    pp = parent_path(first.path)
    if pp is not None:
        parts.append(_context_phrase(e, pp.removesuffix("[]"), docs))
    return sentences(parts)


def event_cards(e: EventInfo, source: str = CATALOG_SOURCE,
                cat: Catalog | None = None, docs: Documented = EMPTY) -> list[Chunk]:
    """The schema cards of one event: an overview, one per shape, one per field path
    (the fields of a small object on its object's card), one per field only the docs
    describe. `cat` lets the overview say what a client request it answers carries."""
    out = [Chunk(f"schema:{e.event_name}:about", about_text(e, cat, docs), source,
                 _card_meta(e, KIND_ABOUT), embed_text=about_vector_text(e, docs))]
    if e.fields or (docs.get(e.event_name) and docs.events[e.event_name].fields):
        out.insert(0, Chunk(f"schema:{e.event_name}:overview", overview_text(e, cat, docs),
                            source, _card_meta(e, KIND_OVERVIEW),
                            embed_text=field_names_text(e.event_name, e,
                                                        docs.get(e.event_name))))
    for s in e.shapes:
        out.append(Chunk(f"schema:{e.event_name}:shape:{s.key}", shape_text(e, s.key), source,
                         _card_meta(e, KIND_SHAPE, shape=s.key)))
    folded = small_objects(e)
    repeats = same_shape(e)
    repeats.update(other_payloads(e, cat))
    in_family: set[str] = set()
    for members in number_families(e):
        in_family.update(f.path for f in members)
        # Its vector from its heading (names, words, meaning): the per-member details after it
        # read alike for every member and blur it (measured: dev events MRR 0.774 -> 0.796).
        text = family_text(e, members, docs)
        out.append(Chunk(f"schema:{e.event_name}:field:{members[0].path}", text, source,
                         _card_meta(e, KIND_FIELD, field=members[0].path,
                                    fields=[f.path for f in members]),
                         embed_text=text.split(". ", 1)[0] + "."))
    for f in e.fields:
        leaf = _leaf(f.path)
        if f.path.endswith("[]") or leaf in ("<n>", "<id>") or f.path in in_family:
            continue  # list items and keyed values are described on their container's card
        pp = parent_path(f.path)
        if pp is not None and pp.removesuffix("[]") in folded:
            continue
        if any(f.path.startswith(r + ".") or f.path.startswith(r + "[]") for r in repeats):
            continue  # described once, on the container it repeats
        if f.path in repeats:
            text = repeat_text(e, f, repeats[f.path], docs)
        elif f.path in folded:
            text = folded_text(e, f, _direct(e.fields, f.path), docs)
        else:
            text = field_text(e, f, _children(e, f.path), docs)
        out.append(Chunk(f"schema:{e.event_name}:field:{f.path}", text, source,
                         _card_meta(e, KIND_FIELD, field=f.path)))
    d = docs.get(e.event_name)
    observed = {f.path for f in e.fields}
    missing = [f for f in (d.fields.values() if d else ()) if not f.trace
               and not f.path.startswith("*.") and not docs_observed(f.path, observed)]
    if d is not None and missing:
        out.append(Chunk(f"schema:{e.event_name}:documented", documented_fields_text(d, missing),
                         source, _card_meta(e, KIND_DOCUMENTED)))
    return out


def docs_observed(path: str, observed: set[str]) -> bool:
    """Whether a documented path is among the observed ones (keyed parts compare equal)."""
    want = normalize_path(path)
    return any(normalize_path(p) == want for p in observed)


def documented_cards(d: DocEvent, docs: Documented, source: str = CATALOG_SOURCE
                     ) -> list[Chunk]:
    """The card of an event only the docs know: its overview names its documented fields
    (the doc sections hold the rest)."""
    meta: dict[str, Any] = {
        "kind": KIND_OVERVIEW, "doc_type": None, "event_name": d.name, "events": [d.name],
        "game_id": None, "date": None, "ts": None, "direction": d.direction,
        "validation": "unverified", "spec_verified": d.verified, "documented_only": True,
    }
    return [Chunk(f"schema:{d.name}:overview", documented_overview_text(d, docs), source, meta,
                  embed_text=field_names_text(d.name, None, d) if d.fields else None)]


def schema_cards(cat: Catalog, source: str = CATALOG_SOURCE,
                 docs: Documented = EMPTY) -> list[Chunk]:
    """Schema cards for every event of the catalog and of the docs, identical texts once."""
    out: list[Chunk] = []
    for name in sorted(set(cat.events) | set(docs.events)):
        e = cat.get(name)
        if e is not None:
            out.extend(event_cards(e, source, cat, docs))
        else:
            out.extend(documented_cards(docs.events[name], docs, source))
    return dedupe(out)
