"""What the server keeps between calls: settings, the search worker, SQL sandbox, warm-up.

Nothing heavy is imported here: searches run in the search worker process
(`search_worker.py`: LanceDB and the embedding model live there), the SQL sandbox
(DuckDB, pyarrow) and the build embedder are made on first use or by the background
warm-up, so the server answers `initialize` before any of them exists. No lock is held
across calls: `_init_lock` guards only the one-time construction of each helper.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from mcp_server.search_worker import SearchWorker
from store.paths import DataPaths
from store.settings import Settings

if TYPE_CHECKING:
    from indexer.embedder import Embedder
    from indexer.search import SearchResult
    from store.catalog import Catalog
    from store.sandbox_worker import SqlSandbox
    from store.spec import Documented


class ServerState:
    """Per-process state shared by every tool call (thread-safe)."""

    def __init__(self, settings: Settings, search_worker: SearchWorker | None = None) -> None:
        self.settings = settings
        self.paths = DataPaths(settings.data_dir)
        self._init_lock = threading.Lock()
        # Started by the entry point before the SDK is imported, else on first use.
        self.search_worker = search_worker or SearchWorker(settings)
        self._embedder: Embedder | None = None
        self._sandbox: SqlSandbox | None = None
        self._catalog: tuple[str, Catalog] | None = None
        self._documented: tuple[str, Documented] | None = None
        self.warm_error: str | None = None
        self.warm_done = threading.Event()
        self._warm_started = False
        self._closed = False

    def search(self, query: str, **kwargs: Any) -> list[SearchResult]:
        """`indexer.search.Searcher.search`, run by the search worker."""
        return self.search_worker.search(query, **kwargs)

    def embedder(self) -> Embedder:
        """The embedder of builds run by this process (sync_index, add_debug_note)."""
        if self._embedder is None:
            from indexer.embedder import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    def sandbox(self) -> SqlSandbox:
        if self._sandbox is None:
            from store.sandbox import SandboxLimits
            from store.sandbox_worker import SqlSandbox

            with self._init_lock:
                if self._sandbox is None:
                    limits = SandboxLimits.from_settings(self.settings)
                    self._sandbox = SqlSandbox(self.paths, limits)
        return self._sandbox

    def query_model(self) -> dict[str, Any]:
        """The search worker's query model: backend, loaded, why not ONNX (waits for warm-up)."""
        if not self.search_worker.started:
            return {"backend": None, "loaded": False}
        return self.search_worker.status()

    def catalog(self) -> Catalog:
        """The event catalog, recomputed only when the committed files changed."""
        from store.catalog import attach_validation, catalog_from_store, store_fingerprint
        from store.validation import load_validation

        fp = store_fingerprint(self.paths)
        held = self._catalog
        if held is None or held[0] != fp:
            cat = catalog_from_store(self.paths, with_validation=False)
            self._catalog = held = (fp, cat)
        # Validation records change without the data changing: attach them every time.
        return attach_validation(held[1], load_validation(self.paths))

    def documented(self) -> Documented:
        """The protocol docs (`RUGS_PROTOCOL_DOCS`) parsed against the catalog's names,
        re-read only when a doc file or the catalog changed; empty without a docs root."""
        from store.spec import docs_signature, load_documented

        cat = self.catalog()
        held_cat = self._catalog[0] if self._catalog else ""
        key = f"{docs_signature(self.settings.protocol_docs)}:{held_cat}"
        held = self._documented
        if held is None or held[0] != key:
            docs = load_documented(self.settings.protocol_docs, known=cat.names())
            self._documented = held = (key, docs)
        return held[1]

    # -- warm-up ----------------------------------------------------------------------

    def start_warmup(self, delay_s: float = 0.0) -> None:
        """Start the search worker (if not yet) and a SQL worker in the background, once."""
        with self._init_lock:
            if self._warm_started:
                return
            self._warm_started = True
        t = threading.Timer(delay_s, self._warm)
        t.name = "mcp-warmup"
        t.daemon = True
        t.start()

    async def warm_after_first_request(self, ctx: Any, call_next: Any) -> Any:
        """Server middleware: start the warm-up once the first request is answered.

        A SQL worker takes a core while it starts and the catalog holds the GIL while it
        loads; doing either before the handshake is answered would slow `initialize`.
        The short delay lets the response leave first.
        """
        result = await call_next(ctx)
        if not self._warm_started:
            self.start_warmup(delay_s=0.05)
        return result

    def _warm(self) -> None:
        # Searches first: the likeliest first call and the slowest to warm. The SQL worker
        # starts once the search worker is warm, so the two do not compete for the cores.
        steps = (
            ("search worker", self._warm_search),
            ("SQL worker", lambda: self.sandbox().warm()),
            ("event catalog", self.catalog),  # its cache file, or computed once (seconds)
        )
        errors = []
        for what, step in steps:
            if self._closed:
                break
            try:
                step()
            except Exception as exc:  # best effort: the first real call reports the error
                errors.append(f"{what}: {type(exc).__name__}: {exc}")
                print(f"rugs-replayer MCP warm-up, {errors[-1]}", file=sys.stderr)
        self.warm_error = "; ".join(errors) or None
        self.warm_done.set()

    def _warm_search(self) -> None:
        worker = self.search_worker.start()
        if not worker.wait_ready() and not self._closed:
            raise RuntimeError("the search worker stopped or timed out while warming up")
        warm_error = worker.status().get("warm_error")
        if warm_error:  # e.g. a table built with another model: the calls will say so too
            raise RuntimeError(warm_error)

    def close(self) -> None:
        self._closed = True  # the warm-up then stops quietly: the worker is gone on purpose
        self.search_worker.close()
        if self._sandbox is not None:
            self._sandbox.close()
