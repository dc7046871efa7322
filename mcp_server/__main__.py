"""`python -m mcp_server`: the stdio server without the CLI's imports (fastest start)."""

import sys

from mcp_server.search_worker import SearchWorker, core_is_idle
from store.errors import SettingsError
from store.settings import Settings

if __name__ == "__main__":
    try:
        settings = Settings.load()
    except SettingsError as exc:  # one line naming the variable, like the CLI
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    # Before the SDK import, the worker loads LanceDB and the model on the other core;
    # otherwise the warm-up starts it once the handshake is answered.
    worker = SearchWorker(settings)
    if core_is_idle():
        worker.start()
    from mcp_server.server import run_stdio

    run_stdio(settings, search_worker=worker)
