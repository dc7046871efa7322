"""CONTEXT.md (markdown) -> one chunk per heading section, plus a file outline chunk.

Each chunk's text starts with the file path and the heading trail, so a section keeps the
context that tells what it is about ("claude-flow/hooks/CONTEXT.md / Hooks > Integration
Points"). Relationship tables under a "Related ..." heading (`| Script | Relationship |`)
become metadata: `relations` (target, relationship) on that section, `related` (resolved
target paths) on every chunk of the file, so a filter can find the modules tied to a file.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable
from typing import Any

from chunkers.chunk import Chunk
from store.markdown import FENCE, TABLE_SEP, Section, parse_sections, tables

# all-MiniLM-L6-v2 reads at most 256 word pieces; ~1,000 characters of prose fit, code and
# paths tokenise into more pieces, so a section body is cut into parts of at most this size.
MAX_BODY_CHARS = 900

_RELATED_HEADING = re.compile(r"\brelat", re.IGNORECASE)


def _blocks(body: str) -> list[str]:
    """Paragraphs separated by blank lines; a fenced code block stays one block."""
    blocks: list[str] = []
    cur: list[str] = []
    in_fence = False
    for line in body.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if cur:
                blocks.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def _split_long(block: str, limit: int) -> list[str]:
    """A block longer than the limit, cut at line ends (a single huge line at the limit)."""
    parts: list[str] = []
    cur = ""
    for line in block.split("\n"):
        while len(line) > limit:
            if cur:
                parts.append(cur)
                cur = ""
            parts.append(line[:limit])
            line = line[limit:]
        if cur and len(cur) + 1 + len(line) > limit:
            parts.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        parts.append(cur)
    return parts


def pack_body(body: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Pack paragraphs greedily into parts of at most `limit` characters."""
    parts: list[str] = []
    cur = ""
    for block in _blocks(body):
        pieces = [block] if len(block) <= limit else _split_long(block, limit)
        for piece in pieces:
            if cur and len(cur) + 2 + len(piece) > limit:
                parts.append(cur)
                cur = piece
            else:
                cur = f"{cur}\n\n{piece}" if cur else piece
    if cur:
        parts.append(cur)
    return parts


def _clean(body: str) -> str:
    """Drop table separator rows (`|---|---|`): pure noise for the embedding."""
    return "\n".join(line for line in body.split("\n") if not TABLE_SEP.match(line))


def _unquote(cell: str) -> str:
    return cell.strip().strip("`*_ ").strip()


def parse_relations(body: str, file_dir: str) -> list[dict[str, str]]:
    """Rows of the markdown tables in a "Related ..." section as target -> relationship.

    `file_dir` is the directory of the CONTEXT.md relative to its root, so `../x.py` resolves
    to a root-relative path; absolute targets stay as they are.
    """
    out: list[dict[str, str]] = []
    for table in tables(body):
        for row in table.rows:
            if len(row) < 2 or not _unquote(row[0]):
                continue
            target = _unquote(row[0])
            out.append({
                "target": target,
                "resolved": resolve_target(target, file_dir),
                "relationship": " ".join(c for c in row[1:] if c),
            })
    return out


def resolve_target(target: str, file_dir: str) -> str:
    """A relationship target as a normalised path relative to the root (absolute kept)."""
    if target.startswith(("/", "~")) or "://" in target:
        return target
    joined = posixpath.normpath(posixpath.join(file_dir or ".", target))
    return joined.rstrip("/") or "."


