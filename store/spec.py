"""The protocol docs as data: documented events and fields, parsed from the docs' own tables.

The users keep the canonical protocol documentation as markdown (the docs root,
`RUGS_PROTOCOL_DOCS`). This module reads what those files state in a structured way and
nothing else: event sections (a heading that starts with a backticked event name, or
"<event> Fields"), their `**Key**: value` lines (Purpose, Auth Required, Phases, ...),
field tables (a `Field` column with type, description or meaning columns; `$.data.` paths
of a field dictionary; sub-headings and bold lines naming the container), wire examples in
code blocks (`42["name", {...}]`, traced or not, unwrapped by `store.payload`), tables with
an `Event` column (taxonomy, auth, the event-phase matrix, the verification history) and
the docs' own VERIFIED / NEEDS VALIDATION marks. Parsing is pure over text;
`load_documented(root)` reads the files. Files that declare themselves canonical come first
and win where two files disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.markdown import FENCE, Section, Table, parse_sections, plain, tables
from store.payload import TRACE_KEYS, json_type, unwrap

DOC_SUFFIX = ".md"
# Type words of the docs' tables -> JSON types (`store.payload.json_type` names).
TYPE_WORDS = {
    "int": "integer", "integer": "integer", "float": "number", "number": "number",
    "double": "number", "bool": "boolean", "boolean": "boolean", "string": "string",
    "str": "string", "array": "array", "list": "array", "object": "object", "dict": "object",
    "map": "object", "null": "null", "none": "null",
}
_CANONICAL = re.compile(r"^[>\s*]*(canonical source|status\W+canonical)", re.I | re.M)
_EVENT_HEADING = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+)?((?:`[^`]+`\s*(?:/\s*)?)+)")
_TICKED = re.compile(r"`([^`]+)`")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:/[A-Za-z][A-Za-z0-9_]*)?$")
_IDENT = re.compile(r"^[a-z][A-Za-z0-9_]*$")  # a field or container name (lower camel case)
_PATH = re.compile(r"^[A-Za-z_<*][\w<>*]*(?:(?:\.|\[\]\.?)[\w<>*]+)*(?:\[\])?$")
_KEY_LINE = re.compile(r"^\*\*([A-Za-z][\w ]*?)\*\*:\s*(.+?)\s*$")
_BOLD_FIELDS = re.compile(r"^\*\*([a-z][A-Za-z0-9_]*) Fields\*\*")
_WIRE = re.compile(r'\[\s*"([^"\s]+)"\s*,')
_VERIFIED = re.compile(r"\bVERIFIED\b")
_NEEDS_VALIDATION = re.compile(r"needs validation", re.I)
_DIRECTIONS = (("client → server", "sent"), ("client -> server", "sent"),
               ("server → client", "received"), ("server -> client", "received"),
               ("bidirectional", "both"))
_YES = "✅"
_NO = "❌"


@dataclass
class DocField:
    """One field of one event as the docs describe it."""

    path: str  # catalog form: `leaderboard[].pnl`, `partialPrices.values.<key>`; `*.id` when
    # the container is not named (a table of "Event Object Fields")
    types: tuple[str, ...] = ()  # JSON types the docs allow (empty: not said)
    type_text: str = ""  # as written, e.g. "float/null"
    description: str = ""
    units: str = ""
    example: str = ""
    sources: list[str] = field(default_factory=list)  # "file > heading trail"
    needs_validation: bool = False
    from_example: bool = False  # only in a wire example, no table row

    @property
    def trace(self) -> bool:
        """The trace wrapper's keys (`__trace`, `traceparent`): not payload fields."""
        return self.path in TRACE_KEYS

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "types": list(self.types), "type_text": self.type_text,
                "description": self.description, "units": self.units, "example": self.example,
                "sources": self.sources, "needs_validation": self.needs_validation,
                "from_example": self.from_example}


