"""The event catalog: per event name its directions, doc types, counts, times and field paths."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.errors import SchemaVersionError, StoreError
from store.paths import DOC_TYPES, DataPaths

CATALOG_VERSION = 1  # the on-disk format of the cache; newer versions are refused
# Bump when the builder computes something differently: part of the cache key, so a cache
# made by older code is recomputed rather than trusted.
BUILDER_REVISION = 5
CACHE_NAME = "event_catalog.json"  # DataPaths.event_catalog

# Field walking is bounded so that a catalog over a day of live ticks (~345,000) stays cheap:
# every event of a name is counted, but only the first WALK_FULL payloads and then one in
# WALK_STRIDE are walked for field statistics (presence ratios use the walked count).
WALK_FULL = 1_000
WALK_STRIDE = 50
QUICK_HEAD = 1_500  # characters read for the phase flags of a payload that is not walked
QUICK_TRACE = 40  # a trace wrapper shows within this many characters
MAX_LIST_ITEMS = 50  # elements of one list that are walked (arrays of 300 prices exist)
MAX_DEPTH = 12
MAX_PATHS = 1_500  # per (event, doc type): a guard against payloads keyed by ids
MAX_EXAMPLES = 4
MAX_DISTINCT = 12  # a field with at most this many distinct values lists them all
EXAMPLE_CHARS = 80
REPLY_WINDOW_S = 10.0  # a reply to a client request arrives within this many seconds
PHASE_TTL_S = 30.0  # the phase of the last tick applies to other events this long
TRACE_MEMORY = 20_000

_TRACE_KEYS = frozenset({"__trace", "traceparent", "tracestate"})
# Tick payloads that say which phase the game is in (gameStateUpdate; legacy `tick` has `phase`).
_PHASE_KEYS = frozenset({"active", "rugged", "cooldownTimer", "allowPreRoundBuys"})
_NUMBER_KEY = re.compile(r"^-?\d+(\.\d+)?$")
_ID_KEY = re.compile(
    r"^(did:privy:[a-z0-9]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-fA-F]{24,}|[1-9A-HJ-NP-Za-km-z]{32,44})$"
)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+[a-zA-Z]*")
# Verbs and suffixes that do not name what a request or reply is about.
_REQUEST_NOISE = frozenset(
    {"get", "check", "set", "fetch", "request", "update", "status", "data", "standard", "on"}
)


class CatalogError(StoreError):
    """The event catalog cannot be built or read."""


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class CatalogRow:
    """What the catalog needs of one stored row; `source` is optional.

    `whole` is False when `raw_json` holds only the start of the payload (the store reader
    sends just the head of payloads that will not be walked).
    """

    event_name: str
    direction: str
    doc_type: str
    ts: Any  # datetime, ISO-8601 string or epoch milliseconds
    raw_json: str | None
    source: str | None = None
    whole: bool = True


def as_row(row: CatalogRow | Sequence[Any]) -> CatalogRow:
    if isinstance(row, CatalogRow):
        return row
    return CatalogRow(*row)


# ----------------------------------------------------------------------------- payloads


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
        extra = {k: v for k, v in data.items() if k not in _TRACE_KEYS}
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


@functools.lru_cache(maxsize=65_536)
def norm_key(key: str) -> str:
    """Collapse keys that are data, not names: tick numbers and ids."""
    if _NUMBER_KEY.match(key):
        return "<n>"
    if _ID_KEY.match(key):
        return "<id>"
    return key


def walk(payload: Any) -> dict[str, list[Any]]:
    """Every field path of one payload with the values found there.

    Paths go through objects (`a.b`) and lists (`a[].b`, `prices[]` for scalar items);
    keys that are numbers or ids collapse to `<n>` / `<id>`. The root itself has no path.
    """
    out: dict[str, list[Any]] = {}

    def visit(value: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                p = f"{path}.{norm_key(str(k))}" if path else norm_key(str(k))
                out.setdefault(p, []).append(v)
                visit(v, p, depth + 1)
        elif isinstance(value, list):
            item_path = f"{path}[]"
            for item in value[:MAX_LIST_ITEMS]:
                out.setdefault(item_path, []).append(item)
                visit(item, item_path, depth + 1)

    visit(payload, "", 0)
    return out


_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("player id (Privy DID)", re.compile(r"^did:privy:[a-z0-9]+$")),
    ("game id (date-hex)", re.compile(r"^\d{8}-[0-9a-f]{16}$")),
    ("UUID", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    ("prefixed id", re.compile(r"^[a-z]+-([0-9a-f]{8}-[0-9a-f]{4}-.*|\d{4}-\d{2}-\d{2}-\d+)$")),
    ("64-hex hash or seed", re.compile(r"^[0-9a-f]{64}$")),
    ("hex string", re.compile(r"^[0-9a-f]{16,}$")),
    ("ISO-8601 date-time", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")),
    ("Solana address", re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    ("W3C traceparent", re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")),
    ("URL or path", re.compile(r"^(https?://|/)\S+$")),
)
_ID_FORMATS = frozenset(
    {"player id (Privy DID)", "game id (date-hex)", "UUID", "prefixed id", "64-hex hash or seed",
     "hex string", "W3C traceparent"}
)
EPOCH_MS_MIN, EPOCH_MS_MAX = 1_400_000_000_000, 2_200_000_000_000


def value_format(values: Iterable[Any]) -> str | None:
    """A name for the common format of some example values (ids, hashes, times), if any."""
    vals = [v for v in values if v is not None and v != ""]
    if not vals:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals) and all(
        EPOCH_MS_MIN <= v <= EPOCH_MS_MAX for v in vals
    ):
        return "epoch milliseconds"
    if not all(isinstance(v, str) for v in vals):
        return None
    for name, rx in _FORMATS:
        if all(rx.match(v) for v in vals):
            return name
    return None


def _example(value: Any) -> Any:
    if isinstance(value, str) and len(value) > EXAMPLE_CHARS:
        return value[: EXAMPLE_CHARS - 1] + "…"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _distinct_key(value: Any) -> tuple[str, Any] | None:
    # The type is part of the key: 1, 1.0 and true are different values of a field.
    if isinstance(value, dict | list):
        return None
    return (type(value).__name__, value)


def derive_phase(payload: Any) -> str | None:
    """The game phase a tick payload shows, or None when the payload is not a tick.

    Legacy ticks carry their own `phase` label; live `gameStateUpdate` ticks are read
    from their flags (rug ticks carry active=true together with rugged=true).
    """
    if not isinstance(payload, dict):
        return None
    label = payload.get("phase")
    if isinstance(label, str) and label:
        return label
    if len(_PHASE_KEYS & payload.keys()) < 2:
        return None
    if payload.get("rugged") is True:
        return "RUGGED"
    if payload.get("active") is True:
        return "ACTIVE"
    if payload.get("allowPreRoundBuys") is True:
        return "PRESALE"
    timer = payload.get("cooldownTimer")
    if isinstance(timer, int | float) and timer > 0:
        return "COOLDOWN"
    return "PRE_START"


_QUICK = re.compile(
    r'"(active|rugged|allowPreRoundBuys|cooldownTimer|phase)"\s*:\s*'
    r'("[^"]*"|true|false|-?\d+(?:\.\d+)?)'
)


def wants_walk(n: int) -> bool:
    """Whether the n-th payload of an event name (1-based) is walked for field statistics."""
    return n <= WALK_FULL or n % WALK_STRIDE == 0


def quick_phase(head: str) -> str | None:
    """derive_phase() from the start of a payload's text, without parsing the JSON.

    Tick payloads put their flags before the large lists (leaderboard, gameHistory); a
    flag that is not in `head` is simply not seen, as if absent.
    """
    found: dict[str, Any] = {}
    for m in _QUICK.finditer(head):
        k, v = m.group(1), m.group(2)
        if k in found:
            continue
        if v.startswith('"'):
            found[k] = v[1:-1]
        elif v in ("true", "false"):
            found[k] = v == "true"
        else:
            found[k] = float(v)
    return derive_phase(found) if found else None


def to_datetime(ts: Any) -> datetime | None:
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    if isinstance(ts, int | float):
        return datetime.fromtimestamp(ts / 1000.0, tz=UTC)
    try:
        d = datetime.fromisoformat(str(ts))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def name_words(name: str) -> list[str]:
    """`standard/newTrade` -> ['standard', 'new', 'trade']; `peak_price` -> ['peak', 'price']."""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        words.extend(w.lower() for w in _CAMEL.findall(part))
    return words


@functools.lru_cache(maxsize=4096)
def _topic(name: str) -> frozenset[str]:
    return frozenset(w for w in name_words(name) if w not in _REQUEST_NOISE)


# ----------------------------------------------------------------------------- results


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


# ----------------------------------------------------------------------------- accumulators


class _FieldAcc:
    __slots__ = (
        "types", "present", "examples", "example_keys", "distinct", "overflow", "lo", "hi",
        "phases", "value_phases", "len_lo", "len_hi",
    )

    def __init__(self) -> None:
        self.types: Counter[str] = Counter()
        self.present = 0
        self.examples: list[Any] = []
        self.example_keys: set[tuple[str, Any]] = set()
        self.distinct: dict[tuple[str, Any], Any] = {}
        self.overflow = False
        self.lo: float | None = None
        self.hi: float | None = None
        self.phases: Counter[str] = Counter()
        self.value_phases: dict[tuple[str, Any], Counter[str]] = {}
        self.len_lo: int | None = None
        self.len_hi: int | None = None

    def add(self, values: list[Any], phase: str | None) -> None:
        self.present += 1
        if phase:
            self.phases[phase] += 1
        for v in values:
            self.types[json_type(v)] += 1
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                self.lo = v if self.lo is None else min(self.lo, v)
                self.hi = v if self.hi is None else max(self.hi, v)
            k = _distinct_key(v)
            if k is None:
                if isinstance(v, list):
                    n = len(v)
                    self.len_lo = n if self.len_lo is None else min(self.len_lo, n)
                    self.len_hi = n if self.len_hi is None else max(self.len_hi, n)
                continue
            if not self.overflow and k not in self.distinct:
                if len(self.distinct) >= MAX_DISTINCT:
                    self.overflow = True
                    self.value_phases.clear()
                else:
                    self.distinct[k] = v
            if phase and not self.overflow:
                vp = self.value_phases.get(k)
                if vp is None:
                    vp = self.value_phases[k] = Counter()
                vp[phase] += 1
            # Empty and null values make poor examples; keep them only if nothing else comes.
            if (len(self.examples) < MAX_EXAMPLES and v is not None and v != ""
                    and k not in self.example_keys):
                self.example_keys.add(k)
                self.examples.append(_example(v))

    @property
    def count(self) -> int:
        return sum(self.types.values())

    def result(self, path: str, walked: int, parent: _FieldAcc | None) -> FieldInfo:
        values = None
        # An enumeration: few distinct strings, booleans or small integers, each seen often.
        # Floats and ids that merely repeat (one per game) are not enumerations.
        scalar_n = sum(n for t, n in self.types.items() if t not in ("object", "array"))
        if (
            not self.overflow
            and self.distinct
            and scalar_n >= 3 * len(self.distinct)
            and set(self.types) <= {"string", "boolean", "null", "integer", "object", "array"}
            and (value_format(self.distinct.values()) or "") not in _ID_FORMATS
            and value_format(self.distinct.values()) != "epoch milliseconds"
        ):
            values = [_example(v) for v in self.distinct.values()]
        examples = self.examples or [_example(v) for v in list(self.distinct.values())[:1]]
        within: float | None
        if path.endswith("[]"):
            within = None
        elif parent is None:
            within = round(self.present / walked, 4) if walked else 0.0
        else:
            n_parent = parent.types.get("object", 0)
            within = round(min(1.0, self.count / n_parent), 4) if n_parent else None
        vp = {}
        if values is not None:
            vp = {
                json.dumps(_example(self.distinct[k])): dict(c)
                for k, c in self.value_phases.items() if k in self.distinct
            }
        return FieldInfo(
            path=path,
            types=dict(self.types),
            count=self.count,
            present=self.present,
            presence=round(self.present / walked, 4) if walked else 0.0,
            within=within,
            examples=examples,
            values=values,
            min=self.lo,
            max=self.hi,
            format=value_format(list(self.distinct.values()) or self.examples),
            phases=dict(self.phases),
            value_phases=vp,
            items=(self.len_lo, self.len_hi) if self.len_lo is not None and self.len_hi is not None
            else None,
        )


def parent_path(path: str) -> str | None:
    """`a[].b` -> `a[]`, `a.b` -> `a`, `a` -> None (the payload itself)."""
    if "." not in path:
        return None
    return path.rsplit(".", 1)[0]


class _EventAcc:
    def __init__(self) -> None:
        self.count = 0
        self.walked = 0
        self.fields: dict[str, _FieldAcc] = {}
        self.kinds: Counter[str] = Counter()
        self.phases: Counter[str] = Counter()
        # shape key -> (count, intersection of top-level paths, union of paths)
        self.shape_counts: Counter[str] = Counter()
        self.shape_common: dict[str, set[str]] = {}
        self.shape_any: dict[str, set[str]] = {}
        self.shape_example: dict[str, dict[str, Any]] = {}

    def add(self, kind: str, payload: Any, phase: str | None, walk_it: bool) -> None:
        self.count += 1
        self.kinds[kind] += 1
        if phase:
            self.phases[phase] += 1
        if kind not in ("object", "array") or not walk_it:
            return  # null and trace-only payloads have no fields to learn from
        self.walked += 1
        paths = walk(payload)
        for p, vals in paths.items():
            acc = self.fields.get(p)
            if acc is None:
                if len(self.fields) >= MAX_PATHS:
                    continue
                acc = self.fields[p] = _FieldAcc()
            acc.add(vals, phase)
        if isinstance(payload, dict):
            disc = payload.get("type")
            if isinstance(disc, str) and len(disc) <= 40:
                key = f"type={disc}"
                self.shape_counts[key] += 1
                keys = set(paths)
                if key in self.shape_common:
                    self.shape_common[key] &= keys
                    self.shape_any[key] |= keys
                else:
                    self.shape_common[key] = keys
                    self.shape_any[key] = set(keys)
                    self.shape_example[key] = {
                        k: _example(v) for k, v in payload.items()
                        if not isinstance(v, dict | list)
                    }

    def shapes(self) -> list[Shape]:
        # Only a small set of discriminator values makes shapes (trade types, sidebet types);
        # a free-text `type` would make one card per value.
        if not 2 <= len(self.shape_counts) <= 8:
            return []
        out = []
        for key, n in self.shape_counts.most_common():
            others: set[str] = set()
            for k2, s in self.shape_any.items():
                if k2 != key:
                    others |= s
            common = sorted(self.shape_common[key])
            out.append(Shape(key=key, count=n, fields=common,
                             only_here=[p for p in common if p not in others],
                             example=self.shape_example.get(key, {})))
        return out


class CatalogBuilder:
    """Accumulates rows (in time order for phases and request/reply pairs) into a Catalog."""

    def __init__(self) -> None:
        self.rows = 0
        self._acc: dict[tuple[str, str], _EventAcc] = {}
        self._directions: dict[tuple[str, str], Counter[str]] = {}
        self._sources: dict[tuple[str, str], Counter[str]] = {}
        self._first: dict[str, datetime] = {}
        self._last: dict[str, datetime] = {}
        self._phase: str | None = None
        self._phase_ts: datetime | None = None
        self._recent_sent: deque[tuple[str, datetime]] = deque(maxlen=64)
        self._replies: Counter[tuple[str, str]] = Counter()
        self._traces: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._trace_peers: dict[str, Counter[str]] = {}
        self._last_ts: dict[str, datetime] = {}
        self._gaps: dict[str, list[float]] = {}
        self._phase_names: set[str] = set()  # names whose payloads show a game phase

    def add(self, row: CatalogRow | Sequence[Any]) -> None:
        r = as_row(row)
        self.rows += 1
        name = r.event_name
        ts = to_datetime(r.ts)
        raw = r.raw_json
        key = (name, r.doc_type)
        acc = self._acc.get(key)
        if acc is None:
            acc = self._acc[key] = _EventAcc()
        walked = wants_walk(acc.count + 1) and r.whole
        if r.whole and (walked or not raw or raw[:1] not in "{["
                        or "__trace" in raw[:QUICK_TRACE]):
            try:
                data = json.loads(raw) if raw else None
                kind, payload = unwrap(data)
            except (json.JSONDecodeError, RecursionError):
                data, kind, payload = None, "invalid", None
            own_phase = derive_phase(payload)
            if own_phase is not None:
                self._phase_names.add(name)
        else:
            # Not walked: a tick stream is ~8 KB a payload and 345,000 a day, so only the
            # phase flags near the start of the text are read (cheap) instead of the JSON.
            data, payload, text = None, None, raw or ""
            kind = {"{": "object", "[": "array"}.get(text[:1], "scalar")
            own_phase = quick_phase(text[:QUICK_HEAD]) if name in self._phase_names else None
        if own_phase is not None:
            self._phase, self._phase_ts = own_phase, ts
        phase = own_phase
        if phase is None and self._phase is not None:
            fresh = ts is None or self._phase_ts is None or (
                0 <= (ts - self._phase_ts).total_seconds() <= PHASE_TTL_S
            )
            phase = self._phase if fresh else None

        acc.add(kind, payload, phase, walked)
        # Per doc type: the rows derived from one wire event must not count it twice.
        dirs = self._directions.get(key)
        if dirs is None:
            dirs = self._directions[key] = Counter()
        dirs[r.direction] += 1
        if r.source:
            srcs = self._sources.get(key)
            if srcs is None:
                srcs = self._sources[key] = Counter()
            srcs[r.source] += 1
        if ts is not None:
            if name not in self._first or ts < self._first[name]:
                self._first[name] = ts
            if name not in self._last or ts > self._last[name]:
                self._last[name] = ts
        # Derived rows of one wire event (ws_event + game_tick …) would pair with themselves;
        # only ws_event rows (or the only doc type of legacy names) feed time-order facts.
        if r.doc_type in ("ws_event", "system_event", "game_tick") and ts is not None:
            self._time_facts(name, r.direction, ts, data)

    def _time_facts(self, name: str, direction: str, ts: datetime, data: Any) -> None:
        prev = self._last_ts.get(name)
        if prev is not None:
            gap = (ts - prev).total_seconds()
            gaps = self._gaps.setdefault(name, [])
            if 0 < gap < 60 and len(gaps) < 2_000:
                gaps.append(gap)
        self._last_ts[name] = ts
        if direction == "sent":
            self._recent_sent.append((name, ts))
        elif direction == "received":
            topic = _topic(name)
            best: tuple[float, str] | None = None
            for sent_name, sent_ts in reversed(self._recent_sent):
                age = (ts - sent_ts).total_seconds()
                if age > REPLY_WINDOW_S:
                    break
                if age < 0 or not topic:
                    continue
                st = _topic(sent_name)
                overlap = len(topic & st) / len(topic | st) if st else 0.0
                if overlap >= 0.6 and (best is None or overlap > best[0]):
                    best = (overlap, sent_name)
            if best is not None:
                self._replies[(best[1], name)] += 1
        tid = trace_id(data)
        if tid:
            first = self._traces.get(tid)
            if first is None:
                self._traces[tid] = (name, direction)
                if len(self._traces) > TRACE_MEMORY:
                    self._traces.popitem(last=False)
            elif first[0] != name:
                self._trace_peers.setdefault(name, Counter())[f"{first[0]} ({first[1]})"] += 1

    def build(self) -> Catalog:
        names = sorted({n for n, _ in self._acc})
        events: dict[str, EventInfo] = {}
        for name in names:
            per_doc = {t: a for (n, t), a in self._acc.items() if n == name}
            primary = min(per_doc, key=lambda t: DOC_TYPES.index(t) if t in DOC_TYPES else 99)
            acc = per_doc[primary]
            fields = [
                a.result(p, acc.walked, acc.fields.get(parent_path(p) or ""))
                for p, a in sorted(acc.fields.items())
            ]
            gaps = sorted(self._gaps.get(name, []))
            first, last = self._first.get(name), self._last.get(name)
            events[name] = EventInfo(
                event_name=name,
                count=acc.count,
                directions=dict(self._directions.get((name, primary), {})),
                doc_types={t: a.count for t, a in sorted(per_doc.items())},
                primary_doc_type=primary,
                sources=dict(self._sources.get((name, primary), {})),
                first_seen=first.isoformat() if first else None,
                last_seen=last.isoformat() if last else None,
                payload_kinds=dict(acc.kinds),
                walked=acc.walked,
                fields=fields,
                phases=dict(acc.phases),
                shapes=acc.shapes(),
                replies_to={s: n for (s, r), n in self._replies.items() if r == name},
                answered_by={r: n for (s, r), n in self._replies.items() if s == name},
                same_trace_as=dict(self._trace_peers.get(name, {})),
                median_interval_s=round(gaps[len(gaps) // 2], 3) if len(gaps) >= 5 else None,
            )
        return Catalog(events=events, rows=self.rows)


def build_catalog(rows: Iterable[CatalogRow | Sequence[Any]]) -> Catalog:
    """The catalog of some rows (event_name, direction, doc_type, ts, raw_json[, source]).

    Pure: give rows in time order so that phases and request/reply pairs are right.
    """
    b = CatalogBuilder()
    for r in rows:
        b.add(r)
    return b.build()


# ----------------------------------------------------------------------------- the store

# ts as epoch microseconds: converting TIMESTAMPTZ values through pytz costs more than the rest.
# Payloads that will not be walked travel as their first QUICK_HEAD characters only: on a live
# day of 8 KB ticks that is most of the bytes read. rn follows the order the builder counts in.
_ROWS_SQL = """
    SELECT event_name, direction, doc_type, epoch_us(ts) AS ts_us,
           CASE WHEN whole THEN raw_json ELSE substr(raw_json, 1, $head) END AS raw_json,
           source, whole
    FROM (
        SELECT *, (rn <= $full OR rn % $stride = 0 OR length(raw_json) <= $head) AS whole
        FROM (SELECT event_name, direction, doc_type, ts, session_id, seq, raw_json, source,
                     row_number() OVER (PARTITION BY event_name, doc_type
                                        ORDER BY ts, session_id, seq) AS rn
              FROM all_events)
    )
    ORDER BY ts, session_id, seq, doc_type
