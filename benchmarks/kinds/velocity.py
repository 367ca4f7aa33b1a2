"""Velocity benchmark: a card-payment generator, a per-event pure-Python matcher, timings.

``generate_events`` simulates card payments with occasional card-testing sprees;
``python_matches`` keeps a running window per card row by row as a competent user would (a deque
and a running sum per key, conditions evaluated with ``cep.expr.eval_row``), with the semantics
of :mod:`cep.matcher.detectors.velocity`; ``main`` times both on the same events::

    python -m benchmarks.kinds.velocity [--events 1000000] [--keys 1000]

>>> df = generate_events(50, n_keys=3, seed=1)
>>> df.columns, df["ts"].is_sorted(), df.height
(['id', 'card', 'ts', 'amount_cents', 'channel'], True, 50)
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import sys
import time
from collections import deque
from typing import Any

import numpy as np
import polars as pl

from cep import expr as E

__all__ = ["PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
_PER_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}

PATTERNS: dict[str, dict[str, Any]] = {
    "online spend >= 300.00/min over 5m": {
        "kind": "velocity", "name": "spend spree", "partition_by": ["card"],
        "where": "channel = 'online'", "value_field": "amount_cents", "threshold": 30_000,
        "per": "minute", "window": "5m",
    },
    "payments >= 4/min over 2m": {
        "kind": "velocity", "name": "card testing", "partition_by": ["card"],
        "threshold": 4, "per": "minute", "window": "2m",
    },
}

Row = tuple[dict[str, Any], list[Any], list[str]]


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0, spree_share: float = 0.02) -> pl.DataFrame:
    """Card payments of ``n_keys`` cards in global time order.

    Background: Poisson arrivals at ``events_per_s`` overall (a card pays every ~50 s with
    1,000 cards), amounts log-normal around 30.00, 40% online. Sprees: about ``spree_share`` of
    the events come in runs of 5-40 online payments of 20.00-400.00 on one card within 1-5
    minutes. Columns: ``id`` (0.. in time order), ``card`` (``"c0000"``..), ``ts`` (UTC),
    ``amount_cents`` (Int64, the amount in minor units, as payment systems keep it),
    ``channel`` (``online`` / ``store``).
    """
    rng = np.random.default_rng(seed)
    n_spree = int(n_events * spree_share)
    sizes: list[int] = []
    while sum(sizes) < n_spree:
        sizes.append(int(rng.integers(5, 41)))
    if sizes:
        sizes[-1] -= sum(sizes) - n_spree
        sizes = [s for s in sizes if s > 0]
    n_background = n_events - sum(sizes)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_background)).astype(np.int64) + 1
    ts_bg = START_US + np.cumsum(gaps)
    span = int(ts_bg[-1] - START_US) if n_background else 1
    card_bg = rng.integers(0, n_keys, n_background)
    cents_bg = np.round(rng.lognormal(np.log(3000), 0.8, n_background)).astype(np.int64)
    online_bg = rng.random(n_background) < 0.4
    spree_ts, spree_card, spree_cents = [], [], []
    for size in sizes:
        begin = START_US + int(rng.integers(0, max(span, 1)))
        length = int(rng.integers(60, 301)) * 1_000_000
        spree_ts.append(begin + np.sort(rng.integers(0, length, size)))
        spree_card.append(np.full(size, rng.integers(0, n_keys)))
        spree_cents.append(rng.integers(2_000, 40_001, size))
    ts = np.concatenate([ts_bg, *spree_ts])
    card = np.concatenate([card_bg, *spree_card])
    cents = np.concatenate([cents_bg, *spree_cents])
    online = np.concatenate([online_bg, np.ones(n_events - n_background, dtype=bool)])
    order = np.argsort(ts, kind="stable")
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "card": pl.Series([f"c{i:04d}" for i in range(n_keys)])[card[order]],
        "ts": pl.Series(ts[order]).cast(pl.Datetime("us", "UTC")),
        "amount_cents": cents[order],
        "channel": pl.Series(["store", "online"])[online[order].astype(np.int64)],
    })


def python_matches(pattern: Any, df: pl.DataFrame) -> list[Row]:
    """The matches as ``(key, event_ids, classifiers)``, keys in order of first appearance, then
    in emission order — one event at a time, in plain Python."""
    where = E.parse_condition(pattern.where) if pattern.where else None
    rows_as_dicts = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    window = pattern.window.microseconds
    per_window = pattern.window.seconds / _PER_S[pattern.per]
    field = pattern.value_field
    def weight(row: int) -> float:
        return 1.0 if field is None else float(rows_as_dicts[row][field])

    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(rows_as_dicts):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)
    out: list[Row] = []
    for key, rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        qualifying = []
        for r in rows:
            event = rows_as_dicts[r]
            if where is not None and E.eval_row(where, event) is not True:
                continue
            if field is not None and (event[field] is None or event[field] != event[field]):
                continue  # NULL and NaN values are skipped
            qualifying.append(r)
        in_window: deque[int] = deque()
        total = 0.0
        above_before = False
        for t, group in itertools.groupby(qualifying, key=lambda r: times[r]):
            while in_window and times[in_window[0]] < t - window:
                total -= weight(in_window.popleft())
            just_before = total  # the window [t - window, t)
            while in_window and times[in_window[0]] <= t - window:
                total -= weight(in_window.popleft())
            for r in group:
                in_window.append(r)
                total += weight(r)
            above = total / per_window >= pattern.threshold
            if above and (just_before / per_window < pattern.threshold or not above_before):
                ids = [r if id_col is None else rows_as_dicts[r][id_col] for r in in_window]
                out.append((key_dict, ids, ["event"] * len(ids)))
            above_before = above
    return out


# --- measurement ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Time ``find_matches`` (best of ``--repeat``, after a warm-up; wall and process CPU time),
    then ``python_matches`` (once)."""
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5, help="find_matches runs (best kept)")
    parser.add_argument("--no-python", action="store_true")
    args = parser.parse_args(argv)
    df = generate_events(args.events, n_keys=args.keys)
    print(f"{df.height:,} events, {args.keys:,} keys, "
          f"{(df['ts'].max() - df['ts'].min()).total_seconds() / 3600:.1f} h")
    results = {}
    for name, spec in PATTERNS.items():
        pattern = parse_pattern(spec)
        find_matches(pattern, df.head(1000))  # warm-up (numba JIT or cache load)
        best = cpu = math.inf
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            result = find_matches(pattern, df)
            best = min(best, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
        results[name] = (pattern, result, best)
        print(f"{name}: find_matches {best:.3f} s = {df.height / best / 1e6:.2f}M events/s "
              f"(CPU {cpu:.3f} s = {df.height / cpu / 1e6:.2f}M events/s), "
              f"{len(result.matches):,} matches", flush=True)
    print(f"peak RSS of generation and find_matches: {_peak_rss_mb():.0f} MB", flush=True)
    if args.no_python:
        return
    for name, (pattern, result, best) in results.items():
        t = time.perf_counter()
        slow = python_matches(pattern, df)
        took = time.perf_counter() - t
        same = slow == [(m.key, m.event_ids, m.classifiers) for m in result.matches]
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / best:.1f}x slower), same matches: {same}", flush=True)


if __name__ == "__main__":
    main()
