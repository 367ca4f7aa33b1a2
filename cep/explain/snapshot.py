"""The state each kind's engine had when a match completed, recomputed from the events.

Nothing here echoes the configuration alone: counts, sums, runs, baselines, gaps and deadlines
are measured on the key's events (sorted arrays and binary searches per match), with the
configured limit beside each measured value so a reader sees how far past it the match went.
Times are UTC datetimes, durations seconds.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.explain.jsonform import json_records, json_series, json_value, json_values
from cep.explain.keyed import KEY, KeyedEvents
from cep.explain.rules import parse, trend_step
from cep.matcher.syntax import parse_row_pattern, pattern_variables
from cep.model import (
    AbsencePattern,
    CountThresholdPattern,
    DedupPattern,
    GeofencePattern,
    HeartbeatPattern,
    MatchRecognizePattern,
    OutlierPattern,
    Pattern,
    SequencePattern,
    SessionPattern,
    StateMachinePattern,
    TemporalCorrelationPattern,
    TrendPattern,
    VelocityPattern,
)
from cep.results import Match

__all__ = ["MatchTimes", "Snapshots", "from_us", "no_gc", "snapshots", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PER_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def to_us(value: datetime) -> int:
    """Microseconds since the epoch (naive times are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int | None) -> datetime | None:
    """A UTC datetime from microseconds since the epoch."""
    return None if us is None else _EPOCH + timedelta(microseconds=int(us))


def _s(us: float) -> float:
    return float(us) / 1e6


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small acyclic objects are built (it would
    rescan the growing heap again and again; the matcher builds its matches the same way)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def snapshots(pattern: Pattern, keyed: KeyedEvents, matches: list[Match],
              key_numbers: list[int], times: MatchTimes) -> Snapshots:
    """The state snapshots of the matches.

    The kinds in ``_VECTORISED`` compute theirs for all matches at once, as columns (sorted-array
    searches over every match); the others build theirs per match. Either is done when the
    snapshots are first read.
    """
    columns = _VECTORISED.get(pattern.kind)
    if columns is not None:
        return Snapshots.of_columns(
            len(matches), lambda: columns(pattern, _Context(keyed, key_numbers, times), matches))
    builder = _BUILDERS.get(pattern.kind)
    if builder is None:
        return Snapshots.of_records(lambda: [{} for _ in matches])
    return Snapshots.of_records(lambda: builder(pattern, _Context(keyed, key_numbers, times), matches))


Column = pl.Series | list[Any] | str | int | float | bool | None
"""A snapshot field for all matches: a Series (converted by Polars), a list of Python values
(one per match), or one plain value the same for every match."""


class Snapshots:
    """The state snapshots of all matches: snapshot ``i`` as a dict, or all in JSON form.

    Built from per-match dicts (``of_records``), or from columns (``of_columns``), whose JSON
    forms are converted column by column (times formatted by Polars, not per value).
    """

    def __init__(self, count: int, build: Callable[[], list[dict[str, Any]]] | None,
                 columns: Callable[[], dict[str, Column]] | None) -> None:
        self._count = count
        self._build = build
        self._make_columns = columns
        self._columns: dict[str, Column] | None = None
        self._records: list[dict[str, Any]] | None = None

    @classmethod
    def of_records(cls, build: Callable[[], list[dict[str, Any]]]) -> Snapshots:
        """Snapshots built per match, by ``build`` when first read."""
        return cls(-1, build, None)

    @classmethod
    def of_columns(cls, count: int, columns: Callable[[], dict[str, Column]]) -> Snapshots:
        """Snapshots given as fields, in order, each for all ``count`` matches (by ``columns``,
        when first read)."""
        return cls(count, None, columns)

    def __call__(self, i: int) -> dict[str, Any]:
        return self.all()[i]

    def all(self) -> list[dict[str, Any]]:
        """Every match's snapshot, in order."""
        if self._records is None:
            with no_gc():
                if self._build is not None:
                    self._records = self._build()
                else:
                    self._records = self._rows(json=False)
        return self._records

    def json_forms(self) -> list[dict[str, Any]]:
        """Every match's snapshot in JSON form (``json_tree`` of each), new on each call."""
        if self._make_columns is None:
            return json_records(self.all())
        return self._rows(json=True)

    def _rows(self, *, json: bool) -> list[dict[str, Any]]:
        if self._columns is None:
            assert self._make_columns is not None
            self._columns = self._make_columns()
        names = list(self._columns)
        columns: list[Any] = []
        for value in self._columns.values():
            if isinstance(value, pl.Series):
                columns.append(json_series(value) if json else value.to_list())
            elif isinstance(value, list):
                columns.append(json_values(value) if json else value)
            else:
                columns.append(itertools.repeat(json_value(value) if json else value,
                                                self._count))
        if not names:
            return [{} for _ in range(self._count)]
        return [dict(zip(names, values, strict=False)) for values in zip(*columns, strict=False)]


