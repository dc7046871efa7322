"""`replayer data games|episode|sql`: thin wrappers over store.query, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import click
import pyarrow as pa

from replayer.app import emit_json, pass_settings, warn
from replayer.data_cmds import data
from store import query as q
from store.paths import DataPaths
from store.settings import Settings

# Columns a person reads in the terminal; --json and --csv carry every column.
_EPISODE_COLUMNS = ("tick", "price", "phase", "active", "rugged", "cooldown_timer",
                    "trade_count", "ts", "observations")
_GAME_COLUMNS = ("game_id", "first_ts", "ticks", "max_tick", "peak_price", "final_price",
                 "rugged", "summary_peak", "summary_rug_tick")
_MAX_CELL = 60


def plain(value: Any) -> Any:
    """A JSON/CSV-safe value: exact decimals as plain strings, times as ISO-8601."""
    if isinstance(value, Decimal):
        # normalize() drops the 18-digit scale's trailing zeros; "f" avoids 1E+1 forms.
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    v = plain(value)
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    text = str(v).replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Aligned columns; numbers to the right."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(r.get(c), int | float | Decimal) and not isinstance(r.get(c), bool)
            for r in rows if r.get(c) is not None)
        for c in columns
    ]
    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    click.echo(line(list(columns)))
    for row in cells:
        click.echo(line(row))


def write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if (v := plain(r.get(c))) is None else v for c in columns])


def _records(table: pa.Table) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = table.to_pylist()
    return records


def _parse_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or time like 2025-12-14") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # naive = UTC, as the writer reads ts


def _output_format(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


@data.command("games")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="At most this many games (0: all).")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many games.")
@click.option("--since", callback=_parse_time, help="Games that started at or after this time.")
@click.option("--until", callback=_parse_time, help="Games that started before this time.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with every column.")
@pass_settings
def games_cmd(settings: Settings, limit: int, offset: int, since: datetime | None,
              until: datetime | None, as_json: bool, as_csv: bool) -> None:
    """Games in the store, newest first: ticks, peak, final price, rug, summary.

    A game is listed if it has ticks (game_tick) or a summary (complete_game).
    Prices are exact decimals; in JSON they are strings.

    \b
    Examples:
      replayer data games
      replayer data games --since 2025-10-31 --until 2025-11-01 --limit 0
      replayer data games --json | jq -r '.games[].game_id'
    """
    fmt = _output_format(as_json, as_csv)
    games = q.list_games(DataPaths(settings.data_dir), limit=limit or None, offset=offset,
                         since=since, until=until)
    if fmt == "json":
        emit_json({"games": plain(games), "count": len(games), "offset": offset,
                   "limit": limit or None})
    elif fmt == "csv":
        write_csv(games, list(games[0]) if games else list(_GAME_COLUMNS))
    elif not games:
        warn("no games stored (ingest captures with `replayer ingest FILE`)")
    else:
        print_table(games, _GAME_COLUMNS)
        if limit and len(games) == limit:
            warn(f"showing {len(games)} games from {offset}; more with --offset "
                 f"{offset + limit} or --limit 0")


@data.command("episode")
@click.argument("game_id")
@click.option("--features", is_flag=True,
              help="Per-tick features: price_change, pct_change, volatility_5/10, max_price, "
                   "drawdown.")
@click.option("--all-rows", is_flag=True,
              help="Every stored game_tick row (repeated ticks, tick-less cooldown rows) "
                   "instead of one row per tick.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N ticks.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip N ticks.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with every column.")
@pass_settings
def episode_cmd(settings: Settings, game_id: str, features: bool, all_rows: bool,
                limit: int | None, offset: int, as_json: bool, as_csv: bool) -> None:
    """The ticks of one game, ordered by tick.

    A tick observed several times (legacy presale repeats tick 0; overlapping
    captures) shows once, as its last observation; `observations` counts the rows.

    \b
    Examples:
      replayer data episode 20251029-4d3c9619817844a2
      replayer data episode 20251029-4d3c9619817844a2 --features --csv > features.csv
      replayer data episode 20251029-4d3c9619817844a2 --json | jq '.rows[-1].price'
    """
    fmt = _output_format(as_json, as_csv)
    if features and all_rows:
        raise click.UsageError("--features works on one row per tick; drop --all-rows")
    paths = DataPaths(settings.data_dir)
    if features:
        table = q.get_tick_features(paths, game_id, limit=limit, offset=offset)
    else:
        table = q.get_game_episode(paths, game_id, all_rows=all_rows, limit=limit,
                                   offset=offset)
    rows = _records(table)
    columns = table.column_names
    if fmt == "json":
        emit_json({"game_id": game_id, "features": features, "columns": columns,
                   "rows": plain(rows), "count": len(rows), "offset": offset})
    elif fmt == "csv":
        write_csv(rows, columns)
    else:
        shown = columns if features else [c for c in _EPISODE_COLUMNS if c in columns]
        print_table(rows, shown)


@data.command("sql")
@click.argument("sql")
@click.option("--param", "params", multiple=True,
              help="A value for the next `?` placeholder (repeatable; passed as text, "
                   "cast in SQL if needed).")
@click.option("--max-rows", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Stop after this many rows (0: no limit).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV.")
@pass_settings
def sql_cmd(settings: Settings, sql: str, params: tuple[str, ...], max_rows: int,
            as_json: bool, as_csv: bool) -> None:
    """Run one read-only SQL statement over the doc-type views.

    Views: ws_event, game_tick, player_action, server_state, system_event, complete_game
    and all_events (the envelope columns of every row). Only a single SELECT (WITH,
    FROM-first, DESCRIBE, SHOW also work) is allowed. Give values with --param and `?`.

    \b
    Examples:
      replayer data sql "SELECT event_name, count(*) AS n FROM ws_event GROUP BY 1 ORDER BY n DESC"
      replayer data sql "SELECT tick, price FROM game_tick WHERE game_id = ? ORDER BY tick" \\
          --param 20251029-4d3c9619817844a2 --csv
      replayer data sql "DESCRIBE game_tick"
    """
    fmt = _output_format(as_json, as_csv)
    paths = DataPaths(settings.data_dir)
    bound = list(params) if params else None
    if max_rows:
        table, truncated = q.query_head(paths, sql, bound, max_rows=max_rows)
    else:
        table, truncated = q.query(paths, sql, bound), False
    rows = _records(table)
    columns = table.column_names
    if fmt == "json":
        emit_json({"columns": columns, "rows": plain(rows), "row_count": len(rows),
                   "truncated": truncated})
        return
    if fmt == "csv":
        write_csv(rows, columns)
    else:
        print_table(rows, columns)
        warn(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    if truncated:
        warn(f"stopped after {max_rows} rows; raise --max-rows (0: no limit) for more")
