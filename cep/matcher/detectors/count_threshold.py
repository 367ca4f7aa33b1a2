"""The ``count_threshold`` detector: at least N qualifying events per key within a window.

Qualifying events are the key's events whose ``where`` holds (all events without one; NULL
counts as false). Times are event times (``order_by``), in microseconds.

**Sliding** (``window_type: sliding``, the default). The count at time T is the number of
qualifying events in (T - window, T]; it is a step function of time that rises only at events
and falls when an event leaves the window. An *episode* is a maximal stretch of time during
which the count is >= N; one match is emitted per episode, at the qualifying event time T that
starts it, i.e. when the count at T is >= N and the count at the instant before (the events in
[T - window, T)) is < N. The episode ends by time alone, as soon as the count drops below N,
whether or not another event arrives then. Events with equal times are counted together, so
the count can jump past N: the match holds every event in the window at T (N or more of them).
Nothing waits on time: a match is certain when its last event is final, and there are no
pending matches.

``event_ids`` are the window's events at T in (time, input) order, each classified ``event``;
``start``/``end`` are the times of the first event in the window and of T; ``measures`` are
``count``, ``threshold`` and ``window_s``. Per key, matches are in order of T.

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> def events(seconds):
...     return pl.DataFrame({"ts": [t0 + timedelta(seconds=s) for s in seconds]})
>>> from cep.model import parse_pattern
>>> burst = parse_pattern({"kind": "count_threshold", "name": "burst", "threshold": 3,
...                        "window": "10s"})
>>> result = find_matches(burst, events([0, 1, 2, 9, 11, 13, 30, 30, 30, 30]))
>>> [(m.event_ids, m.measures["count"]) for m in result.matches]
[([0, 1, 2], 3), ([3, 4, 5], 3), ([6, 7, 8, 9], 4)]

At 2 s the window (-8 s, 2 s] holds 3 events: the first match. At 9 s the count is 4 and at
11 s it is 3 ({2, 9, 11}): it never went below 3, so the episode goes on. At 12 s the event of
2 s leaves the window and the count falls to 2: the episode ends by time alone. At 13 s the
window (3 s, 13 s] holds {9, 11, 13}: a new episode and a new match (the events of 9 s and 11 s
were in the previous episode's window too; an event can be in several matches). A rule that
ended episodes only when a later event sees a count below N would not match at 13 s, since the
event of 11 s saw 3; the time rule does not depend on when events happen to arrive. The four
events of 30 s arrive together: the count jumps from 0 to 4 and the match holds all four.

**Tumbling** (``window_type: tumbling``). Windows [k·window, (k+1)·window) are aligned to the
Unix epoch (1970-01-01T00:00Z). One match per window whose count is >= N, emitted when the
window closes: its deadline is the window end d, which fires when the watermark passes it
(d < watermark), at ``flush()`` when d <= the last event time seen, and at ``flush(now)`` when
d <= max(now, last event time). A window that reached N but whose end lies beyond the last
event is reported as *pending* (``MatchResult.pending``, ``PartialMatch`` with reason
``"pending"``, ``ended`` = the window end), never as a match. ``event_ids`` are all the window's
qualifying events; ``start``/``end`` are the times of its first and last event; ``measures``
add ``window_start`` and ``window_end`` (UTC datetimes).

>>> busy = parse_pattern({"kind": "count_threshold", "name": "busy", "threshold": 2,
...                       "window": "10s", "window_type": "tumbling"})
>>> result = find_matches(busy, events([1, 5, 12, 21, 25, 29]))
>>> [(m.event_ids, m.measures["window_end"].second) for m in result.matches]
[([0, 1], 10)]
>>> [(p.event_ids, p.ended.second) for p in result.pending]
[([3, 4, 5], 30)]
>>> from cep.matcher import create_matcher
>>> stream = create_matcher(busy)
>>> [m.event_ids for m in stream.feed(events([1, 5, 12, 21, 25, 29]))]
[[0, 1]]
>>> [m.event_ids for m in stream.flush(now=t0 + timedelta(seconds=30))]
[[3, 4, 5]]

[0 s, 10 s) holds 2 events and closes before the last event (29 s): a match. [10 s, 20 s) holds
one. [20 s, 30 s) holds 3 but ends after the last event: pending in the batch run; a stream
flushed with ``now`` = 30 s fires it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from cep.matcher.detectors._windows import (
    I64,
    ID,
    TS,
    SlidingEngine,
    SlidingRule,
    array_of,
    check_events,
    check_state_version,
    counting_order,
    datetimes,
    event_ids,
    find_sliding_matches,
    group_codes,
    id_column,
    key_dicts,
    qualifying,
    range_lists,
    time_order,
    times_us,
    where_expression,
)
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import CountThresholdPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_STATE_VERSION = 1


def _sliding_rule(pattern: CountThresholdPattern) -> SlidingRule:
    return SlidingRule(pattern.window.microseconds, float(pattern.threshold), 1.0, False)


def _sliding_measures(pattern: CountThresholdPattern) -> Any:
    threshold, window_s = pattern.threshold, pattern.window.seconds

    def measures(total: float, count: int) -> dict[str, Any]:
        return {"count": count, "threshold": threshold, "window_s": window_s}

    return measures


def find_matches(pattern: CountThresholdPattern, events: pl.DataFrame) -> MatchResult:
    """Every match of a ``count_threshold`` pattern (see the module docstring).

    Raises:
        EventDataError: a column the pattern uses is missing, or ``where`` cannot be evaluated.
    """
    started = time.perf_counter()
    condition, used = where_expression(pattern.where)
    pending: list[PartialMatch] = []
    if pattern.window_type == "sliding":
        matches = find_sliding_matches(events, pattern, condition, used, None,
                                       _sliding_rule(pattern), _sliding_measures(pattern))
        path = "sliding"
    else:
        matches, pending = _find_tumbling(pattern, events, condition, used)
        path = "tumbling"
    return MatchResult(
        matches=matches,
        stats={"events": events.height, "matches": len(matches),
               "elapsed_ms": (time.perf_counter() - started) * 1000, "path": path},
        pending=pending,
    )


# --------------------------------------------------------------------------------------------
# Tumbling windows


class _Windows:
    """Runs of rows (sorted by key, time) that share a key and an epoch-aligned window."""

    def __init__(self, keys: I64, ts: I64, window_us: int) -> None:
        index = ts // window_us
        n = ts.shape[0]
        if n:
            change = np.flatnonzero((np.diff(keys) != 0) | (np.diff(index) != 0)) + 1
            self.start: I64 = np.concatenate([[0], change]).astype(np.int64)
        else:
            self.start = np.zeros(0, dtype=np.int64)
        self.end: I64 = np.append(self.start[1:], n).astype(np.int64)
        self.count: I64 = self.end - self.start
        self.key: I64 = keys[self.start]
        self.window_start: I64 = index[self.start] * window_us
        self.deadline: I64 = self.window_start + window_us


def _window_matches(pattern: CountThresholdPattern, win: _Windows, pick: I64, ts: I64,
                    ids: pl.Series, key_of: Any, rows: I64 | None = None) -> list[Match]:
    if pick.shape[0] == 0:
        return []
    lo, hi = win.start[pick], win.end[pick]
    id_lists = range_lists(ids, lo, hi, rows)
    firsts, lasts = datetimes(ts[lo]), datetimes(ts[hi - 1])
    opens, closes = datetimes(win.window_start[pick]), datetimes(win.deadline[pick])
    threshold, window_s = pattern.threshold, pattern.window.seconds
    out = []
    for k, first, last, event_list, opened, closed in zip(
        win.key[pick].tolist(), firsts, lasts, id_lists, opens, closes, strict=True
    ):
        out.append(Match(
            pattern=pattern.name, key=key_of(k), start=first, end=last, event_ids=event_list,
            classifiers=["event"] * len(event_list),
            measures={"count": len(event_list), "threshold": threshold, "window_s": window_s,
                      "window_start": opened, "window_end": closed},
        ))
    return out


def _window_pending(pattern: CountThresholdPattern, win: _Windows, pick: I64, ts: I64,
                    ids: pl.Series, key_of: Any, rows: I64 | None = None) -> list[PartialMatch]:
    if pick.shape[0] == 0:
        return []
    lo, hi = win.start[pick], win.end[pick]
    return [
        PartialMatch(pattern=pattern.name, key=key_of(k), step_reached="event",
                     event_ids=event_list, classifiers=["event"] * len(event_list),
                     started=first, ended=closed, reason="pending")
        for k, event_list, first, closed in zip(
            win.key[pick].tolist(), range_lists(ids, lo, hi, rows), datetimes(ts[lo]),
            datetimes(win.deadline[pick]), strict=True,
        )
    ]


def _find_tumbling(pattern: CountThresholdPattern, events: pl.DataFrame, condition: Any,
                   used: dict[str, str]) -> tuple[list[Match], list[PartialMatch]]:
    check_events(events, pattern, used)
    ts_all = times_us(events.get_column(pattern.order_by))
    mask = qualifying(events, condition, pattern.name)
    key_codes, first_rows = group_codes(events, pattern.partition_by)
    rows = np.flatnonzero(mask)
    order = time_order(ts_all[rows])
    if order is not None:
        rows = rows[order]
    rows = rows[counting_order(key_codes[rows], len(first_rows))]
    keys, ts = key_codes[rows], ts_all[rows]
    win = _Windows(keys, ts, pattern.window.microseconds)
    hit = win.count >= pattern.threshold
    if not hit.any():
        return [], []
    last = int(ts_all.max())
    fire = np.flatnonzero(hit & (win.deadline <= last))
    wait = np.flatnonzero(hit & (win.deadline > last))
    ids = event_ids(events, id_column(pattern, events.columns))
    key_map = key_dicts(events, pattern.partition_by, first_rows, win.key[hit])
    return (_window_matches(pattern, win, fire, ts, ids, key_map.__getitem__, rows),
            _window_pending(pattern, win, wait, ts, ids, key_map.__getitem__, rows))


class _TumblingEngine:
    """Incremental tumbling windows: the qualifying events of windows not yet closed."""

    def __init__(self, pattern: CountThresholdPattern, condition: Any, used: dict[str, str]) -> None:
        self.pattern = pattern
        self.condition = condition
        self.used = used
        self.buffer: pl.DataFrame | None = None
        self.max_ts: int | None = None
        self.keys: dict[int, dict[str, Any]] = {}

    def process(self, chunk: Chunk) -> list[Match]:
        frame = chunk.frame
        self.keys = chunk.keys  # the stream matcher's own map (read only), not a copy
        if frame.height == 0:
            return self.on_time(chunk.watermark_us)
        check_events(frame, self.pattern, self.used)
        ts = times_us(frame.get_column(chunk.order_by))
        self.max_ts = int(ts.max()) if self.max_ts is None else max(self.max_ts, int(ts.max()))
        mask = qualifying(frame, self.condition, self.pattern.name)
        new = pl.DataFrame({
            KEY_COL: frame.get_column(KEY_COL).cast(pl.Int64),
            TS: ts,
            ID: event_ids(frame, chunk.id_column or SEQ_COL),
        }).filter(pl.Series(mask))
        if self.buffer is not None and self.buffer.height:
            table = pl.concat([self.buffer, new], how="vertical_relaxed")
            self.buffer = table[pl.Series(counting_order(table.get_column(KEY_COL).to_numpy()))]
        else:
            self.buffer = new
        return self._close(chunk.watermark_us)

    def _close(self, before_us: int) -> list[Match]:
        """Emit the windows ending before ``before_us`` that reached N; forget the others."""
        table = self.buffer
        if table is None or table.height == 0:
            return []
        keys = array_of(table.get_column(KEY_COL), np.int64)
        ts = array_of(table.get_column(TS), np.int64)
        win = _Windows(keys, ts, self.pattern.window.microseconds)
        closed = win.deadline < before_us
        if not closed.any():
            return []
        fire = np.flatnonzero(closed & (win.count >= self.pattern.threshold))
        matches = _window_matches(self.pattern, win, fire, ts, table.get_column(ID),
                                  self.keys.__getitem__)
        self.buffer = table.filter(pl.Series(np.repeat(~closed, win.count)))
        return matches

    def on_time(self, watermark_us: int) -> list[Match]:
        return self._close(watermark_us)

    def finish(self, now_us: int | None) -> list[Match]:
        if self.max_ts is None and now_us is None:
            return []
        limit = max(x for x in (self.max_ts, now_us) if x is not None)
        return self._close(limit + 1)

    @property
    def pending(self) -> list[PartialMatch]:
        table = self.buffer
        if table is None or table.height == 0:
            return []
        ts = array_of(table.get_column(TS), np.int64)
        keys = array_of(table.get_column(KEY_COL), np.int64)
        win = _Windows(keys, ts, self.pattern.window.microseconds)
        wait = np.flatnonzero(win.count >= self.pattern.threshold)
        return _window_pending(self.pattern, win, wait, ts, table.get_column(ID),
                               self.keys.__getitem__)

    def state(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "buffer": None if self.buffer is None else frame_to_state(self.buffer),
            "max_ts": self.max_ts,
            "keys": [[k, v] for k, v in self.keys.items()],
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        check_state_version(state, _STATE_VERSION)
        self.buffer = None if state["buffer"] is None else frame_from_state(state["buffer"])
        self.max_ts = state["max_ts"]
        self.keys = {int(k): dict(v) for k, v in state["keys"]}


class Engine:
    """Incremental ``count_threshold`` matching; implements ``cep.matcher.stream.Engine``."""

    def __init__(self, pattern: CountThresholdPattern) -> None:
        self.pattern = pattern
        condition, used = where_expression(pattern.where)
        self._impl: SlidingEngine | _TumblingEngine
        if pattern.window_type == "sliding":
            self._impl = SlidingEngine(pattern, condition, used, None, _sliding_rule(pattern),
                                       _sliding_measures(pattern))
        else:
            self._impl = _TumblingEngine(pattern, condition, used)
        self.timed_out: list[PartialMatch] = []

    @property
    def pending(self) -> list[PartialMatch]:
        """Tumbling windows that reached N and have not closed yet."""
        return list(self._impl.pending)

    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return the matches now certain."""
        return self._impl.process(chunk)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Close the tumbling windows that end before ``watermark_us``."""
        return self._impl.on_time(watermark_us)

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream: close the windows ending by the last event time (or ``now_us``)."""
        return self._impl.finish(now_us)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"version": _STATE_VERSION, "impl": self._impl.state()}

    @classmethod
    def from_state(cls, pattern: CountThresholdPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        check_state_version(state, _STATE_VERSION)
        engine = cls(pattern)
        engine._impl.restore_state(state["impl"])
        return engine
