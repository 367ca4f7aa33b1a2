"""Plumbing shared by the ``trend``, ``outlier`` and ``session`` detectors: one sorted work frame
for batch and stream runs, event times and ids for matches, state frames, and the O(n) kernels.

A detector turns its input into a *work frame*: the columns it needs plus ``__key`` (key number,
in order of first appearance), ``__ts`` (event time in microseconds) and ``__id`` (the event id:
the id field, else the ``id`` column, else the 0-based input row / arrival number), sorted by
key, time and input order. The batch run builds it from the whole frame
(:func:`batch_work`), the stream engine from each chunk of final events (:func:`chunk_work`), so
both feed the same code.

>>> import numpy as np
>>> key = np.array([0, 0, 0, 0, 1], dtype=np.int64)
>>> ts = np.array([0, 5, 5, 12, 3], dtype=np.int64)
>>> lo, hi = window_bounds(key, ts, 10)
>>> lo.tolist(), hi.tolist()
([0, 0, 0, 1, 4], [0, 1, 1, 3, 4])
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from cep.events import check_fields
from cep.matcher.frame import prepare_events
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import Pattern

__all__ = [
    "ID",
    "KEY",
    "ROW",
    "TS",
    "KeyBook",
    "Work",
    "batch_work",
    "chunk_work",
    "epoch_us",
    "load_frame",
    "paused_gc",
    "save_frame",
    "segment_starts",
    "stats",
    "to_datetime",
    "to_datetimes",
    "window_bounds",
]

KEY = "__key"
TS = "__ts"
ID = "__id"
ROW = "__row"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Int64Array = npt.NDArray[np.int64]


@dataclass
class Work:
    """A detector's input rows sorted by key, time and input order.

    Attributes:
        frame: ``__key``, ``__ts``, the detector's columns, and either ``__id`` (the event ids:
            streams) or ``__row`` (the input row: batch runs, whose ids are looked up only for
            the rows that end up in a match), sorted.
        key_of: key number → partition values.
        max_ts: the latest event time among all the events given (microseconds; None if none),
            including events a detector's ``where`` drops.
        source_ids: batch runs: the id column in input order (None: ids are the row numbers).
    """

    frame: pl.DataFrame
    key_of: Callable[[int], dict[str, Any]]
    max_ts: int | None
    source_ids: pl.Series | None = None

    def ids(self, frame: pl.DataFrame, positions: npt.NDArray[np.int64]) -> list[Any]:
        """The event ids of rows ``positions`` of ``frame`` (this work frame or rows of it)."""
        index = pl.Series(positions, dtype=pl.Int64)
        if ID in frame.columns:
            ids: list[Any] = frame.get_column(ID).gather(index).to_list()
            return ids
        rows = frame.get_column(ROW).gather(index)
        return rows.to_list() if self.source_ids is None else self.source_ids.gather(rows).to_list()


def epoch_us(column: pl.Series) -> pl.Series:
    """Event times as Int64 microseconds since the epoch (dates at midnight UTC)."""
    if column.dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    return column.dt.epoch("us").cast(pl.Int64)


def batch_work(pattern: Pattern, events: pl.DataFrame, columns: dict[str, pl.Expr],
               fields: Sequence[str] = ()) -> Work:
    """The work frame of a one-shot batch run.

    Args:
        pattern: the pattern (``partition_by``, ``order_by``, ``id_field``).
        events: the events as loaded.
        columns: name → expression over the events, evaluated before sorting.
        fields: the event fields the expressions read (checked first, for a clear error).

    Raises:
        EventDataError: a field, the time or the id column is missing.
    """
    check_fields(events, dict.fromkeys(fields, pattern.kind))
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    n = prepared.height
    frame = pl.DataFrame([
        pl.Series(KEY, prepared.part_numbers() if n else np.zeros(0, np.int64), dtype=pl.Int64),
        pl.Series(TS, prepared.ts_us, dtype=pl.Int64),
        pl.Series(ROW, prepared.order, dtype=pl.Int64),
    ])
    if columns:
        selected = events.select(*(e.alias(name) for name, e in columns.items()))
        if n > 1 and not bool(np.all(prepared.order[1:] > prepared.order[:-1])):
            selected = selected[pl.Series(prepared.order)]
        frame = pl.concat([frame, selected], how="horizontal")
    keys: list[dict[str, Any]] = []

    def key_of(number: int) -> dict[str, Any]:
        if not keys:  # every key at once: one gather instead of a row lookup per key
            if prepared.partition_by:
                first_rows = pl.Series(prepared.order[prepared.part_start])
                keys.extend(events.select(prepared.partition_by)[first_rows].to_dicts())
            else:
                keys.append({})
        return keys[number]

    source = None if prepared.id_column is None else events.get_column(prepared.id_column)
    return Work(frame, key_of, int(prepared.ts_us.max()) if n else None, source)


def chunk_work(chunk: Chunk, columns: dict[str, pl.Expr], fields: Sequence[str] = ()) -> Work:
    """The work frame of a stream chunk (already sorted by key, time and arrival).

    Raises:
        EventDataError: a field or the id column is missing.
    """
    frame = chunk.frame
    id_column = chunk.id_column or SEQ_COL
    check_fields(frame, dict.fromkeys((*fields, id_column), "the pattern"))
    ts = epoch_us(frame.get_column(chunk.order_by))
    work = frame.select(
        pl.col(id_column).alias(ID), *(e.alias(n) for n, e in columns.items()),
        pl.col(KEY_COL).cast(pl.Int64).alias(KEY),
    ).with_columns(ts.alias(TS))
    return Work(work, chunk.keys.__getitem__, int(ts.max()) if frame.height else None)  # type: ignore[arg-type]


def to_datetimes(us: npt.NDArray[np.int64] | Sequence[int]) -> list[datetime]:
    """Microseconds since the epoch as UTC datetimes."""
    epoch, step = _EPOCH, timedelta
    return [epoch + step(microseconds=x) for x in np.asarray(us, dtype=np.int64).tolist()]


def to_datetime(us: int) -> datetime:
    """One time in microseconds since the epoch as a UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many result objects are built.

    Tens of thousands of matches (each a few lists and a dict) trigger full collections that
    walk every live object, which can double the build time; these objects form no cycles, so
    nothing is lost by collecting later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def stats(events: int, matches: int, started: float, path: str) -> dict[str, Any]:
    """The ``stats`` of a batch result (``started`` from ``time.perf_counter``)."""
    import time

    return {"events": events, "matches": matches,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3), "path": path}


