"""Session benchmark: a web-activity generator, a per-event pure-Python sessioniser, the measurement.

``generate_events`` simulates users who come back in bursts of activity; ``python_matches`` is
the session detector a competent user would write row by row (per-key lists, the open session's
rows, its aggregates computed when it closes), with the semantics of
:mod:`cep.matcher.detectors.session`; ``main`` times both::

    python -m benchmarks.kinds.session [--events 1000000] [--keys 1000] [--no-python]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'user', 'ts', 'type', 'amount'], True)
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from cep import expr as E

__all__ = ["HAND_WRITTEN", "PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
TYPES = ("view", "click", "cart", "buy", "ping")
TYPE_WEIGHTS = (0.55, 0.25, 0.08, 0.02, 0.10)

PATTERNS: dict[str, dict[str, Any]] = {
    "sessions, gap 30m": {
        "kind": "session", "name": "visits", "partition_by": ["user"], "gap": "30m",
    },
    "buying sessions, gap 30m, max 2h, where + having": {
        "kind": "session", "name": "buyers", "partition_by": ["user"], "gap": "30m",
        "max_duration": "2h", "where": "type <> 'ping'",
        "having": "event_count >= 5 AND SUM(amount) > 50 AND MAX(amount) < 400",
    },
}

Row = dict[str, Any]
HAND_WRITTEN: dict[str, tuple[Callable[[Row], bool] | None, Callable[[dict[str, Any]], bool] | None]] = {
    # What the user would write instead of the SQL text: (where, having over a session summary).
    "visits": (None, None),
    "buyers": (
        lambda e: e["type"] != "ping",
        lambda s: s["event_count"] >= 5 and s["sum_amount"] is not None and s["sum_amount"] > 50
        and s["max_amount"] is not None and s["max_amount"] < 400,
    ),
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101
                    ) -> pl.DataFrame:
    """Activity of ``n_keys`` users in global time order.

    Each user makes the same number of events: visits of ~20 events on average (a new visit
    after a pause of 1-8 hours, otherwise 5-120 s between clicks), starting at a random time in
    the first day. ``type`` is view 55%, click 25%, cart 8%, buy 2%, ping 10% (background
    pings); ``amount`` is the price of a cart or buy event (5-300), else NULL.
    """
    rng = np.random.default_rng(seed)
    per_key = -(-n_events // n_keys)
    user = np.repeat(np.arange(n_keys), per_key)[:n_events]
    new_visit = rng.random(n_events) < 0.05
    gaps = np.where(new_visit, rng.uniform(3_600, 8 * 3_600, n_events),
                    rng.uniform(5, 120, n_events))
    gaps_us = (gaps * 1e6).astype(np.int64)
    first = np.flatnonzero(np.diff(user, prepend=-1))
    gaps_us[first] = rng.integers(0, 86_400_000_000, first.shape[0])
    walk = np.cumsum(gaps_us)
    ts_us = START_US + walk - np.repeat(walk[first] - gaps_us[first], np.diff(
        np.append(first, n_events)))
    order = np.argsort(ts_us, kind="stable")
    kind = rng.choice(len(TYPES), n_events, p=TYPE_WEIGHTS)
    amount = np.round(rng.uniform(5, 300, n_events), 2)
    priced = (kind == 2) | (kind == 3)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "user": pl.Series([f"u{i:04d}" for i in range(n_keys)])[user[order]],
        "ts": pl.Series(ts_us[order]).cast(pl.Datetime("us", "UTC")),
        "type": pl.Series(list(TYPES))[kind[order]],
        "amount": pl.Series(np.where(priced, amount, np.nan)[order]).fill_nan(None),
    })


def _aggregate(agg: E.Agg, rows: list[Row]) -> Any:
    if agg.arg is None:
        return len(rows)
    values = [v for v in (E.eval_row(agg.arg, r) for r in rows) if v is not None]
    if agg.func == "COUNT":
        return len(values)
    if not values:
        return None
    if agg.func in ("SUM", "AVG"):
        total = values[0]
        for v in values[1:]:
            total = total + v
        return total if agg.func == "SUM" else total / len(values)
    return min(values) if agg.func == "MIN" else max(values)


def python_matches(
    pattern: Any, df: pl.DataFrame, hand_written: bool = False
) -> list[tuple[dict[str, Any], list[Any], list[str]]]:
    """The closed sessions that satisfy ``having`` as ``(key, event_ids, classifiers)``: keys in
    order of first appearance, then session order — one event at a time, in plain Python.

    With ``hand_written``, ``where`` and ``having`` are the functions of :data:`HAND_WRITTEN`
    (the benchmark's fair baseline); otherwise they are evaluated with ``cep.expr.eval_row``.
    """
    where_fn: Callable[[Row], bool] | None
    having_fn: Callable[[list[Row], int], bool] | None
    if hand_written:
        where_fn, summary_fn = HAND_WRITTEN[pattern.name]

        def having(rows: list[Row], duration_us: int) -> bool:
            if summary_fn is None:
                return True
            amounts = [r["amount"] for r in rows if r["amount"] is not None]
            total = None
            for a in amounts:
                total = a if total is None else total + a
            return summary_fn({"event_count": len(rows), "duration_s": duration_us / 1e6,
                               "sum_amount": total, "max_amount": max(amounts, default=None)})

        having_fn = having
    else:
        where_expr = None if pattern.where is None else E.parse_condition(pattern.where)
        having_expr = None if pattern.having is None else E.parse_condition(
            pattern.having, features=E.Features(aggregates=True))
        where_fn = None if where_expr is None else (
            lambda e: E.eval_row(where_expr, e) is True)

        def having_sql(rows: list[Row], duration_us: int) -> bool:
            if having_expr is None:
                return True
            summary = {"event_count": len(rows), "duration_s": duration_us / 1e6}
            return E.eval_row(having_expr, summary,
                              resolve=lambda agg: _aggregate(agg, rows)) is True  # type: ignore[arg-type]

        having_fn = having_sql
    events = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    last_time = max(times, default=0)
    gap = pattern.gap.microseconds
    max_dur = math.inf if pattern.max_duration is None else pattern.max_duration.microseconds
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(events):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)
    out = []
    for key, key_rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        key_rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        sessions: list[list[int]] = []
        for row in key_rows:
            if where_fn is not None and not where_fn(events[row]):
                continue
            t = times[row]
            current = sessions[-1] if sessions else None
            if current and t - times[current[-1]] <= gap and t - times[current[0]] <= max_dur:
                current.append(row)
            else:
                sessions.append([row])
        if sessions:
            last = sessions[-1]
            deadline = min(times[last[-1]] + gap, times[last[0]] + max_dur)
            if deadline > last_time:
                sessions.pop()  # still open at the end: pending, not a match
        for session in sessions:
            rows = [events[r] for r in session]
            if having_fn(rows, times[session[-1]] - times[session[0]]):
                ids = [r if id_col is None else events[r][id_col] for r in session]
                out.append((key_dict, ids, ["event"] * len(session)))
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
        slow = python_matches(pattern, df, hand_written=True)
        took = time.perf_counter() - t
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.3f}M events/s "
              f"({took / took_s[name]:.0f}x the matcher's time), same matches: "
              f"{slow == found[name]}", flush=True)


if __name__ == "__main__":
    main()
