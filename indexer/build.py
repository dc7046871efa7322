"""Incremental and full builds of one vector table from its sources, checkpointed and crash-safe.

Incremental: only sources whose signature changed are chunked; of their chunks only those with
a new id or a new content hash need a vector, and a vector already in the table (or made
earlier in this run) for the same content hash is reused, so identical texts are embedded
once. A metadata-only change rewrites the row with its old vector. Rows of vanished sources
are deleted. Each step is one LanceDB commit, so searches keep working throughout; a source's
signature is checkpointed only after its rows are committed. A crash leaves the table marked
dirty and the next run reconciles it (re-chunking, not re-embedding). Full: every source is
chunked and embedded again and the table is replaced in a single commit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from chunkers.chunk import Chunk
from chunkers.errors import ChunkerError
from indexer import checkpoint as ckpt
from indexer.embedder import Embedder, make_embedder
from indexer.errors import (
    FingerprintMismatchError,
    IndexBusyError,
    IndexerError,
    ProviderMissingError,
)
from indexer.registry import TABLE_FORMAT_VERSION, TABLE_NAMES, TableSpec, table_spec
from indexer.source import Source, SourceScan
from store.errors import StoreError, WriterLockedError
from store.locks import FileLock
from store.paths import DataPaths
from store.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from lancedb.table import Table

# Flush a batch of changed sources to the table once it holds this many chunks: bounds memory
# and lets a long build checkpoint its progress.
BATCH_CHUNKS = 2_000
# Texts per embedder call (and progress bar step).
EMBED_STEP = 256
_IN_LIST = 500  # values per SQL IN (...) list


@dataclass
class SourceChange:
    """What one source contributed to a build (for reports and the SessionStart hook)."""

    key: str
    status: Literal["added", "changed", "removed"]
    added: list[str] = field(default_factory=list)  # chunk labels
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    metadata_only: int = 0


@dataclass
class BuildReport:
    """The outcome of one build of one table."""

    table: str
    mode: Literal["incremental", "full"]
    noop: bool = False
    sources: int = 0
    sources_added: int = 0
    sources_changed: int = 0
    sources_removed: int = 0
    sources_failed: int = 0
    chunks_written: int = 0
    embedded: int = 0
    reused_vectors: int = 0
    metadata_updated: int = 0
    rows_deleted: int = 0
    rows: int = 0
    repaired: bool = False
    duration_s: float = 0.0
    embed_s: float = 0.0
    fingerprint: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    warnings: list[str] = field(default_factory=list)
    changes: list[SourceChange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def table_fingerprint(spec: TableSpec, embedder: Embedder,
                      digest_cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model identity + chunker version + row layout: what must match to mix rows."""
    fp = dict(embedder.fingerprint(digest_cache))
    fp["chunker_version"] = spec.effective_chunker_version()
    fp["table_format"] = TABLE_FORMAT_VERSION
    return fp


def _fp_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys
                     if old.get(k) != new.get(k))


def _label(meta: dict[str, Any], fallback: str) -> str:
    for key in ("heading", "label", "topic", "event_name"):
        v = meta.get(key)
        if v:
            return f"{v} (outline)" if meta.get("kind") == "outline" else str(v)
    return fallback


def chunk_label(chunk: Chunk) -> str:
    """A human name for a chunk in reports (its heading, topic or event name)."""
    return _label(chunk.metadata, chunk.chunk_id)


def _label_from_json(raw: str | None, fallback: str) -> str:
    import json

    try:
        m = json.loads(raw or "{}")
    except ValueError:
        return fallback
    return _label(m, fallback) if isinstance(m, dict) else fallback


def versions_mtime_ns(paths: DataPaths, name: str) -> int | None:
    """mtime of the table's `_versions` directory: it moves on every commit to the table, so
    a no-op run can tell, without importing LanceDB, that nobody else wrote the table."""
    try:
        return (paths.table(name) / "_versions").stat().st_mtime_ns
    except FileNotFoundError:
        return None


