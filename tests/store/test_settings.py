"""Settings: a flag beats the RUGS_<FIELD> environment variable, which beats the default; a
bad value is one SettingsError naming its variable (issue 9, point 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from store.errors import SettingsError, StoreError
from store.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]

# field -> (environment text, what it reads as, a flag value, what the flag reads as)
CASES: dict[str, tuple[str, Any, Any, Any]] = {
    "data_dir": ("/tmp/env-root", Path("/tmp/env-root"), "/tmp/flag-root", Path("/tmp/flag-root")),
    "flush_events": ("7", 7, 9, 9),
    "flush_seconds": ("0.5", 0.5, 2, 2.0),
    "max_payload_bytes": ("2048", 2048, "4096", 4096),
    "context_roots": ("/a:/b", (Path("/a"), Path("/b")), ["/c"], (Path("/c"),)),
    "model_path": ("/models/env", Path("/models/env"), "/models/flag", Path("/models/flag")),
    "model_id": ("hash:32", "hash:32", "hash:64", "hash:64"),
    "embed_batch_size": ("8", 8, 16, 16),
    "embed_backend": ("torch", "torch", "onnx", "onnx"),
    "protocol_docs": ("/docs/env", Path("/docs/env"), "/docs/flag", Path("/docs/flag")),
    "hybrid_fusion": ("rrf", "rrf", "relative", "relative"),
    "hybrid_candidates": ("10", 10, 3, 3),
    "sql_timeout_s": ("3", 3.0, 4.5, 4.5),
    "sql_max_rows": ("10", 10, 20, 20),
    "sql_max_chars": ("100", 100, 200, 200),
    "sql_memory_limit": ("512MB", "512MB", "2GB", "2GB"),
    "sql_threads": ("1", 1, 3, 3),
}


@pytest.fixture(autouse=True)
def _no_rugs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith(ENV_PREFIX):
            monkeypatch.delenv(k)


def test_every_field_has_a_precedence_case() -> None:
    assert set(CASES) == {f.name for f in fields(Settings)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_flag_beats_environment_beats_default(name: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    env_text, env_value, flag, flag_value = CASES[name]
    default = getattr(Settings(), name)
    assert getattr(Settings.load(), name) == default
    monkeypatch.setenv(ENV_PREFIX + name.upper(), env_text)
    assert getattr(Settings.load(), name) == env_value != default
    assert getattr(Settings.load(**{name: flag}), name) == flag_value != env_value


def test_a_flag_left_unset_or_an_empty_variable_falls_through(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUGS_FLUSH_EVENTS", "7")
    assert Settings.load(flush_events=None).flush_events == 7  # click passes None when unset
    monkeypatch.setenv("RUGS_FLUSH_EVENTS", "")
    assert Settings.load().flush_events == Settings().flush_events


def test_an_unknown_flag_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown setting"):
        Settings.load(flush_event=5)


def test_the_cli_data_dir_flag_beats_rugs_data_dir(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from replayer.cli import cli

    monkeypatch.setenv("RUGS_DATA_DIR", str(tmp_path / "env"))
    runner = CliRunner()
    by_env = runner.invoke(cli, ["data", "status", "--json"])
    by_flag = runner.invoke(cli, ["--data-dir", str(tmp_path / "flag"), "data", "status",
                                  "--json"])
    assert by_env.exit_code == 0 and by_flag.exit_code == 0, (by_env.output, by_flag.output)
    assert json.loads(by_env.output)["data_dir"] == str(tmp_path / "env")
    assert json.loads(by_flag.output)["data_dir"] == str(tmp_path / "flag")


@pytest.mark.parametrize(("var", "value", "says"), [
    ("RUGS_FLUSH_EVENTS", "abc", "not a whole number"),
    ("RUGS_FLUSH_EVENTS", "0", "at least 1"),
    ("RUGS_FLUSH_SECONDS", "soon", "not a number"),
    ("RUGS_FLUSH_SECONDS", "-1", "above 0"),
    ("RUGS_FLUSH_SECONDS", "nan", "above 0"),
    ("RUGS_MAX_PAYLOAD_BYTES", "1.5", "not a whole number"),
    ("RUGS_SQL_TIMEOUT_S", "inf", "above 0"),
    ("RUGS_HYBRID_FUSION", "mean", "filled, relative, rrf"),
    ("RUGS_EMBED_BACKEND", "gpu", "auto, onnx, torch"),
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
