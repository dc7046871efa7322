"""Folders of Python files without a CONTEXT.md: what is walked, what is skipped, file lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.context_check import missing_context, python_files

REPO = Path(__file__).resolve().parents[2]


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    _touch(root, "setup.py", "pkg/a.py", "pkg/CONTEXT.md", "pkg/sub/b.py", "lib/c.py",
           "lib/notes.txt", ".venv/lib/site.py", "venv2/pyvenv.cfg", "venv2/lib/x.py",
           "build/lib/y.py", "node_modules/z/z.py", "pkg.egg-info/w.py", ".tox/t.py",
           "tests/test_a.py", "tests/helpers.py", "pkg/test_pkg.py", "pkg/sub/conftest.py",
           "scripts/run.py")
    return root


def _rel(root: Path, found: list) -> dict[str, list[str]]:  # type: ignore[type-arg]
    return {m.folder.relative_to(root).as_posix() or ".":
            [f.relative_to(root).as_posix() for f in m.files] for m in found}


def test_folders_without_context_are_listed_with_their_python_files(tree: Path) -> None:
    assert _rel(tree, missing_context([tree])) == {
        ".": ["setup.py"],
        "lib": ["lib/c.py"],
        "pkg/sub": ["pkg/sub/b.py"],
        "scripts": ["scripts/run.py"],
    }


def test_venvs_build_output_dependencies_and_hidden_folders_are_never_checked(
        tree: Path) -> None:
    files = {f.relative_to(tree).as_posix() for f in python_files([tree],
                                                                  include_tests=True)}
    for skipped in (".venv/lib/site.py", "venv2/lib/x.py", "build/lib/y.py",
                    "node_modules/z/z.py", "pkg.egg-info/w.py", ".tox/t.py"):
        assert skipped not in files


def test_tests_are_skipped_unless_asked_for(tree: Path) -> None:
    with_tests = _rel(tree, missing_context([tree], include_tests=True))
    assert with_tests["tests"] == ["tests/helpers.py", "tests/test_a.py"]
    assert with_tests["pkg/sub"] == ["pkg/sub/b.py", "pkg/sub/conftest.py"]
    assert "pkg/test_pkg.py" not in {f.relative_to(tree).as_posix()
                                     for f in python_files([tree])}


def test_exclude_globs_match_the_path_from_the_root_or_the_name(tree: Path) -> None:
    assert set(_rel(tree, missing_context([tree], exclude=["scripts", "pkg/*"]))) == {
        ".", "lib"}


def test_files_given_directly_as_pre_commit_passes_them(tree: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    given = [Path("lib/c.py"), Path("pkg/a.py"), Path(".venv/lib/site.py"),
             Path("build/lib/y.py"), Path("tests/helpers.py"), Path("lib/notes.txt")]
    assert _rel(tree, missing_context(given)) == {"lib": ["lib/c.py"]}


def test_a_directory_given_explicitly_is_walked_even_if_its_name_is_skipped(
        tree: Path) -> None:
    assert _rel(tree, missing_context([tree / "build"])) == {"build/lib": ["build/lib/y.py"]}


def test_this_repository_passes_its_own_check() -> None:
    missing = missing_context([REPO])
    assert missing == [], [str(m.folder) for m in missing]
