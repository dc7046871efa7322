"""Runs sandboxed queries in child processes that are killed when a query overruns its bounds.

DuckDB's interrupt is checked between vector chunks, and its memory limit covers the
buffer manager only: one scalar call such as `SELECT range(100000000)::VARCHAR` neither
sees the interrupt nor the limit and grew a process to 7 GB in 24 s on this machine. So
the server never runs agent SQL in its own process: a worker does, under an address-space
rlimit, watched by the parent for wall time and resident memory, and killed (then
replaced on the next call) when it overruns. The in-worker interrupt still ends ordinary
slow queries gracefully, keeping the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from store.errors import QueryError, StoreError, UnsafeQueryError
from store.paths import DataPaths
from store.sandbox import Params, QueryResult, SandboxLimits, SandboxSession, parse_size

# Extra address space a worker may map beyond DuckDB's memory limit: the interpreter,
# pyarrow and DuckDB reserve ~1.1 GB of virtual memory before any query runs.
_ADDRESS_HEADROOM = 3 * 2**30
# Resident memory beyond DuckDB's limit before the parent kills a worker.
_RSS_HEADROOM = 1 * 2**30
# Time the parent gives the in-worker interrupt before it kills the worker.
_GRACE_S = 2.0
_POLL_S = 0.05
_ERRORS: dict[str, type[StoreError]] = {
    "UnsafeQueryError": UnsafeQueryError,
    "QueryError": QueryError,
}


class _Worker:
    """One child process and the two pipe ends that talk to it."""

    def __init__(self, root: Path, limits: SandboxLimits) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        # The child imports `store` from wherever this process found it.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "store.sandbox_worker", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # stdout may be an MCP stdio channel: never share it
            env=env,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.send_conn.send({"root": str(root), "limits": asdict(limits)})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_bytes(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0  # not Linux, or already gone: the wall clock still bounds it

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.send_conn.close()
        self.recv_conn.close()


class SqlSandbox:
    """Sandboxed SQL for untrusted callers (the MCP server): each query in a worker process.

    Workers are started on demand (at most `max_workers` run queries at once) and reused;
    each query still opens a fresh DuckDB connection with fresh views, so new data is
    seen at once and no lock is held between calls.
    """

    def __init__(
        self,
        paths: DataPaths,
        limits: SandboxLimits | None = None,
        *,
        max_workers: int = 2,
        grace_s: float = _GRACE_S,
    ) -> None:
        self.root = paths.root.expanduser().resolve()
        self.limits = limits or SandboxLimits()
        self.max_workers = max_workers
        self.grace_s = grace_s
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        self._rss_limit = parse_size(self.limits.memory_limit) + _RSS_HEADROOM

    # -- worker bookkeeping (the condition is held only to move workers around) ---------

    def _acquire(self) -> _Worker:
        deadline = time.monotonic() + self.limits.timeout_s + self.grace_s
        with self._cond:
            while True:
                if self._closed:
                    raise QueryError("the SQL sandbox is closed")
                while self._idle:
                    w = self._idle.pop()
                    if w.alive():
                        return w
                    w.kill()
                    self._count -= 1
                if self._count < self.max_workers:
                    self._count += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueryError(
                        f"the SQL sandbox is busy with {self.max_workers} running queries; "
                        "retry in a few seconds"
                    )
                self._cond.wait(left)
        try:
            return _Worker(self.root, self.limits)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, worker: _Worker, *, keep: bool) -> None:
        with self._cond:
            if keep and not self._closed and worker.alive():
                self._idle.append(worker)
            else:
                worker.kill()
                self._count -= 1
            self._cond.notify()

    def warm(self) -> None:
        """Start a worker and wait until it answers (call from a background thread)."""
        self.query("SELECT 1")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for w in idle:
            w.kill()

    def __enter__(self) -> SqlSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one query --------------------------------------------------------------------

    def query(self, sql: str, params: Params = None) -> QueryResult:
        """Like `store.sandbox.run_query`, in a worker that is killed if it overruns."""
        for attempt in (1, 2):
            worker = self._acquire()
            try:
                worker.send_conn.send((sql, params))
            except OSError:
                # The idle worker died since its last query: replace it, once.
                self._release(worker, keep=False)
                if attempt == 2:
                    raise QueryError("the SQL sandbox could not start a worker") from None
                continue
            keep = False
            try:
                reply = self._await(worker)
                keep = True
            finally:
                self._release(worker, keep=keep)
            break
        if reply[0] == "ok":
            return QueryResult(**reply[1])
        raise _ERRORS.get(reply[1], QueryError)(reply[2])

    def _await(self, worker: _Worker) -> Any:
        deadline = time.monotonic() + self.limits.timeout_s + self.grace_s
        while True:
            try:
                if worker.recv_conn.poll(_POLL_S):
                    return worker.recv_conn.recv()
            except (EOFError, OSError):
                raise QueryError(
                    "the query exhausted the sandbox (more than "
                    f"{self.limits.memory_limit} of memory or a crash) and its worker was "
                    "stopped: aggregate, filter or select fewer or smaller values"
                ) from None
            if time.monotonic() > deadline:
                raise QueryError(
                    f"the query ran longer than {self.limits.timeout_s:g} s and was killed: "
                    "filter on game_id, event_name or ts, aggregate, or add a LIMIT"
                )
            if worker.rss_bytes() > self._rss_limit:
                raise QueryError(
                    f"the query used more than {self.limits.memory_limit} of memory (plus "
                    "headroom) and was killed: aggregate, filter or select smaller values, "
                    "e.g. no huge lists or strings built per row"
                )


# -- the child side ---------------------------------------------------------------------


def _limit_address_space(limits: SandboxLimits) -> None:
    try:
        import resource

        cap = parse_size(limits.memory_limit) + _ADDRESS_HEADROOM
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError):
        pass  # not available on this platform: the parent's RSS watch still applies


def _serve(recv_conn: Connection, send_conn: Connection) -> None:
    setup = recv_conn.recv()
    limits = SandboxLimits(**setup["limits"])
    _limit_address_space(limits)
    # One session for the worker's life: the connection and its views are reused while
    # the committed files stay the same (saves opening DuckDB and binding the views).
    session = SandboxSession(DataPaths(Path(setup["root"])), limits)
    while True:
        try:
            sql, params = recv_conn.recv()
        except EOFError:
            session.close()
            return
        reply: tuple[Any, ...]
        try:
            result = session.run(sql, params)
            reply = ("ok", asdict(result))
        except StoreError as exc:
            reply = ("err", type(exc).__name__, str(exc))
        except MemoryError:
            session.reset()
            reply = ("err", "QueryError", "the query ran out of memory in the sandbox: "
                     "aggregate, filter or select fewer or smaller values")
        except Exception as exc:  # report, keep serving: one odd query must not end the worker
            session.reset()
            reply = ("err", "QueryError", f"{type(exc).__name__}: {exc}")
        try:
            send_conn.send(reply)
        except OSError:
            session.close()
            return  # the parent is gone (it exited or killed us): nothing left to answer


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
