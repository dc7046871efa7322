"""Hostile and ordinary SQL against the sandbox: every attack refused or bounded, reads work."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store.errors import QueryError, UnsafeQueryError
from store.paths import DataPaths
from store.sandbox import (
    SandboxLimits,
    SandboxSession,
    check_statement,
    run_query,
    sandbox_connection,
)
from store.sandbox_worker import SqlSandbox
from store.settings import Settings
from store.writer import EventWriter
from tests.event_store import make_event

GAME = "20251215-3c3ebc6051054e71"


def _events(n: int = 40) -> list[dict[str, Any]]:
    evs: list[dict[str, Any]] = []
    for i in range(n):
        evs.append(make_event(i, price=f"1.{i:02d}5"))
        evs.append(
            make_event(
                i,
                doc_type="ws_event",
                raw_json=f'{{"tickCount": {i}, "price": 1.{i:02d}5, "active": true}}',
            )
        )
    evs.append(
        make_event(
            99,
            doc_type="complete_game",
            event_name="gameHistory",
            event_id=f"game:{GAME}",
            raw_json=f'{{"id": "{GAME}", "peakMultiplier": 3.25}}',
            peak="3.25",
            tick=None,
            price=None,
        )
    )
    return evs


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sandbox")
    data = base / "data"
    with EventWriter.open(Settings.load(data_dir=data)) as w:
        res = w.write_many(_events())
        assert not res.rejected
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("key,value\napi,hunter2\n")
    (data / "escape").symlink_to(outside, target_is_directory=True)
    (data / "notes.csv").write_text("a,b\n1,2\n")
    return data


@pytest.fixture(scope="module")
def paths(root: Path) -> DataPaths:
    return DataPaths(root)


FAST = SandboxLimits(timeout_s=1.5)


def _refused(paths: DataPaths, sql: str, *words: str) -> str:
    with pytest.raises(UnsafeQueryError) as info:
        run_query(paths, sql, limits=FAST)
    msg = str(info.value)
    for w in words:
        assert w.lower() in msg.lower(), msg
    return msg


# -- statements that must be refused by the allowlist ------------------------------------

WRITE_OR_STATE = [
    ("COPY (SELECT * FROM ws_event) TO '{root}/dump.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/rugs-sandbox-escape.csv'", "COPY"),
    ("COPY ws_event FROM '{root}/notes.csv'", "COPY"),
    ("ATTACH ':memory:' AS m", "ATTACH"),
    ("ATTACH '{root}/x.duckdb' AS x", "ATTACH"),
    ("DETACH memory", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("FORCE INSTALL httpfs", "FORCE"),
    ("LOAD httpfs", "LOAD"),
    ("LOAD '/tmp/evil.duckdb_extension'", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("SET allowed_directories = ['/']", "SET"),
    ("RESET memory_limit", "RESET"),
    ("SET VARIABLE x = 1", "SET"),
    ("USE memory", "USE"),
    ("PRAGMA version", "PRAGMA"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("CREATE TABLE t AS SELECT * FROM ws_event", "CREATE"),
    ("CREATE OR REPLACE TEMP VIEW ws_event AS SELECT 1 AS x", "CREATE"),
    ("CREATE MACRO evil(x) AS x", "CREATE"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", "CREATE"),
    ("INSERT INTO ws_event SELECT * FROM ws_event", "INSERT"),
    ("UPDATE ws_event SET seq = 0", "UPDATE"),
    ("DELETE FROM ws_event", "DELETE"),
    ("TRUNCATE ws_event", "TRUNCATE"),
    ("DROP VIEW ws_event", "DROP"),
    ("ALTER VIEW ws_event RENAME TO w2", "ALTER"),
    ("COMMENT ON VIEW ws_event IS 'x'", "COMMENT"),
    ("EXPORT DATABASE '{root}/export'", "EXPORT"),
    ("IMPORT DATABASE '{root}/export'", "IMPORT"),
    ("VACUUM", "VACUUM"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("EXECUTE p", "EXECUTE"),
    ("MERGE INTO ws_event USING (SELECT 1 AS x) s ON true WHEN MATCHED THEN DELETE", "MERGE"),
    ("PIVOT ws_event ON event_name USING count(*)", "PIVOT"),
]


@pytest.mark.parametrize(("sql", "word"), WRITE_OR_STATE, ids=[w for _, w in WRITE_OR_STATE])
def test_statement_that_writes_or_changes_state_is_refused_naming_it(
    paths: DataPaths, sql: str, word: str
) -> None:
    msg = _refused(paths, sql.format(root=paths.root), word, "read-only")
    assert "SELECT" in msg and "ws_event" in msg  # tells the caller what works instead


def test_refused_copy_wrote_nothing_and_refused_drop_kept_the_views(paths: DataPaths) -> None:
    _refused(paths, f"COPY (SELECT * FROM ws_event) TO '{paths.root}/dump.csv'", "COPY")
    _refused(paths, "DROP VIEW ws_event", "DROP")
    assert not (paths.root / "dump.csv").exists()
    assert run_query(paths, "SELECT count(*) FROM ws_event").rows == [[40]]


def test_unrecognised_statement_type_is_refused_not_crashing(paths: DataPaths) -> None:
    # The Python binding cannot even name this statement's type (ValueError inside).
    _refused(paths, "UPDATE EXTENSIONS", "UPDATE", "read-only")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DROP VIEW ws_event",
        "SELECT 1; SELECT 2",
        "SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'",
    ],
)
def test_a_second_statement_is_refused_even_after_a_harmless_one(
    paths: DataPaths, sql: str
) -> None:
    _refused(paths, sql, "one statement per call")


def test_explain_analyze_of_a_write_is_refused_because_it_would_run_it(
    paths: DataPaths,
) -> None:
    target = paths.root / "explained.csv"
    _refused(paths, f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}'", "EXPLAIN", "COPY")
    _refused(paths, "/* hi */ EXPLAIN ANALYZE CREATE TABLE t (a INT)", "EXPLAIN")
    assert not target.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('ws_event')",
        "SELECT * FROM arrow_scan(1, 2, 3)",
        "SELECT * FROM pandas_scan(1)",
        "SELECT * FROM checkpoint()",
        "SELECT * FROM enable_logging()",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM json_execute_serialized_sql('{}')",
        "WITH a AS (SELECT * FROM arrow_scan(1, 2, 3)) SELECT * FROM a",
        "SELECT * FROM ws_event WHERE seq IN (SELECT 1 FROM query('SELECT 1'))",
        "SELECT (SELECT count(*) FROM system.main.arrow_scan(1, 2, 3))",
        "EXPLAIN SELECT * FROM arrow_scan(1, 2, 3)",
    ],
)
def test_table_function_outside_the_allowlist_is_refused_wherever_it_hides(
    paths: DataPaths, sql: str
) -> None:
    _refused(paths, sql, "not allowed")


# -- file access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_blob('/proc/self/environ')",
        "SELECT * FROM read_csv('{root}/../outside/secret.csv')",
        "SELECT * FROM read_csv('{root}/escape/secret.csv')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM glob('{root}/../**')",
        "SELECT * FROM read_parquet('/tmp/**/*.parquet')",
        "SELECT * FROM read_text('~/.bash_history')",
    ],
)
def test_file_access_outside_the_data_root_is_refused(paths: DataPaths, sql: str) -> None:
    msg = _refused(paths, sql.format(root=paths.root), "refused", "data root")
    assert "hunter2" not in msg


def test_replacement_scan_of_an_outside_file_finds_nothing(paths: DataPaths) -> None:
    # With external access off DuckDB does not even try the file: no such table.
    with pytest.raises(QueryError, match="does not exist"):
        run_query(paths, "SELECT * FROM '/etc/passwd'")
    with pytest.raises(QueryError, match="does not exist|refused") as info:
        run_query(paths, f"SELECT * FROM '{paths.root}/escape/secret.csv'")
    assert "hunter2" not in str(info.value)


def test_files_inside_the_data_root_can_be_read(paths: DataPaths) -> None:
    res = run_query(paths, f"SELECT * FROM read_csv('{paths.root}/notes.csv')")
    assert res.rows == [[1, 2]]
    res = run_query(
        paths,
        f"SELECT count(*) FROM read_parquet('{paths.events}/doc_type=ws_event/*/*.parquet')",
    )
    assert res.rows == [[40]]


def test_configuration_is_locked_down_after_connecting(paths: DataPaths) -> None:
    res = run_query(
        paths,
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('enable_external_access', 'lock_configuration', 'threads', 'allowed_directories')"
        " ORDER BY name",
    )
    got = dict(res.rows)
    assert got["enable_external_access"] == "false"
    assert got["lock_configuration"] == "true"
    assert got["threads"] == "2"
    assert str(paths.root.resolve()) + "/" in got["allowed_directories"]


# -- bounds -----------------------------------------------------------------------------


def test_endless_query_is_interrupted_at_the_timeout_with_a_fix(paths: DataPaths) -> None:
    started = time.monotonic()
    with pytest.raises(QueryError, match=r"longer than 0.5 s.*LIMIT") as info:
        run_query(
            paths,
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
            "SELECT count(*) FROM t",
            limits=SandboxLimits(timeout_s=0.5),
        )
    assert not isinstance(info.value, UnsafeQueryError)
    assert time.monotonic() - started < 5


def test_cross_join_explosion_is_interrupted(paths: DataPaths) -> None:
    with pytest.raises(QueryError, match="longer than"):
        run_query(
            paths,
            "SELECT count(*) FROM ws_event a, ws_event b, range(1000000000) c",
            limits=SandboxLimits(timeout_s=0.5),
        )


def test_query_needing_more_memory_than_the_limit_is_refused_without_false_hints(
    paths: DataPaths,
) -> None:
    with pytest.raises(QueryError, match="memory") as info:
        run_query(
            paths,
            "SELECT list(range) FROM range(100000000)",
            limits=SandboxLimits(memory_limit="256MB", timeout_s=5),
        )
    assert "SET memory_limit" not in str(info.value)  # SET is refused here: no such advice


def test_row_cap_truncates_and_says_so(paths: DataPaths) -> None:
    res = run_query(paths, "SELECT * FROM range(100000)", limits=SandboxLimits(max_rows=50))
    assert res.row_count == 50 and res.more_rows and res.truncated
    assert any("row cap" in n and "50" in n for n in res.notes)


def test_character_cap_keeps_whole_rows_and_says_so(paths: DataPaths) -> None:
    res = run_query(
        paths,
        "SELECT repeat('y', 900) AS s FROM range(100)",
        limits=SandboxLimits(max_chars=5_000),
    )
    assert 1 <= res.row_count < 10
    assert all(len(r[0]) == 900 for r in res.rows)
    assert res.truncated and any("character cap" in n for n in res.notes)


def test_long_values_are_shortened_inside_duckdb_and_counted(paths: DataPaths) -> None:
    res = run_query(
        paths,
        "SELECT repeat('x', 50000000) AS s, 'short' AS t, range(5000) AS l",
        limits=SandboxLimits(max_value_chars=100),
    )
    s, t, lst = res.rows[0]
    assert s == "x" * 100 + "…" and t == "short"
    assert isinstance(lst, str) and lst.endswith("…") and len(lst) == 101
    assert res.shortened_values == 2 and res.truncated
    assert any("shortened" in n for n in res.notes)


def test_a_refused_query_leaves_no_temp_directory_behind(paths: DataPaths) -> None:
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("rugs-sql-*"))
    _refused(paths, "COPY (SELECT 1) TO '/tmp/x.csv'", "COPY")
    run_query(paths, "SELECT 1")
    assert set(Path(tempfile.gettempdir()).glob("rugs-sql-*")) <= before


# -- ordinary reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT event_name, count(*) FROM ws_event GROUP BY 1",
        "WITH t AS (SELECT tick, price FROM game_tick) SELECT max(price) FROM t",
        "FROM game_tick SELECT tick ORDER BY tick DESC LIMIT 3",
        "SELECT tick, price - lag(price) OVER (ORDER BY tick) FROM game_tick QUALIFY tick > 3",
        "SELECT json_extract(raw_json, '$.price') FROM ws_event LIMIT 2",
        "SELECT list_transform([1, 2], lambda x: x + 1)",
        "SELECT * FROM game_tick g ASOF JOIN ws_event w ON g.ts >= w.ts LIMIT 1",
        "VALUES (1, 'a'), (2, 'b')",
        "DESCRIBE game_tick",
        "SUMMARIZE SELECT tick FROM game_tick",
        "SHOW TABLES",
        "EXPLAIN SELECT count(*) FROM all_events",
        "SELECT * FROM unnest([1, 2, 3])",
        "SELECT * FROM range(3) UNION ALL SELECT * FROM generate_series(4, 5)",
        "PIVOT (SELECT event_name, seq FROM ws_event) ON event_name IN ('gameStateUpdate') "
        "USING count(*)",
        "-- a comment first\nSELECT 1",
        "SELECT 1;",
    ],
)
def test_ordinary_read_queries_run(paths: DataPaths, sql: str) -> None:
    res = run_query(paths, sql)
    assert res.row_count >= 1


def test_values_come_back_json_safe_with_exact_decimals(paths: DataPaths) -> None:
    res = run_query(
        paths,
        "SELECT price, ts, tick, 'nan'::DOUBLE AS f, INTERVAL 3 DAY AS i, "
        "{'a': [1, 2]} AS st, 1 AS dup, 2 AS dup FROM game_tick WHERE tick = 7",
    )
    price, ts, tick, f, interval, st, d1, d2 = res.rows[0]
    assert price == "1.075" and tick == 7
    assert ts.startswith("2025-12-14T20:17:07") and ts.endswith("+00:00")
    assert f == "nan" and "3 days" in interval and st == {"a": [1, 2]}
    assert (d1, d2) == (1, 2)
    assert [c["name"] for c in res.columns][-2:] == ["dup", "dup"]
    assert res.columns[0]["type"] == "DECIMAL(38,18)"


def test_parse_error_and_unknown_view_say_how_to_fix(paths: DataPaths) -> None:
    with pytest.raises(QueryError, match="does not parse"):
        run_query(paths, "SELEC 1")
    with pytest.raises(QueryError, match="views are: ws_event"):
        run_query(paths, "SELECT * FROM ticks")
    with pytest.raises(QueryError, match="empty SQL"):
        run_query(paths, "   ")


def test_check_statement_reports_the_statement_type(paths: DataPaths) -> None:
    with sandbox_connection(paths) as con:
        assert check_statement(con, "SELECT 1") == "SELECT"
        assert check_statement(con, "EXPLAIN SELECT 1") == "EXPLAIN"


def test_an_empty_data_root_has_empty_views(tmp_path: Path) -> None:
    res = run_query(DataPaths(tmp_path / "nothing"), "SELECT count(*) FROM all_events")
    assert res.rows == [[0]]


def test_new_data_is_seen_while_the_writer_still_holds_the_root(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "d")
    p = DataPaths(settings.data_dir)
    with EventWriter.open(settings) as w:
        w.write_many([make_event(i) for i in range(5)])
        w.flush()
        assert run_query(p, "SELECT count(*) FROM game_tick").rows == [[5]]
        w.write_many([make_event(i) for i in range(5, 8)])
        w.flush()
        assert run_query(p, "SELECT count(*) FROM game_tick").rows == [[8]]


def test_a_reused_session_sees_new_files_compaction_and_survives_an_interrupt(
    tmp_path: Path,
) -> None:
    from store.compaction import compact

    settings = Settings.load(data_dir=tmp_path / "d")
    p = DataPaths(settings.data_dir)
    count = "SELECT count(*), count(DISTINCT event_id) FROM game_tick"
    with EventWriter.open(settings) as w, SandboxSession(p, SandboxLimits(timeout_s=0.3)) as s:
        w.write_many([make_event(i) for i in range(5)])
        w.flush()
        assert s.run(count).rows == [[5, 5]]
        w.write_many([make_event(i) for i in range(5, 9)])
        w.flush()
        assert s.run(count).rows == [[9, 9]]  # a second file: views rebuilt
        with pytest.raises(QueryError, match="longer than"):
            s.run("SELECT count(*) FROM range(1000000000000)")
        assert s.run(count).rows == [[9, 9]]  # the same connection, after the interrupt
        compact(p, grace=0)
        assert s.run(count).rows == [[9, 9]]  # inputs replaced by one compacted file


# -- the worker-process sandbox ---------------------------------------------------------


@pytest.fixture
def isolated(paths: DataPaths) -> Iterator[SqlSandbox]:
    sb = SqlSandbox(paths, SandboxLimits(timeout_s=0.4), max_workers=1, grace_s=0.6)
    yield sb
    sb.close()


def test_worker_answers_and_keeps_error_types(isolated: SqlSandbox) -> None:
    assert isolated.query("SELECT count(*) FROM game_tick").rows == [[40]]
    with pytest.raises(UnsafeQueryError, match="COPY"):
        isolated.query("COPY (SELECT 1) TO '/tmp/x.csv'")
    with pytest.raises(QueryError, match="does not parse"):
        isolated.query("SELEC 1")
    assert isolated.query("SELECT ?::INT + 1", [41]).rows == [[42]]


def test_uninterruptible_query_gets_its_worker_killed_and_the_next_query_works(
    isolated: SqlSandbox,
) -> None:
    isolated.query("SELECT 1")
    pid = isolated._idle[0].proc.pid
    started = time.monotonic()
    # One scalar call that never checks DuckDB's interrupt flag.
    with pytest.raises(QueryError, match=r"longer than 0.4 s and was killed"):
        isolated.query("SELECT md5(repeat('xy', 400000000))")
    assert time.monotonic() - started < 4
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert isolated.query("SELECT 2").rows == [[2]]


def test_worker_that_died_between_queries_is_replaced(isolated: SqlSandbox) -> None:
    isolated.query("SELECT 1")
    w = isolated._idle[0]
    w.proc.kill()
    w.proc.wait()
    assert isolated.query("SELECT 3").rows == [[3]]


def test_closed_sandbox_refuses_with_a_clear_error(paths: DataPaths) -> None:
    sb = SqlSandbox(paths)
    sb.close()
    with pytest.raises(QueryError, match="closed"):
        sb.query("SELECT 1")
