"""The catalog of everything committed, cached under manifests/ until the store changes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.catalog.builder import QUICK_HEAD, WALK_FULL, WALK_STRIDE, CatalogRow, build_catalog
from store.catalog.model import CATALOG_VERSION, Catalog, attach_validation
from store.paths import DOC_TYPES, DataPaths

# Bump when the builder computes something differently: part of the cache key, so a cache
# made by older code is recomputed rather than trusted.
BUILDER_REVISION = 5

# ts as epoch microseconds: converting TIMESTAMPTZ values through pytz costs more than the rest.
# Payloads that will not be walked travel as their first QUICK_HEAD characters only: on a live
# day of 8 KB ticks that is most of the bytes read. rn follows the order the builder counts in.
_ROWS_SQL = """
    SELECT event_name, direction, doc_type, epoch_us(ts) AS ts_us,
           CASE WHEN whole THEN raw_json ELSE substr(raw_json, 1, $head) END AS raw_json,
           source, whole
    FROM (
        SELECT *, (rn <= $full OR rn % $stride = 0 OR length(raw_json) <= $head) AS whole
        FROM (SELECT event_name, direction, doc_type, ts, session_id, seq, raw_json, source,
                     row_number() OVER (PARTITION BY event_name, doc_type
                                        ORDER BY ts, session_id, seq) AS rn
              FROM all_events)
    )
    ORDER BY ts, session_id, seq, doc_type
"""


def iter_store_rows(paths: DataPaths, batch_size: int = 4_096) -> Iterator[CatalogRow]:
    """Every committed row of the store in time order, fetched in batches (bounded memory)."""
    from store.views import connect

    con = connect(paths)
    try:
        con.execute("SET enable_progress_bar=false")
        params = {"head": QUICK_HEAD, "full": WALK_FULL, "stride": WALK_STRIDE}
        reader = con.sql(_ROWS_SQL, params=params).to_arrow_reader(batch_size)
        for batch in reader:
            cols = batch.to_pydict()
            for i in range(batch.num_rows):
                us = cols["ts_us"][i]
                yield CatalogRow(
                    cols["event_name"][i], cols["direction"][i], cols["doc_type"][i],
                    datetime.fromtimestamp(us / 1e6, tz=UTC) if us is not None else None,
                    cols["raw_json"][i], cols["source"][i], bool(cols["whole"][i]),
                )
    finally:
        con.close()


def store_fingerprint(paths: DataPaths) -> str:
    """A hash of the committed file list (name, size, mtime): changes whenever the data does."""
    from store.files import committed_files

    h = hashlib.sha256()
    for t in DOC_TYPES:
        for f in committed_files(paths, t):
            try:
                st = f.stat()
            except FileNotFoundError:  # compacted away between listing and stat
                continue
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def catalog_from_store(
    paths: DataPaths, *, use_cache: bool = True, with_validation: bool = True,
    max_age_s: float | None = None,
) -> Catalog:
    """The catalog of everything committed, cached under manifests/ until the data changes.

    `max_age_s`: accept a cache made by the same code up to this many seconds ago even if
    files were committed since (a server next to a live writer: flushes every few seconds
    would otherwise recompute the catalog on every call). Default: exact.
    """
    fp = f"{store_fingerprint(paths)}-r{BUILDER_REVISION}"
    cat: Catalog | None = None
    cp = paths.event_catalog
    if use_cache and cp.exists():
        try:
            cached = json.loads(cp.read_text())
            age = time.time() - cp.stat().st_mtime
        except (OSError, json.JSONDecodeError):
            cached = None  # a damaged cache is recomputed, never trusted
        if cached is not None:
            c = Catalog.from_dict(cached)  # refuses a newer version with a clear message
            same_code = str(c.fingerprint or "").endswith(f"-r{BUILDER_REVISION}")
            fresh = max_age_s is not None and same_code and age <= max_age_s
            if c.version == CATALOG_VERSION and (c.fingerprint == fp or fresh):
                cat = c
    if cat is None:
        cat = build_catalog(iter_store_rows(paths))
        cat.fingerprint = fp
        if use_cache:
            try:
                _write_cache(cp, cat.to_dict())
            except OSError:
                pass  # a read-only data root still answers, just without a cache
    if with_validation:
        from store.validation import load_validation

        attach_validation(cat, load_validation(paths))
    return cat


def _write_cache(path: Path, doc: dict[str, Any]) -> None:
    """Atomic write that keeps key order (field and example order is part of the catalog)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(doc, f, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
