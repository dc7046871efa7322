"""Which Parquet files of a partition are committed, honouring an in-flight compaction journal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from store.integrity import usable
from store.paths import DOC_TYPES, DataPaths

PART_GLOB = "part-*.parquet"
COMPACTED_SUFFIX = "-c.parquet"  # compaction outputs; the writer's flush files never end so
JOURNAL_NAME = "_compaction.json"


def is_compacted(f: Path) -> bool:
    """Whether a part file was written by compaction (it replaced other files of its partition)."""
    return f.name.endswith(COMPACTED_SUFFIX)


def read_journal(partition_dir: Path) -> dict[str, Any] | None:
    p = partition_dir / JOURNAL_NAME
    try:
        journal: dict[str, Any] = json.loads(p.read_text())
        return journal
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        # A journal is written atomically, so a torn one cannot exist; treat as absent.
        return None


def partition_files(partition_dir: Path) -> list[Path]:
    """Committed part files of one partition directory, sorted by name.

    Temp files never match `part-*.parquet`. While a compaction's journal says its
    output has been renamed into place, its inputs are hidden, so readers see every
    event exactly once even before the inputs are unlinked. A file that fails the cheap
    structural check (truncated, emptied, overwritten) is moved to quarantine and left
    out (store.integrity), so no reader ever trips over it.
    """
    files = sorted(partition_dir.glob(PART_GLOB))
    journal = read_journal(partition_dir)
    if journal is not None:
        outputs = journal["outputs"]
        if all((partition_dir / o).exists() for o in outputs):
            hidden = set(journal["inputs"])
        else:
            hidden = set(outputs)
        files = [f for f in files if f.name not in hidden]
    return [f for f in files if usable(f)]


def committed_files(
    paths: DataPaths, doc_type: str, date: str | None = None
) -> list[Path]:
    """Every committed part file of a doc type (optionally one date), oldest partition first."""
    out: list[Path] = []
    for day, d in paths.partitions(doc_type):
        if date is None or day == date:
            out.extend(partition_files(d))
    return out


def all_committed_files(paths: DataPaths) -> dict[str, list[Path]]:
    return {t: committed_files(paths, t) for t in DOC_TYPES}