@contextmanager
def build_lock(paths: DataPaths, table: str) -> Iterator[None]:
    """One builder per table per data root; a second one is refused naming the holder."""
    try:
        lock = FileLock(paths.index_lock(table), f"index build of table {table!r} in")
    except WriterLockedError as exc:
        raise IndexBusyError(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def _batched(values: Sequence[str], n: int = _IN_LIST) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


class _Builder:
    def __init__(self, settings: Settings, spec: TableSpec, embedder: Embedder | None,
                 progress: bool) -> None:
        self.settings = settings
        self.spec = spec
        self.name = spec.name
        self.paths = DataPaths(settings.data_dir)
        self._embedder = embedder
        self.progress = progress
        self.vec_memo: dict[str, np.ndarray] = {}  # content hash -> vector, this run

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    # ------------------------------------------------------------------ shared steps

    def _prepare(self, mode: Literal["incremental", "full"]
                 ) -> tuple[ckpt.Checkpoint, ckpt.TableState, SourceScan, dict[str, Source],
                            BuildReport, dict[str, Any]]:
        cp = ckpt.load(self.paths.vector_checkpoint)
        state = cp.table(self.name)
        digests = dict(cp.model_digests)
        report = BuildReport(table=self.name, mode=mode, warnings=list(cp.warnings))
        report.fingerprint = table_fingerprint(self.spec, self.embedder, digests)
        scan = self.spec.scan(self.settings)
        report.scope = scan.scope
        report.warnings.extend(scan.warnings)
        current: dict[str, Source] = {}
        for s in scan.sources:
            if s.key in current:
                raise IndexerError(f"two sources of table {self.name} share the key {s.key!r}")
            current[s.key] = s
        report.sources = len(current)
        new_digests = digests if digests != cp.model_digests else {}
        return cp, state, scan, current, report, new_digests

    def _save(self, state: ckpt.TableState, digests: dict[str, Any] | None = None) -> None:
        ckpt.save_table(self.paths.vector_checkpoint, self.name, state, digests)

    def _chunks_of(self, src: Source, report: BuildReport) -> list[Chunk] | None:
        """A source's chunks, or None (with a warning) if this source cannot be read now."""
        try:
            chunks = list(src.chunks())
        except (ChunkerError, StoreError, OSError, UnicodeError, ValueError) as exc:
            report.sources_failed += 1
            report.warnings.append(f"skipped {src.key}: {exc}")
            return None
        seen: set[str] = set()
        for c in chunks:
            if c.chunk_id in seen:
                report.sources_failed += 1
                report.warnings.append(f"skipped {src.key}: chunk id {c.chunk_id!r} repeated")
                return None
            seen.add(c.chunk_id)
        return chunks

    def _embed_missing(self, hashes_to_text: dict[str, str], report: BuildReport) -> None:
        todo = [(h, t) for h, t in hashes_to_text.items() if h not in self.vec_memo]
        if not todo:
            return
        # Length-sorted steps pad least (the model pads each batch to its longest text).
        todo.sort(key=lambda ht: len(ht[1]))
        t0 = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=f"embedding {self.name}", unit="chunk",
                       file=sys.stderr, leave=False)
        for i in range(0, len(todo), EMBED_STEP):
            part = todo[i:i + EMBED_STEP]
            vecs = self.embedder.embed([t for _, t in part])
            if vecs.shape != (len(part), self.embedder.dim):
                raise IndexerError(
                    f"embedder returned shape {vecs.shape} for {len(part)} texts "
                    f"of dimension {self.embedder.dim}"
                )
            for (h, _), v in zip(part, vecs, strict=True):
                self.vec_memo[h] = v
            if bar is not None:
                bar.update(len(part))
        if bar is not None:
            bar.close()
        report.embedded += len(todo)
        report.embed_s += time.perf_counter() - t0

    # ------------------------------------------------------------------ incremental

    def incremental(self) -> BuildReport:
        t0 = time.perf_counter()
        cp, state, scan, current, report, new_digests = self._prepare("incremental")
        fp = report.fingerprint
        vanished = sorted(k for k in state.sources if k not in current and scan.owns(k))
        changed = [k for k, s in current.items() if state.sources.get(k) != s.signature]
        present = self.paths.table(self.name).is_dir()
        trusted = (present and not state.dirty and state.fingerprint == fp
                   and state.versions_mtime_ns == versions_mtime_ns(self.paths, self.name))
        if trusted and not changed and not vanished:
            report.noop = True
            report.rows = state.rows or 0
            if new_digests:
                self._save(state, new_digests)
            report.duration_s = time.perf_counter() - t0
            return report
        return self._incremental_work(t0, state, scan, current, report, new_digests,
                                      changed, vanished, trusted)

    def _incremental_work(self, t0: float, state: ckpt.TableState, scan: SourceScan,
                          current: dict[str, Source], report: BuildReport,
                          new_digests: dict[str, Any], changed: list[str], vanished: list[str],
                          trusted: bool) -> BuildReport:
        from indexer import tables as tb

        fp = report.fingerprint
        db = tb.connect(self.paths)
        tbl = tb.open_table(db, self.name)
        if tbl is not None:
            stored = tb.stored_fingerprint(tbl)
            if stored != fp:
                what = _fp_diff(stored or {}, fp) if stored else "no fingerprint stored"
                raise FingerprintMismatchError(
                    f"table {self.name} was built with another model or chunker ({what}); "
                    f"an incremental build would mix vectors: run "
                    f"`replayer index build --full --table {self.name}`"
                )
        else:
            if state.sources:
                report.warnings.append(f"table {self.name} was missing; rebuilding it")
            state.sources = {}
            changed, vanished = list(current), []
            schema = tb.arrow_schema(self.spec, self.embedder.dim, fp)
            tbl = db.create_table(self.name, schema=schema, exist_ok=True)
            trusted = True
        if not trusted:
            # After a crash, a foreign write or a lost checkpoint: re-diff every source
            # against the rows (cheap: chunking, not embedding) and drop orphans/duplicates.
            report.repaired = True
            changed = list(current)
            vanished = sorted(set(vanished) | self._reconcile(tbl, current, scan))
        state.fingerprint = state.fingerprint if state.fingerprint == fp else None
        state.dirty = True
        self._save(state, new_digests)

        schema = tbl.schema
        batch: list[tuple[Source, list[Chunk]]] = []
        n_chunks = 0
        for key in changed:
            src = current[key]
            chunks = self._chunks_of(src, report)
            if chunks is None:
                continue
            batch.append((src, chunks))
            n_chunks += len(chunks)
            if n_chunks >= BATCH_CHUNKS:
                self._apply_batch(tbl, schema, batch, state, report)
                batch, n_chunks = [], 0
        if batch:
            self._apply_batch(tbl, schema, batch, state, report)
        if vanished:
            self._delete_sources(tbl, vanished, state, report)

        self._maintain(tbl)
        state.dirty = False
        state.fingerprint = fp
        state.rows = tbl.count_rows()
        state.versions_mtime_ns = versions_mtime_ns(self.paths, self.name)
        report.rows = state.rows
        report.duration_s = time.perf_counter() - t0
        state.last_build = self._last_build(report)
        self._save(state)
        return report

    def _reconcile(self, tbl: Table, current: dict[str, Source], scan: SourceScan) -> set[str]:
        """Sources in the table that vanished; duplicate ids are deleted (re-added later)."""
        from indexer import tables as tb

        rows = tb.read_rows(tbl, None, ["id", "source"]).to_pydict()
        seen: set[str] = set()
        dups: set[str] = set()
        for i in rows["id"]:
            if i in seen:
                dups.add(i)
            seen.add(i)
        for part in _batched(sorted(dups)):
            tbl.delete(tb.sql_in("id", list(part)))
        return {s for s in set(rows["source"]) if s not in current and scan.owns(s)}

    def _existing(self, tbl: Table, keys: list[str]) -> dict[str, dict[str, Any]]:
        from indexer import tables as tb

        out: dict[str, dict[str, Any]] = {}
        for part in _batched(keys):
            rows = tb.read_rows(tbl, tb.sql_in("source", list(part)),
                                tb.DIFF_COLUMNS + ["metadata"]).to_pylist()
            for r in rows:
                out[r["id"]] = r
        return out

    def _vectors_from_table(self, tbl: Table, hashes: set[str], report: BuildReport) -> None:
        import numpy as np

        from indexer import tables as tb

        want = sorted(h for h in hashes if h not in self.vec_memo)
        for part in _batched(want):
            t = tb.read_rows(tbl, tb.sql_in("content_hash", list(part)),
                             ["content_hash", "vector"])
            if t.num_rows == 0:
                continue
            dim = t.schema.field("vector").type.list_size
            flat = t.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
            vecs = np.asarray(flat, dtype=np.float32).reshape(t.num_rows, dim)
            for h, v in zip(t.column("content_hash").to_pylist(), vecs, strict=True):
                if h not in self.vec_memo:
                    self.vec_memo[h] = v
                    report.reused_vectors += 1

    def _apply_batch(self, tbl: Table, schema: Any, batch: list[tuple[Source, list[Chunk]]],
                     state: ckpt.TableState, report: BuildReport) -> None:
        import numpy as np

        from indexer import tables as tb

        keys = [src.key for src, _ in batch]
        existing = self._existing(tbl, keys)
        write: list[Chunk] = []
        stale: list[str] = []
        need_text: dict[str, str] = {}
        batch_ids: set[str] = set()
        had_rows = {row["source"] for row in existing.values()}
        for src, chunks in batch:
            known = src.key in state.sources or src.key in had_rows
            change = SourceChange(key=src.key, status="changed" if known else "added")
            new_ids = set()
            for c in chunks:
                if c.chunk_id in batch_ids:
                    raise IndexerError(f"chunk id {c.chunk_id!r} produced by two sources "
                                       f"of table {self.name}")
                batch_ids.add(c.chunk_id)
                new_ids.add(c.chunk_id)
                old = existing.get(c.chunk_id)
                if old is not None and old["content_hash"] == c.content_hash:
                    if old["meta_hash"] == c.metadata_hash and old["source"] == c.source:
                        continue
                    change.metadata_only += 1
                    report.metadata_updated += 1
                elif old is not None:
                    change.changed.append(chunk_label(c))
                    need_text.setdefault(c.content_hash, c.vector_text)
                else:
                    change.added.append(chunk_label(c))
                    need_text.setdefault(c.content_hash, c.vector_text)
                write.append(c)
            for rid, row in existing.items():
                if row["source"] == src.key and rid not in new_ids:
                    stale.append(rid)
                    change.removed.append(_label_from_json(row.get("metadata"), rid))
            if change.added or change.changed or change.removed or change.metadata_only \
                    or change.status == "added":
                report.changes.append(change)
                if change.status == "added":
                    report.sources_added += 1
                else:
                    report.sources_changed += 1
        stale = [s for s in stale if s not in batch_ids]
        # Vectors: this run's memo, then rows already in the table with the same content
        # hash (any source), and only then the model.
        all_hashes = {c.content_hash for c in write}
        self._vectors_from_table(tbl, all_hashes, report)
        self._embed_missing({h: t for h, t in need_text.items() if h not in self.vec_memo},
                            report)
        if write:
            vectors = np.stack([self.vec_memo[c.content_hash] for c in write])
            rows = tb.rows_table(self.spec, schema, write, vectors)
            (tbl.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
             .execute(rows))
            report.chunks_written += len(write)
        for part in _batched(stale):
            tbl.delete(tb.sql_in("id", list(part)))
        report.rows_deleted += len(stale)
        for src, _ in batch:
            state.sources[src.key] = src.signature
        self._save(state)

    def _delete_sources(self, tbl: Table, keys: list[str], state: ckpt.TableState,
                        report: BuildReport) -> None:
        from indexer import tables as tb

        for part in _batched(keys):
            where = tb.sql_in("source", list(part))
            rows = tb.read_rows(tbl, where, ["id", "source", "metadata"]).to_pylist()
            by_source: dict[str, list[str]] = {}
            for r in rows:
                by_source.setdefault(r["source"], []).append(
                    _label_from_json(r.get("metadata"), r["id"]))
            tbl.delete(where)
            report.rows_deleted += len(rows)
            for key in part:
                report.changes.append(SourceChange(key=key, status="removed",
                                                   removed=by_source.get(key, [])))
                report.sources_removed += 1
                state.sources.pop(key, None)
            self._save(state)

    def _maintain(self, tbl: Table) -> None:
        from indexer import tables as tb

        tb.ensure_fts(tbl)
        stats = tbl.stats()
        frag = stats.get("fragment_stats", {}) if isinstance(stats, dict) else {}
        if (frag.get("num_small_fragments") or 0) > 32:
            tbl.optimize(cleanup_older_than=tb.KEEP_OLD_VERSIONS)

    def _last_build(self, report: BuildReport) -> dict[str, Any]:
        return {
            "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "mode": report.mode,
            "duration_s": round(report.duration_s, 3),
            "embedded": report.embedded,
            "reused_vectors": report.reused_vectors,
            "metadata_updated": report.metadata_updated,
            "rows_deleted": report.rows_deleted,
            "sources_added": report.sources_added,
            "sources_changed": report.sources_changed,
            "sources_removed": report.sources_removed,
            "repaired": report.repaired,
            "scope": report.scope,
        }

    # ------------------------------------------------------------------ full

    def full(self) -> BuildReport:
        import numpy as np

        from indexer import tables as tb

        t0 = time.perf_counter()
        cp, state, scan, current, report, new_digests = self._prepare("full")
        fp = report.fingerprint
        # Until the overwrite commits, the old rows and their checkpoint stay valid; dirty
        # makes a crash in between end in a reconcile, never in a mixed table.
        state.dirty = True
        self._save(state, new_digests)
        chunks: list[Chunk] = []
        ids: set[str] = set()
        signatures: dict[str, str] = {}
        for key, src in current.items():
            got = self._chunks_of(src, report)
            if got is None:
                continue
            for c in got:
                if c.chunk_id in ids:
                    raise IndexerError(f"chunk id {c.chunk_id!r} produced by two sources "
                                       f"of table {self.name}")
                ids.add(c.chunk_id)
            chunks.extend(got)
            signatures[key] = src.signature
            report.changes.append(SourceChange(key=key, status="added",
                                               added=[chunk_label(c) for c in got]))
        self._embed_missing({c.content_hash: c.vector_text for c in chunks}, report)
        schema = tb.arrow_schema(self.spec, self.embedder.dim, fp)
        vectors = (np.stack([self.vec_memo[c.content_hash] for c in chunks]) if chunks
                   else np.zeros((0, self.embedder.dim), dtype=np.float32))
        data = tb.rows_table(self.spec, schema, chunks, vectors)
        db = tb.connect(self.paths)
        tbl = db.create_table(self.name, data=data, schema=schema, mode="overwrite")
        tb.ensure_fts(tbl)
        report.chunks_written = len(chunks)
        report.sources_added = len(signatures)
        report.rows = tbl.count_rows()
        report.duration_s = time.perf_counter() - t0
        new_state = ckpt.TableState(
            fingerprint=fp, sources=signatures, dirty=False, rows=report.rows,
            versions_mtime_ns=versions_mtime_ns(self.paths, self.name),
        )
        new_state.last_build = self._last_build(report)
        self._save(new_state)
        return report