@dataclass
class DocEvent:
    """One event as the docs describe it."""

    name: str
    purpose: str = ""  # its section's Purpose line
    title: str = ""  # the words its section heading adds: "(Primary Tick Event)"
    about: list[str] = field(default_factory=list)  # other descriptions (taxonomy, prose)
    direction: str | None = None  # sent, received or both
    auth: str | None = None  # yes / no, as documented
    phases: list[str] = field(default_factory=list)
    category: str | None = None
    scope: str | None = None
    priority: str | None = None
    frequency: str | None = None
    verified: bool = False  # a VERIFIED mark on its section heading
    verified_on: list[str] = field(default_factory=list)  # dates of a verification history
    fields: dict[str, DocField] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # doc files that name it
    section: str | None = None  # "file > heading trail" of its own section

    @property
    def summary(self) -> str:
        """What the event is, in the docs' words: its Purpose, else its heading's, else the
        first description a table or paragraph gives."""
        return self.purpose or self.title or (self.about[0] if self.about else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "purpose": self.purpose,
                "title": self.title, "about": self.about,
                "direction": self.direction, "auth": self.auth, "phases": self.phases,
                "category": self.category, "scope": self.scope, "priority": self.priority,
                "frequency": self.frequency, "verified": self.verified,
                "verified_on": self.verified_on, "section": self.section,
                "sources": self.sources,
                "fields": [f.to_dict() for f in self.fields.values()]}


@dataclass
class Documented:
    """Everything the docs root documents: events by name, phases, the files read."""

    root: str = ""
    files: list[str] = field(default_factory=list)
    events: dict[str, DocEvent] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)  # phase -> what the docs say

    def get(self, name: str) -> DocEvent | None:
        return self.events.get(name)

    def names(self) -> list[str]:
        return sorted(self.events)

    def field_of(self, event_name: str, path: str) -> DocField | None:
        """The documented field at `path` (keyed parts `<n>`/`<id>`/`<key>` are equal), or the
        one documented inside an unnamed container with the same name."""
        e = self.events.get(event_name)
        if e is None:
            return None
        want = normalize_path(path)
        for f in e.fields.values():
            if normalize_path(f.path) == want:
                return f
        leaf = want.rsplit(".", 1)[-1]
        if "." in want:
            return e.fields.get(f"*.{leaf}")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "files": self.files, "phases": self.phases,
                "events": {n: e.to_dict() for n, e in sorted(self.events.items())}}


EMPTY = Documented()


def normalize_path(path: str) -> str:
    """A path with every keyed part (`<n>`, `<id>`, `<key>`) written `<*>`, for comparison."""
    return re.sub(r"<[^>]*>", "<*>", path)


# ----------------------------------------------------------------------------- files


def doc_files(root: Path) -> list[Path]:
    """Every markdown file under the docs root, canonical ones first, then by path; hidden
    directories are skipped, symlinked directories are not followed."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in filenames
                     if f.endswith(DOC_SUFFIX) and not f.startswith("."))
    return sorted(found, key=lambda p: (not is_canonical(_head(p)), p.relative_to(root)
                                        .as_posix()))


def _head(path: Path, n: int = 2_000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(n)
    except OSError:
        return ""


def is_canonical(text: str) -> bool:
    """Whether a doc declares itself canonical near its top ("Canonical Source: ...",
    "Status: CANONICAL")."""
    return bool(_CANONICAL.search(text[:2_000]))


def docs_signature(root: Path | None) -> str:
    """A hash of the docs root's files (relative paths and bytes); "" without a root."""
    if root is None:
        return ""
    h = hashlib.sha256(str(root).encode())
    for p in doc_files(root):
        try:
            data = p.read_bytes()
        except OSError:
            continue
        h.update(b"\x00" + p.relative_to(root).as_posix().encode() + b"\x00" + data)
    return h.hexdigest()[:32]


