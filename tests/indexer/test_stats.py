"""Index stats: rows, sources, last build, fingerprint and pending work per table."""

from __future__ import annotations

from pathlib import Path

from indexer.build import build_incremental
from indexer.embedder import HashingEmbedder
from indexer.stats import stats
from store.settings import Settings


def test_stats_before_and_after_a_build_and_with_pending_changes(
        settings: Settings, ctx_root: Path, fake_embedder: HashingEmbedder) -> None:
    (before,) = stats(settings, ["code_context"], embedder=fake_embedder)
    assert not before.built and before.pending == {"added": 2, "changed": 0, "removed": 0}
    build_incremental(settings, "code_context", embedder=fake_embedder)
    f = ctx_root / "store" / "CONTEXT.md"
    f.write_text(f.read_text() + "\n## More\ntext\n")
    (after,) = stats(settings, ["code_context"], embedder=fake_embedder)
    assert after.built and after.rows == 7 and after.sources == 2
    assert after.fingerprint_matches is True and after.fingerprint is not None
    assert after.fingerprint["chunker_version"] == "markdown-1"
    assert after.last_build is not None and after.last_build["embedded"] == 7
    assert after.pending == {"added": 0, "changed": 1, "removed": 0}
    (other,) = stats(settings, ["code_context"], embedder=HashingEmbedder(32))
    assert other.fingerprint_matches is False
    d = after.to_dict()
    assert d["table"] == "code_context" and d["dirty"] is False
