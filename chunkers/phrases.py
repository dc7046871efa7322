"""Short text pieces every event chunker writes the same way: values, counts, lists, sentences.

Texts render numbers to a few significant digits, round counts and join lists in a fixed
order, so a cached and a fresh catalog give identical texts and an unchanged store never
re-embeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chunkers.vocabulary import title
from store.catalog import ID_FORMATS, value_format


def fmt(value: Any) -> str:
    """A value as short text: 6 significant digits, strings cut, containers summarized."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        s = value if len(value) <= 48 else value[:24] + "…"
        return s if s else '""'
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return "{" + ", ".join(list(value)[:6]) + ("…" if len(value) > 6 else "") + "}"
    return str(value)


def pct(x: float) -> str:
    p = x * 100
    if p >= 99.95:
        return "100%"
    if p >= 10:
        return f"{p:.0f}%"
    return f"{p:.2g}%"


def day(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).date().isoformat() if ts else None


def iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts else None


def epoch_text(v: Any) -> str:
    try:
        return datetime.fromtimestamp(int(v) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return fmt(v)


def join(items: Iterable[str], limit: int | None = None) -> str:
    xs = list(items)
    if limit is not None and len(xs) > limit:
        return ", ".join(xs[:limit]) + f" and {len(xs) - limit} more"
    return ", ".join(xs)


def head(event_name: str) -> str:
    """The start of every text about an event: plain words, then the protocol name."""
    return f"{title(event_name)} ({event_name})"


def approx(n: int) -> str:
    """Counts in texts are rounded so a few new events do not change (and re-embed) a card."""
    if n < 100:
        return str(n)
    digits = len(str(n)) - 2
    return f"about {round(n, -digits):,}"



def sentences(parts: Iterable[str]) -> str:
    """Join phrases into sentences, each starting with a capital letter."""
    out = []
    for p in parts:
        p = p.strip().rstrip(".")
        if not p:
            continue
        first = p.split(" ", 1)[0]
        # Field names keep their case ("total_ticks", "peakMultiplier"): only plain words
        # are capitalized.
        out.append(p[0].upper() + p[1:] if first.isalpha() and first.islower() else p)
    return ". ".join(out) + "."



def is_id(value: Any) -> bool:
    return isinstance(value, str) and value_format([value]) in ID_FORMATS

