"""Stub CONTEXT.md from the code: template sections, modules, imports as related scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chunkers.markdown import chunk_markdown
from indexer.context_stub import build_stub, module_name, read_module, write_stub
from indexer.errors import ContextFileExistsError


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    _write(root, {
        "pyproject.toml": "[project]\nname = 'proj'\n",
        "pay/__init__.py": '"""Payments: settle trades and keep the ledger.\n\nMore text."""\n',
        "pay/ledger.py": '"""The append-only ledger."""\nimport json\nimport requests\n'
                         "from pay import rules\nfrom .rules import fee\n"
                         "from shared.money import Money\n",
        "pay/rules.py": '"""Fee rules | per market."""\nfrom shared import money\n'
                        "def fee(): ...\n",
        "pay/broken.py": "def (:\n",
        "pay/bare.py": "x = 1\n",
        "shared/money.py": '"""Exact money."""\n',
        "api/server.py": '"""HTTP API."""\nimport pay.ledger\n',
        "api/jobs.py": "def run():\n    from ..pay import rules\n",
        "tests/test_pay.py": "from pay import ledger\n",
    })
    return root


def _rows(text: str) -> dict[str, str]:
    body = text.split("## Related Scripts", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| (.*) \|$", body,
                                                        re.M)}


def test_the_stub_has_the_template_sections_in_order(proj: Path) -> None:
    text = build_stub(proj / "pay").render()
    heads = re.findall(r"^## (.+)$", text, re.M)
    assert heads == ["Purpose", "Related Scripts", "Data Flow", "Key Decisions", "Status"]
    assert text.startswith("# pay — CONTEXT\n")
    assert "Payments: settle trades and keep the ledger." in text.split("## Purpose")[1]
    assert "More text" not in text
    assert "- [ ] Purpose written" in text


def test_modules_carry_their_docstring_and_the_imports_between_them(proj: Path) -> None:
    rows = _rows(build_stub(proj / "pay").render())
    assert rows["ledger.py"] == "module: The append-only ledger. Imports `rules.py`."
    # A pipe in a docstring cannot break the table.
    assert rows["rules.py"] == "module: Fee rules / per market."
    assert rows["bare.py"] == "module: TODO (no docstring)."
    assert rows["broken.py"].startswith("module: not parsed (SyntaxError")


def test_repository_modules_used_here_and_users_of_this_folder_are_related(proj: Path) -> None:
    rows = _rows(build_stub(proj / "pay").render())
    assert rows["../shared/money.py"] == "uses: imported by `ledger.py`, `rules.py`"
    assert rows["../api/server.py"] == "used by: imports `ledger.py`"
    # A relative import two levels up inside a function counts too.
    assert rows["../api/jobs.py"] == "used by: imports `rules.py`"
    assert not any("test_pay" in k for k in rows)


def test_third_party_packages_are_named_and_the_standard_library_is_not(proj: Path) -> None:
    text = build_stub(proj / "pay").render()
    assert "Third-party packages imported here: `requests`." in text
    assert "`json`" not in text


def test_the_related_scripts_table_is_what_the_markdown_chunker_reads(proj: Path) -> None:
    text = build_stub(proj / "pay").render()
    chunks = chunk_markdown(text, path="pay/CONTEXT.md", source="s", root=str(proj))
    related = next(c for c in chunks if c.metadata.get("heading", "").endswith("Related Scripts"))
    targets = {r["resolved"] for r in related.metadata["relations"]}
    assert {"pay/ledger.py", "shared/money.py", "api/server.py"} <= targets


def test_a_folder_without_package_docstring_gets_a_todo_purpose(proj: Path) -> None:
    text = build_stub(proj / "api").render()
    assert "## Purpose\nTODO:" in text


def test_an_existing_context_md_is_never_overwritten_without_force(proj: Path) -> None:
    target, stub = write_stub(proj / "pay")
    assert target == (proj / "pay" / "CONTEXT.md").resolve()
    assert target.read_text() == stub.render()
    target.write_text("# pay\nmine\n")
    with pytest.raises(ContextFileExistsError, match="already exists.*--force"):
        write_stub(proj / "pay")
    assert target.read_text() == "# pay\nmine\n"
    write_stub(proj / "pay", force=True)
    assert target.read_text().startswith("# pay — CONTEXT")


def test_module_names_follow_packages_and_the_src_layout(tmp_path: Path) -> None:
    root = tmp_path / "r"
    _write(root, {"src/app/core/__init__.py": "", "src/app/core/db.py": "from . import x\n",
                  "tools/cli.py": ""})
    assert module_name(root / "src/app/core/db.py", root) == "app.core.db"
    assert module_name(root / "src/app/core/__init__.py", root) == "app.core"
    assert module_name(root / "tools/cli.py", root) == "tools.cli"
    info = read_module(root / "src/app/core/db.py", root)
    assert ("app.core.x", "app.core") in info.imports
