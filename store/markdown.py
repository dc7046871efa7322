"""Markdown structure, pure: heading sections and pipe tables (headings and tables in code
fences do not count). The protocol-docs parser (`store.spec`) and the markdown chunker read
it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


@dataclass
class Section:
    """A heading and the lines under it up to the next heading of any level."""

    level: int
    trail: list[str]
    lines: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n".join(self.lines).strip("\n")


def parse_sections(text: str) -> list[Section]:
    """Split markdown into heading sections; headings inside fenced code do not count."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    sections = [Section(level=0, trail=[])]
    stack: list[tuple[int, str]] = []
    fence: str | None = None
    for line in text.split("\n"):
        m_fence = FENCE.match(line)
        if m_fence:
            marker = m_fence.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            sections[-1].lines.append(line)
            continue
        m = HEADING.match(line) if fence is None else None
        if m:
            level = len(m.group(1))
            title = m.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            sections.append(Section(level=level, trail=[t for _, t in stack]))
        else:
            sections[-1].lines.append(line)
    return sections


def cells(line: str) -> list[str]:
    """The cells of one table row, stripped (`| a | b |` -> ["a", "b"])."""
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [c.strip() for c in s.split("|")]


@dataclass
class Table:
    """A pipe table: its header cells, its rows, and the lines above it (up to a blank line)."""

    header: list[str]
    rows: list[list[str]]
    lead: list[str] = field(default_factory=list)

    def column(self, *names: str) -> int | None:
        """The index of the first header cell equal to one of `names` (case-insensitive)."""
        want = [n.lower() for n in names]
        for i, h in enumerate(self.header):
            if plain(h).lower() in want:
                return i
        return None


def tables(body: str) -> list[Table]:
    """Every pipe table of a section body, outside code fences, in order."""
    out: list[Table] = []
    lines = body.split("\n")
    in_fence = False
    i = 0
    lead: list[str] = []
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line):
            in_fence = not in_fence
            i += 1
            continue
        if (not in_fence and "|" in line and i + 1 < len(lines)
                and TABLE_SEP.match(lines[i + 1])):
            t = Table(header=cells(line), rows=[], lead=lead)
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                t.rows.append(cells(lines[i]))
                i += 1
            out.append(t)
            lead = []
            continue
        if not in_fence:
            lead = [] if not line.strip() else [*lead, line]
        i += 1
    return out


def plain(cell: str) -> str:
    """A cell or heading without code marks and bold/italic stars: `**x**` -> x (underscores
    stay: they are part of names like `__trace` and `incomplete_reason`)."""
    return re.sub(r"[`*]+", "", cell).strip()
