"""Per-partition game summaries: list_games reads one row per game instead of every tick.

Under `DataPaths.game_summaries`, next to `index.json` {version, days: {day: {files, file}},
games}: one Parquet file per game_tick partition (day) with, per game seen that day, first
and last ts, distinct ticks, lowest and highest tick, peak price, the final price with the
sort key of the tick it came from and whether a rug tick was seen; and `games-<key>.parquet`,
those merged into one row per game (with the days that hold it), keyed by the day files.

A day's summary is valid while its files are (`store.derived` stamps); a day that only
gained files is merged with a summary of the new ones; any other change (compaction, a
rewrite) summarises the day again from its files, which costs one scan of one day.
Merging the pieces of one game (flush files of a day, days of the store) is exact: taken
in tick order, the tick ranges of the pieces either do not meet, meet at one tick (counted
once), or overlap for real, and then the game's distinct ticks are counted from its files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from store.derived import StoredFile, collect_garbage, digest, read_json, stored_files, write_json
from store.errors import SchemaVersionError
from store.paths import DataPaths
from store.views import sql_literal

SUMMARY_VERSION = 1

# The tick an episode ends on (store.query's rule): highest tick, then latest ts, seq,
# event_id. Rows without a price cannot give the final price (arg_max skips them).
_KEY = "struct_pack(tick := tick, ts := ts, seq := seq, event_id := event_id)"

_PIECE_SQL = f"""
    SELECT CAST({{day}} AS VARCHAR) AS day, game_id, min(ts) AS first_ts, max(ts) AS last_ts,
           count(DISTINCT tick) AS ticks, min(tick) AS min_tick, max(tick) AS max_tick,
           max(price) AS peak_price,
           arg_max(price, {_KEY}) FILTER (WHERE tick IS NOT NULL) AS final_price,
           max({_KEY}) FILTER (WHERE tick IS NOT NULL AND price IS NOT NULL) AS final_key,
           bool_or(rugged) AS rugged
    FROM ({{source}}) WHERE game_id IS NOT NULL GROUP BY game_id
