"""The old recorder's JSONL: records to doc-type rows, a fast directory import, export back."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from store.errors import IngestError, InvalidEventError, RecordRejected
from store.event import (
    INT32,
    MAX_JSON_DEPTH,
    check_payload,
    check_text,
    column_value,
    parse_ts,
    to_str,
)
from store.paths import DataPaths
from store.rejects import REJECTABLE, RejectsFile, rejection_reason
from store.schema import SCHEMAS, nullable
from store.settings import Settings

SOURCE = "legacy"
TICK = "tick"
_QUANTUM = Decimal(1).scaleb(-18)
_CTX = Context(prec=38)
_BOM = b"\xef\xbb\xbf"
# Columns the writer fills itself.
_FILLED = frozenset({"doc_type", "ingested_at", "schema_version"})
# A tick record's fields are named like their game_tick columns.
_TICK_COLUMNS = ("tick", "price", "phase", "active", "rugged", "cooldown_timer", "trade_count")


# -- pure mapping ---------------------------------------------------------------------------


def _col(doc_type: str, column: str, value: Any) -> Any:
    """A typed column value by the store's one validation (store.event.column_value)."""
    try:
        return column_value(doc_type, column, value)
    except InvalidEventError as exc:
        raise RecordRejected(str(exc)) from None


def legacy_ts(value: Any) -> tuple[datetime, str]:
    """(aware UTC datetime, its isoformat()) of a legacy timestamp; naive means UTC.

    The isoformat feeds the deterministic event id; for the recorder's own naive
    isoformat strings it is the string plus "+00:00", which skips a slow isoformat().
    Anything else goes through the store's one time rule (`store.event.parse_ts`).
    """
    if isinstance(value, str):
        n = len(value)
        if (n == 26 or n == 19) and value[10:11] == "T" and value[20:] != "000000":
            # the recorder's naive isoformat(): parse it as UTC directly, keep its text
            iso = value + "+00:00"
            try:
                return datetime.fromisoformat(iso), iso
            except ValueError:
                pass
    if isinstance(value, datetime):
        raise RecordRejected("timestamp is missing or not a timestamp (datetime)")
    try:
        dt = parse_ts(value, "timestamp")
    except InvalidEventError as exc:
        raise RecordRejected(str(exc)) from None
    return dt, dt.isoformat()


