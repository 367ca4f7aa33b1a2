"""Generate the benchmark events: keyed trades with a type A–E and a per-key price random walk.

Every value is drawn with NumPy from one seeded generator and assembled column-wise, so the
same ``(n_events, n_keys, seed)`` always gives the same frame, on any machine.

>>> df = generate_events(8, n_keys=3, seed=1)
>>> df.columns
['id', 'key', 'ts', 'type', 'price']
>>> df["id"].to_list() == list(range(8)), df["ts"].is_sorted()
(True, True)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["EVENTS_PER_S", "TYPES", "describe_events", "generate_events", "write_events"]

TYPES = ("A", "B", "C", "D", "E")
EVENTS_PER_S = 20.0
"""Mean arrival rate over all keys. With 1,000 keys a key sees an event every ~50 s, so the
gap from an A to the next B of its key (mean ~250 s) often exceeds the 5-minute WITHIN of
benchmark (a): the window really prunes (about 30% of A rows find their B too late)."""

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z


def generate_events(
    n_events: int = 1_000_000,
    *,
    n_keys: int = 1_000,
    seed: int = 20240101,
    events_per_s: float = EVENTS_PER_S,
) -> pl.DataFrame:
    """Events in global time order.

    Columns: ``id`` (Int64, 0..n-1 in time order), ``key`` (``"k0000"``..; uniform over
    ``n_keys``), ``ts`` (``Datetime("us", "UTC")``, Poisson arrivals at ``events_per_s``,
    strictly increasing), ``type`` (``"A"``..``"E"``, uniform), ``price`` (a random walk per key
    in whole cents from a per-key start between 50 and 150, so it carries exactly two decimals
    and repeats often enough that ``price = PREV(price)`` happens).
    """
    rng = np.random.default_rng(seed)
    gaps_us = np.floor(rng.exponential(1e6 / events_per_s, n_events)).astype(np.int64) + 1
    ts_us = START_US + np.cumsum(gaps_us)
    key_index = rng.integers(0, n_keys, n_events)
    types = rng.integers(0, len(TYPES), n_events)
    steps = rng.integers(-10, 11, n_events)  # cents
    start_cents = rng.integers(5_000, 15_000, n_keys)

    # Random walk per key: cumulative sum in key order, minus each key's running offset.
    order = np.argsort(key_index, kind="stable")
    sorted_keys = key_index[order]
    walk = np.cumsum(steps[order])
    first = np.flatnonzero(np.diff(sorted_keys, prepend=-1))
    before = np.repeat(walk[first] - steps[order][first], np.diff(np.append(first, n_events)))
    cents = np.empty(n_events, dtype=np.int64)
    cents[order] = walk - before + start_cents[sorted_keys]

    key_names = np.array([f"k{i:04d}" for i in range(n_keys)])
    return pl.DataFrame(
        {
            "id": np.arange(n_events, dtype=np.int64),
            "key": pl.Series(key_names[key_index], dtype=pl.String),
            "ts": pl.Series(ts_us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "type": pl.Series(np.array(TYPES)[types], dtype=pl.String),
            "price": np.round(cents / 100.0, 2),
        }
    )


def describe_events(df: pl.DataFrame, window_s: float = 300.0) -> dict[str, Any]:
    """Size, span, and how often an A row finds the next B of its key within ``window_s``."""
    rows = df.with_row_index("row").select("key", pl.col("row").cast(pl.Int64), "ts", "type")
    a = rows.filter(pl.col("type") == "A")
    b = rows.filter(pl.col("type") == "B").select("key", pl.col("row").alias("b_row"),
                                                  pl.col("ts").alias("b_ts"))
    pairs = a.join_asof(b, left_on="row", right_on="b_row", by="key", strategy="forward",
                        check_sortedness=False)
    gap_s = (pl.col("b_ts") - pl.col("ts")).dt.total_microseconds() / 1e6
    counts = pairs.select(
        in_window=(gap_s < window_s).sum(),
        too_late=(gap_s >= window_s).sum(),
        never=pl.col("b_row").is_null().sum(),
    ).row(0, named=True)
    span = df["ts"].max() - df["ts"].min() if df.height else timedelta(0)
    return {
        "events": df.height,
        "keys": df["key"].n_unique(),
        "span_h": span / timedelta(hours=1),  # type: ignore[operator]
        "a_rows": a.height,
        "a_next_b_in_window": int(counts["in_window"] or 0),
        "a_next_b_too_late": int(counts["too_late"] or 0),
        "a_no_next_b": int(counts["never"] or 0),
    }


def write_events(df: pl.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as Parquet (the file ``cep.events.load_events`` reads back)."""
    path = Path(path)
    df.write_parquet(path)
    return path
