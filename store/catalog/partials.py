"""Per-day partial catalogs: built once per day of data, resumed with new files, merged on read.

Under `DataPaths.catalog_partials` (manifests/event_catalog/):
  index.json          {version, revision, days: {day: entry}, base: {days, file}}
  <day>-<id>.json     {version, day, id, state}: one day's CatalogBuilder.to_state()
  base-<key>.json     {version, state}: every day but the last, merged

A day's partial is built from every doc type of that date in time order, starting from the
seed the day before left (`CatalogBuilder.tail_seed`), so ticks and the events they phase
meet in one builder. An entry holds the day's file stamps, its content (row count and a sum
of event-id hashes), its seed digest, the sort key of its last row and the seed it leaves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from store.catalog.builder import (
    QUICK_HEAD,
    WALK_FULL,
    WALK_STRIDE,
    CatalogBuilder,
    CatalogRow,
    from_us,
)
from store.derived import StoredFile, collect_garbage, digest, read_json, write_json
from store.errors import SchemaVersionError
from store.paths import DOC_TYPES, DataPaths

PARTIALS_VERSION = 1  # the on-disk format of index, partial and base files

_ENVELOPE = "event_name, direction, doc_type, ts, session_id, seq, event_id, raw_json, source"

# One day's rows in time order. rn counts the rows of an event name and doc type as the
# builder does (offset by what a resumed partial already counted), so DuckDB sends only the
# head of payloads the builder will not walk. event_id breaks ties: a tick's gameHistory[]
# makes several complete_game rows with one (ts, session, seq).
_ROWS_SQL = """
    SELECT event_name, direction, doc_type, epoch_us(ts) AS ts_us, session_id, seq, event_id,
           CASE WHEN whole THEN raw_json ELSE substr(raw_json, 1, $head) END AS raw_json,
           source, whole
    FROM (
        SELECT *, (rn <= $full OR rn % $stride = 0 OR length(raw_json) <= $head) AS whole
        FROM (SELECT ev.*,
                     row_number() OVER (PARTITION BY ev.event_name, ev.doc_type
                                        ORDER BY ts, session_id, seq, event_id)
                         + coalesce(o.n, 0) AS rn
              FROM ({source}) ev
              LEFT JOIN catalog_offsets o
                ON o.event_name = ev.event_name AND o.doc_type = ev.doc_type)
    )
    ORDER BY ts, session_id, seq, doc_type, event_id
"""

_CONTENT_SQL = "SELECT count(*) AS n, sum(hash(doc_type, event_id)) AS h FROM ({source})"

_NOT_AFTER_SQL = """
    SELECT count(*) FROM ({source})
    WHERE (epoch_us(ts), session_id, seq, doc_type, event_id) <= ($ts, $sid, $seq, $dt, $eid)
