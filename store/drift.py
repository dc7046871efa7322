"""Documented vs observed, per event and field: the protocol docs (`store.spec`) joined with
the event catalog at read time (nothing of it is stored in the catalog cache).

Per event: documented only (the docs describe it, the store never saw it), observed only,
or both; the docs' VERIFIED mark and verification dates beside the project's own
`schema verify` status. Per field: the same three, plus type disagreements (the docs say
int, the data shows floats) and the docs' NEEDS VALIDATION marks. A documented field that
the data holds under another parent is named with where it was seen.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from store.catalog import Catalog, EventInfo, FieldInfo
from store.errors import HINT_LIST_EVENTS, CatalogError, DocsError
from store.paths import DataPaths
from store.spec import DocEvent, DocField, Documented, doc_files, load_documented, normalize_path

BOTH = "both"
DOCUMENTED_ONLY = "documented_only"
OBSERVED_ONLY = "observed_only"
TRACE_WRAPPER = "trace_wrapper"  # a documented trace key: the store unwraps it, not a field
STATUSES = (BOTH, DOCUMENTED_ONLY, OBSERVED_ONLY, TRACE_WRAPPER)


@dataclass
class FieldDrift:
    """One field path: where it is known from and whether the two agree."""

    path: str
    status: str
    documented_types: list[str] = field(default_factory=list)
    documented_type: str = ""  # as the docs write it ("float/null")
    observed_types: list[str] = field(default_factory=list)
    type_mismatch: str | None = None
    description: str = ""
    needs_validation: bool = False  # the docs mark it as not yet validated
    presence: float | None = None  # share of the event's payloads that carry it
    observed_at: list[str] = field(default_factory=list)  # documented only: same name elsewhere

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EventDrift:
    """One event name: documented, observed or both, its validation, its fields."""

    event_name: str
    status: str
    summary: str = ""
    count: int = 0
    documented_direction: str | None = None
    observed_directions: list[str] = field(default_factory=list)
    payload_captured: bool = True  # False: only trace arguments or nulls were stored
    spec_verified: bool | None = None  # None: not documented
    verified_on: list[str] = field(default_factory=list)
    validation: str = "unverified"  # the project's `schema verify` status
    validation_note: str = ""
    doc_sources: list[str] = field(default_factory=list)
    fields: list[FieldDrift] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for f in self.fields:
            out[f.status] += 1
        out["type_mismatch"] = sum(1 for f in self.fields if f.type_mismatch)
        out["needs_validation"] = sum(1 for f in self.fields if f.needs_validation)
        return out

    def get_field(self, path: str) -> FieldDrift | None:
        return next((f for f in self.fields if f.path == path), None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counts"] = self.counts()
        return d


def type_mismatch(doc: DocField, observed: list[str]) -> str | None:
    """What the data shows that the docs' type does not allow, in a phrase; None if they agree
    (or the docs name no type). An integer is a valid float; a wire example's numbers say
    nothing about int against float."""
    if not doc.types:
        return None
    allowed = set(doc.types)
    if "number" in allowed:
        allowed.add("integer")
    if doc.from_example and allowed & {"integer", "number"}:
        allowed |= {"integer", "number"}
    bad = [t for t in observed if t not in allowed]
    if not bad:
        return None
    said = doc.type_text or "/".join(doc.types)
    return f"documented as {said}, the data also shows {'/'.join(bad)}"


def _comparable(f: FieldInfo) -> bool:
    return not f.path.endswith("[]")  # list items are described by their list


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1].removesuffix("[]")


def field_drift(e: EventInfo | None, d: DocEvent | None) -> list[FieldDrift]:
    """Every field of one event, documented, observed or both, in the docs' order first."""
    observed = [f for f in (e.fields if e else []) if _comparable(f)]
    by_norm = {normalize_path(f.path): f for f in observed}
    matched: set[str] = set()
    out: list[FieldDrift] = []
    for doc in (d.fields.values() if d else ()):
        if doc.trace:
            out.append(FieldDrift(doc.path, TRACE_WRAPPER, list(doc.types), doc.type_text,
                                  description=doc.description))
            continue
        if doc.path.startswith("*."):
            hits = [f for f in observed if _leaf(f.path) == doc.path[2:] and "." in f.path
                    and f.path not in matched]
        else:
            hit = by_norm.get(normalize_path(doc.path))
            hits = [hit] if hit is not None else []
        fd = FieldDrift(doc.path, BOTH if hits else DOCUMENTED_ONLY, list(doc.types),
                        doc.type_text, description=doc.description,
                        needs_validation=doc.needs_validation)
        if hits:
            types = sorted({t for h in hits for t in h.type_names})
            fd.observed_types = types
            fd.type_mismatch = type_mismatch(doc, types)
            fd.presence = round(max(h.presence for h in hits), 4)
            matched.update(h.path for h in hits)
        else:
            fd.observed_at = [f.path for f in observed if _leaf(f.path) == _leaf(doc.path)][:5]
        out.append(fd)
    for f in observed:
        if f.path not in matched:
            out.append(FieldDrift(f.path, OBSERVED_ONLY, observed_types=list(f.type_names),
                                  presence=round(f.presence, 4)))
    return out


