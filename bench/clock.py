"""Wall and CPU seconds of a block of code, for the benchmarks."""

from __future__ import annotations

import time


class Clock:
    """Wall and CPU seconds of a block: the machine is shared, CPU time shows our own cost."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
