"""Data tools: event catalog, sandboxed SQL, games and their ticks (thin wrappers over store)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_server.errors import ToolCallError, tool_errors
from mcp_server.models import (
    DocumentedField,
    EpisodePage,
    EventDescription,
    EventTypeList,
    EventTypeSummary,
    FieldSummary,
    GameList,
    SqlResponse,
    respond,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from mcp.server.mcpserver import MCPServer

    from mcp_server.state import ServerState

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
VALUE_CHARS = 200  # a value in an episode row or a catalog example

GameId = Annotated[
    str,
    Field(min_length=1, max_length=200,
          description="a game id such as 20251215-3c3ebc6051054e71 (list_games lists them)"),
]
Offset = Annotated[int, Field(ge=0, description="rows to skip (paging)")]


def _page(table: pa.Table, offset: int, limit: int, game_id: str, kind: str) -> EpisodePage:
    from store.sandbox import json_value

    more = table.num_rows > limit
    table = table.slice(0, limit)
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [[json_value(v, VALUE_CHARS)[0] for v in r] for r in zip(*cols, strict=True)]
    notes = []
    if more:
        notes.append(f"more rows exist: call again with offset={offset + limit}")
    return EpisodePage(
        game_id=game_id, kind=kind, offset=offset, returned=len(rows),
        next_offset=offset + limit if more else None, columns=table.column_names, rows=rows,
        notes=notes,
    )


def ev_auth(docs: Any, name: str) -> str:
    d = docs.get(name)
    return (d.auth or "not said") if d is not None else "not said"


def register(server: MCPServer, state: ServerState) -> None:
    """Add the catalog, SQL and game tools to the server."""

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def list_event_types(
        direction: Annotated[
            Literal["received", "sent"] | None,
            Field(description="received: server to client; sent: client requests"),
        ] = None,
        name_contains: Annotated[
            str | None, Field(max_length=100, description="case-insensitive part of the name")
        ] = None,
    ) -> Annotated[CallToolResult, EventTypeList]:
        """Every event name in the store or the protocol docs with direction, doc types,
        count, first and last seen, number of fields, validation status (verified /
        unverified / needs-correction), whether the docs describe it (both,
        documented_only: never captured, observed_only) with the docs' VERIFIED mark, and
        per-field drift counts. Then describe_event(name) for the fields."""
        from store.drift import drift

        cat = state.catalog()
        docs = state.documented()
        out = []
        for ev in drift(cat, docs):
            name = ev.event_name
            e = cat.get(name)
            dirs = e.directions if e is not None else (
                {ev.documented_direction: 0} if ev.documented_direction else {})
            if direction and direction not in dirs and not (
                    ev.documented_direction == "both" and e is None):
                continue
            if name_contains and name_contains.lower() not in name.lower():
                continue
            counts = ev.counts()
            out.append(EventTypeSummary(
                event_name=name, count=ev.count, directions=dirs,
                doc_types=e.doc_types if e else {}, first_seen=e.first_seen if e else None,
                last_seen=e.last_seen if e else None,
                field_count=len(e.fields) if e else len(docs.events[name].fields),
                auth=e.auth if e else f"documented auth required: {ev_auth(docs, name)}",
                validation_status=ev.validation, documented=ev.status,
                docs_verified=ev.spec_verified,
                drift={k: n for k, n in counts.items() if n and k != "needs_validation"},
            ))
        notes = [] if out else ["no event matches; call without filters to see every name"]
        if not docs.events:
            notes.append("no protocol docs configured (RUGS_PROTOCOL_DOCS): documented vs "
                         "observed is not shown")
        return respond(EventTypeList(total=len(set(cat.events) | set(docs.events)),
                                     store_rows=cat.rows, events=out, notes=notes))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def describe_event(
        name: Annotated[
            str, Field(min_length=1, max_length=200, description="event name, e.g. playerUpdate")
        ],
        field_prefix: Annotated[
            str | None,
            Field(max_length=200, description="only fields whose path starts with this, "
                  "e.g. gameHistory[]"),
        ] = None,
        max_fields: Annotated[int, Field(ge=1, le=300, description="fields to return")] = 60,
    ) -> Annotated[CallToolResult, EventDescription]:
        """One event from the catalog and the protocol docs: direction, auth, doc types,
        phases, validation status (the project's and the docs' VERIFIED mark), what the docs
        say it is, and every field path with JSON types, presence ratio, example values (or
        the full set of values when few), min/max, format, the docs' type and meaning and
        whether docs and data agree; fields only the docs describe are listed apart. Events
        only the docs describe are described from the docs. Unknown names get close matches
        suggested."""
        from store.catalog import EventInfo
        from store.drift import event_drift, resolve_name
        from store.sandbox import json_value

        cat = state.catalog()
        docs = state.documented()
        resolved = resolve_name(set(cat.events) | set(docs.events), name)
        d = docs.get(resolved)
        e = cat.get(resolved) or EventInfo(
            event_name=resolved, count=0, directions={}, doc_types={}, primary_doc_type="",
            sources={}, first_seen=None, last_seen=None, payload_kinds={}, walked=0,
            fields=[], phases={}, validation={"status": "unverified"})
        ev = event_drift(resolved, cat.get(resolved), d, None)
        per_path = {f.path: f for f in ev.fields}
        fields = [f for f in e.fields if not field_prefix or f.path.startswith(field_prefix)]
        shown = fields[:max_fields]
        notes = []
        if len(fields) > len(shown):
            notes.append(
                f"{len(fields) - len(shown)} more field(s): raise max_fields or narrow with "
                "field_prefix"
            )
        if field_prefix and not fields:
            notes.append(f"no field path starts with {field_prefix!r}")

        def short(vals: list[Any] | None) -> list[Any] | None:
            return None if vals is None else [json_value(v, VALUE_CHARS)[0] for v in vals]

        def doc_of(path: str) -> dict[str, Any]:
            if d is None:
                return {}
            fd = per_path.get(path)
            df = docs.field_of(resolved, path)
            status = fd.status if fd is not None else "observed_only"
            if df is not None and status == "observed_only":
                status = "both"  # documented inside an unnamed container (`*.name`)
            out: dict[str, Any] = {"documented": status}
            if df is not None:
                out.update(doc_type=df.type_text or None, doc_description=df.description or None,
                           needs_validation=df.needs_validation)
            if fd is not None and fd.type_mismatch:
                out["type_mismatch"] = fd.type_mismatch
            return out

        missing = [DocumentedField(path=f.path, doc_type=f.documented_type,
                                   doc_description=f.description,
                                   needs_validation=f.needs_validation, seen_at=f.observed_at)
                   for f in ev.fields if f.status == "documented_only"
                   and (not field_prefix or f.path.startswith(field_prefix))]
        if d is None and docs.events:
            notes.append("the protocol docs do not describe this event")
        elif not docs.events:
            notes.append("no protocol docs configured (RUGS_PROTOCOL_DOCS)")
        if e.count == 0:
            notes.append("documented only: the store holds no such event (never captured)")

        return respond(EventDescription(
            event_name=e.event_name, count=e.count, directions=e.directions,
            doc_types=e.doc_types, sources=e.sources, first_seen=e.first_seen,
            last_seen=e.last_seen,
            auth=e.auth if e.count else f"documented auth required: {ev_auth(docs, resolved)}",
            phases=e.phases,
            validation=e.validation or {"status": "unverified"}, fields_total=len(e.fields),
            fields=[
                FieldSummary(path=f.path, types=f.type_names, presence=round(f.presence, 4),
                             examples=short(f.examples) or [], values=short(f.values),
                             min=f.min, max=f.max, format=f.format, **doc_of(f.path))
                for f in shown
            ],
            shapes=[{"key": s.key, "count": s.count, "only_here": s.only_here[:20]}
                    for s in e.shapes],
            replies_to=e.replies_to, answered_by=e.answered_by,
            median_interval_s=e.median_interval_s, documented=ev.status,
            docs={} if d is None else {
                "summary": d.summary, "about": d.about[:3], "direction": d.direction,
                "auth": d.auth, "phases": d.phases, "category": d.category,
                "verified": d.verified, "verified_on": d.verified_on, "sources": d.sources,
                "section": d.section},
            documented_only_fields=missing, notes=notes,
        ))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def query_sql(
        sql: Annotated[
            str,
            Field(min_length=1, max_length=20_000,
                  description="ONE read-only DuckDB SELECT over the views ws_event, "
                  "game_tick, player_action, server_state, system_event, complete_game, "
                  "all_events. Example: SELECT event_name, count(*) FROM ws_event GROUP BY 1"),
        ],
    ) -> Annotated[CallToolResult, SqlResponse]:
        """Run one read-only SQL statement (SELECT, WITH … SELECT, DESCRIBE, SUMMARIZE,
        EXPLAIN SELECT) in a sandbox: no writes, no settings, files only under the data
        root, a timeout, a memory limit, a row cap and a character cap. Truncation is
        reported in `truncated` and `notes`. Money and prices are exact decimals, returned
        as text. Payloads are in raw_json: use json_extract(raw_json, '$.field')."""
        res = state.sandbox().query(sql)
        return respond(SqlResponse(**res.to_dict()))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def list_games(
        limit: Annotated[int, Field(ge=1, le=200, description="games per page")] = 20,
        offset: Offset = 0,
    ) -> Annotated[CallToolResult, GameList]:
        """Games in the store, newest first: id, first/last time, ticks stored, peak and
        final price, whether it rugged, and the end-of-game summary when one exists."""
        from store.query import list_games as games
        from store.sandbox import json_value

        rows = games(state.paths, limit=limit + 1, offset=offset)
        more = len(rows) > limit
        shaped = [{k: json_value(v, VALUE_CHARS)[0] for k, v in r.items()} for r in rows[:limit]]
        return respond(GameList(count=len(shaped), offset=offset,
                        next_offset=offset + limit if more else None, games=shaped))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def get_game_episode(
        game_id: GameId,
        offset: Offset = 0,
        limit: Annotated[int, Field(ge=1, le=500, description="ticks per page")] = 100,
        all_rows: Annotated[
            bool, Field(description="every stored observation instead of one row per tick")
        ] = False,
    ) -> Annotated[CallToolResult, EpisodePage]:
        """The ticks of one game in order (tick, price, phase, active, rugged, cooldown,
        trade count, time, source), one row per tick (its last observation), a page at a
        time; `next_offset` gives the next page."""
        from store.query import get_game_episode as episode

        table = episode(state.paths, game_id, all_rows=all_rows, limit=limit + 1,
                        offset=offset)
        if table.num_rows == 0 and offset > 0:
            raise ToolCallError(f"offset {offset} is past the last tick of game {game_id}: "
                                "start again at offset 0")
        return respond(_page(table, offset, limit, game_id, "ticks"))

    @server.tool(annotations=READ_ONLY, structured_output=True)
    @tool_errors
    def get_tick_features(
        game_id: GameId,
        offset: Offset = 0,
        limit: Annotated[int, Field(ge=1, le=500, description="ticks per page")] = 100,
    ) -> Annotated[CallToolResult, EpisodePage]:
        """Per-tick features of one game computed in DuckDB: price_change, pct_change,
        volatility_5, volatility_10 (stddev of returns over the last 5/10 ticks),
        max_price so far and drawdown from it, a page at a time."""
        from store.query import get_tick_features as features

        table = features(state.paths, game_id, limit=limit + 1, offset=offset)
        if table.num_rows == 0 and offset > 0:
            raise ToolCallError(f"offset {offset} is past the last tick of game {game_id}: "
                                "start again at offset 0")
        return respond(_page(table, offset, limit, game_id, "features"))
