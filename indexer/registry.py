"""The three tables: their filterable columns, chunker version and where their sources come from.

A table's sources come from a provider function `scan_sources(settings) -> SourceScan` found in
a module by name, imported only when a build or stats needs it. The `events` provider lives in
`indexer.events_source` (issue "Event knowledge"); replacing a provider never touches the
build: `with_provider()` makes a spec with another one, which the build takes as `spec=`
(tests use it for in-memory sources).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from chunkers.chunk import EVENTS_CHUNKER_VERSION, MARKDOWN_CHUNKER_VERSION, NOTES_CHUNKER_VERSION
from indexer.errors import IndexerError, ProviderMissingError, UnknownTableError
from indexer.source import SourceScan
from store.paths import TABLE_NAMES
from store.settings import Settings

ColumnKind = Literal["str", "list"]
Provider = Callable[[Settings], SourceScan]

# Bump when the LanceDB row layout (base columns or a table's filter columns) changes: it is
# part of every table fingerprint, so old tables are rebuilt in full, never mixed. A change
# of one table's columns that comes with a bump of that table's chunker version (events-2
# added `events` and `path`) already rebuilds just that table.
TABLE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TableSpec:
    """Everything the build and search need to know about one table."""

    name: str
    description: str
    # metadata keys stored as their own columns so `where` filters can use them
    columns: tuple[tuple[str, ColumnKind], ...]
    chunker_version: str
    provider: str | Provider  # "module:function", imported lazily, or the function itself
    reasoning: bool = False  # results are reasoning, not ground truth (debug notes)

    @property
    def column_kinds(self) -> dict[str, ColumnKind]:
        return dict(self.columns)

    def scan(self, settings: Settings) -> SourceScan:
        fn = resolve_provider(self.provider)
        return fn(settings)

    def effective_chunker_version(self) -> str:
        """The provider module may declare CHUNKER_VERSION itself (so a bump lives with it)."""
        if isinstance(self.provider, str):
            mod = _import_provider_module(self.provider)
            version = getattr(mod, "CHUNKER_VERSION", None) if mod is not None else None
            if isinstance(version, str) and version:
                return version
        return self.chunker_version


def _import_provider_module(target: str) -> object | None:
    module = target.partition(":")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def resolve_provider(provider: str | Provider) -> Provider:
    if callable(provider):
        return provider
    module, _, attr = provider.partition(":")
    mod = _import_provider_module(provider)
    if mod is None:
        raise ProviderMissingError(f"the source provider module {module} is not installed yet")
    fn = getattr(mod, attr or "scan_sources", None)
    if not callable(fn):
        raise IndexerError(f"{module} has no function {attr or 'scan_sources'}")
    return fn  # type: ignore[no-any-return]


_TABLES: dict[str, TableSpec] = {
    "events": TableSpec(
        name="events",
        description="protocol knowledge: schema cards, game summaries and notable events from "
        "the captured events, and sections of the protocol docs",
        columns=(("kind", "str"), ("event_name", "str"), ("doc_type", "str"),
                 ("direction", "str"), ("game_id", "str"), ("player_id", "str"),
                 ("date", "str"), ("ts", "str"), ("field", "str"), ("validation", "str"),
                 ("events", "list"), ("path", "str")),
        chunker_version=EVENTS_CHUNKER_VERSION,
        provider="indexer.events_source:scan_sources",
    ),
    "code_context": TableSpec(
        name="code_context",
        description="CONTEXT.md sections: module purposes, relationships, data flow, decisions",
        columns=(("path", "str"), ("module", "str"), ("heading", "str"), ("root", "str"),
                 ("kind", "str"), ("related", "list")),
        chunker_version=MARKDOWN_CHUNKER_VERSION,
        provider="indexer.context_source:scan_sources",
    ),
    "debug_notes": TableSpec(
        name="debug_notes",
        description="debug notes: AI reasoning and decision rationale (not ground truth)",
        columns=(("topic", "str"), ("tags", "list"), ("author", "str"), ("ts", "str"),
                 ("note_id", "str")),
        chunker_version=NOTES_CHUNKER_VERSION,
        provider="indexer.notes_source:scan_sources",
        reasoning=True,
    ),
}

def table_spec(name: str) -> TableSpec:
    try:
        return _TABLES[name]
    except KeyError:
        raise UnknownTableError(
            f"unknown table {name!r}; tables are: {', '.join(TABLE_NAMES)}"
        ) from None


def with_provider(name: str, provider: str | Provider, chunker_version: str | None = None
                  ) -> TableSpec:
    """A copy of a table's spec with another source provider (not installed)."""
    spec = table_spec(name)
    return replace(spec, provider=provider,
                   chunker_version=chunker_version or spec.chunker_version)