def save_frame(frame: pl.DataFrame | None) -> str | None:
    """A frame as JSON-safe text (None stays None)."""
    return None if frame is None else frame_to_state(frame)


def load_frame(text: str | None) -> pl.DataFrame | None:
    """The frame saved by :func:`save_frame`."""
    return None if text is None else frame_from_state(text)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"__datetime": value.isoformat()}
    return str(value)


def _unplain(value: Any) -> Any:
    if isinstance(value, dict) and "__datetime" in value:
        return datetime.fromisoformat(value["__datetime"])
    return value


class KeyBook:
    """Key number → partition values, kept by a stream engine (restored from its state)."""

    def __init__(self) -> None:
        self.keys: dict[int, dict[str, Any]] = {}

    def update(self, chunk: Chunk) -> None:
        """Learn the keys of a chunk."""
        for number, values in chunk.keys.items():
            self.keys.setdefault(number, values)

    def __call__(self, number: int) -> dict[str, Any]:
        return self.keys[number]

    def to_state(self) -> list[list[Any]]:
        """JSON-safe form (values stored as the partition values)."""
        return [[k, {c: _plain(v) for c, v in d.items()}] for k, d in self.keys.items()]

    @classmethod
    def from_state(cls, state: list[list[Any]]) -> KeyBook:
        """The book saved by :meth:`to_state`."""
        book = cls()
        book.keys = {int(k): {c: _unplain(v) for c, v in d.items()} for k, d in state}
        return book


@njit(cache=True)
def _window_bounds(key: Any, ts: Any, width: int) -> Any:  # pragma: no cover - compiled
    n = key.shape[0]
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    start = 0
    a = 0
    b = 0
    for i in range(n):
        if i == 0 or key[i] != key[i - 1]:
            start = i
            a = i
            b = i
        while a < i and ts[a] <= ts[i] - width:
            a += 1
        while b < i and ts[b] < ts[i]:
            b += 1
        lo[i] = max(a, start)
        hi[i] = b
    return lo, hi


def window_bounds(key: Int64Array, ts: Int64Array, width_us: int) -> tuple[Int64Array, Int64Array]:
    """For each row i, the rows of its key with time in (ts[i] - width, ts[i]): [lo[i], hi[i]).

    Rows must be sorted by key, then time; equal times never see each other.
    """
    lo, hi = _window_bounds(np.ascontiguousarray(key), np.ascontiguousarray(ts), int(width_us))
    return lo, hi


def segment_starts(key: Int64Array) -> Int64Array:
    """Index of the first row of each run of equal keys."""
    if key.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.diff(key, prepend=key[0] - 1)).astype(np.int64)