def load_documented(root: Path | None, known: Iterable[str] = ()) -> Documented:
    """Parse every doc under `root` (none: nothing documented). `known`: event names seen
    in the data, recognised in the docs' text besides the names the docs declare."""
    if root is None:
        return Documented()
    texts = []
    for p in doc_files(root):
        try:
            texts.append((p.relative_to(root).as_posix(),
                          p.read_bytes().decode("utf-8", errors="replace")))
        except OSError:
            continue  # an unreadable file documents nothing; the others still count
    doc = parse_docs(texts, known)
    doc.root = str(root)
    return doc


# ----------------------------------------------------------------------------- parsing


def parse_docs(files: Sequence[tuple[str, str]], known: Iterable[str] = ()) -> Documented:
    """Documented events and fields of (relative path, text) pairs, in precedence order."""
    parsed = [(rel, parse_sections(text)) for rel, text in files]
    names = _declared_names(parsed) | set(known)
    out = Documented(files=[rel for rel, _ in files])
    for rel, sections in parsed:
        _Reader(out, rel, names).read(sections)
    return out


def event_tokens(text: str, names: set[str]) -> list[str]:
    """The event names in backticks of a heading or cell; `a/b` splits into known parts."""
    out: list[str] = []
    for tok in _TICKED.findall(text):
        tok = tok.strip()
        if tok in names or not _NAME.match(tok):
            parts = [tok]
        elif "/" in tok and all(p in names for p in tok.split("/")):
            parts = tok.split("/")
        else:
            parts = [tok]
        out.extend(p for p in parts if p in names and p not in out)
    return out


def _event_column(t: Table) -> int | None:
    return t.column("event", "events", "events verified")


def _declared_names(parsed: Sequence[tuple[str, list[Section]]]) -> set[str]:
    """Names the docs declare as events: an Event column's cells, event section headings."""
    raw: set[str] = set()
    for _rel, sections in parsed:
        for sec in sections:
            title = sec.trail[-1] if sec.trail else ""
            m = _EVENT_HEADING.match(title)
            if m and sec.level >= 2:
                raw.update(t.strip() for t in _TICKED.findall(m.group(1)))
            for t in tables(sec.body):
                col = _event_column(t)
                if col is None:
                    continue
                for row in t.rows:
                    if col < len(row):
                        raw.update(x.strip() for x in _TICKED.findall(row[col]))
    names = {n for n in raw if _NAME.match(n)}
    # `buyOrder/sellOrder` is two names when both parts are names of their own.
    return {n for n in names if not ("/" in n and all(p in names for p in n.split("/")))}


def _types(text: str) -> tuple[str, ...]:
    words = [w.strip().lower() for w in re.split(r"[/|,]| or ", plain(text)) if w.strip()]
    out: list[str] = []
    for w in words:
        t = TYPE_WORDS.get(w)
        if t is None:
            return ()  # a type the table names in its own words: not comparable
        if t not in out:
            out.append(t)
    return tuple(out)


def field_path(cell: str) -> str | None:
    """A table's field cell in catalog form, or None when it is not a field path."""
    p = plain(cell)
    p = re.sub(r"^\$\.(data\.)?", "", p)
    p = p.replace("[*]", "[]")
    p = re.sub(r"\{[^}]*\}", "<key>", p)
    p = p.removesuffix("[]")
    return p if p and _PATH.match(p) else None


def _container(token: str) -> str | None:
    """A backticked container of a heading (`leaderboard[]` keeps its list mark)."""
    p = plain(token).replace("[*]", "[]")
    return p if p and _PATH.match(p) else None


def _direction(text: str) -> str | None:
    low = plain(text).lower()
    for words, d in _DIRECTIONS:
        if words in low:
            return d
    return None


def _auth(text: str) -> str | None:
    low = plain(text).lower()
    if low.startswith("yes"):
        return "yes"
    if low.startswith("no"):
        return "no"
    return None


