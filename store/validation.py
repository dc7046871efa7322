"""Per event type validation status (verified / unverified / needs-correction), persisted."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from store.atomic import write_json_atomic
from store.errors import SchemaVersionError, ValidationError
from store.paths import DataPaths

VALIDATION_VERSION = 1
STATUSES = ("verified", "unverified", "needs-correction")
MAX_NOTE_CHARS = 2_000
HISTORY_LIMIT = 50  # earlier records kept per event, newest last


@dataclass(frozen=True)
class ValidationRecord:
    """The current validation status of one event type."""

    event_name: str
    status: str
    note: str = ""
    by: str = ""
    at: str = ""  # ISO-8601 UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_author() -> str:
    """Who is verifying when --by is not given: $RUGS_USER, else the login name."""
    for var in ("RUGS_USER", "USER", "LOGNAME"):
        v = os.environ.get(var)
        if v:
            return v
    return "unknown"


def _empty() -> dict[str, Any]:
    return {"version": VALIDATION_VERSION, "events": {}, "history": {}}


def _read(paths: DataPaths) -> dict[str, Any]:
    p = paths.validation_manifest
    if not p.exists():
        return _empty()
    try:
        doc = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(
            f"cannot read {p}: {exc}; fix or move the file (it is the only copy of the "
            "validation statuses)"
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), dict):
        raise ValidationError(f"{p} is not a validation manifest (no 'events' object)")
    v = int(doc.get("version", 0))
    if v > VALIDATION_VERSION:
        raise SchemaVersionError(
            f"{p} has version {v}, this code knows up to {VALIDATION_VERSION}: "
            "upgrade rugs-replayer to read or change it"
        )
    doc.setdefault("history", {})
    return doc


def load_validation(paths: DataPaths) -> dict[str, ValidationRecord]:
    """Every recorded status by event name (events never verified are absent: unverified)."""
    doc = _read(paths)
    out = {}
    for name, rec in doc["events"].items():
        out[name] = ValidationRecord(
            event_name=name,
            status=str(rec.get("status", "unverified")),
            note=str(rec.get("note", "")),
            by=str(rec.get("by", "")),
            at=str(rec.get("at", "")),
        )
    return out


def get_validation(paths: DataPaths, event_name: str) -> ValidationRecord:
    rec = load_validation(paths).get(event_name)
    return rec or ValidationRecord(event_name=event_name, status="unverified")


def history(paths: DataPaths, event_name: str) -> list[ValidationRecord]:
    """Earlier records of one event, oldest first (the current one is not included)."""
    doc = _read(paths)
    return [ValidationRecord(event_name=event_name, **r)
            for r in doc["history"].get(event_name, [])]


@contextmanager
def _locked(paths: DataPaths) -> Iterator[None]:
    # Two `schema verify` runs at once must not lose one another's record: the
    # read-modify-write happens under an exclusive lock on a sidecar file.
    paths.manifests.mkdir(parents=True, exist_ok=True)
    lock = paths.validation_manifest.with_name(paths.validation_manifest.name + ".lock")
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def set_validation(
    paths: DataPaths,
    event_name: str,
    status: str,
    note: str = "",
    by: str | None = None,
    at: datetime | None = None,
) -> ValidationRecord:
    """Record the status of one event type; the previous record goes to its history."""
    name = (event_name or "").strip()
    if not name:
        raise ValidationError("event name must not be empty")
    if status not in STATUSES:
        raise ValidationError(
            f"unknown status {status!r}; expected one of {', '.join(STATUSES)}"
        )
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ValidationError(f"note is {len(note)} characters; at most {MAX_NOTE_CHARS}")
    if status == "needs-correction" and not note:
        raise ValidationError("status needs-correction requires a --note saying what is wrong")
    when = (at or datetime.now(tz=UTC)).astimezone(UTC).isoformat(timespec="seconds")
    rec = ValidationRecord(event_name=name, status=status, note=note,
                           by=(by or default_author()).strip(), at=when)
    with _locked(paths):
        doc = _read(paths)
        prev = doc["events"].get(name)
        if prev is not None:
            hist = doc["history"].setdefault(name, [])
            hist.append({k: prev.get(k, "") for k in ("status", "note", "by", "at")})
            del hist[:-HISTORY_LIMIT]
        doc["events"][name] = {k: v for k, v in rec.to_dict().items() if k != "event_name"}
        doc["version"] = VALIDATION_VERSION
        write_json_atomic(paths.validation_manifest, doc)
    return rec
