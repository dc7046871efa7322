"""The single writer: locking, validation, dedup, flushing, durability and round trips."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import store.event as event_mod
from store.errors import InvalidEventError, SchemaVersionError, WriterLockedError
from store.event import validate_record
from store.files import committed_files
from store.paths import DataPaths
from store.schema import SCHEMAS
from store.settings import Settings
from store.views import connect
from store.writer import EventWriter
from tests.event_store import make_event

ROOT = Path(__file__).resolve().parents[2]


def _count(settings: Settings, table: str = "game_tick") -> int:
    con = connect(DataPaths(settings.data_dir))
    n: int = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return n


def test_second_writer_is_refused_with_a_message_naming_the_holder(settings: Settings) -> None:
    with EventWriter.open(settings):
        code = (
            "from store.writer import EventWriter; from store.settings import Settings;"
            f"EventWriter.open(Settings.load(data_dir={str(settings.data_dir)!r}))"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT)
        assert proc.returncode != 0
        assert "WriterLockedError" in proc.stderr
        import os

        assert f"pid {os.getpid()}" in proc.stderr
        with pytest.raises(WriterLockedError, match="held by another process"):
            EventWriter.open(settings)
    EventWriter.open(settings).close()  # released on close


def test_bad_events_are_rejected_one_by_one_and_the_rest_of_the_batch_lands(
    writer: EventWriter, settings: Settings
) -> None:
    batch = [
        make_event(0),
        make_event(1, tick="not a number"),
        make_event(2, doc_type="mystery"),
        {k: v for k, v in make_event(3).items() if k != "ts"},
        make_event(4, raw_json="x" * (settings.max_payload_bytes + 1)),
        make_event(5, price=float("nan")),
        make_event(6, direction="sideways"),
        "not even a mapping",
        make_event(8),
    ]
    res = writer.write_many(batch)  # type: ignore[arg-type]
    writer.flush()
    assert res.written == {"game_tick": 2}
    reasons = {r.index: r.reason for r in res.rejected}
    assert set(reasons) == {1, 2, 3, 4, 5, 6, 7}
    assert "tick" in reasons[1] and "integer" in reasons[1]
    assert "unknown doc_type 'mystery'" in reasons[2]
    assert "ts" in reasons[3]
    assert "over the limit" in reasons[4]
    assert "finite" in reasons[5]
    assert "direction" in reasons[6]
    assert _count(settings) == 2


class _CountingNormalize:
    """store.event.normalize (the per-row validator) with a count of its calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.real = event_mod.normalize
        monkeypatch.setattr(event_mod, "normalize", self)
        monkeypatch.setattr("store.writer.normalize", self)

    def __call__(self, *args: Any, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        return self.real(*args, **kw)


def test_write_records_stores_a_valid_record_without_validating_it_again(
    writer: EventWriter, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _CountingNormalize(monkeypatch)
    now = datetime.now(UTC)
    valid = [validate_record([make_event(i), make_event(i, doc_type="ws_event")],
                             ingested_at=now, max_payload_bytes=settings.max_payload_bytes)
             for i in range(3)]
    assert counter.calls == 6  # the one validation: two rows per record
    res = writer.write_records(valid)
    writer.flush()
    assert counter.calls == 6 and res.written == {"game_tick": 3, "ws_event": 3}
    assert _count(settings) == 3 and _count(settings, "ws_event") == 3
    plain = writer.write_records([[make_event(9)]])  # anything else: validated here
    assert counter.calls == 7 and plain.written == {"game_tick": 1}


def test_a_valid_record_checked_against_a_larger_payload_limit_is_validated_again(
    tmp_path: Path,
) -> None:
    big = make_event(1, raw_json=json.dumps({"text": "x" * 2_000}))
    valid = validate_record([big], ingested_at=datetime.now(UTC), max_payload_bytes=10_000)
    with EventWriter.open(Settings.load(data_dir=tmp_path / "d", max_payload_bytes=1_000)) as w:
        res = w.write_records([valid])
    assert res.written == {} and [r.index for r in res.rejected] == [0]
    assert "over the limit of 1000" in res.rejected[0].reason


@pytest.mark.parametrize("poison, why", [
    ({"price": "abc"}, "price"),
    ({"tick": -7}, "negative"),
    ({"seq": 2**70}, "out of range for int64"),
    ({"raw_json": "[" * 10_000 + "]" * 10_000}, "deeper than 64"),
    ({"raw_json": '{"name": "\\ud800"}'}, "lone UTF-16 surrogate"),
    ({"game_id": "bad\ud800"}, "not valid Unicode"),
    ({"ts": "9999-12-31T23:00:00-05:00"}, "representable"),
])
def test_untrusted_callers_get_every_poison_record_refused(
    writer: EventWriter, settings: Settings, poison: dict[str, Any], why: str
) -> None:
    """write(), write_many() and write_records() validate whatever they are handed,
    also an object that looks like a validated record (same attributes) but is not one."""
    ev = make_event(1, **poison)
    with pytest.raises(InvalidEventError, match=why):
        writer.write(ev)
    assert [r.index for r in writer.write_many([ev]).rejected] == [0]

    class LookAlike(list[dict[str, Any]]):
        rows = (ev,)
        max_payload_bytes = settings.max_payload_bytes

    res = writer.write_records([LookAlike([ev]), [ev]])
    assert [r.index for r in res.rejected] == [0, 1] and res.written == {}
    assert all(why in r.reason for r in res.rejected)
    writer.flush()
    assert _count(settings) == 0


def test_write_raises_a_clear_error_for_one_bad_event(writer: EventWriter) -> None:
    with pytest.raises(InvalidEventError, match="missing required field"):
        writer.write({"doc_type": "game_tick"})


def test_reingesting_the_same_events_adds_nothing_even_after_a_restart(
    settings: Settings,
) -> None:
    events = [make_event(i) for i in range(50)]  # no event_id: a deterministic one is made
    with EventWriter.open(settings) as w:
        assert w.write_many(events).written == {"game_tick": 50}
        assert w.write_many(events).duplicates == 50
    with EventWriter.open(settings) as w:
        res = w.write_many(events)
    assert res.duplicates == 50 and res.total_written == 0
    assert _count(settings) == 50


def test_complete_games_are_unique_by_game_id_across_dates_and_restarts(
    settings: Settings,
) -> None:
    def game(ts: str) -> dict[str, Any]:
        return make_event(0, doc_type="complete_game", event_name="gameHistory", ts=ts,
                          event_id="game:20251215-abc", peak=7.07, tick=None, price=None)

    with EventWriter.open(settings) as w:
        w.write(game("2025-12-14T23:59:59"))
    with EventWriter.open(settings) as w:
        assert w.write(game("2025-12-15T00:00:05")) is None
    assert _count(settings, "complete_game") == 1


def test_write_returns_only_when_the_event_is_in_the_wal_or_parquet(
    writer: EventWriter, settings: Settings
) -> None:
    ev_id = writer.write(make_event(1))
    assert ev_id
    assert writer.pending == 1
    segs = list(DataPaths(settings.data_dir).wal.glob("wal-*.arrows"))
    assert segs and segs[0].stat().st_size > 0
    assert _count(settings) == 0  # not yet flushed to Parquet: readers do not see it


def test_buffer_flushes_after_the_configured_number_of_events(tmp_path: Path) -> None:
    s = Settings.load(data_dir=tmp_path, flush_events=10, flush_seconds=60)
    with EventWriter.open(s) as w:
        for i in range(25):
            w.write(make_event(i))
        assert w.pending == 5
        assert _count(s) == 20


def test_buffer_flushes_after_the_configured_time(tmp_path: Path) -> None:
    s = Settings.load(data_dir=tmp_path, flush_events=1000, flush_seconds=0.2)
    with EventWriter.open(s) as w:
        w.write(make_event(1))
        deadline = time.monotonic() + 5
        while w.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert w.pending == 0
        assert _count(s) == 1


def test_a_data_root_with_a_newer_schema_is_refused(settings: Settings) -> None:
    p = DataPaths(settings.data_dir).schema_manifest
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(SchemaVersionError, match="upgrade"):
        EventWriter.open(settings)


def test_the_schema_manifest_records_version_and_columns(writer: EventWriter,
                                                        settings: Settings) -> None:
    m = json.loads(DataPaths(settings.data_dir).schema_manifest.read_text())
    assert m["schema_version"] == 1
    names = [c["name"] for c in m["doc_types"]["server_state"]]
    assert {"cash", "position_qty", "avg_cost", "pnl"} <= set(names)


def test_temp_files_are_never_committed_files(writer: EventWriter, settings: Settings) -> None:
    writer.write_many([make_event(i) for i in range(100)])
    paths = DataPaths(settings.data_dir)
    part = paths.partition("game_tick", "2025-12-14")
    (part / ".tmp-part-999.parquet").write_bytes(b"PAR1 torn")
    assert all(not f.name.startswith(".tmp") for f in committed_files(paths, "game_tick"))
    assert _count(settings) == 100


def test_write_arrow_validates_columns_and_fills_ids(writer: EventWriter,
                                                      settings: Settings) -> None:
    rows = [make_event(i) for i in range(10)]
    rows[3]["source"] = "carrier pigeon"
    table = pa.Table.from_pylist(
        [{k: v for k, v in r.items() if k not in ("price", "ts")} | {
            "ts": datetime(2025, 12, 14, 20, 0, i, tzinfo=UTC),
            "price": Decimal("1.5")} for i, r in enumerate(rows)]
    )
    res = writer.write_arrow("game_tick", table)
    assert res.written == {"game_tick": 9}
    assert [r.index for r in res.rejected] == [3] and "source" in res.rejected[0].reason
    again = writer.write_arrow("game_tick", table)
    assert again.duplicates == 9
    writer.flush()
    assert _count(settings) == 9


_money = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=9,
                     allow_nan=False, allow_infinity=False)


@given(
    payload=st.text(min_size=0, max_size=200),
    price=st.one_of(_money.map(abs), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
    cash=_money,
    tick=st.integers(min_value=0, max_value=2**31 - 1),
)
@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_events_round_trip_exactly_through_parquet(tmp_path: Path, payload: str, price: object,
                                                   cash: Decimal, tick: int) -> None:
    d = tmp_path / f"rt{abs(hash((payload, str(price), str(cash), tick)))}"
    s = Settings.load(data_dir=d)
    with EventWriter.open(s) as w:
        w.write(make_event(tick % 1000, raw_json=payload, price=price, tick=tick))
        w.write(make_event(1, doc_type="server_state", event_name="playerUpdate", cash=cash,
                           raw_json=payload, tick=None, price=None))
    con = connect(DataPaths(d))
    raw, p, t = con.execute("SELECT raw_json, price, tick FROM game_tick").fetchall()[0]
    assert raw == payload
    assert p == Decimal(str(price)).quantize(Decimal("1e-18"), context=Context(prec=38))
    assert t == tick
    (c,) = con.execute("SELECT cash FROM server_state").fetchall()[0]
    assert c == cash


def test_every_doc_type_schema_has_the_full_envelope() -> None:
    env = {"event_id", "session_id", "seq", "doc_type", "event_name", "ts", "ingested_at",
           "server_ts", "game_id", "player_id", "username", "source", "direction", "raw_json",
           "schema_version"}
    for schema in SCHEMAS.values():
        assert env <= set(schema.names)


def test_write_arrow_stores_float_money_by_its_shortest_repr_not_its_binary_value(
    writer: EventWriter, settings: Settings
) -> None:
    rows = [make_event(i) for i in range(3)]
    table = pa.Table.from_pylist([{**r, "price": 0.1} for r in rows])
    assert table.schema.field("price").type == pa.float64()
    writer.write_arrow("game_tick", table)
    writer.flush()
    con = connect(DataPaths(settings.data_dir))
    assert {p for (p,) in con.execute("SELECT price FROM game_tick").fetchall()} == {
        Decimal("0.1")}


def test_write_arrow_rejects_only_the_row_whose_value_does_not_fit(
    writer: EventWriter, settings: Settings
) -> None:
    rows = [make_event(i, price=1.5) for i in range(4)]
    rows[2]["price"] = float("inf")
    res = writer.write_arrow("game_tick", pa.Table.from_pylist(rows))
    assert res.written == {"game_tick": 3}
    assert [r.index for r in res.rejected] == [2] and "price" in res.rejected[0].reason
