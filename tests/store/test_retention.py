"""Pruning old partitions and exporting to JSONL."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from store.errors import StoreError
from store.paths import DataPaths
from store.retention import export_jsonl, prune
from store.settings import Settings
from store.writer import EventWriter
from tests.event_store import make_event


def _two_days(tmp_path: Path) -> DataPaths:
    s = Settings.load(data_dir=tmp_path)
    with EventWriter.open(s) as w:
        w.write_many([make_event(i) for i in range(5)])
        w.write_many([make_event(i, ts=f"2025-12-15T01:00:0{i}") for i in range(3)])
    return DataPaths(s.data_dir)


def test_prune_removes_only_partitions_before_the_date(tmp_path: Path) -> None:
    paths = _two_days(tmp_path)
    st = prune(paths, date(2025, 12, 15))
    assert (st.partitions, st.rows) == (1, 5)
    assert [d for d, _ in paths.partitions("game_tick")] == ["2025-12-15"]


def test_export_writes_exact_money_and_the_original_payload(tmp_path: Path) -> None:
    paths = _two_days(tmp_path)
    st = export_jsonl(paths, tmp_path / "out", ("game_tick",), since=date(2025, 12, 15))
    lines = (tmp_path / "out" / "game_tick.jsonl").read_text().splitlines()
    assert st.rows == {"game_tick": 3} and len(lines) == 3
    row = json.loads(lines[0])
    assert Decimal(row["price"]) == Decimal("1.061531247396796")
    assert row["raw_json"] == '{"tickCount": 0, "price": 1.061531247396796}'


def test_export_of_an_unknown_doc_type_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown doc type"):
        export_jsonl(DataPaths(tmp_path), tmp_path / "o", ("nope",))
