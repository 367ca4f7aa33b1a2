"""The ``dedup`` detector: repeated events, equal on ``fields`` within a window of a kept event.

Per key (``partition_by``) and per value of ``fields`` (NULL equals NULL, as in ``GROUP BY``),
events are taken in (time, input) order. The first event is *kept* and opens a window; a later
event is a *duplicate* when the last kept event is less than ``window`` before it, i.e. the kept
time lies in (t - window, t] — the same half-open window as the other kinds, so an event exactly
``window`` after the kept one is kept again. Duplicates never extend the window: the next event
at or past the window's end is kept and opens a new one. Events with equal times: the first in
input order is kept, the others are its duplicates. With a ``where`` condition only the events
where it holds (NULL counts as false) take part; the others are ignored entirely: they are
never kept, never duplicates, and neither open nor extend a window.

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

>>> paid = parse_pattern({"kind": "dedup", "name": "paid", "where": "msg = 'a'",
...                       "fields": ["amount"], "window": "10s"})
>>> [m.event_ids for m in find_matches(paid, events.with_columns(amount=pl.lit(5))).matches]
[[0, 1], [0, 3], [4, 5]]

The same events, all for an amount of 5, deduplicated on the amount of the "a" events only:
the "b" events are ignored, so "b" at 5 s neither duplicates "a" at 0 s nor opens a window of
its own.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl
from numba import njit

from cep.matcher.detectors._windows import (
    HASH_SEED,
    I64,
    ID,
    TS,
    array_of,
    check_events,
    check_state_version,
    counting_order,
    datetimes,
    event_ids,
    group_codes,
    group_codes_exact,
    hash_slot,
    id_column,
    key_dicts,
    qualifying,
    same_values,
    time_order,
    times_us,
    where_expression,
)
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import DedupPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_STATE_VERSION = 1
_DUPS = "__dups"


@njit(cache=True, nogil=True)
def _walk(tab_group: Any, tab_row: Any, tab_dups: Any, used: int, p: int, group: Any, ts: Any,
          walk: Any, start_dups: Any, window_us: int, kept_of: Any,
          number: Any) -> Any:  # pragma: no cover - compiled
    """Walk rows from ``walk[p]`` until the table is half full; return (next p, used)."""
    cap = tab_row.shape[0]
    while p < walk.shape[0]:
        r = walk[p]
        g = group[r]
        t = ts[r]
        s = hash_slot(g, cap - 1)
        p += 1
        while True:
            k = tab_row[s]
            if k == -1:
                tab_row[s] = r
                tab_group[s] = g
                tab_dups[s] = start_dups[r]
                used += 1
                break
            if tab_group[s] == g:
                if t - ts[k] < window_us:
                    tab_dups[s] += 1
                    kept_of[r] = k
                    number[r] = tab_dups[s]
                else:
                    tab_row[s] = r
                    tab_dups[s] = start_dups[r]
                break
            s = (s + 1) & (cap - 1)
        if 2 * used > cap:
            break
    return p, used


@njit(cache=True, nogil=True)
def _rebuild(tab_group: Any, tab_row: Any, tab_dups: Any, ts: Any,
             after: int) -> Any:  # pragma: no cover - compiled
    """A table holding the entries whose kept event is later than ``after`` (a quarter full
    at most)."""
    cap = tab_row.shape[0]
    live = 0
    for s in range(cap):
        if tab_row[s] >= 0 and ts[tab_row[s]] > after:
            live += 1
    new_cap = 4096
    while new_cap < 4 * live:
        new_cap *= 2
    new_group = np.zeros(new_cap, dtype=np.uint64)
    new_row = np.full(new_cap, -1, dtype=np.int64)
    new_dups = np.zeros(new_cap, dtype=np.int64)
    for s in range(cap):
        k = tab_row[s]
        if k >= 0 and ts[k] > after:
            q = hash_slot(tab_group[s], new_cap - 1)
            while new_row[q] != -1:
                q = (q + 1) & (new_cap - 1)
            new_row[q] = k
            new_group[q] = tab_group[s]
            new_dups[q] = tab_dups[s]
    return new_group, new_row, new_dups, live


@njit(cache=True, nogil=True)
def _dedup(group: Any, ts: Any, walk: Any, start_dups: Any, window_us: int,
           alive_after: int) -> Any:  # pragma: no cover - compiled
    """Walk rows in ``walk`` order (each group's rows in time order, a key's rows together).

    ``group`` identifies a row's (key, fields) group by a 64-bit hash or an exact code. An
    open-addressing table maps it to the group's last kept row and duplicate count; when the
    table is half full it is rebuilt with the entries whose kept event is still in its window
    at the current row's time, so it stays as small as the live groups. Returns the kept row
    of each duplicate (-1 for kept rows), each duplicate's number, and the rows and duplicate
    counts of the kept events later than ``alive_after``.
    """
    n = group.shape[0]
    kept_of = np.full(n, -1, dtype=np.int64)
    number = np.zeros(n, dtype=np.int64)
    tab_group = np.zeros(4096, dtype=np.uint64)
    tab_row = np.full(4096, -1, dtype=np.int64)
    tab_dups = np.zeros(4096, dtype=np.int64)
    used = 0
    p = 0
    while p < walk.shape[0]:
        p, used = _walk(tab_group, tab_row, tab_dups, used, p, group, ts, walk, start_dups,
                        window_us, kept_of, number)
        if 2 * used > tab_row.shape[0]:
            now = ts[walk[p - 1]]
            tab_group, tab_row, tab_dups, used = _rebuild(tab_group, tab_row, tab_dups, ts,
                                                          now - window_us)
    tab_group, tab_row, tab_dups, _ = _rebuild(tab_group, tab_row, tab_dups, ts, alive_after)
    alive = tab_row >= 0
    return kept_of, number, tab_row[alive], tab_dups[alive]


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
            keys.tolist(), datetimes(ts[kept]), datetimes(ts[dup]), kept_ids, dup_ids, gaps,
            number.tolist(), strict=True,
        )
    ]


_NEVER = np.iinfo(np.int64).max


def _used(pattern: DedupPattern, where_used: dict[str, str]) -> dict[str, str]:
    """The columns the pattern reads beyond key, time and id (→ where it uses them)."""
    used = dict.fromkeys(pattern.fields, "fields")
    for column, where in where_used.items():
        used.setdefault(column, where)
    return used


def find_matches(pattern: DedupPattern, events: pl.DataFrame) -> MatchResult:
    """Every duplicate of a ``dedup`` pattern (see the module docstring).

    Raises:
        EventDataError: a column the pattern uses is missing, or ``where`` cannot be evaluated.
    """
    started = time.perf_counter()
    condition, where_used = where_expression(pattern.where)
    check_events(events, pattern, _used(pattern, where_used))
    n = events.height
    ts = times_us(events.get_column(pattern.order_by))
    order = time_order(ts)
    walk = np.arange(n, dtype=np.int64) if order is None else order
    if condition is not None:
        walk = walk[qualifying(events, condition, pattern.name)[walk]]
    values = events.select(list(dict.fromkeys([*pattern.partition_by, *pattern.fields])))
    no_dups = np.zeros(n, dtype=np.int64)
    window_us = pattern.window.microseconds
    hashes = array_of(values.hash_rows(seed=HASH_SEED), np.uint64)
    kept_of, number, _, _ = _dedup(hashes, ts, walk, no_dups, window_us, _NEVER)
    dup = walk[kept_of[walk] >= 0]
    # Rows are grouped by hash: a collision shows as a duplicate of a different value (see
    # the group_codes docstring); without one, the hash grouping decided exactly.
    if not same_values(values, dup, kept_of[dup]):
        codes, _ = group_codes_exact(values)
        kept_of, number, _, _ = _dedup(codes.astype(np.uint64), ts, walk, no_dups, window_us,
                                       _NEVER)
        dup = walk[kept_of[walk] >= 0]
    matches: list[Match] = []
    if dup.shape[0]:
        key_codes, first_rows = group_codes(events, pattern.partition_by, check_rows=dup)
        dup = dup[np.argsort(key_codes[dup], kind="stable")]
        key_map = key_dicts(events, pattern.partition_by, first_rows, key_codes[dup])
        ids = event_ids(events, id_column(pattern, events.columns))
        matches = _matches(pattern, dup, kept_of[dup], number[dup], key_codes[dup], ts, ids,
                           key_map.__getitem__)
    return MatchResult(
        matches=matches,
        stats={"events": n, "matches": len(matches),
               "elapsed_ms": (time.perf_counter() - started) * 1000, "path": "dedup"},
    )


class Engine:
    """Incremental ``dedup`` matching; implements ``cep.matcher.stream.Engine``.

    State: per key and ``fields`` value, the last kept event while its window can still reach
    a future event (kept time > watermark - window), with its duplicate count. Events that
    fail ``where`` are dropped as they arrive.
    """

    def __init__(self, pattern: DedupPattern) -> None:
        self.pattern = pattern
        self.condition, where_used = where_expression(pattern.where)
        self.used = _used(pattern, where_used)
        self.kept: pl.DataFrame | None = None
        self.keys: dict[int, dict[str, Any]] = {}
        self.timed_out: list[PartialMatch] = []
        self.pending: list[PartialMatch] = []

    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return one match per duplicate among them."""
        frame = chunk.frame
        self.keys = chunk.keys  # the stream matcher's own map (read only), not a copy
        if frame.height == 0:
            return []
        fields = list(self.pattern.fields)
        check_events(frame, self.pattern, self.used)
        new = frame.select(
            pl.col(KEY_COL).cast(pl.Int64), *fields,
            pl.Series(TS, times_us(frame.get_column(chunk.order_by))),
            event_ids(frame, chunk.id_column or SEQ_COL),
            pl.lit(0, dtype=pl.Int64).alias(_DUPS),
        )
        if self.condition is not None:
            new = new.filter(pl.Series(qualifying(frame, self.condition, self.pattern.name)))
        if self.kept is not None and self.kept.height:
            table = pl.concat([self.kept, new], how="vertical_relaxed")
            table = table[pl.Series(counting_order(table.get_column(KEY_COL).to_numpy()))]
        else:
            table = new
        codes, _ = group_codes(table, [KEY_COL, *fields])
        ts = array_of(table.get_column(TS), np.int64)
        window_us = self.pattern.window.microseconds
        kept_of, number, alive, alive_dups = _dedup(
            codes.astype(np.uint64), ts, np.arange(table.height, dtype=np.int64),
            array_of(table.get_column(_DUPS), np.int64),
            window_us, chunk.watermark_us - window_us,
        )
        dup = np.flatnonzero(kept_of >= 0)
        keys = table.get_column(KEY_COL).to_numpy()
        matches = _matches(self.pattern, dup, kept_of[dup], number[dup], keys[dup], ts,
                           table.get_column(ID), self.keys.__getitem__)
        by_row = np.argsort(alive)
        self.kept = table[pl.Series(alive[by_row])].with_columns(
            pl.Series(_DUPS, alive_dups[by_row])
        )
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
