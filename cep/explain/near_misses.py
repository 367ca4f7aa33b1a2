"""Near misses: the partial matches of one key that did not complete, and why.

``find_near_misses`` looks at one key (and optionally a time range) and returns what almost
matched, closest calls first: the furthest step reached, the events bound so far, the event that
broke it (if one did) and a reason from :data:`cep.explain.payload.REASONS` with one English
sentence. Detector kinds are measured on the key's events with arrays; ``sequence`` and
``match_recognize`` are simulated per key by ``cep.explain.prefixes``, which bounds its work to
:data:`MAX_KEY_EVENTS` events of the key.

What counts as a near miss, per kind:

* ``count_threshold`` / ``velocity``: per stretch of overlapping windows that never reached the
  threshold, the fullest window (``threshold_not_reached``);
* ``trend``: runs of two or more values that broke before ``count`` (``run_broken``, the breaking
  event) or that the data ended (``data_ended``);
* ``outlier``: values beyond the threshold judged on a baseline shorter than ``min_samples``
  (``baseline_too_short``) and the highest scores below the threshold
  (``threshold_not_reached``);
* ``session``: closed sessions that failed ``having`` (``having_not_met``);
* ``dedup``: repeats that came at or after the end of the kept event's window, among the
  events where ``where`` holds (``window_expired``);
* ``geofence``: for enter / exit the closest approach to the boundary without crossing it, in
  metres (``boundary_not_crossed``); for dwell the visits that left too early
  (``threshold_not_reached``);
* ``temporal_correlation``: events whose window passed without a partner (``window_expired``);
* ``heartbeat``: the longest silences that stayed within the timeout (``threshold_not_reached``);
* ``state_machine``: events that took no transition (``no_transition``);
* ``absence``: waits the expected event closed, closest to the deadline first
  (``expected_arrived``);
* every kind: deadlines the data ended before (``data_ended``, the matcher's ``pending``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.errors import CepError, EventDataError
from cep.explain.keyed import ID, KEY, TS, KeyedEvents, key_label, prepare_keyed
from cep.explain.payload import NearMiss, NearMissReason
from cep.explain.rules import conjuncts, parse, trend_step
from cep.explain.snapshot import baseline_rows, from_us, outlier_score
from cep.model import (
    AbsencePattern,
    CountThresholdPattern,
    DedupPattern,
    GeofencePattern,
    HeartbeatPattern,
    OutlierPattern,
    Pattern,
    SessionPattern,
    StateMachinePattern,
    TemporalCorrelationPattern,
    TrendPattern,
    VelocityPattern,
)
from cep.results import MatchResult, format_time

__all__ = ["DEFAULT_LIMIT", "MAX_KEY_EVENTS", "find_near_misses", "find_near_misses_by_key"]

DEFAULT_LIMIT = 100
"""Near misses returned at most (closest calls first)."""

MAX_KEY_EVENTS = 2_000
"""Events of the key (within the time range) a simulation reads: the first ones in time order.
A near miss is searched for on demand for one key, so its work is bounded here rather than
vectorised over every key."""

_PER_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def _t(us: int | None) -> str:
    return format_time(from_us(us)) or "?"


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass
class KeyView:
    """One key's events (sorted), the matcher's result for it, and builders of near misses."""

    pattern: Pattern
    key: dict[str, Any]
    frame: pl.DataFrame
    result: MatchResult
    last_us: int
    ids: list[Any] = field(default_factory=list)
    ts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.ids = self.frame.get_column(ID).to_list()
        self.ts = self.frame.get_column(TS).to_numpy()

    def mask(self, condition: str | None, *, navigation: bool = False) -> npt.NDArray[np.bool_]:
        """Where a row condition holds on the key's events (NULL is false)."""
        if condition is None:
            return np.ones(self.frame.height, dtype=np.bool_)
        expr = E.to_polars(parse(condition), partition_col=KEY if navigation else None)
        return self.frame.select(expr.fill_null(False)).to_series().to_numpy().astype(np.bool_)

    def miss(self, *, step: str, done: int, total: int, rows: list[int], classifiers: list[str],
             broken: int | None, reason: NearMissReason, text: str, ended_us: int | None = None,
             details: dict[str, Any] | None = None) -> NearMiss:
        """A near miss over key rows ``rows`` (positions in ``frame``)."""
        started = from_us(int(self.ts[rows[0]])) if rows else None
        if ended_us is None:
            ended_us = int(self.ts[broken]) if broken is not None else (
                int(self.ts[rows[-1]]) if rows else None)
        return NearMiss(
            pattern=self.pattern.name, kind=self.pattern.kind, key=dict(self.key),
            step_reached=step, steps_done=done, steps_total=total,
            event_ids=tuple(self.ids[r] for r in rows), classifiers=tuple(classifiers),
            broken_by=None if broken is None else self.ids[broken], reason=reason,
            reason_text=text, started=started, ended=from_us(ended_us), details=details or {})

    def row_of(self, event_id: Any) -> int:
        """Position of an event id in the key's frame."""
        return self.ids.index(event_id)