def legacy_event_id(event_name: str, ts_iso: str, raw: str) -> str:
    """store.event.event_id_for(SOURCE, event_name, ts, raw), given ts_iso = ts.isoformat()."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{SOURCE}\x1f{event_name}\x1f{ts_iso}\x1f".encode("utf-8", "surrogatepass"))
    h.update(raw.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def map_legacy_record(
    rec: Mapping[str, Any], raw: str, *, session_id: str, seq: int
) -> list[dict[str, Any]]:
    """The writer's event mappings for one legacy record; RecordRejected if it is unusable.

    tick -> game_tick; game_start, game_end, game_complete, session_* and any other
    typed record -> system_event; a game's end summary (game_end, or the session file's
    game_complete) -> also complete_game "game:<game_id>". Values come out validated
    and already in their column types, so the batch path needs no second pass.
    """
    kind = rec.get("type")
    if not isinstance(kind, str) or not kind:
        raise RecordRejected("record has no \"type\"")
    try:
        check_text(kind, "type")
    except InvalidEventError as exc:
        raise RecordRejected(str(exc)) from None
    ts, ts_iso = legacy_ts(rec.get("timestamp"))
    base = {
        "event_id": legacy_event_id(kind, ts_iso, raw),
        "event_name": kind,
        "ts": ts,
        "source": SOURCE,
        "direction": "received",
        "session_id": session_id,
        "seq": seq,
        "raw_json": raw,
        "game_id": _game_id(rec),
    }
    if kind == TICK:
        base["doc_type"] = "game_tick"
        for column in _TICK_COLUMNS:
            base[column] = _col("game_tick", column, rec.get(column))
        return [base]
    rows = [{**base, "doc_type": "system_event"}]
    game_id = base["game_id"]
    if kind == "game_end" and game_id:
        start, end = _tick_range(rec.get("tick_range"))
        rows.append(
            {
                **base,
                "doc_type": "complete_game",
                "event_id": f"game:{game_id}",
                "peak": _col("complete_game", "peak", rec.get("peak_price")),
                "final_price": _col("complete_game", "final_price", rec.get("final_price")),
                "duration_ticks": _col("complete_game", "duration_ticks", rec.get("total_ticks")),
                "start_tick": start,
                "rug_tick": end,
                "status": _col("complete_game", "status", rec.get("status")),
            }
        )
    elif kind == "game_complete" and game_id:
        rows.append(
            {
                **base,
                "doc_type": "complete_game",
                "event_id": f"game:{game_id}",
                "peak": _col("complete_game", "peak", rec.get("peak_multiplier")),
                "rug_tick": _col("complete_game", "rug_tick", rec.get("final_tick")),
                "server_seed": _col("complete_game", "server_seed", rec.get("server_seed")),
            }
        )
    return rows


def _tick_range(v: Any) -> tuple[int | None, int | None]:
    if v is None:
        return None, None
    if not (isinstance(v, list) and len(v) == 2):
        raise RecordRejected(f"tick_range is not [start, end]: {str(v)[:40]}")
    return _col("complete_game", "start_tick", v[0]), _col("complete_game", "rug_tick", v[1])


def _game_id(rec: Mapping[str, Any]) -> str | None:
    try:
        return to_str(rec.get("game_id"), "game_id")
    except InvalidEventError as exc:
        raise RecordRejected(str(exc)) from None


def decode_line(raw: str) -> dict[str, Any]:
    """The JSON object of one legacy line; RecordRejected saying why a line is not one."""
    if raw.startswith("#"):
        raise RecordRejected("a human note (#), not a record")
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RecordRejected(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise RecordRejected(f"not JSON: {exc}") from None
    except RecursionError:
        raise RecordRejected(
            f"nested too deeply to read (the store takes up to {MAX_JSON_DEPTH} levels)"
        ) from None
    if not isinstance(rec, dict):
        raise RecordRejected(f"not a JSON object but {type(rec).__name__}")
    return rec


def parse_legacy_line(raw: str, *, session_id: str, seq: int) -> list[dict[str, Any]]:
    """One line of a legacy file -> rows; RecordRejected with the reason for a bad line."""
    return map_legacy_record(decode_line(raw), raw, session_id=session_id, seq=seq)


# -- batch import ----------------------------------------------------------------------------


class _Writer(Protocol):
    paths: DataPaths
    settings: Settings

    def write_arrow(self, doc_type: str, table: pa.Table) -> Any: ...

    def write_records(self, records: Any) -> Any: ...


@dataclass
class LegacySummary:
    """What one `legacy import` did."""

    directory: str
    files: int = 0
    read: int = 0
    blank: int = 0
    written: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    rejected: int = 0
    rejects_files: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "files": self.files,
            "read": self.read,
            "blank_lines": self.blank,
            "written": dict(sorted(self.written.items())),
            "written_total": sum(self.written.values()),
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejects_files": self.rejects_files,
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(self.records_per_s),
        }


class _Records:
    """Non-tick records (1% of the corpus): each its rows in every doc type, with its origin.

    They go through `EventWriter.write_records`, so a record is stored in all its doc
    types or rejected whole.
    """

    def __init__(self) -> None:
        self.records: list[list[dict[str, Any]]] = []
        self.origin: list[tuple[str, int, str]] = []  # (file, line, text)
        self.rows = 0

    def add(self, rows: list[dict[str, Any]], origin: tuple[str, int, str]) -> None:
        self.records.append(rows)
        self.origin.append(origin)
        self.rows += len(rows)

    def __len__(self) -> int:
        return self.rows


class _Ticks:
    """The batch path for tick records (99% of the corpus): no row dicts, only the columns
    that vary per row; the constant ones are filled when the table is built.

    Produces exactly the game_tick rows of map_legacy_record, validated by the same rules
    (store.event): an inline fast path for the recorder's usual types, the store's
    validators for anything else (a test holds the two equal, verdicts included).
    """

    doc_type = "game_tick"
    _VARYING = (
        "event_id", "seq", "ts", "raw_json", "game_id", "tick", "price", "phase",
        "active", "rugged", "cooldown_timer", "trade_count",
    )

    def __init__(self, max_payload_bytes: int) -> None:
        self.max_payload_bytes = max_payload_bytes
        self.fields = [f for f in SCHEMAS["game_tick"] if f.name not in _FILLED]
        self.cols: dict[str, list[Any]] = {n: [] for n in self._VARYING}
        self.runs: list[tuple[str, str, int]] = []  # (file, session_id, first row index)
        # bound appends: this runs ~300,000 times per corpus
        c = self.cols
        self._appends = tuple(c[n].append for n in self._VARYING)

    def __len__(self) -> int:
        return len(self.cols["seq"])

    def start_file(self, file: str, session_id: str) -> None:
        self.runs.append((file, session_id, len(self)))

    def add(self, rec: Mapping[str, Any], raw: str, seq: int) -> None:
        """Validate every value first, so a rejected record leaves the columns aligned."""
        get = rec.get
        check_payload(raw, self.max_payload_bytes, "payload of tick")
        ts, ts_iso = legacy_ts(get("timestamp"))
        game_id = get("game_id")
        if type(game_id) is not str or not game_id.isascii():
            game_id = _game_id(rec)
        tick = get("tick")
        if type(tick) is not int or not 0 <= tick < INT32:
            tick = _col("game_tick", "tick", tick)
        price = get("price")
        if type(price) is float and 0 <= price < 1e20:
            price = Decimal(repr(price)).quantize(_QUANTUM, context=_CTX)
        else:
            price = _col("game_tick", "price", price)
        phase = get("phase")
        if phase is not None and (type(phase) is not str or not phase.isascii()):
            phase = _col("game_tick", "phase", phase)
        active = get("active")
        if active is not True and active is not False:
            active = _col("game_tick", "active", active)
        rugged = get("rugged")
        if rugged is not True and rugged is not False:
            rugged = _col("game_tick", "rugged", rugged)
        cooldown = get("cooldown_timer")
        if type(cooldown) is not int or not 0 <= cooldown < INT32:
            cooldown = _col("game_tick", "cooldown_timer", cooldown)
        trades = get("trade_count")
        if type(trades) is not int or not 0 <= trades < INT32:
            trades = _col("game_tick", "trade_count", trades)
        values = (legacy_event_id(TICK, ts_iso, raw), seq, ts, raw, game_id, tick, price,
                  phase, active, rugged, cooldown, trades)
        for append, v in zip(self._appends, values):  # noqa: B905 - same length by design
            append(v)

    def _session_ids(self) -> list[str]:
        out: list[str] = []
        bounds = [start for _, _, start in self.runs[1:]] + [len(self)]
        for (_, session_id, start), end in zip(self.runs, bounds, strict=True):
            out.extend([session_id] * (end - start))
        return out

    def where(self, index: int) -> tuple[str, int, str]:
        """(file, line, text) of one row."""
        file = next(f for f, _, start in reversed(self.runs) if start <= index)
        return file, self.cols["seq"][index], self.cols["raw_json"][index]

    def table(self) -> pa.Table:
        n = len(self)
        constant = {
            "event_name": pa.repeat(TICK, n).cast(pa.string()),
            "source": pa.repeat(SOURCE, n).cast(pa.string()),
            "direction": pa.repeat("received", n).cast(pa.string()),
            "session_id": pa.array(self._session_ids(), type=pa.string()),
        }
        arrays = []
        for f in self.fields:
            if f.name in self.cols:
                arrays.append(pa.array(self.cols[f.name], type=f.type))
            elif f.name in constant:
                arrays.append(constant[f.name])
            else:
                arrays.append(pa.nulls(n, f.type))
        return pa.Table.from_arrays(arrays, schema=nullable(self.fields))


def legacy_files(directory: Path) -> list[Path]:
    """The *.jsonl files of a legacy directory, sorted by name (so the first end summary wins)."""
    if not directory.is_dir():
        raise IngestError(f"{directory} is not a directory of legacy recordings")
    files = sorted(p for p in directory.glob("*.jsonl") if p.is_file())
    if not files:
        raise IngestError(f"{directory} holds no *.jsonl legacy recordings")
    return files


def iter_lines(data: bytes) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None if not UTF-8, original bytes) for every non-blank line.

    A UTF-8 byte order mark at the start of the file is not part of the first record.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    for n, line in enumerate(data.split(b"\n"), 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            continue
        try:
            yield n, line.decode(), line
        except UnicodeDecodeError:
            yield n, None, line


def import_legacy(
    writer: _Writer,
    directory: Path,
    *,
    batch_rows: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> LegacySummary:
    """Import every legacy recording of a directory through the writer.

    Ticks take the batch path (`write_arrow`); other records `write_records`, so each is
    stored in all its doc types or rejected whole. Memory is bounded by one batch of rows
    (plus the largest file). Bad lines go to `rejects/legacy/<file stem>.<hash>.jsonl`
    with file name, line number, reason and text, and the import goes on; the writer's
    deterministic ids make a re-run add nothing.
    """
    t0 = time.perf_counter()
    paths = writer.paths
    limit = writer.settings.max_payload_bytes
    summary = LegacySummary(directory=str(directory))
    ticks = _Ticks(limit)
    others = _Records()
    rejects: dict[str, RejectsFile] = {}

    def reject_file(path: str) -> RejectsFile:
        r = rejects.get(path)
        if r is None:
            r = rejects[path] = RejectsFile.for_source(paths, "legacy", Path(path))
        return r

    def count(res: Any) -> None:
        for k, v in res.written.items():
            summary.written[k] = summary.written.get(k, 0) + v
        summary.duplicates += res.duplicates

    def flush(file: str, session_id: str) -> None:
        nonlocal ticks, others
        if len(ticks):
            res = writer.write_arrow("game_tick", ticks.table())
            count(res)
            for rej in res.rejected:
                path, line, text = ticks.where(rej.index)
                reject_file(path).add(line, f"refused by the writer: {rej.reason}", text)
                summary.rejected += 1
        if others.records:
            res = writer.write_records(others.records)
            count(res)
            for rej in res.rejected:
                path, line, text = others.origin[rej.index]
                reject_file(path).add(line, f"refused by the writer: {rej.reason}", text)
                summary.rejected += 1
        ticks, others = _Ticks(limit), _Records()
        ticks.start_file(file, session_id)

    for path in legacy_files(directory):
        data = path.read_bytes()
        session_id = path.stem
        name = str(path)
        rj = reject_file(name)
        rj.reset()
        summary.files += 1
        ticks.start_file(name, session_id)
        in_file = 0
        for n, raw, raw_bytes in iter_lines(data):
            in_file += 1
            try:
                if raw is None:
                    raise RecordRejected("not UTF-8 text")
                rec = decode_line(raw)
                if rec.get("type") == TICK:
                    ticks.add(rec, raw, n)  # the batch path: no row dicts
                else:
                    others.add(map_legacy_record(rec, raw, session_id=session_id, seq=n),
                               (name, n, raw))
            except REJECTABLE as exc:
                text = raw if raw is not None else raw_bytes.decode(errors="replace")
                rj.add(n, rejection_reason(exc), text)
                summary.rejected += 1
                continue
            if len(ticks) + len(others) >= batch_rows:
                flush(name, session_id)
        summary.read += in_file
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        summary.blank += lines - in_file
        if progress:
            progress(len(data))
    flush("", "")
    for r in rejects.values():
        out = r.close()
        if out is not None:
            summary.rejects_files.append(str(out))
    summary.elapsed_s = time.perf_counter() - t0
    return summary


# -- export ----------------------------------------------------------------------------------


@dataclass
class ExportSummary:
    """What one `legacy export` wrote."""

    output: str
    files: int = 0
    records: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "files": self.files, "records": self.records}


_EXPORT_SQL = """
SELECT session_id, seq, raw_json FROM (
    SELECT session_id, seq, raw_json FROM game_tick WHERE source = ?
    UNION ALL
    SELECT session_id, seq, raw_json FROM system_event WHERE source = ?
) ORDER BY session_id, seq
"""


def export_legacy(paths: DataPaths, output: Path) -> ExportSummary:
    """Write the stored legacy records back as `<session>.jsonl` files in the old format.

    Every legacy record is stored once as game_tick or system_event with its line as
    raw_json, so the export is those lines in line order: byte-for-byte the original
    files without the lines that were rejected. Files are written atomically.
    """
    from store.views import connect

    output.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(output=str(output))
    con = connect(paths)
    try:
        cur = con.execute(_EXPORT_SQL, [SOURCE, SOURCE])
        current: str | None = None
        fh = None
        tmp: Path | None = None

        def finish() -> None:
            if fh is not None and tmp is not None and current is not None:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                os.replace(tmp, output / f"{current}.jsonl")

        while True:
            rows = cur.fetchmany(10_000)
            if not rows:
                break
            for session_id, _seq, raw in rows:
                if session_id != current:
                    finish()
                    current = session_id
                    tmp = output / f".{session_id}.jsonl.tmp"
                    fh = open(tmp, "w", encoding="utf-8", newline="\n")
                    summary.files += 1
                assert fh is not None
                fh.write(raw)
                fh.write("\n")
                summary.records += 1
        finish()
    finally:
        con.close()
    return summary


def rows_of_files(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every row of some legacy files, bad lines skipped (tests and benchmarks)."""
    for path in files:
        for n, raw, _ in iter_lines(path.read_bytes()):
            if raw is None:
                continue
            try:
                yield from parse_legacy_line(raw, session_id=path.stem, seq=n)
            except RecordRejected:
                continue
