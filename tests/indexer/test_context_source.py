"""CONTEXT.md discovery: roots from flags, settings/env, or the current repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.context_source import discover, repo_root, resolve_roots, scan_sources
from store.settings import Settings

from .conftest import write_tree


def test_discovery_skips_hidden_and_dependency_directories(ctx_root: Path) -> None:
    found = [f.relative_to(ctx_root).as_posix() for _, f in discover([ctx_root])]
    assert found == ["hooks/CONTEXT.md", "store/CONTEXT.md"]


def test_default_root_is_the_repository_around_the_working_directory(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "r")
    (repo / ".git").mkdir(exist_ok=True)
    assert repo_root(repo / "store") == repo.resolve()
    assert resolve_roots(Settings(), cwd=repo / "store") == [repo.resolve()]


def test_explicit_roots_win_over_settings(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    s = Settings(context_roots=(a,))
    assert resolve_roots(s) == [a.resolve()]
    assert resolve_roots(s, [b]) == [b.resolve()]


def test_roots_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUGS_CONTEXT_ROOTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert Settings.load().context_roots == (tmp_path / "a", tmp_path / "b")


def test_a_file_under_nested_roots_belongs_to_the_deepest(ctx_root: Path) -> None:
    pairs = discover([ctx_root, ctx_root / "store"])
    roots = {f.name + ":" + f.parent.name: r for r, f in pairs}
    assert roots["CONTEXT.md:store"] == ctx_root / "store"
    assert len(pairs) == 2


def test_scan_owns_only_keys_under_its_roots(ctx_root: Path, tmp_path: Path) -> None:
    scan = scan_sources(Settings(), [ctx_root])
    assert len(scan.sources) == 2
    assert scan.owns(str(ctx_root.resolve() / "gone" / "CONTEXT.md"))
    assert not scan.owns(str(tmp_path / "elsewhere" / "CONTEXT.md"))


def test_signature_changes_with_content_not_with_touch(ctx_root: Path) -> None:
    import os

    def sigs() -> dict[str, str]:
        return {s.key: s.signature for s in scan_sources(Settings(), [ctx_root]).sources}

    before = sigs()
    f = ctx_root / "store" / "CONTEXT.md"
    os.utime(f, (1, 1))
    assert sigs() == before
    f.write_text(f.read_text() + "\nmore\n")
    assert sigs() != before


def test_missing_root_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    scan = scan_sources(Settings(), [tmp_path / "nope"])
    assert scan.sources == [] and "not a directory" in scan.warnings[0]
