"""Read-side queries over the DuckDB doc-type views: episodes, tick features, games, players."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from store.errors import HINT_LIST_GAMES, QueryError, one_line
from store.paths import DOC_TYPES, DataPaths
from store.sandbox import check_statement
from store.schema import check_version
from store.views import connect, view_sql

Params = Sequence[Any] | Mapping[str, Any] | None

# Ordering of a game's ticks, the one rule every function here follows: by tick, then event
# time, then the capture's own seq, then event_id so that equal rows still order the same way.
# One tick is observed several times (legacy presale repeats tick 0 with a countdown; a live
# capture and a CDP capture of the same game overlap), so the episode keeps one row per tick:
# its LAST observation (latest ts, seq), which carries the settled state of that tick (e.g.
# legacy tick 0 ends in GAME_ACTIVATION). `observations` says how many rows were folded.
# Rows without a tick (live cooldown updates carry only a timer) are not ticks of the game;
# they are kept only by `all_rows=True`, ordered before tick 0 (NULLS FIRST).
_LATEST_FIRST = "ts DESC, seq DESC, event_id DESC"

_EPISODE_COLUMNS = (
    "game_id, tick, price, phase, active, rugged, cooldown_timer, trade_count, "
    "ts, seq, event_name, source, session_id, event_id"
)

# One row per (game, tick): the last observation. `{where}` is a fixed, code-owned filter
# (never user text); every value reaches DuckDB as a bound parameter.
_DEDUP_TICKS = f"""
    SELECT {_EPISODE_COLUMNS}, observations FROM (
        SELECT {_EPISODE_COLUMNS},
               count(*) OVER (PARTITION BY game_id, tick) AS observations,
               row_number() OVER (PARTITION BY game_id, tick ORDER BY {_LATEST_FIRST}) AS rn
        FROM game_tick
        WHERE tick IS NOT NULL AND game_id IS NOT NULL {{where}}
    ) WHERE rn = 1
"""

# Volatility is the sample standard deviation of tick-to-tick returns over the last N ticks
# present (the current one included; at least two returns, else NULL). Windows count
# observed ticks, not tick numbers: a live feed skips a tick now and then.
_FEATURES = """
    WITH ep AS ({episode}),
    r AS (
        SELECT *,
               price - lag(price) OVER w AS price_change,
               CAST(price AS DOUBLE) / NULLIF(CAST(lag(price) OVER w AS DOUBLE), 0) - 1
                   AS pct_change,
               max(price) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                   AS max_price
        FROM ep WHERE price IS NOT NULL
        WINDOW w AS (ORDER BY tick)
    )
    SELECT tick, ts, price, phase, active, rugged, price_change, pct_change,
           stddev_samp(pct_change) OVER (ORDER BY tick ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)
               AS volatility_5,
           stddev_samp(pct_change) OVER (ORDER BY tick ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)
               AS volatility_10,
           max_price,
           CAST(max_price - price AS DOUBLE) / NULLIF(CAST(max_price AS DOUBLE), 0) AS drawdown
    FROM r
    ORDER BY tick
    LIMIT $limit OFFSET $offset
"""


class Episode(NamedTuple):
    """One game's ticks, as yielded by `iter_episodes`."""

    game_id: str
    ticks: pa.Table


# -- plumbing -----------------------------------------------------------------------------


@contextmanager
def _connection(
    paths: DataPaths, doc_types: Sequence[str] = DOC_TYPES
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh connection per call: no state survives between calls (files come and go).

    Only the views a function reads are created: DuckDB binds each view (reads its files'
    footers) when it is created, the largest fixed cost of a call.
    """
    check_version(paths)  # a root written by a newer schema is refused, not misread
    try:
        con = connect(paths, doc_types=doc_types)
    except duckdb.Error as exc:
        from store.integrity import recover_from_error

        damaged = recover_from_error(exc)
        raise QueryError(damaged.message if damaged
                         else f"cannot open the store at {paths.root}: {exc}") from exc
    try:
        yield con
    finally:
        con.close()


@contextmanager
def _game_connection(paths: DataPaths, game_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose `game_tick` view covers only the days that hold this game.

    The game summaries (store.games, brought up to date first) say which days those are:
    before compaction a store has thousands of flush files, and binding a view reads
    every file's footer.
    """
    from store.games import game_files

    with _connection(paths, ()) as con:
        try:
            files = game_files(con, paths, game_id)
            con.execute(f"CREATE TEMP VIEW game_tick AS {view_sql(paths, 'game_tick', files)}")
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from exc
        yield con


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: Params = None) -> pa.Table:
    try:
        rel = con.sql(sql, params=params)
        if rel is None:  # a statement that returns nothing
            return pa.table({})
        return rel.to_arrow_table()
    except duckdb.Error as exc:
        from store.integrity import recover_from_error

        damaged = recover_from_error(exc)
        raise QueryError(damaged.message if damaged else one_line(exc)) from exc


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _check_game_id(game_id: object) -> str:
    if not isinstance(game_id, str) or not game_id.strip():
        raise QueryError(f"game_id must be a non-empty string, got {game_id!r}")
    return game_id.strip()


