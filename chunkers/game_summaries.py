"""Game facts gathered from the store -> one short summary chunk per game."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chunkers.chunk import Chunk
from chunkers.phrases import day, fmt, head, is_id, iso, join, sentences

KIND_GAME = "game_summary"


@dataclass
class GameFacts:
    """What is known about one game, gathered by the events source from the store."""

    game_id: str
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    sources: list[str] = field(default_factory=list)
    ticks: int = 0  # distinct ticks stored
    min_tick: int | None = None
    max_tick: int | None = None
    peak_price: Any = None
    peak_tick: int | None = None
    final_price: Any = None
    rug_tick: int | None = None
    rug_price: Any = None
    trade_count: int | None = None  # the round's own counter (max seen)
    phases: list[tuple[str, int, int, int]] = field(default_factory=list)  # phase, from, to, n
    trades_seen: dict[str, int] = field(default_factory=dict)  # trade type -> trade events
    trade_volume: float | None = None
    summary_event: str | None = None  # event name of the record that summarizes the game
    tick_event: str | None = None  # event name of its ticks (when no record summarizes it)
    summary: dict[str, Any] = field(default_factory=dict)  # that record's payload
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # other records

    @property
    def date(self) -> str | None:
        return day(self.first_ts or self.last_ts)


def _sidebet_phrase(entries: list[Any]) -> str:
    placed = [b for b in entries if isinstance(b, dict) and b.get("type") == "placed"]
    paid = [b for b in entries if isinstance(b, dict) and b.get("type") == "payout"]
    won = [b for b in paid if isinstance(b.get("payout"), int | float) and b["payout"] > 0]
    staked = sum(b.get("betAmount", 0) or 0 for b in placed
                 if isinstance(b.get("betAmount"), int | float))
    s = f"globalSidebets {len(placed)} placed ({fmt(float(staked))} SOL)"
    if paid:
        s += f", {len(won)} of {len(paid)} paid out won"
    return s



def _summary_pairs(rec: dict[str, Any], skip: set[str]) -> list[str]:
    pairs = []
    for k, v in rec.items():
        if k in skip or k in ("type", "timestamp") or is_id(v):
            continue
        if isinstance(v, list) and v and all(not isinstance(x, dict | list) for x in v):
            pairs.append(f"{k} {'–'.join(fmt(x) for x in v)}" if len(v) <= 4
                         else f"{k} [{len(v)} values]")
        elif isinstance(v, dict):
            inner = join(f"{ik} {fmt(iv)}" for ik, iv in v.items()
                          if not isinstance(iv, dict | list) and not is_id(iv))
            pairs.append(f"{k} ({inner})" if inner else k)
        elif isinstance(v, list):
            pairs.append(f"{k} [{len(v)} items]")
        else:
            pairs.append(f"{k} {fmt(v)}")
    return pairs


_PEAK_KEYS = ("peak_price", "peakMultiplier", "peak_multiplier")
_FINAL_KEYS = ("final_price",)
_TICKS_KEYS = ("total_ticks",)
# Record fields a summary states through its own facts (or leaves to the schema card).
_SUMMARY_SKIP = {"globalSidebets", "globalTrades", "prices", "provablyFair", "gameVersion",
                 "price_range", "tick_range", "rugged", *_PEAK_KEYS, *_FINAL_KEYS, *_TICKS_KEYS}


def _first_key(rec: dict[str, Any], keys: Iterable[str]) -> str | None:
    return next((k for k in keys if rec.get(k) is not None), None)


def game_summary_text(g: GameFacts) -> str:
    """A short text per game: peak, end, length, rug, trades, and what its record adds.

    Record fields keep their protocol names next to the value ("peak_price 148.3"), so a
    search with the field's name finds the summaries that carry it. About 60 word pieces.
    """
    ev = g.summary_event
    # Without a summary record the game is summarized from its ticks; "Tick (tick) summary"
    # would make a near-empty text about ticks that matches every question about ticks.
    lead = (f"{head(ev)} summary of game {g.game_id}" if ev
            else f"Game summary of game {g.game_id}")
    origin = ("legacy recording" if g.sources == ["legacy"]
              else "live capture" if g.sources else "")
    parts = [lead + (f", {origin}" if origin else "") + f", {g.date or 'date unknown'}"]
    s = g.summary or {}
    facts: list[str] = []
    pk = _first_key(s, _PEAK_KEYS)
    peak = f"{pk} {fmt(s[pk])}" if pk else (
        f"peak {fmt(g.peak_price)}x" if g.peak_price is not None else "")
    if peak and g.peak_tick is not None:
        peak += f" at tick {g.peak_tick}"
    if peak:
        facts.append(peak)
    fk = _first_key(s, _FINAL_KEYS)
    if fk:
        facts.append(f"{fk} {fmt(s[fk])}")
    elif g.final_price is not None:
        facts.append(f"final price {fmt(g.final_price)}x")
    tk = _first_key(s, _TICKS_KEYS)
    span = (f"ticks {g.min_tick}–{g.max_tick}" if g.min_tick is not None
            and g.max_tick is not None else "")
    if isinstance(s.get("tick_range"), list) and len(s["tick_range"]) == 2:
        span = f"ticks {fmt(s['tick_range'][0])}–{fmt(s['tick_range'][1])}"
    if tk:
        facts.append(f"{tk} {fmt(s[tk])}" + (f" ({span})" if span else ""))
    elif isinstance(s.get("prices"), list):
        facts.append(f"prices[] {len(s['prices'])} tick-by-tick prices")
    elif g.ticks:
        facts.append(f"{g.ticks} ticks" + (f" ({span})" if span else ""))
    if g.rug_tick is not None:
        final = s.get(fk) if fk else g.final_price
        shown = g.rug_price is not None and fmt(g.rug_price) != fmt(final)
        facts.append(f"rugged at tick {g.rug_tick}" + (
            f" (price {fmt(g.rug_price)}x)" if shown else ""))
    if g.trade_count is not None:
        facts.append(f"{g.trade_count} trades")
    if g.trades_seen:
        facts.append("trade events " + join(f"{k} {v}" for k, v in
                                            sorted(g.trades_seen.items())))
    facts.extend(_summary_pairs(s, _SUMMARY_SKIP))
    pf = s.get("provablyFair")
    if isinstance(pf, dict) and isinstance(pf.get("serverSeed"), str):
        facts.append(f"provablyFair.serverSeed {pf['serverSeed'][:12]}… revealed")
    if isinstance(s.get("globalSidebets"), list) and s["globalSidebets"]:
        facts.append(_sidebet_phrase(s["globalSidebets"]))
    if isinstance(s.get("globalTrades"), list) and s["globalTrades"]:
        facts.append(f"globalTrades {len(s['globalTrades'])}")
    for name, rec in g.records:
        pairs = _summary_pairs(rec, {"game_id", "gameId"})
        if pairs:
            facts.append(f"{name} {join(pairs, 6)}")
    parts.append(join(facts))
    return sentences(parts)


def game_summary_chunk(g: GameFacts, source: str) -> Chunk:
    return Chunk(
        f"game:{g.game_id}",
        game_summary_text(g),
        source,
        {
            "kind": KIND_GAME,
            "doc_type": "complete_game",
            "event_name": g.summary_event or g.tick_event or "complete_game",
            "game_id": g.game_id,
            "date": g.date,
            "ts": iso(g.first_ts),
        },
    )