def find_near_misses(pattern: Pattern, events: pl.DataFrame, *, key: Any = None,
                     start: datetime | None = None, end: datetime | None = None,
                     limit: int = DEFAULT_LIMIT) -> list[NearMiss]:
    """Partial matches of one key that did not complete, closest calls first.

    Args:
        pattern: the pattern.
        events: the events (all keys: some kinds' deadlines depend on the latest event time of
            the whole stream).
        key: the key: a dict of the partition columns, or the value when there is one; may be
            left out when the pattern has no ``partition_by``.
        start: only events at or after this time are read.
        end: only events before this time are read.
        limit: near misses returned at most.

    Raises:
        EventDataError: the key has no events, or is missing while ``partition_by`` is set.
    """
    if limit < 1:
        raise EventDataError(f"limit must be at least 1, got {limit}")
    if start is not None and end is not None and end <= start:
        raise EventDataError(f"the time range is empty: end {end} is not after start {start}")
    view = key_view(pattern, events, key=key, start=start, end=end)
    return [] if view is None else _misses(view, limit)


def find_near_misses_by_key(pattern: Pattern, events: pl.DataFrame, *, max_keys: int = 3,
                            limit: int = 10, scan_keys: int = 50
                            ) -> list[tuple[dict[str, Any], list[NearMiss]]]:
    """Near misses of the first keys (in order of first appearance) that have any.

    The matcher runs once; at most ``scan_keys`` keys are looked at, and at most ``max_keys``
    keys with near misses are returned, each with at most ``limit`` of them.
    """
    from cep.matcher import find_matches

    keyed = prepare_keyed(pattern, events)
    result = find_matches(pattern, events)
    out: list[tuple[dict[str, Any], list[NearMiss]]] = []
    for number in range(min(len(keyed.keys), scan_keys)):
        misses = _misses(_view(keyed, number, result), limit)
        if misses:
            out.append((keyed.keys[number], misses))
            if len(out) == max_keys:
                break
    return out


def _misses(view: KeyView, limit: int) -> list[NearMiss]:
    finder = _FINDERS.get(view.pattern.kind)
    misses = finder(view.pattern, view) if finder is not None else []
    misses += _pending(view)
    return _closest_first(misses)[:limit]


def key_view(pattern: Pattern, events: pl.DataFrame, *, key: Any, start: datetime | None = None,
             end: datetime | None = None) -> KeyView | None:
    """The key's events in the range, and the matcher's result on them (None: no events)."""
    from cep.matcher import find_matches

    ranged = start is not None or end is not None
    keyed = prepare_keyed(pattern, _in_range(pattern, events, start, end))
    if key is None:
        if pattern.partition_by:
            shown = ", ".join(key_label(k) for k in keyed.keys[:5])
            raise EventDataError(
                f"give a key: pattern {pattern.name!r} is partitioned by "
                f"{', '.join(pattern.partition_by)} (keys found: {shown or 'none'})")
        if not keyed.keys:
            return None
        number = 0
    else:
        try:
            number = keyed.key_number(key)
        except EventDataError:
            if not ranged:
                raise
            prepare_keyed(pattern, events).key_number(key)  # unknown anywhere: say so
            return None  # the key has no events in the range
    return _view(keyed, number, find_matches(pattern, keyed.events))


