"""Canonical Parquet event store: schemas, single writer, ingest, DuckDB queries, catalog."""
