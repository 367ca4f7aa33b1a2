"""The per-key runtime of generated Spark jobs: the app's own matcher, one per key, as a snapshot.

A generated ``StatefulProcessor`` (see the ``sss`` and ``sdp`` templates) keeps, per key, the
JSON snapshot of a :class:`cep.matcher.stream.StreamMatcher` in a ``ValueState`` and hands every
call to a :class:`KeyRunner`:

* ``on_rows`` restores the key's matcher, feeds the micro-batch's rows (sorted by event time,
  then id), lets Spark's watermark release what it makes final, and returns the matches, the
  new snapshot and the event time of the next timer;
* ``on_timer`` advances the matcher to Spark's watermark (time-driven emissions: absence,
  heartbeat, session close, timeouts, ``within`` expiry) and does the same.

The next timer is the earliest of: the time of the earliest event still waiting for the
watermark, the deadline of every pending time-driven match (``pending_matches``), and for
patterns with ``within`` the latest event time plus ``within`` (when every open window has
closed). An extra timer is harmless; a missing one would only delay output.

A row whose ``cep_end_of_stream`` column is true ends its key's stream (for bounded replays and
tests): the matcher is flushed with ``now`` = that row's time, and the key starts afresh.

Spark calls once per key and micro-batch, so the fixed cost of a call is what counts: the rows
go from pandas to Polars once (``load_events``; no pandas work on them), and
:meth:`KeyRunner.shared` keeps one runner per worker process, so that its live matchers outlive
a task (Spark unpickles a new processor for every task). A live matcher is used only when the
stored snapshot is exactly the text it last stored; any other snapshot (another worker, a
restart, a retried batch) is restored from the JSON.

This module runs on Spark workers; it imports neither pyspark nor anything from the app's UI,
and loads the matcher only when a runner is built (a worker that only plans the query stays
light).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from cep.matcher.stream import StreamMatcher
    from cep.model import Pattern
    from cep.results import Match

__all__ = [
    "END_OF_STREAM_COLUMN",
    "MATCH_COLUMNS",
    "KeyRunner",
    "KeyStep",
    "match_columns",
]

END_OF_STREAM_COLUMN = "cep_end_of_stream"
"""A boolean input column: true on a row that ends its key's stream (bounded replays)."""

