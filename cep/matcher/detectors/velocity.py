"""The ``velocity`` detector: a per-key rate over a sliding window at or above a threshold.

Qualifying events are the key's events whose ``where`` holds (all events without one; NULL
counts as false); with ``value_field``, events whose value is NULL or NaN are skipped too (SQL
``SUM`` ignores NULL), and an infinite value is an error. The total at time T is the number of
qualifying events in (T - window, T], or the sum of their ``value_field``; the rate is
total / (window length in ``per`` units: second, minute or hour), so a 30 s window at 12 events
is a rate of 24 per minute.

Episodes, as for ``count_threshold``: the rate is checked at every distinct qualifying event
time T of a key, and at the instant just before it (the events in [T - window, T)). A match is
emitted at T when the rate at T is >= threshold and the check before it was below: the rate
just before T, or the rate at the key's previous qualifying time. For counts and non-negative
values the rate only rises at events, so this is exactly "one match per maximal stretch of time
during which the rate is >= threshold"; with negative values the rate can also rise when a
negative value leaves the window, and that rise is reported at the next qualifying event. Time
alone never emits a match, so nothing is pending.

Sums are differences of each key's running total (added in time order), the same in batch and
stream runs; with non-integer values a rate within rounding error of the threshold is decided by
that arithmetic.

``event_ids`` are the window's events at T in (time, input) order, each classified ``event``;
``start``/``end`` are the times of the first event in the window and of T; ``measures`` are
``rate``, ``threshold``, ``per``, ``window_s``, ``count`` and, with ``value_field``, ``sum``.
Per key, matches are in order of T.

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> def events(pairs):
...     return pl.DataFrame({"ts": [t0 + timedelta(seconds=s) for s, _ in pairs],
...                          "amount": [a for _, a in pairs]})
>>> from cep.model import parse_pattern
>>> spend = parse_pattern({"kind": "velocity", "name": "spend", "value_field": "amount",
...                        "threshold": 100, "per": "minute", "window": "1m"})
>>> result = find_matches(spend, events([(0, 40), (20, 50), (30, 20), (65, 10), (70, 30)]))
>>> [(m.event_ids, m.measures["rate"]) for m in result.matches]
[([0, 1, 2], 110.0), ([1, 2, 3, 4], 110.0)]

At 30 s the window (-30 s, 30 s] sums 110 per minute: a match. At 60 s the 40 leaves the window
(70 per minute): the episode ends. At 65 s the sum is 80; at 70 s the window (10 s, 70 s] sums
50 + 20 + 10 + 30 = 110 after 80 just before: a new episode.

>>> low = parse_pattern({"kind": "velocity", "name": "net", "value_field": "amount",
...                      "threshold": 10, "per": "minute", "window": "1m"})
>>> [m.event_ids for m in find_matches(low, events([(0, -20), (30, 25), (70, 1)])).matches]
[[1, 2]]

The sum is 5 at 30 s; at 60 s the -20 leaves the window and the sum rises to 25 with no event.
At 70 s the sum is 26 and was already 25 just before, but the check at the previous qualifying
time (30 s) was below the threshold, so the episode is reported at 70 s.
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl

from cep.matcher.detectors._windows import (
    SlidingEngine,
    SlidingRule,
    check_state_version,
    find_sliding_matches,
    where_expression,
)
from cep.matcher.stream import Chunk
from cep.model import VelocityPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_PER_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_STATE_VERSION = 1


def _rule(pattern: VelocityPattern) -> SlidingRule:
    per_window = pattern.window.seconds / _PER_S[pattern.per]
    return SlidingRule(pattern.window.microseconds, float(pattern.threshold), per_window,
                       pattern.value_field is not None)


def _measures(pattern: VelocityPattern) -> Any:
    rule = _rule(pattern)
    threshold, per, window_s = pattern.threshold, pattern.per, pattern.window.seconds
    with_sum = pattern.value_field is not None

    def measures(total: float, count: int) -> dict[str, Any]:
        out: dict[str, Any] = {"rate": total / rule.per_window, "threshold": threshold,
                               "per": per, "window_s": window_s, "count": count}
        if with_sum:
            out["sum"] = total
        return out

    return measures


def _used(pattern: VelocityPattern) -> tuple[Any, dict[str, str]]:
    condition, used = where_expression(pattern.where)
    if pattern.value_field is not None:
        used.setdefault(pattern.value_field, "value_field")
    return condition, used


def find_matches(pattern: VelocityPattern, events: pl.DataFrame) -> MatchResult:
    """Every match of a ``velocity`` pattern (see the module docstring).

    Raises:
        EventDataError: a column the pattern uses is missing, ``value_field`` is not numeric or
            holds an infinite value, or ``where`` cannot be evaluated.
    """
    started = time.perf_counter()
    condition, used = _used(pattern)
    matches = find_sliding_matches(events, pattern, condition, used, pattern.value_field,
                                   _rule(pattern), _measures(pattern))
    return MatchResult(
        matches=matches,
        stats={"events": events.height, "matches": len(matches),
               "elapsed_ms": (time.perf_counter() - started) * 1000,
               "path": "sum" if pattern.value_field is not None else "count"},
    )


class Engine:
    """Incremental ``velocity`` matching; implements ``cep.matcher.stream.Engine``."""

    def __init__(self, pattern: VelocityPattern) -> None:
        self.pattern = pattern
        condition, used = _used(pattern)
        self._impl = SlidingEngine(pattern, condition, used, pattern.value_field, _rule(pattern),
                                   _measures(pattern))
        self.timed_out: list[PartialMatch] = []
        self.pending: list[PartialMatch] = []

    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return the episodes they start."""
        return self._impl.process(chunk)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Episodes start only at events: time alone emits nothing."""
        return []

    def finish(self, now_us: int | None) -> list[Match]:
        """Nothing waits on time."""
        return []

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"version": _STATE_VERSION, "impl": self._impl.state()}

    @classmethod
    def from_state(cls, pattern: VelocityPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        check_state_version(state, _STATE_VERSION)
        engine = cls(pattern)
        engine._impl.restore_state(state["impl"])
        return engine
