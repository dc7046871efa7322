"""SIGKILL a real writer process at random moments; every acknowledged event survives once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from store.files import committed_files
from store.paths import DOC_TYPES, DataPaths
from store.settings import Settings
from store.views import connect
from store.writer import EventWriter

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("RUGS_CRASH_KILLS", "25"))


def _run_and_kill(data_dir: Path, tag: str, seed: int, delay: float) -> set[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("writer_child.py")), str(data_dir), tag,
         str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked: set[str] = set()
    opened = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("open"):
                opened.set()
            elif line.startswith("ack "):
                acked.update(line.split()[1:])

    reader = threading.Thread(target=read)
    reader.start()
    assert opened.wait(60), proc.stderr.read() if proc.stderr else ""
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    return acked


def test_sigkilled_writer_loses_no_acknowledged_event_and_duplicates_none(tmp_path: Path) -> None:
    rng = random.Random(1234)
    acked: set[str] = set()
    for k in range(KILLS):
        acked |= _run_and_kill(tmp_path, f"run{k}", rng.randrange(10**6), rng.uniform(0.0, 0.4))
    assert len(acked) > 1000, "the child wrote too little to make the test meaningful"
    # The next open replays whatever the last kill left in the WAL.
    with EventWriter.open(Settings.load(data_dir=tmp_path)):
        pass
    paths = DataPaths(tmp_path)
    for t in DOC_TYPES:
        for f in committed_files(paths, t):
            pq.read_table(f)  # every committed file reads
    con = connect(paths)
    stored = con.execute(
        "SELECT event_id, count(*) AS n FROM (SELECT event_id FROM ws_event "
        "UNION ALL SELECT event_id FROM game_tick) GROUP BY event_id"
    ).fetchall()
    counts = dict(stored)
    missing = acked - counts.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    dups = {e: n for e, n in counts.items() if n > 1}
    assert not dups, f"{len(dups)} events stored twice, e.g. {list(dups.items())[:5]}"
    leftovers = list(tmp_path.glob("events_parquet/**/.tmp-*"))
    assert not leftovers
