"""The MCP server over a store with a damaged part file (issue 9, point 4): every tool keeps
serving the rest of the store, the file is named and quarantined, and the server exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from store.paths import DataPaths
from store.query import query
from tests.mcp_server.conftest import REPO, build_root


def _rpc(proc: subprocess.Popen[str], msg: dict[str, Any]) -> dict[str, Any] | None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(msg) + "\n")
    proc.stdin.flush()
    if "id" not in msg:
        return None
    return json.loads(proc.stdout.readline())  # type: ignore[no-any-return]


def test_a_damaged_file_is_quarantined_and_every_tool_serves_the_rest(tmp_path: Path) -> None:
    root = build_root(tmp_path)
    (f,) = sorted((root.data / "events_parquet" / "doc_type=ws_event").glob("date=2025-12-14/*"))
    lost = pq.read_metadata(f).num_rows
    before = query(DataPaths(root.data), "SELECT count(*) AS n FROM ws_event").to_pylist()[0]["n"]
    f.write_bytes(f.read_bytes()[:200])
    proc = subprocess.Popen([sys.executable, "-m", "mcp_server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(REPO), env=root.env())
    try:
        _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}})
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        results = {}
        calls = [("query_sql", {"sql": "SELECT count(*) AS n FROM ws_event"}),
                 ("list_event_types", {}), ("list_games", {}),
                 ("describe_event", {"name": "gameStateUpdate"})]
        for i, (tool, args) in enumerate(calls, 2):
            r = _rpc(proc, {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                            "params": {"name": tool, "arguments": args}})
            assert r is not None and not r["result"].get("isError"), (tool, r)
            results[tool] = r["result"]["structuredContent"]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        code = proc.wait(timeout=60)
        err = proc.stderr.read() if proc.stderr else ""
    assert code == 0, err
    assert "Traceback" not in err and str(f) in err and "quarantine" in err
    assert results["query_sql"]["rows"][0][0] == before - lost > 0  # the other days answer
    assert results["list_event_types"]["total"] > 0 and results["list_games"]["games"]
    moved = root.data / "quarantine" / "events_parquet" / "doc_type=ws_event" / "date=2025-12-14"
    assert (moved / f.name).exists() and lost > 0
