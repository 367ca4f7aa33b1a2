"""The ``outlier`` detector: values far from their key's rolling baseline (z-score, IQR or MAD).

Semantics, per key, events in time order (equal times in input order):

* The **baseline** of an event at time t is the key's events with time in (t - baseline, t):
  both ends open, so events at the same time t (the event itself included) are never in each
  other's baseline. Every earlier event counts, outliers included.
* Events whose value is NULL, NaN or infinite are skipped: never tested, never in a baseline.
* No decision is made while the baseline holds fewer than ``min_samples`` events.
* ``zscore``: z = |x - mean| / std > k, with the **sample** standard deviation (n - 1 in the
  denominator, as Spark's ``stddev`` and pandas' ``std``).
* ``iqr``: x < Q1 - k·IQR or x > Q3 + k·IQR, IQR = Q3 - Q1, quantiles by **linear
  interpolation** between closest ranks (NumPy's and Polars' default, Hyndman-Fan type 7):
  q(p) = s[j] + g·(s[j+1] - s[j]) with h = (n - 1)·p, j = floor(h), g = h - j over the sorted
  baseline s.
* ``mad``: |x - median| / (1.4826·MAD) > k, MAD = the median of |s - median| (medians by the
  same interpolation: the mean of the two middle values for an even count).
* **Zero spread.** When std (or MAD) is 0 the score is infinite for any value that differs from
  the centre (the mean, or the median): that value is an outlier, and its ``z`` (``score``) is
  reported as None; a value equal to the centre is not an outlier. A baseline is treated as
  constant exactly when all its values are equal. For ``iqr`` an IQR of 0 needs no special
  case: the fences collapse to [Q1, Q3] and any value outside them is an outlier.
* One match per outlying event: event_ids = [the event], classifiers = ["outlier"], start = end
  = its time, and the baseline statistics in ``measures``. Matches come per key in event order,
  keys in order of first appearance. Nothing is time-driven: an event is decided as soon as it
  is final, so ``pending`` is always empty.

The z-score is vectorised: running sums of x - c and (x - c)² per key (c = the key's first
value, which keeps the sums small and is known to a stream from the key's first event) give
every baseline's mean and variance from two differences, with the window starts found in one
O(n) pass. A stream carries the same sums, so its numbers are bit-for-bit the batch run's.
Accuracy: a variance far below the rounding error of the sums (values that vary only in their
last digits while sitting far from the key's first value) may read as 0 or lose digits; a
constant baseline is always detected exactly (no value changes inside it). IQR and MAD keep each
key's baseline sorted in a compiled sliding loop.

Worked example (zscore, k = 3, baseline 10 s, min_samples 3; one key):

>>> from datetime import UTC, datetime, timedelta
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> df = pl.DataFrame({"id": [1, 2, 3, 4, 5, 6, 7],
...                    "ts": [t0 + timedelta(seconds=s) for s in (0, 1, 2, 3, 3, 4, 20)],
...                    "x": [10.0, 12.0, 11.0, 30.0, 11.0, 12.0, 99.0]})
>>> p = parse_pattern({"kind": "outlier", "name": "o", "value_field": "x", "threshold": 3,
...                    "baseline": "10s", "min_samples": 3})
>>> [(m.event_ids, m.measures["mean"], m.measures["std"], round(m.measures["z"], 2))
...  for m in find_matches(p, df).matches]
[([4], 11.0, 1.0, 19.0)]

Event 4 (30 at 3 s) has baseline {10, 12, 11} (mean 11, sample std 1): z = 19 > 3. Event 5
(11, also at 3 s) has the same baseline: event 4 is not in it (equal time). Event 6 (12 at 4 s)
sees {10, 12, 11, 30, 11}: mean 14.8, std ≈ 8.5, z ≈ 0.33. Events 1-3 have fewer than 3
samples. Event 7 (99 at 20 s) has an empty baseline ((10 s, 20 s) holds nothing): no decision.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from cep.errors import UnsupportedFeature
from cep.events import require_numeric
from cep.matcher.detectors._rolling import (
    KEY,
    TS,
    KeyBook,
    Work,
    batch_work,
    chunk_work,
    load_frame,
    paused_gc,
    save_frame,
    segment_starts,
    stats,
    to_datetimes,
    window_bounds,
)
from cep.matcher.stream import Chunk
from cep.model import OutlierPattern
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

_V = "__v"
_STATE_VERSION = 1
_MAD_SCALE = 1.4826

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# --- compiled kernels -------------------------------------------------------------------------


@njit(cache=True)
def _continue_sums(key: Any, is_new: Any, y: Any, tot1: Any, tot2: Any) -> Any:  # pragma: no cover
    """Exclusive running sums of y and y² per key for the new rows (tot* updated in place)."""
    n = key.shape[0]
    pe1 = np.zeros(n, dtype=np.float64)
    pe2 = np.zeros(n, dtype=np.float64)
    for i in range(n):
        if is_new[i]:
            k = key[i]
            pe1[i] = tot1[k]
            pe2[i] = tot2[k]
            tot1[k] = tot1[k] + y[i]
            tot2[k] = tot2[k] + y[i] * y[i]
    return pe1, pe2


@njit(cache=True)
def _quantile(s: Any, m: int, p: float) -> float:  # pragma: no cover
    h = (m - 1) * p
    j = int(np.floor(h))
    g = h - j
    if g > 0.0 and j + 1 < m:
        return float(s[j] + g * (s[j + 1] - s[j]))
    return float(s[j])


@njit(cache=True)
def _mad(s: Any, m: int, med: float) -> float:  # pragma: no cover
    """Median of |s - med| over the sorted s[:m], merging the two sides outwards from med."""
    h = (m - 1) * 0.5
    j = int(np.floor(h))
    g = h - j
    right = np.searchsorted(s[:m], med)
    left = right - 1
    d0 = 0.0
    d1 = 0.0
    for t in range(j + 2):
        if t >= m:
            break
        if left < 0:
            d = s[right] - med
            right += 1
        elif right >= m:
            d = med - s[left]
            left -= 1
        else:
            dl = med - s[left]
            dr = s[right] - med
            if dl <= dr:
                d = dl
                left -= 1
            else:
                d = dr
                right += 1
        if t == j:
            d0 = d
        elif t == j + 1:
            d1 = d
    if g > 0.0 and j + 1 < m:
        return float(d0 + g * (d1 - d0))
    return float(d0)


@njit(cache=True)
def _zscore_rows(key: Any, v: Any, y: Any, shift: Any, pe1: Any, pe2: Any, lo: Any, hi: Any,
                 want: Any, k: float) -> Any:  # pragma: no cover
    """Outlying wanted rows: position, mean, std, z (NaN when std is 0)."""
    n = key.shape[0]
    changes = np.zeros(n, dtype=np.int64)
    c = 0
    for i in range(1, n):
        if key[i] == key[i - 1] and v[i] != v[i - 1]:
            c += 1
        changes[i] = c
    rows = np.empty(n, dtype=np.int64)
    mean_o = np.empty(n, dtype=np.float64)
    std_o = np.empty(n, dtype=np.float64)
    z_o = np.empty(n, dtype=np.float64)
    found = 0
    for i in range(n):
        if not want[i]:
            continue
        a = lo[i]
        b = hi[i]
        m = b - a
        if changes[b - 1] == changes[a]:  # constant baseline: exactly no spread
            mean = v[a]
            std = 0.0
            dev = abs(v[i] - mean)
        else:
            s1 = pe1[b] - pe1[a]
            s2 = pe2[b] - pe2[a]
            mean_y = s1 / m
            var = (s2 - s1 * mean_y) / (m - 1)
            std = np.sqrt(var) if var > 0.0 else 0.0
            mean = mean_y + shift[key[i]]
            dev = abs(y[i] - mean_y)
        if std == 0.0:
            if not dev > 0.0:
                continue
            z = np.nan
        else:
            z = dev / std
            if not z > k:
                continue
        rows[found] = i
        mean_o[found] = mean
        std_o[found] = std
        z_o[found] = z
        found += 1
    return rows[:found], mean_o[:found], std_o[:found], z_o[:found]


@njit(cache=True)
def _spread_rows(key: Any, v: Any, lo: Any, hi: Any, want: Any, mad: bool,
                 k: float) -> Any:  # pragma: no cover
    """Outlying wanted rows by IQR or MAD over each baseline [lo, hi), kept sorted as the window
    slides: position, (Q1, Q3) or (median, MAD)."""
    n = key.shape[0]
    rows = np.empty(n, dtype=np.int64)
    a_o = np.empty(n, dtype=np.float64)
    b_o = np.empty(n, dtype=np.float64)
    found = 0
    buf = np.empty(max(n, 1), dtype=np.float64)
    m = 0
    cl = 0
    ch = 0
    for i in range(n):
        if i == 0 or key[i] != key[i - 1]:
            m = 0
            cl = i
            ch = i
        if not want[i]:
            continue
        while ch < hi[i]:
            x = v[ch]
            p = np.searchsorted(buf[:m], x)
            buf[p + 1 : m + 1] = buf[p:m].copy()
            buf[p] = x
            m += 1
            ch += 1
        while cl < lo[i]:
            p = np.searchsorted(buf[:m], v[cl])
            buf[p : m - 1] = buf[p + 1 : m].copy()
            m -= 1
            cl += 1
        x = v[i]
        if mad:
            a = _quantile(buf, m, 0.5)
            b = _mad(buf, m, a)
            dev = abs(x - a)
            out = dev > 0.0 if b == 0.0 else dev / (1.4826 * b) > k
        else:
            a = _quantile(buf, m, 0.25)
            b = _quantile(buf, m, 0.75)
            iqr = b - a
            out = x < a - k * iqr or x > b + k * iqr
        if out:
            rows[found] = i
            a_o[found] = a
            b_o[found] = b
            found += 1
    return rows[:found], a_o[:found], b_o[:found]


# --- the detector -----------------------------------------------------------------------------


@dataclass
class _Baseline:
    """What a stream carries between chunks: per-key running sums and the rows still inside a
    future baseline (every row with time > the key's latest time - baseline)."""

    shift: F64
    tot1: F64
    tot2: F64
    key: I64
    ts: I64
    v: F64
    pe1: F64
    pe2: F64

    @classmethod
    def empty(cls) -> _Baseline:
        f, i = np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
        return cls(f, f, f, i, i, f, f, f)

    def grow(self, n_keys: int) -> None:
        extra = n_keys - self.shift.shape[0]
        if extra > 0:
            self.shift = np.concatenate([self.shift, np.full(extra, np.nan)])
            self.tot1 = np.concatenate([self.tot1, np.zeros(extra)])
            self.tot2 = np.concatenate([self.tot2, np.zeros(extra)])


@dataclass
class _Found:
    """Outliers among the new rows: their positions and the measures."""

    rows: I64
    measures: dict[str, npt.NDArray[Any]]


def _detect(p: OutlierPattern, base: _Baseline, key: I64, ts: I64, v: F64,
            keep_state: bool = True) -> _Found:
    """Decide every new row (sorted by key, time); update ``base`` for the next chunk."""
    n_new = key.shape[0]
    if n_new == 0:
        return _Found(np.zeros(0, np.int64), {})
    base.grow(int(key.max()) + 1)
    starts = segment_starts(key)
    unseen = np.isnan(base.shift[key[starts]])
    base.shift[key[starts[unseen]]] = v[starts[unseen]]
    order = None
    mine = np.isin(base.key, key[starts])  # the carried rows of the keys in this chunk
    if mine.any():
        n_old = int(mine.sum())
        all_key = np.concatenate([base.key[mine], key])
        order = np.argsort(all_key, kind="stable")
        ck = all_key[order]
        cts = np.concatenate([base.ts[mine], ts])[order]
        cv = np.concatenate([base.v[mine], v])[order]
        new_pos = np.concatenate([np.full(n_old, -1, np.int64),
                                  np.arange(n_new, dtype=np.int64)])[order]
        is_new = new_pos >= 0
    else:
        ck, cts, cv = key, ts, v
        new_pos = np.arange(n_new, dtype=np.int64)
        is_new = np.ones(n_new, dtype=np.bool_)
    width = p.baseline.microseconds
    lo, hi = window_bounds(ck, cts, width)
    count = hi - lo
    want = is_new & (count >= p.min_samples)
    k = float(p.threshold)
    pe1 = pe2 = np.zeros(0)
    if p.method == "zscore":
        y = cv - base.shift[ck]
        pe1, pe2 = _continue_sums(ck, is_new, y, base.tot1, base.tot2)
        if order is not None:
            old = ~is_new
            pe1[old] = np.concatenate([base.pe1[mine], np.zeros(n_new)])[order][old]
            pe2[old] = np.concatenate([base.pe2[mine], np.zeros(n_new)])[order][old]
        rows, mean, std, z = _zscore_rows(ck, cv, y, base.shift, pe1, pe2, lo, hi, want, k)
        measures = {"value": cv[rows], "mean": mean, "std": std, "z": z}
    else:
        rows, a, b = _spread_rows(ck, cv, lo, hi, want, p.method == "mad", k)
        x = cv[rows]
        if p.method == "iqr":
            iqr = b - a
            measures = {"value": x, "q1": a, "q3": b, "iqr": iqr, "lower": a - k * iqr,
                        "upper": b + k * iqr}
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(b == 0.0, np.nan, np.abs(x - a) / (_MAD_SCALE * b))
            measures = {"value": x, "median": a, "mad": b, "score": score}
    measures["samples"] = count[rows]
    if keep_state:
        _keep_context(base, ~mine, width, ck, cts, cv, pe1, pe2)
    return _Found(new_pos[rows], measures)


def _keep_context(base: _Baseline, others: npt.NDArray[np.bool_], width: int, key: I64, ts: I64,
                  v: F64, pe1: F64, pe2: F64) -> None:
    """Keep the rows a later event's baseline can still contain: those of the other keys, and
    of this chunk's keys the rows with time > the key's latest time - baseline."""
    starts = segment_starts(key)
    ends = np.append(starts[1:], key.shape[0])
    last = np.repeat(ts[ends - 1], ends - starts)
    keep = ts > last - width
    base.key = np.concatenate([base.key[others], key[keep]])
    base.ts = np.concatenate([base.ts[others], ts[keep]])
    base.v = np.concatenate([base.v[others], v[keep]])
    if pe1.shape[0]:
        base.pe1 = np.concatenate([base.pe1[others], pe1[keep]])
        base.pe2 = np.concatenate([base.pe2[others], pe2[keep]])


def _columns(p: OutlierPattern) -> dict[str, pl.Expr]:
    return {_V: pl.col(p.value_field).cast(pl.Float64)}


def _float(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _matches(p: OutlierPattern, frame: pl.DataFrame, found: _Found, work: Work) -> list[Match]:
    rows = found.rows
    if rows.shape[0] == 0:
        return []
    ids = work.ids(frame, rows)
    keys = frame.get_column(KEY).to_numpy()[rows].tolist()
    times = to_datetimes(frame.get_column(TS).to_numpy()[rows])
    columns = {name: (values.tolist() if name == "samples" else [_float(x) for x in values])
               for name, values in found.measures.items()}
    fixed = {"threshold": float(p.threshold), "baseline_s": p.baseline.seconds}
    names = list(columns)
    out = []
    with paused_gc():
        for m in range(rows.shape[0]):
            measures: dict[str, Any] = {name: columns[name][m] for name in names}
            measures.update(fixed)
            out.append(Match(p.name, work.key_of(keys[m]), times[m], times[m], [ids[m]],
                             ["outlier"], measures))
    return out


def _run(p: OutlierPattern, base: _Baseline, work: Work, keep_state: bool = True) -> list[Match]:
    frame = work.frame
    v = frame.get_column(_V)
    if v.null_count() or not v.is_finite().all():
        frame = frame.filter(v.is_finite())
    found = _detect(
        p, base, frame.get_column(KEY).to_numpy(), frame.get_column(TS).to_numpy(),
        frame.get_column(_V).to_numpy(), keep_state,
    )
    return _matches(p, frame, found, work)


def find_matches(pattern: OutlierPattern, events: pl.DataFrame) -> MatchResult:
    """Find every outlying event (see the module docstring).

    Raises:
        EventDataError: the value field is missing or not numeric, or the time, partition or id
            column is missing.
    """
    started = time.perf_counter()
    events = require_numeric(events, pattern.value_field)
    work = batch_work(pattern, events, _columns(pattern), [pattern.value_field])
    matches = _run(pattern, _Baseline.empty(), work, keep_state=False)
    path = "vectorised" if pattern.method == "zscore" else "compiled"
    return MatchResult(matches=matches, stats=stats(events.height, len(matches), started, path))


class Engine:
    """Incremental ``outlier`` detection (``cep.matcher.stream.Engine``).

    Between chunks it keeps, per key, the running sums (z-score) and the events still inside a
    later event's baseline; an event is decided when its chunk arrives.
    """

    def __init__(self, pattern: OutlierPattern) -> None:
        self.pattern = pattern
        self.base = _Baseline.empty()
        self.keys = KeyBook()
        self.timed_out: list[PartialMatch] = []
        self.pending: list[PartialMatch] = []

    def process(self, chunk: Chunk) -> list[Match]:
        """Decide the chunk's events against their baselines."""
        self.keys.update(chunk)
        if chunk.frame.height == 0:
            return []
        p = self.pattern
        frame = require_numeric(chunk.frame, p.value_field)
        work = chunk_work(Chunk(frame, chunk.keys, chunk.watermark_us, chunk.id_column,
                                chunk.order_by), _columns(p), [p.value_field])
        work.key_of = self.keys
        return _run(p, self.base, work)

    def on_time(self, watermark_us: int) -> list[Match]:
        """Nothing is time-driven."""
        return []

    def finish(self, now_us: int | None) -> list[Match]:
        """Nothing is left to decide at the end of the stream."""
        return []

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        b = self.base
        return {
            "version": _STATE_VERSION,
            "keys": self.keys.to_state(),
            "per_key": save_frame(pl.DataFrame({"shift": b.shift, "tot1": b.tot1,
                                                "tot2": b.tot2})),
            "rows": save_frame(pl.DataFrame({"key": b.key, "ts": b.ts, "v": b.v})),
            "sums": save_frame(pl.DataFrame({"pe1": b.pe1, "pe2": b.pe2})),
        }

    @classmethod
    def from_state(cls, pattern: OutlierPattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        if state.get("version") != _STATE_VERSION:
            raise UnsupportedFeature(f"outlier engine state version {state.get('version')!r} is "
                                     f"not supported (expected {_STATE_VERSION})")
        engine = cls(pattern)
        engine.keys = KeyBook.from_state(state["keys"])
        per_key, rows, sums = (load_frame(state[n]) for n in ("per_key", "rows", "sums"))
        assert per_key is not None
        assert rows is not None
        assert sums is not None

        def col(frame: pl.DataFrame, name: str, dtype: Any) -> Any:
            return frame.get_column(name).to_numpy().astype(dtype, copy=True)

        engine.base = _Baseline(
            col(per_key, "shift", np.float64), col(per_key, "tot1", np.float64),
            col(per_key, "tot2", np.float64), col(rows, "key", np.int64),
            col(rows, "ts", np.int64), col(rows, "v", np.float64), col(sums, "pe1", np.float64),
            col(sums, "pe2", np.float64),
        )
        return engine
