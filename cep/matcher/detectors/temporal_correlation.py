"""The ``temporal_correlation`` kind: pair ``a`` events with ``b`` events on equal fields in time.

Semantics (per key and per value of the ``correlate_on`` fields, events in time order, equal
times in input order — "before" below means earlier in that order):

* An event is an A when condition ``a`` holds, a B when ``b`` holds (NULL counts as false).
  Events with a NULL in a ``correlate_on`` field never pair (SQL: NULL equals nothing).
* Pairs are one-to-one and greedy in time order: each new event pairs with the *earliest
  unpaired* event of the other side whose time is within ``max_gap`` before it
  (``new.ts - other.ts <= max_gap``, inclusive). With ``order: any`` either side may come
  first; with ``a_then_b`` only an A before the B (a B with no unpaired A before it is
  dropped at once; it never waits for a later A). An unpaired event waits for a partner.
* An event satisfying both ``a`` and ``b`` never pairs with itself. It first looks for a
  partner: with ``any``, the earliest unpaired event of either side (if that one satisfies
  ``a`` it plays ``a`` and the new event ``b``, else the reverse); with ``a_then_b``, the
  earliest unpaired A (the new event plays ``b``). Unpaired, it waits as either side
  (``any``) or as an A (``a_then_b``).
* One match per pair, emitted at the later event: event_ids = [earlier, later] in time order,
  classifiers their roles (``["a", "b"]`` or ``["b", "a"]``), start/end = their times,
  measures ``gap_s`` (later − earlier, seconds) and the ``correlate_on`` values.
* Near misses: an event that waited and whose window ``(ts, ts + max_gap]`` passed without a
  partner becomes a ``timed_out`` partial match (reason ``"window expired"``, ``ended`` =
  ts + max_gap, classifier its waiting role: ``a`` if it satisfies ``a``, else ``b``). It is
  reported once event time passes that end (at the end of the stream: when the end is at most
  the last event time, or ``now`` given to ``flush`` if later). Nothing is ever *pending*:
  every match is driven by an event. Near misses can be many, so they are built when first
  read.
* Order: keys by first appearance; within a key, matches in the order of their later event.

Worked example: ``a`` = failed login, ``b`` = password reset, ``correlate_on`` = user,
``max_gap`` 5m, ``order: any``:

====  =====  ====  ======  =================================================================
id    time   user  side    result
====  =====  ====  ======  =================================================================
1     00:00  u1    A       waits
2     00:01  u1    A       waits
3     00:02  u1    B       pairs with 1, the earliest unpaired A: match [1, 3]
4     00:03  u2    B       waits (another user)
5     00:04  u1    B       pairs with 2: match [2, 5]
6     00:06  u1    B       no unpaired A of u1: waits until 00:11
7     00:09  u2    A       4 waited until 00:08 only: no pair; waits
8     00:12  u1    A       6's window ended at 00:11: no pair; waits (window ends 00:17)
====  =====  ====  ======  =================================================================

4 (window ended 00:08) and 6 (00:11) timed out; 7 (00:14) and 8 (00:17) outlive the events.
With ``a_then_b`` the matches are the same, 4 and 6 are dropped at once (a B never waits)
and nothing times out: 7 and 8 are still waiting.

>>> from datetime import UTC, datetime, timedelta
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> events = pl.DataFrame({
...     "id": [1, 2, 3, 4, 5, 6, 7, 8],
...     "ts": [t0 + timedelta(minutes=m) for m in (0, 1, 2, 3, 4, 6, 9, 12)],
...     "user": ["u1", "u1", "u1", "u2", "u1", "u1", "u2", "u1"],
...     "type": ["fail", "fail", "reset", "reset", "reset", "reset", "fail", "fail"]})
>>> def run(order):
...     pattern = parse_pattern({"kind": "temporal_correlation", "name": "reset",
...                              "a": "type = 'fail'", "b": "type = 'reset'",
...                              "correlate_on": ["user"], "max_gap": "5m", "order": order})
...     return find_matches(pattern, events)
>>> result = run("any")
>>> [(m.event_ids, m.classifiers, m.measures) for m in result.matches]
[([1, 3], ['a', 'b'], {'gap_s': 120.0, 'user': 'u1'}), ([2, 5], ['a', 'b'], {'gap_s': 180.0, 'user': 'u1'})]
>>> [(p.event_ids, p.ended.strftime("%H:%M")) for p in result.timed_out]
[([4], '00:08'), ([6], '00:11')]
>>> result = run("a_then_b")
>>> [m.event_ids for m in result.matches], list(result.timed_out)
([[1, 3], [2, 5]], [])
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from cep import expr as E
from cep.errors import EventDataError, UnsupportedFeature
from cep.events import check_fields
from cep.matcher.frame import prepare_events
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import TemporalCorrelationPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_STATE_VERSION = 1
_ROLE = "__role"
_TS = "__ts"
_ID = "__id"
ROLE_A = 1
ROLE_B = 2

Ints = npt.NDArray[np.int64]


@njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _pair(grp: Any, ts: Any, role: Any, gap: int, a_then_b: bool) -> Any:  # pragma: no cover
    """Greedy one-to-one pairing over rows sorted by (group, time, arrival).

    Returns ``mate`` (the partner row of the row that completes a pair, else -1), ``mate_is_a``
    (the partner plays ``a``) and ``waits`` (the row was left waiting for a partner: unpaired
    rows with ``waits`` are the open or expired ones).
    """
    n = grp.shape[0]
    mate = np.full(n, -1, dtype=np.int64)
    mate_is_a = np.zeros(n, dtype=np.bool_)
    paired = np.zeros(n, dtype=np.bool_)
    waits = np.zeros(n, dtype=np.bool_)
    queue_a = np.empty(n, dtype=np.int64)  # rows waiting that can play a, in time order
    queue_b = np.empty(n, dtype=np.int64)
    start = 0
    while start < n:
        end = start
        while end < n and grp[end] == grp[start]:
            end += 1
        head_a = tail_a = head_b = tail_b = start
        for i in range(start, end):
            oldest = ts[i] - gap
            while head_a < tail_a and (paired[queue_a[head_a]] or ts[queue_a[head_a]] < oldest):
                head_a += 1
            while head_b < tail_b and (paired[queue_b[head_b]] or ts[queue_b[head_b]] < oldest):
                head_b += 1
            first_a = queue_a[head_a] if head_a < tail_a else -1
            first_b = queue_b[head_b] if head_b < tail_b else -1
            r = role[i]
            j = -1
            j_is_a = False
            if a_then_b or r == ROLE_B:
                if r & ROLE_B and first_a >= 0:
                    j = first_a
                    j_is_a = True
            elif r == ROLE_A:
                j = first_b
            elif first_a >= 0 and (first_b < 0 or first_a <= first_b):
                j = first_a
                j_is_a = True
            else:
                j = first_b
            if j >= 0:
                mate[i] = j
                mate_is_a[i] = j_is_a
                paired[i] = True
                paired[j] = True
            elif a_then_b:
                if r & ROLE_A:
                    queue_a[tail_a] = i
                    tail_a += 1
                    waits[i] = True
            else:
                if r & ROLE_A:
                    queue_a[tail_a] = i
                    tail_a += 1
                if r & ROLE_B:
                    queue_b[tail_b] = i
                    tail_b += 1
                waits[i] = True
        start = end
    return mate, mate_is_a, waits & ~paired


class _Conditions:
    """The pattern's ``a`` / ``b`` conditions as one Polars role expression (1 = a, 2 = b)."""

    def __init__(self, pattern: TemporalCorrelationPattern) -> None:
        a = E.parse_condition(pattern.a)
        b = E.parse_condition(pattern.b)
        self.used: dict[str, str] = {}
        for name, cond in (("a", a), ("b", b)):
            for column in sorted(E.referenced_columns(cond)):
                self.used.setdefault(column, f"condition {name}")
        for column in pattern.correlate_on:
            self.used.setdefault(column, "correlate_on")
        self.role = (
            E.to_polars(a).fill_null(False).cast(pl.Int8)
            + E.to_polars(b).fill_null(False).cast(pl.Int8) * 2
        )
        self.pattern = pattern

    def roles(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``__role`` for each event: 0 when it cannot pair (neither side, NULL correlation)."""
        check_fields(frame, self.used)
        role = self.role
        for column in self.pattern.correlate_on:
            role = pl.when(pl.col(column).is_null()).then(pl.lit(0, pl.Int8)).otherwise(role)
        try:
            return frame.select(role.alias(_ROLE))
        except pl.exceptions.PolarsError as error:
            raise EventDataError(
                f"the conditions a ({self.pattern.a!r}) and b ({self.pattern.b!r}) cannot be "
                f"evaluated on these events: {str(error).splitlines()[0]}"
            ) from None


def find_matches(pattern: TemporalCorrelationPattern, events: pl.DataFrame) -> MatchResult:
    """Pair the ``a`` and ``b`` events of ``pattern`` in ``events`` (module docstring).

    Equals feeding every event to an :class:`Engine` and calling ``finish(None)``.

    Raises:
        EventDataError: a field the pattern uses is missing, or a condition cannot be evaluated.
    """
    started = time.perf_counter()
    engine = Engine(pattern)
    roles = engine.conditions.roles(events).get_column(_ROLE).to_numpy()
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    matches: list[Match] = []
    if prepared.height:
        sorted_roles = roles[prepared.order]
        at = np.flatnonzero(sorted_roles)
        rows = pl.Series(prepared.order[at])
        frame = pl.DataFrame([
            *(events.get_column(c).gather(rows) for c in pattern.correlate_on),
            pl.Series(KEY_COL, prepared.part_numbers()[at]),
            (events.get_column(prepared.id_column).gather(rows) if prepared.id_column
             else rows).alias(_ID),
            pl.Series(_TS, prepared.ts_us[at]),
            rows.alias(SEQ_COL),
            pl.Series(_ROLE, sorted_roles[at]),
        ])
        if pattern.partition_by:
            firsts = pl.Series(prepared.order[prepared.part_start])
            engine.keys = dict(enumerate(events.select(pattern.partition_by).gather(firsts)
                                         .to_dicts()))
        else:
            engine.keys = {0: {}}
        engine.max_ts = int(prepared.ts_us.max())
        matches = engine.advance(frame, engine.max_ts, inclusive=True)
    stats = {
        "events": events.height,
        "matches": len(matches),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "path": "compiled",
    }
    return MatchResult(matches=matches, stats=stats, timed_out=engine.timed_out)


class Engine:
    """Incremental temporal correlation (``cep.matcher.stream.Engine``).

    Between calls it keeps the events still waiting for a partner (their window has not
    passed) and the timed-out near misses.
    """

    def __init__(self, pattern: TemporalCorrelationPattern) -> None:
        self.pattern = pattern
        self.conditions = _Conditions(pattern)
        self.gap_us = pattern.max_gap.microseconds
        self.keys: dict[int, dict[str, Any]] = {}
        self.waiting: pl.DataFrame | None = None
        self.max_ts: int | None = None
        self.expired: list[pl.DataFrame] = []  # timed-out events, as recorded
        self.partials: list[PartialMatch] = []  # built from expired[:built]
        self.built = 0
        self.pending: list[PartialMatch] = []

    # --- Engine protocol -----------------------------------------------------------------
    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return the pairs they complete."""
        for number, values in chunk.keys.items():
            self.keys.setdefault(number, values)
        frame = chunk.frame
        if frame.height == 0:
            return self.on_time(chunk.watermark_us)
        ts = frame.get_column(chunk.order_by).cast(pl.Datetime("us", "UTC")).dt.epoch("us")
        last = int(ts.max())  # type: ignore[arg-type]
        self.max_ts = last if self.max_ts is None else max(self.max_ts, last)
        role = self.conditions.roles(frame).get_column(_ROLE)
        relevant = frame.select(
            *self.pattern.correlate_on,
            pl.col(KEY_COL),
            pl.col(chunk.id_column or SEQ_COL).alias(_ID),
            ts.alias(_TS),
            pl.col(SEQ_COL),
            role.alias(_ROLE),
        ).filter(pl.col(_ROLE) > 0)
        return self.advance(relevant, chunk.watermark_us, inclusive=False)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Event time reached ``watermark_us``: waiting events whose window ended time out."""
        self._expire(watermark_us, inclusive=False)
        return []

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream: windows ending at most at the last event time (or ``now_us``) expire."""
        limits = [t for t in (self.max_ts, now_us) if t is not None]
        if limits:
            self._expire(max(limits), inclusive=True)
        return []

    @property
    def timed_out(self) -> _TimedOut:
        """Events whose window passed without a partner (near misses), built when first read."""
        return _TimedOut(self)

    def forget_timed_out(self) -> None:
        """Drop the expired events so far (see ``StreamMatcher.forget_timed_out``)."""
        self.expired, self.partials, self.built = [], [], 0

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "version": _STATE_VERSION,
            "keys": [[k, v] for k, v in self.keys.items()],
            "max_ts": self.max_ts,
            "waiting": None if self.waiting is None else frame_to_state(self.waiting),
            "expired": [frame_to_state(pl.concat(self.expired, how="vertical_relaxed"))]
            if self.expired else [],
        }

    @classmethod
    def from_state(cls, pattern: TemporalCorrelationPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        if state.get("version") != _STATE_VERSION:
            raise UnsupportedFeature(
                f"temporal_correlation engine state version {state.get('version')!r} is not "
                f"supported (expected {_STATE_VERSION})")
        engine = cls(pattern)
        engine.keys = {int(k): dict(v) for k, v in state["keys"]}
        engine.max_ts = state["max_ts"]
        engine.waiting = None if state["waiting"] is None else frame_from_state(state["waiting"])
        engine.expired = [frame_from_state(f) for f in state["expired"]]
        return engine

    # --- internals -----------------------------------------------------------------------
    def advance(self, frame: pl.DataFrame, limit: int, *, inclusive: bool) -> list[Match]:
        """Pair ``frame`` (events that are an A or a B) after the waiting events.

        Waiting events whose window ends before ``limit`` (or at it, when ``inclusive``) then
        time out; the rest keep waiting.
        """
        if self.waiting is not None and self.waiting.height:
            frame = pl.concat([self.waiting, frame], how="vertical_relaxed")
        if frame.height == 0:
            return []
        corr = self.pattern.correlate_on
        if corr:
            group = frame.select(pl.struct(KEY_COL, *corr).rank("dense")).to_series()
        else:
            group = frame.get_column(KEY_COL)
        ts = frame.get_column(_TS).to_numpy().astype(np.int64, copy=False)
        seq = frame.get_column(SEQ_COL).to_numpy()
        order = np.lexsort((seq, ts, group.to_numpy()))
        mate, mate_is_a, waits = _pair(
            group.to_numpy().astype(np.int64)[order], ts[order],
            frame.get_column(_ROLE).to_numpy().astype(np.int8)[order],
            self.gap_us, self.pattern.order == "a_then_b",
        )
        # Back to frame rows; matches in (key, time, arrival) order of their later event.
        later = np.flatnonzero(mate >= 0)
        earlier = order[mate[later]]
        earlier_is_a = mate_is_a[later]
        later = order[later]
        key = frame.get_column(KEY_COL).to_numpy()
        emit = np.lexsort((seq[later], ts[later], key[later]))
        matches = self._matches(frame, earlier[emit], later[emit], earlier_is_a[emit])
        still = order[waits]
        end = ts[still] + self.gap_us
        due = end <= limit if inclusive else end < limit
        self._record(frame[pl.Series(still[due])])
        self.waiting = frame[pl.Series(np.sort(still[~due]))]
        return matches

    def _expire(self, limit: int, *, inclusive: bool) -> None:
        w = self.waiting
        if w is None or w.height == 0:
            return
        end = pl.col(_TS) + self.gap_us
        due = (end <= limit) if inclusive else (end < limit)
        self._record(w.filter(due))
        self.waiting = w.filter(~due)

    def _record(self, expired: pl.DataFrame) -> None:
        if expired.height:
            self.expired.append(expired.sort(KEY_COL, _TS, SEQ_COL))

    def _matches(self, frame: pl.DataFrame, earlier: Ints, later: Ints,
                 earlier_is_a: npt.NDArray[np.bool_]) -> list[Match]:
        n = earlier.shape[0]
        if n == 0:
            return []
        pair = np.empty(2 * n, dtype=np.int64)
        pair[0::2] = earlier
        pair[1::2] = later
        rows = pl.Series(pair)
        ids = frame.get_column(_ID).gather(rows).to_list()
        ts = frame.get_column(_TS).to_numpy()[pair]
        times = _datetimes(ts)
        gaps = ((ts[1::2] - ts[0::2]) / 1e6).tolist()
        keys = frame.get_column(KEY_COL).to_numpy()[later].tolist()
        corr = self.pattern.correlate_on
        values = (frame.select(corr).gather(pl.Series(later)).rows() if corr
                  else [()] * n)
        name = self.pattern.name
        out = []
        for i, (k, first_a, gap, vals) in enumerate(
            zip(keys, earlier_is_a.tolist(), gaps, values, strict=True)
        ):
            measures = {"gap_s": gap, **dict(zip(corr, vals, strict=True))} if corr else {
                "gap_s": gap}
            out.append(Match(name, self.keys[k], times[2 * i], times[2 * i + 1],
                             ids[2 * i: 2 * i + 2], ["a", "b"] if first_a else ["b", "a"],
                             measures, None))
        return out

    def build_partials(self) -> list[PartialMatch]:
        """The timed-out partial matches of every expired event, in order of expiry."""
        for frame in self.expired[self.built:]:
            self.partials.extend(self._partials(frame))
        self.built = len(self.expired)
        return self.partials

    def _partials(self, expired: pl.DataFrame) -> list[PartialMatch]:
        ts = expired.get_column(_TS).to_numpy()
        starts = _datetimes(ts)
        ends = _datetimes(ts + self.gap_us)
        ids = expired.get_column(_ID).to_list()
        roles = expired.get_column(_ROLE).to_list()
        name = self.pattern.name
        out = []
        for i, (k, r) in enumerate(zip(expired.get_column(KEY_COL).to_list(), roles, strict=True)):
            label = "a" if r & ROLE_A else "b"
            out.append(PartialMatch(name, self.keys[k], label, [ids[i]], [label], starts[i],
                                    ends[i], "window expired"))
        return out


class _TimedOut(Sequence[PartialMatch]):
    """An engine's timed-out partial matches, a read-only list built on first access."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __len__(self) -> int:
        return sum(f.height for f in self._engine.expired)

    @overload
    def __getitem__(self, index: int) -> PartialMatch: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PartialMatch]: ...
    def __getitem__(self, index: int | slice) -> PartialMatch | Sequence[PartialMatch]:
        return self._engine.build_partials()[index]

    def __iter__(self) -> Iterator[PartialMatch]:
        return iter(self._engine.build_partials())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


def _datetimes(us: Ints) -> list[Any]:
    return pl.Series(us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")).to_list()

