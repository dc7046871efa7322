"""Accumulates stored rows, in time order, into a Catalog (pure: no I/O).

A builder is also a mergeable partial catalog: `merge` appends a builder of later rows,
`to_state`/`from_state` round-trip it through JSON (so a partial can be resumed with more
rows), and `tail_seed`/`apply_seed` hand the time-bounded context (last tick's phase, recent
client requests, recent trace ids) from one day's builder to the next day's.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from store.catalog.fields import (
    ID_FORMATS,
    derive_phase,
    example_value,
    name_words,
    parent_path,
    quick_phase,
    to_datetime,
    value_format,
    walk,
)
from store.catalog.model import Catalog, EventInfo, FieldInfo, Shape
from store.paths import DOC_TYPES
from store.payload import trace_id, unwrap

# Field walking is bounded so that a catalog over a day of live ticks (~345,000) stays cheap:
# every event of a name is counted, but only the first WALK_FULL payloads and then one in
# WALK_STRIDE are walked for field statistics (presence ratios use the walked count).
WALK_FULL = 1_000
WALK_STRIDE = 50
QUICK_HEAD = 1_500  # characters read for the phase flags of a payload that is not walked
QUICK_TRACE = 40  # a trace wrapper shows within this many characters
MAX_PATHS = 1_500  # per (event, doc type): a guard against payloads keyed by ids
MAX_EXAMPLES = 4
MAX_DISTINCT = 12  # a field with at most this many distinct values lists them all
REPLY_WINDOW_S = 10.0  # a reply to a client request arrives within this many seconds
PHASE_TTL_S = 30.0  # the phase of the last tick applies to other events this long
TRACE_MEMORY = 20_000
TRACE_SEED_S = 60.0  # trace ids first seen this long before a day ends are handed to the next
GAP_WINDOW_S = 60.0  # intervals between events of a name longer than this are not intervals
MAX_GAPS = 2_000  # intervals kept per name for its median
# Verbs and suffixes that do not name what a request or reply is about.
_REQUEST_NOISE = frozenset(
    {"get", "check", "set", "fetch", "request", "update", "status", "data", "standard", "on"}
)


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(ts: datetime) -> int:
    """Epoch microseconds of an aware datetime (exact; the state's time format)."""
    return (ts - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def as_row(row: CatalogRow | Sequence[Any]) -> CatalogRow:
    if isinstance(row, CatalogRow):
        return row
    return CatalogRow(*row)


_JSON_TYPES: dict[type, str] = {
    type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
}


def _rank(doc_type: str) -> int:
    """Which doc type of a name is its primary one: the lowest rank (ws_event first)."""
    return DOC_TYPES.index(doc_type) if doc_type in DOC_TYPES else len(DOC_TYPES)


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def wants_walk(n: int) -> bool:
    """Whether the n-th payload of an event name (1-based) is walked for field statistics."""
    return n <= WALK_FULL or n % WALK_STRIDE == 0


@functools.lru_cache(maxsize=4096)
def _topic(name: str) -> frozenset[str]:
    return frozenset(w for w in name_words(name) if w not in _REQUEST_NOISE)


class _FieldAcc:
    __slots__ = (
        "types", "present", "examples", "distinct", "overflow", "lo", "hi",
        "phases", "value_phases", "len_lo", "len_hi",
    )

    def __init__(self) -> None:
        self.types: Counter[str] = Counter()
        self.present = 0
        # distinct key -> example value, first seen first (the key tells 1, 1.0, true apart)
        self.examples: dict[tuple[str, Any], Any] = {}
        self.distinct: dict[tuple[str, Any], Any] = {}
        self.overflow = False
        self.lo: float | None = None
        self.hi: float | None = None
        self.phases: Counter[str] = Counter()
        self.value_phases: dict[tuple[str, Any], Counter[str]] = {}
        self.len_lo: int | None = None
        self.len_hi: int | None = None

    def add(self, values: list[Any], phase: str | None) -> None:
        # The hottest loop of a catalog build: values come from json.loads, so their types
        # are exactly the builtin ones and a dispatch on type() stands in for isinstance.
        self.present += 1
        if phase:
            self.phases[phase] += 1
        types = self.types
        for v in values:
            t = type(v)
            if t is dict or t is list:
                types["object" if t is dict else "array"] += 1
                if t is list:
                    n = len(v)
                    self.len_lo = n if self.len_lo is None else min(self.len_lo, n)
                    self.len_hi = n if self.len_hi is None else max(self.len_hi, n)
                continue
            types[_JSON_TYPES.get(t, "object")] += 1
            if (t is int or t is float) and math.isfinite(v):
                self.lo = v if self.lo is None or v < self.lo else self.lo
                self.hi = v if self.hi is None or v > self.hi else self.hi
            # The type is part of the key: 1, 1.0 and true are different values of a field.
            k = (t.__name__, v)
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
                    and k not in self.examples):
                self.examples[k] = example_value(v)

    def merge(self, later: _FieldAcc) -> None:
        """Fold in the accumulator of later rows: the same result as adding them here.

        First-N lists (examples, distinct values) are ordered unions: `later` holds its own
        first N, which always contain the first N that are new here.
        """
        self.types.update(later.types)
        self.present += later.present
        self.phases.update(later.phases)
        for k, ex in later.examples.items():
            if len(self.examples) >= MAX_EXAMPLES:
                break
            self.examples.setdefault(k, ex)
        if not self.overflow:
            for k, v in later.distinct.items():
                if k in self.distinct:
                    continue
                if len(self.distinct) >= MAX_DISTINCT:
                    self.overflow = True
                    break
                self.distinct[k] = v
            # Later rows that overflowed on their own held more than MAX_DISTINCT values.
            self.overflow = self.overflow or later.overflow
        if self.overflow:
            self.value_phases.clear()
        else:
            for k, c in later.value_phases.items():
                mine = self.value_phases.get(k)
                if mine is None:
                    self.value_phases[k] = Counter(c)
                else:
                    mine.update(c)
        self.lo = _min(self.lo, later.lo)
        self.hi = _max(self.hi, later.hi)
        self.len_lo = _min(self.len_lo, later.len_lo)
        self.len_hi = _max(self.len_hi, later.len_hi)

    def to_state(self) -> list[Any]:
        return [
            dict(self.types), self.present,
            [[k[0], k[1], ex] for k, ex in self.examples.items()],
            [list(k) for k in self.distinct], self.overflow, self.lo, self.hi,
            dict(self.phases), [[k[0], k[1], dict(c)] for k, c in self.value_phases.items()],
            self.len_lo, self.len_hi,
        ]

    @classmethod
    def from_state(cls, s: list[Any]) -> _FieldAcc:
        a = cls()
        (types, a.present, examples, distinct, a.overflow, a.lo, a.hi, phases, vps,
         a.len_lo, a.len_hi) = s
        a.types = Counter(types)
        a.examples = {(t, v): ex for t, v, ex in examples}
        # A distinct key is (type name, value): the value is the key's second part.
        a.distinct = {(t, v): v for t, v in distinct}
        a.phases = Counter(phases)
        a.value_phases = {(t, v): Counter(c) for t, v, c in vps}
        return a

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
            and (value_format(self.distinct.values()) or "") not in ID_FORMATS
            and value_format(self.distinct.values()) != "epoch milliseconds"
        ):
            values = [example_value(v) for v in self.distinct.values()]
        examples = (list(self.examples.values())
                    or [example_value(v) for v in list(self.distinct.values())[:1]])
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
                json.dumps(example_value(self.distinct[k])): dict(c)
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
            format=value_format(list(self.distinct.values()) or list(self.examples.values())),
            phases=dict(self.phases),
            value_phases=vp,
            items=(self.len_lo, self.len_hi) if self.len_lo is not None and self.len_hi is not None
            else None,
        )


