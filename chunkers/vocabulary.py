"""Plain words for protocol names: event and field names split into words, with known meanings.

The catalog gives the structure (paths, types, examples); this module turns names into the
words people use when they ask ("bonusPortion" -> "bonus portion", "pnl" -> "profit and
loss"). Meanings below are protocol knowledge about rugs.fun events that the raw data alone
does not spell out; they are general (one per event or field), not answers to given questions.
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

# What each known event is, in a sentence. Names not listed get their split words only.
EVENT_MEANINGS: dict[str, str] = {
    "gameStateUpdate": (
        "the game tick the server broadcasts to every client several times a second: the "
        "round's current price multiplier, tick count, phase flags (active, rugged, cooldown, "
        "presale), trade count, connected players and the top-10 leaderboard; transition ticks "
        "also carry the history of recently finished games with their provably-fair seeds"
    ),
    "standard/newTrade": (
        "a trade made by any player in the running round (buy, sell, short open or short "
        "close), broadcast to everyone"
    ),
    "playerUpdate": (
        "the logged-in player's own account state sent by the server: cash balance, bonus "
        "balance, position quantity, average cost, cumulative profit and loss, level"
    ),
    "gameStatePlayerUpdate": (
        "per-round update for the logged-in player with the state of the rug pool"
    ),
    "usernameStatus": "the server's answer about the account's username (display name)",
    "playerLeaderboardPosition": "the player's own rank on the leaderboard",
    "leaderboardData": "leaderboard standings sent by the server for a requested period",
    "sidebetEventUpdate": (
        "status and leaderboard of the side bet event (a competition on side bets)"
    ),
    "goldenHourUpdate": "schedule and status of the golden hour event",
    "goldenHourDrawing": "a golden hour prize drawing: the entries and the winner",
    "newChatMessage": "one chat message posted by a player",
    "chatHistory": "the chat backlog: recent chat messages for a client that just connected",
    "battleEventUpdate": "status of the battle event: lobbies, queue and leaderboard",
    "rugRoyaleUpdate": "schedule, status and leaderboard of the Rug Royale tournament",
    "inboxMessages": "the player's inbox messages",
    "mutedPlayers": "the players the logged-in user has muted in chat",
    "playerCosmetics": "the player's cosmetic items",
    "rugpassStatus": "the player's rug pass status",
    "maintenanceUpdate": "a server maintenance or reboot notice",
    "authenticate": "the browser logging its wallet session in on the socket",
    "getLeaderboard": "the client asking for the leaderboard of a period",
    "getPlayerCosmetics": "the client asking for the player's cosmetic items",
    "getPlayerLeaderboardPosition": "the client asking for the player's leaderboard rank",
    "checkUsername": "the client asking the server about the account's username",
    "connect": "the socket connection opened",
    "disconnect": "the socket connection closed",
    "tick": "a legacy recorder tick: one game step with price, phase and flags",
    "game_start": "a legacy recorder record written when a game started",
    "game_end": (
        "a legacy recorder summary written when a recorded game ended: ticks, tick range, "
        "price range, peak and final price, and in newer files a status with the reason "
        "a recording is incomplete or discarded"
    ),
    "game_complete": "a legacy session record of a completed game: final tick, peak, seed",
    "session_start": "a legacy recorder session start: starting balance and game limit",
    "session_end": "a legacy recorder session end: games and ticks recorded",
}

# Field meanings by "event:path" (one event) or by name. A name's meaning applies to a
# top-level field, and to a nested one only when the name is unambiguous (ANYWHERE): "amount"
# inside a crate reward is not a trade amount, "active" inside an XP boost is not the round.
FIELD_MEANINGS: dict[str, str] = {
    "price": (
        "the round's current price, a multiplier of the starting price (1 at tick 0; "
        "near 0 after the rug)"
    ),
    "prices": "the price at every tick of the game, in tick order",
    "standard/newTrade:price": "the price multiplier at which the trade executed",
    "standard/newTrade:type": "the kind of trade",
    "tickCount": "the tick number of the round (one tick is one game step)",
    "tick": "the tick number within the game",
    "tickIndex": "the tick number at which it happened",
    "tradeCount": "number of trades made so far in the round",
    "trade_count": "number of trades made so far in the game",
    "active": "true while a round is running",
    "rugged": "true once the round has rugged (crashed); rug ticks also have active=true",
    "cooldownTimer": "milliseconds left in the cooldown between rounds",
    "cooldown_timer": "milliseconds left in the cooldown between games",
    "cooldownPaused": "true when the cooldown countdown is paused",
    "allowPreRoundBuys": "true when buying before the round starts (presale) is allowed",
    "connectedPlayers": "number of players connected to the game server",
    "partialPrices": (
        "a sliding window with the prices of the last few ticks, keyed by tick number "
        "(startTick to endTick)"
    ),
    "gameHistory": "recently finished games (the last ~10), repeated on transition ticks",
    "peakMultiplier": "highest price multiplier the game reached",
    "peak_multiplier": "highest price multiplier the game reached",
    "serverSeed": "the revealed server seed of a finished game, for provably-fair checks",
    "serverSeedHash": "hash of the server seed, published before the round (provably fair)",
    "provablyFair": "provably-fair data: server seed hash (and seed once revealed), version",
    "averageMultiplier": "average peak multiplier of recent games",
    "highestToday": "highest multiplier reached today",
    "connected": "whether the socket is connected",
    "leaderboard": "ranking of players",
    "cash": "the player's SOL balance (cash available)",
    "bonusBalance": "the player's bonus balance (non-withdrawable promotional funds)",
    "positionQty": "size of the open position (units bought at the round's prices)",
    "avgCost": "average price multiplier paid for the open position",
    "cumulativePnL": "the player's cumulative profit and loss",
    "pnl": "profit and loss in SOL",
    "pnlPercent": "profit and loss in percent",
    "totalInvested": "SOL invested in the round",
    "hasActiveTrades": "true while the player has open trades in the round",
    "amount": "SOL amount of the trade",
    "qty": "quantity of units traded",
    "bonusPortion": "part of the amount paid from the bonus balance",
    "realPortion": "part of the amount paid with real SOL",
    "leverage": "leverage multiplier of the trade",
    "level": "the player's account level",
    "username": "the player's display name",
    "playerId": "the player's id",
    "gameId": "the game (round) id",
    "game_id": "the game (round) id",
    "xPayout": "side bet payout multiple",
    "betAmount": "SOL staked on the side bet",
    "startedAtTick": "tick at which the side bet started",
    "sideBet": "the player's active side bet",
    "shortPosition": "the player's open short position",
    "selectedCoin": "the token the player has selected to bet with",
    "coinAddress": "address of the token used",
    "availableShitcoins": "the tokens (shitcoins) players can trade with besides SOL",
    "rugpool": (
        "the rug pool: players hold entries bought with SOL, and after instant rugs "
        "(instarugs) the pool is drawn among the entries"
    ),
    "peak_price": "highest price multiplier of the recorded game",
    "final_price": "last price multiplier recorded",
    "total_ticks": "number of ticks recorded",
    "tick_range": "first and last tick recorded",
    "price_range": "lowest and highest price recorded",
    "incomplete_reason": "why the recording is incomplete",
    "discard_reason": "why the recording was discarded",
    "phase": "game phase label of the legacy recorder",
    "timestamp": "when it happened",
}

ANYWHERE = frozenset({
    "serverSeed", "serverSeedHash", "provablyFair", "peakMultiplier", "peak_multiplier",
    "rugged", "pnl", "pnlPercent", "positionQty", "avgCost", "totalInvested", "hasActiveTrades",
    "bonusPortion", "realPortion", "xPayout", "betAmount", "startedAtTick", "sideBet",
    "shortPosition", "selectedCoin", "coinAddress", "playerId", "username", "level", "gameId",
    "game_id", "tickIndex", "cumulativePnL", "cash", "bonusBalance", "leverage", "tickCount",
    "tradeCount", "connectedPlayers", "allowPreRoundBuys", "cooldownTimer", "partialPrices",
    "prices", "rugpool", "availableShitcoins",
})

# Phase labels in plain words (live phases are derived from tick flags; legacy labels as is).
PHASE_WORDS: dict[str, str] = {
    "ACTIVE": "active round",
    "RUGGED": "rug",
    "PRESALE": "presale (pre-round buys)",
    "COOLDOWN": "cooldown",
    "PRE_START": "before start",
    "ACTIVE_GAMEPLAY": "active gameplay",
    "GAME_ACTIVATION": "game activation",
    "RUG_EVENT_1": "rug event",
    "UNKNOWN": "unknown",
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


def event_meaning(event_name: str) -> str | None:
    return EVENT_MEANINGS.get(event_name)


def field_meaning(event_name: str, path: str) -> str | None:
    """The meaning of a field: event-specific first, then by its leaf name."""
    specific = FIELD_MEANINGS.get(f"{event_name}:{path}")
    if specific:
        return specific
    leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
    if "." in path and leaf not in ANYWHERE:
        return None
    return FIELD_MEANINGS.get(leaf)


def phase_words(phase: str) -> str:
    return PHASE_WORDS.get(phase, phase.lower().replace("_", " "))