def _lenient_json(text: str) -> Any:
    """The docs' example JSON with its `...` placeholders removed; ValueError if still not
    JSON."""
    s = re.sub(r"\[\s*\.\.\.\s*\]", "[]", text)
    s = re.sub(r"\{\s*\.\.\.\s*\}", "{}", s)
    s = re.sub(r",\s*\.\.\.(?=\s*[\]}])", "", s)
    return json.loads(s)


def _bracketed(text: str, start: int) -> str | None:
    """The balanced `[...]` starting at `start` (strings respected), or None."""
    depth = 0
    in_str = False
    esc = False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def wire_examples(code: str, names: set[str]) -> list[tuple[str, Any]]:
    """(event name, payload) of each `["name", ...]` wire example in a code block whose
    name is a known event; traced examples are unwrapped like stored payloads."""
    out: list[tuple[str, Any]] = []
    for m in _WIRE.finditer(code):
        name = m.group(1)
        if name not in names:
            continue
        block = _bracketed(code, m.start())
        if block is None:
            continue
        try:
            arr = _lenient_json(block)
        except ValueError:
            continue
        if not isinstance(arr, list) or len(arr) < 2:
            continue
        args = arr[1:]
        kind, payload = unwrap(args[0] if len(args) == 1 else args)
        if kind in ("object", "array"):
            out.append((name, payload))
    return out


_ACK = re.compile(r"^\s*\d+[0-9X]*\[", re.M)


def ack_examples(code: str) -> list[Any]:
    """The payloads of reply frames without an event name (`43XXXX[{...}]`) in a code block."""
    out: list[Any] = []
    for m in _ACK.finditer(code):
        block = _bracketed(code, m.end() - 1)
        try:
            arr = _lenient_json(block) if block else None
        except ValueError:
            continue
        if isinstance(arr, list) and arr and isinstance(arr[0], dict):
            out.append(arr[0])
    return out


def example_fields(payload: Any, prefix: str = "") -> list[tuple[str, str, Any]]:
    """(path, JSON type, value) of every key of an example payload (lists: first item)."""
    out: list[tuple[str, str, Any]] = []
    if isinstance(payload, dict):
        for k, v in payload.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out.append((path, json_type(v), v))
            if isinstance(v, dict):
                out.extend(example_fields(v, path))
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                out.extend(example_fields(v[0], path + "[]"))
    return out


