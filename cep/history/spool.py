"""The spool: a local JSON-lines file that keeps test runs while the database is unreachable.

Each line is one record ``{"table": ..., "row": {...}}`` holding a row exactly as it will be
inserted (already redacted and bounded, so the spool never holds more than the database
would). Appends are atomic: the line is written with a single ``write`` on a file opened in
append mode, under an exclusive ``flock`` shared with :meth:`Spool.drain`, and synced to disk.
A torn last line (a crash mid-write) is set aside in ``<file>.rejected`` rather than lost
silently or blocking the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["SPOOL_FILE_NAME", "Spool", "SpooledRow"]

SPOOL_FILE_NAME = "history.jsonl"

SpooledRow = tuple[str, dict[str, Any]]
"""(table name, row as JSON-ready values)."""


class Spool:
    """An append-only file of rows waiting for the database.

    Args:
        folder: where the spool file lives (created on the first append).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / SPOOL_FILE_NAME

    def append(self, table: str, row: dict[str, Any]) -> None:
        """Add one row, durably (raises ``OSError`` when the file cannot be written)."""
        line = json.dumps({"table": table, "row": row}, ensure_ascii=False, default=str) + "\n"
        data = line.encode("utf-8")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, data)
            if written != len(data):  # only on a full disk; leave no torn line behind
                raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> int:
        """How many rows wait in the spool."""
        if not self.path.exists():
            return 0
        with self._locked() as handle:
            return sum(1 for line in handle.read().splitlines() if line.strip())

    def drain(self, write: Callable[[list[SpooledRow]], None]) -> int:
        """Hand every spooled row to ``write``; empty the spool only if it returns.

        ``write`` must be idempotent (rows may be handed over again after a failure): the
        store inserts with insert-or-ignore on the primary key.

        Returns:
            The number of rows handed over.
        """
        if not self.path.exists():
            return 0
        with self._locked() as handle:
            rows: list[SpooledRow] = []
            rejected: list[str] = []
            for line in handle.read().splitlines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    rows.append((str(record["table"]), dict(record["row"])))
                except (ValueError, KeyError, TypeError):
                    rejected.append(line)
            if rows:
                write(rows)
            if rejected:
                with open(self.path.with_name(self.path.name + ".rejected"), "a",
                          encoding="utf-8") as out:
                    out.write("\n".join(rejected) + "\n")
            handle.seek(0)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
            return len(rows)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        with open(self.path, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
