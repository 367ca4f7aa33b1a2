"""Heartbeat benchmark: a device-fleet generator, a per-event pure-Python matcher, the measurement.

``generate_events`` simulates devices that beat about once a minute and now and then go quiet
for a while; ``python_matches`` is the heartbeat monitor a competent user would write row by
row (dict of per-key lists), with the semantics of :mod:`cep.matcher.detectors.heartbeat`;
``main`` times both on the same events::

    python -m benchmarks.kinds.heartbeat [--events 1000000] [--keys 1000]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted(), df.height
(['id', 'device', 'ts', 'battery'], True, 6)
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from typing import Any

import numpy as np
import polars as pl

__all__ = ["PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z

PATTERNS: dict[str, dict[str, Any]] = {
    "dead after 1m + 30s": {
        "kind": "heartbeat", "name": "dead", "partition_by": ["device"],
        "interval": "1m", "grace": "30s", "emit": "dead",
    },
    "status change 1m + 30s": {
        "kind": "heartbeat", "name": "status", "partition_by": ["device"],
        "interval": "1m", "grace": "30s", "emit": "status_change",
    },
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    outage_rate: float = 0.003) -> pl.DataFrame:
    """Heartbeats of ``n_keys`` devices, ``n_events`` in all, in global time order.

    Each device starts within the first minute and beats every 60 s ± 5 s (normal jitter);
    after a beat, with probability ``outage_rate``, it goes quiet for 2 to 30 minutes
    (uniform). Every device reports until the end (the stream is cut at the ``n_events``-th
    beat). Columns: ``id`` (0.. in time order), ``device`` (``"d0000"``..), ``ts`` (UTC),
    ``battery`` (a slowly falling percentage).
    """
    rng = np.random.default_rng(seed)
    per_key = math.ceil(n_events / n_keys * 1.1) + 2
    gaps_s = rng.normal(60.0, 5.0, (n_keys, per_key)).clip(30.0, 90.0)
    outage = rng.random((n_keys, per_key)) < outage_rate
    gaps_s[outage] += rng.uniform(120.0, 1800.0, int(outage.sum()))
    gaps_s[:, 0] = rng.uniform(0.0, 60.0, n_keys)
    ts_us = START_US + np.cumsum(np.round(gaps_s * 1e6).astype(np.int64), axis=1)
    device = np.repeat(np.arange(n_keys), per_key)
    ts_flat = ts_us.ravel()
    order = np.argsort(ts_flat, kind="stable")[:n_events]
    battery = 100.0 - np.tile(np.arange(per_key) * 0.01, n_keys)
    return pl.DataFrame({
        "id": np.arange(order.shape[0], dtype=np.int64),
        "device": pl.Series([f"d{i:04d}" for i in range(n_keys)])[device[order]],
        "ts": pl.Series(ts_flat[order]).cast(pl.Datetime("us", "UTC")),
        "battery": battery[order].round(2),
    })


def python_matches(pattern: Any, df: pl.DataFrame) -> list[tuple[dict[str, Any], list[Any],
                                                                  list[str]]]:
    """The silences (and returns) as ``(key, event_ids, classifiers)``: keys in order of first
    appearance, then in time order — one event at a time, in plain Python."""
    rows = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    allowed = pattern.interval.microseconds + (
        0 if pattern.grace is None else pattern.grace.microseconds)
    alive_too = pattern.emit == "status_change"
    last_time = max(times, default=0)
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(rows):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)

    def event_id(row: int) -> Any:
        return row if id_col is None else rows[row][id_col]

    out = []
    for key, key_rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        key_rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        previous = None
        for row in key_rows:
            if previous is not None and times[row] - times[previous] > allowed:
                out.append((key_dict, [event_id(previous)], ["dead"]))
                if alive_too:
                    out.append((key_dict, [event_id(row)], ["alive"]))
            previous = row
        if previous is not None and times[previous] + allowed <= last_time:
            out.append((key_dict, [event_id(previous)], ["dead"]))
    return out


# --- measurement ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Time ``find_matches`` (best of 3, after a warm-up) and ``python_matches`` (once)."""
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--no-python", action="store_true")
    args = parser.parse_args(argv)
    df = generate_events(args.events, n_keys=args.keys)
    span_us = df.get_column("ts").dt.epoch("us")
    print(f"{df.height:,} events, {args.keys:,} keys, "
          f"{(span_us.max() - span_us.min()) / 3.6e9:.1f} h")  # type: ignore[operator]
    timed = []
    for name, spec in PATTERNS.items():
        pattern = parse_pattern(spec)
        find_matches(pattern, df.head(1000))  # warm-up
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            result = find_matches(pattern, df)
            best = min(best, time.perf_counter() - t)
        t = time.perf_counter()
        found = [(m.key, m.event_ids, m.classifiers) for m in result.matches]
        build = time.perf_counter() - t
        print(f"{name}: find_matches {best:.3f} s = {df.height / best / 1e6:.2f}M events/s "
              f"(+ {build:.3f} s to build the Match objects: "
              f"{df.height / (best + build) / 1e6:.2f}M events/s), {len(found):,} matches, "
              f"{len(result.pending):,} pending", flush=True)
        timed.append((name, pattern, best + build, found))
    print(f"peak RSS of the matcher runs: {_peak_rss_mb():.0f} MB", flush=True)
    if args.no_python:
        return
    for name, pattern, took_fast, found in timed:
        t = time.perf_counter()
        slow = python_matches(pattern, df)
        took = time.perf_counter() - t
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / took_fast:.1f}x slower than find_matches with the Match objects), "
              f"same matches: {slow == found}", flush=True)

if __name__ == "__main__":
    main()
