"""A full disk (issue 9, point 6), for real: a size-limited tmpfs in a private mount namespace.

`unshare --mount` (as root) or `unshare --user --map-root-user --mount` (unprivileged user
namespaces) gives the child its own tmpfs of a few MB, gone when it exits; it fills it
and runs the scenarios of tests/store/diskfull_child.py. Where neither works, the same
scenarios run with RLIMIT_FSIZE (writes past the limit fail with EFBIG), a weaker stand-in
for ENOSPC; the test says which it used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("diskfull_child.py")
TMPFS_SIZE = "4m"
_MOUNT = 'mount -t tmpfs -o size={size} tmpfs "$1" && shift && exec "$@"'


@cache
def _namespace() -> list[str] | None:
    """The unshare prefix that can mount a tmpfs here, or None."""
    if shutil.which("unshare") is None:
        return None
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"rugs-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        for prefix in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user",
                                                "--mount"]):
            cmd = [*prefix, "sh", "-c", _MOUNT.format(size="64k"), "_", str(probe), "true"]
            if subprocess.run(cmd, capture_output=True).returncode == 0:
                return prefix
    finally:
        probe.rmdir()
    return None


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mount = tmp_path_factory.mktemp("diskfull")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prefix = _namespace()
    if prefix is not None:
        cmd = [*prefix, "sh", "-c", _MOUNT.format(size=TMPFS_SIZE), "_", str(mount),
               sys.executable, str(CHILD), str(mount), "tmpfs"]
    else:
        cmd = [sys.executable, str(CHILD), str(mount), "fsize"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["stderr"] = out.stderr
    print(f"disk-full scenarios ran on: {result['mode']}")  # shown with -s / on failure
    return result


def _one_line_error(run: dict[str, Any], *words: str) -> None:
    assert run["code"] == 1, run
    lines = run["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run["stderr"]
    assert "Traceback" not in run["stderr"]
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_the_scenarios_ran_on_a_real_tmpfs_where_the_sandbox_allows_it(
    facts: dict[str, Any],
) -> None:
    if _namespace() is not None:
        assert facts["mode"] == "tmpfs"
    else:
        pytest.skip("no mount namespace here: the scenarios ran with RLIMIT_FSIZE (EFBIG)")


def test_no_acknowledged_event_is_lost_and_what_failed_can_be_offered_again(
    facts: dict[str, Any],
) -> None:
    w = facts["writes"]
    assert w["acked"] > 100 and len(w["errors"]) == 6
    for e in w["errors"]:  # one line each, saying what to do
        assert "\n" not in e and "free space" in e and "nothing acknowledged was lost" in e
    assert w["temps_when_full"] == [] and w["temps_after"] == []
    assert w["missing"] == []
    assert w["stored"] == w["distinct"] == w["offered_again"]
    assert w["written_again"] + w["duplicates_again"] == w["offered_again"]
    assert w["duplicates_again"] >= w["acked"]


def test_ingest_and_compact_on_a_full_disk_are_one_line_and_a_rerun_completes(
    facts: dict[str, Any],
) -> None:
    c = facts["cli"]
    space = "No space left on device" if facts["mode"] == "tmpfs" else "File too large"
    assert c["first"] == 0
    _one_line_error(c["ingest_full"], space, "free space")
    _one_line_error(c["compact_full"], space, "compacting")
    assert c["temps_when_full"] == [] and c["temps_after"] == []
    assert c["status_full"] == 0
    assert c["ingest_again"]["code"] == 0, c["ingest_again"]["stderr"]
    summary = json.loads(c["ingest_again"]["stdout"])
    assert summary["written"] == {"ws_event": 6, "system_event": 4, "server_state": 1,
                                  "player_action": 1}
    assert c["compact_again"]["code"] == 0, c["compact_again"]["stderr"]
    stats = json.loads(c["compact_again"]["stdout"])
    assert stats["rows_in"] == stats["rows_out"] > 0


def test_a_writer_starts_when_not_even_its_lock_note_fits(facts: dict[str, Any]) -> None:
    o = facts["open"]
    assert "open_error" not in o, o
    assert o["lock_note"] == "" and o["status_writer"].startswith("a writer")
    assert o["write_error"] and "free space" in o["write_error"]
    assert o["write_after"] is True and o["stored"] == 2


def test_follow_waits_for_space_and_then_stores_the_batch(facts: dict[str, Any]) -> None:
    f = facts["follow"]
    assert "error" not in f, f
    assert f["alive_while_full"] is True
    assert f["summary"]["written"]["game_tick"] == 1 and f["game_tick_rows"] == 1
    assert "retrying every" in facts["stderr"]
