"""Protocol docs (markdown) -> section chunks for the events table, each tagged with the event
names and field paths it documents.

Sections are cut by `chunkers.markdown` (heading trail, file summary, parts of at most 900
characters, an outline per file). Tags come from the text against names the caller knows
(the docs' own event declarations and the catalog's event names with their field paths),
never from a list written here: an event counts when a section's heading names it, or its
text writes it in backticks or quotes (camelCase and `a/b` names also bare); a field counts
when one of the tagged events has a path whose name the text writes the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from chunkers.chunk import Chunk
from chunkers.markdown import chunk_markdown

KIND_DOC = "doc_section"
KIND_DOC_OUTLINE = "doc_outline"
MAX_TAGGED_FIELDS = 60
# Contextual header of each section: "trail" is the doc's path and heading trail, "summary"
# adds the file's one-line summary (as CONTEXT.md sections have), "tags" also a line naming
# the events and fields the section documents. Measured on the dev questions (events hybrid
# hit@5 / MRR, bench/eval_retrieval.py --compare): trail 0.909 / 0.796, summary 0.879 /
# 0.792, tags 0.879 / 0.792: the plain trail is kept.
HEADERS = ("trail", "summary", "tags")
DEFAULT_HEADER = "trail"


@lru_cache(maxsize=4096)
def _pattern(name: str) -> re.Pattern[str]:
    """How a name is written when a text means it: in backticks or quotes always; bare only
    when it cannot be a plain English word (camelCase, digits, `_` or `/`)."""
    esc = re.escape(name)
    quoted = rf"[`\"']{esc}(?:\[\])?[`\"']"
    if re.search(r"[A-Z0-9_/]", name[1:]):
        return re.compile(rf"{quoted}|(?<![\w/]){esc}(?![\w/])")
    return re.compile(quoted)


def mentions(text: str, name: str, words: frozenset[str] | None = None) -> bool:
    """Whether `text` means `name`; `words` (the text's tokens) skips texts without it."""
    if words is not None and name.removesuffix("[]").rsplit(".", 1)[-1] not in words:
        return False
    return bool(_pattern(name).search(text))


def _tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[A-Za-z0-9_/<>]+", text)) | frozenset(
        re.findall(r"[A-Za-z0-9_<>]+", text))


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1].removesuffix("[]")


def tag(trail: Iterable[str], text: str, known: Mapping[str, Iterable[str]]
        ) -> tuple[list[str], list[str], str | None]:
    """(events, field paths, primary event) that a section documents.

    The primary event is the one its deepest heading names, else the only event its text
    names; sections about several events have none (their `events` list still names them).
    """
    heading_events: list[str] = []
    for title in trail:
        named = [n for n in known if mentions(title, n)]
        if named:
            heading_events = sorted(named, key=lambda n: title.find(n))
    words = _tokens(text)
    body_events = sorted((n for n in known if n not in heading_events
                          and mentions(text, n, words)),
                         key=lambda n: _pattern(n).search(text).start())  # type: ignore[union-attr]
    events = heading_events + body_events
    fields: list[str] = []
    for name in events:
        for path in known[name]:
            if path not in fields and mentions(text, _leaf(path), words):
                fields.append(path)
    primary = heading_events[-1] if heading_events else (
        body_events[0] if len(body_events) == 1 else None)
    return events, fields[:MAX_TAGGED_FIELDS], primary


def _tag_line(events: list[str], fields: list[str]) -> str:
    if not events:
        return ""
    line = "Documents " + ", ".join(events[:8])
    leaves = list(dict.fromkeys(_leaf(f) for f in fields))
    if leaves:
        line += "; fields " + ", ".join(leaves[:24])
    return line


def doc_chunks(text: str, *, path: str, source: str, root: str = "",
               known: Mapping[str, Iterable[str]] | None = None,
               header: str = DEFAULT_HEADER) -> list[Chunk]:
    """The section chunks of one protocol doc, tagged.

    `known`: event name -> its field paths (documented and observed). `header`: `trail`
    (path and heading trail), `summary` (+ the file's one-line summary), `tags` (+ a line
    naming the events and fields the section documents).
    """
    if header not in HEADERS:
        raise ValueError(f"unknown doc header {header!r}; known: {', '.join(HEADERS)}")
    names = {n: list(p) for n, p in (known or {}).items()}

    def tags_line(trail: list[str], part: str) -> str:
        if header != "tags":
            return ""
        events, fields, _ = tag(trail, part, names)
        return _tag_line(events, fields)

    chunks = chunk_markdown(text, path=path, source=source, root=root,
                            summary_line=header != "trail", header=tags_line)
    out = []
    for c in chunks:
        trail = str(c.metadata.get("heading") or "").split(" > ") if c.metadata.get(
            "kind") == "section" else []
        events, fields, primary = tag(trail, c.text, names)
        meta = {k: v for k, v in c.metadata.items() if k not in ("relations", "related")}
        meta.update({
            "kind": KIND_DOC if c.metadata.get("kind") == "section" else KIND_DOC_OUTLINE,
            "event_name": primary,
            "events": events,
            "fields": fields,
            "doc_type": None,
        })
        out.append(Chunk(c.chunk_id, c.text, c.source, meta))
    return out
