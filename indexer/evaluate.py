"""Retrieval evaluation: hit@1, hit@5 and MRR per table and search mode over a question file.

The question format and the answer rule are those of `../shared/eval/README.md`:
- `events`: a result answers when its event name is one of `expect.event_name` and, if
  `expect.field` is given, that field name appears in the result's text (as written); or,
  when `expect.path` is given (questions answered by the protocol docs), when its source
  path ends with one of those paths after their leading `protocol_docs/`. Either form may
  be given, or both: either kind of result answers.
- `code_context`: a result answers when its source path ends with one of `expect.path`
  after their leading `context_md/`.
hit@k is the share of questions with an answering result among the top k; MRR is the mean of
1/rank of the first answering result, 0 when none is in the top 10.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.errors import EvalFileError
from indexer.search import MODES, Searcher, SearchResult
from store.settings import Settings

TOP_K = 10  # MRR counts ranks 1..10
TABLES = ("events", "code_context")


@dataclass(frozen=True)
class Question:
    """One line of a question file."""

    id: str
    question: str
    table: str
    expect: dict[str, Any]
    paraphrased: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _check(line_no: int, path: Path, obj: Any) -> Question:
    where = f"{path}:{line_no}"
    if not isinstance(obj, dict):
        raise EvalFileError(f"{where}: a question must be a JSON object")
    missing = [k for k in ("id", "question", "table", "expect") if k not in obj]
    if missing:
        raise EvalFileError(f"{where}: missing {', '.join(missing)}")
    table = obj["table"]
    if table not in TABLES:
        raise EvalFileError(f"{where}: table must be one of {', '.join(TABLES)}, not {table!r}")
    expect = obj["expect"]
    if not isinstance(expect, dict):
        raise EvalFileError(f"{where}: expect must be an object")
    keys = ("event_name", "path") if table == "events" else ("path",)
    if not any(k in expect for k in keys):
        raise EvalFileError(f"{where}: expect needs {' or '.join(keys)}")
    for key in keys:
        wanted = expect.get(key)
        if key in expect and (not isinstance(wanted, list) or not wanted
                              or not all(isinstance(x, str) for x in wanted)):
            raise EvalFileError(f"{where}: expect.{key} must be a non-empty list of strings")
    if table == "events" and expect.get("field") is not None and not isinstance(
            expect["field"], str):
        raise EvalFileError(f"{where}: expect.field must be a string")
    if not isinstance(obj["question"], str) or not obj["question"].strip():
        raise EvalFileError(f"{where}: question must be a non-empty string")
    return Question(id=str(obj["id"]), question=obj["question"], table=table, expect=expect,
                    paraphrased=bool(obj.get("paraphrased", False)), raw=obj)


def load_questions(path: Path | str) -> list[Question]:
    """Every question of a JSONL file; a bad line is an EvalFileError naming its line."""
    return _load_file(Path(path))


def load_question_files(paths: Iterable[Path | str]) -> list[Question]:
    """The questions of several files in order; an id repeated across files is an error."""
    out: list[Question] = []
    seen: dict[str, Path] = {}
    for path in paths:
        p = Path(path)
        for q in _load_file(p):
            if q.id in seen:
                raise EvalFileError(f"{p}: question id {q.id!r} also in {seen[q.id]}")
            seen[q.id] = p
            out.append(q)
    if not out:
        raise EvalFileError("no question files given")
    return out


def _load_file(path: Path) -> list[Question]:
    p = path
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalFileError(f"{p}: no such question file") from None
    except (OSError, UnicodeError) as exc:
        raise EvalFileError(f"{p}: cannot read: {exc}") from None
    out: list[Question] = []
    ids: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{p}:{n}: not JSON ({exc.msg} at column {exc.colno})") from None
        q = _check(n, p, obj)
        if q.id in ids:
            raise EvalFileError(f"{p}:{n}: question id {q.id!r} repeated")
        ids.add(q.id)
        out.append(q)
    if not out:
        raise EvalFileError(f"{p}: no questions in the file")
    return out


# An expected path is relative to ../shared/data; its first folder is the indexed root.
ROOT_DIRS = {"events": "protocol_docs/", "code_context": "context_md/"}


def _strip_root(p: str, table: str) -> str:
    root = ROOT_DIRS[table]
    return p[len(root):] if p.startswith(root) else p


def _path_answers(q: Question, r: SearchResult) -> bool:
    source = r.source.replace("\\", "/")
    rel = str(r.metadata.get("path") or "")
    for want in q.expect.get("path") or ():
        w = _strip_root(want, q.table)
        if source == w or source.endswith("/" + w) or rel == w or rel.endswith("/" + w):
            return True
    return False


def answers(q: Question, r: SearchResult) -> bool:
    """Whether one search result answers one question (the README's rule)."""
    if q.table == "events" and "event_name" in q.expect:
        if r.metadata.get("event_name") in q.expect["event_name"]:
            fld = q.expect.get("field")
            if fld is None or fld in r.text:
                return True
    return _path_answers(q, r)


def first_rank(q: Question, results: Sequence[SearchResult]) -> int | None:
    for i, r in enumerate(results[:TOP_K], start=1):
        if answers(q, r):
            return i
    return None


@dataclass
class Scores:
    """hit@1, hit@5 and MRR of one table in one mode."""

    n: int = 0
    hit1: int = 0
    hit5: int = 0
    rr: float = 0.0

    def add(self, rank: int | None) -> None:
        self.n += 1
        if rank is not None:
            self.hit1 += rank == 1
            self.hit5 += rank <= 5
            self.rr += 1.0 / rank

    def to_dict(self) -> dict[str, Any]:
        n = self.n or 1
        return {"questions": self.n, "hit@1": round(self.hit1 / n, 4),
                "hit@5": round(self.hit5 / n, 4), "mrr": round(self.rr / n, 4)}


@dataclass
class EvalReport:
    """Figures per table and mode, and each question's rank per mode."""

    questions: int
    modes: list[str]
    scores: dict[str, dict[str, Scores]]  # table -> mode -> scores
    ranks: dict[str, dict[str, int | None]]  # question id -> mode -> rank (None: not in top 10)
    seconds: float = 0.0
    question_file: str = ""

    def figures(self, table: str, mode: str) -> dict[str, Any]:
        return self.scores[table][mode].to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_file": self.question_file,
            "questions": self.questions,
            "k": TOP_K,
            "modes": self.modes,
            "tables": {t: {m: s.to_dict() for m, s in ms.items()}
                       for t, ms in self.scores.items()},
            "ranks": self.ranks,
            "seconds": round(self.seconds, 3),
        }


