"""The ``trend`` detector: ``count`` consecutive rising, falling or flat values of a field per key.

Semantics, per key, events in time order (equal times in input order), tol = tolerance_pct/100:

* A **step** from the previous value p to the value v holds when
  up: v > p - tol·|p|; down: v < p + tol·|p|; flat: |v - p| <= tol·|p|.
  For p >= 0 the up and down steps are the issue's v > p·(1 - tol) and v < p·(1 + tol); using
  |p| keeps the tolerance a loosening for negative values too.
* A **run** is a maximal stretch of consecutive events in which every step holds. A step that
  fails ends the run, and the event where it fails starts the next run (it is that run's first
  value). An event whose value is NULL, NaN or infinite fails the steps on both sides: it ends
  the run and is a run of its own that can never match.
* A **match** is N = ``count`` consecutive values of one run whose last value is above its first
  (up), below it (down), or anything (flat). The check is made when the run reaches N values,
  on the window of its N latest values, and again at each later value of the run (the window
  slides), until one window passes.
* **One match per run**: the first passing window is emitted (event_ids = its N events,
  classifiers = the direction, start/end = the first/last event's time, measures = count,
  first, last, change, change_pct, tolerance_pct); the rest of the run emits nothing. A new
  match needs a new run, i.e. a failed step.
* Matches come per key in event order, keys in order of first appearance. Nothing is
  time-driven: a match is certain when its last event is final; ``pending`` is always empty.

Worked examples (one key, ids 1.., one second apart):

>>> from datetime import UTC, datetime, timedelta
>>> from cep.model import parse_pattern
>>> def run(direction, values, tol=0.0, n=3):
...     t0 = datetime(2024, 1, 1, tzinfo=UTC)
...     df = pl.DataFrame({"ts": [t0 + timedelta(seconds=i) for i in range(len(values))],
...                        "id": list(range(1, len(values) + 1)),
...                        "x": [None if x is None else float(x) for x in values]})
...     p = parse_pattern({"kind": "trend", "name": "t", "value_field": "x",
...                        "direction": direction, "count": n, "tolerance_pct": tol})
...     return [m.event_ids for m in find_matches(p, df).matches]

Up, N = 3: 1 2 3 is a match; 4 continues the same run (no second match); 2 fails the step from
4, so it starts the next run: 2 3 5 matches.

>>> run("up", [1, 2, 3, 4, 2, 3, 5])
[[1, 2, 3], [5, 6, 7]]

Up, N = 3, tolerance 10%: every step is within the tolerance (9.5 > 9, 9.2 > 8.55, 9.5 > 8.28,
10 > 8.55), so this is one run. The window 10 9.5 9.2 fails (last <= first), 9.5 9.2 9.5 fails
(equal), 9.2 9.5 10 passes: the match is events 3-5.

>>> run("up", [10, 9.5, 9.2, 9.5, 10], tol=10)
[[3, 4, 5]]

Down, N = 3: a NULL breaks the run (5 4 NULL 3 2 1 matches only after it).

>>> run("down", [5, 4, None, 3, 2, 1])
[[4, 5, 6]]

Flat, N = 3, tolerance 1%: 100 100.5 (|0.5| <= 1) 101 (|0.5| <= 1.005) is a match; 103 breaks
(|2| > 1.01) and starts the next run, 103 103 103 matches.

>>> run("flat", [100, 100.5, 101, 103, 103, 103], tol=1)
[[1, 2, 3], [4, 5, 6]]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep.errors import UnsupportedFeature
from cep.events import require_numeric
from cep.matcher.detectors._rolling import (
    KEY,
    TS,
    KeyBook,
    Work,
    batch_work,
    chunk_work,
    load_frame,
    paused_gc,
    save_frame,
    segment_starts,
    stats,
    to_datetimes,
)
from cep.matcher.stream import Chunk
from cep.model import TrendPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_V = "__v"
_NEW = "__new"
_STATE_VERSION = 1

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass
class _Carry:
    """What a stream carries per key: the last N - 1 rows of the open run, its length, and
    whether it has already matched."""

    tail: pl.DataFrame | None = None
    run_len: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    spent: Bools = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))

    def grow(self, n_keys: int) -> None:
        extra = n_keys - self.run_len.shape[0]
        if extra > 0:
            self.run_len = np.concatenate([self.run_len, np.zeros(extra, dtype=np.int64)])
            self.spent = np.concatenate([self.spent, np.zeros(extra, dtype=np.bool_)])


def _steps(direction: str, tol: float, prev: F64, cur: F64) -> Bools:
    with np.errstate(invalid="ignore"):
        if direction == "up":
            return cur > prev - tol * np.abs(prev)
        if direction == "down":
            return cur < prev + tol * np.abs(prev)
        return np.abs(cur - prev) <= tol * np.abs(prev)


def _scan(p: TrendPattern, carry: _Carry, frame: pl.DataFrame) -> tuple[pl.DataFrame, I64]:
    """Find the matches among the new rows; return the rows and each match's last row."""
    n_need = p.count
    frame = frame.with_columns(pl.lit(True).alias(_NEW))
    keys_here = frame.get_column(KEY).unique()
    carry.grow(int(keys_here.max()) + 1)  # type: ignore[arg-type]
    tail = carry.tail
    if tail is not None and tail.height:
        mine = tail.get_column(KEY).is_in(keys_here.implode())
        rows = pl.concat([tail.filter(mine).with_columns(pl.lit(False).alias(_NEW)), frame],
                         how="vertical_relaxed").sort(KEY, maintain_order=True)
        others = tail.filter(~mine)
    else:
        rows, others = frame, None
    key = rows.get_column(KEY).to_numpy()
    v = rows.get_column(_V).fill_null(np.nan).to_numpy()
    v = np.where(np.isfinite(v), v, np.nan)
    is_new = rows.get_column(_NEW).to_numpy()
    n = key.shape[0]
    idx = np.arange(n, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    ok[1:] = (key[1:] == key[:-1]) & _steps(p.direction, p.tolerance_pct / 100, v[:-1], v[1:])
    run_start = np.maximum.accumulate(np.where(ok, 0, idx))
    seg = segment_starts(key)
    seg_len = np.diff(np.append(seg, n))
    seg_of_row = np.repeat(np.arange(seg.shape[0]), seg_len)
    n_old = np.add.reduceat((~is_new).astype(np.int64), seg) if n else np.zeros(0, np.int64)
    seg_key = key[seg]
    carried = n_old > 0
    # The first run of a segment that starts with carried rows continues the carried run.
    first_run = run_start == seg[seg_of_row]
    offset = np.where(carried, carry.run_len[seg_key] - n_old, 0)[seg_of_row] * first_run
    pos = idx - run_start + offset
    window_first = np.maximum(idx - (n_need - 1), 0)
    with np.errstate(invalid="ignore"):
        if p.direction == "up":
            passes = v > v[window_first]
        elif p.direction == "down":
            passes = v < v[window_first]
        else:
            passes = ~np.isnan(v)
    spent_run = np.zeros(n, dtype=np.bool_)
    spent_run[seg] = carried & carry.spent[seg_key]  # indexed by run-start row
    qualify = is_new & (pos >= n_need - 1) & passes & ~spent_run[run_start]
    ends = np.flatnonzero(qualify)
    if ends.shape[0]:
        run_of = run_start[ends]
        first = np.ones(ends.shape[0], dtype=np.bool_)
        first[1:] = run_of[1:] != run_of[:-1]
        ends = ends[first]
    # The open run of each segment: its length, whether it matched, its last N - 1 rows.
    last = np.append(seg[1:], n) - 1
    open_start = run_start[last]
    carry.run_len[seg_key] = pos[last] + 1
    emitted = np.zeros(n, dtype=np.bool_)
    emitted[run_start[ends]] = True
    carry.spent[seg_key] = spent_run[open_start] | emitted[open_start]
    keep_from = np.maximum(open_start, last - (n_need - 2))
    counts = last - keep_from + 1
    keep = np.repeat(keep_from - np.cumsum(np.append(0, counts[:-1])), counts) + np.arange(
        int(counts.sum()), dtype=np.int64)
    kept = rows[pl.Series(keep)].drop(_NEW)
    carry.tail = kept if others is None else pl.concat([others, kept], how="vertical_relaxed")
    return rows, ends


def _columns(p: TrendPattern) -> dict[str, pl.Expr]:
    return {_V: pl.col(p.value_field).cast(pl.Float64)}


def _matches(p: TrendPattern, rows: pl.DataFrame, ends: I64, work: Work) -> list[Match]:
    if ends.shape[0] == 0:
        return []
    n_need = p.count
    spans = (ends[:, None] + np.arange(1 - n_need, 1, dtype=np.int64)[None, :]).ravel()
    ids = work.ids(rows, spans)
    ts = rows.get_column(TS).to_numpy()
    starts = to_datetimes(ts[ends - (n_need - 1)])
    stops = to_datetimes(ts[ends])
    v = rows.get_column(_V).to_numpy()
    first = v[ends - (n_need - 1)]
    last = v[ends]
    change = last - first
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(first == 0, np.nan, change / np.abs(first) * 100)
    keys = [work.key_of(k) for k in rows.get_column(KEY).to_numpy()[ends].tolist()]
    labels: list[str] = [p.direction] * n_need
    name, tol = p.name, p.tolerance_pct
    values = zip(keys, starts, stops, first.tolist(), last.tolist(), change.tolist(),
                 pct.tolist(), strict=True)
    with paused_gc():
        return [
            Match(name, key, start, stop, ids[m * n_need:(m + 1) * n_need], labels.copy(),
                  {"count": n_need, "first": a, "last": b, "change": d,
                   "change_pct": None if c != c else c, "tolerance_pct": tol})
            for m, (key, start, stop, a, b, d, c) in enumerate(values)
        ]


def _run(p: TrendPattern, carry: _Carry, work: Work) -> list[Match]:
    if work.frame.height == 0:
        return []
    rows, ends = _scan(p, carry, work.frame)
    return _matches(p, rows, ends, work)


def find_matches(pattern: TrendPattern, events: pl.DataFrame) -> MatchResult:
    """Find every trend (see the module docstring).

    Raises:
        EventDataError: the value field is missing or not numeric, or the time, partition or id
            column is missing.
    """
    started = time.perf_counter()
    events = require_numeric(events, pattern.value_field)
    work = batch_work(pattern, events, _columns(pattern), [pattern.value_field])
    matches = _run(pattern, _Carry(), work)
    return MatchResult(matches=matches,
                       stats=stats(events.height, len(matches), started, "vectorised"))


class Engine:
    """Incremental ``trend`` detection (``cep.matcher.stream.Engine``).

    Between chunks it keeps, per key, the last N - 1 events of the open run, the run's length
    and whether it has matched; each chunk is scanned with those rows in front of it.
    """

    def __init__(self, pattern: TrendPattern) -> None:
        self.pattern = pattern
        self.carry = _Carry()
        self.keys = KeyBook()
        self.timed_out: list[PartialMatch] = []
        self.pending: list[PartialMatch] = []

    def process(self, chunk: Chunk) -> list[Match]:
        """Scan the chunk's events, continuing each key's open run."""
        self.keys.update(chunk)
        if chunk.frame.height == 0:
            return []
        p = self.pattern
        frame = require_numeric(chunk.frame, p.value_field)
        work = chunk_work(Chunk(frame, chunk.keys, chunk.watermark_us, chunk.id_column,
                                chunk.order_by), _columns(p), [p.value_field])
        work.key_of = self.keys
        return _run(p, self.carry, work)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Nothing is time-driven."""
        return []

    def finish(self, now_us: int | None) -> list[Match]:
        """Nothing is left to decide at the end of the stream."""
        return []

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"version": _STATE_VERSION, "keys": self.keys.to_state(),
                "tail": save_frame(self.carry.tail), "run_len": self.carry.run_len.tolist(),
                "spent": self.carry.spent.tolist()}

    @classmethod
    def from_state(cls, pattern: TrendPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        if state.get("version") != _STATE_VERSION:
            raise UnsupportedFeature(f"trend engine state version {state.get('version')!r} is "
                                     f"not supported (expected {_STATE_VERSION})")
        engine = cls(pattern)
        engine.keys = KeyBook.from_state(state["keys"])
        engine.carry = _Carry(load_frame(state["tail"]),
                              np.array(state["run_len"], dtype=np.int64),
                              np.array(state["spent"], dtype=np.bool_))
        return engine

