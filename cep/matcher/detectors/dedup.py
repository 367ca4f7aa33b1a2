"""The ``dedup`` detector: repeated events, equal on ``fields`` within a window of a kept event.

Per key (``partition_by``) and per value of ``fields`` (NULL equals NULL, as in ``GROUP BY``),
events are taken in (time, input) order. The first event is *kept* and opens a window; a later
event is a *duplicate* when the last kept event is less than ``window`` before it, i.e. the kept
time lies in (t - window, t] — the same half-open window as the other kinds, so an event exactly
``window`` after the kept one is kept again. Duplicates never extend the window: the next event
at or past the window's end is kept and opens a new one. Events with equal times: the first in
input order is kept, the others are its duplicates.

One match per duplicate, emitted at the duplicate (nothing waits on time, nothing is pending):
``event_ids`` = [kept, duplicate], classifiers ``kept`` and ``duplicate``, ``start``/``end`` =
their times, ``measures`` = ``gap_s`` (seconds from the kept event), ``window_s`` and
``duplicate_number`` (1 for the first duplicate of that kept event, 2 for the next ...). Per key,
matches are in (time, input) order of the duplicate.

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> events = pl.DataFrame({
...     "ts": [t0 + timedelta(seconds=s) for s in (0, 3, 5, 9, 10, 12, 12)],
...     "msg": ["a", "a", "b", "a", "a", "a", "b"],
... })
>>> from cep.model import parse_pattern
>>> repeats = parse_pattern({"kind": "dedup", "name": "repeats", "fields": ["msg"],
...                          "window": "10s"})
>>> [(m.event_ids, m.measures["duplicate_number"])
...  for m in find_matches(repeats, events).matches]
[([0, 1], 1), ([0, 3], 2), ([4, 5], 1), ([2, 6], 1)]

"a" at 0 s is kept; "a" at 3 s and 9 s are its duplicates. "a" at 10 s is exactly 10 s after
the kept event, so it is kept and opens a new window (the duplicate at 9 s did not extend the
first one); "a" at 12 s duplicates it. "b" at 5 s is kept and "b" at 12 s (7 s later) is its
duplicate.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl
from numba import njit

from cep.matcher.detectors._windows import (
    I64,
    ID,
    TS,
    check_events,
    check_state_version,
    datetimes,
    event_ids,
    group_codes,
    id_column,
    key_dicts,
    time_order,
    times_us,
)
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import DedupPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_STATE_VERSION = 1
_DUPS = "__dups"


@njit(cache=True, nogil=True)
def _dedup(group: Any, ts: Any, start_dups: Any, window_us: int,
           n_groups: int) -> Any:  # pragma: no cover - compiled
    """Walk rows (each group's rows in time order): the kept row of each duplicate (-1: kept)."""
    n = group.shape[0]
    kept_at = np.full(n_groups, -1, dtype=np.int64)
    dups = np.zeros(n_groups, dtype=np.int64)
    kept_of = np.full(n, -1, dtype=np.int64)
    number = np.zeros(n, dtype=np.int64)
    for p in range(n):
        g = group[p]
        k = kept_at[g]
        if k >= 0 and ts[p] - ts[k] < window_us:
            dups[g] += 1
            kept_of[p] = k
            number[p] = dups[g]
        else:
            kept_at[g] = p
            dups[g] = start_dups[p]
    return kept_of, number, kept_at, dups


def _matches(pattern: DedupPattern, dup: I64, kept: I64, number: I64, keys: I64, ts: I64,
             ids: pl.Series, key_of: Any) -> list[Match]:
    if dup.shape[0] == 0:
        return []
    window_s = pattern.window.seconds
    kept_ids = ids.gather(pl.Series(kept)).to_list()
    dup_ids = ids.gather(pl.Series(dup)).to_list()
    gaps = ((ts[dup] - ts[kept]) / 1e6).tolist()
    return [
        Match(pattern=pattern.name, key=key_of(k), start=start, end=end, event_ids=[a, b],
              classifiers=["kept", "duplicate"],
              measures={"gap_s": gap, "window_s": window_s, "duplicate_number": nth})
        for k, start, end, a, b, gap, nth in zip(
            keys[dup].tolist(), datetimes(ts[kept]), datetimes(ts[dup]), kept_ids, dup_ids, gaps,
            number[dup].tolist(), strict=True,
        )
    ]


def find_matches(pattern: DedupPattern, events: pl.DataFrame) -> MatchResult:
    """Every duplicate of a ``dedup`` pattern (see the module docstring).

    Raises:
        EventDataError: a column the pattern uses is missing.
    """
    started = time.perf_counter()
    check_events(events, pattern, dict.fromkeys(pattern.fields, "fields"))
    ts = times_us(events.get_column(pattern.order_by))
    key_codes, first_rows = group_codes(events, pattern.partition_by)
    groups, _ = group_codes(events, [*pattern.partition_by, *pattern.fields])
    order = time_order(ts)
    walk = np.arange(events.height, dtype=np.int64) if order is None else order
    kept_of, number, _, _ = _dedup(
        np.ascontiguousarray(groups[walk]), np.ascontiguousarray(ts[walk]),
        np.zeros(events.height, dtype=np.int64), pattern.window.microseconds,
        int(groups.max()) + 1 if events.height else 0,
    )
    positions = np.flatnonzero(kept_of >= 0)
    dup, kept = walk[positions], walk[kept_of[positions]]
    by_key = np.argsort(key_codes[dup], kind="stable")
    dup, kept, nth = dup[by_key], kept[by_key], number[positions][by_key]
    matches: list[Match] = []
    if dup.shape[0]:
        key_map = key_dicts(events, pattern.partition_by, first_rows, key_codes[dup])
        ids = event_ids(events, id_column(pattern, events.columns))
        numbers = np.zeros(events.height, dtype=np.int64)
        numbers[dup] = nth
        matches = _matches(pattern, dup, kept, numbers, key_codes, ts, ids, key_map.__getitem__)
    return MatchResult(
        matches=matches,
        stats={"events": events.height, "matches": len(matches),
               "elapsed_ms": (time.perf_counter() - started) * 1000, "path": "dedup"},
    )


class Engine:
    """Incremental ``dedup`` matching; implements ``cep.matcher.stream.Engine``.

    State: per key and ``fields`` value, the last kept event while its window can still reach
    a future event (kept time > watermark - window), with its duplicate count.
    """

    def __init__(self, pattern: DedupPattern) -> None:
        self.pattern = pattern
        self.kept: pl.DataFrame | None = None
        self.keys: dict[int, dict[str, Any]] = {}
        self.timed_out: list[PartialMatch] = []
        self.pending: list[PartialMatch] = []

    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return one match per duplicate among them."""
        frame = chunk.frame
        self.keys.update(chunk.keys)
        if frame.height == 0:
            return []
        fields = list(self.pattern.fields)
        check_events(frame, self.pattern, dict.fromkeys(fields, "fields"))
        new = frame.select(
            pl.col(KEY_COL).cast(pl.Int64), *fields,
            pl.Series(TS, times_us(frame.get_column(chunk.order_by))),
            event_ids(frame, chunk.id_column or SEQ_COL),
            pl.lit(0, dtype=pl.Int64).alias(_DUPS),
        )
        carried = 0 if self.kept is None else self.kept.height
        table = new if not carried or self.kept is None else pl.concat(
            [self.kept, new], how="vertical_relaxed"
        )
        groups, first = group_codes(table, [KEY_COL, *fields])
        ts = np.ascontiguousarray(table.get_column(TS).to_numpy(), dtype=np.int64)
        kept_of, number, kept_at, dups = _dedup(
            groups, ts, np.ascontiguousarray(table.get_column(_DUPS).to_numpy(), dtype=np.int64),
            self.pattern.window.microseconds, first.shape[0],
        )
        dup = np.flatnonzero(kept_of >= 0)
        keys = np.ascontiguousarray(table.get_column(KEY_COL).to_numpy(), dtype=np.int64)
        matches = _matches(self.pattern, dup, kept_of[dup], number, keys, ts,
                           table.get_column(ID), self.keys.__getitem__)
        alive = np.flatnonzero(ts[kept_at] > chunk.watermark_us - self.pattern.window.microseconds)
        self.kept = table[pl.Series(kept_at[alive])].with_columns(pl.Series(_DUPS, dups[alive]))
        return matches

    def on_time(self, watermark_us: int) -> list[Match]:
        """Duplicates are found at events: time alone emits nothing."""
        return []

    def finish(self, now_us: int | None) -> list[Match]:
        """Nothing waits on time."""
        return []

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"version": _STATE_VERSION,
                "kept": None if self.kept is None else frame_to_state(self.kept)}

    @classmethod
    def from_state(cls, pattern: DedupPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        check_state_version(state, _STATE_VERSION)
        engine = cls(pattern)
        engine.kept = None if state["kept"] is None else frame_from_state(state["kept"])
        return engine