MATCH_COLUMNS = ("start", "end", "event_ids", "classifiers", "measures", "emitted_at")
"""Output columns after ``pattern`` and the key columns."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_LIVE = 4096  # live matchers kept per runner (one per recently seen key)
_RUNNERS: dict[tuple[str, int, tuple[str, ...]], KeyRunner] = {}  # see KeyRunner.shared


def match_columns(pattern: Pattern) -> list[str]:
    """The output columns of a generated job, in order."""
    return ["pattern", *pattern.partition_by, *MATCH_COLUMNS]


@dataclass(frozen=True)
class KeyStep:
    """What one call for a key returns.

    Attributes:
        matches: output rows (columns :func:`match_columns`), possibly empty.
        snapshot: the key's matcher state to store (None: clear the state).
        timer_ms: event time of the next timer to register (None: no timer needed).
    """

    matches: pd.DataFrame
    snapshot: str | None
    timer_ms: int | None


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _us(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


class KeyRunner:
    """Runs one pattern's matcher for one key at a time (see the module docstring).

    Args:
        pattern_json: the validated pattern's JSON form.
        lateness_ms: the watermark delay, also the matcher's allowed lateness.
        int_columns: input columns Spark holds as integers (pandas turns them into floats when
            they contain nulls; they are turned back).
    """

    def __init__(self, pattern_json: str, lateness_ms: int,
                 int_columns: Sequence[str] = ()) -> None:
        from cep.model import parse_pattern

        self.pattern: Pattern = parse_pattern(json.loads(pattern_json), source="<generated job>")
        self.lateness = timedelta(milliseconds=lateness_ms)
        self.int_columns = tuple(int_columns)
        self.columns = match_columns(self.pattern)
        self._empty = pd.DataFrame(columns=self.columns)  # most calls emit nothing; never mutated
        within = getattr(self.pattern, "within", None)
        self.within_us: int | None = None if within is None else within.microseconds
        # the live matcher behind each snapshot this runner last stored: restoring is the
        # costly part of a call, and a snapshot text identifies the state exactly
        self._live: dict[str, StreamMatcher] = {}

    @classmethod
    def shared(cls, pattern_json: str, lateness_ms: int,
               int_columns: Sequence[str] = ()) -> KeyRunner:
        """The runner of this worker process for these arguments (built on first use).

        Spark builds a new processor for every task; sharing the runner keeps its live matchers
        (and the parsed pattern) from one micro-batch to the next.
        """
        key = (pattern_json, lateness_ms, tuple(int_columns))
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _RUNNERS[key] = cls(pattern_json, lateness_ms, int_columns)
        return runner

    # --- the two calls ------------------------------------------------------------------------
    def on_rows(self, snapshot: str | None, frames: Iterable[pd.DataFrame],
                key: Sequence[Any], watermark_ms: int) -> KeyStep:
        """Feed a micro-batch's rows of one key; see the module docstring."""
        events = self._events(frames)
        matcher = self._matcher(snapshot)
        out: list[Match] = []
        end_ts: datetime | None = None
        if events is not None and END_OF_STREAM_COLUMN in events.columns:
            is_end = events.get_column(END_OF_STREAM_COLUMN).fill_null(False)
            if is_end.any():
                end_ts = events.filter(is_end).get_column(self.pattern.order_by).max()
                events = events.filter(~is_end)
            events = events.drop(END_OF_STREAM_COLUMN)
        if events is not None and events.height:
            out += matcher.feed(events)
            # Spark drops rows behind its watermark before they get here, so the matcher
            # sees no late events; none are kept in the key's state either way.
            matcher.late.clear()
        out += self._advance(matcher, watermark_ms)
        if end_ts is not None:
            out += matcher.flush(now=end_ts)
            return KeyStep(self._rows(out, key), None, None)
        return self._step(matcher, out, key, watermark_ms)

    def on_timer(self, snapshot: str | None, key: Sequence[Any], watermark_ms: int) -> KeyStep:
        """Spark's watermark passed a timer of this key: release and fire what it completes."""
        if snapshot is None:
            return KeyStep(self._rows([], key), None, None)
        matcher = self._matcher(snapshot)
        return self._step(matcher, self._advance(matcher, watermark_ms), key, watermark_ms)

    # --- internals ----------------------------------------------------------------------------
    def _matcher(self, snapshot: str | None) -> StreamMatcher:
        from cep.matcher import create_matcher
        from cep.matcher.stream import StreamMatcher

        if snapshot is None:
            return create_matcher(self.pattern, allowed_lateness=self.lateness)
        live = self._live.pop(snapshot, None)
        return live if live is not None else StreamMatcher.restore(json.loads(snapshot))

    def _events(self, frames: Iterable[pd.DataFrame]) -> Any:
        """The rows Spark handed over (a pandas frame per Arrow batch) as one Polars frame of
        events sorted by time then id (None: no rows): one conversion, then Polars only."""
        present = [f for f in frames if len(f)]
        if not present:
            return None
        frame = present[0] if len(present) == 1 else pd.concat(present, ignore_index=True)
        from cep.events import load_events

        events = load_events(frame, time_field=self.pattern.order_by, max_rows=None,
                             max_bytes=None, source_name="<micro-batch>")
        floats = [events.get_column(name).cast(int) for name in self.int_columns
                  if name in events.columns and events.schema[name].is_float()]
        if floats:
            events = events.with_columns(floats)
        order = [self.pattern.order_by]
        id_column = self.pattern.id_field or ("id" if "id" in events.columns else None)
        if id_column is not None and id_column in events.columns:
            order.append(id_column)
        return events.sort(order, maintain_order=True, nulls_last=True)

    @staticmethod
    def _advance(matcher: StreamMatcher, watermark_ms: int) -> list[Match]:
        if watermark_ms <= 0:
            return []
        return matcher.advance_watermark(_EPOCH + timedelta(milliseconds=watermark_ms))

    def _step(self, matcher: StreamMatcher, out: list[Match], key: Sequence[Any],
              watermark_ms: int) -> KeyStep:
        deadline = self._next_deadline_us(matcher)
        timer_ms = None if deadline is None else deadline // 1000 + 1
        if timer_ms is not None and timer_ms <= watermark_ms:
            timer_ms = None  # already passed: advancing to the watermark fired it
        # Expired partial matches are kept for near misses, which a job never reads: without
        # this, a key's stored state would grow with its whole history.
        matcher.forget_timed_out()
        snapshot = json.dumps(matcher.snapshot())
        if len(self._live) >= _MAX_LIVE:
            self._live.pop(next(iter(self._live)))
        self._live[snapshot] = matcher
        return KeyStep(self._rows(out, key), snapshot, timer_ms)

    def _next_deadline_us(self, matcher: StreamMatcher) -> int | None:
        candidates: list[int] = []
        pending = matcher.pending
        if pending is not None and pending.height:
            candidates.append(int(pending.get_column("__ts_us").min()))  # type: ignore[arg-type]
        candidates += [_us(p.ended) for p in matcher.pending_matches if p.ended is not None]
        if self.within_us is not None and matcher.max_ts_us > -(2**61):
            candidates.append(matcher.max_ts_us + self.within_us)
        return min(candidates) if candidates else None

    def _rows(self, matches: list[Match], key: Sequence[Any]) -> pd.DataFrame:
        if not matches:
            return self._empty
        from cep.results import jsonable

        now = datetime.now(UTC).replace(tzinfo=None)
        keys = self.pattern.partition_by
        rows = [
            [
                m.pattern,
                *(m.key.get(k) for k in keys),
                _naive_utc(m.start),
                _naive_utc(m.end),
                [str(jsonable(i)) for i in m.event_ids],
                list(m.classifiers),
                json.dumps(jsonable(m.measures), default=str),
                now,
            ]
            for m in matches
        ]
        return pd.DataFrame(rows, columns=self.columns)
