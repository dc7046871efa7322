"""`python -m mcp_server`: the stdio server without the CLI's imports (fastest start)."""

from mcp_server.search_worker import SearchWorker, core_is_idle
from store.settings import Settings

if __name__ == "__main__":
    settings = Settings.load()
    # Before the SDK import, the worker loads LanceDB and the model on the other core;
    # otherwise the warm-up starts it once the handshake is answered.
    worker = SearchWorker(settings)
    if core_is_idle():
        worker.start()
    from mcp_server.server import run_stdio

    run_stdio(settings, search_worker=worker)