"""


@dataclass
class RefreshReport:
    """What one catalog refresh did, day by day (for tests, benches and `--json` output)."""

    reused: list[str] = field(default_factory=list)  # partial valid as it was
    rekeyed: list[str] = field(default_factory=list)  # files replaced by compaction, same rows
    appended: list[str] = field(default_factory=list)  # resumed with the day's new files
    built: list[str] = field(default_factory=list)  # built from all the day's rows
    dropped: list[str] = field(default_factory=list)  # day gone from the store (pruned)
    base: str = "none"  # "reused", "extended", "merged" or "none" (one day or fewer)
    rows_read: int = 0  # rows read from Parquet
    cached: bool = True  # False: nothing was read from or written to the partial cache

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "reused", "rekeyed", "appended", "built", "dropped", "base", "rows_read", "cached")}


def _day_start(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(), UTC)


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


# -- reading rows ---------------------------------------------------------------------------


def _source_sql(files: Sequence[StoredFile]) -> str:
    """One SELECT of the envelope over some files of one day, doc type by doc type.

    The paths come from our own directory listing and are quoted: the only literals here.
    """
    from store.views import sql_literal  # duckdb: imported only when rows are read

    parts = []
    for t in DOC_TYPES:
        mine = [f for f in files if f.doc_type == t]
        if not mine:
            continue
        listing = ", ".join(sql_literal(str(f.path)) for f in mine)
        parts.append(f"SELECT {_ENVELOPE} FROM read_parquet([{listing}], "
                     "union_by_name=false, hive_partitioning=false)")
    if not parts:
        raise ValueError("no files to read")
    return " UNION ALL ".join(parts)


class _Reader:
    """A DuckDB cursor (opened on first use) that reads the catalog's rows from files."""

    def __init__(self) -> None:
        self._con: Any = None
        self.rows_read = 0

    def con(self) -> Any:
        if self._con is None:
            from store.views import engine

            self._con = engine().cursor()
            self._con.execute("SET enable_progress_bar=false")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def content(self, files: Sequence[StoredFile]) -> list[int]:
        """[row count, sum of hash(doc_type, event_id)]: equal for the same rows in any files."""
        if not files:
            return [0, 0]
        n, h = self.con().sql(_CONTENT_SQL.format(source=_source_sql(files))).fetchall()[0]
        return [int(n), int(h or 0)]

    def count_not_after(self, files: Sequence[StoredFile], key: list[Any]) -> int:
        ts, sid, seq, dt, eid = key
        sql = _NOT_AFTER_SQL.format(source=_source_sql(files))
        params = {"ts": ts, "sid": sid, "seq": seq, "dt": dt, "eid": eid}
        return int(self.con().sql(sql, params=params).fetchall()[0][0])

    def rows(self, files: Sequence[StoredFile], counted: dict[tuple[str, str], int],
             last: list[Any]) -> Iterator[CatalogRow]:
        """The files' rows in time order; `last` is set to the sort key of the last one."""
        import pyarrow as pa

        con = self.con()
        offsets = pa.table({
            "event_name": pa.array([n for n, _ in counted], pa.string()),
            "doc_type": pa.array([t for _, t in counted], pa.string()),
            "n": pa.array(list(counted.values()), pa.int64()),
        })
        con.register("catalog_offsets", offsets)
        try:
            params = {"head": QUICK_HEAD, "full": WALK_FULL, "stride": WALK_STRIDE}
            sql = _ROWS_SQL.format(source=_source_sql(files))
            reader = con.sql(sql, params=params).to_arrow_reader(4_096)
            for batch in reader:
                c = batch.to_pydict()
                names, dirs, dts, tss = c["event_name"], c["direction"], c["doc_type"], c["ts_us"]
                raws, srcs, wholes = c["raw_json"], c["source"], c["whole"]
                for i in range(batch.num_rows):
                    us = tss[i]
                    yield CatalogRow(names[i], dirs[i], dts[i],
                                     from_us(us) if us is not None else None,
                                     raws[i], srcs[i], bool(wholes[i]))
                n = batch.num_rows
                self.rows_read += n
                if n:
                    last[:] = [tss[n - 1], c["session_id"][n - 1], c["seq"][n - 1],
                               dts[n - 1], c["event_id"][n - 1]]
        finally:
            con.unregister("catalog_offsets")


# -- the cache on disk ----------------------------------------------------------------------


def _check_version(doc: dict[str, Any], what: Path) -> None:
    v = doc.get("version", 0)
    if isinstance(v, int) and v > PARTIALS_VERSION:
        raise SchemaVersionError(
            f"catalog cache {what} has version {v}, newer than this code knows "
            f"({PARTIALS_VERSION}): upgrade rugs-replayer, or delete {what.parent} to rebuild it"
        )


class _Store:
    """The partial cache directory: index, partial and base files (all optional)."""

    def __init__(self, directory: Path, revision: int, enabled: bool) -> None:
        self.dir = directory
        self.revision = revision
        self.enabled = enabled
        self.writable = enabled

    def load_index(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"days": {}, "base": None}
        if not self.enabled:
            return empty
        doc = read_json(self.dir / "index.json")
        if not isinstance(doc, dict):
            return empty
        _check_version(doc, self.dir / "index.json")
        if doc.get("version") != PARTIALS_VERSION or doc.get("revision") != self.revision:
            return empty  # made by other code: its partials are not ours to trust
        days = doc.get("days")
        return {"days": days if isinstance(days, dict) else {}, "base": doc.get("base")}

    def load_state(self, name: str, expect_id: str | None = None) -> CatalogBuilder | None:
        if not self.enabled:
            return None
        path = self.dir / name
        doc = read_json(path)
        if not isinstance(doc, dict):
            return None
        _check_version(doc, path)
        if doc.get("version") != PARTIALS_VERSION or (
                expect_id is not None and doc.get("id") != expect_id):
            return None
        try:
            return CatalogBuilder.from_state(doc["state"])
        except (KeyError, TypeError, ValueError):
            return None  # damaged or foreign: recomputed, never trusted

    def save(self, name: str, doc: dict[str, Any], *, durable: bool = False) -> None:
        if not self.writable:
            return
        try:
            write_json(self.dir / name, {"version": PARTIALS_VERSION, **doc}, durable=durable)
        except OSError:
            self.writable = False  # a read-only data root still answers, just uncached


