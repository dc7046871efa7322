"""Settings: a flag beats the RUGS_<FIELD> environment variable, which beats the default."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from store.settings import ENV_PREFIX, Settings

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
    "hybrid_fusion": ("rrf", "rrf", "relative", "relative"),
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
