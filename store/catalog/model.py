"""The catalog model: per event name its directions, doc types, counts, times and fields."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from store.errors import HINT_INGEST, HINT_LIST_EVENTS, CatalogError, SchemaVersionError

CATALOG_VERSION = 1  # the on-disk format of the cache; newer versions are refused


@dataclass
class FieldInfo:
    """One field path of one event: JSON types, how often present, examples."""

    path: str
    types: dict[str, int]
    count: int  # values seen (a path inside a list has one per item)
    present: int  # walked events in which the path occurs
    presence: float  # present / walked events that carry a payload
    within: float | None  # share of the parent objects (or list items) that have this key
    examples: list[Any]
    values: list[Any] | None  # every distinct value when there are few (an enumeration)
    min: float | None
    max: float | None
    format: str | None  # e.g. "player id (Privy DID)", "epoch milliseconds"
    phases: dict[str, int]
    items: tuple[int, int] | None = None  # fewest and most items of a list field
    value_phases: dict[str, dict[str, int]] = field(default_factory=dict)  # enum value -> phases

    @property
    def type_names(self) -> list[str]:
        return [t for t, _ in sorted(self.types.items(), key=lambda kv: (-kv[1], kv[0]))]

    @property
    def leaf(self) -> str:
        return self.path.rsplit(".", 1)[-1].removesuffix("[]")


@dataclass
class Shape:
    """A distinct field shape of an event, keyed by a discriminating field's value."""

    key: str  # e.g. "type=short_close"
    count: int
    fields: list[str]  # field paths present in every walked event of this shape
    only_here: list[str]  # fields no other shape of this event has
    example: dict[str, Any] = field(default_factory=dict)  # top-level scalars of the first one


@dataclass
class EventInfo:
    """Everything the catalog knows about one event name."""

    event_name: str
    count: int
    directions: dict[str, int]
    doc_types: dict[str, int]
    primary_doc_type: str
    sources: dict[str, int]
    first_seen: str | None
    last_seen: str | None
    payload_kinds: dict[str, int]
    walked: int
    fields: list[FieldInfo]
    phases: dict[str, int]
    shapes: list[Shape] = field(default_factory=list)
    replies_to: dict[str, int] = field(default_factory=dict)  # client requests it answers
    answered_by: dict[str, int] = field(default_factory=dict)  # replies to this request
    same_trace_as: dict[str, int] = field(default_factory=dict)  # "name (direction)" -> n
    median_interval_s: float | None = None
    validation: dict[str, Any] | None = None

    def get_field(self, path: str) -> FieldInfo | None:
        for f in self.fields:
            if f.path == path:
                return f
        return None

    @property
    def auth(self) -> str:
        """Whether the event needs a logged-in session, as far as the sources show."""
        srcs = set(self.sources)
        if not srcs or srcs <= {"legacy"}:
            return "unknown (legacy recorder)" if srcs else "unknown"
        if "sent" in self.directions and "received" not in self.directions:
            return "client request" + (" from a logged-in browser" if "cdp" in srcs else "")
        if srcs & {"public_ws", "replay"}:
            return "public (seen on the unauthenticated feed)"
        if "cdp" in srcs:
            return "seen only in a logged-in browser session (likely needs authentication)"
        return "unknown"


@dataclass
class Catalog:
    """The whole catalog: event name -> EventInfo, plus how many rows it was built from."""

    events: dict[str, EventInfo]
    rows: int
    version: int = CATALOG_VERSION
    fingerprint: str | None = None

    def get(self, name: str) -> EventInfo | None:
        return self.events.get(name)

    def names(self) -> list[str]:
        return sorted(self.events)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "rows": self.rows,
            "events": {n: event_to_dict(e) for n, e in sorted(self.events.items())},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Catalog:
        v = int(d.get("version", 0))
        if v > CATALOG_VERSION:
            raise SchemaVersionError(
                f"event catalog version {v} is newer than this code knows ({CATALOG_VERSION}): "
                "upgrade rugs-replayer"
            )
        events = {n: event_from_dict(e) for n, e in d["events"].items()}
        return cls(events=events, rows=int(d["rows"]), version=v, fingerprint=d.get("fingerprint"))


def event_to_dict(e: EventInfo) -> dict[str, Any]:
    d = asdict(e)
    d["auth"] = e.auth
    return d


def event_from_dict(d: dict[str, Any]) -> EventInfo:
    d = dict(d)
    d.pop("auth", None)
    d["fields"] = [FieldInfo(**{**f, "items": tuple(f["items"]) if f.get("items") else None})
                   for f in d["fields"]]
    d["shapes"] = [Shape(**s) for s in d.get("shapes", [])]
    return EventInfo(**d)


def attach_validation(cat: Catalog, records: dict[str, Any]) -> Catalog:
    """Put each event's validation record (or `unverified`) on the catalog entries."""
    for name, e in cat.events.items():
        rec = records.get(name)
        e.validation = rec.to_dict() if rec is not None else {"status": "unverified"}
    return cat


def describe_event(cat: Catalog, name: str) -> EventInfo:
    """The entry of one event name, or a CatalogError that lists close names."""
    e = cat.get(name)
    if e is not None:
        return e
    lower = {n.lower(): n for n in cat.events}
    if name.lower() in lower:
        return cat.events[lower[name.lower()]]
    close = difflib.get_close_matches(name, list(cat.events), n=3, cutoff=0.5)
    maybe = f"; did you mean {', '.join(close)}?" if close else ""
    known = f" ({len(cat.events)} known: replayer data events)" if cat.events else (
        " (the store holds no events yet: run replayer ingest)"
    )
    raise CatalogError(f"unknown event {name!r}{maybe}{known}",
                       hint=HINT_LIST_EVENTS if cat.events else HINT_INGEST)