class _Context:
    """Per-key sorted arrays of the events, built on first use."""

    def __init__(self, keyed: KeyedEvents, key_numbers: list[int], times: MatchTimes) -> None:
        self.keyed = keyed
        self.times = times
        self.key_numbers = key_numbers
        self.ts = keyed.ts_us()
        self._columns: dict[str, npt.NDArray[Any]] = {}
        self._masks: dict[str, npt.NDArray[np.bool_]] = {}
        self._pos: dict[Any, int] | None = None
        self._ids: list[Any] = []

    def column(self, name: str, dtype: Any = None) -> npt.NDArray[Any]:
        if name not in self._columns:
            series = self.keyed.events.get_column(name)[pl.Series(self.keyed.order)]
            if dtype is not None:
                series = series.cast(dtype, strict=False)
            self._columns[name] = series.to_numpy()
        return self._columns[name]

    def mask(self, condition: str | None, *, partitioned: bool = False) -> npt.NDArray[np.bool_]:
        """Where ``condition`` holds (NULL is false) over the sorted frame; all True for None."""
        label = condition or ""
        if label not in self._masks:
            if condition is None:
                self._masks[label] = np.ones(self.keyed.height, dtype=np.bool_)
            else:
                cond = parse(condition)
                names = [c for c in self.keyed.columns
                         if c in {n.name for n in E.walk(cond) if isinstance(n, E.Col)}]
                expr = E.to_polars(cond, partition_col=KEY if partitioned else None)
                self._masks[label] = (self.keyed.sorted_select(names)
                                      .select(expr.fill_null(False))
                                      .to_series().to_numpy().astype(np.bool_))
        return self._masks[label]

    def span(self, i: int) -> tuple[int, int]:
        return self.keyed.key_slice(self.key_numbers[i])

    def row_of(self, event_id: Any) -> int:
        """Row of ``frame`` holding an event id."""
        if self._pos is None:
            self._index()
        assert self._pos is not None
        return self._pos[event_id]

    def rows_of(self, event_ids: list[Any]) -> npt.NDArray[np.int64]:
        """Sorted rows of many event ids (one join)."""
        ids = self.keyed.ids()
        table = pl.DataFrame({"__id": ids, "__s": np.arange(ids.len(), dtype=np.int64)})
        wanted = pl.Series("__id", event_ids, dtype=ids.dtype).to_frame()
        return wanted.join(table, on="__id", how="left", maintain_order="left").get_column(
            "__s").to_numpy()

    def event(self, row: int) -> dict[str, Any]:
        """Id and time of the event at a row."""
        if not self._ids:
            self._ids = self.keyed.ids().to_list()
        return {"event_id": self._ids[row], "time": from_us(int(self.ts[row]))}

    def _index(self) -> None:
        self._ids = self.keyed.ids().to_list()
        self._pos = {v: n for n, v in enumerate(self._ids)}

    def item(self, row: int, name: str) -> Any:
        """One field of the event at a sorted row."""
        return self.keyed.events.item(int(self.keyed.order[row]), name)


Builder = Callable[[Any, _Context, list[Match]], list[dict[str, Any]]]


def _window_counts(ctx: _Context, i: int, mask: npt.NDArray[np.bool_], lo_us: int, hi_us: int,
                   *, lo_open: bool, hi_open: bool) -> npt.NDArray[np.int64]:
    """Rows of match i's key that pass ``mask`` with time in the given interval."""
    a, b = ctx.span(i)
    ts = ctx.ts[a:b]
    left = np.searchsorted(ts, lo_us, side="right" if lo_open else "left")
    right = np.searchsorted(ts, hi_us, side="left" if hi_open else "right")
    rows = np.arange(a + left, a + right, dtype=np.int64)
    return rows[mask[rows]]


