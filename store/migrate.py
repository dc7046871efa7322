"""Schema migrations of a data root: an ordered chain of steps from each version to the next."""

from __future__ import annotations

from collections.abc import Callable

from store.atomic import write_json_atomic
from store.errors import SchemaVersionError
from store.paths import DataPaths
from store.schema import (
    SCHEMA_VERSION,
    ensure_manifest,
    manifest_dict,
    on_disk_version,
)

# version N -> function that rewrites a version-N data root into version N+1.
MIGRATIONS: dict[int, Callable[[DataPaths], None]] = {}


def plan(paths: DataPaths) -> list[int]:
    """The versions whose step must run, in order; refuses a newer on-disk version."""
    current = on_disk_version(paths)
    if current is None:
        return []
    if current > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"data root {paths.root} is at schema version {current}, newer than this code's "
            f"{SCHEMA_VERSION}: upgrade rugs-replayer; refusing to migrate downwards"
        )
    missing = [v for v in range(current, SCHEMA_VERSION) if v not in MIGRATIONS]
    if missing:
        raise SchemaVersionError(f"no migration step from schema version {missing[0]}")
    return list(range(current, SCHEMA_VERSION))


def migrate(paths: DataPaths) -> list[str]:
    """Run every pending step; returns what was done (empty when already current)."""
    steps = plan(paths)
    done = []
    for v in steps:
        MIGRATIONS[v](paths)
        done.append(f"migrated schema {v} -> {v + 1}")
    if steps:
        write_json_atomic(paths.schema_manifest, manifest_dict())
    else:
        ensure_manifest(paths)
    return done