class _EventAcc:
    def __init__(self) -> None:
        # True once the name has a doc type ranked before this one (ws_event before the rows
        # derived from it): only the primary doc type's fields are reported, so walking this
        # one's payloads would be wasted.
        self.outranked = False
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
                        k: example_value(v) for k, v in payload.items()
                        if not isinstance(v, dict | list)
                    }

    def merge(self, later: _EventAcc) -> None:
        """Fold in the accumulator of later rows of the same event name and doc type."""
        self.count += later.count
        self.walked += later.walked
        self.kinds.update(later.kinds)
        self.phases.update(later.phases)
        for p, acc in later.fields.items():
            mine = self.fields.get(p)
            if mine is not None:
                mine.merge(acc)
            elif len(self.fields) < MAX_PATHS:
                self.fields[p] = acc
        for key, n in later.shape_counts.items():
            self.shape_counts[key] += n
            if key in self.shape_common:
                self.shape_common[key] &= later.shape_common[key]
                self.shape_any[key] |= later.shape_any[key]
            else:
                self.shape_common[key] = set(later.shape_common[key])
                self.shape_any[key] = set(later.shape_any[key])
                self.shape_example[key] = later.shape_example[key]

    def to_state(self) -> dict[str, Any]:
        return {
            "outranked": self.outranked,
            "count": self.count, "walked": self.walked, "kinds": dict(self.kinds),
            "phases": dict(self.phases),
            "fields": [[p, a.to_state()] for p, a in self.fields.items()],
            "shapes": [[k, n, sorted(self.shape_common[k]), sorted(self.shape_any[k]),
                        self.shape_example[k]] for k, n in self.shape_counts.items()],
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> _EventAcc:
        a = cls()
        a.outranked = bool(s["outranked"])
        a.count, a.walked = s["count"], s["walked"]
        a.kinds, a.phases = Counter(s["kinds"]), Counter(s["phases"])
        a.fields = {p: _FieldAcc.from_state(f) for p, f in s["fields"]}
        for key, n, common, any_, example in s["shapes"]:
            a.shape_counts[key] = n
            a.shape_common[key], a.shape_any[key] = set(common), set(any_)
            a.shape_example[key] = example
        return a

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
    """Accumulates rows (in time order for phases and request/reply pairs) into a Catalog.

    Also a partial catalog: `merge(later)` folds in a builder of rows that all come after
    this one's (the next day), `to_state()`/`from_state()` round-trip every bit of state
    (so `add` can go on after a reload), `tail_seed`/`apply_seed` carry the context that
    crosses midnight.
    """

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
        self._traces: OrderedDict[str, tuple[str, str, datetime]] = OrderedDict()
        self._trace_peers: dict[str, Counter[str]] = {}
        self._first_tf: dict[str, datetime] = {}  # first and last time-fact row per name
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
            acc = self._new_acc(name, r.doc_type)
        walked = wants_walk(acc.count + 1) and r.whole and not acc.outranked
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

    def _new_acc(self, name: str, doc_type: str) -> _EventAcc:
        acc = self._acc[(name, doc_type)] = _EventAcc()
        rank = _rank(doc_type)
        for (n, t), other in self._acc.items():
            if n == name and t != doc_type:
                if _rank(t) < rank:
                    acc.outranked = True
                else:
                    other.outranked = True
        return acc

    def _time_facts(self, name: str, direction: str, ts: datetime, data: Any) -> None:
        prev = self._last_ts.get(name)
        if prev is not None:
            gap = (ts - prev).total_seconds()
            gaps = self._gaps.setdefault(name, [])
            if 0 < gap < GAP_WINDOW_S and len(gaps) < MAX_GAPS:
                gaps.append(gap)
        else:
            self._first_tf[name] = ts
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
                self._traces[tid] = (name, direction, ts)
                if len(self._traces) > TRACE_MEMORY:
                    self._traces.popitem(last=False)
            elif first[0] != name:
                self._trace_peers.setdefault(name, Counter())[f"{first[0]} ({first[1]})"] += 1

    # -- partial catalogs -------------------------------------------------------------

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows counted so far per (event name, doc type): where a resumed walk goes on."""
        return {k: a.count for k, a in self._acc.items()}

    def merge(self, later: CatalogBuilder) -> None:
        """Fold in a builder whose rows all come after this one's: as if they were added here.

        Exact for everything but two documented bounds (store/catalog/CONTEXT.md): the
        cross-row context `later` started with is its own seed, and a path that `later`
        dropped at its own MAX_PATHS misses its values there. `later` must not be used
        afterwards (its accumulators are taken over, not copied).
        """
        self.rows += later.rows
        for key, acc in later._acc.items():
            mine = self._acc.get(key)
            if mine is None:
                self._acc[key] = acc
            else:
                mine.merge(acc)
        best: dict[str, int] = {}
        for n, t in self._acc:
            best[n] = min(best.get(n, len(DOC_TYPES)), _rank(t))
        for (n, t), acc in self._acc.items():
            acc.outranked = acc.outranked or _rank(t) > best[n]
        for src, dst in ((later._directions, self._directions),
                         (later._sources, self._sources)):
            for key, c in src.items():
                dst.setdefault(key, Counter()).update(c)
        for name, ts in later._first.items():
            self._first[name] = _min(self._first.get(name), ts)
        for name, ts in later._last.items():
            self._last[name] = _max(self._last.get(name), ts)
        for name, first in later._first_tf.items():
            prev = self._last_ts.get(name)
            gaps = self._gaps.get(name)
            if prev is not None:
                # the interval across the seam, which neither side saw
                gaps = self._gaps.setdefault(name, [])
                gap = (first - prev).total_seconds()
                if 0 < gap < GAP_WINDOW_S and len(gaps) < MAX_GAPS:
                    gaps.append(gap)
            else:
                self._first_tf[name] = first
            theirs = later._gaps.get(name)
            if theirs is not None:
                if gaps is None:
                    gaps = self._gaps.setdefault(name, [])
                gaps.extend(theirs[: MAX_GAPS - len(gaps)])
        self._last_ts.update(later._last_ts)
        self._replies.update(later._replies)
        for name, c in later._trace_peers.items():
            self._trace_peers.setdefault(name, Counter()).update(c)
        self._phase_names |= later._phase_names
        # The context goes on from the later rows (only a resumed build would read it).
        self._phase, self._phase_ts = later._phase, later._phase_ts
        self._recent_sent = later._recent_sent
        self._traces = later._traces

    def tail_seed(self, until: datetime) -> dict[str, Any]:
        """The context rows from `until` on (the next day) inherit from these rows.

        Only what a later row can still see: the last tick's phase if younger than
        PHASE_TTL_S at `until`, client requests of the last REPLY_WINDOW_S, trace ids first
        seen in the last TRACE_SEED_S. JSON-ready and small; equal seeds build equal days.
        """
        def recent(ts: datetime | None, window: float) -> bool:
            return ts is None or (until - ts).total_seconds() <= window

        seed: dict[str, Any] = {}
        if self._phase is not None and recent(self._phase_ts, PHASE_TTL_S):
            seed["phase"] = [self._phase,
                             None if self._phase_ts is None else to_us(self._phase_ts)]
        sent = [[n, to_us(t)] for n, t in self._recent_sent if recent(t, REPLY_WINDOW_S)]
        if sent:
            seed["sent"] = sent
        traces = [[tid, n, d, to_us(t)] for tid, (n, d, t) in self._traces.items()
                  if recent(t, TRACE_SEED_S)]
        if traces:
            seed["traces"] = traces
        return seed

    def apply_seed(self, seed: dict[str, Any]) -> None:
        """Start from the context another builder's `tail_seed` handed over (before any add)."""
        if "phase" in seed:
            phase, us = seed["phase"]
            self._phase, self._phase_ts = phase, None if us is None else from_us(us)
        self._recent_sent.extend((n, from_us(t)) for n, t in seed.get("sent", ()))
        for tid, n, d, t in seed.get("traces", ()):
            self._traces[tid] = (n, d, from_us(t))

    def to_state(self) -> dict[str, Any]:
        """Every bit of the builder as JSON-ready values (times as epoch microseconds)."""
        def times(d: dict[str, datetime]) -> dict[str, int]:
            return {k: to_us(v) for k, v in d.items()}

        return {
            "rows": self.rows,
            "events": [[n, t, a.to_state()] for (n, t), a in self._acc.items()],
            "directions": [[n, t, dict(c)] for (n, t), c in self._directions.items()],
            "sources": [[n, t, dict(c)] for (n, t), c in self._sources.items()],
            "first": times(self._first), "last": times(self._last),
            "first_tf": times(self._first_tf), "last_ts": times(self._last_ts),
            "gaps": self._gaps,
            "replies": [[s, r, n] for (s, r), n in self._replies.items()],
            "trace_peers": {k: dict(c) for k, c in self._trace_peers.items()},
            "phase": None if self._phase is None else [
                self._phase, None if self._phase_ts is None else to_us(self._phase_ts)],
            "recent_sent": [[n, to_us(t)] for n, t in self._recent_sent],
            "traces": [[tid, n, d, to_us(t)] for tid, (n, d, t) in self._traces.items()],
            "phase_names": sorted(self._phase_names),
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> CatalogBuilder:
        def times(d: dict[str, int]) -> dict[str, datetime]:
            return {k: from_us(v) for k, v in d.items()}

        b = cls()
        b.rows = s["rows"]
        b._acc = {(n, t): _EventAcc.from_state(a) for n, t, a in s["events"]}
        b._directions = {(n, t): Counter(c) for n, t, c in s["directions"]}
        b._sources = {(n, t): Counter(c) for n, t, c in s["sources"]}
        b._first, b._last = times(s["first"]), times(s["last"])
        b._first_tf, b._last_ts = times(s["first_tf"]), times(s["last_ts"])
        b._gaps = {k: list(v) for k, v in s["gaps"].items()}
        b._replies = Counter({(sn, r): n for sn, r, n in s["replies"]})
        b._trace_peers = {k: Counter(c) for k, c in s["trace_peers"].items()}
        if s["phase"] is not None:
            b.apply_seed({"phase": s["phase"]})
        b._recent_sent.extend((n, from_us(t)) for n, t in s["recent_sent"])
        b._traces = OrderedDict((tid, (n, d, from_us(t))) for tid, n, d, t in s["traces"])
        b._phase_names = set(s["phase_names"])
        return b

    def build(self) -> Catalog:
        names = sorted({n for n, _ in self._acc})
        events: dict[str, EventInfo] = {}
        for name in names:
            per_doc = {t: a for (n, t), a in self._acc.items() if n == name}
            primary = min(per_doc, key=_rank)
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
