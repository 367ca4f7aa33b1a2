"""Detect ``heartbeat`` patterns: entities (keys) that fall silent for longer than allowed.

Semantics. An entity is a key (``partition_by``) seen so far; a key never seen is never dead.
After each event of a key at time ``t`` its deadline is ``t + interval + grace`` (no grace:
zero). The key is *dead* once event time (the watermark over the whole stream, not the key's
own events) passes the deadline with no newer event of the key:

* a next event of the key strictly after the deadline means it was dead in between; an event
  exactly at the deadline keeps it alive (a silence of exactly ``interval + grace`` is allowed);
* ``emit: dead`` gives one match per silence: ``event_ids = [the last event before it]``,
  ``classifiers = ["dead"]``, ``start`` = that event's time, ``end`` = the deadline (not an
  event time), ``measures = {"interval_s", "grace_s", "silence_s"}`` (``silence_s`` =
  ``interval + grace``);
* ``emit: status_change`` also gives one match when a dead key comes back:
  ``event_ids = [the returning event]``, ``classifiers = ["alive"]``, ``start = end`` = its time,
  ``silence_s`` = the whole gap. The first event of a key is not a status change;
* time rule (``cep.matcher.detectors._timers``): a deadline fires when the watermark passes it,
  or at the end of the stream when it is not after the latest event time of the whole stream
  (or ``flush(now)``); otherwise the key's deadline is reported in ``pending``.

Per key, matches are ordered by time (a silence's ``dead`` comes before its ``alive``).

>>> from datetime import datetime, timedelta, timezone
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> p = parse_pattern({"kind": "heartbeat", "name": "hb", "partition_by": ["device"],
...                    "interval": "10s", "grace": "5s", "emit": "status_change"})
>>> events = pl.DataFrame({"id": range(1, 8),
...     "ts": [t0 + timedelta(seconds=s) for s in (0, 0, 5, 10, 15, 40, 41)],
...     "device": ["A", "C", "B", "A", "C", "A", "A"]})

A is silent from 10 s to 40 s: dead at 25 s, alive again at 40 s; its last deadline (56 s) is
beyond the last event (41 s), so it is pending. C's gap of exactly 15 s is allowed, but nothing
follows its event at 15 s, so it is dead at 30 s; B (seen once, at 5 s) is dead at 20 s.

>>> result = find_matches(p, events)
>>> [(m.key["device"], m.event_ids, m.classifiers, m.end.second) for m in result.matches]
[('A', [4], ['dead'], 25), ('A', [6], ['alive'], 40), ('C', [5], ['dead'], 30), ('B', [3], ['dead'], 20)]
>>> [(p.key["device"], p.event_ids, p.ended.second) for p in result.pending]
[('A', [7], 56)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep.matcher.detectors._timers import (
    END,
    ID,
    LABEL,
    NEVER_US,
    START,
    STEP,
    TimerEngine,
    chunk_ids,
    concat,
    frame_or_none,
    frame_state,
    is_naive,
    run_batch,
    times_us,
)
from cep.matcher.stream import KEY_COL, Chunk
from cep.model import HeartbeatPattern
from cep.results import MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_ORDER = "__order"


def find_matches(pattern: HeartbeatPattern, events: pl.DataFrame) -> MatchResult:
    """Find the silences (and, for ``status_change``, the returns) of every key (batch run).

    Equals feeding every event to :class:`Engine` and calling ``finish(None)``; ``pending``
    holds each live key's deadline that lies beyond the last event.

    Raises:
        EventDataError: a key, time or id column is missing.
    """
    return run_batch(pattern, events, Engine(pattern), None, "vectorised")


class Engine(TimerEngine):
    """Incremental heartbeat: per key number, the last event (time, id) and whether it is dead."""

    def __init__(self, pattern: HeartbeatPattern) -> None:
        self.pattern = pattern
        self.interval_s = pattern.interval.seconds
        self.grace_s = 0.0 if pattern.grace is None else pattern.grace.seconds
        self.allowed_us = pattern.interval.microseconds + (
            0 if pattern.grace is None else pattern.grace.microseconds
        )
        self.alive_too = pattern.emit == "status_change"
        self.last_us = np.zeros(0, dtype=np.int64)
        self.seen = np.zeros(0, dtype=np.bool_)
        self.dead = np.zeros(0, dtype=np.bool_)
        self.last_ids: list[Any] = []
        self.keys: dict[int, dict[str, Any]] = {}
        self.max_us = NEVER_US
        self.naive = False
        self.timed_out: list[PartialMatch] = []

    # --- the stream Engine protocol (the rest comes from TimerEngine) ---------------------
    def _latest_us(self) -> int:
        return self.max_us

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        seen = np.flatnonzero(self.seen)
        table = None
        if seen.shape[0]:
            table = pl.DataFrame({
                KEY_COL: seen, "last_us": self.last_us[seen], "dead": self.dead[seen],
            }).with_columns(pl.Series(ID, [self.last_ids[k] for k in seen]))
        return {
            "keys": {str(k): self.keys[int(k)] for k in seen},
            "table": frame_state(table),
            "max_us": self.max_us,
            "naive": self.naive,
        }

    @classmethod
    def from_state(cls, pattern: HeartbeatPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        engine = cls(pattern)
        engine.keys = {int(k): v for k, v in state["keys"].items()}
        engine.max_us = state["max_us"]
        engine.naive = state["naive"]
        table = frame_or_none(state["table"])
        if table is not None:
            numbers = table.get_column(KEY_COL).to_numpy()
            engine._grow(int(numbers.max()) + 1)
            engine.seen[numbers] = True
            engine.last_us[numbers] = table.get_column("last_us").to_numpy()
            engine.dead[numbers] = table.get_column("dead").to_numpy()
            for k, value in zip(numbers.tolist(), table.get_column(ID).to_list(), strict=True):
                engine.last_ids[k] = value
        return engine

    # --- internals ----------------------------------------------------------------------------
    def _grow(self, n_keys: int) -> None:
        extra = n_keys - self.seen.shape[0]
        if extra > 0:
            self.last_us = np.concatenate([self.last_us, np.full(extra, NEVER_US, np.int64)])
            self.seen = np.concatenate([self.seen, np.zeros(extra, np.bool_)])
            self.dead = np.concatenate([self.dead, np.zeros(extra, np.bool_)])
            self.last_ids.extend([None] * extra)

    def _measures(self, silence_s: pl.Expr | pl.Series) -> list[pl.Expr | pl.Series]:
        return [
            pl.lit(self.interval_s).alias("interval_s"),
            pl.lit(self.grace_s).alias("grace_s"),
            silence_s.cast(pl.Float64).alias("silence_s"),
        ]

    def _process(self, chunk: Chunk) -> pl.DataFrame | None:
        frame = chunk.frame
        self.keys = chunk.keys
        n = frame.height
        if n == 0:
            return self._fire(chunk.watermark_us - 1)
        self.naive = is_naive(frame, chunk.order_by)
        ts = times_us(frame, chunk.order_by)
        self.max_us = max(self.max_us, int(ts.max()))
        key = frame.get_column(KEY_COL).to_numpy()
        ids = chunk_ids(chunk)
        self._grow(int(key.max()) + 1)
        first = np.empty(n, dtype=np.bool_)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        first_rows = np.flatnonzero(first)
        first_keys = key[first_rows]
        prev_us = np.empty(n, dtype=np.int64)
        prev_us[1:] = ts[:-1]
        prev_us[first_rows] = self.last_us[first_keys]
        has_prev = ~first
        has_prev[first_rows] = self.seen[first_keys]
        silent = has_prev & (ts - prev_us > self.allowed_us)
        # A silence an earlier watermark already reported (the key's dead match is out) only
        # gets its "alive" now.
        already_dead = np.zeros(n, dtype=np.bool_)
        already_dead[first_rows] = self.dead[first_keys]
        tables = [self._dead_rows(silent & ~already_dead, key, prev_us, ids, first)]
        if self.alive_too and silent.any():
            rows = np.flatnonzero(silent)
            tables.append(pl.DataFrame({
                KEY_COL: key[rows], _ORDER: 2 * rows + 1, START: ts[rows], END: ts[rows],
            }).with_columns(
                ids.gather(rows).alias(ID), pl.lit("alive").alias(LABEL),
                *self._measures(pl.Series((ts[rows] - prev_us[rows]) / 1e6)),
            ))
        last_rows = np.append(first_rows[1:] - 1, n - 1)
        self.last_us[first_keys] = ts[last_rows]
        self.seen[first_keys] = True
        self.dead[first_keys] = False
        for k, value in zip(first_keys.tolist(), ids.gather(last_rows).to_list(), strict=True):
            self.last_ids[k] = value
        fired = self._fire(chunk.watermark_us - 1)
        if fired is not None:
            tables.append(fired.with_columns(pl.lit(2 * n, dtype=pl.Int64).alias(_ORDER)))
        emitted = concat(tables)
        if emitted is None:
            return None
        return emitted.sort(KEY_COL, _ORDER).drop(_ORDER)

    def _dead_rows(
        self,
        rows_mask: npt.NDArray[np.bool_],
        key: npt.NDArray[np.int64],
        prev_us: npt.NDArray[np.int64],
        ids: pl.Series,
        first: npt.NDArray[np.bool_],
    ) -> pl.DataFrame | None:
        """The silences before the events in ``rows_mask`` (the previous event's id and time)."""
        rows = np.flatnonzero(rows_mask)
        if rows.shape[0] == 0:
            return None
        from_state = first[rows]
        previous = ids.gather(np.maximum(rows - 1, 0))
        if from_state.any():  # the previous event came in an earlier chunk
            where = np.flatnonzero(from_state)
            values = [self.last_ids[k] for k in key[rows[where]].tolist()]
            previous = previous.scatter(where, pl.Series(values, dtype=ids.dtype))
        return pl.DataFrame({
            KEY_COL: key[rows], _ORDER: 2 * rows, START: prev_us[rows],
            END: prev_us[rows] + self.allowed_us,
        }).with_columns(
            previous.alias(ID), pl.lit("dead").alias(LABEL),
            *self._measures(pl.lit(self.allowed_us / 1e6)),
        )

    def _deadline_table(self, numbers: npt.NDArray[np.int64]) -> pl.DataFrame:
        return pl.DataFrame({
            KEY_COL: numbers, START: self.last_us[numbers],
            END: self.last_us[numbers] + self.allowed_us,
        }).with_columns(
            pl.Series(ID, [self.last_ids[k] for k in numbers.tolist()]),
            pl.lit("dead").alias(LABEL),
            *self._measures(pl.lit(self.allowed_us / 1e6)),
        )

    def _fire(self, limit_us: int) -> pl.DataFrame | None:
        """Declare dead (once) the live keys whose deadline is at or before ``limit_us``."""
        due = np.flatnonzero(self.seen & ~self.dead & (self.last_us + self.allowed_us <= limit_us))
        if due.shape[0] == 0:
            return None
        self.dead[due] = True
        return self._deadline_table(due)

    def _pending_table(self) -> pl.DataFrame | None:
        live = np.flatnonzero(self.seen & ~self.dead)
        if live.shape[0] == 0:
            return None
        return self._deadline_table(live).with_columns(pl.lit("dead").alias(STEP))