def build_incremental(settings: Settings, table: str, *, embedder: Embedder | None = None,
                      spec: TableSpec | None = None, progress: bool = False) -> BuildReport:
    """Bring one table up to date with its sources, embedding only new or changed chunks.

    Raises FingerprintMismatchError if the table was built with another model or chunker
    version, IndexBusyError if another process is building the same table.
    """
    spec = spec or table_spec(table)
    paths = DataPaths(settings.data_dir)
    with build_lock(paths, spec.name):
        return _Builder(settings, spec, embedder, progress).incremental()


def build_full(settings: Settings, table: str, *, embedder: Embedder | None = None,
               spec: TableSpec | None = None, progress: bool = False) -> BuildReport:
    """Rebuild one table from scratch; it is replaced in one commit at the end."""
    spec = spec or table_spec(table)
    paths = DataPaths(settings.data_dir)
    with build_lock(paths, spec.name):
        return _Builder(settings, spec, embedder, progress).full()


def build(settings: Settings, tables: Sequence[str] | None = None, *, full: bool = False,
          embedder: Embedder | None = None, progress: bool = False) -> list[BuildReport]:
    """Build several tables (default: all three). A table whose source provider is not
    installed yet is reported with a warning instead of failing the others."""
    reports = []
    for name in tables or TABLE_NAMES:
        spec = table_spec(name)
        try:
            fn = build_full if full else build_incremental
            reports.append(fn(settings, name, embedder=embedder, spec=spec, progress=progress))
        except ProviderMissingError as exc:
            r = BuildReport(table=name, mode="full" if full else "incremental", noop=True)
            r.warnings.append(str(exc))
            reports.append(r)
    return reports

