"""Count-threshold benchmark: a login generator, a per-event pure-Python matcher, timings.

``generate_events`` simulates users logging in, with occasional brute-force bursts of failed
logins; ``python_matches`` counts failed logins row by row as a competent user would (a deque
per key, conditions evaluated with ``cep.expr.eval_row``), with the semantics of
:mod:`cep.matcher.detectors.count_threshold`; ``main`` times both on the same events::

    python -m benchmarks.kinds.count_threshold [--events 1000000] [--keys 1000]

>>> df = generate_events(50, n_keys=3, seed=1)
>>> df.columns, df["ts"].is_sorted(), df.height
(['id', 'user', 'ts', 'status', 'ip'], True, 50)
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

PATTERNS: dict[str, dict[str, Any]] = {
    "5 failed logins in a sliding 1m": {
        "kind": "count_threshold", "name": "brute force", "partition_by": ["user"],
        "where": "status = 'failed'", "threshold": 5, "window": "1m",
    },
    "20 events in a tumbling 5m": {
        "kind": "count_threshold", "name": "busy user", "partition_by": ["user"],
        "threshold": 20, "window": "5m", "window_type": "tumbling",
    },
}

Row = tuple[dict[str, Any], list[Any], list[str]]


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0, burst_share: float = 0.02) -> pl.DataFrame:
    """Login events of ``n_keys`` users in global time order.

    Background: Poisson arrivals at ``events_per_s`` overall (a user logs in every ~50 s with
    1,000 users), 8% of them failed. Bursts: about ``burst_share`` of the events come in
    brute-force bursts of 5-30 failed logins on one user within 10-90 s. Columns: ``id``
    (0.. in time order), ``user`` (``"u0000"``..), ``ts`` (UTC), ``status`` (``ok`` /
    ``failed``), ``ip`` (``"10.0.x.y"``).
    """
    rng = np.random.default_rng(seed)
    n_burst_events = int(n_events * burst_share)
    sizes: list[int] = []
    while sum(sizes) < n_burst_events:
        sizes.append(int(rng.integers(5, 31)))
    if sizes:
        sizes[-1] -= sum(sizes) - n_burst_events
        sizes = [s for s in sizes if s > 0]
    n_background = n_events - sum(sizes)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_background)).astype(np.int64) + 1
    ts_bg = START_US + np.cumsum(gaps)
    span = int(ts_bg[-1] - START_US) if n_background else 1
    user_bg = rng.integers(0, n_keys, n_background)
    failed_bg = rng.random(n_background) < 0.08
    burst_ts, burst_user = [], []
    for size in sizes:
        begin = START_US + int(rng.integers(0, max(span, 1)))
        length = int(rng.integers(10, 91)) * 1_000_000
        burst_ts.append(begin + np.sort(rng.integers(0, length, size)))
        burst_user.append(np.full(size, rng.integers(0, n_keys)))
    ts = np.concatenate([ts_bg, *burst_ts]) if sizes else ts_bg
    user = np.concatenate([user_bg, *burst_user]) if sizes else user_bg
    failed = np.concatenate([failed_bg, np.ones(n_events - n_background, dtype=bool)])
    order = np.argsort(ts, kind="stable")
    ip = rng.integers(0, 65_536, n_events)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "user": pl.Series([f"u{i:04d}" for i in range(n_keys)])[user[order]],
        "ts": pl.Series(ts[order]).cast(pl.Datetime("us", "UTC")),
        "status": pl.Series(["ok", "failed"])[failed[order].astype(np.int64)],
        "ip": pl.Series([f"10.0.{i // 256}.{i % 256}" for i in range(256 * 256)])[ip],
    })


def python_matches(pattern: Any, df: pl.DataFrame) -> tuple[list[Row], list[Row]]:
    """``(matches, pending)`` as ``(key, event_ids, classifiers)``, keys in order of first
    appearance, then in emission order — one event at a time, in plain Python."""
    where = E.parse_condition(pattern.where) if pattern.where else None
    rows_as_dicts = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    window, threshold = pattern.window.microseconds, pattern.threshold
    last_time = max(times, default=0)
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(rows_as_dicts):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)
    matches: list[Row] = []
    pending: list[Row] = []
    for key, rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        qualifying = [r for r in rows if where is None or E.eval_row(where, rows_as_dicts[r]) is True]
        ids = {r: r if id_col is None else rows_as_dicts[r][id_col] for r in qualifying}
        if pattern.window_type == "tumbling":
            windows: dict[int, list[int]] = {}
            for r in qualifying:
                windows.setdefault(times[r] // window, []).append(r)
            for index, members in windows.items():
                if len(members) >= threshold:
                    found = (key_dict, [ids[r] for r in members], ["event"] * len(members))
                    (matches if (index + 1) * window <= last_time else pending).append(found)
            continue
        in_window: deque[int] = deque()
        above_before = False
        for t, group in itertools.groupby(qualifying, key=lambda r: times[r]):
            while in_window and times[in_window[0]] < t - window:
                in_window.popleft()
            just_before = len(in_window)  # the window [t - window, t)
            while in_window and times[in_window[0]] <= t - window:
                in_window.popleft()
            in_window.extend(group)
            above = len(in_window) >= threshold
            if above and (just_before < threshold or not above_before):
                matches.append((key_dict, [ids[r] for r in in_window], ["event"] * len(in_window)))
            above_before = above
    return matches, pending


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
              f"{len(result.matches):,} matches, {len(result.pending):,} pending", flush=True)
    print(f"peak RSS of generation and find_matches: {_peak_rss_mb():.0f} MB", flush=True)
    if args.no_python:
        return
    for name, (pattern, result, best) in results.items():
        t = time.perf_counter()
        slow = python_matches(pattern, df)
        took = time.perf_counter() - t
        same = slow == ([(m.key, m.event_ids, m.classifiers) for m in result.matches],
                        [(p.key, p.event_ids, p.classifiers) for p in result.pending])
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / best:.1f}x slower), same matches: {same}", flush=True)

if __name__ == "__main__":
    main()
