"""Plumbing shared by the time-driven detectors (absence, heartbeat, state_machine).

These kinds emit some matches when event time passes a deadline rather than on an event. They
all follow one time rule, which makes the batch run equal any streamed run:

* events with a time before the watermark are final; while streaming, a deadline ``d`` fires
  once the watermark passes it (``d < watermark``), so every event at a time ``<= d`` has been
  seen before it fires (an event *at* the deadline still counts as in time);
* at the end of the stream every event is final, so ``finish(None)`` fires the deadlines
  ``d <= `` the latest event time seen, and ``finish(now)`` those ``d <= max(now, latest)``
  (a ``now`` before the latest event cannot un-pass event time);
* any other deadline stays *pending* (a :class:`~cep.results.PartialMatch` with reason
  ``"pending"`` and ``ended`` = the deadline), never a match.

A batch run is the engine fed every event as one chunk whose watermark is the latest event
time, then ``finish(None)`` (:func:`run_batch`); the chunk comes from the fast partition sort of
:mod:`cep.matcher.frame`. Engines describe what they emit as *emission tables* (one row per
match, see :func:`build_matches`) so that the batch run can build its ``Match`` objects lazily,
when the result is first read.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, overload

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.errors import EventDataError
from cep.events import check_fields
from cep.matcher.frame import prepare_events
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import PatternBase
from cep.results import Match, MatchResult, PartialMatch

__all__ = [
    "END",
    "ID",
    "IDS",
    "LABEL",
    "LABELS",
    "NEVER_US",
    "START",
    "STEP",
    "Conditions",
    "LazyList",
    "batch_chunk",
    "build_matches",
    "build_pending",
    "chunk_ids",
    "concat",
    "fire_limit",
    "frame_or_none",
    "frame_state",
    "group_codes",
    "is_naive",
    "run_batch",
    "times_us",
    "to_datetimes",
]

NEVER_US = -(2**62)
"""A time before any event (the watermark before the first event)."""

# Columns of an emission table; every other column is a measure (NULL: left out of the match).
START, END = "__start", "__end"
ID, LABEL = "__id", "__label"  # one event per match
IDS, LABELS = "__ids", "__labels"  # several events per match (lists)
STEP = "__step"  # pending tables: the step reached

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)


def fire_limit(now_us: int | None, last_us: int) -> int:
    """The latest deadline ``finish`` fires: the latest event time, or ``now`` if later."""
    return last_us if now_us is None else max(now_us, last_us)


def times_us(frame: pl.DataFrame, order_by: str) -> npt.NDArray[np.int64]:
    """Event times of a chunk, microseconds since the epoch."""
    column = frame.get_column(order_by)
    if column.dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    values: npt.NDArray[np.int64] = column.dt.epoch("us").to_numpy().astype(np.int64, copy=False)
    return values


def is_naive(frame: pl.DataFrame, order_by: str) -> bool:
    """Whether the event times carry no time zone (then match times are naive UTC too)."""
    dtype = frame.schema[order_by]
    return not (isinstance(dtype, pl.Datetime) and dtype.time_zone is not None)


def to_datetimes(values_us: Sequence[int], naive: bool) -> list[datetime]:
    """Microsecond times as datetimes (UTC; naive when the event times were naive)."""
    base, delta = (_EPOCH_NAIVE if naive else _EPOCH), timedelta
    return [base + delta(0, 0, v) for v in values_us]


def chunk_ids(chunk: Chunk) -> pl.Series:
    """The event ids of a chunk's rows (the id column, else the arrival number)."""
    column = chunk.id_column or SEQ_COL
    check_fields(chunk.frame, {column: "the pattern's id_field"})
    return chunk.frame.get_column(column)


def group_codes(frame: pl.DataFrame) -> npt.NDArray[np.int64]:
    """A number per distinct row of ``frame`` (NULL equals NULL, as in ``partition_by``)."""
    if frame.width == 1 and frame.dtypes[0].is_integer() and not frame.to_series().null_count():
        return frame.to_series().to_numpy().astype(np.int64, copy=False)
    rows = (
        frame.with_row_index("__row")
        .group_by(frame.columns)
        .agg(pl.col("__row"))
        .get_column("__row")
    )
    codes = np.empty(frame.height, dtype=np.int64)
    codes[rows.explode().to_numpy()] = np.repeat(
        np.arange(rows.len(), dtype=np.int64), rows.list.len().to_numpy()
    )
    return codes


def concat(frames: Iterable[pl.DataFrame | None]) -> pl.DataFrame | None:
    """Stack frames (columns unioned, types widened); None when there are none."""
    present = [f for f in frames if f is not None and f.height]
    if not present:
        return None
    return present[0] if len(present) == 1 else pl.concat(present, how="diagonal_relaxed")


def frame_state(frame: pl.DataFrame | None) -> str | None:
    """A frame (or None) as JSON-safe text."""
    return None if frame is None else frame_to_state(frame)


def frame_or_none(text: str | None) -> pl.DataFrame | None:
    """The frame saved by :func:`frame_state`."""
    return None if text is None else frame_from_state(text)


