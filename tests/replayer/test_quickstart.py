"""`replayer quickstart`, the README's first command, works end to end with the real model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quickstart_ingests_the_samples_builds_indexes_and_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUGS_PROTOCOL_DOCS"}
    env["RUGS_DATA_DIR"] = str(tmp_path / "data")
    out = subprocess.run([sys.executable, "-m", "replayer.cli", "quickstart"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ingested cdp_excerpt.jsonl" in out.stdout
    answer = out.stdout.split("Q:")[1]
    assert "What fields are in playerUpdate?" in answer
    # the field list: playerUpdate's overview card, its fields in the spec's words
    assert "the field list" in answer and "Player update (playerUpdate) fields (" in answer
    assert "cash (TRUE wallet balance)" in answer
    # ... and it is the top answer, ahead of this repository's CONTEXT.md sections that
    # quote the question (filled fusion: see indexer/search.py `fuse`)
    assert "the field list (hit 1," in answer, answer
    again = subprocess.run([sys.executable, "-m", "replayer.cli", "quickstart"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert "0 new rows" in again.stdout and "0 embedded" in again.stdout  # nothing twice

    # The docs root it picked is this run's own: it says how to keep it, and a build that
    # follows the advice has nothing to do, while one that does not says what it dropped.
    hint = "export RUGS_PROTOCOL_DOCS="
    docs = next(line for line in out.stdout.splitlines() if hint in line).split(hint)[1]
    index = [sys.executable, "-m", "replayer.cli", "index", "build", "--table", "events"]
    kept = subprocess.run(index, cwd=ROOT, env={**env, "RUGS_PROTOCOL_DOCS": docs},
                          capture_output=True, text=True, timeout=600)
    assert kept.returncode == 0 and "no-op" in kept.stdout and "warning" not in kept.stderr
    dropped = subprocess.run(index, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    assert dropped.returncode == 0
    assert "no protocol docs root is set" in dropped.stderr, dropped.stderr
