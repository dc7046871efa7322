"""Plain words for protocol names: event and field names split into words, abbreviations
spelled out ("bonusPortion" -> "bonus portion", "pnl" -> "profit and loss (PnL)").

What events and fields mean is not written here: it comes from the data (the catalog) and
from the users' protocol docs (`store.spec`).
"""

from __future__ import annotations

import re

# "count2x" -> count, 2x; "godCandle50xMassiveJump" -> god, candle, 50x, massive, jump.
_CAMEL = re.compile(r"\d+x(?![a-z])|\d+|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")

# Abbreviations and jargon, expanded where a name contains them as a word.
WORDS: dict[str, str] = {
    "pnl": "profit and loss (PnL)",
    "qty": "quantity",
    "avg": "average",
    "sol": "SOL",
    "xp": "experience points (XP)",
    "uri": "URI",
    "id": "id",
    "ids": "ids",
    "req": "requirement",
    "instarug": "instarug (instant rug)",
    "rugpool": "rug pool",
    "sidebet": "side bet",
    "sidebets": "side bets",
    "shitcoins": "tokens (shitcoins)",
    "shitcoin": "token (shitcoin)",
    "2x": "2x multiplier",
    "10x": "10x multiplier",
    "50x": "50x multiplier",
    "100x": "100x multiplier",
    "ws": "websocket",
}


def words(name: str) -> str:
    """`standard/newTrade` -> "new trade"; `cumulativePnL` -> "cumulative profit and loss (PnL)"."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    if len(parts) > 1 and parts[0] == "standard":
        parts = parts[1:]  # a namespace prefix, not a word people use
    out: list[str] = []
    for part in parts:
        part = part.replace("PnL", "Pnl")  # one word, not "Pn L"
        for w in _CAMEL.findall(part):
            low = w.lower()
            out.append(WORDS.get(low, low))
    return " ".join(out)


def title(name: str) -> str:
    """Plain words with a capital first letter: "New trade", "Game state update"."""
    w = words(name)
    return w[:1].upper() + w[1:] if w else name


def path_words(path: str) -> str:
    """`gameHistory[].provablyFair.serverSeed` -> "game history > provably fair > server seed"."""
    segs = []
    for seg in path.split("."):
        is_list = seg.endswith("[]")
        seg = seg.removesuffix("[]")
        if seg == "<n>":
            segs.append("by number")
        elif seg == "<id>":
            segs.append("by id")
        else:
            segs.append(words(seg) + (" (list)" if is_list else ""))
    return " > ".join(s for s in segs if s)


def phase_words(phase: str) -> str:
    """A phase label as words: `ACTIVE_GAMEPLAY` -> "active gameplay"."""
    return phase.lower().replace("_", " ")
