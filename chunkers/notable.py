"""Stored event rows in time order -> chunks for the events a person asks about.

Plain ticks are never chunked (ticks live in DuckDB and are summarized per game); trades,
player state changes, rugs, side bets, system events and client requests are, each under a
rule that keeps repeats out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chunkers.chunk import Chunk
from chunkers.phrases import day, fmt, head, is_id, iso, join
from store.catalog import to_datetime
from store.payload import parse_raw

MAX_PAIRS = 14  # key/value pairs rendered from one payload

KIND_TRADE = "trade"
KIND_RUG = "rug"
KIND_PLAYER = "player_state"
KIND_ACTION = "player_action"
KIND_SIDEBET = "sidebet"
KIND_SYSTEM = "system_event"
KIND_REQUEST = "client_request"

_SPECIFIC_DOC_TYPES = ("server_state", "player_action", "system_event", "complete_game",
                       "game_tick", "ws_event")
_NOISY_KEYS = ("time", "stamp", "until", "ends", "seconds", "updated")


@dataclass(frozen=True)
class EventRow:
    """One wire event as the events source reads it (all doc types of one event_id)."""

    event_id: str
    event_name: str
    ts: Any
    direction: str
    source: str
    doc_types: tuple[str, ...]
    raw_json: str | None
    game_id: str | None = None
    player_id: str | None = None
    username: str | None = None
    partition: str = ""  # the source key of the chunk (a Parquet partition)

    @property
    def doc_type(self) -> str:
        for t in _SPECIFIC_DOC_TYPES:
            if t in self.doc_types:
                return t
        return self.doc_types[0] if self.doc_types else "ws_event"


def render_pairs(payload: Any, limit: int = MAX_PAIRS) -> str:
    """`key value` pairs of a payload's scalars; ids by name only, nested parts summarized."""
    if not isinstance(payload, dict):
        if isinstance(payload, list):
            return f"a list of {len(payload)} items"
        return fmt(payload)
    pairs = []
    for k, v in payload.items():
        if is_id(v):
            pairs.append(k)  # the field's name matters, its opaque id does not
        elif isinstance(v, dict):
            inner = [f"{ik} {fmt(iv)}" for ik, iv in v.items()
                     if not isinstance(iv, dict | list) and not is_id(iv)]
            nested = [ik for ik, iv in v.items() if isinstance(iv, dict | list)]
            pairs.append(f"{k} ({join(inner + nested, 6)})" if inner or nested else f"{k} {{}}")
        elif isinstance(v, list):
            if v and isinstance(v[0], dict):
                first = join((f"{ik} {fmt(iv)}" for ik, iv in v[0].items()
                               if not isinstance(iv, dict | list) and not is_id(iv)), 6)
                pairs.append(f"{k} [{len(v)} items, first: {first}]")
            else:
                pairs.append(f"{k} [{len(v)} items]")
        else:
            pairs.append(f"{k} {fmt(v)}")
    return join(pairs, limit)


def _trade_text(r: EventRow, p: dict[str, Any]) -> str:
    who = p.get("username") or r.username or "a player"
    lead = f"{head(r.event_name)}: {p.get('type', 'trade')} by {who}"
    if p.get("level") is not None:
        lead += f" (level {fmt(p['level'])})"
    if p.get("gameId") or r.game_id:
        lead += f" in game {p.get('gameId') or r.game_id}"
    if p.get("tickIndex") is not None:
        lead += f" at tick {fmt(p['tickIndex'])}"
    return f"{lead}. {render_pairs(p)}."


def _generic_text(r: EventRow, kind_words: str, payload_kind: str, p: Any,
                  meaning: str | None, dated: bool = False) -> str:
    lead = head(r.event_name) + (f", {kind_words}" if kind_words else "")
    when = day(to_datetime(r.ts)) if dated else None
    if when:
        # Requests and lifecycle events repeat with the same payload: one chunk per day.
        lead += f" on {when}"
    if meaning:
        lead += f": {meaning}"
    if payload_kind == "null":
        body = "no payload (data null)"
    elif payload_kind == "trace_only":
        body = "only the trace argument was captured, not the payload"
    elif payload_kind == "invalid":
        body = "the payload is not valid JSON"
    else:
        body = render_pairs(p)
    return f"{lead}. {body}."


def _rug_text(r: EventRow, p: dict[str, Any]) -> str:
    gid = p.get("gameId") or r.game_id or "?"
    tick = p.get("tickCount", p.get("tick"))
    s = f"{head(r.event_name)}, rug of game {gid}"
    if tick is not None:
        s += f" at tick {fmt(tick)}"
    s += f": rugged true, the price crashed to {fmt(p.get('price'))}x"
    pp = p.get("partialPrices")
    if isinstance(pp, dict) and isinstance(pp.get("values"), dict) and pp["values"]:
        vals = list(pp["values"].values())
        s += f" from {fmt(max(v for v in vals if isinstance(v, int | float)))}x just before"
    return f"{s}. {render_pairs(p)}."


