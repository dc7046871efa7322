"""`python -m mcp_server`: the stdio server without the CLI's imports (fastest start)."""

import sys

from mcp_server.server import run_stdio
from store.errors import SettingsError
from store.settings import Settings

if __name__ == "__main__":
    try:
        settings = Settings.load()
    except SettingsError as exc:  # one line naming the variable, like the CLI
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    run_stdio(settings)