class Conditions:
    """Named row conditions of a pattern, parsed once and evaluated on each chunk with Polars."""

    def __init__(self, pattern_name: str, named: Sequence[tuple[str, str | None]]) -> None:
        self.pattern_name = pattern_name
        self.exprs: list[E.Expr | None] = [
            None if text is None else E.parse_condition(text) for _, text in named
        ]
        self.used: dict[str, str] = {}
        for (name, _), e in zip(named, self.exprs, strict=True):
            for column in [] if e is None else sorted(E.referenced_columns(e)):
                self.used.setdefault(column, name)

    def masks(self, frame: pl.DataFrame) -> list[npt.NDArray[np.bool_]]:
        """One boolean array per condition (NULL is false; no condition is always true)."""
        check_fields(frame, self.used)
        names = [f"__c{i}" for i in range(len(self.exprs))]
        exprs = [
            pl.lit(True).alias(name) if e is None else E.to_polars(e).fill_null(False).alias(name)
            for name, e in zip(names, self.exprs, strict=True)
        ]
        try:
            table = frame.with_columns(exprs).select(names)
        except pl.exceptions.PolarsError as error:
            detail = str(error).strip().splitlines()[0]
            raise EventDataError(
                f"a condition of pattern {self.pattern_name!r} cannot be evaluated on these "
                f"events: {detail} (check that compared fields and values have the same type)"
            ) from None
        return [
            table.get_column(name).cast(pl.Boolean).to_numpy().astype(np.bool_, copy=False)
            for name in names
        ]


def batch_chunk(
    pattern: PatternBase, events: pl.DataFrame, columns: Mapping[str, str] | None = None
) -> Chunk:
    """All events as one chunk, sorted by key (first appearance), time and input row.

    ``__seq`` is the 0-based input row, as when the frame is streamed in one batch; only the
    time, the id and ``columns`` (column → where the pattern uses it) are gathered into sorted
    order.

    Raises:
        EventDataError: a key, time, id or used column is missing.
    """
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    columns = columns or {}
    check_fields(events, columns)
    wanted = [pattern.order_by, *([prepared.id_column] if prepared.id_column else []), *columns]
    frame = prepared.sorted_frame(wanted).with_columns(
        pl.Series(KEY_COL, prepared.part_numbers(), dtype=pl.Int64),
        pl.Series(SEQ_COL, prepared.order, dtype=pl.Int64),
    )
    keys: dict[int, dict[str, Any]] = {0: {}} if prepared.height else {}
    if pattern.partition_by:
        firsts = pl.Series(prepared.order[prepared.part_start])
        keys = dict(enumerate(events.select(pattern.partition_by)[firsts].to_dicts()))
    watermark = int(prepared.ts_us.max()) if prepared.height else NEVER_US
    return Chunk(frame, keys, watermark, prepared.id_column, pattern.order_by)


def _measure_columns(table: pl.DataFrame) -> list[str]:
    return [c for c in table.columns if not c.startswith("__")]


def _events_of(table: pl.DataFrame) -> tuple[list[Any], list[Any], bool]:
    if ID in table.columns:
        return table.get_column(ID).to_list(), table.get_column(LABEL).to_list(), False
    return table.get_column(IDS).to_list(), table.get_column(LABELS).to_list(), True


def build_matches(
    pattern_name: str, table: pl.DataFrame | None, keys: Mapping[int, dict[str, Any]], naive: bool
) -> list[Match]:
    """``Match`` objects from an emission table, in its row order.

    The table has ``__key``, ``__start`` and ``__end`` (microseconds), the events as ``__id`` /
    ``__label`` (one per match) or ``__ids`` / ``__labels`` (lists), and one column per measure.
    """
    if table is None or table.height == 0:
        return []
    enabled = gc.isenabled()
    gc.disable()  # many small containers: the cyclic collector would rescan them over and over
    try:
        return _build_matches(pattern_name, table, keys, naive)
    finally:
        if enabled:
            gc.enable()


def _build_matches(
    pattern_name: str, table: pl.DataFrame, keys: Mapping[int, dict[str, Any]], naive: bool
) -> list[Match]:
    key_numbers = table.get_column(KEY_COL).to_list()
    start_us = table.get_column(START).to_list()
    end_us = table.get_column(END).to_list()
    starts = to_datetimes(start_us, naive)
    base, delta = (_EPOCH_NAIVE if naive else _EPOCH), timedelta
    ends = [s if a == b else base + delta(0, 0, b)
            for s, a, b in zip(starts, start_us, end_us, strict=True)]
    ids, labels, many = _events_of(table)
    names = _measure_columns(table)
    values = [table.get_column(name).to_list() for name in names]
    nullable = [table.get_column(name).null_count() > 0 for name in names]
    out: list[Match] = []
    append = out.append
    for i, k in enumerate(key_numbers):
        measures = {name: column[i] for name, column, check in zip(names, values, nullable,
                                                                    strict=True)
                    if not check or column[i] is not None}
        append(Match(
            pattern=pattern_name, key=dict(keys[k]), start=starts[i], end=ends[i],
            event_ids=ids[i] if many else [ids[i]],
            classifiers=labels[i] if many else [labels[i]],
            measures=measures,
        ))
    return out


