"""The ``session`` detector: per-key sessions split by an inactivity gap (and a maximum duration),
one match per closed session that satisfies ``having``.

Semantics, per key, over the events that satisfy ``where`` (all events without it; the others
are ignored entirely: they neither extend nor split a session), in time order (equal times in
input order):

* An event joins the open session when it is at most ``gap`` after the session's last event and
  at most ``max_duration`` after its first event (both bounds inclusive: an event exactly
  ``gap`` after the last one joins, and a session may last exactly ``max_duration``).
  Otherwise the open session closes and the event starts a new one. So a session's duration
  (last time - first time) never exceeds ``max_duration``.
* Closing by time: the open session's **deadline** is min(last + gap, first + max_duration),
  the latest time an event could still join. It closes when event time passes the deadline:
  during streaming when deadline < watermark; at the end of the stream (``flush()``, and the
  batch run) when deadline <= the latest event time seen (of any key, whether or not it
  satisfies ``where``); with ``flush(now)`` when deadline <= max(now, that latest time).
  An open session whose deadline is later is **pending**: reported in ``pending`` (reason
  ``"pending"``, ``ended`` = the deadline) when it satisfies ``having`` as it stands, never as
  a match.
* ``having`` is checked on each closed session: ``event_count``, ``duration_s`` (seconds from
  the first to the last event) and aggregates of event fields (``SUM``, ``AVG``, ``MIN``,
  ``MAX``, ``COUNT(x)``, ``COUNT(*)``) with SQL NULL rules (NULLs are skipped; SUM/AVG/MIN/MAX of
  no values is NULL, which makes a comparison NULL: not satisfied). Sums add the values in
  event order, so a stream and a batch run give identical numbers.
* One match per closed session satisfying ``having``: event_ids = its events,
  classifiers = ``"event"`` for each, start/end = the first/last event's time (not the
  deadline), measures = event_count, duration_s and each aggregate of ``having`` under its SQL
  text (``"SUM(amount)"``). Matches come per key in session order, keys in order of first
  appearance.

Worked example (gap 10 s, max_duration 30 s, having ``event_count >= 2``; one key, times in
seconds):

>>> from datetime import UTC, datetime, timedelta
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> secs = [0, 10, 25, 40, 50, 60, 70, 100]
>>> df = pl.DataFrame({"id": list(range(1, 9)), "ts": [t0 + timedelta(seconds=s) for s in secs],
...                    "amount": [1, 2, 3, 4, 5, 6, 7, 8]})
>>> p = parse_pattern({"kind": "session", "name": "s", "gap": "10s", "max_duration": "30s",
...                    "having": "event_count >= 2 AND SUM(amount) > 2"})
>>> r = find_matches(p, df)
>>> [(m.event_ids, m.measures) for m in r.matches]
[([1, 2], {'event_count': 2, 'duration_s': 10.0, 'SUM(amount)': 3}), \
([4, 5, 6, 7], {'event_count': 4, 'duration_s': 30.0, 'SUM(amount)': 22})]
>>> [(p.event_ids, p.ended.second, p.reason) for p in r.pending]
[]

0 and 10 form a session (10 - 0 <= gap); 25 is 15 s after 10: a new session {25}, which fails
``having``. 40 is 15 s after 25: a new session 40 50 60 70 (duration exactly 30 s); 100 starts
the last session, whose deadline min(100 + 10, 100 + 30) = 110 s is after the last event time
(100 s): it is pending, but with one event it fails ``having``, so ``pending`` is empty.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from cep import expr as E
from cep.errors import EventDataError, ExpressionError, PatternError, UnsupportedFeature
from cep.matcher.detectors._rolling import (
    ID,
    KEY,
    TS,
    KeyBook,
    batch_work,
    chunk_work,
    load_frame,
    paused_gc,
    save_frame,
    stats,
    to_datetimes,
)
from cep.matcher.stream import Chunk
from cep.model import SESSION_MEASURES, SessionPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_WHERE = "__where"
_STATE_VERSION = 1
_NONE = np.iinfo(np.int64).max

I64 = npt.NDArray[np.int64]


# --- compiled kernels -------------------------------------------------------------------------


@njit(cache=True)
def _session_starts(key: Any, ts: Any, gap: int, max_dur: int) -> Any:  # pragma: no cover
    """Start flag of each row: a new key, a gap over ``gap``, or over ``max_dur`` from the first."""
    n = key.shape[0]
    start = np.zeros(n, dtype=np.bool_)
    first = 0
    for i in range(n):
        if i == 0 or key[i] != key[i - 1] or ts[i] - ts[i - 1] > gap or ts[i] - first > max_dur:
            start[i] = True
            first = ts[i]
    return start


@njit(cache=True)
def _reduce(values: Any, valid: Any, starts: Any, ends: Any, op: int) -> Any:  # pragma: no cover
    """Per session [starts, ends): sum (op 0), min (1) or max (2) of the valid values, in order,
    and how many values were valid."""
    out = np.zeros(starts.shape[0], dtype=values.dtype)
    count = np.zeros(starts.shape[0], dtype=np.int64)
    for s in range(starts.shape[0]):
        c = 0
        acc = values[0] if values.shape[0] else out[0]
        for i in range(starts[s], ends[s]):
            if not valid[i]:
                continue
            x = values[i]
            if c == 0:
                acc = x
            elif op == 0:
                acc = acc + x
            elif op == 1:
                if x < acc:
                    acc = x
            elif x > acc:
                acc = x
            c += 1
        out[s] = acc
        count[s] = c
    return out, count


# --- the pattern, compiled once ---------------------------------------------------------------


def _replace_aggregates(e: E.Expr, names: dict[E.Agg, str]) -> E.Expr:
    """``e`` with every aggregate replaced by a column of the session table."""
    if isinstance(e, E.Agg):
        return E.Col(names[e])
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(e):  # type: ignore[arg-type]
        value = getattr(e, f.name)
        new = _replace_value(value, names)
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(e, **changes) if changes else e  # type: ignore[type-var]


def _replace_value(value: Any, names: dict[E.Agg, str]) -> Any:
    if isinstance(value, tuple):
        items = tuple(_replace_value(v, names) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _replace_aggregates(value, names)  # type: ignore[arg-type]
    return value


@dataclasses.dataclass
class _Compiled:
    where: pl.Expr | None
    having: pl.Expr | None
    aggregates: list[tuple[str, E.Agg]]  # (column, aggregate)
    labels: dict[str, str]  # column -> SQL text shown in measures
    fields: list[str]
    gap_us: int
    max_us: int


def _compile(p: SessionPattern) -> _Compiled:
    fields: list[str] = []
    where = None
    if p.where is not None:
        node = E.parse_condition(p.where)
        fields += sorted(E.referenced_columns(node))
        where = E.to_polars(node).fill_null(False)
    having = None
    aggregates: list[tuple[str, E.Agg]] = []
    labels: dict[str, str] = {}
    if p.having is not None:
        try:
            node = E.parse_condition(p.having, features=E.Features(aggregates=True))
        except ExpressionError as error:
            raise PatternError(f"pattern {p.name!r}: having: {error}") from error
        names: dict[E.Agg, str] = {}
        for sub in E.walk(node):
            if isinstance(sub, E.Agg) and sub not in names:
                names[sub] = f"__agg{len(names)}"
                aggregates.append((names[sub], sub))
                labels[names[sub]] = E.to_sql(sub)
                if sub.arg is not None:
                    fields += sorted(E.referenced_columns(sub.arg))
        having = E.to_polars(_replace_aggregates(node, names)).fill_null(False)
    max_us = p.max_duration.microseconds if p.max_duration is not None else _NONE
    return _Compiled(where, having, aggregates, labels, list(dict.fromkeys(fields)),
                     p.gap.microseconds, max_us)


def _columns(c: _Compiled) -> dict[str, pl.Expr]:
    columns = {} if c.where is None else {_WHERE: c.where}
    for name, agg in c.aggregates:
        if agg.arg is not None:
            columns[name] = E.to_polars(agg.arg)
    return columns


# --- sessions ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Sessions:
    """Sessions over rows sorted by key and time: [start, end) row ranges."""

    start: I64
    end: I64
    key: I64
    first_ts: I64
    last_ts: I64

    def deadline(self, c: _Compiled) -> I64:
        gap_end = self.last_ts + c.gap_us
        if c.max_us == _NONE:
            return gap_end
        return np.minimum(gap_end, self.first_ts + c.max_us)

    def pick(self, mask: npt.NDArray[np.bool_]) -> _Sessions:
        return _Sessions(self.start[mask], self.end[mask], self.key[mask], self.first_ts[mask],
                         self.last_ts[mask])

    def last_of_key(self) -> npt.NDArray[np.bool_]:
        last = np.ones(self.key.shape[0], dtype=np.bool_)
        last[:-1] = self.key[1:] != self.key[:-1]
        return last


def _sessions(c: _Compiled, rows: pl.DataFrame) -> _Sessions:
    key = rows.get_column(KEY).to_numpy()
    ts = rows.get_column(TS).to_numpy()
    if key.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Sessions(empty, empty, empty, empty, empty)
    start = np.flatnonzero(_session_starts(key, ts, c.gap_us, c.max_us)).astype(np.int64)
    end = np.append(start[1:], key.shape[0]).astype(np.int64)
    return _Sessions(start, end, key[start], ts[start], ts[end - 1])


def _aggregate(name: str, agg: E.Agg, column: pl.Series, s: _Sessions) -> pl.Series:
    """One aggregate per session, NULL when it has no values (COUNT: 0)."""
    valid = column.is_not_null().to_numpy()
    if agg.func == "COUNT":
        _, count = _reduce(np.zeros(valid.shape[0]), valid, s.start, s.end, 0)
        return pl.Series(name, count, dtype=pl.Int64)
    dtype = column.dtype
    if dtype == pl.Boolean:
        column, dtype = column.cast(pl.Int64), pl.Int64()
    if dtype == pl.Null:
        column, dtype = column.cast(pl.Float64), pl.Float64()
    if not dtype.is_numeric():
        if agg.func in ("SUM", "AVG"):
            raise EventDataError(f"{E.to_sql(agg)} needs numbers; its argument is {dtype}")
        session = np.repeat(np.arange(s.start.shape[0]), s.end - s.start)
        frame = pl.DataFrame({"s": session, "x": column.gather(pl.Series(_ranges(s.start, s.end)))})
        grouped = frame.group_by("s", maintain_order=True).agg(
            pl.col("x").min() if agg.func == "MIN" else pl.col("x").max())
        return grouped.get_column("x").alias(name)
    is_int = dtype.is_integer()
    values = column.cast(pl.Int64 if is_int else pl.Float64).fill_null(0).to_numpy()
    op = {"SUM": 0, "AVG": 0, "MIN": 1, "MAX": 2}[agg.func]
    out, count = _reduce(values, valid, s.start, s.end, op)
    if agg.func == "AVG":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out.astype(np.float64) / count
    return pl.select(pl.when(pl.Series(count > 0)).then(pl.Series(name, out))).to_series().alias(
        name)


def _table(c: _Compiled, rows: pl.DataFrame, s: _Sessions) -> pl.DataFrame:
    """One row per session: event_count, duration_s and the aggregates of ``having``."""
    columns = [
        pl.Series(SESSION_MEASURES[0], s.end - s.start, dtype=pl.Int64),
        pl.Series(SESSION_MEASURES[1], (s.last_ts - s.first_ts) / 1e6, dtype=pl.Float64),
    ]
    for name, agg in c.aggregates:
        if agg.arg is None:
            columns.append(pl.Series(name, s.end - s.start, dtype=pl.Int64))
        else:
            columns.append(_aggregate(name, agg, rows.get_column(name), s))
    return pl.DataFrame(columns)


def _stream_ids(frame: pl.DataFrame, positions: I64) -> list[Any]:
    ids: list[Any] = frame.get_column(ID).gather(pl.Series(positions)).to_list()
    return ids


def _ranges(start: I64, end: I64) -> I64:
    """The rows start[0]..end[0]-1, start[1]..end[1]-1, ... as one array."""
    counts = end - start
    return np.repeat(start - np.cumsum(np.append(0, counts[:-1])), counts) + np.arange(
        int(counts.sum()), dtype=np.int64)


def _emit(p: SessionPattern, c: _Compiled, rows: pl.DataFrame, s: _Sessions,
          chosen: npt.NDArray[np.bool_], key_of: Any, ids_of: Any, pending: bool = False
          ) -> list[Any]:
    """Matches (or pending partial matches) of the chosen sessions that satisfy ``having``."""
    if not chosen.any():
        return []
    picked = s.pick(chosen)
    table = _table(c, rows, picked)
    keep = np.ones(table.height, dtype=np.bool_)
    if c.having is not None:
        keep = table.with_columns(c.having.alias("__ok")).get_column("__ok").to_numpy()
        keep = keep.astype(np.bool_)
    if not keep.any():
        return []
    table = table.filter(pl.Series(keep))
    picked = picked.pick(keep)
    ids = ids_of(rows, _ranges(picked.start, picked.end))
    offsets = np.append(0, np.cumsum(picked.end - picked.start)).tolist()
    starts = to_datetimes(picked.first_ts)
    bounds = itertools.pairwise(offsets)
    keys = [key_of(k) for k in picked.key.tolist()]
    if pending:
        deadlines = to_datetimes(picked.deadline(c))
        return [PartialMatch(p.name, key, "open", ids[a:b], ["event"] * (b - a), start, deadline,
                             "pending")
                for key, start, deadline, (a, b) in zip(keys, starts, deadlines, bounds,
                                                        strict=True)]
    names = [*SESSION_MEASURES, *(name for name, _ in c.aggregates)]
    measures = table.select(pl.col(n).alias(c.labels.get(n, n)) for n in names).to_dicts()
    ends = to_datetimes(picked.last_ts)
    with paused_gc():
        return [Match(p.name, key, start, end, ids[a:b], ["event"] * (b - a), m)
                for key, start, end, (a, b), m in zip(keys, starts, ends, bounds, measures,
                                                      strict=True)]


def _select_rows(rows: pl.DataFrame, s: _Sessions, chosen: npt.NDArray[np.bool_]) -> pl.DataFrame:
    """The rows of the chosen sessions."""
    if not chosen.any():
        return rows.clear()
    return rows[pl.Series(_ranges(s.start[chosen], s.end[chosen]))]


def _qualifying(c: _Compiled, frame: pl.DataFrame) -> pl.DataFrame:
    if c.where is None:
        return frame
    return frame.filter(pl.col(_WHERE)).drop(_WHERE)


def find_matches(pattern: SessionPattern, events: pl.DataFrame) -> MatchResult:
    """Find every closed session that satisfies ``having`` (see the module docstring).

    Raises:
        EventDataError: a field of ``where`` or ``having`` is missing, or a SUM/AVG argument is
            not numeric, or the time, partition or id column is missing.
        PatternError: ``having`` is not a condition.
    """
    started = time.perf_counter()
    c = _compile(pattern)
    work = batch_work(pattern, events, _columns(c), c.fields)
    rows = _qualifying(c, work.frame)
    s = _sessions(c, rows)
    closed = ~s.last_of_key()
    if work.max_ts is not None:
        closed |= s.deadline(c) <= work.max_ts
    matches = _emit(pattern, c, rows, s, closed, work.key_of, work.ids)
    pending = _emit(pattern, c, rows, s, ~closed, work.key_of, work.ids, pending=True)
    return MatchResult(matches=matches, pending=pending,
                       stats=stats(events.height, len(matches), started, "vectorised"))


class Engine:
    """Incremental ``session`` detection (``cep.matcher.stream.Engine``).

    Between chunks it keeps the events of each key's open session (with the values the
    aggregates of ``having`` read) and its deadline; a session closes when a later event of its
    key does not join it, or when the watermark passes its deadline.
    """

    def __init__(self, pattern: SessionPattern) -> None:
        self.pattern = pattern
        self.compiled = _compile(pattern)
        self.keys = KeyBook()
        self.open: pl.DataFrame | None = None  # rows of the open sessions, in time order per key
        self.deadline: dict[int, int] = {}
        self.max_ts: int | None = None
        self.timed_out: list[PartialMatch] = []

    @property
    def pending(self) -> list[PartialMatch]:
        """The open sessions that satisfy ``having`` as they stand (``ended`` = the deadline)."""
        if self.open is None or self.open.height == 0:
            return []
        rows = self.open.sort(KEY, maintain_order=True)
        s = _sessions(self.compiled, rows)
        out: list[PartialMatch] = _emit(self.pattern, self.compiled, rows, s,
                                        np.ones(s.start.shape[0], dtype=np.bool_), self.keys,
                                        _stream_ids, pending=True)
        return out

    def process(self, chunk: Chunk) -> list[Match]:
        """Add the chunk's events to their sessions; return the sessions that closed."""
        self.keys.update(chunk)
        c = self.compiled
        if chunk.frame.height:
            work = chunk_work(chunk, _columns(c), c.fields)
            if work.max_ts is not None:
                self.max_ts = work.max_ts if self.max_ts is None else max(self.max_ts, work.max_ts)
            rows = _qualifying(c, work.frame)
            if rows.height:
                return self._add(rows, chunk.watermark_us)
        return self.on_time(chunk.watermark_us)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Close the open sessions whose deadline is before ``watermark_us``."""
        return self._close(lambda d: d < watermark_us)

    def finish(self, now_us: int | None) -> list[Match]:
        """Close the sessions whose deadline the end of the stream reaches; the rest pend."""
        limit = self.max_ts
        if now_us is not None:
            limit = now_us if limit is None else max(now_us, limit)
        return [] if limit is None else self._close(lambda d: d <= limit)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "version": _STATE_VERSION,
            "keys": self.keys.to_state(),
            "open": save_frame(self.open),
            "deadline": [[k, d] for k, d in self.deadline.items()],
            "max_ts": self.max_ts,
        }

    @classmethod
    def from_state(cls, pattern: SessionPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        if state.get("version") != _STATE_VERSION:
            raise UnsupportedFeature(f"session engine state version {state.get('version')!r} "
                                     f"is not supported (expected {_STATE_VERSION})")
        engine = cls(pattern)
        engine.keys = KeyBook.from_state(state["keys"])
        engine.open = load_frame(state["open"])
        engine.deadline = {int(k): int(d) for k, d in state["deadline"]}
        engine.max_ts = state["max_ts"]
        return engine

    # --- internals ----------------------------------------------------------------------------
    def _add(self, rows: pl.DataFrame, watermark_us: int) -> list[Match]:
        c = self.compiled
        here = rows.get_column(KEY).unique()
        others = None
        if self.open is not None and self.open.height:
            mine = self.open.get_column(KEY).is_in(here.implode())
            rows = pl.concat([self.open.filter(mine), rows], how="vertical_relaxed").sort(
                KEY, maintain_order=True)
            others = self.open.filter(~mine)
        s = _sessions(c, rows)
        deadline = s.deadline(c)
        last = s.last_of_key()
        closed = ~last | (deadline < watermark_us)
        out: list[Match] = _emit(self.pattern, c, rows, s, closed, self.keys, _stream_ids)
        still = ~closed
        kept = _select_rows(rows, s, still)
        for k in s.key[last].tolist():
            self.deadline.pop(k, None)
        self.deadline.update(zip(s.key[still].tolist(), deadline[still].tolist(), strict=True))
        self.open = kept if others is None else pl.concat([others, kept], how="vertical_relaxed")
        return out + self.on_time(watermark_us)

    def _close(self, due: Any) -> list[Match]:
        ready = sorted(k for k, d in self.deadline.items() if due(d))
        if not ready or self.open is None:
            return []
        for k in ready:
            del self.deadline[k]
        mine = self.open.get_column(KEY).is_in(pl.Series(ready, dtype=pl.Int64).implode())
        rows = self.open.filter(mine)
        self.open = self.open.filter(~mine)
        s = _sessions(self.compiled, rows)
        out: list[Match] = _emit(self.pattern, self.compiled, rows, s,
                                 np.ones(s.start.shape[0], dtype=np.bool_), self.keys,
                                 _stream_ids)
        return out
