"""`python -m mcp_server`: the stdio server without the CLI's imports (fastest start)."""

from mcp_server.server import run_stdio
from store.settings import Settings

if __name__ == "__main__":
    run_stdio(Settings.load())
