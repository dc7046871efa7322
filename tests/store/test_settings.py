"""Settings (issue 9, point 8): a bad value is one SettingsError naming its variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.errors import SettingsError, StoreError
from store.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("var", "value", "says"), [
    ("RUGS_FLUSH_EVENTS", "abc", "not a whole number"),
    ("RUGS_FLUSH_EVENTS", "0", "at least 1"),
    ("RUGS_FLUSH_SECONDS", "soon", "not a number"),
    ("RUGS_FLUSH_SECONDS", "-1", "above 0"),
    ("RUGS_FLUSH_SECONDS", "nan", "above 0"),
    ("RUGS_MAX_PAYLOAD_BYTES", "1.5", "not a whole number"),
    ("RUGS_SQL_TIMEOUT_S", "inf", "above 0"),
    ("RUGS_HYBRID_FUSION", "mean", "relative, rrf"),
])
def test_a_bad_environment_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, says: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=f"^{var}='{value}'.*{says}") as err:
        Settings.load()
    assert isinstance(err.value, StoreError) and "\n" not in str(err.value)


def test_good_values_and_flags_still_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUGS_FLUSH_EVENTS", " 2_000 ")
    monkeypatch.setenv("RUGS_FLUSH_SECONDS", "0.5")
    s = Settings.load(sql_max_rows=7)
    assert (s.flush_events, s.flush_seconds, s.sql_max_rows) == (2000, 0.5, 7)
    with pytest.raises(SettingsError, match="^setting flush_events=0 must be at least 1"):
        Settings.load(flush_events=0)


def test_the_cli_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "replayer.cli", "data", "status"], capture_output=True,
        text=True, cwd=ROOT,
        env={**os.environ, "RUGS_DATA_DIR": str(tmp_path), "RUGS_FLUSH_EVENTS": "abc"},
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: RUGS_FLUSH_EVENTS='abc' is not a whole number (events per flush, at least 1)"]