def build_pending(
    pattern_name: str, table: pl.DataFrame | None, keys: Mapping[int, dict[str, Any]], naive: bool
) -> list[PartialMatch]:
    """Pending deadlines (reason ``"pending"``, ``ended`` = the deadline) from a table.

    Same layout as for :func:`build_matches` (``__end`` is the deadline) plus ``__step``.
    """
    if table is None or table.height == 0:
        return []
    starts = to_datetimes(table.get_column(START).to_list(), naive)
    ends = to_datetimes(table.get_column(END).to_list(), naive)
    ids, labels, many = _events_of(table)
    return [
        PartialMatch(
            pattern=pattern_name, key=dict(keys[k]), step_reached=step,
            event_ids=ids[i] if many else [ids[i]],
            classifiers=labels[i] if many else [labels[i]],
            started=starts[i], ended=ends[i], reason="pending",
        )
        for i, (k, step) in enumerate(zip(table.get_column(KEY_COL).to_list(),
                                          table.get_column(STEP).to_list(), strict=True))
    ]


class LazyList(Sequence[Any]):
    """A list built on first access (``Match`` objects are the slow part of a batch run)."""

    def __init__(self, count: int, build: Callable[[], list[Any]]) -> None:
        self._count = count
        self._build: Callable[[], list[Any]] | None = build
        self._items: list[Any] = []

    def _all(self) -> list[Any]:
        if self._build is not None:
            self._items, self._build = self._build(), None
        return self._items

    def __len__(self) -> int:
        return self._count if self._build is not None else len(self._items)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._all())


class TimerEngine:
    """The stream ``Engine`` protocol for kinds driven by deadlines.

    A subclass keeps ``pattern``, ``keys``, ``naive`` and ``timed_out``, and provides the steps:
    ``_process`` (final events → emitted rows), ``_fire`` (deadlines up to a time → emitted
    rows), ``_pending_table`` and ``_latest_us`` (the latest event time seen).
    """

    pattern: Any
    keys: dict[int, dict[str, Any]]
    naive: bool

    def process(self, chunk: Chunk) -> list[Match]:
        """Take final events; return what they emit and the deadlines now passed."""
        return self._build(self._process(chunk))

    def on_time(self, watermark_us: int) -> list[Match]:
        """Fire the deadlines before ``watermark_us``."""
        return self._build(self._fire(watermark_us - 1))

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream: fire the deadlines up to the last event time (or ``now_us``)."""
        return self._build(self._fire(fire_limit(now_us, self._latest_us())))

    @property
    def pending(self) -> list[PartialMatch]:
        """The deadlines still to come, by key."""
        return build_pending(self.pattern.name, self._pending_table(), self.keys, self.naive)

    def run_tables(self, chunk: Chunk) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
        """Batch run: every event, then the end of the stream (emissions, pending)."""
        emitted = concat([self._process(chunk), self._fire(fire_limit(None, self._latest_us()))])
        return emitted, self._pending_table()

    def _build(self, table: pl.DataFrame | None) -> list[Match]:
        return build_matches(self.pattern.name, table, self.keys, self.naive)

    def _latest_us(self) -> int:
        raise NotImplementedError

    def _process(self, chunk: Chunk) -> pl.DataFrame | None:
        raise NotImplementedError

    def _fire(self, limit_us: int) -> pl.DataFrame | None:
        raise NotImplementedError

    def _pending_table(self) -> pl.DataFrame | None:
        raise NotImplementedError


class BatchEngine(Protocol):
    """What :func:`run_batch` needs from an engine (the tables of one batch run)."""

    def run_tables(self, chunk: Chunk) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
        """Process every event as one chunk, then finish: (emissions, pending)."""
        ...


def run_batch(
    pattern: PatternBase,
    events: pl.DataFrame,
    engine: BatchEngine,
    columns: Mapping[str, str] | None,
    path: str,
) -> MatchResult:
    """Run a detector over every event as one chunk; matches (built lazily) in key order.

    Each key's matches keep the order the engine emitted them in; keys come in order of first
    appearance.
    """
    started = time.perf_counter()
    chunk = batch_chunk(pattern, events, columns)
    naive = is_naive(chunk.frame, pattern.order_by)
    emitted, pending = engine.run_tables(chunk)
    if emitted is not None:
        emitted = emitted.sort(KEY_COL, maintain_order=True)
    count = 0 if emitted is None else emitted.height
    keys, name = chunk.keys, pattern.name  # the closure must not keep the chunk's frame alive
    matches = LazyList(count, lambda: build_matches(name, emitted, keys, naive))
    stats = {
        "events": events.height,
        "matches": count,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "path": path,
    }
    return MatchResult(
        matches=matches,
        stats=stats,
        pending=build_pending(name, pending, keys, naive),
    )
