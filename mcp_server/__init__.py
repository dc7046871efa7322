"""MCP server: search, catalog, sandboxed SQL and index tools for rugs-expert (stdio and HTTP)."""