def _code_blocks(body: str) -> list[str]:
    blocks: list[str] = []
    cur: list[str] | None = None
    for line in body.split("\n"):
        if FENCE.match(line):
            if cur is None:
                cur = []
            else:
                blocks.append("\n".join(cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return blocks


@dataclass
class _Context:
    level: int
    events: list[str]
    prefix: str | None  # field path prefix; None: a container the heading does not name
    own: bool  # this section is the event's own (its **Key**: value lines describe it)


class _Reader:
    """Reads one file's sections into a Documented (files in precedence order)."""

    def __init__(self, out: Documented, rel: str, names: set[str]) -> None:
        self.out = out
        self.rel = rel
        self.names = names

    def event(self, name: str) -> DocEvent:
        e = self.out.events.get(name)
        if e is None:
            e = self.out.events[name] = DocEvent(name=name)
        if self.rel not in e.sources:
            e.sources.append(self.rel)
        return e

    def read(self, sections: list[Section]) -> None:
        stack: list[_Context] = []
        for sec in sections:
            title = sec.trail[-1] if sec.trail else ""
            while stack and stack[-1].level >= sec.level:
                stack.pop()
            where = f"{self.rel} > {' > '.join(plain(t) for t in sec.trail)}".rstrip(" >")
            ctx = self._context(sec, title, stack[-1] if stack else None)
            if ctx is not None:
                stack.append(ctx)
                if ctx.own:
                    self._own_section(ctx.events, title, where)
            current = stack[-1] if stack else None
            flagged = bool(_NEEDS_VALIDATION.search(sec.body))
            if current is not None and current.own and current.level == sec.level:
                self._key_lines(current.events, sec.body)
                self._first_prose(current.events, sec.body)
            for t in tables(sec.body):
                self._table(t, current, where, flagged)
            for code in _code_blocks(sec.body):
                named = wire_examples(code, self.names)
                for name, payload in named:
                    self._example(name, payload, where)
                if not named and current is not None and len(current.events) == 1:
                    for payload in ack_examples(code):
                        self._example(current.events[0], payload, where)

    # -- sections ------------------------------------------------------------------------

    def _context(self, sec: Section, title: str, parent: _Context | None) -> _Context | None:
        if sec.level == 0:
            return None
        m = _EVENT_HEADING.match(title)
        events = event_tokens(m.group(1), self.names) if m else []
        if not events:
            first = plain(title).split(" ", 1)
            if len(first) == 2 and first[0] in self.names and first[1].startswith("Fields"):
                events = [first[0]]  # a field dictionary's "playerUpdate Fields"
        if events:
            return _Context(sec.level, events, "", own=True)
        if parent is None:
            return None
        return _Context(sec.level, parent.events, self._prefix(title, parent), own=False)

    def _prefix(self, title: str, parent: _Context) -> str | None:
        """The container a sub-heading names (`leaderboard[]`, "rugpool Fields"), else its
        parent's; None for an object table the heading does not name ("Event Object")."""
        ticked = [c for c in map(_container, _TICKED.findall(title))
                  if c and c not in self.names]
        if ticked:
            return ticked[0]
        first = plain(title).split(" ", 1)[0]
        if _IDENT.match(first) and "field" in title.lower():
            return first
        if re.search(r"\b(object|entry|item)\b", title, re.I) and "field" in title.lower():
            return None
        return parent.prefix

    def _own_section(self, events: list[str], title: str, where: str) -> None:
        subtitle = re.search(r"\(([^)]+)\)", title)
        for name in events:
            e = self.event(name)
            if e.section is None:
                e.section = where
            if _VERIFIED.search(title) and not re.search(r"NOT\s+VERIFIED|UNVERIFIED", title):
                e.verified = True
            if subtitle and not e.title:
                e.title = subtitle.group(1).strip()

    def _key_lines(self, events: list[str], body: str) -> None:
        for line in body.split("\n"):
            m = _KEY_LINE.match(line.strip())
            if not m:
                continue
            key, value = m.group(1).strip().lower(), plain(m.group(2))
            for name in events:
                e = self.event(name)
                if key == "purpose":
                    e.purpose = e.purpose or value
                elif key in ("auth required", "auth"):
                    e.auth = e.auth or _auth(value)
                elif key == "phases":
                    e.phases = e.phases or self._phases(value)
                elif key == "category":
                    e.category = e.category or value
                elif key == "scope":
                    e.scope = e.scope or value.split(" ")[0]
                elif key == "priority":
                    e.priority = e.priority or value
                elif key == "frequency":
                    e.frequency = e.frequency or value

    def _first_prose(self, events: list[str], body: str) -> None:
        for block in body.split("\n\n"):
            b = block.strip()
            if not b or b[0] in "|`-*>#[!<~{" or b[:1].isdigit():
                continue
            for name in events:
                e = self.event(name)
                if b not in e.about:
                    e.about.append(" ".join(b.split()))
            return

    def _phases(self, value: str) -> list[str]:
        if value.strip().lower() == "all":
            return list(self.out.phases) or ["all"]
        return [p.strip() for p in re.split(r"[,/]", value) if p.strip()]

    # -- tables --------------------------------------------------------------------------

    def _table(self, t: Table, ctx: _Context | None, where: str, flagged: bool) -> None:
        fcol = t.column("field")
        ecol = _event_column(t)
        if t.column("phase") is not None and fcol is None and ecol is None:
            self._phase_table(t)
        if fcol is not None and ctx is not None:
            prefix = ctx.prefix
            for line in t.lead:
                m = _BOLD_FIELDS.match(line.strip())
                if m:
                    prefix = m.group(1)
            for row in t.rows:
                self._field_row(t, row, fcol, ctx.events, prefix, where, flagged)
        elif ecol is not None:
            for row in t.rows:
                self._event_row(t, row, ecol)

    def _phase_table(self, t: Table) -> None:
        col = t.column("phase")
        assert col is not None
        for row in t.rows:
            if col >= len(row):
                continue
            name = plain(row[col])
            if not re.match(r"^[A-Z][A-Z_0-9]+$", name):
                continue
            rest = "; ".join(f"{plain(t.header[i])}: {plain(c)}" for i, c in enumerate(row)
                             if i != col and i < len(t.header) and c)
            self.out.phases.setdefault(name, rest)

    def _field_row(self, t: Table, row: list[str], fcol: int, events: list[str],
                   prefix: str | None, where: str, flagged: bool) -> None:
        path = field_path(row[fcol]) if fcol < len(row) else None
        if path is None:
            return
        absolute = plain(row[fcol]).startswith("$.")
        if prefix is None and not absolute:
            path = "*." + path
        elif prefix and not absolute and not path.startswith(prefix + "."):
            path = f"{prefix}.{path}"

        def cell(*names: str) -> str:
            i = t.column(*names)
            return plain(row[i]) if i is not None and i < len(row) else ""

        type_text = cell("type")
        desc = cell("description", "meaning", "purpose")
        for name in events:
            e = self.event(name)
            f = e.fields.get(path)
            if f is None or f.from_example:
                seen = f.example if f is not None else ""
                f = e.fields[path] = DocField(path=path, types=_types(type_text),
                                              type_text=type_text, description=desc,
                                              units=cell("units"),
                                              example=cell("example") or seen)
            elif desc and desc not in f.description:
                f.description = f"{f.description}; {desc}" if f.description else desc
            if where not in f.sources:
                f.sources.append(where)
            if flagged or _NEEDS_VALIDATION.search(desc):
                f.needs_validation = True

    def _event_row(self, t: Table, row: list[str], ecol: int) -> None:
        names = event_tokens(row[ecol], self.names) if ecol < len(row) else []
        if not names:
            return
        header = [plain(h).lower() for h in t.header]
        for name in names:
            e = self.event(name)
            for i, h in enumerate(header):
                if i == ecol or i >= len(row):
                    continue
                v = row[i]
                if h == "direction":
                    e.direction = e.direction or _direction(v)
                elif h.startswith("auth"):
                    e.auth = e.auth or _auth(v)
                elif h == "category" and plain(v) not in ("-", ""):
                    e.category = e.category or plain(v)
                elif h in ("description", "purpose"):
                    d = plain(v)
                    if d and d not in e.about:
                        e.about.append(d)
                elif h == "scope":
                    e.scope = e.scope or plain(v)
                elif h == "priority":
                    e.priority = e.priority or plain(v)
                elif h == "phases" and not e.phases:
                    e.phases = self._phases(plain(v))
                elif h == "when sent":
                    e.frequency = e.frequency or plain(v)
                elif h == "date" and "verified" in header[ecol]:
                    if plain(v) not in e.verified_on:
                        e.verified_on.append(plain(v))
                elif _YES in v and re.match(r"^[A-Z][A-Z_]+$", plain(t.header[i])):
                    if plain(t.header[i]) not in e.phases:
                        e.phases.append(plain(t.header[i]))  # an event-phase matrix

    # -- examples ------------------------------------------------------------------------

    def _example(self, name: str, payload: Any, where: str) -> None:
        e = self.event(name)
        for path, jtype, value in example_fields(payload):
            if path in TRACE_KEYS:
                continue
            f = e.fields.get(path)
            if f is None:
                f = e.fields[path] = DocField(path=path, types=(jtype,), type_text=jtype,
                                              from_example=True)
            if not f.example and not isinstance(value, dict | list):
                f.example = json.dumps(value)[:60]
            if where not in f.sources:
                f.sources.append(where)
