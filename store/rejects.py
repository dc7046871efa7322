"""Rejects files: each input line that could not be stored, with file, line number and reason."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from store.errors import InvalidEventError, RecordRejected, StorageError
from store.paths import DataPaths

REJECTS_VERSION = 1

# What reading one record may raise and still be that record's fault: its line is
# rejected and the run goes on. The store's own verdicts, plus what hostile input can
# provoke in parsing code (deep nesting, lone surrogates, huge numbers, odd types), so
# no single line can stop an ingest. MemoryError, OSError and interrupts are not here.
REJECTABLE: tuple[type[BaseException], ...] = (
    RecordRejected, InvalidEventError, ValueError, TypeError, ArithmeticError,
    RecursionError, LookupError,
)


def rejection_reason(exc: BaseException) -> str:
    """The reason recorded for a rejected line: the store's message, else the fault named."""
    if isinstance(exc, RecordRejected | InvalidEventError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"


def rejects_path(paths: DataPaths, kind: str, source: Path | str) -> Path:
    """`rejects/<kind>/<stem>.<hash>.jsonl`: one file per input file, stable across runs.

    The hash of the absolute path keeps two inputs with the same name apart.
    """
    if str(source) == "-":
        return paths.rejects / kind / "stdin.jsonl"
    p = Path(source).resolve()
    digest = hashlib.sha1(str(p).encode()).hexdigest()[:8]
    return paths.rejects / kind / f"{p.stem}.{digest}.jsonl"


class RejectsFile:
    """JSON lines `{"v", "file", "line", "reason", "text", "at"}` for one input file.

    `reset()` starts the file over (a full re-read of its input); without it, lines are
    appended (a resumed --follow). The file is only created when something is rejected.
    """

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self.count = 0
        self._truncate = False
        self._fh: IO[str] | None = None

    @classmethod
    def for_source(cls, paths: DataPaths, kind: str, source: Path | str) -> RejectsFile:
        return cls(rejects_path(paths, kind, source), str(source))

    def reset(self) -> None:
        """Drop what an earlier run of the same input rejected; this run re-reads it all."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._truncate = True
        self.count = 0

    def add(self, line: int | None, reason: str, text: str | None) -> None:
        """Record one rejected line. Raises StorageError (DiskFullError) if it cannot be kept."""
        try:
            self._add(line, reason, text)
        except OSError as exc:
            raise StorageError.from_os_error(exc, f"writing the rejects file {self.path}") from exc

    def _add(self, line: int | None, reason: str, text: str | None) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w" if self._truncate else "a", encoding="utf-8",
                            errors="backslashreplace")
            self._truncate = False
        rec: dict[str, Any] = {
            "v": REJECTS_VERSION,
            "file": self.source,
            "line": line,
            "reason": reason,
            "text": text,
            "at": datetime.now(UTC).isoformat(),
        }
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.count += 1

    def flush(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
            except OSError as exc:
                raise StorageError.from_os_error(
                    exc, f"writing the rejects file {self.path}") from exc

    def close(self) -> Path | None:
        """Close; the path if the file holds rejects (of this run or, appended to, earlier)."""
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError as exc:
                raise StorageError.from_os_error(
                    exc, f"writing the rejects file {self.path}") from exc
        elif self._truncate:
            # A full re-read rejected nothing: an old rejects file would be stale.
            self.path.unlink(missing_ok=True)
            self._truncate = False
        return self.path if self.count and self.path.exists() else None


def read_rejects(path: Path) -> list[dict[str, Any]]:
    """The records of a rejects file; refuses a newer format version."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if int(rec.get("v", 1)) > REJECTS_VERSION:
                from store.errors import SchemaVersionError

                raise SchemaVersionError(
                    f"rejects file {path} has version {rec['v']}, this code knows up to "
                    f"{REJECTS_VERSION}: upgrade rugs-replayer to read it"
                )
            out.append(rec)
    return out
