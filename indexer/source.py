"""What a table is built from: sources that give a cheap signature and, only if changed, chunks.

A source is one canonical input (a CONTEXT.md file, a month of notes, a Parquet partition).
The build compares each source's signature with the checkpoint and asks for chunks only when
it differs, so a no-op run reads no content at all beyond what the signature needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chunkers.chunk import Chunk


@runtime_checkable
class Source(Protocol):
    """One canonical input of a table."""

    @property
    def key(self) -> str:
        """Stable identity (absolute file path, `doc_type/date` partition, notes file name)."""
        ...

    @property
    def signature(self) -> str:
        """Cheap fingerprint of the content: equal signatures mean "nothing to do".

        It must change whenever the chunks would change, and should not change when the
        content does not (e.g. a Parquet partition rewritten by compaction with the same rows);
        a spurious change only costs re-chunking: unchanged chunks are never re-embedded.
        """
        ...

    def chunks(self) -> Iterable[Chunk]:
        """Every chunk of this source (called only when its signature changed)."""
        ...


@dataclass(frozen=True)
class CallableSource:
    """A Source from a key, a signature and a function that makes the chunks."""

    key: str
    signature: str
    load: Callable[[], Iterable[Chunk]]

    def chunks(self) -> Iterable[Chunk]:
        return self.load()


def _everything(_key: str) -> bool:
    return True


@dataclass
class SourceScan:
    """The sources of one table as found now.

    `owns(key)` says whether this scan is authoritative for a source key: a checkpointed source
    it owns but did not find has vanished and its rows are deleted. A scan over some
    CONTEXT.md roots owns only keys under those roots, so building with `--root A` never
    deletes what was indexed from root B.
    """

    sources: list[Source]
    owns: Callable[[str], bool] = _everything
    warnings: list[str] = field(default_factory=list)
    scope: str = ""  # human description (e.g. the roots), shown by stats and the hook
    # What the user should hear when the build deletes the rows of these vanished keys
    # (e.g. a docs root no longer set): warnings for the build report.
    on_vanish: Callable[[list[str]], list[str]] | None = None
