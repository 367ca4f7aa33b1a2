"""Detect ``absence`` patterns: a trigger event not followed by an expected event in time.

Semantics, per key (``partition_by``), in event time:

* every event satisfying ``trigger`` opens a *wait* with the deadline ``trigger.ts + timeout``;
* an event satisfying ``expected`` at a time in ``(trigger.ts, trigger.ts + timeout]`` closes
  every open wait of the key whose ``correlate_on`` fields are equal to its own (NULL equals
  NULL, as for ``partition_by``). The window is open at the trigger and closed at the deadline:
  an expected event at the same time as the trigger does not close it, one exactly at the
  deadline does;
* an event satisfying both conditions is expected for the *earlier* triggers only (they are
  strictly before it) and opens its own wait;
* a wait nobody closed emits one match at its deadline: ``event_ids = [trigger]``,
  ``classifiers = ["trigger"]``, ``start`` = the trigger time, ``end`` = the deadline (not an
  event time), ``measures = {"timeout_s": timeout}``;
* time rule (``cep.matcher.detectors._timers``): a deadline fires when the watermark passes it,
  or at the end of the stream when it is not after the latest event time (or ``flush(now)``);
  otherwise the wait is reported in ``pending`` (``ended`` = the deadline).

Per key, matches are ordered by deadline, then by trigger (time, then input order).

>>> from datetime import datetime, timedelta, timezone
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> def frame(seconds, types):
...     return pl.DataFrame({"id": range(1, len(types) + 1),
...                          "ts": [t0 + timedelta(seconds=s) for s in seconds], "type": types})
>>> unpaid = parse_pattern({"kind": "absence", "name": "unpaid", "timeout": "10s",
...                         "trigger": "type = 'order'", "expected": "type = 'paid'"})

Orders 1 and 2 are both paid by event 3 (at 10 s, exactly order 1's deadline); the payment 5
at the same time as order 4 does not count for it; order 6's deadline (35 s) equals the last
event time, so it fires; order 7's deadline (40 s) lies beyond the last event: pending.

>>> result = find_matches(unpaid, frame([0, 3, 10, 20, 20, 25, 30, 35],
...     ["order", "order", "paid", "order", "paid", "order", "order", "ping"]))
>>> [(m.event_ids, m.end.second) for m in result.matches]
[([4], 30), ([6], 35)]
>>> [(p.event_ids, p.ended.second, p.reason) for p in result.pending]
[([7], 40, 'pending')]

An event that is both trigger and expected (every tick expects another tick within 10 s):
tick 2 closes tick 1's wait and opens its own, which nothing closes before 15 s.

>>> ticks = parse_pattern({"kind": "absence", "name": "stalled", "timeout": "10s",
...                        "trigger": "type = 'tick'", "expected": "type = 'tick'"})
>>> result = find_matches(ticks, frame([0, 5, 30, 31], ["tick"] * 4))
>>> [(m.event_ids, m.end.second) for m in result.matches], [p.event_ids for p in result.pending]
([([2], 15)], [[4]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from cep.events import check_fields
from cep.matcher.detectors._timers import (
    END,
    ID,
    LABEL,
    NEVER_US,
    START,
    STEP,
    Conditions,
    TimerEngine,
    chunk_ids,
    concat,
    frame_or_none,
    frame_state,
    group_codes,
    is_naive,
    run_batch,
    times_us,
)
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk
from cep.model import AbsencePattern
from cep.results import MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]


def find_matches(pattern: AbsencePattern, events: pl.DataFrame) -> MatchResult:
    """Find the triggers of ``pattern`` that no expected event followed in time (batch run).

    Equals feeding every event to :class:`Engine` and calling ``finish(None)``; ``pending``
    lists the waits whose deadline lies beyond the last event.

    Raises:
        EventDataError: a field the pattern uses is missing, or a condition cannot be evaluated.
    """
    engine = Engine(pattern)
    columns = {**engine.conditions.used, **dict.fromkeys(pattern.correlate_on, "correlate_on")}
    return run_batch(pattern, events, engine, columns, "vectorised")


class Engine(TimerEngine):
    """Incremental absence detection: keeps the open waits (one row per trigger) as a frame."""

    def __init__(self, pattern: AbsencePattern) -> None:
        self.pattern = pattern
        self.timeout_us = pattern.timeout.microseconds
        self.conditions = Conditions(
            pattern.name, [("trigger", pattern.trigger), ("expected", pattern.expected)]
        )
        self.correlate = list(pattern.correlate_on)
        # Open waits: __key, correlate_on fields, __seq, __start (trigger time), __end
        # (deadline), __id (trigger id).
        self.waits: pl.DataFrame | None = None
        self.keys: dict[int, dict[str, Any]] = {}
        self.last_us = NEVER_US
        self.naive = False
        self.timed_out: list[PartialMatch] = []

    # --- the stream Engine protocol (the rest comes from TimerEngine) ---------------------
    def _latest_us(self) -> int:
        return self.last_us

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        numbers = [] if self.waits is None else self.waits.get_column(KEY_COL).unique().to_list()
        return {
            "waits": frame_state(self.waits),
            "keys": {str(k): self.keys[k] for k in numbers},
            "last_us": self.last_us,
            "naive": self.naive,
        }

    @classmethod
    def from_state(cls, pattern: AbsencePattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        engine = cls(pattern)
        engine.waits = frame_or_none(state["waits"])
        engine.keys = {int(k): v for k, v in state["keys"].items()}
        engine.last_us = state["last_us"]
        engine.naive = state["naive"]
        return engine

    # --- internals ----------------------------------------------------------------------------
    def _process(self, chunk: Chunk) -> pl.DataFrame | None:
        frame = chunk.frame
        self.keys = chunk.keys
        if frame.height:
            self.naive = is_naive(frame, chunk.order_by)
            trigger, expected = self.conditions.masks(frame)
            check_fields(frame, dict.fromkeys(self.correlate, "correlate_on"))
            ts = times_us(frame, chunk.order_by)
            self.last_us = max(self.last_us, int(ts.max()))
            ids = chunk_ids(chunk)
            if trigger.any():
                opened = (
                    frame.select(KEY_COL, *self.correlate, SEQ_COL)
                    .with_columns(pl.Series(START, ts), ids.alias(ID))
                    .filter(pl.Series(trigger))
                    .with_columns((pl.col(START) + self.timeout_us).alias(END))
                )
                self.waits = concat([self.waits, opened])
            if self.waits is not None and expected.any():
                arrivals = (
                    frame.select(KEY_COL, *self.correlate)
                    .with_columns(pl.Series(START, ts))
                    .filter(pl.Series(expected))
                )
                self._close(arrivals)
        return self._fire(chunk.watermark_us - 1)

    def _close(self, arrivals: pl.DataFrame) -> None:
        """Drop the waits that an expected event in ``arrivals`` closes.

        A wait is closed when the first expected event of its group strictly after the trigger
        comes no later than the deadline. Groups (key and ``correlate_on`` values) and times are
        ranked into one sortable integer so that one ``searchsorted`` finds that event.
        """
        waits = self.waits
        assert waits is not None
        by = [KEY_COL, *self.correlate]
        codes = group_codes(pl.concat([waits.select(by), arrivals.select(by)],
                                      how="vertical_relaxed"))
        wait_group, arrival_group = codes[: waits.height], codes[waits.height :]
        wait_t = waits.get_column(START).to_numpy()
        arrival_t = arrivals.get_column(START).to_numpy()
        times = np.unique(np.concatenate([wait_t, arrival_t]))
        span = np.int64(times.shape[0])
        arrival_code = np.sort(arrival_group * span + np.searchsorted(times, arrival_t))
        wait_code = wait_group * span + np.searchsorted(times, wait_t)
        after = np.searchsorted(arrival_code, wait_code, side="right")
        found = after < arrival_code.shape[0]
        first = arrival_code[np.minimum(after, arrival_code.shape[0] - 1)]
        same_group = found & (first // span == wait_group)
        closed = same_group & (times[first % span] <= waits.get_column(END).to_numpy())
        if closed.any():
            kept = waits.filter(pl.Series(~closed))
            self.waits = kept if kept.height else None

    def _fire(self, limit_us: int) -> pl.DataFrame | None:
        """Emit (and drop) the open waits whose deadline is at or before ``limit_us``."""
        waits = self.waits
        if waits is None:
            return None
        due = waits.get_column(END) <= limit_us
        if not due.any():
            return None
        rest = waits.filter(~due)
        self.waits = rest if rest.height else None
        return self._table(waits.filter(due))

    def _table(self, waits: pl.DataFrame) -> pl.DataFrame:
        return waits.sort(KEY_COL, END, SEQ_COL).select(
            KEY_COL, START, END, ID,
            pl.lit("trigger").alias(LABEL),
            pl.lit(self.pattern.timeout.seconds).alias("timeout_s"),
        )

    def _pending_table(self) -> pl.DataFrame | None:
        if self.waits is None:
            return None
        return self._table(self.waits).with_columns(pl.lit("trigger").alias(STEP))
