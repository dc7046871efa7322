"""CONTEXT.md -> heading-section chunks with path, trail and relationship metadata."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chunkers.chunk import Chunk, ensure_unique_ids
from chunkers.markdown import MAX_BODY_CHARS, chunk_markdown, pack_body
from store.markdown import parse_sections

DOC = """# Store — CONTEXT

## Purpose
The store keeps canonical Parquet files of every captured event.

## Related Scripts
| Script | Relationship |
|--------|--------------|
| `../../services/event_store/schema.py` | EventEnvelope wraps these models |
| `/abs/tool.py` | external helper |

## Key decisions
### Compaction
Small flush files become one sorted file per day.

```python
# not a heading
x = 1
```
"""


def _chunks(text: str = DOC, path: str = "app/src/store/CONTEXT.md") -> list[Chunk]:
    return chunk_markdown(text, path=path, source="/abs/" + path, root="/abs")


def _by_heading(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {c.metadata["heading"]: c for c in chunks if c.metadata["kind"] == "section"}


def test_each_section_text_starts_with_file_path_and_heading_trail() -> None:
    sections = _by_heading(_chunks())
    c = sections["Store — CONTEXT > Key decisions > Compaction"]
    assert c.text.startswith("app/src/store/CONTEXT.md\nStore — CONTEXT > Key decisions > "
                             "Compaction\n")
    assert "one sorted file per day" in c.text
    assert c.metadata["path"] == "app/src/store/CONTEXT.md"
    assert c.metadata["module"] == "app/src/store"
    assert c.source == "/abs/app/src/store/CONTEXT.md"


def test_sections_carry_the_files_one_line_summary() -> None:
    c = _by_heading(_chunks())["Store — CONTEXT > Key decisions > Compaction"]
    assert "(The store keeps canonical Parquet files of every captured event.)" in c.text


def test_heading_inside_a_code_fence_does_not_start_a_section() -> None:
    sections = _by_heading(_chunks())
    assert not any("not a heading" in h for h in sections)
    assert "# not a heading" in sections["Store — CONTEXT > Key decisions > Compaction"].text


def test_related_scripts_table_becomes_relations_metadata_with_resolved_paths() -> None:
    chunks = _chunks()
    rel = _by_heading(chunks)["Store — CONTEXT > Related Scripts"]
    assert rel.metadata["relations"] == [
        {"target": "../../services/event_store/schema.py",
         "resolved": "app/services/event_store/schema.py",
         "relationship": "EventEnvelope wraps these models"},
        {"target": "/abs/tool.py", "resolved": "/abs/tool.py",
         "relationship": "external helper"},
    ]
    # every chunk of the file can be filtered by what the file relates to
    assert all("app/services/event_store/schema.py" in c.metadata["related"] for c in chunks)
    assert "|---" not in rel.text  # separator rows are noise for the embedding


def test_file_outline_chunk_lists_the_headings() -> None:
    outline = [c for c in _chunks() if c.metadata["kind"] == "outline"]
    assert len(outline) == 1
    assert "- Related Scripts" in outline[0].text and "Compaction" in outline[0].text


def test_changing_one_section_keeps_the_ids_and_hashes_of_the_others() -> None:
    before = {c.chunk_id: c.content_hash for c in _chunks()}
    after = {c.chunk_id: c.content_hash for c in _chunks(DOC.replace(
        "Small flush files", "Many small flush files"))}
    assert before.keys() == after.keys()
    changed = [i for i in before if before[i] != after[i]]
    assert len(changed) == 1 and "compaction" in changed[0]


def test_long_section_is_cut_into_parts_that_fit_the_model() -> None:
    body = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(20))
    chunks = _chunks(f"# T\n\n## Big\n{body}\n")
    parts = [c for c in chunks if c.metadata["heading"] == "T > Big"]
    assert len(parts) > 1
    assert all(len(c.text) < MAX_BODY_CHARS + 300 for c in parts)
    assert "(part 2/" in parts[1].text
    assert len({c.chunk_id for c in parts}) == len(parts)


def test_empty_file_gives_no_chunks_and_headings_only_give_an_outline() -> None:
    assert _chunks("") == []
    only = _chunks("# A\n## B\n## C\n")
    assert [c.metadata["kind"] for c in only] == ["outline"]


def test_repeated_headings_get_distinct_ids() -> None:
    chunks = _chunks("# T\n## Notes\none\n## Notes\ntwo\n")
    ensure_unique_ids(chunks)
    assert len([c for c in chunks if c.metadata["kind"] == "section"]) == 2


def test_every_real_context_file_chunks_within_the_model_limit(shared_data: Path) -> None:
    root = shared_data / "context_md"
    files = sorted(root.rglob("CONTEXT.md"))
    assert len(files) == 30
    for f in files:
        rel = f.relative_to(root).as_posix()
        chunks = ensure_unique_ids(chunk_markdown(f.read_text(), path=rel, source=str(f),
                                                  root=str(root)))
        assert chunks, rel
        for c in chunks:
            assert c.text.startswith(rel + "\n")
            assert len(c.text) <= MAX_BODY_CHARS + 450, (rel, c.metadata["heading"])
    events = root / "VECTRA-PLAYER/src/models/events/CONTEXT.md"
    rel_chunks = chunk_markdown(events.read_text(), path="VECTRA-PLAYER/src/models/events/"
                                "CONTEXT.md", source=str(events), root=str(root))
    assert "VECTRA-PLAYER/src/sources/websocket_feed.py" in rel_chunks[0].metadata["related"]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab #\n`|-~*x1")), max_size=400))
def test_any_markdown_chunks_with_unique_ids_and_loses_no_words(text: str) -> None:
    chunks = ensure_unique_ids(_chunks(text, path="p/CONTEXT.md"))
    body_words = {w for s in parse_sections(text) for w in s.body.split()
                  if set(w) - set("|-:")}
    seen = " ".join(c.text for c in chunks)
    for w in body_words:
        assert w in seen


@given(st.lists(st.text(alphabet="abc \n", max_size=300), max_size=8), st.integers(20, 200))
def test_packed_parts_respect_the_limit_and_keep_every_word(paras: list[str], limit: int) -> None:
    body = "\n\n".join(paras)
    parts = pack_body(body, limit)
    assert all(len(p) <= limit for p in parts)
    assert "".join(body.split()) == "".join("".join(parts).split())