def _view(keyed: KeyedEvents, number: int, result: MatchResult) -> KeyView:
    last_us = int(keyed.ts_us().max()) if keyed.frame.height else 0
    return KeyView(pattern=keyed.pattern, key=keyed.keys[number],
                   frame=keyed.key_frame(number).head(MAX_KEY_EVENTS),
                   result=_for_key(result, keyed.keys[number]), last_us=last_us)


def _in_range(pattern: Pattern, events: pl.DataFrame, start: datetime | None,
              end: datetime | None) -> pl.DataFrame:
    if start is None and end is None:
        return events
    time = pl.col(pattern.order_by)
    cond = pl.lit(True)
    if start is not None:
        cond = cond & (time >= start)
    if end is not None:
        cond = cond & (time < end)
    return events.filter(cond)


def _for_key(result: MatchResult, key: dict[str, Any]) -> MatchResult:
    return MatchResult(
        matches=[m for m in result.matches if m.key == key],
        stats=dict(result.stats),
        timed_out=[p for p in result.timed_out if p.key == key],
        pending=[p for p in result.pending if p.key == key])


_ORDER = {"data_ended": 1}


def _closest_first(misses: list[NearMiss]) -> list[NearMiss]:
    """Closest first: the share of the steps done (or ``details['share']``, how close a measured
    value came to its limit), then data-ended ones after the others, then by time."""
    def rank(m: NearMiss) -> tuple[float, int, float]:
        share = m.details.get("share")
        if share is None:
            share = m.steps_done / m.steps_total if m.steps_total else 0.0
        when = m.started.timestamp() if m.started else 0.0
        return (-share, _ORDER.get(m.reason, 0), when)

    return sorted(misses, key=rank)


def _pending(view: KeyView) -> list[NearMiss]:
    """The matcher's pending deadlines: the data ended before they could fire."""
    out = []
    for p in view.result.pending:
        rows = [view.row_of(i) for i in p.event_ids if i in view.ids]
        deadline = format_time(p.ended)
        out.append(view.miss(
            step=p.step_reached, done=0, total=1, rows=rows,
            classifiers=list(p.classifiers), broken=None, reason="data_ended",
            text=(f"The data ends at {_t(view.last_us)}, before its deadline {deadline}: it would "
                  f"match only if nothing changes until then."),
            ended_us=view.last_us, details={"deadline": p.ended}))
    return out


Finder = Callable[[Any, KeyView], list[NearMiss]]


def _group_peaks(values: npt.NDArray[np.float64], restart: npt.NDArray[np.bool_],
                 below: npt.NDArray[np.bool_]) -> list[int]:
    """Indexes of the local peaks of a windowed total that stayed below its threshold.

    Values are checked at each qualifying event. A stretch is a run of values below the
    threshold that keeps rising; it ends where the window empties (``restart``), where the value
    falls (a peak: a near miss), or where it reaches the threshold (the build-up of a match,
    not a miss). A value reached only by decay after a match is not a peak.
    """
    def rose(i: int) -> bool:  # reached by a rise or a fresh window, not by decay
        return i == 0 or bool(restart[i]) or values[i] > values[i - 1]

    peaks: list[int] = []
    best = -1
    for i in range(values.shape[0]):
        if not below[i]:
            best = -1  # the stretch reached the threshold: a match, not a miss
            continue
        if best >= 0 and (restart[i] or values[i] < values[best]):
            if rose(best):
                peaks.append(best)
            best = -1
        if best < 0 or values[i] >= values[best]:
            best = i
    if best >= 0 and rose(best):
        peaks.append(best)
    return peaks


