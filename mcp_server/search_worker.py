"""Searches run in a child process started with the server, so its loading overlaps the handshake.

Why: a first search needs LanceDB (~1.1 s of CPU to import here, most of it pydantic
building validators for LanceDB's REST client), onnxruntime, the tables' vector snapshots,
their BM25 indexes and the query model: ~1.4 s of mostly GIL-bound work. The server itself
spends ~0.7 s importing the MCP SDK before it can answer `initialize`. In one process the
two queue on the GIL (first search ~2.1 s after spawn at best); a child started before the
SDK is imported does its share on the other core. The child warms itself (one search per
built table) and then answers requests one at a time; a round trip adds ~0.2 ms.

This module imports neither the SDK nor LanceDB: the parent imports it first thing.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from store.settings import Settings

# Generous: a first call without an ONNX export loads torch (10-15 s on a busy machine).
TIMEOUT_S = 120.0
# One BLAS thread: the vector snapshot's exact top-k is one matrix-vector product, and
# OpenBLAS's second thread turned its ~0.3 ms into ~8 ms a query on 2 busy cores (waking
# and spinning); the search wall time fell from 44 to 14 ms with one thread, measured.
CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1"}


class SearchWorker:
    """The parent's handle on the search child: start it, ask it, restart it if it died."""

    def __init__(self, settings: Settings, *, timeout_s: float = TIMEOUT_S) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._ready_fd = -1  # the child writes one byte here once warm (no lock to wait)
        self._lock = threading.Lock()  # one request on the pipe at a time

    def start(self) -> SearchWorker:
        """Spawn the child unless it runs (returns at once: it warms up on its own)."""
        with self._lock:
            if not self._alive():
                self._spawn()
        return self

    @property
    def started(self) -> bool:
        return self._proc is not None

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self) -> None:
        self._stop()
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        ready_r, ready_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(  # the child imports this checkout's packages
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        env.update(CHILD_ENV)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_server.search_worker", str(to_child_r),
             str(from_child_w), str(ready_w)],
            pass_fds=(to_child_r, from_child_w, ready_w), env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # stdout is the MCP channel
        )
        for fd in (to_child_r, from_child_w, ready_w):
            os.close(fd)
        self._ready_fd = ready_r
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)
        self._send.send(self.settings)

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        if self._ready_fd >= 0:
            os.close(self._ready_fd)
        self._proc = self._send = self._recv = None
        self._ready_fd = -1

    def wait_ready(self, timeout_s: float = TIMEOUT_S) -> bool:
        """Block until the child has warmed up (True) or died or timed out (False).

        Holds no lock: searches go on meanwhile.
        """
        import select

        fd = self._ready_fd
        if fd < 0:
            return False
        try:
            readable, _, _ = select.select([fd], [], [], timeout_s)
            if not readable or fd != self._ready_fd:  # timed out, or restarted meanwhile
                return False
            return os.read(fd, 1) == b"1"  # b"": it died before it was warm
        except OSError:  # closed by a restart meanwhile
            return False

    def _call(self, op: str, arg: Any) -> Any:
        with self._lock:
            if not self._alive():
                self._spawn()  # first use, or it died since the last call
            assert self._send is not None and self._recv is not None
            try:
                self._send.send((op, arg))
            except OSError:
                self._spawn()  # died after the check: once more with a new one
                assert self._send is not None and self._recv is not None
                self._send.send((op, arg))
            reply = self._await()
        return _unpack(reply)

    def _await(self) -> Any:
        assert self._recv is not None
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                if self._recv.poll(min(1.0, max(0.0, deadline - time.monotonic()))):
                    return self._recv.recv()
            except (EOFError, OSError):
                code = self._proc.wait() if self._proc is not None else None
                self._stop()
                raise _worker_error(f"the search worker stopped (exit code {code}); the "
                                    "next call starts a new one") from None
            if time.monotonic() > deadline:
                self._stop()
                raise _worker_error(f"the search worker did not answer within "
                                    f"{self.timeout_s:g} s and was stopped")

    def search(self, query: str, **kwargs: Any) -> list[Any]:
        """`indexer.search.Searcher.search` in the child: a list of SearchResult."""
        return self._call("search", {"query": query, **kwargs})  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        """The child's query model now: backend, loaded, why not ONNX, warmed up or not."""
        return self._call("status", None)  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            self._stop()


def core_is_idle() -> bool:
    """Whether a core is free now: the 1-minute load average is below the cores minus one.

    The entry points start the worker before the SDK import only then. On a saturated
    machine the worker would take CPU from the handshake (measured: `initialize` 1.05 ->
    2.26 s at load 8 on 2 cores) for no gain, so it starts after the handshake instead.
    """
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5
    except OSError:
        return True


def _worker_error(msg: str) -> Exception:
    from mcp_server.errors import SearchWorkerError

    return SearchWorkerError(msg)


