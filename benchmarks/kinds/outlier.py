"""Outlier benchmark: a sensor-readings generator, a per-event pure-Python detector, the measurement.

``generate_events`` simulates sensors with their own level and noise and rare spikes;
``python_matches`` is the outlier detector a competent user would write row by row (per-key
lists, a deque of the baseline window, the statistics recomputed over the window for every
event), with the semantics of :mod:`cep.matcher.detectors.outlier`; ``main`` times both::

    python -m benchmarks.kinds.outlier [--events 1000000] [--keys 1000] [--no-python]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'sensor', 'ts', 'value'], True)
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from collections import deque
from typing import Any

import numpy as np
import polars as pl

__all__ = ["PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
SPIKE_RATE = 0.002

PATTERNS: dict[str, dict[str, Any]] = {
    "zscore k=4 over 1h": {
        "kind": "outlier", "name": "z", "partition_by": ["sensor"], "value_field": "value",
        "method": "zscore", "threshold": 4, "baseline": "1h", "min_samples": 10,
    },
    "iqr k=3 over 1h": {
        "kind": "outlier", "name": "iqr", "partition_by": ["sensor"], "value_field": "value",
        "method": "iqr", "threshold": 3, "baseline": "1h", "min_samples": 10,
    },
    "mad k=5 over 1h": {
        "kind": "outlier", "name": "mad", "partition_by": ["sensor"], "value_field": "value",
        "method": "mad", "threshold": 5, "baseline": "1h", "min_samples": 10,
    },
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0) -> pl.DataFrame:
    """Readings of ``n_keys`` sensors in global time order.

    Poisson arrivals at ``events_per_s`` overall (a sensor reports every ~50 s with 1,000
    sensors, ~72 readings per 1-hour baseline), each from a uniformly drawn sensor. A sensor has
    its own level (10-1,000) and noise (1-5% of the level), a slow drift, and 0.2% spikes of
    6-12 noise widths; readings have two decimals.
    """
    rng = np.random.default_rng(seed)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps)
    sensor = rng.integers(0, n_keys, n_events)
    level = rng.uniform(10, 1_000, n_keys)
    noise = level * rng.uniform(0.01, 0.05, n_keys)
    hours = (ts_us - START_US) / 3.6e9
    drift = level[sensor] * 0.02 * np.sin(hours / 6 + sensor)
    value = level[sensor] + drift + rng.normal(0, 1, n_events) * noise[sensor]
    spike = rng.random(n_events) < SPIKE_RATE
    value[spike] += rng.choice([-1, 1], int(spike.sum())) * rng.uniform(6, 12, int(spike.sum())) \
        * noise[sensor[spike]]
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "sensor": pl.Series([f"s{i:04d}" for i in range(n_keys)])[sensor],
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "value": np.round(value, 2),
    })


def _quantile(s: list[float], p: float) -> float:
    """Linear interpolation between closest ranks, as the detector documents."""
    h = (len(s) - 1) * p
    j = math.floor(h)
    g = h - j
    if g > 0 and j + 1 < len(s):
        return s[j] + g * (s[j + 1] - s[j])
    return s[j]


def _is_outlier(method: str, k: float, x: float, base: list[float]) -> bool:
    n = len(base)
    if method == "zscore":
        if max(base) == min(base):
            return x != base[0]
        mean = sum(base) / n
        std = math.sqrt(sum((b - mean) ** 2 for b in base) / (n - 1))
        return (std == 0 and x != mean) or (std > 0 and abs(x - mean) / std > k)
    s = sorted(base)
    if method == "iqr":
        q1, q3 = _quantile(s, 0.25), _quantile(s, 0.75)
        return x < q1 - k * (q3 - q1) or x > q3 + k * (q3 - q1)
    med = _quantile(s, 0.5)
    mad = _quantile(sorted(abs(b - med) for b in s), 0.5)
    if mad == 0:
        return x != med
    return abs(x - med) / (1.4826 * mad) > k


def python_matches(pattern: Any, df: pl.DataFrame) -> list[tuple[dict[str, Any], list[Any], list[str]]]:
    """The outlying events as ``(key, event_ids, classifiers)``: keys in order of first
    appearance, then event order — one event at a time, in plain Python."""
    rows = df.select(*pattern.partition_by, pattern.value_field).rows()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    ids = df.get_column(id_col).to_list() if id_col else list(range(df.height))
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    width = pattern.baseline.microseconds
    k = float(pattern.threshold)
    n_key = len(pattern.partition_by)
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, values in enumerate(rows):
        per_key.setdefault(values[:n_key], []).append(row)
    out = []
    for key, key_rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        key_rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        window: deque[tuple[int, float]] = deque()
        for row in key_rows:
            x, t = rows[row][n_key], times[row]
            if x is None or not math.isfinite(x):
                continue
            while window and window[0][0] <= t - width:
                window.popleft()
            base = [v for s, v in window if s < t]
            if len(base) >= pattern.min_samples and _is_outlier(pattern.method, k, x, base):
                out.append((key_dict, [ids[row]], ["outlier"]))
            window.append((t, x))
    return out


# --- measurement ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Time ``find_matches`` (best of 3 after a warm-up, Match objects included) and
    ``python_matches`` (once), and compare their matches."""
    from benchmarks.run import peak_rss
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--no-python", action="store_true")
    parser.add_argument("--only", help="run only the patterns whose name contains this")
    args = parser.parse_args(argv)
    df = generate_events(args.events, n_keys=args.keys)
    print(f"{df.height:,} events, {args.keys:,} keys, "
          f"{(df['ts'].max() - df['ts'].min()).total_seconds() / 3600:.1f} h, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    chosen = {n: parse_pattern(s) for n, s in PATTERNS.items() if not args.only or args.only in n}
    found: dict[str, list[tuple[dict[str, Any], list[Any], list[str]]]] = {}
    took_s: dict[str, float] = {}
    for name, pattern in chosen.items():  # all matcher runs first: the reference's memory
        find_matches(pattern, df.head(1000))  # warm-up (JIT)
        best = cpu = math.inf
        peak = 0
        for _ in range(3):
            with peak_rss() as rss:
                t, c = time.perf_counter(), time.process_time()
                result = find_matches(pattern, df)
                best = min(best, time.perf_counter() - t)
                cpu = min(cpu, time.process_time() - c)
            peak = max(peak, rss["peak"])
        found[name] = [(m.key, m.event_ids, m.classifiers) for m in result.matches]
        print(f"{name}: find_matches {best:.3f} s (CPU {cpu:.3f} s) = "
              f"{df.height / best / 1e6:.2f}M events/s, {len(found[name]):,} matches, "
              f"{len(result.pending):,} pending, peak RSS {peak / 2**20:.0f} MB "
              f"(process so far {_peak_rss_mb():.0f} MB)", flush=True)
        took_s[name] = best
    if args.no_python:
        return
    for name, pattern in chosen.items():
        t = time.perf_counter()
        slow = python_matches(pattern, df)
        took = time.perf_counter() - t
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.3f}M events/s "
              f"({took / took_s[name]:.0f}x the matcher's time), same matches: "
              f"{slow == found[name]}", flush=True)


if __name__ == "__main__":
    main()