"""

# Pieces of one game in tick order: a piece that starts at the highest tick seen so far
# shares exactly that tick (counted once); one that starts below it overlaps for real.
_MERGE_SQL = """
    SELECT game_id, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
           CAST(sum(ticks) - count(*) FILTER (WHERE min_tick = prev_max) AS BIGINT) AS ticks,
           coalesce(bool_or(min_tick < prev_max), false) AS overlap,
           min(min_tick) AS min_tick, max(max_tick) AS max_tick,
           max(peak_price) AS peak_price, arg_max(final_price, final_key) AS final_price,
           max(final_key) FILTER (WHERE final_price IS NOT NULL) AS final_key,
           bool_or(rugged) AS rugged, list(DISTINCT day ORDER BY day) AS days
    FROM (SELECT *, max(max_tick) OVER (
                        PARTITION BY game_id ORDER BY min_tick, max_tick
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_max
          FROM ({pieces}))
    GROUP BY game_id
"""

# The same figures as one aggregate over every committed tick of the `game_tick` view: what
# list_games computed before the summaries, and what tests and the bench compare them with.
AGGREGATE_SQL = """
    SELECT game_id, min(ts) AS first_ts, max(ts) AS last_ts,
           count(DISTINCT tick) AS ticks, max(tick) AS max_tick, max(price) AS peak_price,
           arg_max(price, (tick, ts, seq, event_id)) FILTER (WHERE tick IS NOT NULL)
               AS final_price,
           coalesce(bool_or(rugged), false) AS rugged
    FROM game_tick WHERE game_id IS NOT NULL GROUP BY game_id
"""

_RECOUNT_SQL = """
    SELECT game_id, count(DISTINCT tick) AS ticks FROM ({source})
    WHERE game_id IN (SELECT unnest($games::VARCHAR[])) GROUP BY game_id
"""

_EMPTY_TICKS = (
    "SELECT NULL::VARCHAR AS game_id, NULL::TIMESTAMPTZ AS ts, NULL::INTEGER AS tick, "
    "NULL::BIGINT AS seq, NULL::VARCHAR AS event_id, NULL::DECIMAL(38,18) AS price, "
    "NULL::BOOLEAN AS rugged WHERE false"
)


def _quote(path: Path) -> str:
    return sql_literal(str(path))


def _source(files: Sequence[StoredFile | Path]) -> str:
    """A SELECT over some Parquet files of one schema (our own listing, quoted)."""
    if not files:
        return _EMPTY_TICKS
    paths = [f.path if isinstance(f, StoredFile) else f for f in files]
    listing = ", ".join(_quote(p) for p in paths)
    return f"SELECT * FROM read_parquet([{listing}], union_by_name=false, hive_partitioning=false)"


class GameSummaries:
    """The summaries of one data root, brought up to date on a caller's connection.

    `refresh()` first; then `games_sql` selects one row per game and `files_of(game_id)`
    names the committed game_tick files of the days that hold it. Summaries are written
    under the data root when it is writable, else kept as temp tables of the connection.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
        self.con = con
        self.dir = paths.game_summaries
        self.writable = True
        self._temp = 0
        self.by_day: dict[str, list[StoredFile]] = {}
        for f in stored_files(paths, ("game_tick",)):
            self.by_day.setdefault(f.day, []).append(f)
        self.games_sql = _MERGE_SQL.format(pieces=_PIECE_SQL.format(day="''",
                                                                     source=_EMPTY_TICKS))

    # -- the index ----------------------------------------------------------------------

    def _index(self) -> dict[str, Any]:
        doc = read_json(self.dir / "index.json")
        if not isinstance(doc, dict):
            return {}
        v = doc.get("version", 0)
        if isinstance(v, int) and v > SUMMARY_VERSION:
            raise SchemaVersionError(
                f"game summaries in {self.dir} have version {v}, newer than this code knows "
                f"({SUMMARY_VERSION}): upgrade rugs-replayer, or delete {self.dir} to rebuild"
            )
        return doc if v == SUMMARY_VERSION else {}

    def refresh(self) -> GameSummaries:
        index = self._index()
        old = index.get("days") if isinstance(index.get("days"), dict) else {}
        assert isinstance(old, dict)
        entries: dict[str, dict[str, Any]] = {}
        sources: list[str] = []  # a file name (written) or a temp table, per day
        changed = set(old) != set(self.by_day)
        for day, files in sorted(self.by_day.items()):
            entry, fresh = self._day(day, files, old.get(day))
            entries[day] = entry
            sources.append(entry["file"] if "file" in entry else entry["table"])
            changed = changed or fresh
        games = self._games(index.get("games"), entries, sources)
        if (changed or games.get("fresh")) and self.writable:
            written = {d: e for d, e in entries.items() if "file" in e}
            doc = {"version": SUMMARY_VERSION, "days": written,
                   "games": {k: v for k, v in games.items() if k in ("key", "file")}}
            try:
                write_json(self.dir / "index.json", doc, durable=True)
                keep = {"index.json", str(games.get("file"))} | {
                    e["file"] for e in written.values()}
                collect_garbage(self.dir, keep)
            except OSError:
                self.writable = False
        return self

    def _day(self, day: str, files: list[StoredFile], old: Any
             ) -> tuple[dict[str, Any], bool]:
        """(entry, recomputed?) of one day: its summary as it was, extended, or made again."""
        stamps = [list(f.stamp) for f in files]
        path = self.dir / str(old.get("file")) if isinstance(old, dict) else None
        if path is not None and path.exists():
            assert isinstance(old, dict)
            if old.get("files") == stamps:
                return old, False
            known = {tuple(s) for s in old.get("files", [])}
            if known <= {f.stamp for f in files}:
                added = [f for f in files if f.stamp not in known]
                pieces = (f"SELECT * FROM read_parquet({_quote(path)}) UNION ALL "
                          + _PIECE_SQL.format(day=f"'{day}'", source=_source(added)))
                sql = self._merged(pieces, files, per_day=day)
                return self._store(f"{day}-{digest(stamps)}", stamps, sql), True
        piece = _PIECE_SQL.format(day=f"'{day}'", source=_source(files))
        return self._store(f"{day}-{digest(stamps)}", stamps, piece), True

    def _games(self, old: Any, entries: dict[str, dict[str, Any]], sources: list[str]
               ) -> dict[str, Any]:
        """One row per game over every day: as it was, or merged again from the days."""
        key = digest(sources)
        if (isinstance(old, dict) and old.get("key") == key and self.writable
                and (self.dir / str(old.get("file"))).exists()):
            self.games_sql = f"SELECT * FROM read_parquet({_quote(self.dir / old['file'])})"
            return {"key": key, "file": old["file"]}
        files = [self.dir / s for d, s in zip(entries, sources, strict=True)
                 if "file" in entries[d]]
        parts = [f"SELECT * FROM read_parquet([{', '.join(_quote(f) for f in files)}])"]
        parts = parts if files else []
        parts += [f"SELECT * FROM {s}" for d, s in zip(entries, sources, strict=True)
                  if "table" in entries[d]]
        if not parts:
            return {"key": key}
        all_files = [f for d in entries for f in self.by_day[d]]
        sql = self._merged(" UNION ALL ".join(parts), all_files, per_day=None)
        stored = self._store(f"games-{key}", None, sql)
        self.games_sql = (f"SELECT * FROM read_parquet({_quote(self.dir / stored['file'])})"
                          if "file" in stored else f"SELECT * FROM {stored['table']}")
        return {"key": key, "file": stored.get("file"), "fresh": True}

    # -- computing ----------------------------------------------------------------------

    def _merged(self, pieces: str, files: Sequence[StoredFile], per_day: str | None) -> str:
        """Pieces of games merged to one row per game (ticks recounted where they overlap).

        `per_day`: the result is that day's summary (piece columns); else the store's games.
        """
        merged = self.con.sql(_MERGE_SQL.format(pieces=pieces)).to_arrow_table()
        self._temp += 1
        name = f"game_merge_{self._temp}"
        self.con.register(name, merged)
        overlap = [g for g, o in zip(merged.column("game_id").to_pylist(),
                                     merged.column("overlap").to_pylist(), strict=True) if o]
        ticks, join = "m.ticks", ""
        if overlap:
            if per_day is None:  # only the days that hold those games
                days = {d for g, ds in zip(merged.column("game_id").to_pylist(),
                                           merged.column("days").to_pylist(), strict=True)
                        if g in set(overlap) for d in ds}
                files = [f for f in files if f.day in days]
            recount = self.con.sql(_RECOUNT_SQL.format(source=_source(files)),
                                   params={"games": overlap}).to_arrow_table()
            self.con.register(f"{name}_recount", recount)
            ticks = "coalesce(r.ticks, m.ticks)"
            join = f" LEFT JOIN {name}_recount r USING (game_id)"
        cols = (f"m.game_id, m.first_ts, m.last_ts, CAST({ticks} AS BIGINT) AS ticks, "
                "m.min_tick, m.max_tick, m.peak_price, m.final_price, m.final_key, m.rugged")
        if per_day is not None:
            return f"SELECT '{per_day}' AS day, {cols} FROM {name} m{join}"
        return f"SELECT {cols}, m.days FROM {name} m{join}"

    def _store(self, stem: str, stamps: list[list[Any]] | None, sql: str) -> dict[str, Any]:
        """Write a result as Parquet (temp file and rename), or keep a temp table."""
        entry: dict[str, Any] = {} if stamps is None else {"files": stamps}
        if self.writable:
            name = f"{stem}.parquet"
            tmp = self.dir / f".{name}.tmp-{os.getpid()}"
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                self.con.execute(f"COPY ({sql}) TO {_quote(tmp)} (FORMAT parquet)")
                os.replace(tmp, self.dir / name)
                return {**entry, "file": name}
            except (OSError, duckdb.IOException, duckdb.PermissionException):
                self.writable = False
        self._temp += 1
        table = f"game_summary_{self._temp}"
        self.con.execute(f"CREATE TEMP TABLE {table} AS {sql}")
        return {**entry, "table": table}

    # -- answers ------------------------------------------------------------------------

    def files_of(self, game_id: str) -> list[Path]:
        rows = self.con.sql(f"SELECT days FROM ({self.games_sql}) WHERE game_id = $g",
                            params={"g": game_id}).fetchall()
        days = sorted({d for (ds,) in rows for d in ds})
        return [f.path for d in days for f in self.by_day.get(d, [])]


def create_games_view(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    """A temp view `games` on `con`: one row per game with game_tick rows (game_id,
    first_ts, last_ts, ticks, max_tick, peak_price, final_price, rugged), as an aggregate
    over every committed tick would give, from the summaries brought up to date first."""
    s = GameSummaries(con, paths).refresh()
    con.execute(
        "CREATE OR REPLACE TEMP VIEW games AS SELECT game_id, first_ts, last_ts, ticks, "
        "max_tick, peak_price, final_price, coalesce(rugged, false) AS rugged "
        f"FROM ({s.games_sql})"
    )


def game_files(con: duckdb.DuckDBPyConnection, paths: DataPaths, game_id: str) -> list[Path]:
    """The committed game_tick files of the days that hold rows of one game."""
    return GameSummaries(con, paths).refresh().files_of(game_id)
