"""`replayer data games|episode|sql` on a real store written by the EventWriter."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

import replayer.cli  # noqa: F401  (registers every command module on the root group)
from replayer.app import cli
from replayer.query_cmds import plain
from tests.store.test_query import FIXTURES, event, legacy_events, tick, write

LEGACY_GAME = "20251029-4d3c9619817844a2"
REPO = Path(__file__).parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    events = legacy_events(FIXTURES / "query" / "legacy_game_excerpt.jsonl")
    events += [tick("B", i, p, 7200 + i, 50 + i, source="public_ws", name="gameStateUpdate")
               for i, p in enumerate(["1", "2", "1.5"])]
    events.append(event("complete_game", "gameHistory", 7300, 90, event_id="game:B",
                        game_id="B", peak="2", rug_tick=2))
    write(tmp_path / "root", events)
    return tmp_path / "root"


def run(root: Path, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["--data-dir", str(root), *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def test_games_lists_newest_first_as_a_table(root: Path) -> None:
    code, out, _ = run(root, "data", "games")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["game_id", "first_ts", "ticks"]
    assert lines[1].startswith("B ") and lines[2].startswith(LEGACY_GAME)


def test_games_json_carries_exact_prices_as_strings(root: Path) -> None:
    code, out, _ = run(root, "data", "games", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["count"] == 2
    legacy = next(g for g in doc["games"] if g["game_id"] == LEGACY_GAME)
    assert legacy["peak_price"] == "1.242517674774411"
    assert legacy["final_price"] == "0.020000000000000018"
    assert legacy["ticks"] == 7 and legacy["rugged"] is True
    assert legacy["first_ts"].startswith("2025-10-29T18:44:15")


def test_games_pages_and_says_how_to_see_more(root: Path) -> None:
    code, out, err = run(root, "data", "games", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 2
    assert "--offset 1" in err
    code, out, _ = run(root, "data", "games", "--since", "2025-10-29T19:00:00", "--json")
    assert [g["game_id"] for g in json.loads(out)["games"]] == ["B"]


def test_games_on_an_empty_store_says_so(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "data", "games")
    assert code == 0 and out == "" and "no games stored" in err


def test_episode_prints_one_row_per_tick(root: Path) -> None:
    code, out, _ = run(root, "data", "episode", LEGACY_GAME)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["tick", "price", "phase", "active", "rugged",
                                "cooldown_timer", "trade_count", "ts", "observations"]
    assert len(lines) == 1 + 7  # ticks 0-5 and 7; the repeated tick 0 is folded
    assert "GAME_ACTIVATION" in lines[1]


def test_episode_csv_has_every_column_and_exact_prices(root: Path) -> None:
    code, out, _ = run(root, "data", "episode", LEGACY_GAME, "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["tick"]) for r in rows] == [0, 1, 2, 3, 4, 5, 7]
    assert rows[4]["price"] == "1.242517674774411"
    assert {"event_id", "session_id", "observations"} <= set(rows[0])


def test_episode_features_as_json(root: Path) -> None:
    code, out, _ = run(root, "data", "episode", LEGACY_GAME, "--features", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["features"] is True and doc["count"] == 7
    last = doc["rows"][-1]
    assert last["max_price"] == "1.242517674774411"
    assert 0.98 < last["drawdown"] < 1
    assert doc["rows"][0]["price_change"] is None
    assert set(doc["columns"]) >= {"price_change", "volatility_5", "volatility_10", "drawdown"}


def test_episode_all_rows_shows_every_observation(root: Path) -> None:
    code, out, _ = run(root, "data", "episode", LEGACY_GAME, "--all-rows", "--json")
    assert code == 0
    assert json.loads(out)["count"] == 13


def test_episode_refuses_conflicting_flags(root: Path) -> None:
    code, _, err = run(root, "data", "episode", LEGACY_GAME, "--json", "--csv")
    assert code == 2 and "--json and --csv" in err
    code, _, err = run(root, "data", "episode", LEGACY_GAME, "--features", "--all-rows")
    assert code == 2


def test_sql_runs_a_parameterized_select(root: Path) -> None:
    code, out, err = run(root, "data", "sql",
                         "SELECT tick, price FROM game_tick WHERE game_id = ? AND tick > ? "
                         "ORDER BY tick", "--param", "B", "--param", "0", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["rows"] == [{"tick": 1, "price": "2"}, {"tick": 2, "price": "1.5"}]
    assert doc["truncated"] is False


def test_sql_stops_at_max_rows_and_says_so(root: Path) -> None:
    code, out, err = run(root, "data", "sql", "SELECT * FROM range(5000)", "--max-rows", "10")
    assert code == 0
    assert len(out.splitlines()) == 11
    assert "stopped after 10 rows" in err
    code, out, _ = run(root, "data", "sql", "SELECT * FROM range(3)", "--max-rows", "0", "--csv")
    assert out.splitlines() == ["range", "0", "1", "2"]


def cli_process(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, which turns store errors into one line and exit code 1."""
    return subprocess.run(
        [sys.executable, "-m", "replayer.cli", "--data-dir", str(root), *args],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )


def test_errors_are_one_line_with_a_non_zero_exit(root: Path) -> None:
    p = cli_process(root, "data", "sql", "DELETE FROM game_tick")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip().count("\n") == 0 and "DELETE statements are refused" in p.stderr
    p = cli_process(root, "data", "episode", "no-such-game")
    assert p.returncode == 1 and "no ticks stored for game 'no-such-game'" in p.stderr
    p = cli_process(root, "data", "sql", "SELECT nope FROM game_tick")
    assert p.returncode == 1 and p.stderr.startswith("error: ")


def test_plain_values_keep_decimals_exact() -> None:
    assert plain(Decimal("1.000000000000000000")) == "1"
    assert plain(Decimal("100.500000000000000000")) == "100.5"
    assert plain(Decimal("0E-18")) == "0"
    assert plain(Decimal("0.000000000000000001")) == "0.000000000000000001"
    assert plain(float("nan")) is None

