"""A real writer process for the crash test: prints each acknowledged event id, then keeps going."""

from __future__ import annotations

import random
import sys
from typing import Any

from store.compaction import compact
from store.paths import DataPaths
from store.settings import Settings
from store.writer import EventWriter


def event(tag: str, i: int, with_id: bool) -> dict[str, Any]:
    ev = {
        "doc_type": "game_tick" if i % 3 else "ws_event",
        "event_name": "gameStateUpdate",
        "ts": f"2025-12-{14 + i % 2}T20:17:{i % 60:02d}.{i % 1000000:06d}",
        "source": "public_ws",
        "direction": "received",
        "session_id": tag,
        "seq": i,
        "raw_json": f'{{"tick": {i}, "tag": "{tag}"}}',
        "price": "1.25",
    }
    if with_id:
        ev["event_id"] = f"{tag}-{i}"
    return ev


def main() -> None:
    data_dir, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    settings = Settings.load(data_dir=data_dir, flush_events=40, flush_seconds=0.05)
    w = EventWriter.open(settings)
    print("open", w.replayed, flush=True)
    i = 0
    while True:
        r = rng.random()
        if r < 0.5:
            ev_id = w.write(event(tag, i, with_id=rng.random() < 0.5))
            print("ack", ev_id, flush=True)
            i += 1
        elif r < 0.97:
            batch = [event(tag, i + k, with_id=True) for k in range(rng.randint(1, 120))]
            res = w.write_many(batch)
            assert not res.rejected, res.rejected
            print("ack", " ".join(e["event_id"] for e in batch), flush=True)
            i += len(batch)
        else:
            compact(DataPaths(settings.data_dir))


if __name__ == "__main__":
    main()