def _unpack(reply: tuple[Any, ...]) -> Any:
    kind = reply[0]
    if kind == "ok":
        return reply[1]
    if kind == "err":  # a RugsError raised on purpose: the same class, message and hint
        _, module, name, message, hint = reply
        from store.errors import RugsError

        exc: Exception | None = None
        try:
            cls = getattr(importlib.import_module(module), name)
            if isinstance(cls, type) and issubclass(cls, RugsError):
                exc = cls(message, hint=hint)
        except (ImportError, AttributeError, TypeError):
            exc = None
        raise exc or _worker_error(message)
    raise RuntimeError(f"search worker crashed:\n{reply[1]}")  # a bug: surfaces as one


# -- the child side ---------------------------------------------------------------------


WARM_QUERY = "warm up the search path"


def import_lancedb() -> None:
    """Import LanceDB with pydantic's `validate_call` validators built on first call.

    Why: 0.3 s of LanceDB's ~1.1 s import is pydantic building a validator for each of the
    366 methods of the REST namespace client it imports (`lance_namespace_urllib3_client`,
    every method wrapped in `validate_call`), which a local search never calls. pydantic's
    documented `defer_build` option builds each validator at its first call instead; the
    wrapper is in place only while LanceDB is imported, and only here, in the search
    worker, whose first search is what a cold start waits for.
    """
    if "lancedb" in sys.modules:
        return
    import pydantic

    original = pydantic.validate_call

    def deferred(func: Any = None, /, *, config: Any = None,
                 validate_return: bool = False) -> Any:
        cfg: Any = {**(config or {}), "defer_build": True}  # a ConfigDict
        decorate = original(config=cfg, validate_return=validate_return)
        return decorate if func is None else decorate(func)

    pydantic.validate_call = deferred
    try:
        import lancedb  # noqa: F401
    finally:
        pydantic.validate_call = original


def _warm(searcher: Any, imported: threading.Event) -> str | None:
    """Load the query model and, meanwhile, import LanceDB (then set `imported`) and search
    each built table once (opens it, loads its vector snapshot and BM25 index); what
    failed, or None."""
    from store.errors import RugsError
    from store.paths import TABLE_NAMES

    errors: list[str] = []

    def model() -> None:
        try:
            searcher.query_vector(WARM_QUERY)
        except RugsError as exc:  # the first real call reports it again
            errors.append(f"query model: {exc}")

    # onnxruntime builds its session without the GIL: it overlaps LanceDB's import.
    loading = threading.Thread(target=model, name="search-warm-model", daemon=True)
    loading.start()
    try:
        import_lancedb()
    finally:
        imported.set()
    for name in TABLE_NAMES:
        if searcher.paths.table(name).is_dir():
            try:
                searcher.search(WARM_QUERY, table=name, k=1)
            except RugsError as exc:
                errors.append(f"{name}: {exc}")
    loading.join()
    return "; ".join(dict.fromkeys(errors)) or None


def _status(searcher: Any, warmed: bool, warm_error: str | None) -> dict[str, Any]:
    emb = searcher.embedder
    described = emb.describe() if hasattr(emb, "describe") else {"backend": "hash"}
    return {**described, "loaded": bool(getattr(emb, "loaded", True)), "warmed": warmed,
            "warm_error": warm_error}


def _serve(recv: Connection, send: Connection, ready_fd: int) -> None:
    from indexer.search import searcher_for
    from store.errors import RugsError

    try:
        settings = recv.recv()
    except EOFError:
        return  # the server exited before it could say what to serve
    searcher = searcher_for(settings)
    warmed = threading.Event()
    imported = threading.Event()
    warm_error: list[str | None] = [None]

    def warm() -> None:
        try:
            warm_error[0] = _warm(searcher, imported)
        finally:
            imported.set()
            warmed.set()
            try:
                os.write(ready_fd, b"1")
                os.close(ready_fd)
            except OSError:
                pass  # nobody waits for it

    # In a thread: a request that arrives meanwhile runs at once and waits only for what
    # it needs itself (the Searcher is thread-safe).
    threading.Thread(target=warm, name="search-warm-up", daemon=True).start()
    while True:
        try:
            op, arg = recv.recv()
        except EOFError:
            return  # the server closed the pipe: it is shutting down
        reply: tuple[Any, ...]
        try:
            if op == "search":
                imported.wait()  # else this thread could import LanceDB the slow way first
                reply = ("ok", searcher.search(**arg))
            else:
                reply = ("ok", _status(searcher, warmed.is_set(), warm_error[0]))
        except RugsError as exc:
            reply = ("err", type(exc).__module__, type(exc).__qualname__, str(exc), exc.hint)
        except Exception:  # a bug: report it whole, keep serving
            reply = ("bug", traceback.format_exc())
        try:
            send.send(reply)
        except OSError:
            return  # the parent is gone


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1]), writable=False),
           Connection(int(sys.argv[2]), readable=False), int(sys.argv[3]))
