"""The ``geofence`` kind: per key, enter / exit / dwell matches against a circle or a polygon.

Semantics (per key, events in time order, equal times in input order):

* Each event is *inside* or *outside* the shape; the boundary counts as inside (circles by
  haversine distance on a sphere of radius 6,371,008.8 m, polygons by ray casting in the lat/lon
  plane; both with a 0.1 mm tolerance, see :mod:`cep.matcher.detectors._geo`).
* The first event of a key only sets its state: it never emits, even when it is inside.
* ``enter``: an inside event whose previous event (of the key) was outside. One match with
  event_ids = [the last outside event, the first inside event], classifiers
  ``["outside", "inside"]``, start/end = their times.
* ``exit``: the mirror image, classifiers ``["inside", "outside"]``.
* ``dwell``: a *visit* is a run of inside events, from its first event ``v`` until the next
  outside event ``x`` of the key. It matches once when the key has stayed inside for at least
  ``dwell``: when no outside event comes before the deadline ``d = v.ts + dwell`` (an outside
  event at exactly ``d`` still lets the visit match: it lasted ``dwell``). The match is
  *time-driven*: it fires when event time passes ``d`` (a vehicle that falls silent inside the
  fence still matches), not at the next event. event_ids = [v], classifier ``enter`` (or
  ``inside`` when v was the key's first event, whose entry was not seen: the visit counts from
  it), start = v.ts and **end = the deadline d**. Deadlines beyond the last event time are
  reported as ``pending`` (``ended`` = d) rather than matched.
* measures: ``lat``, ``lon`` of the event that crossed (the second event of an enter / exit,
  the visit's first event for dwell), its ``distance_m`` from the circle's centre (circles
  only) and ``dwell_s`` (dwell only).
* Order: keys by first appearance; within a key, matches in time order (each trigger has one
  time: the inside/outside event, or the deadline).

Time rule (batch equals stream): during streaming a deadline fires once the watermark is past
it; at the end of the stream it fires when it is at most the last event time seen (or at most
``now`` given to ``flush``; the later of the two).

Worked example: a 1°×1° square, one truck, events a minute apart (ids 1..6), ``dwell`` 2m.

====  =====  ==========  ===================  ===========================================
id    time   (lat, lon)  inside?              why
====  =====  ==========  ===================  ===========================================
1     00:00  (0.5, 0.5)  yes                  first event: sets the state, no match
2     00:01  (2, 2)      no                   exit [1, 2]
3     00:02  (1, 0.5)    yes (on the edge)    enter [2, 3]; a visit starts, deadline 00:04
4     00:03  (0.5, 0.5)  yes
5     00:04  (2, 2)      no                   exit [4, 5]; left at 00:04 = the deadline: dwell [3]
6     00:05  (0.5, 0.5)  yes                  enter [5, 6]; deadline 00:07 > 00:05: pending
====  =====  ==========  ===================  ===========================================

>>> from datetime import UTC, datetime, timedelta
>>> from cep.model import parse_pattern
>>> square = {"type": "polygon", "vertices": [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1},
...                                           {"lat": 1, "lon": 1}, {"lat": 1, "lon": 0}]}
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> events = pl.DataFrame({
...     "id": [1, 2, 3, 4, 5, 6], "truck": ["T1"] * 6,
...     "ts": [t0 + timedelta(minutes=m) for m in range(6)],
...     "lat": [0.5, 2, 1, 0.5, 2, 0.5], "lon": [0.5, 2, 0.5, 0.5, 2, 0.5]})
>>> def run(trigger, **extra):
...     pattern = parse_pattern({"kind": "geofence", "name": "depot", "partition_by": ["truck"],
...                              "shape": square, "trigger": trigger, **extra})
...     return find_matches(pattern, events)
>>> [(m.event_ids, m.classifiers) for m in run("enter").matches]
[([2, 3], ['outside', 'inside']), ([5, 6], ['outside', 'inside'])]
>>> [m.event_ids for m in run("exit").matches]
[[1, 2], [4, 5]]
>>> result = run("dwell", dwell="2m")
>>> [(m.event_ids, m.classifiers, m.end.strftime("%H:%M")) for m in result.matches]
[([3], ['enter'], '00:04')]
>>> [(p.event_ids, p.ended.strftime("%H:%M"), p.reason) for p in result.pending]
[([6], '00:07', 'pending')]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep.errors import EventDataError, UnsupportedFeature
from cep.events import check_fields, require_numeric
from cep.matcher.detectors import _geo
from cep.matcher.frame import prepare_events
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import Circle, GeofencePattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_STATE_VERSION = 1
_NEVER = np.iinfo(np.int64).max

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


def find_matches(pattern: GeofencePattern, events: pl.DataFrame) -> MatchResult:
    """Find the enter / exit / dwell matches of ``pattern`` in ``events`` (module docstring).

    Equals feeding every event to an :class:`Engine` and calling ``finish(None)``.

    Raises:
        EventDataError: a coordinate field is missing, not numeric, null or out of range.
    """
    started = time.perf_counter()
    events = _numeric_coordinates(pattern, events)
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    engine = Engine(pattern)
    matches: list[Match] = []
    if prepared.height:
        order = pl.Series(prepared.order)
        ids = (events.get_column(prepared.id_column).gather(order) if prepared.id_column
               else pl.Series("id", prepared.order))
        lat = events.get_column(pattern.lat_field).gather(order).cast(pl.Float64).to_numpy()
        lon = events.get_column(pattern.lon_field).gather(order).cast(pl.Float64).to_numpy()
        if pattern.partition_by:
            firsts = pl.Series(prepared.order[prepared.part_start])
            rows = events.select(pattern.partition_by).gather(firsts).to_dicts()
            engine.keys = dict(enumerate(rows))
        else:
            engine.keys = {0: {}}
        batch = engine.classify(prepared.part_numbers(), prepared.ts_us, ids, lat, lon)
        end = int(prepared.ts_us.max())
        engine.max_ts = end
        matches = engine.advance(batch, end, inclusive=True)
    stats = {
        "events": events.height,
        "matches": len(matches),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "path": "vectorised",
    }
    return MatchResult(matches=matches, stats=stats, pending=engine.pending)


def _numeric_coordinates(pattern: GeofencePattern, events: pl.DataFrame) -> pl.DataFrame:
    check_fields(events, {pattern.lat_field: "lat_field", pattern.lon_field: "lon_field"})
    events = require_numeric(events, pattern.lat_field)
    return require_numeric(events, pattern.lon_field)


def _check_range(name: str, values: Floats, ids: pl.Series, limit: float) -> None:
    """Raise naming the first event whose coordinate is missing or out of [-limit, limit]."""
    bad = ~(np.abs(values) <= limit)  # NaN (a null) fails the comparison too
    if bad.any():
        row = int(np.argmax(bad))
        value = values[row]
        what = "has no value" if np.isnan(value) else f"is {value}, outside -{limit:g}..{limit:g}"
        raise EventDataError(f"field {name!r} of event {ids[row]!r} {what}")


@dataclass
class _Rows:
    """Events (carried state rows first per key) in (key, time, arrival) order, as columns."""

    key: Ints
    ts: Ints
    ids: pl.Series
    lat: Floats
    lon: Floats
    dist: Floats
    inside: Bools
    entered: Bools  # on a visit's first row: the visit began with an entry
    fired: Bools  # on a visit's first row: its dwell already matched
    carried: Bools

    @property
    def size(self) -> int:
        return int(self.key.shape[0])


class Engine:
    """Incremental geofence matching (``cep.matcher.stream.Engine``).

    Between calls it keeps one row per key seen: the key's last event (``enter``/``exit``), or
    for ``dwell`` the first event of its current visit when the key is inside (with whether the
    visit already matched), else its last event.
    """

    def __init__(self, pattern: GeofencePattern) -> None:
        self.pattern = pattern
        self.dwell_us = 0 if pattern.dwell is None else pattern.dwell.microseconds
        self.keys: dict[int, dict[str, Any]] = {}
        self.carried: _Rows | None = None
        self.max_ts: int | None = None
        self.timed_out: list[PartialMatch] = []

    # --- Engine protocol -----------------------------------------------------------------
    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return enter/exit matches and the dwells now certain."""
        for number, values in chunk.keys.items():
            self.keys.setdefault(number, values)
        frame = chunk.frame
        if frame.height == 0:
            return self.on_time(chunk.watermark_us)
        frame = _numeric_coordinates(self.pattern, frame)
        ts = frame.get_column(chunk.order_by).cast(pl.Datetime("us", "UTC")).dt.epoch("us")
        ts_us = ts.to_numpy().astype(np.int64, copy=False)
        ids = frame.get_column(chunk.id_column or SEQ_COL)
        rows = self.classify(
            frame.get_column(KEY_COL).to_numpy().astype(np.int64, copy=False), ts_us, ids,
            frame.get_column(self.pattern.lat_field).cast(pl.Float64).to_numpy(),
            frame.get_column(self.pattern.lon_field).cast(pl.Float64).to_numpy(),
        )
        last = int(ts_us.max())
        self.max_ts = last if self.max_ts is None else max(self.max_ts, last)
        return self.advance(rows, chunk.watermark_us, inclusive=False)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Event time reached ``watermark_us``: dwells whose deadline is before it match."""
        return self._expire(watermark_us, inclusive=False)

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream: dwells with a deadline at most the last event time (or ``now_us``)."""
        limits = [t for t in (self.max_ts, now_us) if t is not None]
        return self._expire(max(limits), inclusive=True) if limits else []

    @property
    def pending(self) -> list[PartialMatch]:
        """Open visits whose dwell deadline event time has not passed yet (``ended`` = it)."""
        c = self.carried
        if self.pattern.trigger != "dwell" or c is None:
            return []
        rows = np.flatnonzero(c.inside & ~c.fired)
        ids = c.ids.gather(pl.Series(rows, dtype=pl.Int64)).to_list()
        starts = _datetimes(c.ts[rows])
        ends = _datetimes(c.ts[rows] + self.dwell_us)
        return [
            PartialMatch(self.pattern.name, self.keys[int(c.key[r])], "inside", [ids[i]],
                         [_visit_label(bool(c.entered[r]))], starts[i], ends[i], "pending")
            for i, r in enumerate(rows.tolist())
        ]

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        c = self.carried
        return {
            "version": _STATE_VERSION,
            "keys": [[k, v] for k, v in self.keys.items()],
            "max_ts": self.max_ts,
            "carried": None if c is None else frame_to_state(pl.DataFrame({
                "key": c.key, "ts": c.ts, "id": c.ids, "lat": c.lat, "lon": c.lon,
                "dist": c.dist, "inside": c.inside, "entered": c.entered, "fired": c.fired,
            })),
        }

    @classmethod
    def from_state(cls, pattern: GeofencePattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        if state.get("version") != _STATE_VERSION:
            raise UnsupportedFeature(f"geofence engine state version {state.get('version')!r} "
                                     f"is not supported (expected {_STATE_VERSION})")
        engine = cls(pattern)
        engine.keys = {int(k): dict(v) for k, v in state["keys"]}
        engine.max_ts = state["max_ts"]
        if state["carried"] is not None:
            f = frame_from_state(state["carried"])

            def col(name: str) -> Any:
                return f.get_column(name).to_numpy()

            engine.carried = _Rows(
                col("key").astype(np.int64), col("ts").astype(np.int64), f.get_column("id"),
                col("lat"), col("lon"), col("dist"), col("inside").astype(np.bool_),
                col("entered").astype(np.bool_), col("fired").astype(np.bool_),
                np.ones(f.height, dtype=np.bool_),
            )
        return engine

    # --- internals -----------------------------------------------------------------------
    def classify(self, key: Ints, ts: Ints, ids: pl.Series, lat: Floats, lon: Floats) -> _Rows:
        """Events sorted by (key, time, arrival) with their inside flags, vectorised."""
        _check_range(self.pattern.lat_field, lat, ids, 90.0)
        _check_range(self.pattern.lon_field, lon, ids, 180.0)
        shape = self.pattern.shape
        if isinstance(shape, Circle):
            inside, dist = _geo.circle_inside(shape, lat, lon)
        else:
            inside = _geo.polygon_inside(shape, lat, lon)
            dist = np.full(lat.shape[0], np.nan)
        n = key.shape[0]
        return _Rows(key, ts, ids.alias("id"), lat, lon, dist, inside,
                     *(np.zeros(n, dtype=np.bool_) for _ in range(3)))

    def advance(self, rows: _Rows, limit: int, *, inclusive: bool) -> list[Match]:
        """Run ``rows`` after the carried state; deadlines before ``limit`` (or at it) fire."""
        rows = self._with_carried(rows)
        n = rows.size
        key, inside = rows.key, rows.inside
        first = np.ones(n, dtype=np.bool_)
        first[1:] = key[1:] != key[:-1]
        last = np.ones(n, dtype=np.bool_)
        last[:-1] = first[1:]
        if self.pattern.trigger != "dwell":
            want = self.pattern.trigger == "enter"
            hit = np.zeros(n, dtype=np.bool_)
            hit[1:] = inside[1:] != inside[:-1]
            hit &= ~first & (inside == want)
            at = np.flatnonzero(hit)
            self.carried = _take(rows, np.flatnonzero(last))
            return self._transition_matches(rows, at)
        # dwell: visits are the runs of inside rows of a key.
        run_start = first.copy()
        run_start[1:] |= inside[1:] != inside[:-1]
        starts = np.flatnonzero(run_start)
        ends = np.append(starts[1:], n)
        visit = inside[starts]
        v, after = starts[visit], ends[visit]
        nxt = np.minimum(after, n - 1)
        left = (after < n) & (key[nxt] == key[v])
        exit_ts = np.where(left, rows.ts[nxt], _NEVER)
        deadline = rows.ts[v] + self.dwell_us
        entered = np.where(rows.carried[v], rows.entered[v], ~first[v])
        # A visit that ended at or after its deadline matched; an open one matches once time
        # passes the deadline.
        due = deadline <= limit if inclusive else deadline < limit
        fire = ~rows.fired[v] & np.where(left, exit_ts >= deadline, due)
        # The state kept per key: the open visit's first row, else the key's last row.
        keep = last & ~inside
        keep[v[~left]] = True
        rows.entered[v] = entered
        rows.fired[v] |= fire
        self.carried = _take(rows, np.flatnonzero(keep))
        return self._dwell_matches(rows, v[fire])

    def _expire(self, limit: int, *, inclusive: bool) -> list[Match]:
        c = self.carried
        if self.pattern.trigger != "dwell" or c is None:
            return []
        deadline = c.ts + self.dwell_us
        due = (deadline <= limit) if inclusive else (deadline < limit)
        fire = np.flatnonzero(c.inside & ~c.fired & due)
        if fire.shape[0] == 0:
            return []
        c.fired[fire] = True
        return self._dwell_matches(c, fire)

    def _with_carried(self, rows: _Rows) -> _Rows:
        c = self.carried
        if c is None or c.size == 0:
            return rows
        ids = pl.concat([c.ids.to_frame(), rows.ids.to_frame()], how="vertical_relaxed")

        def both(a: Any, b: Any) -> Any:
            return np.concatenate([a, b])

        joined = _Rows(
            both(c.key, rows.key), both(c.ts, rows.ts), ids.to_series(), both(c.lat, rows.lat),
            both(c.lon, rows.lon), both(c.dist, rows.dist), both(c.inside, rows.inside),
            both(c.entered, rows.entered), both(c.fired, rows.fired),
            both(np.ones(c.size, np.bool_), np.zeros(rows.size, np.bool_)),
        )
        # A stable sort by key keeps each key's carried row before its new events.
        return _take(joined, np.argsort(joined.key, kind="stable"))

    def _transition_matches(self, rows: _Rows, at: Ints) -> list[Match]:
        if at.shape[0] == 0:
            return []
        pair = np.empty(2 * at.shape[0], dtype=np.int64)
        pair[0::2] = at - 1
        pair[1::2] = at
        ids = rows.ids.gather(pl.Series(pair)).to_list()
        times = _datetimes(rows.ts[pair])
        labels = ["outside", "inside"] if self.pattern.trigger == "enter" else ["inside", "outside"]
        measures = self._measures(rows.lat[at].tolist(), rows.lon[at].tolist(), rows.dist[at])
        name, keys = self.pattern.name, self.keys
        return [
            Match(name, keys[k], times[2 * i], times[2 * i + 1], ids[2 * i: 2 * i + 2],
                  list(labels), measures[i], None)
            for i, k in enumerate(rows.key[at].tolist())
        ]

    def _dwell_matches(self, rows: _Rows, at: Ints) -> list[Match]:
        if at.shape[0] == 0:
            return []
        ids = rows.ids.gather(pl.Series(at)).to_list()
        starts = _datetimes(rows.ts[at])
        ends = _datetimes(rows.ts[at] + self.dwell_us)
        measures = self._measures(rows.lat[at].tolist(), rows.lon[at].tolist(), rows.dist[at])
        dwell_s = self.dwell_us / 1e6
        name, keys = self.pattern.name, self.keys
        return [
            Match(name, keys[k], starts[i], ends[i], [ids[i]], [_visit_label(e)],
                  {**measures[i], "dwell_s": dwell_s}, None)
            for i, (k, e) in enumerate(zip(rows.key[at].tolist(), rows.entered[at].tolist(),
                                           strict=True))
        ]

    def _measures(self, lat: list[float], lon: list[float], dist: Floats) -> list[dict[str, Any]]:
        if isinstance(self.pattern.shape, Circle):
            return [{"lat": a, "lon": o, "distance_m": d}
                    for a, o, d in zip(lat, lon, dist.tolist(), strict=True)]
        return [{"lat": a, "lon": o} for a, o in zip(lat, lon, strict=True)]


def _visit_label(entered: bool) -> str:
    return "enter" if entered else "inside"


def _take(rows: _Rows, at: Ints) -> _Rows:
    return _Rows(rows.key[at], rows.ts[at], rows.ids.gather(pl.Series(at, dtype=pl.Int64)),
                 rows.lat[at], rows.lon[at], rows.dist[at], rows.inside[at], rows.entered[at],
                 rows.fired[at], rows.carried[at])


def _datetimes(us: Ints) -> list[Any]:
    return pl.Series(us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")).to_list()
