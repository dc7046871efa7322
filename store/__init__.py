"""Canonical Parquet event store: schemas, the single writer, ingest, DuckDB queries and the event catalog."""