def evaluate(
    settings: Settings,
    questions: Iterable[Question],
    modes: Sequence[str] = ("hybrid",),
    *,
    searcher: Searcher | None = None,
    question_file: str = "",
) -> EvalReport:
    """Run every question against the current index in every mode and score the results."""
    for m in modes:
        if m not in MODES:
            raise EvalFileError(f"unknown mode {m!r}; modes: {', '.join(MODES)}")
    qs = list(questions)
    s = searcher or Searcher(settings)
    t0 = time.perf_counter()
    scores: dict[str, dict[str, Scores]] = {}
    ranks: dict[str, dict[str, int | None]] = {}
    for q in qs:
        for m in modes:
            results = s.search(q.question, table=q.table, k=TOP_K, mode=m)
            rank = first_rank(q, results)
            scores.setdefault(q.table, {}).setdefault(m, Scores()).add(rank)
            ranks.setdefault(q.id, {})[m] = rank
    return EvalReport(questions=len(qs), modes=list(modes), scores=scores, ranks=ranks,
                      seconds=time.perf_counter() - t0, question_file=question_file)


def format_report(rep: EvalReport, questions: Sequence[Question] | None = None,
                  show_misses: bool = False) -> str:
    """A readable table: one line per table and mode; misses listed when asked."""
    lines = [f"{'table':<14} {'mode':<8} {'n':>4} {'hit@1':>7} {'hit@5':>7} {'MRR':>7}"]
    for t in sorted(rep.scores):
        for m in rep.modes:
            if m not in rep.scores[t]:
                continue
            d = rep.scores[t][m].to_dict()
            lines.append(f"{t:<14} {m:<8} {d['questions']:>4} {d['hit@1']:>7.3f} "
                         f"{d['hit@5']:>7.3f} {d['mrr']:>7.3f}")
    if show_misses and questions:
        lines.append("")
        lines.append("questions not answered in the top 5 (rank per mode, - = not in top 10):")
        for q in questions:
            r = rep.ranks.get(q.id, {})
            if any(v is None or v > 5 for v in r.values()):
                per = " ".join(f"{m}={r.get(m) or '-'}" for m in rep.modes)
                lines.append(f"  {q.id} [{q.table}] {per}: {q.question}")
    lines.append(f"({rep.questions} questions in {rep.seconds:.1f} s)")
    return "\n".join(lines)

