"""Dedup benchmark: an at-least-once telemetry generator, a per-event pure-Python matcher, timings.

``generate_events`` simulates devices sending messages through an at-least-once pipeline (some
messages are delivered twice or more);
``python_matches`` finds the duplicates row by row as a competent user would (a dict from
(key, fields) to the last kept event), with the semantics of
:mod:`cep.matcher.detectors.dedup`; ``main`` times both on the same events::

    python -m benchmarks.kinds.dedup [--events 1000000] [--keys 1000]

>>> df = generate_events(50, n_keys=3, seed=1)
>>> df.columns, df["ts"].is_sorted(), df.height
(['id', 'device', 'ts', 'msg_id', 'alert'], True, 50)
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
ALERTS = ("overheat", "low_battery", "door_open", "signal_lost", "tamper")

PATTERNS: dict[str, dict[str, Any]] = {
    "redelivered msg_id within 1m": {
        "kind": "dedup", "name": "redelivery", "partition_by": ["device"],
        "fields": ["msg_id"], "window": "1m",
    },
    "redelivered (device, msg_id) within 5m, no partition": {
        "kind": "dedup", "name": "redelivery", "fields": ["device", "msg_id"], "window": "5m",
    },
}

Row = tuple[dict[str, Any], list[Any], list[str]]


def generate_events(n_events: int = 1_000_000, *, n_keys: int = 1_000, seed: int = 20240101,
                    events_per_s: float = 20.0, redelivery: float = 0.02) -> pl.DataFrame:
    """Telemetry messages of ``n_keys`` devices in global time order.

    Messages arrive as Poisson events at ``events_per_s`` overall (a device reports every ~50 s
    with 1,000 devices); a share ``redelivery`` of the delivered rows are copies of a message
    redelivered 0.1-90 s after the original (same device and ``msg_id``). ``alert`` is NULL on
    97% of the messages, else one of five alert names. Columns: ``id`` (0.. in time order),
    ``device`` (``"d0000"``..), ``ts`` (UTC), ``msg_id`` (Int64), ``alert`` (String).
    """
    rng = np.random.default_rng(seed)
    n_copies = int(n_events * redelivery)
    n_original = n_events - n_copies
    gaps = np.floor(rng.exponential(1e6 / events_per_s, n_original)).astype(np.int64) + 1
    ts_orig = START_US + np.cumsum(gaps)
    device_orig = rng.integers(0, n_keys, n_original)
    msg_orig = rng.permutation(n_original).astype(np.int64) + 1_000_000
    has_alert = rng.random(n_original) < 0.03
    alert_orig = np.where(has_alert, rng.integers(0, len(ALERTS), n_original), -1)
    source = rng.integers(0, n_original, n_copies)
    delay = rng.integers(100_000, 90_000_001, n_copies)
    ts = np.concatenate([ts_orig, ts_orig[source] + delay])
    device = np.concatenate([device_orig, device_orig[source]])
    msg = np.concatenate([msg_orig, msg_orig[source]])
    alert = np.concatenate([alert_orig, alert_orig[source]])
    order = np.argsort(ts, kind="stable")
    alert_names = pl.Series([*ALERTS, None], dtype=pl.String)
    return pl.DataFrame({
        "id": np.arange(n_events, dtype=np.int64),
        "device": pl.Series([f"d{i:04d}" for i in range(n_keys)])[device[order]],
        "ts": pl.Series(ts[order]).cast(pl.Datetime("us", "UTC")),
        "msg_id": msg[order],
        "alert": alert_names[alert[order]],
    })


def python_matches(pattern: Any, df: pl.DataFrame) -> list[Row]:
    """The duplicates as ``(key, event_ids, classifiers)``, keys in order of first appearance,
    then in (time, input) order of the duplicate — one event at a time, in plain Python."""
    rows_as_dicts = df.to_dicts()
    id_col = pattern.id_field or ("id" if "id" in df.columns else None)
    times = df.get_column(pattern.order_by).dt.epoch("us").to_list()
    window = pattern.window.microseconds
    per_key: dict[tuple[Any, ...], list[Row]] = {}
    for row in range(len(rows_as_dicts)):  # first appearance fixes the key order
        per_key.setdefault(tuple(rows_as_dicts[row][c] for c in pattern.partition_by), [])
    kept: dict[tuple[Any, ...], int] = {}
    for row in sorted(range(len(rows_as_dicts)), key=times.__getitem__):  # stable
        event = rows_as_dicts[row]
        key = tuple(event[c] for c in pattern.partition_by)
        group = (key, tuple(event[f] for f in pattern.fields))
        last = kept.get(group)
        if last is not None and times[row] - times[last] < window:
            ids = [last, row] if id_col is None else [rows_as_dicts[last][id_col], event[id_col]]
            per_key[key].append((dict(zip(pattern.partition_by, key, strict=True)), ids,
                                 ["kept", "duplicate"]))
        else:
            kept[group] = row
    return [found for rows in per_key.values() for found in rows]


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
