"""A stub CONTEXT.md for one folder, filled with what the code says (`replayer context init`).

The sections follow the users' template: Purpose, Related Scripts (a table of scripts and
their relationship), Data Flow, Key Decisions, Status. Derived: the package docstring as
the purpose, every module with its one-line docstring, the imports between this folder's
modules, the repository modules it uses and those that use it, the third-party packages
it imports. Data flow and decisions are left as marked TODOs: code does not say why.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from indexer.context_check import python_files
from indexer.context_source import FILE_NAME
from indexer.errors import ContextFileExistsError
from store.atomic import write_text_atomic

STUB_MARK = "<!-- Stub written by `replayer context init`"
_PROJECT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")


@dataclass(frozen=True)
class ModuleInfo:
    """One Python file: its dotted name, first docstring line and imported module names."""

    path: Path
    name: str
    doc: str | None
    imports: tuple[tuple[str, ...], ...]
    error: str | None = None


def project_root(folder: Path) -> Path:
    """The nearest directory at or above `folder` that looks like a project root."""
    folder = folder.resolve()
    for d in (folder, *folder.parents):
        if any((d / m).exists() for m in _PROJECT_MARKERS):
            return d
    return folder.parent


def module_name(path: Path, root: Path) -> str:
    """Dotted import name of `path` under `root` (a `src/` layout counts as the root)."""
    base = root / "src" if path.is_relative_to(root / "src") else root
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or path.parent.name


def _first_line(doc: str | None) -> str | None:
    if not doc:
        return None
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return None


def _imports(tree: ast.Module, name: str, is_package: bool) -> list[tuple[str, ...]]:
    """What each imported name may refer to, best guess first, relative imports made
    absolute: `from a import b` is module `a.b` if there is one, else a name inside `a`."""
    package = name if is_package else name.rpartition(".")[0]
    out: list[tuple[str, ...]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name,) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                out.extend((f"{base}.{a.name}", base) if a.name != "*" else (base,)
                           for a in node.names)
    return out


def read_module(path: Path, root: Path) -> ModuleInfo:
    """Parse one file; a file that does not parse keeps its name and says why."""
    name = module_name(path, root)
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError) as exc:
        return ModuleInfo(path=path, name=name, doc=None, imports=(),
                          error=f"{type(exc).__name__}: {exc}")
    imports = _imports(tree, name, path.name == "__init__.py")
    return ModuleInfo(path=path, name=name, doc=_first_line(ast.get_docstring(tree)),
                      imports=tuple(dict.fromkeys(imports)))


def _resolve(choices: tuple[str, ...], modules: dict[str, Path]) -> Path | None:
    """The repository file an import refers to: the first choice that names a module,
    else the longest module prefix of the last choice."""
    for name in choices:
        if name in modules:
            return modules[name]
    parts = choices[-1].split(".")
    while parts:
        hit = modules.get(".".join(parts))
        if hit is not None:
            return hit
        parts.pop()
    return None


def _third_party(choices: tuple[str, ...], modules: dict[str, Path]) -> str | None:
    top = choices[-1].split(".")[0]
    if not top or top in sys.stdlib_module_names or top == "__future__":
        return None
    if any(m == top or m.startswith(top + ".") for m in modules):
        return None
    return top


@dataclass
class Stub:
    """The derived parts of one folder's CONTEXT.md, and its text."""

    folder: Path
    root: Path
    modules: list[ModuleInfo]
    internal: dict[Path, list[Path]] = field(default_factory=dict)  # module -> same-folder
    uses: dict[Path, list[Path]] = field(default_factory=dict)      # outside -> our users
    used_by: dict[Path, list[Path]] = field(default_factory=dict)   # outside -> ours used
    packages: list[str] = field(default_factory=list)

    def _rel(self, p: Path) -> str:
        r = os.path.relpath(p, self.folder)
        return Path(r).as_posix()

    def _names(self, paths: Iterable[Path]) -> str:
        return ", ".join(f"`{self._rel(p)}`" for p in paths)

    def purpose(self) -> str:
        init = next((m for m in self.modules if m.path.name == "__init__.py"), None)
        if init is not None and init.doc:
            return init.doc
        if len(self.modules) == 1 and self.modules[0].doc:
            return self.modules[0].doc
        return "TODO: what this folder is for and who uses it, in two or three sentences."

    def rows(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for m in self.modules:
            doc = m.doc.rstrip(".") + "." if m.doc else "TODO (no docstring)."
            text = f"module: not parsed ({m.error})." if m.error else f"module: {doc}"
            inner = self.internal.get(m.path)
            if inner:
                text += f" Imports {self._names(inner)}."
            out.append((f"`{self._rel(m.path)}`", text))
        for target, ours in sorted(self.uses.items()):
            out.append((f"`{self._rel(target)}`", f"uses: imported by {self._names(ours)}"))
        for user, ours in sorted(self.used_by.items()):
            out.append((f"`{self._rel(user)}`", f"used by: imports {self._names(ours)}"))
        return out

    def render(self) -> str:
        table = "\n".join(f"| {a} | {b.replace('|', '/')} |" for a, b in self.rows())
        packages = (f"\nThird-party packages imported here: "
                    f"{', '.join(f'`{p}`' for p in self.packages)}.\n" if self.packages else "")
        return f"""# {self.folder.name} — CONTEXT

{STUB_MARK} from the code; replace the TODOs and check the relationships. -->

## Purpose
{self.purpose()}

## Related Scripts
Relationship types: `module` (a file of this folder, with its docstring), `uses` (a module \
elsewhere in the repository that this folder imports), `used by` (a module elsewhere that \
imports this folder).

| script | relationship |
|---|---|
{table}
{packages}
## Data Flow
TODO: how data enters, moves through these modules and leaves (input -> module -> output).

## Key Decisions
- TODO: each choice a newcomer would question, and why it was made.

## Status
- [ ] Purpose written
- [ ] Relationships checked
- [ ] Data flow and key decisions written
"""


def build_stub(folder: Path) -> Stub:
    """Read the folder's modules and the repository's, and relate them."""
    folder = folder.expanduser().resolve()
    root = project_root(folder)
    ours = sorted(p for p in folder.glob("*.py") if p.is_file())
    mine = [read_module(p, root) for p in ours]
    others = [read_module(p, root) for p in python_files([root]) if p.parent != folder]
    modules = {m.name: m.path for m in (*mine, *others) if not m.error}
    stub = Stub(folder=folder, root=root, modules=mine)
    packages: set[str] = set()
    for m in mine:
        for imp in m.imports:
            target = _resolve(imp, modules)
            if target is None:
                pkg = _third_party(imp, modules)
                if pkg:
                    packages.add(pkg)
            elif target == m.path:
                continue
            elif target.parent == folder:
                stub.internal.setdefault(m.path, [])
                if target not in stub.internal[m.path]:
                    stub.internal[m.path].append(target)
            else:
                users = stub.uses.setdefault(target, [])
                if m.path not in users:
                    users.append(m.path)
    for o in others:
        for imp in o.imports:
            target = _resolve(imp, modules)
            if target is not None and target.parent == folder:
                used = stub.used_by.setdefault(o.path, [])
                if target not in used:
                    used.append(target)
    stub.packages = sorted(packages)
    return stub


def write_stub(folder: Path, *, force: bool = False) -> tuple[Path, Stub]:
    """Write `folder/CONTEXT.md` from `build_stub`; an existing one is kept unless `force`."""
    target = folder.expanduser().resolve() / FILE_NAME
    if target.exists() and not force:
        raise ContextFileExistsError(
            f"{target} already exists; it is kept (--force replaces it with a new stub)")
    stub = build_stub(folder)
    write_text_atomic(target, stub.render())
    return target, stub
