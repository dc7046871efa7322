"""`replayer data …` and `replayer schema …`: status, compaction, retention, export, schema."""

from __future__ import annotations

import click

from replayer.app import cli


@cli.group()
def data() -> None:
    """Inspect and maintain the canonical Parquet store."""


@cli.group()
def schema() -> None:
    """Show, verify and migrate the on-disk schema."""