class _Windows:
    """Count (and sum) the qualifying events of many (key, time interval) pairs at once.

    Qualifying rows are sorted by key, then time; a composite ``key · span + time`` number keeps
    that order, so one ``searchsorted`` finds every interval's bounds.
    """

    def __init__(self, ctx: _Context, mask: npt.NDArray[np.bool_], pad_us: int,
                 values: npt.NDArray[np.float64] | None = None) -> None:
        self.rows = np.flatnonzero(mask)
        ts = ctx.ts[self.rows]
        keys = ctx.keyed.part()[self.rows]
        low = int(ctx.ts.min()) if ctx.ts.shape[0] else 0
        high = int(ctx.ts.max()) if ctx.ts.shape[0] else 0
        self.base = low - pad_us - 1
        self.span = high - self.base + pad_us + 2
        self.keys = keys
        self.ts = ts
        self.comp: npt.NDArray[np.int64] | None = None
        if (len(ctx.keyed.keys) + 1) * self.span < 2**62:
            self.comp = keys * self.span + (ts - self.base)
        self.sums = None if values is None else np.concatenate(
            [[0.0], np.cumsum(values[self.rows])])

    def bounds(self, keys: npt.NDArray[np.int64], lo_us: npt.NDArray[np.int64],
               hi_us: npt.NDArray[np.int64], *, lo_open: bool, hi_open: bool
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Index range into ``rows`` of each interval."""
        lo_side: Literal["left", "right"] = "right" if lo_open else "left"
        hi_side: Literal["left", "right"] = "left" if hi_open else "right"
        if self.comp is not None:
            left = np.searchsorted(self.comp, keys * self.span + (lo_us - self.base), lo_side)
            right = np.searchsorted(self.comp, keys * self.span + (hi_us - self.base), hi_side)
            return left, np.maximum(right, left)
        # Times too far apart for one composite number: search each key's segment.
        seg_lo = np.searchsorted(self.keys, keys, side="left")
        seg_hi = np.searchsorted(self.keys, keys, side="right")
        left = np.empty(keys.shape[0], dtype=np.int64)
        right = np.empty(keys.shape[0], dtype=np.int64)
        for i in range(keys.shape[0]):
            ts = self.ts[seg_lo[i]:seg_hi[i]]
            left[i] = seg_lo[i] + np.searchsorted(ts, lo_us[i], lo_side)
            right[i] = seg_lo[i] + np.searchsorted(ts, hi_us[i], hi_side)
        return left, np.maximum(right, left)


_ONE_US = timedelta(microseconds=1)


def _us(values: list[Any]) -> npt.NDArray[np.int64]:
    """Microseconds since the epoch of each time (None: 0)."""
    try:
        return np.fromiter(((v - _EPOCH) // _ONE_US for v in values), dtype=np.int64,
                           count=len(values))
    except TypeError:  # None, or times without a zone (UTC)
        return np.array([0 if v is None else to_us(v) for v in values], dtype=np.int64)


def _times(us: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_] | None = None) -> pl.Series:
    """UTC times from microseconds (null where not ``valid``)."""
    series = pl.Series(us, dtype=pl.Int64)
    if valid is not None:
        series = pl.select(pl.when(pl.Series(valid)).then(series)).to_series()
    return series.cast(pl.Datetime("us", "UTC"))


def _events(ctx: _Context, rows: npt.NDArray[np.int64],
            valid: npt.NDArray[np.bool_] | None = None) -> pl.Series:
    """``{"event_id", "time"}`` of the events at sorted rows (null where not ``valid``)."""
    frame = pl.DataFrame({"event_id": ctx.keyed.ids().gather(pl.Series(rows)),
                          "time": _times(ctx.ts[rows])})
    events = frame.to_struct("event")
    if valid is None:
        return events
    return pl.select(pl.when(pl.Series(valid)).then(events)).to_series()


class MatchTimes:
    """Start and end of every match in microseconds, converted once for all who need them."""

    def __init__(self, matches: list[Match]) -> None:
        self._matches = matches

    @cached_property
    def has_start(self) -> npt.NDArray[np.bool_]:
        return np.fromiter((m.start is not None for m in self._matches), dtype=np.bool_,
                           count=len(self._matches))

    @cached_property
    def has_end(self) -> npt.NDArray[np.bool_]:
        return np.fromiter((m.end is not None for m in self._matches), dtype=np.bool_,
                           count=len(self._matches))

    @cached_property
    def start_us(self) -> npt.NDArray[np.int64]:
        """Starts (0 where None)."""
        return _us([m.start for m in self._matches])

    @cached_property
    def end_us(self) -> npt.NDArray[np.int64]:
        """Ends (0 where None)."""
        return _us([m.end for m in self._matches])

    def json_starts(self) -> list[str | None]:
        """``format_time`` of each start."""
        return json_series(_times(self.start_us, self.has_start))

    def json_ends(self) -> list[str | None]:
        """``format_time`` of each end."""
        return json_series(_times(self.end_us, self.has_end))


def _window(within_s: float | None, times: MatchTimes) -> dict[str, Column]:
    """How long each match took, and (with ``within``) how much of its window was left."""
    has_both = times.has_start & times.has_end
    span = pl.Series(np.where(has_both, (times.end_us - times.start_us) / 1e6, 0.0))
    if within_s is None:
        return {"span_s": span}
    return {"span_s": span, "within_s": within_s, "window_left_s": within_s - span,
            "window_end": _times(times.start_us + round(within_s * 1e6), times.has_start)}


def _label_counts(matches: list[Match], names: list[str], *, upper: bool = False
                  ) -> npt.NDArray[np.int64]:
    """Per match, how many of its events each name classifies (a matrix, matches × names)."""
    lengths = np.fromiter((len(m.classifiers) for m in matches), dtype=np.int64,
                          count=len(matches))
    flat = pl.Series(list(itertools.chain.from_iterable(m.classifiers for m in matches)),
                     dtype=pl.String)
    if upper:
        flat = flat.str.to_uppercase()
    codes = flat.replace_strict({n: k for k, n in enumerate(names)}, default=len(names),
                                return_dtype=pl.Int64).to_numpy()
    counts = np.zeros((len(matches), len(names) + 1), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(matches)), lengths), codes), 1)
    return counts[:, :len(names)]


def _sequence(p: SequencePattern, ctx: _Context, matches: list[Match]) -> dict[str, Column]:
    steps = [s for s in p.steps if s.negated is None]
    index = {s.name: n + 1 for n, s in enumerate(steps)}
    counts = _label_counts(matches, [s.name for s in steps]).tolist()
    limits = [(s.name, 0 if s.optional else s.times.min, s.times.max) for s in steps]
    return {
        "steps_total": len(steps),
        "steps": [[{"step": name, "events": n, "times_min": low, "times_max": high}
                   for (name, low, high), n in zip(limits, row, strict=True)] for row in counts],
        "step_index_per_event": [[index.get(c) for c in m.classifiers] for m in matches],
        "after_match_skip": p.after_match_skip,
        **_window(p.within.seconds if p.within else None, ctx.times),
    }


def _recognize(p: MatchRecognizePattern, ctx: _Context, matches: list[Match]
               ) -> dict[str, Column]:
    variables = pattern_variables(parse_row_pattern(p.pattern))
    counts = _label_counts(matches, [v.upper() for v in variables], upper=True).tolist()
    return {
        "variables": [dict(zip(variables, row, strict=True)) for row in counts],
        "match_number": pl.Series([m.match_number for m in matches], dtype=pl.Int64),
        "after_match_skip": p.after_match_skip,
        **_window(p.within.seconds if p.within else None, ctx.times),
    }


def _count_threshold(p: CountThresholdPattern, ctx: _Context, matches: list[Match]
                     ) -> dict[str, Column]:
    mask = ctx.mask(p.where)
    w = round(p.window.seconds * 1e6)
    windows = _Windows(ctx, mask, w)
    keys = np.asarray(ctx.key_numbers, dtype=np.int64)
    if p.window_type == "tumbling":
        lo = ctx.times.start_us // w * w
        left, right = windows.bounds(keys, lo, lo + w, lo_open=False, hi_open=True)
        return {"window_type": "tumbling", "window_start": _times(lo),
                "window_end": _times(lo + w), "count": pl.Series(right - left),
                "threshold": p.threshold, "window_s": p.window.seconds}
    ends = ctx.times.end_us
    left, right = windows.bounds(keys, ends - w, ends, lo_open=True, hi_open=False)
    b_left, b_right = windows.bounds(keys, ends - w, ends, lo_open=False, hi_open=True)
    first = (np.where(right > left, ctx.ts[windows.rows[np.minimum(left, windows.rows.shape[0] - 1)]],
                      ends) if windows.rows.shape[0] else ends)
    return {"window_type": "sliding", "window_start": _times(ends - w),
            "window_end": _times(ends), "count": pl.Series(right - left),
            "count_just_before": pl.Series(b_right - b_left), "threshold": p.threshold,
            "window_s": p.window.seconds, "first_event_leaves_at": _times(first + w)}


def _velocity(p: VelocityPattern, ctx: _Context, matches: list[Match]) -> dict[str, Column]:
    mask = ctx.mask(p.where).copy()
    values: npt.NDArray[np.float64] | None = None
    if p.value_field is not None:
        values = ctx.column(p.value_field, pl.Float64).astype(np.float64)
        mask &= ~np.isnan(values)
    w = round(p.window.seconds * 1e6)
    per_window = p.window.seconds / _PER_S[p.per]
    windows = _Windows(ctx, mask, w, values)
    keys = np.asarray(ctx.key_numbers, dtype=np.int64)
    ends = ctx.times.end_us
    columns: dict[str, Column] = {
        "window_start": _times(ends - w), "window_end": _times(ends),
        "window_s": p.window.seconds, "per": p.per, "threshold": p.threshold}
    for label, lo_open, hi_open in (("", True, False), ("_just_before", False, True)):
        left, right = windows.bounds(keys, ends - w, ends, lo_open=lo_open, hi_open=hi_open)
        count = right - left
        total = count.astype(np.float64) if windows.sums is None else (
            windows.sums[right] - windows.sums[left])
        columns["count" + label] = pl.Series(count)
        if windows.sums is not None:
            columns["sum" + label] = pl.Series(total)
        columns["rate" + label] = pl.Series(total / per_window)
    return columns


def _trend(p: TrendPattern, ctx: _Context, matches: list[Match]) -> dict[str, Column]:
    step_ok = ctx.keyed.sorted_select([p.value_field]).select(
        E.to_polars(trend_step(p), partition_col=KEY).fill_null(False)).to_series().to_numpy()
    n = ctx.keyed.height
    breaks = np.append(np.flatnonzero(~step_ok), n)  # a key's first row always breaks
    first = ctx.rows_of([m.event_ids[0] for m in matches])
    last = ctx.rows_of([m.event_ids[-1] for m in matches])
    key_end = ctx.keyed.key_starts[1:][ctx.keyed.part()[last]]
    run_start = breaks[np.searchsorted(breaks, first, side="right") - 1]
    run_end = np.minimum(breaks[np.searchsorted(breaks, last, side="right")], key_end)
    values = ctx.column(p.value_field, pl.Float64).astype(np.float64)
    is_open = run_end == key_end
    return {
        "direction": p.direction, "required": p.count, "tolerance_pct": p.tolerance_pct,
        "run_start": _events(ctx, run_start),
        "run_length_at_match": pl.Series(last - run_start + 1),
        "run_length": pl.Series(run_end - run_start), "run_open": pl.Series(is_open),
        "broken_by": _events(ctx, np.minimum(run_end, n - 1), ~is_open),
        "first": pl.Series(values[first]), "last": pl.Series(values[last]),
        "change": pl.Series(values[last] - values[first]),
        "position_in_key": pl.Series(last - ctx.keyed.key_starts[:-1][ctx.keyed.part()[last]]),
    }


def _baseline(p: OutlierPattern, values: npt.NDArray[np.float64]) -> dict[str, Any]:
    n = int(values.shape[0])
    state: dict[str, Any] = {"samples": n}
    if n == 0:
        return state
    if p.method == "zscore":
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else None
        state.update({"mean": mean, "std": std})
    elif p.method == "iqr":
        q1, q3 = (float(q) for q in np.quantile(values, [0.25, 0.75]))
        iqr = q3 - q1
        state.update({"q1": q1, "q3": q3, "iqr": iqr, "lower": q1 - p.threshold * iqr,
                      "upper": q3 + p.threshold * iqr})
    else:
        median = float(np.median(values))
        state.update({"median": median, "mad": float(np.median(np.abs(values - median)))})
    return state


def outlier_score(p: OutlierPattern, x: float, stats: dict[str, Any]) -> float | None:
    """The distance of ``x`` from the baseline in the method's unit (None: zero spread)."""
    if p.method == "zscore":
        std = stats.get("std")
        return None if not std else abs(x - stats["mean"]) / std
    if p.method == "iqr":
        iqr = stats["iqr"]
        outside = max(stats["q1"] - x, x - stats["q3"], 0.0)
        return None if iqr == 0 else outside / iqr
    mad = stats["mad"]
    return None if mad == 0 else abs(x - stats["median"]) / (1.4826 * mad)


class HasTimes(Protocol):
    """Anything with the sorted event times (``ts``, µs) of the rows it indexes."""

    ts: npt.NDArray[np.int64]


def baseline_rows(p: OutlierPattern, ctx: HasTimes, a: int, b: int, row: int,
                  valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Rows of the baseline of the event at ``row`` (its key spans rows a..b)."""
    t = int(ctx.ts[row])
    w = round(p.baseline.seconds * 1e6)
    ts = ctx.ts[a:b]
    left = a + int(np.searchsorted(ts, t - w, side="right"))
    right = a + int(np.searchsorted(ts, t, side="left"))
    rows = np.arange(left, right, dtype=np.int64)
    return rows[valid[rows]]


def _outlier(p: OutlierPattern, ctx: _Context, matches: list[Match]) -> list[dict[str, Any]]:
    values = ctx.column(p.value_field, pl.Float64).astype(np.float64)
    valid = np.isfinite(values)
    out = []
    for i, m in enumerate(matches):
        a, b = ctx.span(i)
        row = ctx.row_of(m.event_ids[0])
        rows = baseline_rows(p, ctx, a, b, row, valid)
        stats = _baseline(p, values[rows])
        x = float(values[row])
        out.append({"method": p.method, "value": x, **stats,
                    "score": outlier_score(p, x, stats), "threshold": p.threshold,
                    "min_samples": p.min_samples, "baseline_s": p.baseline.seconds,
                    "baseline_start": from_us(int(ctx.ts[row]) - round(p.baseline.seconds * 1e6)),
                    "baseline_end": from_us(int(ctx.ts[row]))})
    return out


def _session(p: SessionPattern, ctx: _Context, matches: list[Match]) -> list[dict[str, Any]]:
    mask = ctx.mask(p.where)
    gap = round(p.gap.seconds * 1e6)
    cap = round(p.max_duration.seconds * 1e6) if p.max_duration else None
    last_time = int(ctx.ts.max()) if ctx.ts.shape[0] else 0
    out = []
    for i, m in enumerate(matches):
        assert m.start is not None
        assert m.end is not None
        first, last = to_us(m.start), to_us(m.end)
        a, b = ctx.span(i)
        rows = _window_counts(ctx, i, mask, first, last, lo_open=False, hi_open=False)
        later = np.flatnonzero(mask[a:b] & (ctx.ts[a:b] > last))
        nxt = int(ctx.ts[a + later[0]]) if later.shape[0] else None
        deadline = last + gap if cap is None else min(last + gap, first + cap)
        if nxt is None:
            closed_by = "end of data" if deadline <= last_time else "still open"
        elif cap is not None and nxt - first > cap and nxt - last <= gap:
            closed_by = "max_duration"
        else:
            closed_by = "gap"
        out.append({"session_start": from_us(first), "session_end": from_us(last),
                    "event_count": int(rows.shape[0]), "duration_s": _s(last - first),
                    "gap_s": p.gap.seconds,
                    "max_duration_s": p.max_duration.seconds if p.max_duration else None,
                    "deadline": from_us(deadline),
                    "next_event": from_us(nxt),
                    "gap_after_s": None if nxt is None else _s(nxt - last),
                    "closed_by": closed_by, "having": p.having})
    return out


def _dedup(p: DedupPattern, ctx: _Context, matches: list[Match]) -> list[dict[str, Any]]:
    frame = ctx.keyed.sorted_select(list(p.fields))
    mask = ctx.mask(p.where)
    out = []
    for m in matches:
        kept, dup = ctx.row_of(m.event_ids[0]), ctx.row_of(m.event_ids[-1])
        gap = int(ctx.ts[dup] - ctx.ts[kept])
        values = {f: frame.item(kept, f) for f in p.fields}
        between = frame.slice(kept, dup - kept + 1).filter(pl.Series(mask[kept:dup + 1]))
        same = between.filter(pl.all_horizontal(
            [pl.col(f).eq_missing(pl.lit(v)) for f, v in values.items()])).height
        out.append({"first_occurrence": ctx.event(kept), "duplicate": ctx.event(dup),
                    "fields": values, "gap_s": _s(gap), "window_s": p.window.seconds,
                    "window_left_s": p.window.seconds - _s(gap),
                    "duplicate_number": same - 1})
    return out


def _geofence(p: GeofencePattern, ctx: _Context, matches: list[Match]) -> list[dict[str, Any]]:
    from cep.matcher.detectors import _geo

    lat = ctx.column(p.lat_field, pl.Float64).astype(np.float64)
    lon = ctx.column(p.lon_field, pl.Float64).astype(np.float64)
    distance: npt.NDArray[np.float64] | None = None
    if p.shape.type == "circle":
        inside, distance = _geo.circle_inside(p.shape, lat, lon)
        shape: dict[str, Any] = {"type": "circle", "center": [p.shape.center.lat,
                                                             p.shape.center.lon],
                                 "radius_m": p.shape.radius_m}
    else:
        inside = _geo.polygon_inside(p.shape, lat, lon)
        shape = {"type": "polygon", "vertices": [[v.lat, v.lon] for v in p.shape.vertices]}
    bound = [[ctx.row_of(e) for e in m.event_ids] for m in matches]
    flat = np.fromiter(itertools.chain.from_iterable(bound), dtype=np.int64)
    if p.shape.type == "circle":
        assert distance is not None
        edge = np.abs(distance[flat] - p.shape.radius_m)
    else:
        edge = _geo.polygon_distance_m(p.shape, lat[flat], lon[flat])
    edges = iter(edge.tolist())
    out = []
    for i, rows in enumerate(bound):
        state: dict[str, Any] = {
            "trigger": p.trigger, "shape": shape,
            "inside": [bool(inside[r]) for r in rows],
            "distance_m": None if distance is None else [float(distance[r]) for r in rows],
            "boundary_distance_m": list(itertools.islice(edges, len(rows))),
        }
        if p.trigger == "dwell" and p.dwell is not None:
            _, b = ctx.span(i)
            v = rows[0]
            outside = np.flatnonzero(~inside[v:b]) + v
            left = int(ctx.ts[outside[0]]) if outside.shape[0] else None
            stay_end = left if left is not None else int(ctx.ts[b - 1])
            state.update({"visit_start": from_us(int(ctx.ts[v])),
                          "deadline": from_us(int(ctx.ts[v]) + round(p.dwell.seconds * 1e6)),
                          "dwell_s": p.dwell.seconds, "left_at": from_us(left),
                          "stayed_s": _s(stay_end - int(ctx.ts[v]))})
        out.append(state)
    return out


def _correlation(p: TemporalCorrelationPattern, ctx: _Context, matches: list[Match]
                 ) -> list[dict[str, Any]]:
    out = []
    for m in matches:
        rows = [ctx.row_of(e) for e in m.event_ids]
        sides = {c: ctx.event(r) for c, r in zip(m.classifiers, rows, strict=True)}
        gap = _s(int(ctx.ts[rows[-1]] - ctx.ts[rows[0]]))
        out.append({"a": sides.get("a"), "b": sides.get("b"), "gap_s": gap,
                    "max_gap_s": p.max_gap.seconds, "gap_left_s": p.max_gap.seconds - gap,
                    "order": p.order,
                    "correlate_on": {f: ctx.item(rows[0], f) for f in p.correlate_on}})
    return out


def _heartbeat(p: HeartbeatPattern, ctx: _Context, matches: list[Match]) -> list[dict[str, Any]]:
    allowed = p.interval.seconds + (p.grace.seconds if p.grace else 0.0)
    last_time = int(ctx.ts.max()) if ctx.ts.shape[0] else 0
    out = []
    for i, m in enumerate(matches):
        a, _ = ctx.span(i)
        row = ctx.row_of(m.event_ids[0])
        if m.classifiers[0] == "alive":
            prev = int(ctx.ts[row - 1]) if row > a else None
            out.append({"status": "alive", "previous_event": None if prev is None
                        else ctx.event(row - 1), "back_at": from_us(int(ctx.ts[row])),
                        "silence_s": None if prev is None else _s(int(ctx.ts[row]) - prev),
                        "timeout_s": allowed})
            continue
        _, b = ctx.span(i)
        nxt = int(ctx.ts[row + 1]) if row + 1 < b else None
        seen = int(ctx.ts[row])
        out.append({"status": "dead", "last_seen": from_us(seen),
                    "deadline": from_us(seen + round(allowed * 1e6)), "timeout_s": allowed,
                    "next_event": from_us(nxt),
                    "silence_s": _s((nxt if nxt is not None else last_time) - seen),
                    "silence_ongoing": nxt is None})
    return out


def _state_machine(p: StateMachinePattern, ctx: _Context, matches: list[Match]
                   ) -> list[dict[str, Any]]:
    out = []
    for m in matches:
        state = m.classifiers[-1] if m.classifiers else None
        before = m.measures.get("from", p.initial)
        timeout = None
        if isinstance(p.timeout, dict):
            timeout = p.timeout.get(state or "")
        elif p.timeout is not None and state not in p.terminal and state != p.timeout_state:
            timeout = p.timeout
        entered = m.end
        out.append({"previous_state": before, "current_state": m.measures.get("to", state),
                    "states_visited": list(m.classifiers), "entered_at": entered,
                    "terminal": state in p.terminal, "timed_out": bool(m.measures.get("timed_out")),
                    "timeout_s": None if timeout is None else timeout.seconds,
                    "timeout_deadline": None if timeout is None or entered is None
                    else entered + timedelta(seconds=timeout.seconds)})
    return out


def _absence(p: AbsencePattern, ctx: _Context, matches: list[Match]) -> list[dict[str, Any]]:
    expected = ctx.mask(p.expected)
    out = []
    for i, m in enumerate(matches):
        a, b = ctx.span(i)
        row = ctx.row_of(m.event_ids[0])
        t = int(ctx.ts[row])
        deadline = t + round(p.timeout.seconds * 1e6)
        candidates = np.flatnonzero(expected[a:b] & (ctx.ts[a:b] > t)) + a
        if p.correlate_on:
            want = [ctx.item(row, f) for f in p.correlate_on]
            candidates = np.array([c for c in candidates.tolist()
                                   if [ctx.item(c, f) for f in p.correlate_on] == want],
                                  dtype=np.int64)
        in_time = candidates[ctx.ts[candidates] <= deadline] if candidates.shape[0] else candidates
        late = candidates[ctx.ts[candidates] > deadline] if candidates.shape[0] else candidates
        out.append({"trigger": ctx.event(row), "deadline": from_us(deadline),
                    "timeout_s": p.timeout.seconds, "expected_in_window": int(in_time.shape[0]),
                    "next_expected": ctx.event(int(late[0])) if late.shape[0] else None,
                    "late_by_s": _s(int(ctx.ts[late[0]]) - deadline) if late.shape[0] else None})
    return out


_VECTORISED: dict[str, Callable[[Any, _Context, list[Match]], dict[str, Column]]] = {
    "sequence": _sequence,
    "match_recognize": _recognize,
    "count_threshold": _count_threshold,
    "velocity": _velocity,
    "trend": _trend,
}

_BUILDERS: dict[str, Builder] = {
    "outlier": _outlier,
    "session": _session,
    "dedup": _dedup,
    "geofence": _geofence,
    "temporal_correlation": _correlation,
    "heartbeat": _heartbeat,
    "state_machine": _state_machine,
    "absence": _absence,
}
