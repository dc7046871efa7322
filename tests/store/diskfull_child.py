"""The disk-full scenarios, run inside a private mount namespace on a small tmpfs.

Usage: diskfull_child.py MOUNTPOINT MODE, MODE "tmpfs" (MOUNTPOINT is a tmpfs of a few
MB) or "fsize" (fallback where mounting is impossible: RLIMIT_FSIZE makes every write past
the limit fail with EFBIG). Prints one JSON object of facts; tests/store/test_disk_full.py
asserts on them.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from store.errors import DiskFullError, StoreError  # noqa: E402
from store.ingest import ingest  # noqa: E402
from store.paths import DataPaths  # noqa: E402
from store.settings import Settings  # noqa: E402
from store.status import store_status  # noqa: E402
from store.writer import EventWriter  # noqa: E402
from tests.event_store import make_event  # noqa: E402

CAPTURE = ROOT / "tests" / "fixtures" / "ingest" / "raw_excerpt.jsonl"


class Disk:
    """Fill and free the file system under test."""

    def __init__(self, mount: Path, mode: str) -> None:
        self.mount, self.mode = mount, mode
        self.filler = mount / "filler"
        self.hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        if mode == "fsize":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill

    def fill(self, leave: int = 0) -> None:
        """No space left (but `leave` bytes)."""
        if self.mode == "fsize":
            # every file stops at `leave` bytes: one WAL frame or Parquet file fits, then not
            resource.setrlimit(resource.RLIMIT_FSIZE, (leave, self.hard))
            return
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for chunk in (1 << 20, 1 << 12, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)
        if leave:
            size = self.filler.stat().st_size
            os.truncate(self.filler, max(0, size - leave))

    def free(self) -> None:
        if self.mode == "fsize":
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.hard, self.hard))
        else:
            self.filler.unlink(missing_ok=True)


def temps(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp*"))


def stored_ids(root: Path) -> list[str]:
    from store.views import connect

    con = connect(DataPaths(root))
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM game_tick").fetchall()]
    finally:
        con.close()


def cli(root: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "replayer.cli", *args], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "RUGS_DATA_DIR": str(root),
                                                   "PYTHONPATH": str(ROOT)})
    return {"code": out.returncode, "stderr": out.stderr, "stdout": out.stdout}


def writes_until_full(disk: Disk, root: Path) -> dict[str, Any]:
    """Acknowledged events survive a full disk; failed calls leave nothing behind."""
    s = Settings.load(data_dir=root, flush_events=40, flush_seconds=3600)
    w = EventWriter.open(s)
    # tmpfs: room for some flush files, then none; fsize: a WAL segment outgrows the limit
    disk.fill(leave=96 * 1024 if disk.mode == "tmpfs" else 24 * 1024)
    acked: list[str] = []
    errors: list[str] = []
    i = 0
    while len(errors) < 6 and i < 100_000:
        try:
            if i % 3:
                ev_id = w.write(make_event(i, event_id=f"full-{i}"))
                assert ev_id is not None
                acked.append(ev_id)
                i += 1
            else:
                batch = [make_event(i + k, event_id=f"full-{i + k}") for k in range(25)]
                res = w.write_many(batch)
                assert not res.rejected
                acked.extend(e["event_id"] for e in batch)
                i += 25
        except DiskFullError as exc:
            errors.append(str(exc))
            i += 25  # a new id range: what failed is offered again below
    temps_full = temps(root)
    try:
        w.close()
        close_error = None
    except StoreError as exc:
        close_error = f"{type(exc).__name__}: {exc}"
    disk.free()
    with EventWriter.open(s) as w2:
        replayed = w2.replayed
        # what failed can simply be offered again
        again = w2.write_many([make_event(k, event_id=f"full-{k}") for k in range(i)])
    ids = stored_ids(root)
    return {
        "acked": len(acked), "errors": errors, "temps_when_full": temps_full,
        "close_error": close_error, "replayed": replayed,
        "missing": sorted(set(acked) - set(ids))[:10], "stored": len(ids),
        "distinct": len(set(ids)), "offered_again": i, "written_again": again.total_written,
        "duplicates_again": again.duplicates, "temps_after": temps(root),
    }


def cli_on_a_full_disk(disk: Disk, root: Path) -> dict[str, Any]:
    """`replayer ingest` and `data compact` on a full disk: one line, then a clean rerun."""
    first = cli(root, "ingest", str(CAPTURE))  # a store with files and a manifest
    with EventWriter.open(Settings.load(data_dir=root, flush_events=2)) as w:
        for k in range(3):
            w.write_many([make_event(100 + 2 * k + j) for j in range(2)])
    disk.fill()
    ingest_full = cli(root, "ingest", str(CAPTURE.with_name("cdp_excerpt.jsonl")))
    compact_full = cli(root, "data", "compact")
    temps_full = temps(root)
    status_full = cli(root, "data", "status", "--json")
    disk.free()
    ingest_again = cli(root, "ingest", str(CAPTURE.with_name("cdp_excerpt.jsonl")), "--json")
    compact_again = cli(root, "data", "compact", "--json")
    return {"first": first["code"], "ingest_full": ingest_full, "compact_full": compact_full,
            "temps_when_full": temps_full, "status_full": status_full["code"],
            "ingest_again": ingest_again, "compact_again": compact_again,
            "temps_after": temps(root)}


def open_with_no_space_at_all(disk: Disk, root: Path) -> dict[str, Any]:
    """The lock holder cannot even note its name: the writer starts anyway."""
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        w.write(make_event(1))
    DataPaths(root).writer_lock.unlink()
    disk.fill()
    facts: dict[str, Any] = {}
    try:
        w = EventWriter.open(Settings.load(data_dir=root))
    except Exception as exc:  # the bug this guards against
        facts["open_error"] = f"{type(exc).__name__}: {exc}"
        disk.free()
        return facts
    facts["lock_note"] = DataPaths(root).writer_lock.read_text()
    facts["status_writer"] = store_status(DataPaths(root))["writer_running"]
    try:
        w.write(make_event(2))
        facts["write_error"] = None
    except DiskFullError as exc:
        facts["write_error"] = str(exc)
    w.close()
    disk.free()
    with EventWriter.open(Settings.load(data_dir=root)) as w:
        facts["write_after"] = w.write(make_event(2)) is not None
    facts["stored"] = len(stored_ids(root))
    return facts


def follow_waits_for_space(disk: Disk, root: Path, work: Path) -> dict[str, Any]:
    """--follow on a full disk retries the batch in hand until there is space."""
    live = work / "live.jsonl"
    live.write_bytes(CAPTURE.read_bytes())
    s = Settings.load(data_dir=root, flush_events=1)
    w = EventWriter.open(s)
    disk.fill()
    stop = threading.Event()
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["summary"] = ingest(w, live, follow=True, poll_s=0.05, stop=stop,
                                    idle_timeout_s=None).to_dict()
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"

    t = threading.Thread(target=run)
    t.start()
    time.sleep(1.5)
    out["alive_while_full"] = t.is_alive()
    disk.free()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(stored_ids(root)) < 1:
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    t.join(30)
    w.close()
    out["game_tick_rows"] = len(stored_ids(root))
    return out


def main() -> None:
    mount, mode = Path(sys.argv[1]), sys.argv[2]
    disk = Disk(mount, mode)
    facts: dict[str, Any] = {"mode": mode}
    for name, fn in (("writes", writes_until_full), ("cli", cli_on_a_full_disk),
                     ("open", open_with_no_space_at_all)):
        root = mount / name
        facts[name] = fn(disk, root)
    work = mount / "follow-work"
    work.mkdir()
    facts["follow"] = follow_waits_for_space(disk, mount / "follow", work)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
