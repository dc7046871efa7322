"""Structured outputs of the MCP tools (pydantic models: they become each tool's outputSchema)."""

from __future__ import annotations

from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field


def respond(model: BaseModel) -> CallToolResult:
    """The tool result: the model as structured content, and as compact JSON text.

    The SDK's own conversion indents the text copy (2 spaces per level), which roughly
    doubles what a row-heavy result costs in the agent's context; this keeps one line.
    Tools declare `Annotated[CallToolResult, Model]` so the outputSchema is still Model's.
    """
    return CallToolResult(
        content=[TextContent(type="text", text=model.model_dump_json(exclude_none=True))],
        structured_content=model.model_dump(mode="json"),
    )


class SearchHit(BaseModel):
    table: str = Field(description="events, code_context or debug_notes")
    score: float = Field(
        description="hybrid: fused score in [0, 1]; vector: cosine similarity; text: BM25")
    source: str = Field(description="where the chunk came from: Parquet partition, file, note id")
    text: str = Field(description="a snippet, or the whole chunk with detail='full'")
    text_truncated: bool = Field(description="true if `text` is shorter than the stored chunk")
    chunk_id: str
    metadata: dict[str, Any] = Field(description="filterable metadata: event_name, path, tags, …")
    vector_score: float | None = None
    text_score: float | None = None
    reasoning: bool = Field(
        False, description="true for debug notes: recorded reasoning, not ground truth"
    )
    caveat: str | None = None


class SearchResponse(BaseModel):
    query: str
    mode: str
    tables: list[str] = Field(description="tables that were asked")
    count: int
    results: list[SearchHit]
    notes: list[str] = Field(
        default_factory=list, description="what was cut or how to get more; read these"
    )


class SqlResponse(BaseModel):
    columns: list[dict[str, str]] = Field(description="name and DuckDB type of each column")
    rows: list[list[Any]] = Field(description="row values in column order; decimals as text")
    row_count: int
    truncated: bool = Field(description="true if rows or values were cut: see notes")
    more_rows: bool
    shortened_values: int
    notes: list[str]
    statement_type: str
    elapsed_ms: float


class EventTypeSummary(BaseModel):
    event_name: str
    count: int = Field(description="events stored (0: documented in the protocol docs only)")
    directions: dict[str, int]
    doc_types: dict[str, int]
    first_seen: str | None
    last_seen: str | None
    field_count: int
    auth: str
    validation_status: str = Field(description="`schema verify` status of this project")
    documented: str = Field(
        description="both (in the docs and the data), documented_only (never captured) or "
        "observed_only (not in the docs)")
    docs_verified: bool | None = Field(
        None, description="the docs' own VERIFIED mark; null when the docs do not describe it")
    drift: dict[str, int] = Field(
        default_factory=dict, description="fields per status (both, documented_only, "
        "observed_only, trace_wrapper) and type_mismatch: describe_event lists them")


class EventTypeList(BaseModel):
    total: int = Field(description="event names in the catalog")
    store_rows: int = Field(description="store rows the catalog was computed from")
    events: list[EventTypeSummary]
    notes: list[str] = Field(default_factory=list)


class FieldSummary(BaseModel):
    path: str = Field(description="dotted path; `[]` marks list items, e.g. gameHistory[].id")
    types: list[str] = Field(description="JSON types seen, most frequent first")
    presence: float = Field(description="share of this event's payloads that carry the path")
    examples: list[Any]
    values: list[Any] | None = Field(None, description="every distinct value, when few")
    min: float | None = None
    max: float | None = None
    format: str | None = None
    documented: str | None = Field(
        None, description="both, documented_only or observed_only (null: no docs root)")
    doc_type: str | None = Field(None, description="the type the docs give, as written")
    doc_description: str | None = Field(None, description="what the docs say it is")
    type_mismatch: str | None = Field(None, description="the docs' type against the data's")
    needs_validation: bool | None = Field(
        None, description="the docs mark this field as not yet validated")


class DocumentedField(BaseModel):
    path: str
    doc_type: str
    doc_description: str
    needs_validation: bool = False
    seen_at: list[str] = Field(default_factory=list,
                               description="observed paths with the same name (moved?)")


class EventDescription(BaseModel):
    event_name: str
    count: int
    directions: dict[str, int]
    doc_types: dict[str, int]
    sources: dict[str, int]
    first_seen: str | None
    last_seen: str | None
    auth: str
    phases: dict[str, int]
    validation: dict[str, Any]
    fields_total: int
    fields: list[FieldSummary]
    shapes: list[dict[str, Any]] = Field(default_factory=list)
    replies_to: dict[str, int] = Field(default_factory=dict)
    answered_by: dict[str, int] = Field(default_factory=dict)
    median_interval_s: float | None = None
    documented: str = Field(
        "observed_only", description="both, documented_only (never captured) or observed_only")
    docs: dict[str, Any] = Field(
        default_factory=dict, description="what the protocol docs say: summary, direction, "
        "auth, phases, category, VERIFIED mark and dates, source files")
    documented_only_fields: list[DocumentedField] = Field(
        default_factory=list, description="fields the docs describe that the data never showed")
    notes: list[str] = Field(default_factory=list)


class GameList(BaseModel):
    count: int
    offset: int
    next_offset: int | None = Field(description="pass as offset for the next page; null at end")
    games: list[dict[str, Any]]


class EpisodePage(BaseModel):
    game_id: str
    kind: str = Field(description="ticks or features")
    offset: int
    returned: int
    next_offset: int | None = Field(description="pass as offset for the next page; null at end")
    columns: list[str]
    rows: list[list[Any]] = Field(description="values in column order; decimals as text")
    notes: list[str] = Field(default_factory=list)


class TableStatus(BaseModel):
    table: str
    built: bool
    rows: int | None = None
    last_build: dict[str, Any] | None = None
    pending_sources: int | None = None
    fingerprint: dict[str, Any] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class IndexStatus(BaseModel):
    tables: list[TableStatus]
    model_loaded: bool = Field(description="whether the query embedding model is warm")
    query_backend: str | None = Field(
        default=None, description="runtime of the query model: onnxruntime, "
        "sentence-transformers (torch) or hash (tests); null until it has loaded")
    notes: list[str] = Field(default_factory=list)


class SyncResult(BaseModel):
    table: str
    noop: bool
    embedded: int
    chunks_written: int
    rows_deleted: int
    rows: int
    duration_s: float
    sources_added: int
    sources_changed: int
    sources_removed: int
    warnings: list[str] = Field(default_factory=list)


class NoteAdded(BaseModel):
    note_id: str
    file: str = Field(description="the canonical notes file it was appended to")
    indexed: bool = Field(description="true once it is searchable in debug_notes")
    notes: list[str] = Field(default_factory=list)