def _slug(trail: list[str]) -> str:
    s = "/".join(trail).lower()
    s = re.sub(r"[^a-z0-9/]+", "-", s).strip("-")
    return s[:80] or "preamble"


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of a paragraph of prose (not a table, list or code), or ''."""
    for block in _blocks(text):
        b = block.strip()
        if not b or b[0] in "|`-*>#[!<0123456789~" or b.startswith("```"):
            continue
        b = " ".join(b.split())
        m = re.search(r"(?<=[.!?])\s", b)
        sentence = b[: m.start()] if m else b
        return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + "..."
    return ""


def file_summary(sections: list[Section]) -> str:
    """The file's one-line summary: the first prose sentence of the preamble, or of the
    first section (usually "Purpose" or "Overview")."""
    for sec in sections:
        sentence = first_sentence(_clean(sec.body))
        if sentence:
            return sentence
    return ""


def chunk_id_for(source: str, trail: list[str], part: int, occurrence: int = 0) -> str:
    """Stable id: same source, same heading trail, same part -> same id across runs."""
    key = "\x00".join([source, *trail, str(occurrence), str(part)])
    return f"md:{hashlib.sha256(key.encode()).hexdigest()[:20]}:{_slug(trail)}:{part}"


def chunk_markdown(
    text: str,
    *,
    path: str,
    source: str,
    root: str = "",
    max_body_chars: int = MAX_BODY_CHARS,
    summary_line: bool = True,
    header: Callable[[list[str], str], str] | None = None,
) -> list[Chunk]:
    """Chunks of one CONTEXT.md (or any markdown file).

    `path` is the file's path relative to its root (shown in the text and metadata), `source`
    the indexer's key for the file (its absolute path), `root` the root it was found under.
    Sections with an empty body are skipped: their heading lives on in their children's trail.
    `summary_line`: put the file's one-line summary under each section's heading trail.
    `header(trail, part)`: one more header line for a section part (e.g. what it documents).
    """
    if not text.strip():
        return []
    path = path.replace("\\", "/")
    file_dir = posixpath.dirname(path)
    module = file_dir or (posixpath.basename(root.rstrip("/")) if root else ".")
    sections = parse_sections(text)
    title = next((s.trail[0] for s in sections if s.level and s.trail), "")

    relations: list[dict[str, str]] = []
    per_section_relations: dict[int, list[dict[str, str]]] = {}
    for idx, sec in enumerate(sections):
        if sec.trail and _RELATED_HEADING.search(sec.trail[-1]):
            rel = parse_relations(sec.body, file_dir)
            if rel:
                per_section_relations[idx] = rel
                relations.extend(rel)
    related = sorted({r["resolved"] for r in relations})

    base: dict[str, Any] = {"path": path, "module": module, "root": root, "title": title}
    if related:
        base["related"] = related

    summary = file_summary(sections) if summary_line else ""
    chunks: list[Chunk] = []
    seen_trails: dict[tuple[str, ...], int] = {}
    headings: list[str] = []
    for idx, sec in enumerate(sections):
        body = _clean(sec.body).strip()
        if sec.level:
            headings.append("  " * max(sec.level - 2, 0) + sec.trail[-1])
        if not body:
            continue
        key = tuple(sec.trail)
        occurrence = seen_trails.get(key, 0)
        seen_trails[key] = occurrence + 1
        heading = " > ".join(sec.trail)
        parts = pack_body(body, max_body_chars)
        # Every section carries the file's one-line summary: a section alone ("Planned
        # Repositories") often does not say what the file is about; the summary does.
        context = "" if summary and body.startswith(summary) else summary
        for n, part in enumerate(parts):
            label = heading or "(preamble)"
            if len(parts) > 1:
                label += f" (part {n + 1}/{len(parts)})"
            meta: dict[str, Any] = {**base, "kind": "section", "heading": heading, "part": n}
            if idx in per_section_relations:
                meta["relations"] = per_section_relations[idx]
            extra = header(sec.trail, part) if header is not None else ""
            chunks.append(Chunk(
                chunk_id=chunk_id_for(source, sec.trail, n, occurrence),
                text=f"{path}\n{label}\n" + (f"({context})\n" if context else "")
                + (f"{extra}\n" if extra else "") + f"\n{part}",
                source=source,
                metadata=meta,
            ))

    if len(headings) > 1 or not chunks:
        # The outline answers "which file is about X" questions that no single section does.
        intro = next((_clean(s.body).strip() for s in sections if _clean(s.body).strip()), "")
        intro = pack_body(intro, 300)[0] if intro else ""
        outline = "\n".join(f"- {h}" for h in headings)
        text_ = f"{path}\n{title or path} (outline)\n\n{outline}"
        if intro:
            text_ += f"\n\n{intro}"
        chunks.append(Chunk(
            chunk_id=chunk_id_for(source, ["(outline)"], 0),
            text=text_[: max_body_chars + 400],
            source=source,
            metadata={**base, "kind": "outline", "heading": title, "part": 0},
        ))
    return chunks
