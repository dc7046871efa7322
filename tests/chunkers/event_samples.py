"""Real payload excerpts (key-samples, the CDP capture) shared by the event chunker tests."""

from __future__ import annotations

from datetime import UTC, datetime

TRACE = {"__trace": True, "traceparent": "00-1c995641e009e87229031ee3bdd317cb-f49b235078490b89-01"}
T0 = datetime(2025, 12, 15, 5, 39, 20, tzinfo=UTC)
TRADE = {"id": "40c140f3-39ec-45bd-979e-b162842fe190", "gameId": "20260206-003482fbeaae4ad5",
         "playerId": "did:privy:cmj0kekh0046il80bwjmpe31d", "price": 0.8209533756239946,
         "type": "short_close", "qty": 0, "tickIndex": 62, "coin": "solana",
         "amount": 0.208619772, "username": "BANDZDAGOD", "level": 11}
PLAYER = {"id": "did:privy:cmaibr7rt0094jp0mc2mbpfu4", "cash": 0.017619831, "positionQty": 0,
          "avgCost": 0, "cumulativePnL": 0, "levelInfo": {"level": 7, "xp": 549}}


