"""The search worker process: same answers and errors as in-process, replaced when it dies."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import TableNotBuiltError, UnknownTableError
from indexer.search import Searcher
from mcp_server.search_worker import SearchWorker
from store.settings import Settings
from tests.mcp_server.conftest import McpRoot


def _settings(root: McpRoot) -> Settings:
    return Settings.load(data_dir=root.data, model_id=root.model,
                         context_roots=str(root.contexts))


def test_the_worker_answers_what_the_searcher_answers_in_process(mcp_root: McpRoot) -> None:
    settings = _settings(mcp_root)
    worker = SearchWorker(settings).start()
    try:
        for mode in ("hybrid", "vector", "text"):
            got = worker.search("write-ahead log flushes Parquet", table="code_context",
                                k=3, mode=mode)
            want = Searcher(settings).search("write-ahead log flushes Parquet",
                                             table="code_context", k=3, mode=mode)
            assert [(r.chunk_id, round(r.score, 6)) for r in got] == \
                [(r.chunk_id, round(r.score, 6)) for r in want]
        assert worker.wait_ready(30)
        assert worker.status() == {"backend": "hash", "loaded": True, "warmed": True,
                                   "warm_error": None}
    finally:
        worker.close()


def test_a_killed_worker_is_replaced_on_the_next_call(mcp_root: McpRoot) -> None:
    worker = SearchWorker(_settings(mcp_root)).start()
    try:
        assert worker.search("compaction", table="code_context", mode="text")
        assert worker._proc is not None
        worker._proc.kill()
        worker._proc.wait()
        assert worker.search("compaction", table="code_context", mode="text")
    finally:
        worker.close()
    assert not worker.started


def test_errors_keep_their_class_message_and_hint(mcp_root: McpRoot, tmp_path: Path) -> None:
    worker = SearchWorker(_settings(mcp_root))
    empty = SearchWorker(Settings(data_dir=tmp_path / "empty", model_id="hash:64"))
    try:
        with pytest.raises(UnknownTableError, match="nope"):
            worker.search("x", table="nope")
        with pytest.raises(TableNotBuiltError, match="has not been built") as info:
            empty.search("x", table="events")
        assert info.value.hint == TableNotBuiltError.hint
    finally:
        worker.close()
        empty.close()


_LEAN_CHILD = """
import sys
import pydantic
original = pydantic.validate_call
from mcp_server.search_worker import import_lancedb
import_lancedb()
assert pydantic.validate_call is original  # restored
import lancedb
import pyarrow as pa
db = lancedb.connect(sys.argv[1])
t = db.create_table("t", pa.table({"id": ["a", "b"], "vector": [[1.0, 0.0], [0.0, 1.0]]}))
print(t.search([1.0, 0.1]).limit(1).to_list()[0]["id"])
from lance_namespace_urllib3_client.api.table_api import TableApi
try:  # a deferred validator is built at its first call and still refuses bad input
    TableApi().describe_table(id=5, describe_table_request=None)
except pydantic.ValidationError:
    print("refused")
@pydantic.validate_call
def later(x: int) -> int:
    return x
print(later("3"))  # validate_call outside the import behaves as always
"""


def test_lancedb_imported_with_deferred_validators_works_and_restores_pydantic(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.mcp_server.conftest import REPO

    out = subprocess.run([sys.executable, "-c", _LEAN_CHILD, str(tmp_path / "db")], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["a", "refused", "3"]
