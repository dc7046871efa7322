"""A small real data root (ingested fixtures + built indexes) and MCP clients for it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
LEGACY_GAME = "20251029-4d3c9619817844a2"
MODEL = "hash:64"  # deterministic, no torch: these tests drive the server, not retrieval


@dataclass(frozen=True)
class McpRoot:
    data: Path
    contexts: Path
    model: str = MODEL

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("RUGS_") and k not in ("PYTHONPATH",)
        }
        env.update(
            RUGS_DATA_DIR=str(self.data),
            RUGS_MODEL_ID=self.model,
            RUGS_CONTEXT_ROOTS=str(self.contexts),
            PYTHONPATH=str(REPO),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env


def _write_contexts(root: Path) -> None:
    (root / "store").mkdir(parents=True)
    (root / "CONTEXT.md").write_text(
        "# demo — CONTEXT\n\n## Purpose\nA demo repository for the MCP tests.\n\n"
        "## Related modules\n| module | relationship |\n|---|---|\n"
        "| `store/` | keeps the canonical Parquet files |\n"
    )
    (root / "store" / "CONTEXT.md").write_text(
        "# store — CONTEXT\n\n## Purpose\nThe single writer appends events to a write-ahead "
        "log and flushes Parquet atomically.\n\n## Key decisions\n- Compaction rewrites "
        "small flush files into one sorted file per day.\n"
    )


def build_root(base: Path, model: str = MODEL, embedder: Any = None) -> McpRoot:
    """Ingest the capture and legacy fixtures, add a note, build all three indexes."""
    from indexer.build import build
    from indexer.notes import add_note
    from store.ingest import ingest
    from store.legacy import parse_legacy_line
    from store.settings import Settings
    from store.writer import EventWriter

    data, contexts = base / "data", base / "contexts"
    _write_contexts(contexts)
    settings = Settings.load(data_dir=data, model_id=model, context_roots=str(contexts))
    with EventWriter.open(settings) as w:
        for name in ("raw_excerpt.jsonl", "cdp_excerpt.jsonl", "history_tick.jsonl",
                     "key_samples_excerpt.json"):
            ingest(w, FIXTURES / "ingest" / name)
        lines = (FIXTURES / "query" / "legacy_game_excerpt.jsonl").read_text().splitlines()
        rows = []
        for i, line in enumerate(lines):
            if line.strip():
                rows.extend(parse_legacy_line(line, session_id="legacy-excerpt", seq=i))
        res = w.write_many(rows)
        assert not res.rejected, res.rejected
    add_note(settings, "playerUpdate cash", "cash in playerUpdate is the balance after the "
             "trade settles; seen in the CDP capture", ["playerupdate", "cash"], "test",
             index=False)
    for report in build(settings, embedder=embedder):
        assert not report.warnings or report.table == "events", report.warnings
    return McpRoot(data=data, contexts=contexts, model=model)


@pytest.fixture(scope="session")
def mcp_root(tmp_path_factory: pytest.TempPathFactory) -> McpRoot:
    return build_root(tmp_path_factory.mktemp("mcp"))


def server_params(root: McpRoot, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=list(args or ("-m", "mcp_server")), env=root.env(**env),
        cwd=str(REPO),
    )


@asynccontextmanager
async def stdio_client(root: McpRoot, *args: str, **env: str) -> AsyncIterator[Any]:
    """A real MCP client talking to the server in a subprocess over stdio."""
    async with Client(server_params(root, *args, **env), read_timeout_seconds=60) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The server's tools as `replayer claude init` reads them (`claude_files.ToolInfo`)."""
    from mcp_server.claude_files import server_tools
    from store.settings import Settings

    return server_tools(Settings(data_dir=tmp_path_factory.mktemp("tool-list")))
