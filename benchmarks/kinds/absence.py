"""Absence benchmark: a shop-events generator, a per-event pure-Python matcher, the measurement.

``generate_events`` simulates customers browsing, ordering and paying; ``python_matches`` is the
absence detector a competent user would write row by row (dict of per-key lists, a list of open
waits per key), with the semantics of :mod:`cep.matcher.detectors.absence`; ``main`` times both
on the same events::

    python -m benchmarks.kinds.absence [--events 1000000] [--keys 1000]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'customer', 'ts', 'type', 'ref'], True)
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from cep import expr as E

__all__ = ["PATTERNS", "PREDICATES", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
TYPES = ("view", "cart", "order", "paid", "ship")
TYPE_WEIGHTS = (0.55, 0.20, 0.10, 0.10, 0.05)

PATTERNS: dict[str, dict[str, Any]] = {
    "unpaid order 15m": {
        "kind": "absence", "name": "unpaid", "partition_by": ["customer"],
        "trigger": "type = 'order'", "expected": "type = 'paid'", "timeout": "15m",
    },
    "unpaid order 15m, correlate_on ref": {
        "kind": "absence", "name": "unpaid ref", "partition_by": ["customer"],
        "trigger": "type = 'order'", "expected": "type = 'paid'", "timeout": "15m",
        "correlate_on": ["ref"],
    },
}

Predicate = Callable[[dict[str, Any]], bool]
PREDICATES: dict[str, tuple[Predicate, Predicate]] = {
    # What the user would write instead of the SQL text: (trigger, expected).
    "type = 'order'": (lambda e: e["type"] == "order", lambda e: e["type"] == "paid"),
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0) -> pl.DataFrame:
    """Shop events of ``n_keys`` customers in global time order.

    Poisson arrivals at ``events_per_s`` overall (a customer acts every ~50 s with 1,000
    customers), each from a uniformly drawn customer; ``type`` is view 55%, cart 20%, order 10%,
    paid 10%, ship 5%; ``ref`` is the customer's order number (0-4) the event is about. With a
    15-minute timeout about 15% of orders are never followed by a payment.
    """
    rng = np.random.default_rng(seed)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps)
    customer = rng.integers(0, n_keys, n_events)
    kind = rng.choice(len(TYPES), n_events, p=TYPE_WEIGHTS)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "customer": pl.Series([f"c{i:04d}" for i in range(n_keys)])[customer],
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "type": pl.Series(list(TYPES))[kind],
        "ref": rng.integers(0, 5, n_events),
    })


def _sql_predicate(condition: E.Expr) -> Predicate:
    return lambda event: E.eval_row(condition, event) is True


def python_matches(
    pattern: Any, df: pl.DataFrame, predicates: tuple[Predicate, Predicate] | None = None
) -> list[tuple[dict[str, Any], list[Any], list[str]]]:
    """The unanswered triggers as ``(key, event_ids, classifiers)``: keys in order of first
    appearance, then by deadline and trigger — one event at a time, in plain Python.

    ``predicates`` replaces the SQL conditions by hand-written functions (the benchmark's
    fair baseline); without it each row is tested with ``cep.expr.eval_row``.
    """
    is_trigger, is_expected = predicates or (
        _sql_predicate(E.parse_condition(pattern.trigger)),
        _sql_predicate(E.parse_condition(pattern.expected)),
    )
    rows = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    timeout = pattern.timeout.microseconds
    last_time = max(times, default=0)
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(rows):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)
    out = []
    for key, key_rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        key_rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        open_waits: list[tuple[int, int, tuple[Any, ...]]] = []  # (deadline, row, group)
        unanswered: list[tuple[int, int]] = []
        for row in key_rows:
            event = rows[row]
            t = times[row]
            group = tuple(event[c] for c in pattern.correlate_on)
            still_open = []
            for deadline, w_row, w_group in open_waits:
                if deadline < t:
                    unanswered.append((deadline, w_row))
                elif not (w_group == group and times[w_row] < t and is_expected(event)):
                    still_open.append((deadline, w_row, w_group))
            open_waits = still_open
            if is_trigger(event):
                open_waits.append((t + timeout, row, group))
        unanswered += [(d, r) for d, r, _ in open_waits if d <= last_time]
        for _, row in sorted(unanswered):  # by deadline, then row (= time, then input order)
            out.append((key_dict, [row if id_col is None else rows[row][id_col]], ["trigger"]))
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
        slow = python_matches(pattern, df, PREDICATES[PATTERNS[name]["trigger"]])
        took = time.perf_counter() - t
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / took_fast:.1f}x slower than find_matches with the Match objects), "
              f"same matches: {slow == found}", flush=True)

if __name__ == "__main__":
    main()
