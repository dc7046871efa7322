"""MCP resources: every CONTEXT.md file, the schema of each doc type, and the event catalog."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resources import FunctionResource

from store.paths import DOC_TYPES

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from mcp_server.state import ServerState

JSON = "application/json"


def _schema_text(doc_type: str) -> str:
    from store.schema import SCHEMA_VERSION, SCHEMAS, TYPED

    typed = {f.name for f in TYPED[doc_type]}
    return json.dumps({
        "doc_type": doc_type,
        "view": doc_type,
        "schema_version": SCHEMA_VERSION,
        "columns": [
            {"name": f.name, "type": str(f.type), "nullable": f.nullable,
             "typed": f.name in typed}
            for f in SCHEMAS[doc_type]
        ],
        "notes": "decimal128(38,18) columns are exact money/prices; raw_json is the original "
                 "payload: json_extract(raw_json, '$.field') reads a field in query_sql",
    }, indent=1)


def context_files(state: ServerState) -> list[tuple[str, Path]]:
    """(resource path, file) of every CONTEXT.md under the configured context roots."""
    from indexer.context_source import discover, resolve_roots

    roots = resolve_roots(state.settings)
    found = discover(roots)
    several = len(roots) > 1
    out = []
    for root, f in found:
        rel = f.relative_to(root).as_posix()
        out.append((f"{root.name}/{rel}" if several else rel, f))
    return out


def _reader(fn: Callable[[], str]) -> Callable[[], str]:
    def read() -> str:
        try:
            return fn()
        except OSError as exc:
            raise ResourceError(f"cannot read it now: {exc}") from exc

    return read


def register(server: MCPServer, state: ServerState) -> None:
    """Add the resources (CONTEXT.md files are listed once, when the server is built)."""

    @server.resource("rugs://schema", name="schema", mime_type=JSON,
                     description="Arrow schema of every doc type (the DuckDB views)")
    def schema_all() -> str:
        from store.schema import manifest_dict

        return json.dumps(manifest_dict(), indent=1)

    for t in DOC_TYPES:
        server.add_resource(FunctionResource.from_function(
            _reader(functools.partial(_schema_text, t)), uri=f"rugs://schema/{t}",
            name=f"schema-{t}", mime_type=JSON,
            description=f"columns of the {t} view: envelope plus its typed columns",
        ))

    @server.resource("rugs://catalog", name="event-catalog", mime_type=JSON,
                     description="every event name: direction, doc types, count, first and "
                     "last seen, field count, validation status")
    def catalog_all() -> str:
        cat = state.catalog()
        return json.dumps({
            "rows": cat.rows,
            "events": {
                n: {"count": e.count, "directions": e.directions, "doc_types": e.doc_types,
                    "first_seen": e.first_seen, "last_seen": e.last_seen,
                    "fields": len(e.fields), "auth": e.auth,
                    "validation": (e.validation or {}).get("status", "unverified")}
                for n, e in sorted(cat.events.items())
            },
        }, indent=1)

    @server.resource("rugs://catalog/{event_name}", name="event", mime_type=JSON,
                     description="the full catalog entry of one event name")
    def catalog_event(event_name: str) -> str:
        from store.catalog import CatalogError, event_to_dict
        from store.catalog import describe_event as lookup

        try:
            return json.dumps(event_to_dict(lookup(state.catalog(), event_name)), indent=1,
                              default=str)
        except CatalogError as exc:
            raise ResourceError(str(exc)) from exc

    for rel, path in context_files(state):
        server.add_resource(FunctionResource.from_function(
            _reader(path.read_text), uri=f"rugs://context/{rel}", name=rel,
            title=f"CONTEXT.md: {rel}", mime_type="text/markdown",
            description=f"purpose, related modules, data flow and key decisions ({rel})",
        ))