"""


def iter_store_rows(paths: DataPaths, batch_size: int = 4_096) -> Iterator[CatalogRow]:
    """Every committed row of the store in time order, fetched in batches (bounded memory)."""
    from store.views import connect

    con = connect(paths)
    try:
        con.execute("SET enable_progress_bar=false")
        params = {"head": QUICK_HEAD, "full": WALK_FULL, "stride": WALK_STRIDE}
        reader = con.sql(_ROWS_SQL, params=params).to_arrow_reader(batch_size)
        for batch in reader:
            cols = batch.to_pydict()
            for i in range(batch.num_rows):
                us = cols["ts_us"][i]
                yield CatalogRow(
                    cols["event_name"][i], cols["direction"][i], cols["doc_type"][i],
                    datetime.fromtimestamp(us / 1e6, tz=UTC) if us is not None else None,
                    cols["raw_json"][i], cols["source"][i], bool(cols["whole"][i]),
                )
    finally:
        con.close()


def store_fingerprint(paths: DataPaths) -> str:
    """A hash of the committed file list (name, size, mtime): changes whenever the data does."""
    from store.files import committed_files

    h = hashlib.sha256()
    for t in DOC_TYPES:
        for f in committed_files(paths, t):
            try:
                st = f.stat()
            except FileNotFoundError:  # compacted away between listing and stat
                continue
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def cache_path(paths: DataPaths) -> Path:
    return paths.event_catalog


def catalog_from_store(
    paths: DataPaths, *, use_cache: bool = True, with_validation: bool = True,
    max_age_s: float | None = None,
) -> Catalog:
    """The catalog of everything committed, cached under manifests/ until the data changes.

    `max_age_s`: accept a cache made by the same code up to this many seconds ago even if
    files were committed since (a server next to a live writer: flushes every few seconds
    would otherwise recompute the catalog on every call). Default: exact.
    """
    fp = f"{store_fingerprint(paths)}-r{BUILDER_REVISION}"
    cat: Catalog | None = None
    cp = cache_path(paths)
    if use_cache and cp.exists():
        try:
            cached = json.loads(cp.read_text())
            age = time.time() - cp.stat().st_mtime
        except (OSError, json.JSONDecodeError):
            cached = None  # a damaged cache is recomputed, never trusted
        if cached is not None:
            c = Catalog.from_dict(cached)  # refuses a newer version with a clear message
            same_code = str(c.fingerprint or "").endswith(f"-r{BUILDER_REVISION}")
            fresh = max_age_s is not None and same_code and age <= max_age_s
            if c.version == CATALOG_VERSION and (c.fingerprint == fp or fresh):
                cat = c
    if cat is None:
        cat = build_catalog(iter_store_rows(paths))
        cat.fingerprint = fp
        if use_cache:
            try:
                _write_cache(cp, cat.to_dict())
            except OSError:
                pass  # a read-only data root still answers, just without a cache
    if with_validation:
        from store.validation import load_validation

        attach_validation(cat, load_validation(paths))
    return cat


def _write_cache(path: Path, doc: dict[str, Any]) -> None:
    """Atomic write that keeps key order (field and example order is part of the catalog)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(doc, f, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
    import difflib

    close = difflib.get_close_matches(name, list(cat.events), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    known = f" ({len(cat.events)} known: replayer data events)" if cat.events else (
        " (the store holds no events yet: run replayer ingest)"
    )
    raise CatalogError(f"unknown event {name!r}{hint}{known}")


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
