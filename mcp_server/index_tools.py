"""Index tools: status, incremental sync, debug notes (over indexer.stats, build and notes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_server.errors import tool_errors
from mcp_server.models import IndexStatus, NoteAdded, SyncResult, TableStatus, respond
from store.paths import TableName

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from mcp_server.state import ServerState

Table = Annotated[
    TableName,
    Field(description="events (protocol knowledge from the store), code_context "
          "(CONTEXT.md files) or debug_notes"),
]


def _sync_result(report: Any) -> SyncResult:
    return SyncResult(
        table=report.table, noop=report.noop, embedded=report.embedded,
        chunks_written=report.chunks_written, rows_deleted=report.rows_deleted,
        rows=report.rows, duration_s=round(report.duration_s, 3),
        sources_added=report.sources_added, sources_changed=report.sources_changed,
        sources_removed=report.sources_removed, warnings=list(report.warnings),
    )


def register(server: MCPServer, state: ServerState) -> None:
    """Add index_status, sync_index and add_debug_note to the server."""

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
                 structured_output=True)
    @tool_errors
    def index_status() -> Annotated[CallToolResult, IndexStatus]:
        """Per vector table: built or not, rows, last build, sources pending (added /
        changed / removed since the last build) and the model fingerprint. If sources are
        pending, sync_index(table) brings the table up to date."""
        from indexer.stats import stats

        out = []
        notes = []
        for st in stats(state.settings):
            pending = sum(st.pending.values()) if st.pending is not None else None
            out.append(TableStatus(
                table=st.table, built=st.built, rows=st.rows if st.built else None,
                last_build=st.last_build, pending_sources=pending, fingerprint=st.fingerprint,
                details={"pending": st.pending, "sources": st.sources, "dirty": st.dirty,
                         "fingerprint_matches": st.fingerprint_matches,
                         "warnings": st.warnings[:10]},
            ))
            if not st.built:
                notes.append(f"{st.table} is not built: sync_index(table='{st.table}')")
            elif pending:
                notes.append(f"{st.table} has {pending} pending source(s): "
                             f"sync_index(table='{st.table}')")
        if state.warm_error:
            notes.append(f"warm-up failed: {state.warm_error}")
        model = state.query_model()
        if model.get("fallback_reason"):
            notes.append(f"query embedding runs on sentence-transformers: "
                         f"{model['fallback_reason']}")
        return respond(IndexStatus(tables=out, model_loaded=bool(model.get("loaded")),
                                   query_backend=model.get("backend"), notes=notes))

    @server.tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
        structured_output=True,
    )
    @tool_errors
    def sync_index(table: Table) -> Annotated[CallToolResult, SyncResult]:
        """Bring one vector table up to date with its sources (an incremental build: only
        new or changed chunks are embedded, vanished sources are removed). Searches keep
        working meanwhile and see the new rows as soon as it returns."""
        from indexer.build import build_incremental

        report = build_incremental(state.settings, table, embedder=state.embedder())
        return respond(_sync_result(report))

    @server.tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=False, open_world_hint=False),
        structured_output=True,
    )
    @tool_errors
    def add_debug_note(
        topic: Annotated[
            str, Field(min_length=1, max_length=200,
                       description="short subject, e.g. 'playerUpdate cash after a sell'")
        ],
        text: Annotated[
            str, Field(min_length=1, max_length=50_000,
                       description="the reasoning or decision rationale, with the evidence")
        ],
        tags: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=50)]],
            Field(max_length=20, description="lower-case tags, e.g. ['playerupdate', 'pnl']"),
        ] = [],  # noqa: B006 - pydantic copies defaults; this is the schema's default
        author: Annotated[
            str | None, Field(max_length=100, description="who writes it (default: mcp-agent)")
        ] = None,
    ) -> Annotated[CallToolResult, NoteAdded]:
        """Record a debug note (reasoning, a finding, a decision and why) durably in the
        canonical notes file, then index it so search_debug_notes finds it. Notes are
        reasoning, not ground truth: say what evidence supports them."""
        from indexer.notes import add_note

        res = add_note(state.settings, topic, text, tags, author or "mcp-agent",
                       embedder=state.embedder())
        notes = []
        if not res.indexed:
            notes.append(f"stored but not indexed yet ({res.index_error}); "
                         "sync_index(table='debug_notes') retries")
        return respond(NoteAdded(note_id=res.note.note_id, file=str(res.path), indexed=res.indexed,
                         notes=notes))
