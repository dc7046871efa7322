"""The Claude Code SessionStart hook: refresh the code_context table, say what changed.

Fail-open by design: a hook that fails must never block a session, so every error becomes
a warning (the CLI prints it on stderr and exits 0) and the printed JSON says the index may
be stale. The text goes to the agent as `hookSpecificOutput.additionalContext`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.build import BuildReport, build_incremental
from indexer.context_source import resolve_roots
from indexer.embedder import Embedder
from store.settings import Settings

MAX_LINES = 8
QUERY_HINT = 'search them: `replayer index query "<question>" --table code_context`'


@dataclass
class HookOutcome:
    payload: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    report: BuildReport | None = None


def _short(key: str, roots: Sequence[Path]) -> str:
    for r in sorted(roots, key=lambda p: len(str(p)), reverse=True):
        prefix = str(r).rstrip(os.sep) + os.sep
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _sections(labels: list[str]) -> list[str]:
    # The outline chunk changes with any heading: naming it would only repeat the others.
    return [lbl for lbl in labels if not lbl.endswith("(outline)")]


def _quote_list(labels: list[str], limit: int = 3) -> str:
    names = [f'"{lbl.split(" > ")[-1]}"' for lbl in labels[:limit]]
    more = f" +{len(labels) - limit}" if len(labels) > limit else ""
    return ", ".join(names) + more


def summarize(report: BuildReport, roots: Sequence[Path]) -> str:
    """A few lines for the agent: which CONTEXT.md files and sections changed."""
    files = report.sources
    where = ", ".join(str(r) for r in roots)
    if report.noop or not report.changes:
        return (f"CONTEXT.md index up to date: {files} files, {report.rows} chunks "
                f"under {where}; {QUERY_HINT}.")
    lines = [f"CONTEXT.md files changed since the last index ({len(report.changes)}):"]
    for ch in report.changes[:MAX_LINES]:
        name = _short(ch.key, roots)
        if ch.status == "removed":
            lines.append(f"- {name}: removed")
            continue
        if ch.status == "added":
            lines.append(f"- {name}: new ({len(_sections(ch.added))} sections)")
            continue
        parts = []
        changed, added, removed = (_sections(ch.changed), _sections(ch.added),
                                   _sections(ch.removed))
        if changed:
            parts.append("changed " + _quote_list(changed))
        if added:
            parts.append("added " + _quote_list(added))
        if removed:
            parts.append("removed " + _quote_list(removed))
        if not parts:
            parts.append("headings reordered" if ch.changed else "metadata only")
        lines.append(f"- {name}: " + "; ".join(parts))
    if len(report.changes) > MAX_LINES:
        lines.append(f"- ... and {len(report.changes) - MAX_LINES} more")
    lines.append(f"{files} CONTEXT.md files ({report.rows} chunks) indexed; {QUERY_HINT}.")
    return "\n".join(lines)


def hook_payload(text: str) -> dict[str, Any]:
    return {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": text}}


def session_start(settings: Settings, *, roots: Sequence[Path] | None = None,
                  cwd: Path | None = None, embedder: Embedder | None = None) -> HookOutcome:
    """Incremental code_context build over the roots; never raises."""
    warnings: list[str] = []
    try:
        root_list = resolve_roots(settings, roots, cwd)
        scoped = settings.with_(context_roots=tuple(root_list))
        report = build_incremental(scoped, "code_context", embedder=embedder)
    except Exception as exc:  # noqa: BLE001 - fail-open: a hook must never break a session
        msg = f"CONTEXT.md index not updated ({type(exc).__name__}: {exc})"
        warnings.append(msg)
        return HookOutcome(payload=hook_payload(msg + "; search results may be stale."),
                           warnings=warnings)
    warnings.extend(report.warnings)
    return HookOutcome(payload=hook_payload(summarize(report, root_list)), warnings=warnings,
                       report=report)
