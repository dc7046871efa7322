"""Field paths, value formats and game phases read from one event payload."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

MAX_LIST_ITEMS = 50  # elements of one list that are walked (arrays of 300 prices exist)
MAX_DEPTH = 12
EXAMPLE_CHARS = 80

# Tick payloads that say which phase the game is in (gameStateUpdate; legacy `tick` has `phase`).
_PHASE_KEYS = frozenset({"active", "rugged", "cooldownTimer", "allowPreRoundBuys"})
_NUMBER_KEY = re.compile(r"^-?\d+(\.\d+)?$")
_ID_KEY = re.compile(
    r"^(did:privy:[a-z0-9]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-fA-F]{24,}|[1-9A-HJ-NP-Za-km-z]{32,44})$"
)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+[a-zA-Z]*")


@functools.lru_cache(maxsize=65_536)
def norm_key(key: str) -> str:
    """Collapse keys that are data, not names: tick numbers and ids."""
    if _NUMBER_KEY.match(key):
        return "<n>"
    if _ID_KEY.match(key):
        return "<id>"
    return key


def walk(payload: Any) -> dict[str, list[Any]]:
    """Every field path of one payload with the values found there.

    Paths go through objects (`a.b`) and lists (`a[].b`, `prices[]` for scalar items);
    keys that are numbers or ids collapse to `<n>` / `<id>`. The root itself has no path.
    """
    out: dict[str, list[Any]] = {}

    def visit(value: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                p = f"{path}.{norm_key(str(k))}" if path else norm_key(str(k))
                out.setdefault(p, []).append(v)
                visit(v, p, depth + 1)
        elif isinstance(value, list):
            item_path = f"{path}[]"
            for item in value[:MAX_LIST_ITEMS]:
                out.setdefault(item_path, []).append(item)
                visit(item, item_path, depth + 1)

    visit(payload, "", 0)
    return out


_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("player id (Privy DID)", re.compile(r"^did:privy:[a-z0-9]+$")),
    ("game id (date-hex)", re.compile(r"^\d{8}-[0-9a-f]{16}$")),
    ("UUID", re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    ("prefixed id", re.compile(r"^[a-z]+-([0-9a-f]{8}-[0-9a-f]{4}-.*|\d{4}-\d{2}-\d{2}-\d+)$")),
    ("64-hex hash or seed", re.compile(r"^[0-9a-f]{64}$")),
    ("hex string", re.compile(r"^[0-9a-f]{16,}$")),
    ("ISO-8601 date-time", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")),
    ("Solana address", re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    ("W3C traceparent", re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")),
    ("URL or path", re.compile(r"^(https?://|/)\S+$")),
)
ID_FORMATS = frozenset(
    {"player id (Privy DID)", "game id (date-hex)", "UUID", "prefixed id", "64-hex hash or seed",
     "hex string", "W3C traceparent"}
)
EPOCH_MS_MIN, EPOCH_MS_MAX = 1_400_000_000_000, 2_200_000_000_000


def value_format(values: Iterable[Any]) -> str | None:
    """A name for the common format of some example values (ids, hashes, times), if any."""
    vals = [v for v in values if v is not None and v != ""]
    if not vals:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals) and all(
        EPOCH_MS_MIN <= v <= EPOCH_MS_MAX for v in vals
    ):
        return "epoch milliseconds"
    if not all(isinstance(v, str) for v in vals):
        return None
    for name, rx in _FORMATS:
        if all(rx.match(v) for v in vals):
            return name
    return None


def example_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > EXAMPLE_CHARS:
        return value[: EXAMPLE_CHARS - 1] + "…"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def derive_phase(payload: Any) -> str | None:
    """The game phase a tick payload shows, or None when the payload is not a tick.

    Legacy ticks carry their own `phase` label; live `gameStateUpdate` ticks are read
    from their flags (rug ticks carry active=true together with rugged=true).
    """
    if not isinstance(payload, dict):
        return None
    label = payload.get("phase")
    if isinstance(label, str) and label:
        return label
    if len(_PHASE_KEYS & payload.keys()) < 2:
        return None
    if payload.get("rugged") is True:
        return "RUGGED"
    if payload.get("active") is True:
        return "ACTIVE"
    if payload.get("allowPreRoundBuys") is True:
        return "PRESALE"
    timer = payload.get("cooldownTimer")
    if isinstance(timer, int | float) and timer > 0:
        return "COOLDOWN"
    return "PRE_START"


_QUICK = re.compile(
    r'"(active|rugged|allowPreRoundBuys|cooldownTimer|phase)"\s*:\s*'
    r'("[^"]*"|true|false|-?\d+(?:\.\d+)?)'
)


def quick_phase(head: str) -> str | None:
    """derive_phase() from the start of a payload's text, without parsing the JSON.

    Tick payloads put their flags before the large lists (leaderboard, gameHistory); a
    flag that is not in `head` is simply not seen, as if absent.
    """
    found: dict[str, Any] = {}
    for m in _QUICK.finditer(head):
        k, v = m.group(1), m.group(2)
        if k in found:
            continue
        if v.startswith('"'):
            found[k] = v[1:-1]
        elif v in ("true", "false"):
            found[k] = v == "true"
        else:
            found[k] = float(v)
    return derive_phase(found) if found else None


def to_datetime(ts: Any) -> datetime | None:
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    if isinstance(ts, int | float):
        return datetime.fromtimestamp(ts / 1000.0, tz=UTC)
    try:
        d = datetime.fromisoformat(str(ts))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def name_words(name: str) -> list[str]:
    """`standard/newTrade` -> ['standard', 'new', 'trade']; `peak_price` -> ['peak', 'price']."""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        words.extend(w.lower() for w in _CAMEL.findall(part))
    return words


def parent_path(path: str) -> str | None:
    """`a[].b` -> `a[]`, `a.b` -> `a`, `a` -> None (the payload itself)."""
    if "." not in path:
        return None
    return path.rsplit(".", 1)[0]
