"""Temporal-correlation benchmark: a login generator, a per-event pure-Python matcher, timings.

``generate_events`` simulates users logging in from a few devices; ``python_matches`` pairs A and
B events row by row as a competent user would (dict of per-key lists, per-group waiting lists,
conditions evaluated with ``cep.expr.eval_row``), with the semantics of
:mod:`cep.matcher.detectors.temporal_correlation`; ``main`` times both on the same events::

    python -m benchmarks.kinds.temporal_correlation [--events 1000000] [--keys 1000]

>>> df = generate_events(6, n_keys=2, seed=1)
>>> df.columns, df["ts"].is_sorted()
(['id', 'user', 'device', 'ts', 'type'], True)
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

from cep import expr as E

__all__ = ["PATTERNS", "generate_events", "main", "python_matches"]

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
TYPES = ("login", "login_failed", "password_reset", "logout")
TYPE_WEIGHTS = (0.80, 0.12, 0.03, 0.05)

PATTERNS: dict[str, dict[str, Any]] = {
    "failed login then reset, same device, 10m": {
        "kind": "temporal_correlation", "name": "fail then reset", "partition_by": ["user"],
        "a": "type = 'login_failed'", "b": "type = 'password_reset'",
        "correlate_on": ["device"], "max_gap": "10m", "order": "a_then_b",
    },
    "failed login and reset in any order, 10m": {
        "kind": "temporal_correlation", "name": "fail and reset", "partition_by": ["user"],
        "a": "type = 'login_failed'", "b": "type = 'password_reset'",
        "max_gap": "10m", "order": "any",
    },
}


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0) -> pl.DataFrame:
    """Login events of ``n_keys`` users in global time order.

    Poisson arrivals at ``events_per_s`` overall (a user acts every ~50 s with 1,000 users),
    each from a uniformly drawn user and one of the user's 3 devices; types ``login`` 80%,
    ``login_failed`` 12%, ``password_reset`` 3%, ``logout`` 5%. Columns: ``id``, ``user``
    (``"u0000"``..), ``device`` (``"d0"``..``"d2"``), ``ts`` (UTC), ``type``.
    """
    rng = np.random.default_rng(seed)
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps)
    user = rng.integers(0, n_keys, n_events)
    device = rng.integers(0, 3, n_events)
    kind = rng.choice(len(TYPES), n_events, p=TYPE_WEIGHTS)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "user": pl.Series([f"u{i:04d}" for i in range(n_keys)])[user],
        "device": pl.Series(["d0", "d1", "d2"])[device],
        "ts": pl.Series(ts_us).cast(pl.Datetime("us", "UTC")),
        "type": pl.Series(list(TYPES))[kind],
    })


def python_matches(pattern: Any, df: pl.DataFrame) -> list[tuple[dict[str, Any], list[Any],
                                                                  list[str]]]:
    """The pairs as ``(key, event_ids, classifiers)``, keys in order of first appearance, then
    in the order of each pair's later event — one event at a time, in plain Python."""
    a = E.parse_condition(pattern.a)
    b = E.parse_condition(pattern.b)
    rows_as_dicts = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    gap = pattern.max_gap.microseconds
    a_then_b = pattern.order == "a_then_b"
    per_key: dict[tuple[Any, ...], list[int]] = {}
    for row, event in enumerate(rows_as_dicts):
        per_key.setdefault(tuple(event[c] for c in pattern.partition_by), []).append(row)
    out = []
    for key, rows in per_key.items():
        key_dict = dict(zip(pattern.partition_by, key, strict=True))
        rows.sort(key=lambda r: times[r])  # stable: equal times keep input order
        waiting: dict[tuple[Any, ...], list[tuple[int, bool, bool]]] = {}  # (row, is_a, is_b)
        for row in rows:
            event = rows_as_dicts[row]
            is_a = E.eval_row(a, event) is True
            is_b = E.eval_row(b, event) is True
            group = tuple(event[c] for c in pattern.correlate_on)
            if not (is_a or is_b) or any(v is None for v in group):
                continue
            queue = [w for w in waiting.get(group, []) if times[row] - times[w[0]] <= gap]
            partner = None
            for w_row, w_a, w_b in queue:  # earliest first
                if a_then_b:
                    fits, partner_a = is_b and w_a, True
                elif is_a and not is_b:
                    fits, partner_a = w_b, False
                elif is_b and not is_a:
                    fits, partner_a = w_a, True
                else:  # both: the earliest waiting event, playing a if it can
                    fits, partner_a = True, w_a
                if fits:
                    partner = (w_row, w_a, w_b)
                    break
            if partner is not None:
                queue.remove(partner)
                labels = ["a", "b"] if partner_a else ["b", "a"]
                ids = [partner[0], row] if id_col is None else [
                    rows_as_dicts[partner[0]][id_col], event[id_col]]
                out.append((key_dict, ids, labels))
            elif a_then_b:
                if is_a:
                    queue.append((row, True, False))
            else:
                queue.append((row, is_a, is_b))
            waiting[group] = queue
    return out


# --- measurement ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Time ``find_matches`` (best of 3, after a warm-up) and ``python_matches`` (once)."""
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--no-python", action="store_true")
    args = parser.parse_args(argv)
    df = generate_events(args.events, n_keys=args.keys)
    print(f"{df.height:,} events, {args.keys:,} keys, "
          f"{(df['ts'].max() - df['ts'].min()).total_seconds() / 3600:.1f} h")
    results = {}
    for name, spec in PATTERNS.items():  # every fast run first: the peak RSS is theirs alone
        pattern = parse_pattern(spec)
        find_matches(pattern, df.head(1000))  # warm-up (imports, numba cache)
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            result = find_matches(pattern, df)
            best = min(best, time.perf_counter() - t)
        results[name] = (pattern, result, best)
        t = time.perf_counter()
        near_misses = len(list(result.timed_out))  # built on first read
        build = time.perf_counter() - t
        print(f"{name}: find_matches {best:.3f} s = {df.height / best / 1e6:.2f}M events/s, "
              f"{len(result.matches):,} matches, {near_misses:,} timed out (built in "
              f"{build:.3f} s), peak RSS so far {_peak_rss_mb():.0f} MB", flush=True)
    if args.no_python:
        return
    for name, (pattern, result, best) in results.items():
        t = time.perf_counter()
        slow = python_matches(pattern, df)
        took = time.perf_counter() - t
        same = slow == [(m.key, m.event_ids, m.classifiers) for m in result.matches]
        print(f"{name}: python {took:.3f} s = {df.height / took / 1e6:.2f}M events/s "
              f"({took / best:.1f}x the time of find_matches), same matches: {same}",
              flush=True)

if __name__ == "__main__":
    main()
