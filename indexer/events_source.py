"""Sources of the `events` table: schema cards, game summaries, notable events, protocol docs.

Four kinds of source, each with a cheap signature made of Parquet footer row counts and
the docs' bytes (no row is read unless something changed):
- `catalog`: schema cards of every event name the store or the docs know, from
  `store.catalog` (its own cache), the protocol docs (`store.spec`) and the validation
  manifest; the signature covers every partition, the docs and the manifest.
- one per protocol doc file (`RUGS_PROTOCOL_DOCS`, key: its absolute path): its heading
  sections, tagged with the events and fields they document. Tags read the catalog's names,
  so the signature covers the file, every doc and the partitions; a vanished file's rows
  are deleted like any vanished source's.
- `games/date=D`: one summary per game whose first row in the store falls on day D (so
  exactly one source claims a game), from its ticks, summary record, system records and
  trades wherever they lie. The signature covers days D-1..D+1: records of a game that
  arrive more than a day after its first row refresh its summary only on the next change
  of those days (or a full build).
- `notable/date=D`: trades, player state changes, rugs, side bets, system events and client
  requests of day D. Plain ticks are never read as chunks (DuckDB answers tick questions).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from chunkers.chunk import (
    DOCS_CHUNKER_VERSION,
    EVENTS_CHUNKER_VERSION,
    MARKDOWN_CHUNKER_VERSION,
    Chunk,
)
from chunkers.doc_sections import DEFAULT_HEADER, doc_chunks
from chunkers.game_summaries import GameFacts, game_summary_chunk
from chunkers.notable import EventRow, notable_chunks
from chunkers.schema_cards import CATALOG_SOURCE, schema_cards
from indexer.source import SourceScan
from store.files import committed_files
from store.integrity import quarantine_part
from store.paths import DOC_TYPES, DataPaths
from store.schema import SCHEMAS
from store.settings import Settings
from store.spec import DOC_SUFFIX, Documented, doc_files, docs_signature, load_documented

if TYPE_CHECKING:
    from store.catalog import Catalog

# Every chunker whose output lands in this table: a bump of any forces a full rebuild.
CHUNKER_VERSION = f"{EVENTS_CHUNKER_VERSION}+{DOCS_CHUNKER_VERSION}/{MARKDOWN_CHUNKER_VERSION}"
GAME_DOC_TYPES = ("game_tick", "complete_game", "system_event", "player_action")
NOTABLE_DOC_TYPES = ("ws_event", "system_event", "player_action", "server_state", "game_tick")

# Footer row counts by (path, size, mtime): a long-lived process (the MCP server) re-scans
# without re-reading footers of files it has seen.
_FOOTERS: dict[tuple[str, int, int], int] = {}


def _rows_in(f: Path, paths: DataPaths) -> int:
    try:
        st = f.stat()
    except FileNotFoundError:
        return 0  # compacted away between listing and stat
    key = (str(f), st.st_size, st.st_mtime_ns)
    n = _FOOTERS.get(key)
    if n is None:
        try:
            n = _FOOTERS[key] = pq.read_metadata(f).num_rows
        except (pa.ArrowException, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            # a footer pyarrow cannot read: out of the store, as everywhere (store.integrity)
            quarantine_part(f, " ".join(str(exc).split())[:300], paths)
            return 0
    return n


def partition_rows(paths: DataPaths) -> dict[tuple[str, str], int]:
    """Committed rows per (doc_type, date), from Parquet footers only."""
    out: dict[tuple[str, str], int] = {}
    for t in DOC_TYPES:
        for day, _d in paths.partitions(t):
            files = committed_files(paths, t, day)
            if files:
                out[(t, day)] = sum(_rows_in(f, paths) for f in files)
    return out


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


def _shift(day: str, n: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=n)).isoformat()


# ----------------------------------------------------------------------------- sources


@dataclass
class Knowledge:
    """The catalog and the protocol docs, loaded once per scan by whichever source asks first
    (the catalog from its cache, the docs parsed against the catalog's names)."""

    paths: DataPaths
    docs_root: Path | None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _loaded: tuple[Catalog, Documented] | None = field(default=None, repr=False)

    def get(self) -> tuple[Catalog, Documented]:
        with self._lock:
            if self._loaded is None:
                from store.catalog import catalog_from_store

                cat = catalog_from_store(self.paths)
                self._loaded = (cat, load_documented(self.docs_root, known=cat.names()))
            return self._loaded

    def fields_by_event(self) -> dict[str, list[str]]:
        """Event name -> its field paths, documented and observed (the docs' tags)."""
        cat, docs = self.get()
        out: dict[str, list[str]] = {}
        for name in sorted(set(cat.events) | set(docs.events)):
            paths = [f.path for f in cat.events[name].fields] if name in cat.events else []
            d = docs.get(name)
            if d is not None:
                paths += [p for p in d.fields if p not in paths and not p.startswith("*.")]
            out[name] = paths
        return out


@dataclass(frozen=True)
class CatalogSource:
    """Schema cards: one overview, one per field path and one per shape of each event."""

    knowledge: Knowledge
    signature: str
    key: str = CATALOG_SOURCE

    def chunks(self) -> list[Chunk]:
        cat, docs = self.knowledge.get()
        return schema_cards(cat, source=self.key, docs=docs)


@dataclass(frozen=True)
class DocFileSource:
    """The sections of one protocol doc file."""

    knowledge: Knowledge
    root: Path
    path: Path
    signature: str
    header: str = DEFAULT_HEADER

    @property
    def key(self) -> str:
        return str(self.path)

    def chunks(self) -> list[Chunk]:
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        return doc_chunks(text, path=self.path.relative_to(self.root).as_posix(),
                          source=self.key, root=str(self.root),
                          known=self.knowledge.fields_by_event(), header=self.header)


@dataclass(frozen=True)
class GamesSource:
    """Summaries of the games first seen on one day."""

    paths: DataPaths
    day: str
    signature: str

    @property
    def key(self) -> str:
        return f"games/date={self.day}"

    def chunks(self) -> list[Chunk]:
        return [game_summary_chunk(g, self.key) for g in game_facts(self.paths, self.day)]


@dataclass(frozen=True)
class NotableSource:
    """Notable events of one day."""

    knowledge: Knowledge
    day: str
    signature: str

    @property
    def key(self) -> str:
        return f"notable/date={self.day}"

    def chunks(self) -> list[Chunk]:
        _cat, docs = self.knowledge.get()
        meanings = {n: e.summary for n, e in docs.events.items() if e.summary}
        rows = notable_rows(self.knowledge.paths, self.day, self.key)
        return list(notable_chunks(rows, meanings))


def scan_sources(settings: Settings, doc_header: str = DEFAULT_HEADER) -> SourceScan:
    """Every source of the events table, from partition row counts and the docs' bytes (no
    rows read). `doc_header`: the doc sections' contextual header (benchmarks compare)."""
    paths = DataPaths(settings.data_dir)
    rows = partition_rows(paths)
    vfile = paths.validation_manifest
    validation = vfile.read_bytes() if vfile.exists() else b""
    root = settings.protocol_docs
    docs_sig = docs_signature(root)
    knowledge = Knowledge(paths, root)
    sources: list[Any] = []
    warnings: list[str] = []
    unreadable: set[str] = set()
    if root is not None and not root.is_dir():
        warnings.append(f"protocol docs root {root} is not a directory")
    if rows or docs_sig:
        sources.append(CatalogSource(knowledge, _digest(sorted(rows.items()), validation,
                                                        docs_sig)))
    if root is not None:
        data_sig = _digest(sorted(rows.items()))
        for f in doc_files(root):
            try:
                own = hashlib.sha256(f.read_bytes()).hexdigest()
            except OSError as exc:
                warnings.append(f"cannot read {f}: {exc.strerror or exc}")
                unreadable.add(str(f))  # keep its old rows: it has not vanished
                continue
            sources.append(DocFileSource(knowledge, root, f,
                                         _digest(own, docs_sig, data_sig, doc_header),
                                         doc_header))
    game_days = sorted({d for (t, d) in rows if t in ("game_tick", "complete_game")})
    for day in game_days:
        near = [(t, d, rows.get((t, d), 0)) for t in GAME_DOC_TYPES
                for d in (_shift(day, -1), day, _shift(day, 1))]
        sources.append(GamesSource(paths, day, _digest(near)))
    notable_days = sorted({d for (t, d) in rows if t in NOTABLE_DOC_TYPES})
    for day in notable_days:
        mine = [(t, rows.get((t, day), 0)) for t in NOTABLE_DOC_TYPES]
        sources.append(NotableSource(knowledge, day, _digest(mine, docs_sig)))
    scope = f"events store at {paths.events}" + (f", protocol docs at {root}" if root else "")
    return SourceScan(sources=sources, owns=lambda key: key not in unreadable,
                      warnings=warnings, scope=scope,
                      on_vanish=lambda keys: docs_vanish_warnings(keys, root))


def docs_vanish_warnings(keys: list[str], root: Path | None) -> list[str]:
    """Said when a build drops doc sections: most often the docs root is simply not set for
    this build (the quickstart sets it for its own build only), which is easy to miss."""
    docs = [k for k in keys if k.endswith(DOC_SUFFIX)]
    if not docs:
        return []
    n = f"{len(docs)} protocol doc file{'s' if len(docs) != 1 else ''}"
    if root is None:
        held = os.path.commonpath(docs) if len(docs) > 1 else str(Path(docs[0]).parent)
        return [f"removed the sections of {n} indexed before: no protocol docs root is set "
                f"for this build; set RUGS_PROTOCOL_DOCS (they were under {held}) to keep "
                f"them"]
    return [f"removed the sections of {n} no longer under the protocol docs root {root}"]


# ----------------------------------------------------------------------------- DuckDB


def _connect(paths: DataPaths, days: Iterable[str], doc_types: Iterable[str]) -> Any:
    """An in-memory DuckDB with one view per doc type over the given days' committed files."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar=false")
    day_list = list(days)
    for t in doc_types:
        files = [str(f) for d in day_list for f in committed_files(paths, t, d)]
        if files:
            # The relation API takes the file list as a value, so no path is spliced into SQL.
            con.read_parquet(files, union_by_name=True).create_view(t)
        else:
            con.register(t, pa.table({f.name: pa.array([], f.type) for f in SCHEMAS[t]}))
    return con


_CLAIMED = """
    claimed AS (
        SELECT game_id FROM (
            SELECT game_id, ts FROM game_tick WHERE game_id IS NOT NULL
            UNION ALL SELECT game_id, ts FROM complete_game WHERE game_id IS NOT NULL
        ) GROUP BY game_id HAVING CAST(min(ts) AS DATE) = CAST($day AS DATE)
    )
"""

# Live ticks carry no phase label: derive it from their flags like the catalog does.
_PHASE = """
    CASE WHEN phase IS NOT NULL THEN phase
         WHEN rugged THEN 'RUGGED'
         WHEN active THEN 'ACTIVE'
         WHEN json_extract(raw_json, '$.allowPreRoundBuys')::VARCHAR = 'true' THEN 'PRESALE'
         WHEN cooldown_timer > 0 THEN 'COOLDOWN'
         ELSE 'PRE_START' END
"""


def game_facts(paths: DataPaths, day: str) -> list[GameFacts]:
    """What the store knows about each game first seen on `day`, oldest first."""
    import json

    from store.views import connect

    # Over every committed file: a game belongs to the day of its first row in the whole
    # store (so exactly one source claims it), and its records may lie days later (a
    # recorder that stopped and resumed).
    con = connect(paths)
    try:
        con.execute("SET enable_progress_bar=false")
        p = {"day": day}
        ticks = con.execute(f"""
            WITH {_CLAIMED}
            SELECT game_id, min(ts) AS first_ts, max(ts) AS last_ts,
                   list(DISTINCT source ORDER BY source) AS sources,
                   count(DISTINCT tick) AS ticks, min(tick) AS min_tick, max(tick) AS max_tick,
                   max(price) AS peak, arg_max(tick, price) AS peak_tick,
                   arg_max(price, tick) FILTER (WHERE tick IS NOT NULL) AS final_price,
                   min(tick) FILTER (WHERE rugged) AS rug_tick,
                   arg_min(price, tick) FILTER (WHERE rugged) AS rug_price,
                   max(trade_count) AS trade_count,
                   mode(event_name) AS tick_event
            FROM game_tick WHERE game_id IN (SELECT game_id FROM claimed)
            GROUP BY game_id
        """, p).fetchall()
        phases = con.execute(f"""
            WITH {_CLAIMED}
            SELECT game_id, ph, min(tick), max(tick), count(*) FROM (
                SELECT game_id, tick, ts, {_PHASE} AS ph FROM game_tick
                WHERE game_id IN (SELECT game_id FROM claimed) AND tick IS NOT NULL
            ) GROUP BY game_id, ph ORDER BY game_id, min(ts)
        """, p).fetchall()
        summaries = con.execute(f"""
            WITH {_CLAIMED}
            SELECT game_id, arg_max(event_name, ts), arg_max(raw_json, ts), min(ts)
            FROM complete_game WHERE game_id IN (SELECT game_id FROM claimed)
            GROUP BY game_id
        """, p).fetchall()
        records = con.execute(f"""
            WITH {_CLAIMED}
            SELECT game_id, event_name, raw_json FROM system_event
            WHERE game_id IN (SELECT game_id FROM claimed)
            ORDER BY game_id, ts, seq
        """, p).fetchall()
        trades = con.execute(f"""
            WITH {_CLAIMED}
            SELECT game_id, coalesce(action_type, event_name), count(*),
                   CAST(sum(amount) AS DOUBLE)
            FROM player_action WHERE game_id IN (SELECT game_id FROM claimed)
            GROUP BY ALL
        """, p).fetchall()
    finally:
        con.close()

    games: dict[str, GameFacts] = {}

    def get(gid: str) -> GameFacts:
        g = games.get(gid)
        if g is None:
            g = games[gid] = GameFacts(game_id=gid)
        return g

    for (gid, first, last, sources, n, lo, hi, peak, peak_tick, final, rug_tick, rug_price,
         trade_count, tick_event) in ticks:
        g = get(gid)
        g.first_ts, g.last_ts, g.sources = first, last, list(sources or [])
        g.ticks, g.min_tick, g.max_tick = int(n or 0), lo, hi
        g.peak_price, g.peak_tick, g.final_price = peak, peak_tick, final
        g.rug_tick, g.rug_price, g.trade_count = rug_tick, rug_price, trade_count
        g.tick_event = tick_event
    for gid, ph, a, b, n in phases:
        get(gid).phases.append((str(ph), int(a), int(b), int(n)))
    summary_raw: dict[str, str] = {}
    for gid, name, raw, ts in summaries:
        g = get(gid)
        g.summary_event = name
        summary_raw[gid] = raw
        try:
            rec = json.loads(raw)
        except (TypeError, ValueError):
            rec = None
        g.summary = rec if isinstance(rec, dict) else {}
        if g.first_ts is None or (ts is not None and ts < g.first_ts):
            g.first_ts = ts
    for gid, name, raw in records:
        if raw == summary_raw.get(gid):
            continue  # the summary record itself (legacy game_end)
        try:
            rec = json.loads(raw)
        except (TypeError, ValueError):
            continue
        g = get(gid)
        if isinstance(rec, dict) and not any(n == name for n, _ in g.records):
            g.records.append((name, rec))  # repeated game_start records add nothing new
    for gid, kind, n, volume in trades:
        g = get(gid)
        g.trades_seen[str(kind)] = int(n)
        if volume is not None:
            g.trade_volume = (g.trade_volume or 0.0) + float(volume)
    return sorted(games.values(), key=lambda g: (g.first_ts or datetime.min.replace(tzinfo=UTC),
                                                 g.game_id))


# Rows the notable-event chunker can use; everything else of the day (plain ticks, chat,
# high-rate updates) is left in the store. Must stay a superset of chunkers.notable's rules.
_NOTABLE_SQL = """
    WITH u AS (
        SELECT event_id, event_name, ts, seq, direction, source, doc_type, raw_json, game_id,
               player_id, username FROM ws_event
        WHERE direction = 'sent' OR lower(event_name) LIKE '%sidebet%'
           OR event_id IN (SELECT event_id FROM game_tick WHERE rugged)
        UNION ALL
        SELECT event_id, event_name, ts, seq, direction, source, doc_type, raw_json, game_id,
               player_id, username FROM system_event
        UNION ALL
        SELECT event_id, event_name, ts, seq, direction, source, doc_type, raw_json, game_id,
               player_id, username FROM player_action
        UNION ALL
        SELECT event_id, event_name, ts, seq, direction, source, doc_type, raw_json, game_id,
               player_id, username FROM server_state
    )
    SELECT event_id, any_value(event_name), min(ts), any_value(direction), any_value(source),
           list(DISTINCT doc_type), any_value(raw_json), any_value(game_id),
           any_value(player_id), any_value(username)
    FROM u GROUP BY event_id ORDER BY min(ts), min(seq), event_id
"""


def notable_rows(paths: DataPaths, day: str, key: str) -> Iterator[EventRow]:
    """The rows of one day that may be notable, one per event id, in time order."""
    con = _connect(paths, (day,), NOTABLE_DOC_TYPES)
    try:
        for batch in con.sql(_NOTABLE_SQL).to_arrow_reader(4_096):
            for (eid, name, ts, direction, source, doc_types, raw, gid, pid, user) in zip(
                *batch.to_pydict().values(), strict=True
            ):
                yield EventRow(event_id=eid, event_name=name, ts=ts, direction=direction,
                               source=source, doc_types=tuple(doc_types or ()), raw_json=raw,
                               game_id=gid, player_id=pid, username=user, partition=key)
    finally:
        con.close()