def event_drift(name: str, e: EventInfo | None, d: DocEvent | None,
                record: Mapping[str, Any] | None = None) -> EventDrift:
    """The join of one event's catalog entry and its docs (either may be missing)."""
    status = BOTH if e is not None and d is not None else (
        OBSERVED_ONLY if e is not None else DOCUMENTED_ONLY)
    v = dict((e.validation if e is not None else None) or record or {})
    out = EventDrift(
        event_name=name, status=status, summary=d.summary if d else "",
        count=e.count if e else 0,
        documented_direction=d.direction if d else None,
        observed_directions=sorted(e.directions) if e else [],
        payload_captured=bool(e is None or set(e.payload_kinds) - {"trace_only", "null"}),
        spec_verified=d.verified if d else None,
        verified_on=list(d.verified_on) if d else [],
        validation=str(v.get("status", "unverified")), validation_note=str(v.get("note", "")),
        doc_sources=list(d.sources) if d else [],
        fields=field_drift(e, d),
    )
    return out


def drift(cat: Catalog, docs: Documented,
          records: Mapping[str, Any] | None = None) -> list[EventDrift]:
    """Every event the catalog or the docs know, sorted by name. `records`: validation
    records by name (objects with `to_dict()` or dicts) for events the store never saw."""
    recs: dict[str, Any] = {}
    for name, r in (records or {}).items():
        recs[name] = r.to_dict() if hasattr(r, "to_dict") else dict(r)
    names = sorted(set(cat.events) | set(docs.events))
    return [event_drift(n, cat.get(n), docs.get(n), recs.get(n)) for n in names]


def summary(report: list[EventDrift]) -> dict[str, int]:
    """Totals over a drift report: events per status, fields per status, type mismatches."""
    out: dict[str, int] = {f"events_{s}": 0 for s in (BOTH, DOCUMENTED_ONLY, OBSERVED_ONLY)}
    for ev in report:
        out[f"events_{ev.status}"] += 1
        for k, n in ev.counts().items():
            out[f"fields_{k}"] = out.get(f"fields_{k}", 0) + n
    return out


def resolve_name(names: Iterable[str], name: str) -> str:
    """One of `names` (the events the catalog or the docs know) for `name`: exact, else
    case-insensitive; else a CatalogError listing close names."""
    known = sorted(set(names))
    if name in known:
        return name
    lower = {n.lower(): n for n in known}
    if name.lower() in lower:
        return lower[name.lower()]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    maybe = f"; did you mean {', '.join(close)}?" if close else ""
    raise CatalogError(f"unknown event {name!r}{maybe} ({len(known)} known: replayer schema "
                       "drift lists them)", hint=HINT_LIST_EVENTS)


def open_docs(root: Path | None, known: list[str] | None = None) -> Documented:
    """The docs root parsed, or a DocsError saying how to point at one."""
    if root is None:
        raise DocsError("no protocol docs root: set RUGS_PROTOCOL_DOCS (or pass --docs DIR) "
                        "to a folder of markdown files such as WEBSOCKET_EVENTS_SPEC.md")
    if not root.is_dir():
        raise DocsError(f"protocol docs root {root} is not a directory")
    if not doc_files(root):
        raise DocsError(f"protocol docs root {root} holds no markdown (.md) files")
    return load_documented(root, known=known or ())


def drift_report(paths: DataPaths, docs_root: Path | None) -> tuple[list[EventDrift],
                                                                   Documented]:
    """The drift of everything committed against the docs root (the catalog from its cache,
    validation records attached)."""
    from store.catalog import catalog_from_store
    from store.validation import load_validation

    cat = catalog_from_store(paths)
    docs = open_docs(docs_root, cat.names())
    return drift(cat, docs, load_validation(paths)), docs