def _state_signature(p: dict[str, Any]) -> str:
    keep = {k: v for k, v in p.items() if not isinstance(v, dict | list)
            and not any(n in k.lower() for n in _NOISY_KEYS)}
    return json.dumps(keep, sort_keys=True, default=str)


def _trade_size(p: dict[str, Any]) -> float:
    v = p.get("amount")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def notable_chunks(rows: Iterable[EventRow],
                   meanings: Mapping[str, str] | None = None) -> Iterator[Chunk]:
    """Chunks for the events a person asks about, from rows in time order.

    Trades: per game and type the first and the largest. Player state: only when it
    changed. Rugs: the first rug tick of each game. Side bets, system events without a
    game (connect, sessions), client requests and player actions: each. Plain ticks and
    other high-rate updates: none. System records of a game (legacy game_start/game_end)
    are left to the game summary. `meanings`: what each event is, in the protocol docs'
    words (event name -> summary), said after the event's name.
    """
    said = meanings or {}
    seen_texts: set[str] = set()
    rugged_games: set[str] = set()
    last_state: dict[str, str] = {}
    first_trade: dict[tuple[str, str], str] = {}
    best_trade: dict[tuple[str, str], tuple[float, EventRow, dict[str, Any]]] = {}

    def emit(r: EventRow, kind: str, text: str, chunk_id: str) -> Iterator[Chunk]:
        if text in seen_texts:
            return
        seen_texts.add(text)
        ts = to_datetime(r.ts)
        yield Chunk(chunk_id, text, r.partition, {
            "kind": kind,
            "doc_type": r.doc_type,
            "event_name": r.event_name,
            "game_id": r.game_id,
            "date": day(ts),
            "ts": iso(ts),
            "direction": r.direction,
            "player_id": r.player_id,
        })

    for r in rows:
        kind, p = parse_raw(r.raw_json)
        if "server_state" in r.doc_types and isinstance(p, dict):
            who = r.player_id or str(p.get("id") or "self")
            sig = _state_signature(p)
            if last_state.get(who) == sig:
                continue
            last_state[who] = sig
            text = (f"{head(r.event_name)}, player state change: "
                    f"{said.get(r.event_name) or 'the player state'}. {render_pairs(p)}.")
            yield from emit(r, KIND_PLAYER, text, f"event:{r.event_id}")
        elif isinstance(p, dict) and "trade" in r.event_name.lower() and "type" in p:
            gid = str(p.get("gameId") or r.game_id or "")
            key = (gid, str(p.get("type")))
            if key not in first_trade:
                first_trade[key] = r.event_id
                yield from emit(r, KIND_TRADE, _trade_text(r, p), f"event:{r.event_id}")
            else:
                size = _trade_size(p)
                if key not in best_trade or size > best_trade[key][0]:
                    best_trade[key] = (size, r, p)
        elif "player_action" in r.doc_types:
            text = _generic_text(r, "player action", kind, p, said.get(r.event_name))
            yield from emit(r, KIND_ACTION, text, f"event:{r.event_id}")
        elif r.direction == "sent":
            text = _generic_text(r, "client request sent by the browser", kind, p,
                                 said.get(r.event_name), dated=True)
            yield from emit(r, KIND_REQUEST, text, f"event:{r.event_id}")
        elif "system_event" in r.doc_types:
            if r.game_id:
                continue  # a game's own records are part of its summary
            text = _generic_text(r, "system event", kind, p, said.get(r.event_name), dated=True)
            yield from emit(r, KIND_SYSTEM, text, f"event:{r.event_id}")
        elif isinstance(p, dict) and p.get("rugged") is True:
            gid = str(p.get("gameId") or r.game_id or "")
            if gid and gid not in rugged_games:
                rugged_games.add(gid)
                yield from emit(r, KIND_RUG, _rug_text(r, p), f"event:{r.event_id}")
        elif "sidebet" in r.event_name.lower():
            text = _generic_text(r, "side bet", kind, p, said.get(r.event_name))
            yield from emit(r, KIND_SIDEBET, text, f"event:{r.event_id}")
    # The largest trade of each game and type, when it was not also the first.
    for key, (_size, r, p) in sorted(best_trade.items()):
        if r.event_id != first_trade.get(key):
            yield from emit(r, KIND_TRADE, _trade_text(r, p), f"event:{r.event_id}")

