"""The catalog of everything committed: merged from day partials, cached until the store changes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from store.catalog.builder import QUICK_HEAD, WALK_FULL, WALK_STRIDE, CatalogRow, from_us
from store.catalog.model import CATALOG_VERSION, Catalog, attach_validation
from store.catalog.partials import RefreshReport, merged_builder
from store.derived import StoredFile, read_json, stored_files, write_json
from store.paths import DataPaths

# Bump when the builder computes something differently: part of every cache key, so partials
# and catalogs made by older code are recomputed rather than trusted.
BUILDER_REVISION = 7

# The whole store in one time-ordered pass, for comparing the merged catalog with a single
# builder over every row (tests, benches). Per event name and doc type, as the builder counts.
_ROWS_SQL = """
    SELECT event_name, direction, doc_type, epoch_us(ts) AS ts_us,
           CASE WHEN whole THEN raw_json ELSE substr(raw_json, 1, $head) END AS raw_json,
           source, whole
    FROM (
        SELECT *, (rn <= $full OR rn % $stride = 0 OR length(raw_json) <= $head) AS whole
        FROM (SELECT event_name, direction, doc_type, ts, session_id, seq, event_id, raw_json,
                     source,
                     row_number() OVER (PARTITION BY event_name, doc_type
                                        ORDER BY ts, session_id, seq, event_id) AS rn
              FROM all_events)
    )
    ORDER BY ts, session_id, seq, doc_type, event_id
"""


def iter_store_rows(paths: DataPaths, batch_size: int = 4_096) -> Iterator[CatalogRow]:
    """Every committed row of the store in time order, fetched in batches (bounded memory).

    The input of a single `CatalogBuilder` over the whole store (sampled as one day would
    be): the reference the merged day partials are compared with.
    """
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
                    from_us(us) if us is not None else None,
                    cols["raw_json"][i], cols["source"][i], bool(cols["whole"][i]),
                )
    finally:
        con.close()


def _fingerprint(files: list[StoredFile]) -> str:
    h = hashlib.sha256()
    for f in files:
        name, size, mtime = f.stamp
        h.update(f"{name}\0{size}\0{mtime}\n".encode())
    return f"{h.hexdigest()[:32]}-r{BUILDER_REVISION}"


def store_fingerprint(paths: DataPaths) -> str:
    """A hash of the committed file list (name, size, mtime) and the builder revision:
    changes whenever the data does."""
    return _fingerprint(stored_files(paths))


@dataclass
class CatalogUpdate:
    """A catalog and how it was obtained: `source` is "cache" (the cached catalog was
    current, or young enough for `max_age_s`) or "partials" (merged, `report` says how)."""

    catalog: Catalog
    source: str
    report: RefreshReport | None = None
    seconds: float = 0.0


def update_catalog(
    paths: DataPaths, *, use_cache: bool = True, max_age_s: float | None = None
) -> CatalogUpdate:
    """The catalog of everything committed, without validation records.

    With `use_cache`: the cached catalog (`DataPaths.event_catalog`) when it was made from
    exactly the committed files (or, with `max_age_s`, by the same code at most that many
    seconds ago), else the merge of the day partials, recomputing only the days whose files
    changed. Without: every day built from its rows, nothing read or written (a full
    rebuild, `replayer data events --refresh`).
    """
    t0 = time.perf_counter()
    for attempt in range(3):
        files = stored_files(paths)
        fp = _fingerprint(files)
        if use_cache:
            cached = _cached(paths, fp, max_age_s)
            if cached is not None:
                return CatalogUpdate(cached, "cache", None, time.perf_counter() - t0)
        try:
            builder, report = merged_builder(paths, files, BUILDER_REVISION, use_cache=use_cache)
        except Exception as exc:
            if attempt < 2 and _vanished(exc):
                continue  # compaction unlinked a listed file: list again
            raise
        break
    cat = builder.build()
    cat.fingerprint = fp
    if use_cache and report.cached:
        try:
            write_json(paths.event_catalog, cat.to_dict())
        except OSError:
            pass  # a read-only data root still answers, just without a cache
    return CatalogUpdate(cat, "partials", report, time.perf_counter() - t0)


def _vanished(exc: Exception) -> bool:
    import duckdb

    return isinstance(exc, duckdb.IOException | FileNotFoundError)


def _cached(paths: DataPaths, fp: str, max_age_s: float | None) -> Catalog | None:
    cp = paths.event_catalog
    doc = read_json(cp)
    if not isinstance(doc, dict):
        return None  # missing or damaged: recomputed, never trusted
    c = Catalog.from_dict(doc)  # refuses a newer version with a clear message
    if c.version != CATALOG_VERSION:
        return None
    if c.fingerprint == fp:
        return c
    if max_age_s is None or not str(c.fingerprint or "").endswith(f"-r{BUILDER_REVISION}"):
        return None
    try:
        age = time.time() - cp.stat().st_mtime
    except OSError:
        return None
    return c if age <= max_age_s else None


def catalog_from_store(
    paths: DataPaths, *, use_cache: bool = True, with_validation: bool = True,
    max_age_s: float | None = None,
) -> Catalog:
    """The catalog of everything committed (see `update_catalog`), with validation records.

    `max_age_s`: accept a cache made by the same code up to this many seconds ago even if
    files were committed since (a server next to a live writer: flushes every few seconds
    would otherwise merge the newest day again on every call). Default: exact.
    """
    cat = update_catalog(paths, use_cache=use_cache, max_age_s=max_age_s).catalog
    if with_validation:
        from store.validation import load_validation

        attach_validation(cat, load_validation(paths))
    return cat
