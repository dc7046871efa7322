"""Incremental and full builds of one vector table from its sources, checkpointed and crash-safe.

Incremental: only sources whose signature changed are chunked; of their chunks only those with
a new id or a new content hash need a vector, and a vector already in the table (or made
earlier in this run) for the same content hash is reused, so identical texts are embedded
once. A metadata-only change rewrites the row with its old vector. Rows of vanished sources
are deleted. Each step is one LanceDB commit, so searches keep working throughout; a source's
signature is checkpointed only after its rows are committed. A crash leaves the table marked
dirty and the next run reconciles it (re-chunking, not re-embedding). Full: every source is
chunked and embedded again and the table is replaced in a single commit.

Deciding is kept apart from writing. `plan_sources` (checkpoint + scan -> `SourcePlan`:
which sources to chunk, which to delete, whether the checkpoint can be trusted),
`check_fingerprint` and `plan_batch` (chunks + their rows -> `BatchPlan`: what to write,
which texts may need the model, which ids to delete) are plain functions over plain data,
tested without LanceDB or a model (tests/indexer/test_build_plan.py). `_Builder` applies
the plans: vectors, LanceDB commits and checkpoint saves, in the order that keeps a crash
harmless.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
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
from indexer.registry import TABLE_FORMAT_VERSION, TableSpec, table_spec
from indexer.source import Source, SourceScan
from store.errors import StoreError, WriterLockedError
from store.locks import FileLock
from store.paths import TABLE_NAMES, DataPaths
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


# ---------------------------------------------------------------------- planning (pure)


def sources_by_key(table: str, scan: SourceScan) -> dict[str, Source]:
    """The scan's sources by key; two with one key would overwrite each other's rows."""
    out: dict[str, Source] = {}
    for s in scan.sources:
        if s.key in out:
            raise IndexerError(f"two sources of table {table} share the key {s.key!r}")
        out[s.key] = s
    return out


@dataclass
class SourcePlan:
    """Which sources an incremental build re-chunks and which it deletes.

    Decided from the checkpoint and the scan alone (signatures, not content), so a run with
    nothing to do ends at `noop` without importing LanceDB or torch. `trusted` is the
    fingerprint and crash decision: only a clean checkpoint of the same fingerprint, whose
    table nobody else has committed to since, may be believed about the rows; otherwise the
    applier repairs (`for_repair`) or starts a new table (`for_new_table`).
    """

    fingerprint: dict[str, Any]
    sources: dict[str, Source]  # every source the scan found, by key
    owns: Callable[[str], bool]  # the scan's scope: keys outside it are never deleted
    changed: list[str]  # new or different signature: chunk these and diff them with the rows
    vanished: list[str]  # checkpointed, in scope, no longer found: delete their rows
    trusted: bool
    repaired: bool = False

    @property
    def unchanged(self) -> list[str]:
        """Sources whose signature the checkpoint already holds: not even chunked."""
        changed = set(self.changed)
        return [k for k in self.sources if k not in changed]

    @property
    def noop(self) -> bool:
        return self.trusted and not self.changed and not self.vanished

    def for_new_table(self) -> SourcePlan:
        """The table is missing: every source is new and there is nothing to delete."""
        return replace(self, changed=list(self.sources), vanished=[], trusted=True)

    def for_repair(self, table_sources: Iterable[str]) -> SourcePlan:
        """The checkpoint cannot be believed (a crash, a foreign write, a lost checkpoint):
        re-diff every source against its rows (chunking, not embedding) and delete the rows
        of in-scope sources the scan no longer has, whatever the checkpoint remembers."""
        orphans = {s for s in table_sources if s not in self.sources and self.owns(s)}
        return replace(self, changed=list(self.sources),
                       vanished=sorted(set(self.vanished) | orphans), repaired=True)


def vanished_keys(remembered: Mapping[str, str], sources: Mapping[str, Source],
                  scan: SourceScan) -> list[str]:
    """Sources the checkpoint remembers that this scan owns and no longer has."""
    return sorted(k for k in remembered if k not in sources and scan.owns(k))


def plan_sources(state: ckpt.TableState, scan: SourceScan, fingerprint: dict[str, Any], *,
                 table: str, table_present: bool,
                 versions_mtime_ns: int | None) -> SourcePlan:
    """Compare the scan's signatures with the checkpoint's: the first decision of a build.

    `table_present` and `versions_mtime_ns` are what the disk says now (the table directory
    exists; the mtime of its `_versions`, which moves on every commit by anyone).
    """
    sources = sources_by_key(table, scan)
    vanished = vanished_keys(state.sources, sources, scan)
    changed = [k for k, s in sources.items() if state.sources.get(k) != s.signature]
    trusted = (table_present and not state.dirty and state.fingerprint == fingerprint
               and state.versions_mtime_ns == versions_mtime_ns)
    return SourcePlan(fingerprint=fingerprint, sources=sources, owns=scan.owns,
                      changed=changed, vanished=vanished, trusted=trusted)


def check_fingerprint(table: str, stored: dict[str, Any] | None,
                      wanted: dict[str, Any]) -> None:
    """Refuse to add rows to a table made by another model or chunker: its vectors would mix
    with ours and every search would silently compare the two."""
    if stored == wanted:
        return
    what = _fp_diff(stored or {}, wanted) if stored else "no fingerprint stored"
    raise FingerprintMismatchError(
        f"table {table} was built with another model or chunker ({what}); "
        f"an incremental build would mix vectors: run "
        f"`replayer index build --full --table {table}`"
    )


def duplicate_ids(ids: Iterable[str]) -> set[str]:
    """Ids that stand in more than one row (left by a crash between two commits)."""
    seen: set[str] = set()
    dups: set[str] = set()
    for i in ids:
        if i in seen:
            dups.add(i)
        seen.add(i)
    return dups


def _claim_ids(table: str, chunks: Iterable[Chunk], claimed: set[str]) -> None:
    """Add the chunks' ids to `claimed`; an id another source already produced is an error,
    since one of the two rows would silently replace the other."""
    for c in chunks:
        if c.chunk_id in claimed:
            raise IndexerError(f"chunk id {c.chunk_id!r} produced by two sources "
                               f"of table {table}")
        claimed.add(c.chunk_id)


@dataclass
class BatchPlan:
    """What one batch of changed sources does to the table, by (chunk_id, content_hash).

    `write` are the rows to merge-insert: new ids, new texts, and texts whose metadata alone
    changed (those keep their stored vector). `new_texts` are the texts that may need the
    model: the applier first takes a vector made earlier in this run or stored under the same
    content hash. `stale` are ids of rows whose chunk left its source. `unchanged` rows are
    not touched at all.
    """

    write: list[Chunk] = field(default_factory=list)
    new_texts: dict[str, str] = field(default_factory=dict)  # content hash -> text to embed
    stale: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    metadata_only: int = 0
    changes: list[SourceChange] = field(default_factory=list)  # sources with any change


def plan_batch(table: str, batch: Sequence[tuple[Source, list[Chunk]]],
               existing: dict[str, dict[str, Any]], checkpointed: Container[str]) -> BatchPlan:
    """Diff a batch of sources' chunks with their rows now in the table.

    `existing` maps id -> row (id, content_hash, meta_hash, source, metadata) for every row
    of these sources; `checkpointed` holds the source keys the checkpoint knows. A source
    either is known (by the checkpoint or by rows) and reports as changed, or is added.
    """
    plan = BatchPlan()
    batch_ids: set[str] = set()
    had_rows = {row["source"] for row in existing.values()}
    for src, chunks in batch:
        known = src.key in checkpointed or src.key in had_rows
        change = SourceChange(key=src.key, status="changed" if known else "added")
        new_ids = {c.chunk_id for c in chunks}
        _claim_ids(table, chunks, batch_ids)
        for c in chunks:
            old = existing.get(c.chunk_id)
            if old is not None and old["content_hash"] == c.content_hash:
                if old["meta_hash"] == c.metadata_hash and old["source"] == c.source:
                    plan.unchanged.append(c.chunk_id)
                    continue
                change.metadata_only += 1
                plan.metadata_only += 1
            elif old is not None:
                change.changed.append(chunk_label(c))
                plan.new_texts.setdefault(c.content_hash, c.vector_text)
            else:
                change.added.append(chunk_label(c))
                plan.new_texts.setdefault(c.content_hash, c.vector_text)
            plan.write.append(c)
        for rid, row in existing.items():
            if row["source"] == src.key and rid not in new_ids:
                plan.stale.append(rid)
                change.removed.append(_label_from_json(row.get("metadata"), rid))
        if change.added or change.changed or change.removed or change.metadata_only \
                or change.status == "added":
            plan.changes.append(change)
    # an id that moved to another source of the same batch is rewritten, not deleted
    plan.stale = [s for s in plan.stale if s not in batch_ids]
    return plan


# ---------------------------------------------------------------------- applying


class _Builder:
    """One build of one table: reads its inputs, asks the planners, applies their plans.

    Applying is where the crash safety lives: the checkpoint is marked dirty before the first
    write, each batch is one LanceDB commit followed by a checkpoint of exactly its sources'
    signatures, and the table is marked clean only at the end. Vectors come from this run's
    memo, then from rows with the same content hash, and only then from the model.
    Built inside the table's build lock; the constructor reads the checkpoint and the scan.
    """

    def __init__(self, settings: Settings, spec: TableSpec, embedder: Embedder | None,
                 progress: bool, mode: Literal["incremental", "full"]) -> None:
        self.settings = settings
        self.spec = spec
        self.name = spec.name
        self.paths = DataPaths(settings.data_dir)
        self._embedder = embedder
        self.progress = progress
        self.vec_memo: dict[str, np.ndarray] = {}  # content hash -> vector, this run
        cp = ckpt.load(self.paths.vector_checkpoint)
        self.state = cp.table(self.name)  # updated and saved as the build goes
        digests = dict(cp.model_digests)
        self.report = BuildReport(table=self.name, mode=mode, warnings=list(cp.warnings))
        self.report.fingerprint = table_fingerprint(spec, self.embedder, digests)
        # weights digests hashed by this run: saved with the next checkpoint write
        self.new_digests = digests if digests != cp.model_digests else {}
        self.scan = spec.scan(settings)
        self.report.scope = self.scan.scope
        self.report.warnings.extend(self.scan.warnings)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    # ------------------------------------------------------------------ shared steps

    def _save(self, digests: dict[str, Any] | None = None) -> None:
        ckpt.save_table(self.paths.vector_checkpoint, self.name, self.state, digests)

    def _chunks_of(self, src: Source) -> list[Chunk] | None:
        """A source's chunks, or None (with a warning) if this source cannot be read now."""
        report = self.report
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

    def _embed_missing(self, hashes_to_text: dict[str, str]) -> None:
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
        self.report.embedded += len(todo)
        self.report.embed_s += time.perf_counter() - t0

    def _last_build(self) -> dict[str, Any]:
        report = self.report
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

    # ------------------------------------------------------------------ incremental

    def incremental(self) -> BuildReport:
        t0 = time.perf_counter()
        report, state = self.report, self.state
        plan = plan_sources(state, self.scan, report.fingerprint, table=self.name,
                            table_present=self.paths.table(self.name).is_dir(),
                            versions_mtime_ns=versions_mtime_ns(self.paths, self.name))
        report.sources = len(plan.sources)
        if plan.noop:
            report.noop = True
            report.rows = state.rows or 0
            if self.new_digests:
                self._save(self.new_digests)
            report.duration_s = time.perf_counter() - t0
            return report
        return self._apply(t0, plan)

    def _apply(self, t0: float, plan: SourcePlan) -> BuildReport:
        from indexer import tables as tb

        report, state, fp = self.report, self.state, plan.fingerprint
        db = tb.connect(self.paths)
        tbl = tb.open_table(db, self.name)
        if tbl is not None:
            tb.check_layout(tbl, self.spec)
            check_fingerprint(self.name, tb.stored_fingerprint(tbl), fp)
        else:
            if state.sources:
                report.warnings.append(f"table {self.name} was missing; rebuilding it")
            state.sources = {}
            plan = plan.for_new_table()
            schema = tb.arrow_schema(self.spec, self.embedder.dim, fp)
            tbl = db.create_table(self.name, schema=schema, exist_ok=True)
        if not plan.trusted:
            plan = plan.for_repair(self._reconcile(tbl))
            report.repaired = True
        state.fingerprint = state.fingerprint if state.fingerprint == fp else None
        state.dirty = True
        self._save(self.new_digests)

        schema = tbl.schema
        batch: list[tuple[Source, list[Chunk]]] = []
        n_chunks = 0
        for key in plan.changed:
            src = plan.sources[key]
            chunks = self._chunks_of(src)
            if chunks is None:
                continue
            batch.append((src, chunks))
            n_chunks += len(chunks)
            if n_chunks >= BATCH_CHUNKS:
                self._apply_batch(tbl, schema, batch)
                batch, n_chunks = [], 0
        if batch:
            self._apply_batch(tbl, schema, batch)
        if plan.vanished:
            if self.scan.on_vanish is not None:
                report.warnings.extend(self.scan.on_vanish(plan.vanished))
            self._delete_sources(tbl, plan.vanished)

        self._maintain(tbl)
        state.dirty = False
        state.fingerprint = fp
        state.rows = tbl.count_rows()
        state.versions_mtime_ns = versions_mtime_ns(self.paths, self.name)
        report.rows = state.rows
        report.duration_s = time.perf_counter() - t0
        state.last_build = self._last_build()
        self._save()
        return report

    def _reconcile(self, tbl: Table) -> set[str]:
        """Delete rows whose id is repeated (re-added by this run) and return the sources of
        every row, so the plan can delete those the scan no longer has."""
        from indexer import tables as tb

        rows = tb.read_rows(tbl, None, ["id", "source"]).to_pydict()
        for part in _batched(sorted(duplicate_ids(rows["id"]))):
            tbl.delete(tb.sql_in("id", list(part)))
        return set(rows["source"])

    def _existing(self, tbl: Table, keys: list[str]) -> dict[str, dict[str, Any]]:
        from indexer import tables as tb

        out: dict[str, dict[str, Any]] = {}
        for part in _batched(keys):
            rows = tb.read_rows(tbl, tb.sql_in("source", list(part)),
                                tb.DIFF_COLUMNS + ["metadata"]).to_pylist()
            for r in rows:
                out[r["id"]] = r
        return out

    def _vectors_from_table(self, tbl: Table, hashes: set[str]) -> None:
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
                    self.report.reused_vectors += 1

    def _apply_batch(self, tbl: Table, schema: Any,
                     batch: list[tuple[Source, list[Chunk]]]) -> None:
        """Plan one batch against its rows, then commit it: vectors, one merge_insert, the
        stale ids deleted, and only then its sources' signatures into the checkpoint."""
        import numpy as np

        from indexer import tables as tb

        report = self.report
        existing = self._existing(tbl, [src.key for src, _ in batch])
        plan = plan_batch(self.name, batch, existing, self.state.sources)
        report.metadata_updated += plan.metadata_only
        for change in plan.changes:
            report.changes.append(change)
            if change.status == "added":
                report.sources_added += 1
            else:
                report.sources_changed += 1
        self._vectors_from_table(tbl, {c.content_hash for c in plan.write})
        self._embed_missing({h: t for h, t in plan.new_texts.items() if h not in self.vec_memo})
        if plan.write:
            vectors = np.stack([self.vec_memo[c.content_hash] for c in plan.write])
            rows = tb.rows_table(self.spec, schema, plan.write, vectors)
            (tbl.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
             .execute(rows))
            report.chunks_written += len(plan.write)
        for part in _batched(plan.stale):
            tbl.delete(tb.sql_in("id", list(part)))
        report.rows_deleted += len(plan.stale)
        for src, _ in batch:
            self.state.sources[src.key] = src.signature
        self._save()

    def _delete_sources(self, tbl: Table, keys: list[str]) -> None:
        from indexer import tables as tb

        report = self.report
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
                self.state.sources.pop(key, None)
            self._save()

    def _maintain(self, tbl: Table) -> None:
        from indexer import tables as tb

        tb.rebuild_fts(tbl)
        stats = tbl.stats()
        frag = stats.get("fragment_stats", {}) if isinstance(stats, dict) else {}
        if (frag.get("num_small_fragments") or 0) > 32:
            tbl.optimize(cleanup_older_than=tb.KEEP_OLD_VERSIONS)

    # ------------------------------------------------------------------ full

    def full(self) -> BuildReport:
        """Chunk and embed every source, then replace the table in one commit: until then
        the old rows and their checkpoint stay valid; `dirty` makes a crash in between end
        in a reconcile, never in a mixed table."""
        import numpy as np

        from indexer import tables as tb

        t0 = time.perf_counter()
        report, fp = self.report, self.report.fingerprint
        sources = sources_by_key(self.name, self.scan)
        report.sources = len(sources)
        if self.scan.on_vanish is not None:
            # A full build mirrors its inputs, but dropping what the last build had is
            # still worth saying (most often a docs root not set for this run).
            gone = vanished_keys(self.state.sources, sources, self.scan)
            if gone:
                report.warnings.extend(self.scan.on_vanish(gone))
        self.state.dirty = True
        self._save(self.new_digests)
        chunks: list[Chunk] = []
        ids: set[str] = set()
        signatures: dict[str, str] = {}
        for key, src in sources.items():
            got = self._chunks_of(src)
            if got is None:
                continue
            _claim_ids(self.name, got, ids)
            chunks.extend(got)
            signatures[key] = src.signature
            report.changes.append(SourceChange(key=key, status="added",
                                               added=[chunk_label(c) for c in got]))
        self._embed_missing({c.content_hash: c.vector_text for c in chunks})
        schema = tb.arrow_schema(self.spec, self.embedder.dim, fp)
        vectors = (np.stack([self.vec_memo[c.content_hash] for c in chunks]) if chunks
                   else np.zeros((0, self.embedder.dim), dtype=np.float32))
        data = tb.rows_table(self.spec, schema, chunks, vectors)
        db = tb.connect(self.paths)
        tbl = db.create_table(self.name, data=data, schema=schema, mode="overwrite")
        tb.rebuild_fts(tbl)
        report.chunks_written = len(chunks)
        report.sources_added = len(signatures)
        report.rows = tbl.count_rows()
        report.duration_s = time.perf_counter() - t0
        self.state = ckpt.TableState(
            fingerprint=fp, sources=signatures, dirty=False, rows=report.rows,
            versions_mtime_ns=versions_mtime_ns(self.paths, self.name),
        )
        self.state.last_build = self._last_build()
        self._save()
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
        return _Builder(settings, spec, embedder, progress, "incremental").incremental()


def build_full(settings: Settings, table: str, *, embedder: Embedder | None = None,
               spec: TableSpec | None = None, progress: bool = False) -> BuildReport:
    """Rebuild one table from scratch; it is replaced in one commit at the end."""
    spec = spec or table_spec(table)
    paths = DataPaths(settings.data_dir)
    with build_lock(paths, spec.name):
        return _Builder(settings, spec, embedder, progress, "full").full()


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