# -- the refresh ----------------------------------------------------------------------------


def merged_builder(
    paths: DataPaths, files: Sequence[StoredFile], revision: int, *, use_cache: bool = True
) -> tuple[CatalogBuilder, RefreshReport]:
    """The builder of every committed row (`files`, all doc types), merged from day partials.

    With `use_cache`, partials are read from and written to `DataPaths.catalog_partials`:
    a day whose files are unchanged is reused, a day whose new files all sort after its
    last row is resumed with them, a day whose files compaction replaced is re-keyed when
    the rows are the same; anything else is built from the day's rows. Without it every
    day is built and nothing is written (the full rebuild).
    """
    r = _Refresh(_Store(paths.catalog_partials, revision, use_cache), files)
    try:
        return r.run(), r.report
    finally:
        r.reader.close()
        r.report.rows_read = r.reader.rows_read


_ENTRY_KEYS = ("id", "file", "files", "content", "seed", "last", "seed_out")


class _Refresh:
    """One refresh: the day entries it keeps, the builders it has in memory, its report."""

    def __init__(self, store: _Store, files: Sequence[StoredFile]) -> None:
        self.store = store
        self.reader = _Reader()
        self.report = RefreshReport(cached=store.enabled)
        self.by_day: dict[str, list[StoredFile]] = {}
        for f in files:
            self.by_day.setdefault(f.day, []).append(f)
        self.days = sorted(self.by_day)
        self.entries: dict[str, dict[str, Any]] = {}
        self.builders: dict[str, CatalogBuilder] = {}  # built or loaded in this refresh
        self.changed = False

    def run(self) -> CatalogBuilder:
        index = self.store.load_index()
        old_days = index["days"]
        for day in self.days:
            old = old_days.get(day)
            if not (isinstance(old, dict) and all(k in old for k in _ENTRY_KEYS)):
                old = None
            self.entries[day] = self._day(day, old)
        self.report.dropped = sorted(set(old_days) - set(self.entries))
        self.changed = self.changed or bool(self.report.dropped)
        base_entry, base = self._base(index.get("base"))
        if self.changed or self.report.base not in ("reused", "none"):
            self.store.save("index.json", {"revision": self.store.revision,
                                           "days": self.entries, "base": base_entry},
                            durable=True)
        if self.store.writable:
            keep = {"index.json"} | {e["file"] for e in self.entries.values()}
            if base_entry is not None:
                keep.add(base_entry["file"])
            collect_garbage(self.store.dir, keep)
        if not self.days:
            return CatalogBuilder()
        last = self._take(self.days[-1])
        if base is None:
            return last
        base.merge(last)
        return base

    def _seed(self, day: str) -> dict[str, Any]:
        i = self.days.index(day)
        prev = self.days[i - 1] if i else None
        if prev is None or _next_day(prev) != day:
            return {}
        seed: dict[str, Any] = self.entries[prev]["seed_out"]
        return seed

    def _day(self, day: str, old: dict[str, Any] | None) -> dict[str, Any]:
        files = self.by_day[day]
        seed = self._seed(day)
        seed_key = digest(seed)
        reader, report = self.reader, self.report
        if old is not None and old["seed"] == seed_key:
            if old["files"] == [list(f.stamp) for f in files]:
                report.reused.append(day)
                return old
            known = {tuple(s) for s in old["files"]}
            now = {f.stamp for f in files}
            added = [f for f in files if f.stamp not in known]
            entry: dict[str, Any] | None = old
            if not known <= now:
                from store.files import is_compacted

                # Files went away: compaction replaced them. Its outputs (and the files it
                # left alone) must hold exactly the rows the partial was built from.
                kept = [f for f in files if f.stamp in known or is_compacted(f.path)]
                if reader.content(kept) == old["content"]:
                    entry = {**old, "files": [list(f.stamp) for f in kept]}
                    added = [f for f in added if not is_compacted(f.path)]
                    report.rekeyed.append(day)
                    self.changed = True
                else:
                    entry = None
            if entry is not None and not added:
                return entry
            if entry is not None and reader.count_not_after(added, entry["last"]) == 0:
                builder = self.store.load_state(entry["file"], entry["id"])
                if builder is not None:
                    last = list(entry["last"])
                    for row in reader.rows(added, builder.counts(), last):
                        builder.add(row)
                    content = [a + b for a, b in zip(entry["content"], reader.content(added),
                                                     strict=True)]
                    report.appended.append(day)
                    stamps = entry["files"] + [list(f.stamp) for f in added]
                    return self._save(day, builder, stamps, content, seed_key, last)
        return self._build(day, seed, seed_key)

    def _build(self, day: str, seed: dict[str, Any], seed_key: str) -> dict[str, Any]:
        files = self.by_day[day]
        builder = CatalogBuilder()
        builder.apply_seed(seed)
        last: list[Any] = []
        for row in self.reader.rows(files, {}, last):
            builder.add(row)
        self.report.built.append(day)
        # The content key only matters to a cache: a full rebuild skips reading the ids.
        content = self.reader.content(files) if self.store.writable else [0, 0]
        return self._save(day, builder, [list(f.stamp) for f in files], content, seed_key, last)

    def _save(self, day: str, builder: CatalogBuilder, stamps: list[list[Any]],
              content: list[int], seed_key: str, last: list[Any]) -> dict[str, Any]:
        entry_id = digest([day, content, seed_key, self.store.revision])
        entry: dict[str, Any] = {
            "id": entry_id, "file": f"{day}-{entry_id}.json", "files": stamps,
            "content": content, "seed": seed_key, "last": last,
            "seed_out": builder.tail_seed(_day_start(_next_day(day))),
        }
        if self.store.writable:
            self.store.save(entry["file"], {"day": day, "id": entry_id,
                                            "state": builder.to_state()})
        self.builders[day] = builder
        self.changed = True
        return entry

    def _take(self, day: str) -> CatalogBuilder:
        """A day's builder, consumed by a merge: in memory, else from disk, else rebuilt."""
        b = self.builders.pop(day, None)
        if b is None:
            e = self.entries[day]
            b = self.store.load_state(e["file"], e["id"])
        if b is None:
            # The index names a partial that is gone (damaged, or another process's
            # cleanup): build it again. Its entry id stays: the rows are the same.
            self.entries[day] = self._build(day, self._seed(day), self.entries[day]["seed"])
            b = self.builders.pop(day)
        return b

    def _base(self, old: Any) -> tuple[dict[str, Any] | None, CatalogBuilder | None]:
        """The merge of every day but the last: reused, extended by the days added since
        the last refresh, or merged again from the partials."""
        days = self.days[:-1]
        if not days:
            self.report.base = "none"
            return None, None
        ids = [[d, self.entries[d]["id"]] for d in days]
        entry: dict[str, Any] = {"days": ids, "file": f"base-{digest(ids)}.json"}
        old_ids = old.get("days") if isinstance(old, dict) else None
        builder: CatalogBuilder | None = None
        start = 0
        if isinstance(old_ids, list) and old_ids and ids[: len(old_ids)] == old_ids:
            builder = self.store.load_state(str(old.get("file")))
            start = len(old_ids) if builder is not None else 0
        if builder is not None and start == len(days):
            self.report.base = "reused"
            return entry, builder
        self.report.base = "extended" if builder is not None else "merged"
        for d in days[start:]:
            part = self._take(d)
            if builder is None:
                builder = part
            else:
                builder.merge(part)
        assert builder is not None
        if self.store.writable:
            self.store.save(entry["file"], {"state": builder.to_state()})
        return entry, builder


def state_size(builder: CatalogBuilder) -> int:
    """Bytes of a builder's JSON state (for benches and the CONTEXT figures)."""
    return len(json.dumps(builder.to_state(), separators=(",", ":"), default=str))