def _check_player_id(player_id: object) -> str:
    if not isinstance(player_id, str) or not player_id.strip():
        raise QueryError(f"player_id must be a non-empty string, got {player_id!r}")
    return player_id.strip()


def _check_page(limit: int | None, offset: int) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise QueryError(f"limit must be a non-negative integer or None, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise QueryError(f"offset must be a non-negative integer, got {offset!r}")


def _check_doc_type(doc_type: str) -> None:
    if doc_type not in DOC_TYPES:
        raise QueryError(f"unknown doc type {doc_type!r}; expected one of {', '.join(DOC_TYPES)}")


# -- episodes and features ----------------------------------------------------------------


def get_game_episode(
    paths: DataPaths,
    game_id: str,
    *,
    all_rows: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> pa.Table:
    """The ticks of one game as an Arrow table, ordered by tick (then ts, seq, event_id).

    Default: one row per tick, its last observation, with `observations` (how many
    game_tick rows that tick had). `all_rows=True`: every game_tick row of the game,
    including rows without a tick (live cooldown updates, first), with no folding.
    Columns: game_id, tick, price (decimal), phase, active, rugged, cooldown_timer,
    trade_count, ts, seq, event_name, source, session_id, event_id[, observations].
    `limit`/`offset` page through the ticks. Raises QueryError if the store holds no
    game_tick row for the game.
    """
    gid = _check_game_id(game_id)
    _check_page(limit, offset)
    params = {"game_id": gid, "limit": limit, "offset": offset}
    if all_rows:
        sql = (
            f"SELECT {_EPISODE_COLUMNS} FROM game_tick WHERE game_id = $game_id "
            "ORDER BY tick NULLS FIRST, ts, seq, event_id LIMIT $limit OFFSET $offset"
        )
    else:
        sql = (
            _DEDUP_TICKS.format(where="AND game_id = $game_id")
            + " ORDER BY tick LIMIT $limit OFFSET $offset"
        )
    with _game_connection(paths, gid) as con:
        table = _arrow(con, sql, params)
        if table.num_rows == 0 and not _game_has_rows(con, gid):
            raise QueryError(
                f"no ticks stored for game {gid!r}; `replayer data games` lists the games",
                hint=HINT_LIST_GAMES,
            )
    return table


def episode_sql() -> str:
    """The SELECT behind `get_game_episode` (one row per tick), bound by `$game_id`.

    For callers that hold their own connection over the views (the benchmark's warm
    baseline, a sandboxed connection); ordered by tick, no paging.
    """
    return _DEDUP_TICKS.format(where="AND game_id = $game_id") + " ORDER BY tick"


def _game_has_rows(con: duckdb.DuckDBPyConnection, game_id: str) -> bool:
    t = _arrow(con, "SELECT count(*) AS n FROM game_tick WHERE game_id = $g", {"g": game_id})
    return bool(t.column("n")[0].as_py())


def get_tick_features(
    paths: DataPaths, game_id: str, *, limit: int | None = None, offset: int = 0
) -> pa.Table:
    """Per-tick features of one game, computed in DuckDB with window functions.

    Over the game's ticks (one row per tick, as `get_game_episode`), ordered by tick:
    - price_change: price minus the previous tick's price (exact decimal; NULL at the first)
    - pct_change: price / previous price - 1 (double)
    - volatility_5, volatility_10: sample stddev of pct_change over the last 5 / 10 ticks,
      the current one included (double; NULL until two returns exist)
    - max_price: running maximum price so far (exact decimal)
    - drawdown: (max_price - price) / max_price, 0 at a new high, ~1 at a rug (double)
    plus tick, ts, price, phase, active, rugged. Raises QueryError for an unknown game.
    """
    gid = _check_game_id(game_id)
    _check_page(limit, offset)
    episode = _DEDUP_TICKS.format(where="AND game_id = $game_id")
    sql = _FEATURES.format(episode=episode)
    with _game_connection(paths, gid) as con:
        table = _arrow(con, sql, {"game_id": gid, "limit": limit, "offset": offset})
        if table.num_rows == 0 and not _game_has_rows(con, gid):
            raise QueryError(
                f"no ticks stored for game {gid!r}; `replayer data games` lists the games",
                hint=HINT_LIST_GAMES,
            )
    return table


def iter_episodes(
    paths: DataPaths,
    player_id: str | None = None,
    *,
    min_ticks: int = 1,
    limit: int | None = None,
    batch_rows: int = 65_536,
) -> Iterator[Episode]:
    """Yield `Episode(game_id, ticks)` for every game with at least `min_ticks` ticks.

    Games come oldest first (by their first tick's ts); `ticks` has the columns of
    `get_game_episode`. With `player_id`, only games where that player has any stored
    event (a trade, an order, a state update). `limit` caps the number of games.
    One query streams every selected tick in Arrow batches of `batch_rows`, so memory
    stays bounded by the largest game; the connection lives until the iterator is
    exhausted or closed.
    """
    if isinstance(min_ticks, bool) or not isinstance(min_ticks, int) or min_ticks < 0:
        raise QueryError(f"min_ticks must be a non-negative integer, got {min_ticks!r}")
    _check_page(limit, 0)
    params: dict[str, Any] = {"min_ticks": min_ticks, "limit": limit}
    where = ""
    if player_id is not None:
        params["player_id"] = _check_player_id(player_id)
        where = (
            "AND game_id IN (SELECT DISTINCT game_id FROM all_events "
            "WHERE player_id = $player_id AND game_id IS NOT NULL)"
        )
    sql = f"""
        WITH ep AS ({_DEDUP_TICKS.format(where=where)}),
        games AS (
            SELECT game_id, min(ts) AS first_ts FROM ep GROUP BY game_id
            HAVING count(*) >= $min_ticks
            ORDER BY first_ts, game_id LIMIT $limit
        )
        SELECT ep.* FROM ep JOIN games USING (game_id)
        ORDER BY games.first_ts, game_id, tick
    """
    views = DOC_TYPES if player_id is not None else ("game_tick",)
    with _connection(paths, views) as con:
        try:
            reader = con.sql(sql, params=params).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from exc
        current: str | None = None
        parts: list[pa.Table] = []
        for batch in reader:
            ids = batch.column(batch.schema.get_field_index("game_id")).to_pylist()
            start = 0
            for i in range(1, len(ids) + 1):
                if i == len(ids) or ids[i] != ids[start]:
                    piece = pa.Table.from_batches([batch.slice(start, i - start)])
                    if ids[start] != current and parts:
                        assert current is not None
                        yield Episode(current, pa.concat_tables(parts))
                        parts = []
                    current = ids[start]
                    parts.append(piece)
                    start = i
        if parts and current is not None:
            yield Episode(current, pa.concat_tables(parts))


# -- catalog-like listings ----------------------------------------------------------------


def list_games(
    paths: DataPaths,
    *,
    limit: int | None = None,
    offset: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every game the store knows (from game_tick and complete_game), newest first.

    Each dict: game_id, first_ts, last_ts, ticks (distinct ticks stored), max_tick,
    peak_price and final_price (from the ticks; decimals), rugged (any rug tick seen),
    has_summary (a complete_game row exists), summary_peak, summary_final_price,
    summary_duration_ticks, summary_rug_tick (from complete_game, else None).
    `since`/`until` (aware datetimes) filter on first_ts, `until` exclusive.
    """
    _check_page(limit, offset)
    # `games`: one row per game from the per-day game summaries (store.games), the same
    # figures an aggregate over every tick gives; final_price follows the episode rule.
    sql = """
        WITH cg AS (
            SELECT game_id, min(ts) AS ts,
                   arg_max(peak, ts) AS peak, arg_max(final_price, ts) AS final_price,
                   arg_max(duration_ticks, ts) AS duration_ticks,
                   arg_max(rug_tick, ts) AS rug_tick
            FROM complete_game WHERE game_id IS NOT NULL GROUP BY game_id
        ),
        g AS (
            SELECT coalesce(ticks.game_id, cg.game_id) AS game_id,
                   coalesce(ticks.first_ts, cg.ts) AS first_ts,
                   coalesce(ticks.last_ts, cg.ts) AS last_ts,
                   coalesce(ticks.ticks, 0) AS ticks, ticks.max_tick,
                   ticks.peak_price, ticks.final_price,
                   coalesce(ticks.rugged, false) AS rugged,
                   cg.game_id IS NOT NULL AS has_summary,
                   cg.peak AS summary_peak, cg.final_price AS summary_final_price,
                   cg.duration_ticks AS summary_duration_ticks, cg.rug_tick AS summary_rug_tick
            FROM games ticks FULL OUTER JOIN cg ON ticks.game_id = cg.game_id
        )
        SELECT * FROM g
        WHERE ($since IS NULL OR first_ts >= $since) AND ($until IS NULL OR first_ts < $until)
        ORDER BY first_ts DESC, game_id
        LIMIT $limit OFFSET $offset
    """
    params = {"limit": limit, "offset": offset, "since": since, "until": until}
    from store.games import create_games_view

    with _connection(paths, ("complete_game",)) as con:
        try:
            create_games_view(con, paths)
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from exc
        return _rows(_arrow(con, sql, params))


def list_players(
    paths: DataPaths, *, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Every player id seen in any doc type, most active first.

    Each dict: player_id, username (the latest one seen), events (rows naming the
    player), games (distinct games), actions (player_action rows), first_ts, last_ts.
    """
    _check_page(limit, offset)
    sql = """
        SELECT player_id,
               arg_max(username, ts) FILTER (WHERE username IS NOT NULL) AS username,
               count(*) AS events,
               count(DISTINCT game_id) AS games,
               count(*) FILTER (WHERE doc_type = 'player_action') AS actions,
               min(ts) AS first_ts, max(ts) AS last_ts
        FROM all_events WHERE player_id IS NOT NULL
        GROUP BY player_id
        ORDER BY events DESC, player_id
        LIMIT $limit OFFSET $offset
    """
    with _connection(paths) as con:
        return _rows(_arrow(con, sql, {"limit": limit, "offset": offset}))


def count_events(
    paths: DataPaths,
    doc_type: str | None = None,
    *,
    event_name: str | None = None,
    game_id: str | None = None,
) -> int:
    """Number of stored rows: of one doc type (default: every doc type), optionally of one
    event_name and/or one game. A wire event stored as several doc types counts once per
    doc type; `count_events(paths, "ws_event")` counts wire events."""
    view, views = "all_events", DOC_TYPES
    if doc_type is not None:
        _check_doc_type(doc_type)
        view, views = doc_type, (doc_type,)
    sql = (
        f"SELECT count(*) AS n FROM {view} "  # view: a checked DOC_TYPES name, not user text
        "WHERE ($event_name IS NULL OR event_name = $event_name) "
        "AND ($game_id IS NULL OR game_id = $game_id)"
    )
    with _connection(paths, views) as con:
        t = _arrow(con, sql, {"event_name": event_name, "game_id": game_id})
    return int(t.column("n")[0].as_py())


def get_player_actions(
    paths: DataPaths,
    player_id: str,
    *,
    game_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> pa.Table:
    """The player_action rows of one player, ordered by ts, seq.

    Those are the player's trades and sidebets broadcast on the feed (received
    `standard/newTrade`, `newSideBet`) and the orders their own client sent (CDP
    captures). Columns: ts, game_id, event_name, action_type, amount, price, qty,
    percentage, tick (decimals exact), username, direction, source, session_id, seq,
    event_id.
    """
    pid = _check_player_id(player_id)
    _check_page(limit, offset)
    sql = """
        SELECT ts, game_id, event_name, action_type, amount, price, qty, percentage, tick,
               username, direction, source, session_id, seq, event_id
        FROM player_action
        WHERE player_id = $player_id AND ($game_id IS NULL OR game_id = $game_id)
        ORDER BY ts, seq, event_id
        LIMIT $limit OFFSET $offset
    """
    params = {"player_id": pid, "game_id": game_id, "limit": limit, "offset": offset}
    with _connection(paths, ("player_action",)) as con:
        return _arrow(con, sql, params)


# -- free SQL -----------------------------------------------------------------------------


def query(paths: DataPaths, sql: str, params: Params = None) -> pa.Table:
    """Run one read-only SQL statement over the doc-type views; an Arrow table.

    Views: ws_event, game_tick, player_action, server_state, system_event, complete_game
    and all_events (the envelope of every row). Pass values as `params` (`?` with a list,
    `$name` with a dict), never inside the SQL text. The statement check is the MCP
    sandbox's (`store.sandbox.check_statement`: one SELECT or EXPLAIN SELECT, allowlisted
    table functions, decided by DuckDB's parser): anything else raises UnsafeQueryError;
    a failing query raises QueryError. Unlike the sandbox there is no row cap, timeout
    or file confinement: this is the local user's own CLI. Untrusted SQL goes through
    `store.sandbox.run_query`.
    """
    with _connection(paths) as con:
        check_statement(con, sql)
        return _arrow(con, sql, params)


def query_head(
    paths: DataPaths, sql: str, params: Params = None, *, max_rows: int = 1000
) -> tuple[pa.Table, bool]:
    """Like `query`, but stops reading after `max_rows` rows: (table, truncated).

    The result is streamed, so a `SELECT *` over every event costs `max_rows` rows of
    memory, not the whole store.
    """
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise QueryError(f"max_rows must be a non-negative integer, got {max_rows!r}")
    with _connection(paths) as con:
        check_statement(con, sql)
        try:
            reader = con.sql(sql, params=params).to_arrow_reader(min(max_rows + 1, 65_536))
            batches: list[pa.RecordBatch] = []
            seen = 0
            for batch in reader:
                batches.append(batch)
                seen += batch.num_rows
                if seen > max_rows:
                    break
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from exc
        table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, max_rows), seen > max_rows
