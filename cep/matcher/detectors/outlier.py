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
O(n) pass. IQR and MAD keep each key's baseline sorted in a compiled sliding loop.

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
    ID,
    KEY,
    TS,
    KeyBook,
    Work,
    batch_work,
    chunk_work,
    load_frame,
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
def _sorted_stats(key: Any, v: Any, lo: Any, hi: Any, want: Any, mad: bool) -> Any:  # pragma: no cover
    """(Q1, Q3) or (median, MAD) of each wanted row's baseline rows [lo, hi), kept sorted."""
    n = key.shape[0]
    a = np.full(n, np.nan)
    b = np.full(n, np.nan)
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
        if m == 0:
            continue
        if mad:
            med = _quantile(buf, m, 0.5)
            a[i] = med
            b[i] = _mad(buf, m, med)
        else:
            a[i] = _quantile(buf, m, 0.25)
            b[i] = _quantile(buf, m, 0.75)
    return a, b


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


def _detect(p: OutlierPattern, base: _Baseline, key: I64, ts: I64, v: F64) -> _Found:
    """Decide every new row (sorted by key, time); update ``base`` for the next chunk."""
    n_new = key.shape[0]
    if n_new == 0:
        return _Found(np.zeros(0, np.int64), {})
    base.grow(int(key.max()) + 1)
    starts = segment_starts(key)
    unseen = np.isnan(base.shift[key[starts]])
    base.shift[key[starts[unseen]]] = v[starts[unseen]]
    if base.key.shape[0]:
        all_key = np.concatenate([base.key, key])
        order = np.argsort(all_key, kind="stable")
        ck = all_key[order]
        cts = np.concatenate([base.ts, ts])[order]
        cv = np.concatenate([base.v, v])[order]
        new_pos = np.concatenate([np.full(base.key.shape[0], -1, np.int64),
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
    if p.method == "zscore":
        y = cv - base.shift[ck]
        pe1, pe2 = _continue_sums(ck, is_new, y, base.tot1, base.tot2)
        if base.key.shape[0]:
            old = ~is_new
            pe1[old] = np.concatenate([base.pe1, np.zeros(n_new)])[order][old]
            pe2[old] = np.concatenate([base.pe2, np.zeros(n_new)])[order][old]
        found = _zscore(k, ck, cv, y, base.shift[ck], pe1, pe2, lo, hi, want)
        extra: tuple[F64, ...] = (pe1, pe2)
    else:
        a, b = _sorted_stats(ck, cv, lo, hi, want, p.method == "mad")
        found = _spread(p.method, k, cv, a, b, count, want)
        extra = (np.zeros(0), np.zeros(0))
    _keep_context(base, width, ck, cts, cv, *extra)
    found.rows = new_pos[found.rows]
    return found


def _zscore(k: float, key: I64, v: F64, y: F64, shift: F64, pe1: F64, pe2: F64, lo: I64,
            hi: I64, want: npt.NDArray[np.bool_]) -> _Found:
    rows = np.flatnonzero(want)
    a, b = lo[rows], hi[rows]
    n = (b - a).astype(np.float64)
    # The baseline is constant exactly when no value changes inside it.
    changed = np.zeros(key.shape[0], dtype=np.int64)
    if key.shape[0] > 1:
        changed[1:] = (v[1:] != v[:-1]) & (key[1:] == key[:-1])
    changes = np.cumsum(changed)
    constant = changes[b - 1] == changes[a]
    s1 = pe1[b] - pe1[a]
    s2 = pe2[b] - pe2[a]
    mean_y = s1 / n
    var = np.maximum((s2 - s1 * mean_y) / (n - 1), 0.0)
    std = np.where(constant, 0.0, np.sqrt(var))
    mean = np.where(constant, v[a], mean_y + shift[rows])
    x = v[rows]
    dev = np.where(constant, np.abs(x - mean), np.abs(y[rows] - mean_y))
    zero = std == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(zero, np.inf, dev / np.where(zero, 1.0, std))
    out = np.where(zero, dev > 0.0, z > k)
    sel = rows[out]
    z_out = z[out]
    return _Found(sel, {
        "value": x[out], "mean": mean[out], "std": std[out],
        "z": np.where(np.isinf(z_out), np.nan, z_out), "samples": (b - a)[out],
    })


def _spread(method: str, k: float, v: F64, a: F64, b: F64, count: I64,
            want: npt.NDArray[np.bool_]) -> _Found:
    rows = np.flatnonzero(want)
    x, a, b = v[rows], a[rows], b[rows]
    if method == "iqr":
        iqr = b - a
        lower = a - k * iqr
        upper = b + k * iqr
        out = (x < lower) | (x > upper)
        return _Found(rows[out], {"value": x[out], "q1": a[out], "q3": b[out], "iqr": iqr[out],
                                  "lower": lower[out], "upper": upper[out],
                                  "samples": count[rows][out]})
    dev = np.abs(x - a)
    zero = b == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(zero, np.nan, dev / (_MAD_SCALE * np.where(zero, 1.0, b)))
    out = np.where(zero, dev > 0.0, score > k)
    return _Found(rows[out], {"value": x[out], "median": a[out], "mad": b[out],
                              "score": score[out], "samples": count[rows][out]})


def _keep_context(base: _Baseline, width: int, key: I64, ts: I64, v: F64, pe1: F64,
                  pe2: F64) -> None:
    """Keep the rows a later event's baseline can still contain."""
    starts = segment_starts(key)
    ends = np.append(starts[1:], key.shape[0])
    last = np.repeat(ts[ends - 1], ends - starts)
    keep = ts > last - width
    base.key, base.ts, base.v = key[keep], ts[keep], v[keep]
    if pe1.shape[0]:
        base.pe1, base.pe2 = pe1[keep], pe2[keep]


def _columns(p: OutlierPattern) -> dict[str, pl.Expr]:
    return {_V: pl.col(p.value_field).cast(pl.Float64)}


def _usable(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col(_V).is_finite())


def _float(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _matches(p: OutlierPattern, frame: pl.DataFrame, found: _Found, work: Work) -> list[Match]:
    rows = found.rows
    if rows.shape[0] == 0:
        return []
    index = pl.Series(rows)
    ids = frame.get_column(ID).gather(index).to_list()
    keys = frame.get_column(KEY).to_numpy()[rows].tolist()
    times = to_datetimes(frame.get_column(TS).to_numpy()[rows])
    columns = {name: (values.tolist() if name == "samples" else [_float(x) for x in values])
               for name, values in found.measures.items()}
    fixed = {"threshold": float(p.threshold), "baseline_s": p.baseline.seconds}
    names = list(columns)
    out = []
    for m in range(rows.shape[0]):
        measures: dict[str, Any] = {name: columns[name][m] for name in names}
        measures.update(fixed)
        out.append(Match(p.name, work.key_of(keys[m]), times[m], times[m], [ids[m]], ["outlier"],
                         measures))
    return out


def _run(p: OutlierPattern, base: _Baseline, work: Work) -> list[Match]:
    frame = _usable(work.frame)
    found = _detect(
        p, base, frame.get_column(KEY).to_numpy(), frame.get_column(TS).to_numpy(),
        frame.get_column(_V).to_numpy(),
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
    matches = _run(pattern, _Baseline.empty(), work)
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
        assert per_key is not None and rows is not None and sums is not None

        def col(frame: pl.DataFrame, name: str, dtype: Any) -> Any:
            return frame.get_column(name).to_numpy().astype(dtype, copy=True)

        engine.base = _Baseline(
            col(per_key, "shift", np.float64), col(per_key, "tot1", np.float64),
            col(per_key, "tot2", np.float64), col(rows, "key", np.int64),
            col(rows, "ts", np.int64), col(rows, "v", np.float64), col(sums, "pe1", np.float64),
            col(sums, "pe2", np.float64),
        )
        return engine
