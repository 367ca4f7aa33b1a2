"""Trend benchmark: a price-ticks generator, a per-event pure-Python detector, the measurement.

``generate_events`` simulates instruments whose price follows a random walk around a slow
cycle; ``python_matches`` is the trend detector a competent user would write row by row
(per-key lists, the open run's last N values, a "matched" flag), with the semantics of
:mod:`cep.matcher.detectors.trend`; ``main`` times both::

    python -m benchmarks.kinds.trend [--events 1000000] [--keys 1000] [--no-python]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'symbol', 'ts', 'price'], True)
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from typing import Any

import numpy as np
import polars as pl

__all__ = ["PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z

PATTERNS: dict[str, dict[str, Any]] = {
    "5 rising prices": {
        "kind": "trend", "name": "up5", "partition_by": ["symbol"], "value_field": "price",
        "direction": "up", "count": 5,
    },
    "6 falling prices, 0.05% tolerance": {
        "kind": "trend", "name": "down6", "partition_by": ["symbol"], "value_field": "price",
        "direction": "down", "count": 6, "tolerance_pct": 0.05,
    },
    "4 flat prices, 0.03% tolerance": {
        "kind": "trend", "name": "flat4", "partition_by": ["symbol"], "value_field": "price",
        "direction": "flat", "count": 4, "tolerance_pct": 0.03,
    },
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0) -> pl.DataFrame:
    """Price ticks of ``n_keys`` instruments in global time order.

    Poisson arrivals at ``events_per_s`` overall (a tick per instrument every ~50 s with 1,000
    instruments), each from a uniformly drawn instrument. A price starts between 20 and 500 and
    moves by a whole number of cents per tick: a random step (-8..8 cents) plus a drift that
    follows a cycle of a few hours per instrument, so rising and falling stretches happen.
    """
    rng = np.random.default_rng(seed)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps)
    symbol = rng.integers(0, n_keys, n_events)
    start_cents = rng.integers(2_000, 50_000, n_keys)
    period_h = rng.uniform(1, 6, n_keys)
    hours = (ts_us - START_US) / 3.6e9
    drift = 6 * np.sin(hours / period_h[symbol] * 2 * np.pi + symbol)
    steps = np.rint(rng.integers(-8, 9, n_events) + drift).astype(np.int64)
    order = np.argsort(symbol, kind="stable")
    walk = np.cumsum(steps[order])
    first = np.flatnonzero(np.diff(symbol[order], prepend=-1))
    before = np.repeat(walk[first] - steps[order][first], np.diff(np.append(first, n_events)))
    cents = np.empty(n_events, dtype=np.int64)
    cents[order] = walk - before + start_cents[symbol[order]]
    cents = np.maximum(cents, 1)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "symbol": pl.Series([f"x{i:04d}" for i in range(n_keys)])[symbol],
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "price": np.round(cents / 100.0, 2),
    })


def python_matches(pattern: Any, df: pl.DataFrame) -> list[tuple[dict[str, Any], list[Any], list[str]]]:
    """The trends as ``(key, event_ids, classifiers)``: keys in order of first appearance, then
    event order — one event at a time, in plain Python."""
    rows = df.select(*pattern.partition_by, pattern.value_field).rows()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    ids = df.get_column(id_col).to_list() if id_col else list(range(df.height))
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    n_need = pattern.count
    tol = pattern.tolerance_pct / 100
    direction = pattern.direction
    n_key = len(pattern.partition_by)
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, values in enumerate(rows):
        per_key.setdefault(values[:n_key], []).append(row)
    out = []
    for key, key_rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        key_rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        run: list[tuple[int, float]] = []  # the open run's last N (row, value)
        matched = False
        prev: float | None = None
        for row in key_rows:
            v = rows[row][n_key]
            if v is None or not math.isfinite(v):
                run, matched, prev = [], False, None
                continue
            if prev is not None and (
                (direction == "up" and v > prev - tol * abs(prev))
                or (direction == "down" and v < prev + tol * abs(prev))
                or (direction == "flat" and abs(v - prev) <= tol * abs(prev))
            ):
                run.append((row, v))
                if len(run) > n_need:
                    run.pop(0)
            else:
                run, matched = [(row, v)], False
            prev = v
            if matched or len(run) < n_need:
                continue
            first = run[0][1]
            if (direction == "up" and v > first) or (direction == "down" and v < first) or (
                    direction == "flat"):
                out.append((key_dict, [ids[r] for r, _ in run], [direction] * n_need))
                matched = True
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
