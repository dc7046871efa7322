"""Explicit Arrow schemas per doc type, the on-disk schema version and its manifest."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from store.errors import SchemaVersionError
from store.paths import DOC_TYPES, DataPaths

SCHEMA_VERSION = 1

# Money and prices: exact decimals. 38 digits, 18 after the point covers SOL (9 decimals),
# multipliers (~17 significant digits as floats) and balances up to 10^20.
MONEY = pa.decimal128(38, 18)
TS = pa.timestamp("us", tz="UTC")

SOURCES = ("cdp", "public_ws", "replay", "ui", "legacy")
DIRECTIONS = ("received", "sent")

ENVELOPE = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("doc_type", pa.string(), nullable=False),
        pa.field("event_name", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("ingested_at", TS, nullable=False),
        pa.field("server_ts", TS),
        pa.field("game_id", pa.string()),
        pa.field("player_id", pa.string()),
        pa.field("username", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("direction", pa.string(), nullable=False),
        pa.field("raw_json", pa.string(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
    ]
)

TYPED: dict[str, list[pa.Field]] = {
    "ws_event": [],
    "system_event": [],
    "game_tick": [
        pa.field("tick", pa.int32()),
        pa.field("price", MONEY),
        pa.field("active", pa.bool_()),
        pa.field("rugged", pa.bool_()),
        pa.field("cooldown_timer", pa.int32()),
        pa.field("trade_count", pa.int32()),
        pa.field("phase", pa.string()),
    ],
    "server_state": [
        pa.field("cash", MONEY),
        pa.field("position_qty", MONEY),
        pa.field("avg_cost", MONEY),
        pa.field("total_invested", MONEY),
        pa.field("pnl", MONEY),
        pa.field("pnl_percent", MONEY),
        pa.field("has_active_trades", pa.bool_()),
    ],
    "player_action": [
        pa.field("action_type", pa.string()),
        pa.field("amount", MONEY),
        pa.field("price", MONEY),
        pa.field("percentage", MONEY),
        pa.field("qty", MONEY),
        pa.field("tick", pa.int32()),
    ],
    "complete_game": [
        pa.field("peak", MONEY),
        pa.field("final_price", MONEY),
        pa.field("duration_ticks", pa.int32()),
        pa.field("rug_tick", pa.int32()),
        pa.field("start_tick", pa.int32()),
        pa.field("trade_count", pa.int32()),
        pa.field("sidebet_count", pa.int32()),
        pa.field("server_seed", pa.string()),
        pa.field("status", pa.string()),
    ],
}

SCHEMAS: dict[str, pa.Schema] = {
    t: pa.schema(list(ENVELOPE) + TYPED[t]) for t in DOC_TYPES
}
MONEY_COLUMNS: dict[str, tuple[str, ...]] = {
    t: tuple(f.name for f in TYPED[t] if f.type == MONEY) for t in DOC_TYPES
}


def nullable(fields: Iterable[pa.Field]) -> pa.Schema:
    """The same columns, every one nullable: for tables assembled column by column whose
    missing required values are found (and their rows refused) only afterwards, so the
    table's schema never claims what its data breaks."""
    return pa.schema([f.with_nullable(True) for f in fields])


def manifest_dict() -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "doc_types": {
            t: [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in s]
            for t, s in SCHEMAS.items()
        },
    }


def read_manifest(paths: DataPaths) -> dict[str, Any] | None:
    p = paths.schema_manifest
    if not p.exists():
        return None
    manifest: dict[str, Any] = json.loads(p.read_text())
    return manifest


def on_disk_version(paths: DataPaths) -> int | None:
    m = read_manifest(paths)
    return None if m is None else int(m["schema_version"])


def check_version(paths: DataPaths) -> None:
    """Refuse a data root written by a newer schema than this code knows."""
    v = on_disk_version(paths)
    if v is not None and v > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"data root {paths.root} has schema version {v}, this code knows up to "
            f"{SCHEMA_VERSION}: upgrade rugs-replayer to read or write it"
        )


def ensure_manifest(paths: DataPaths) -> None:
    """Write manifests/schema_version.json if missing; refuse a newer one."""
    check_version(paths)
    if read_manifest(paths) is None:
        write_json_atomic(paths.schema_manifest, manifest_dict())


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON through a temp file in the same directory, fsync and rename."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written temp file
        raise
