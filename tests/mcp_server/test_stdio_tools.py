"""Every tool, resource and the prompt, through the SDK's client and a real server over stdio."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from mcp_server.workflow import cited_tools
from tests.mcp_server.conftest import LEGACY_GAME, REPO, McpRoot, server_params, stdio_client

pytestmark = pytest.mark.anyio

READ_TOOLS = {
    "search_events", "search_code_context", "search_debug_notes", "search",
    "list_event_types", "describe_event", "query_sql", "list_games", "get_game_episode",
    "get_tick_features", "index_status",
}
WRITE_TOOLS = {"sync_index", "add_debug_note"}


async def call(c: Any, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    res = await c.call_tool(name, args or {})
    assert not res.is_error, res.content[0].text
    assert res.structured_content is not None
    # The text copy is the same data as compact JSON (one line, no indentation).
    text = res.content[0].text
    assert "\n" not in text and json.loads(text)
    return res.structured_content  # type: ignore[no-any-return]


async def error(c: Any, name: str, args: dict[str, Any]) -> str:
    res = await c.call_tool(name, args)
    assert res.is_error, res.structured_content
    return str(res.content[0].text)


async def test_every_tool_is_listed_typed_with_hints_and_output_schema(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    for name, t in tools.items():
        assert t.description and len(t.description) > 40, name
        assert t.output_schema and t.output_schema.get("type") == "object", name
        assert t.annotations is not None
        assert t.annotations.read_only_hint is (name in READ_TOOLS), name
    k = tools["search_events"].input_schema["properties"]["k"]
    assert (k["minimum"], k["maximum"]) == (1, 25) and k["description"]
    modes = tools["search"].input_schema["properties"]["mode"]
    assert set(modes["enum"]) == {"hybrid", "vector", "text"}
    assert tools["query_sql"].input_schema["properties"]["sql"]["maxLength"] == 20_000
    assert tools["sync_index"].annotations.destructive_hint is False


async def test_search_tools_return_scored_snippets_with_provenance(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        ev = await call(c, "search_events", {"query": "playerUpdate cash balance", "k": 5})
        assert ev["tables"] == ["events"] and 1 <= ev["count"] <= 5
        hit = ev["results"][0]
        assert hit["table"] == "events" and hit["source"] and hit["chunk_id"]
        assert isinstance(hit["score"], float) and hit["metadata"]
        assert any("playerUpdate" in h["text"] for h in ev["results"])

        filtered = await call(c, "search_events",
                              {"query": "trade", "event_name": "standard/newTrade", "k": 10})
        assert filtered["results"]
        assert {h["metadata"].get("event_name") for h in filtered["results"]} == {
            "standard/newTrade"}

        # the overview of gameStateUpdate (its ~50 fields) is longer than a snippet
        short = await call(c, "search_events", {"query": "game state update fields", "k": 25})
        full = await call(c, "search_events",
                          {"query": "game state update fields", "k": 25, "detail": "full"})
        assert any(h["text_truncated"] for h in short["results"])
        assert any("detail='full'" in n for n in short["notes"])
        assert max(len(h["text"]) for h in full["results"]) > max(
            len(h["text"]) for h in short["results"])

        code = await call(c, "search_code_context",
                          {"query": "write-ahead log", "path_prefix": "store/", "mode": "text"})
        assert code["results"] and all(
            h["metadata"]["path"].startswith("store/") for h in code["results"])

        notes = await call(c, "search_debug_notes", {"query": "cash balance", "tags": ["cash"]})
        assert notes["results"] and all(h["reasoning"] for h in notes["results"])
        assert notes["results"][0]["caveat"] and any("not ground truth" in n
                                                      for n in notes["notes"])

        both = await call(c, "search", {"query": "cash balance", "k": 20})
        assert both["tables"] == ["events", "code_context"]
        assert "debug_notes" not in {h["table"] for h in both["results"]}
        with_notes = await call(c, "search",
                                {"query": "cash balance", "k": 25, "include_notes": True})
        assert "debug_notes" in {h["table"] for h in with_notes["results"]}


async def test_bad_arguments_are_errors_that_name_the_fix(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        assert "k" in await error(c, "search_events", {"query": "x", "k": 0})
        assert "mode" in await error(c, "search", {"query": "x", "mode": "fuzzy"})
        assert "date_from" in await error(c, "search_events",
                                          {"query": "x", "date_from": "yesterday"})
        msg = await error(c, "describe_event", {"name": "playerUpdat"})
        assert "did you mean playerUpdate" in msg
        msg = await error(c, "get_game_episode", {"game_id": "no-such-game"})
        assert "list" in msg.lower() and "no-such-game" in msg
        msg = await error(c, "query_sql", {"sql": "DROP VIEW ws_event"})
        assert "DROP" in msg and "read-only" in msg and "SELECT" in msg
        msg = await error(c, "query_sql", {"sql": "SELECT * FROM read_csv('/etc/passwd')"})
        assert "data root" in msg
        msg = await error(c, "add_debug_note", {"topic": "x", "text": "y", "tags": ["a" * 60]})
        assert "tags" in msg


async def test_catalog_tools_describe_events_from_the_data(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        lst = await call(c, "list_event_types")
        names = {e["event_name"]: e for e in lst["events"]}
        assert {"playerUpdate", "gameStateUpdate", "standard/newTrade"} <= set(names)
        assert names["playerUpdate"]["validation_status"] == "unverified"
        assert names["playerUpdate"]["field_count"] > 3
        sent = await call(c, "list_event_types", {"direction": "sent"})
        assert {e["event_name"] for e in sent["events"]} >= {"getLeaderboard"}
        assert all("sent" in e["directions"] for e in sent["events"])

        d = await call(c, "describe_event", {"name": "playerupdate", "max_fields": 5})
        assert d["event_name"] == "playerUpdate" and len(d["fields"]) == 5
        assert d["fields_total"] > 5 and any("max_fields" in n for n in d["notes"])
        paths = {f["path"] for f in (await call(
            c, "describe_event", {"name": "playerUpdate", "max_fields": 300}))["fields"]}
        assert "cash" in paths
        cash = await call(c, "describe_event", {"name": "playerUpdate", "field_prefix": "cash"})
        f = cash["fields"][0]
        assert f["types"] and 0 < f["presence"] <= 1 and f["examples"]


async def test_catalog_tools_show_documented_vs_observed_with_a_docs_root(
        mcp_root: McpRoot) -> None:
    docs = str(REPO / "tests" / "fixtures" / "protocol_docs")
    async with stdio_client(mcp_root, RUGS_PROTOCOL_DOCS=docs) as c:
        names = {e["event_name"]: e for e in (await call(c, "list_event_types"))["events"]}
        req = names["requestSidebet"]  # in the spec, never captured
        assert req["documented"] == "documented_only" and req["count"] == 0
        assert req["docs_verified"] is True and "sent" in req["directions"]
        assert names["playerUpdate"]["documented"] == "both"
        assert names["playerUpdate"]["drift"]["both"] > 10
        assert names["getLeaderboard"]["documented"] == "observed_only"

        d = await call(c, "describe_event", {"name": "requestSidebet"})
        assert d["documented"] == "documented_only" and d["docs"]["verified"] is True
        assert {f["path"] for f in d["documented_only_fields"]} == {
            "amount", "coinAddress", "xPayout"}
        assert any("never captured" in n for n in d["notes"])
        cash = await call(c, "describe_event", {"name": "playerUpdate", "field_prefix": "cash"})
        f = cash["fields"][0]
        assert f["documented"] == "both" and f["doc_description"] == "TRUE wallet balance"
        assert f["doc_type"] == "float" and f.get("type_mismatch") is None


async def test_sql_and_game_tools_page_and_bound_their_rows(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        q = await call(c, "query_sql", {
            "sql": "SELECT event_name, count(*) AS n FROM ws_event GROUP BY 1 ORDER BY 1"})
        assert q["columns"][1] == {"name": "n", "type": "BIGINT"} and q["row_count"] > 3
        assert not q["truncated"]
        big = await call(c, "query_sql", {"sql": "SELECT * FROM range(100000)"})
        assert big["truncated"] and big["more_rows"] and big["row_count"] == 500
        assert any("row cap" in n for n in big["notes"])
        price = await call(c, "query_sql", {
            "sql": f"SELECT max(price) FROM game_tick WHERE game_id = '{LEGACY_GAME}'"})
        assert isinstance(price["rows"][0][0], str)  # exact decimal, as text

        games = await call(c, "list_games", {"limit": 1})
        assert games["count"] == 1 and games["games"][0]["game_id"]
        ep = await call(c, "get_game_episode", {"game_id": LEGACY_GAME, "limit": 3})
        assert ep["returned"] == 3 and ep["next_offset"] == 3 and "tick" in ep["columns"]
        ticks = [r[ep["columns"].index("tick")] for r in ep["rows"]]
        assert ticks == sorted(ticks)
        rest = await call(c, "get_game_episode",
                          {"game_id": LEGACY_GAME, "offset": 3, "limit": 500})
        assert rest["next_offset"] is None and rest["returned"] >= 1
        feats = await call(c, "get_tick_features", {"game_id": LEGACY_GAME, "limit": 500})
        assert {"volatility_5", "drawdown", "max_price"} <= set(feats["columns"])
        assert "past the last tick" in await error(
            c, "get_game_episode", {"game_id": LEGACY_GAME, "offset": 10_000})


async def test_index_status_sync_and_a_new_note_is_searchable_at_once(
    mcp_root: McpRoot,
) -> None:
    async with stdio_client(mcp_root) as c:
        st = await call(c, "index_status")
        tables = {t["table"]: t for t in st["tables"]}
        assert set(tables) == {"events", "code_context", "debug_notes"}
        assert all(t["built"] and t["rows"] for t in tables.values())
        assert tables["events"]["fingerprint"]["model_id"] == "hash:64"
        assert tables["code_context"]["pending_sources"] == 0

        sync = await call(c, "sync_index", {"table": "code_context"})
        assert sync["noop"] and sync["embedded"] == 0

        added = await call(c, "add_debug_note", {
            "topic": "rug detection", "tags": ["rug", "gamestateupdate"],
            "text": "zorblax: a rug tick carries active=true and rugged=true together"})
        assert added["indexed"] and added["note_id"].startswith("note-")
        assert added["file"].startswith(str(mcp_root.data))
        found = await call(c, "search_debug_notes", {"query": "zorblax", "mode": "text"})
        assert found["results"][0]["metadata"]["note_id"] == added["note_id"]


async def test_resources_expose_contexts_schemas_and_the_catalog(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        uris = {str(r.uri) for r in (await c.list_resources()).resources}
        assert {"rugs://schema", "rugs://schema/game_tick", "rugs://catalog",
                "rugs://context/CONTEXT.md", "rugs://context/store/CONTEXT.md"} <= uris
        templates = {t.uri_template for t in (await c.list_resource_templates())
                     .resource_templates}
        assert "rugs://catalog/{event_name}" in templates

        schema = json.loads((await c.read_resource("rugs://schema/game_tick")).contents[0].text)
        cols = {col["name"]: col for col in schema["columns"]}
        assert cols["price"]["type"] == "decimal128(38, 18)" and cols["price"]["typed"]
        ctx = (await c.read_resource("rugs://context/store/CONTEXT.md")).contents[0].text
        assert "write-ahead" in ctx
        cat = json.loads((await c.read_resource("rugs://catalog")).contents[0].text)
        assert "playerUpdate" in cat["events"]
        one = json.loads((await c.read_resource("rugs://catalog/playerUpdate")).contents[0].text)
        assert one["event_name"] == "playerUpdate" and one["fields"]


async def test_rugs_expert_prompt_tells_how_to_use_the_tools(mcp_root: McpRoot) -> None:
    async with stdio_client(mcp_root) as c:
        prompts = {p.name: p for p in (await c.list_prompts()).prompts}
        assert "rugs-expert" in prompts
        got = await c.get_prompt("rugs-expert", {"question": "What is playerUpdate.cash?"})
        served = {t.name for t in (await c.list_tools()).tools}
    text = got.messages[0].content.text
    assert cited_tools() <= served
    for tool in cited_tools():
        assert f"`{tool}`" in text
    # the same workflow as the Claude Code agent: exact names from the catalog come first
    assert text.index("`list_event_types`") < text.index("`search_events`")
    assert text.rstrip().endswith("What is playerUpdate.cash?")


async def test_cli_serve_speaks_stdio_and_sees_rows_a_running_writer_flushes(
    mcp_root: McpRoot, tmp_path: Any
) -> None:
    from store.settings import Settings
    from store.writer import EventWriter
    from tests.event_store import make_event

    root = McpRoot(data=tmp_path / "live", contexts=mcp_root.contexts)
    settings = Settings.load(data_dir=root.data)
    with EventWriter.open(settings) as w:  # holds the single-writer lock throughout
        w.write_many([make_event(i) for i in range(3)])
        w.flush()
        async with stdio_client(root, "-m", "replayer.cli", "serve", "--no-warm") as c:
            sql = {"sql": "SELECT count(*) FROM game_tick"}
            assert (await call(c, "query_sql", sql))["rows"] == [[3]]
            w.write_many([make_event(i) for i in range(3, 10)])
            w.flush()
            assert (await call(c, "query_sql", sql))["rows"] == [[10]]


async def test_initialize_answers_before_the_model_would_have_loaded(mcp_root: McpRoot) -> None:
    from mcp import Client

    started = time.perf_counter()
    # The real model id: if anything imported torch before answering, this would take >4 s.
    params = server_params(mcp_root, "-m", "mcp_server", RUGS_MODEL_ID="all-MiniLM-L6-v2")
    async with Client(params) as c:
        elapsed = time.perf_counter() - started
        res = await c.call_tool("query_sql", {
            "sql": "SELECT count(*) FROM ws_event"})
        assert not res.is_error
    assert elapsed < 4.0, elapsed


@pytest.mark.slow
async def test_real_model_end_to_end_finds_the_player_balance_event_on_onnxruntime(
    tmp_path: Any, real_embedder: Any
) -> None:
    from tests.conftest import link_model_export
    from tests.mcp_server.conftest import build_root

    root = build_root(tmp_path, model="all-MiniLM-L6-v2", embedder=real_embedder)
    link_model_export(real_embedder, root.data)  # the export a first build would have made
    async with stdio_client(root) as c:
        res = await call(c, "search_events", {
            "query": "how much money does the logged-in player have", "k": 5})
        names = [h["metadata"].get("event_name") for h in res["results"]]
        assert "playerUpdate" in names, names
        # The real model ranked them (a BM25-only hit may sit among the top ones too).
        assert any(h["vector_score"] is not None for h in res["results"][:3])
        st = await call(c, "index_status")
        assert st["model_loaded"] and st["query_backend"] == "onnxruntime", st
        assert {t["fingerprint"]["model_id"] for t in st["tables"]} == {"all-MiniLM-L6-v2"}


async def test_searches_keep_answering_while_the_indexer_rebuilds_the_table(
    mcp_root: McpRoot, tmp_path: Any
) -> None:
    import shutil
    import threading

    from indexer.build import build_full, build_incremental
    from store.settings import Settings

    root = McpRoot(data=tmp_path / "data", contexts=mcp_root.contexts)
    shutil.copytree(mcp_root.data, root.data)
    settings = Settings.load(data_dir=root.data, model_id="hash:64",
                             context_roots=str(root.contexts))
    stop = threading.Event()
    builds: list[int] = []
    failures: list[BaseException] = []

    def rebuild() -> None:
        try:
            while not stop.is_set():
                build_full(settings, "code_context")
                build_incremental(settings, "code_context")
                builds.append(1)
        except BaseException as exc:  # reported below
            failures.append(exc)

    async with stdio_client(root) as c:
        t = threading.Thread(target=rebuild)
        t.start()
        try:
            for i in range(15):
                res = await call(c, "search_code_context",
                                 {"query": f"write-ahead log {i}", "mode": "text"})
                assert res["results"], res
        finally:
            stop.set()
            t.join()
    assert not failures and builds
