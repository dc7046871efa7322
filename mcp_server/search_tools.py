"""Search tools: thin wrappers over `indexer.search`, with results sized for an agent's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_server.errors import tool_errors
from mcp_server.models import SearchHit, SearchResponse, respond
from store.paths import SEARCH_DEFAULT_TABLES, TABLE_NAMES

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from indexer.filters import Filter
    from indexer.search import SearchResult
    from mcp_server.state import ServerState

SNIPPET_CHARS = 400
FULL_CHARS = 6_000
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

Query = Annotated[
    str,
    Field(
        min_length=1,
        max_length=500,
        description="What you are looking for, in words or exact names, e.g. "
        "'which fields does playerUpdate carry' or 'gameStateUpdate rugged'",
    ),
]
K = Annotated[int, Field(ge=1, le=25, description="How many results (1-25).")]
Mode = Annotated[
    Literal["hybrid", "vector", "text"],
    Field(
        description="hybrid (default): meaning + exact words, fused; vector: meaning only; "
        "text: exact words (BM25), best for event and field names"
    ),
]
Detail = Annotated[
    Literal["snippet", "full"],
    Field(
        description=f"snippet (default): the first {SNIPPET_CHARS} characters of each hit; "
        f"full: the whole chunk (up to {FULL_CHARS} characters)"
    ),
]
Date = Annotated[
    str | None,
    Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD, inclusive"),
]


def _filters(**pairs: Any) -> list[Filter]:
    """Filter objects for the given (column, op) -> value pairs that are set."""
    from indexer.filters import Filter

    out = []
    for key, value in pairs.items():
        if value is None or value == [] or value == "":
            continue
        column, _, op = key.partition("__")
        if isinstance(value, list):
            out.append(Filter(column, "in", [str(v) for v in value]))
        else:
            out.append(Filter(column, op or "eq", str(value)))  # type: ignore[arg-type]
    return out


def _hit(r: SearchResult, detail: str) -> SearchHit:
    limit = FULL_CHARS if detail == "full" else SNIPPET_CHARS
    text = r.text if len(r.text) <= limit else r.text[:limit] + "…"
    d = r.to_dict()
    return SearchHit(
        table=r.table,
        score=d["score"],
        source=r.source,
        text=text,
        text_truncated=len(r.text) > limit,
        chunk_id=r.chunk_id,
        metadata=r.metadata,
        vector_score=d["vector_score"],
        text_score=d["text_score"],
        reasoning=r.reasoning,
        caveat=d.get("caveat"),
    )


def run_search(
    state: ServerState,
    query: str,
    *,
    k: int,
    mode: str,
    detail: str,
    table: str | None = None,
    filters: list[Filter] | None = None,
    include_notes: bool = False,
) -> SearchResponse:
    """One search through the search worker's Searcher, shaped for an agent."""
    results = state.search(
        query, table=table, k=k, mode=mode, filters=filters or None, include_notes=include_notes
    )
    if table is not None:
        tables = [table]
    else:
        tables = [n for n in TABLE_NAMES if n in SEARCH_DEFAULT_TABLES or include_notes]
    hits = [_hit(r, detail) for r in results]
    notes = []
    if not hits:
        notes.append(
            "no results: loosen the filters, try mode='text' for exact names or "
            "mode='vector' for paraphrases, or check index_status"
        )
    cut = sum(h.text_truncated for h in hits)
    if cut:
        notes.append(
            f"{cut} text(s) cut to {SNIPPET_CHARS if detail == 'snippet' else FULL_CHARS} "
            "characters" + (": call again with detail='full' to read them whole"
                            if detail == "snippet" else "")
        )
    if any(h.reasoning for h in hits):
        notes.append(
            "debug_notes hits are recorded reasoning, not ground truth: verify them with "
            "describe_event or query_sql"
        )
    return SearchResponse(query=query, mode=mode, tables=tables, count=len(hits), results=hits,
                          notes=notes)


def register(server: MCPServer, state: ServerState) -> None:
    """Add the four search tools to the server."""

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def search_events(
        query: Query,
        k: K = 8,
        mode: Mode = "hybrid",
        event_name: Annotated[
            str | None, Field(description="only this event, e.g. playerUpdate")
        ] = None,
        doc_type: Annotated[
            Literal["ws_event", "game_tick", "player_action", "server_state", "system_event",
                    "complete_game"] | None,
            Field(description="only chunks from rows of this doc type"),
        ] = None,
        game_id: Annotated[str | None, Field(description="only this game")] = None,
        kind: Annotated[
            str | None,
            Field(description="chunk kind, e.g. schema card, game summary or a notable "
                  "event kind such as trade"),
        ] = None,
        date_from: Date = None,
        date_to: Date = None,
        detail: Detail = "snippet",
    ) -> Annotated[CallToolResult, SearchResponse]:
        """Search the protocol knowledge in the `events` table: one schema card per event
        name (fields, types, examples, validation status), game summaries and notable
        events (trades, rugs, player state changes, client-sent events). Start here for
        "what is X / which fields does Y carry / what happens when Z" questions; confirm
        numbers with query_sql."""
        flts = _filters(event_name=event_name, doc_type=doc_type, game_id=game_id, kind=kind,
                        date__gte=date_from, date__lte=date_to)
        return respond(run_search(state, query, k=k, mode=mode, detail=detail, table="events",
                          filters=flts))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def search_code_context(
        query: Query,
        k: K = 8,
        mode: Mode = "hybrid",
        path_prefix: Annotated[
            str | None, Field(description="only CONTEXT.md files under this path, e.g. store/")
        ] = None,
        module: Annotated[str | None, Field(description="only this module name")] = None,
        detail: Detail = "snippet",
    ) -> Annotated[CallToolResult, SearchResponse]:
        """Search the CONTEXT.md files of the code bases (module purposes, relationships,
        data flow, key decisions) in the `code_context` table. Use it for "which module
        does X / how does data flow / why was Y decided"."""
        flts = _filters(path__prefix=path_prefix, module=module)
        return respond(run_search(state, query, k=k, mode=mode, detail=detail, table="code_context",
                          filters=flts))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def search_debug_notes(
        query: Query,
        k: K = 8,
        mode: Mode = "hybrid",
        tags: Annotated[
            list[Annotated[str, Field(max_length=50)]] | None,
            Field(max_length=20, description="notes carrying any of these tags"),
        ] = None,
        topic_contains: Annotated[
            str | None, Field(max_length=200, description="notes whose topic contains this")
        ] = None,
        detail: Detail = "snippet",
    ) -> Annotated[CallToolResult, SearchResponse]:
        """Search debug notes: earlier agents' and developers' reasoning and decision
        rationale. Hits are marked reasoning=true: they are not ground truth, check them
        against the data."""
        flts = _filters(tags=[t.lower() for t in tags or []], topic__contains=topic_contains)
        return respond(run_search(state, query, k=k, mode=mode, detail=detail, table="debug_notes",
                          filters=flts))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def search(
        query: Query,
        k: K = 8,
        mode: Mode = "hybrid",
        include_notes: Annotated[
            bool, Field(description="also search debug_notes (reasoning, not ground truth)")
        ] = False,
        detail: Detail = "snippet",
    ) -> Annotated[CallToolResult, SearchResponse]:
        """Search events and code_context together (and debug_notes only when
        include_notes is true), best results first across tables."""
        return respond(run_search(state, query, k=k, mode=mode, detail=detail,
                          include_notes=include_notes))