def _sliding(view: KeyView, where: str | None, window_s: float, value_field: str | None = None
             ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per qualifying event: first row of its window (T - window, T], the rows, the total."""
    mask = view.mask(where)
    values = None
    if value_field is not None:
        values = view.frame.get_column(value_field).cast(pl.Float64).to_numpy()
        mask &= ~np.isnan(values)
    rows = np.flatnonzero(mask)
    ts = view.ts[rows]
    w = round(window_s * 1e6)
    lo = np.searchsorted(ts, ts - w, side="right")
    hi = np.searchsorted(ts, ts, side="right")  # equal times count together
    if values is None:
        totals = (hi - lo).astype(np.float64)
    else:
        csum = np.concatenate([[0.0], np.cumsum(values[rows])])
        totals = csum[hi] - csum[lo]
    return rows, lo, totals


def _count_threshold(p: CountThresholdPattern, view: KeyView) -> list[NearMiss]:
    where = f" where {p.where}" if p.where else ""
    if p.window_type == "tumbling":
        mask = view.mask(p.where)
        rows = np.flatnonzero(mask)
        w = round(p.window.seconds * 1e6)
        buckets = view.ts[rows] // w
        out = []
        for bucket in np.unique(buckets).tolist():
            members = rows[buckets == bucket].tolist()
            if len(members) >= p.threshold:
                continue
            out.append(view.miss(
                step="event", done=len(members), total=p.threshold, rows=members,
                classifiers=["event"] * len(members), broken=None,
                reason="threshold_not_reached", ended_us=(bucket + 1) * w,
                text=(f"Only {len(members)} of the {p.threshold} events{where} needed fell in "
                      f"the {p.window} window {_t(bucket * w)} to {_t((bucket + 1) * w)}."),
                details={"count": len(members), "threshold": p.threshold,
                         "window_start": from_us(bucket * w), "window_end": from_us(
                             (bucket + 1) * w)}))
        return out
    rows, lo, totals = _sliding(view, p.where, p.window.seconds)
    below = totals < p.threshold
    restart = np.zeros(rows.shape[0], dtype=np.bool_)
    restart[1:] = lo[1:] >= np.arange(1, rows.shape[0])  # the window holds nothing earlier
    out = []
    for i in _group_peaks(totals, restart, below):
        members = rows[lo[i]:i + 1].tolist()
        count = int(totals[i])
        t = int(view.ts[rows[i]])
        out.append(view.miss(
            step="event", done=count, total=p.threshold, rows=members,
            classifiers=["event"] * len(members), broken=None, reason="threshold_not_reached",
            text=(f"At most {count} of the {p.threshold} events{where} needed fell within "
                  f"{p.window} (the window ending {_t(t)})."),
            details={"count": count, "threshold": p.threshold, "window_end": from_us(t),
                     "window_s": p.window.seconds}))
    return out


def _velocity(p: VelocityPattern, view: KeyView) -> list[NearMiss]:
    rows, lo, totals = _sliding(view, p.where, p.window.seconds, p.value_field)
    rates = totals / (p.window.seconds / _PER_S[p.per])
    below = rates < p.threshold
    restart = np.zeros(rows.shape[0], dtype=np.bool_)
    restart[1:] = lo[1:] >= np.arange(1, rows.shape[0])
    what = f"sum of {p.value_field}" if p.value_field else "count"
    out = []
    for i in _group_peaks(rates, restart, below):
        members = rows[lo[i]:i + 1].tolist()
        rate = float(rates[i])
        t = int(view.ts[rows[i]])
        out.append(view.miss(
            step="event", done=0, total=1, rows=members, classifiers=["event"] * len(members),
            broken=None, reason="threshold_not_reached",
            text=(f"The {what} over {p.window} peaked at {_num(rate)} per {p.per} (window ending "
                  f"{_t(t)}), below the threshold {_num(p.threshold)}."),
            details={"rate": rate, "threshold": p.threshold, "per": p.per,
                     "share": rate / p.threshold, "window_end": from_us(t)}))
    return out


def _trend(p: TrendPattern, view: KeyView) -> list[NearMiss]:
    ok = view.frame.select(E.to_polars(trend_step(p)).fill_null(False)).to_series().to_numpy()
    ok = ok.astype(np.bool_)
    if ok.shape[0]:
        ok[0] = False
    starts = [*np.flatnonzero(~ok).tolist(), ok.shape[0]]
    moves = {"up": "rising", "down": "falling", "flat": "flat"}[p.direction]
    matched = {view.row_of(m.event_ids[0]) for m in view.result.matches}
    out = []
    for a, b in itertools.pairwise(starts):
        length = b - a
        if length < 2 or length >= p.count or any(a <= r < b for r in matched):
            continue
        rows = list(range(a, b))
        if b < ok.shape[0]:
            out.append(view.miss(
                step=p.direction, done=length, total=p.count, rows=rows,
                classifiers=[p.direction] * length, broken=b, reason="run_broken",
                text=(f"{length} {moves} values of {p.value_field} in a row, then event "
                      f"{view.ids[b]!r} broke the run ({p.count} needed)."),
                details={"run_length": length, "required": p.count}))
        else:
            out.append(view.miss(
                step=p.direction, done=length, total=p.count, rows=rows,
                classifiers=[p.direction] * length, broken=None, reason="data_ended",
                text=(f"{length} {moves} values of {p.value_field} in a row when the data ended "
                      f"({p.count} needed)."),
                details={"run_length": length, "required": p.count}))
    return out


def _outlier(p: OutlierPattern, view: KeyView) -> list[NearMiss]:
    from cep.explain.snapshot import _baseline

    values = view.frame.get_column(p.value_field).cast(pl.Float64).to_numpy()
    valid = np.isfinite(values)
    matched = {view.row_of(m.event_ids[0]) for m in view.result.matches}
    ctx = _Times(view.ts)
    scored: list[tuple[float, int, dict[str, Any], int]] = []
    short: list[NearMiss] = []
    for row in np.flatnonzero(valid).tolist():
        if row in matched:
            continue
        base = baseline_rows(p, ctx, 0, view.frame.height, row, valid)
        stats = _baseline(p, values[base])
        if not stats["samples"]:
            continue
        try:
            score = outlier_score(p, float(values[row]), stats)
        except (KeyError, TypeError):
            continue
        if score is None:
            continue
        n = int(stats["samples"])
        if n < p.min_samples:
            if score > p.threshold:
                short.append(view.miss(
                    step="outlier", done=n, total=p.min_samples, rows=[row],
                    classifiers=["outlier"], broken=None, reason="baseline_too_short",
                    text=(f"{p.value_field} = {_num(float(values[row]))} scored "
                          f"{_num(round(score, 3))} (above {_num(p.threshold)}), but its "
                          f"baseline held only {n} of the {p.min_samples} values needed."),
                    details={"score": score, "samples": n, "min_samples": p.min_samples,
                             **stats}))
            continue
        scored.append((score, row, stats, n))
    scored.sort(key=lambda s: -s[0])
    out = []
    for score, row, stats, _ in scored[:10]:
        out.append(view.miss(
            step="outlier", done=0, total=1, rows=[row], classifiers=["outlier"], broken=None,
            reason="threshold_not_reached",
            text=(f"{p.value_field} = {_num(float(values[row]))} scored {_num(round(score, 3))} "
                  f"({p.method}), not above the threshold {_num(p.threshold)}."),
            details={"score": score, "threshold": p.threshold, "share": score / p.threshold,
                     **stats}))
    return short + out


@dataclass
class _Times:
    """The slice of the snapshot context that ``baseline_rows`` reads."""

    ts: npt.NDArray[np.int64]


def _sessions(p: SessionPattern, view: KeyView) -> list[tuple[int, int, list[int]]]:
    """Closed sessions of the key: (first time, last time, rows)."""
    rows = np.flatnonzero(view.mask(p.where)).tolist()
    gap = round(p.gap.seconds * 1e6)
    cap = round(p.max_duration.seconds * 1e6) if p.max_duration else None
    sessions: list[list[int]] = []
    for r in rows:
        t = int(view.ts[r])
        if sessions:
            cur = sessions[-1]
            first, last = int(view.ts[cur[0]]), int(view.ts[cur[-1]])
            if t - last <= gap and (cap is None or t - first <= cap):
                cur.append(r)
                continue
        sessions.append([r])
    return [(int(view.ts[s[0]]), int(view.ts[s[-1]]), s) for s in sessions]


def _session(p: SessionPattern, view: KeyView) -> list[NearMiss]:
    if not p.having:
        return []
    matched = {m.start for m in view.result.matches}
    pending = {p_.started for p_ in view.result.pending}
    gap = round(p.gap.seconds * 1e6)
    out = []
    for first, last, rows in _sessions(p, view):
        if from_us(first) in matched or from_us(first) in pending:
            continue
        if last + gap > view.last_us and rows[-1] == view.frame.height - 1:
            continue  # still open: not closed, not a near miss yet
        out.append(view.miss(
            step="event", done=0, total=1, rows=rows, classifiers=["event"] * len(rows),
            broken=None, reason="having_not_met",
            text=(f"A session of {len(rows)} events over {_num((last - first) / 1e6)} s "
                  f"closed without satisfying {p.having}."),
            details={"event_count": len(rows), "duration_s": (last - first) / 1e6,
                     "having": p.having}))
    return out


def _dedup(p: DedupPattern, view: KeyView) -> list[NearMiss]:
    w = round(p.window.seconds * 1e6)
    groups = (view.frame.with_row_index("__r").filter(pl.Series(view.mask(p.where)))
              .group_by(list(p.fields), maintain_order=True).agg(pl.col("__r")))
    out = []
    for members in groups.get_column("__r").to_list():
        kept = members[0]
        for r in members[1:]:
            gap = int(view.ts[r] - view.ts[kept])
            if gap < w:
                continue
            values = ", ".join(f"{f}={view.frame.item(r, f)!r}" for f in p.fields)
            late = (gap - w) / 1e6
            out.append(view.miss(
                step="duplicate", done=1, total=2, rows=[kept, r],
                classifiers=["kept", "duplicate"], broken=None, reason="window_expired",
                text=(f"Event {view.ids[r]!r} repeated {values} {_num(gap / 1e6)} s after the "
                      f"kept event {view.ids[kept]!r}, {_num(late)} s after its {p.window} "
                      "window closed, so it was kept, not a duplicate."),
                ended_us=int(view.ts[kept]) + w,
                details={"gap_s": gap / 1e6, "window_s": p.window.seconds, "late_by_s": late,
                         "share": min(w / gap, 0.999) if gap else 0.0}))
            kept = r
    return out


def _geofence(p: GeofencePattern, view: KeyView) -> list[NearMiss]:
    from cep.matcher.detectors import _geo

    lat = view.frame.get_column(p.lat_field).cast(pl.Float64).to_numpy()
    lon = view.frame.get_column(p.lon_field).cast(pl.Float64).to_numpy()
    if p.shape.type == "circle":
        inside, distance = _geo.circle_inside(p.shape, lat, lon)
        margin = np.abs(distance - p.shape.radius_m)
    else:
        inside = _geo.polygon_inside(p.shape, lat, lon)
        margin = _geo.polygon_distance_m(p.shape, lat, lon)
    n = lat.shape[0]
    out = []
    if p.trigger == "dwell" and p.dwell is not None:
        dwell = round(p.dwell.seconds * 1e6)
        r = 0
        while r < n:
            if not inside[r] or (r > 0 and inside[r - 1]):
                r += 1
                continue
            x = r
            while x < n and inside[x]:
                x += 1
            if x < n and int(view.ts[x] - view.ts[r]) < dwell:
                stayed = (int(view.ts[x]) - int(view.ts[r])) / 1e6
                out.append(view.miss(
                    step="enter", done=0, total=1, rows=list(range(r, x)),
                    classifiers=["enter" if r else "inside"] + ["inside"] * (x - r - 1),
                    broken=x, reason="threshold_not_reached",
                    text=(f"Stayed inside for {_num(stayed)} s, then event {view.ids[x]!r} was "
                          f"outside; a dwell needs {p.dwell}."),
                    details={"stayed_s": stayed, "dwell_s": p.dwell.seconds,
                             "share": stayed / p.dwell.seconds}))
            r = x
        return out
    stay = ~inside if p.trigger == "enter" else inside
    r = 0
    while r < n:
        if not stay[r]:
            r += 1
            continue
        x = r
        while x < n and stay[x]:
            x += 1
        if x == n:  # the key never crossed after this stretch
            best = r + int(np.argmin(margin[r:x]))
            side = "outside" if p.trigger == "enter" else "inside"
            out.append(view.miss(
                step=side, done=0, total=1, rows=[best], classifiers=[side], broken=None,
                reason="boundary_not_crossed",
                text=(f"The closest it came to the boundary was {float(margin[best]):,.1f} m "
                      f"(event {view.ids[best]!r}), staying {side} until the data ended."),
                details={"margin": float(margin[best]), "unit": "m"}))
        r = x
    return out


def _correlation(p: TemporalCorrelationPattern, view: KeyView) -> list[NearMiss]:
    b_mask = view.mask(p.b)
    a_mask = view.mask(p.a)
    out = []
    for part in view.result.timed_out:
        row = view.row_of(part.event_ids[0])
        side = part.classifiers[0]
        other = "b" if side == "a" else "a"
        other_mask = b_mask if other == "b" else a_mask
        gap_us = round(p.max_gap.seconds * 1e6)
        closes = int(view.ts[row]) + gap_us
        later = np.flatnonzero(other_mask & (view.ts > closes))
        condition = p.b if other == "b" else p.a
        details: dict[str, Any] = {"max_gap_s": p.max_gap.seconds, "waiting_as": side}
        after = ""
        if later.shape[0]:
            first = int(later[0])
            late = (int(view.ts[first]) - closes) / 1e6
            details.update({"next_partner": view.ids[first], "late_by_s": late})
            after = f"; the next one, event {view.ids[first]!r}, came {_num(late)} s too late"
        out.append(view.miss(
            step=side, done=1, total=2, rows=[row], classifiers=[side], broken=None,
            reason="window_expired", ended_us=closes,
            text=(f"Event {view.ids[row]!r} ({side}) waited {p.max_gap} for an unpaired "
                  f"event where {condition}{after}."),
            details=details))
    return out


def _heartbeat(p: HeartbeatPattern, view: KeyView) -> list[NearMiss]:
    allowed = p.interval.seconds + (p.grace.seconds if p.grace else 0.0)
    if view.ts.shape[0] < 2:
        return []
    gaps = np.diff(view.ts) / 1e6
    ok = np.flatnonzero(gaps <= allowed)
    best = ok[np.argsort(-gaps[ok], kind="stable")][:5]
    out = []
    for i in best.tolist():
        gap = float(gaps[i])
        out.append(view.miss(
            step="dead", done=0, total=1, rows=[i], classifiers=["dead"], broken=i + 1,
            reason="threshold_not_reached",
            text=(f"Silent for {_num(gap)} s after event {view.ids[i]!r}, within the allowed "
                  f"{_num(allowed)} s: event {view.ids[i + 1]!r} came "
                  f"{_num(allowed - gap)} s before the deadline."),
            details={"silence_s": gap, "timeout_s": allowed, "share": gap / allowed if allowed
                     else 0.0}))
    return out


def _state_machine(p: StateMachinePattern, view: KeyView) -> list[NearMiss]:
    when = [parse(t.when) if t.when else None for t in p.transitions]
    rows = view.frame.to_dicts()
    state: str | None = None
    entered = 0
    out = []
    for r, row in enumerate(rows):
        t_us = int(view.ts[r])
        if state is None or state in p.terminal:
            state, entered = p.initial, t_us
        limit = _state_timeout(p, state)
        if limit is not None and p.timeout_state is not None and t_us > entered + limit:
            state, entered = p.timeout_state, entered + limit
            if state in p.terminal:
                state, entered = p.initial, t_us
        taken = None
        for t, cond in zip(p.transitions, when, strict=True):
            if t.from_ not in (state, "*"):
                continue
            if cond is None or _holds(cond, row):
                taken = t
                break
        if taken is None:
            options = [t for t in p.transitions if t.from_ in (state, "*")]
            clauses = {f"{t.from_} -> {t.to}": [
                {"text": E.to_sql(c), "value": _holds(c, row)}
                for c in (conjuncts(parse(t.when)) if t.when else [])] for t in options}
            out.append(view.miss(
                step=state, done=0, total=1, rows=[r], classifiers=[state], broken=r,
                reason="no_transition",
                text=(f"Event {view.ids[r]!r} took no transition from state {state!r} "
                      f"({len(options)} transitions leave it; none of their conditions held)."),
                details={"state": state, "transitions": clauses}))
            continue
        state, entered = taken.to, t_us
    return out


def _state_timeout(p: StateMachinePattern, state: str) -> int | None:
    """The state's timeout in microseconds (None: it never times out)."""
    if p.timeout is None or state in p.terminal or state == p.timeout_state:
        return None
    limit = p.timeout.get(state) if isinstance(p.timeout, dict) else p.timeout
    return None if limit is None else round(limit.seconds * 1e6)


def _holds(cond: E.Expr, row: dict[str, Any]) -> bool | None:
    try:
        value = E.eval_row(cond, row)
    except CepError:  # a condition that cannot be evaluated on this event counts as NULL
        return None
    return None if value is None else bool(value)


def _absence(p: AbsencePattern, view: KeyView) -> list[NearMiss]:
    trigger = view.mask(p.trigger)
    expected = view.mask(p.expected)
    timeout = round(p.timeout.seconds * 1e6)
    matched = {m.event_ids[0] for m in view.result.matches}
    pending = {i for q in view.result.pending for i in q.event_ids}
    corr = (view.frame.select(list(p.correlate_on)).rows() if p.correlate_on
            else [()] * view.frame.height)
    out = []
    for r in np.flatnonzero(trigger).tolist():
        if view.ids[r] in matched or view.ids[r] in pending:
            continue
        t = int(view.ts[r])
        closer = [x for x in np.flatnonzero(expected & (view.ts > t) & (view.ts <= t + timeout))
                  .tolist() if corr[x] == corr[r]]
        if not closer:
            continue
        x = closer[0]
        slack = (t + timeout - int(view.ts[x])) / 1e6
        out.append(view.miss(
            step="trigger", done=0, total=1, rows=[r], classifiers=["trigger"], broken=x,
            reason="expected_arrived",
            text=(f"Event {view.ids[x]!r} satisfied {p.expected} {_num((int(view.ts[x]) - t) / 1e6)}"
                  f" s after the trigger {view.ids[r]!r}, {_num(slack)} s before the "
                  f"{p.timeout} deadline."),
            details={"arrived_after_s": (int(view.ts[x]) - t) / 1e6, "slack_s": slack,
                     "timeout_s": p.timeout.seconds,
                     "share": 1 - slack / p.timeout.seconds if p.timeout.seconds else 0.0}))
    return out


def _steps(pattern: Any, view: KeyView) -> list[NearMiss]:
    from cep.explain.prefixes import step_near_misses

    return step_near_misses(pattern, view)


_FINDERS: dict[str, Finder] = {
    "sequence": _steps,
    "match_recognize": _steps,
    "count_threshold": _count_threshold,
    "velocity": _velocity,
    "trend": _trend,
    "outlier": _outlier,
    "session": _session,
    "dedup": _dedup,
    "geofence": _geofence,
    "temporal_correlation": _correlation,
    "heartbeat": _heartbeat,
    "state_machine": _state_machine,
    "absence": _absence,
}
