"""Hand-written formulations of the three benchmark patterns: what a user could write instead.

Each function takes the events frame (columns ``id``, ``key``, ``ts``, ``type``, ``price``)
and returns the matches as ``(key, [event ids], [classifiers])`` in the matcher's output order:
keys in order of first appearance, then matches in order. The semantics are those of
SEMANTICS.md §1 (partitioned by ``key``, ordered by ``ts`` with ties in input order,
ONE ROW PER MATCH, AFTER MATCH SKIP PAST LAST ROW), worked out for each pattern by hand:

(a) ``PATTERN (A X*? B) DEFINE A AS type = 'A', B AS type = 'B' WITHIN 5m``.
    X is undefined, so it takes any row; ``X*?`` is reluctant, so the match ends at the
    *first* B after the A. WITHIN is exclusive: the match needs ``ts(B) - ts(A) < 5 min``;
    a later B would only be further away, so when the first B is too late no match starts at
    that A and the search moves on to the next row.

(b) ``PATTERN (A B+ C+) DEFINE B AS price < PREV(price), C AS price > PREV(price)``.
    A is any row. ``B+`` is greedy: it takes every falling row; a falling row can never be C,
    so backtracking to fewer B rows cannot help. ``C+`` then takes every rising row. At least
    one of each is needed.

(c) ``PATTERN (A B{3,} C) DEFINE B AS B.price > A.price, C AS C.price < FIRST(B.price)``.
    A is any row; every B row must be above the A price; C must be below the first B price.
    ``B{3,}`` is greedy: it takes the longest run above A's price, then C is tried on the row
    after the run; when C fails (or the partition ends) the engine backtracks, giving up the
    last B row so C is tried one row earlier, down to three B rows.

The pure-Python loops group rows per key with a dict of lists and scan each key's lists; they
use no NumPy and no Polars beyond reading the columns out of the frame. The Polars version of
(a) is an as-of join (see :func:`a_then_b_join_asof`).

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> df = pl.DataFrame({
...     "id": [1, 2, 3, 4, 5, 6],
...     "key": ["x", "x", "y", "x", "y", "y"],
...     "ts": [datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in (0, 1, 2, 3, 4, 10)],
...     "type": ["A", "A", "A", "B", "C", "B"],
...     "price": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
... })
>>> a_then_b_loop(df)
[('x', [1, 2, 4], ['A', 'X', 'B'])]
>>> a_then_b_join_asof(df) == a_then_b_loop(df)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import polars as pl

__all__ = [
    "CASES",
    "MatchList",
    "a_then_b_join_asof",
    "a_then_b_join_asof_spans",
    "a_then_b_loop",
    "as_match_list",
    "group_rows",
    "rise_over_a_loop",
    "v_shape_loop",
]

MatchList = list[tuple[Any, list[Any], list[str]]]
WITHIN_A = timedelta(minutes=5)


def as_match_list(matches: Iterable[Any]) -> MatchList:
    """The matcher's ``Match`` objects in the representation above (key of the one column)."""
    return [
        (next(iter(m.key.values())), list(m.event_ids), list(m.classifiers)) for m in matches
    ]


def _in_time_order(df: pl.DataFrame) -> pl.DataFrame:
    # Stable sort: rows with equal times keep their input order, as the matcher does.
    return df if df["ts"].is_sorted() else df.sort("ts", maintain_order=True)


def group_rows(keys: list[Any]) -> dict[Any, list[int]]:
    """Row positions per key, keys in order of first appearance (dicts keep insertion order)."""
    groups: dict[Any, list[int]] = {}
    for row, key in enumerate(keys):
        rows = groups.get(key)
        if rows is None:
            groups[key] = [row]
        else:
            rows.append(row)
    return groups


def a_then_b_loop(df: pl.DataFrame, within: timedelta = WITHIN_A) -> MatchList:
    """(a) ``A X*? B`` WITHIN ``within``: an A, then the first B of the same key."""
    df = _in_time_order(df)
    ids = df["id"].to_list()
    ts_us = df["ts"].dt.epoch("us").to_list()
    types = df["type"].to_list()
    window_us = within // timedelta(microseconds=1)
    out: MatchList = []
    for key, rows in group_rows(df["key"].to_list()).items():
        kinds = [types[r] for r in rows]
        i = 0
        while True:
            try:
                i = kinds.index("A", i)
                j = kinds.index("B", i + 1)
            except ValueError:  # no A left, or no B after this A (nor after any later A)
                break
            if ts_us[rows[j]] - ts_us[rows[i]] < window_us:
                out.append((key, [ids[r] for r in rows[i : j + 1]], ["A", *["X"] * (j - i - 1), "B"]))
                i = j + 1
            else:
                i += 1
    return out


def v_shape_loop(df: pl.DataFrame) -> MatchList:
    """(b) ``A B+ C+``: any row, then falling rows, then rising rows."""
    df = _in_time_order(df)
    ids = df["id"].to_list()
    prices = df["price"].to_list()
    out: MatchList = []
    for key, rows in group_rows(df["key"].to_list()).items():
        p = [prices[r] for r in rows]
        n = len(p)
        i = 0
        while i < n - 2:
            j = i + 1
            while j < n and p[j] < p[j - 1]:
                j += 1
            if j == i + 1:
                i += 1
                continue
            k = j
            while k < n and p[k] > p[k - 1]:
                k += 1
            if k == j:
                i += 1
                continue
            out.append((key, [ids[r] for r in rows[i:k]], ["A", *["B"] * (j - i - 1), *["C"] * (k - j)]))
            i = k
    return out


def rise_over_a_loop(df: pl.DataFrame) -> MatchList:
    """(c) ``A B{3,} C``: at least three rows above A's price, then one below the first of them."""
    df = _in_time_order(df)
    ids = df["id"].to_list()
    prices = df["price"].to_list()
    out: MatchList = []
    for key, rows in group_rows(df["key"].to_list()).items():
        p = [prices[r] for r in rows]
        n = len(p)
        i = 0
        while i < n - 4:
            a = p[i]
            r = i + 1
            while r < n and p[r] > a:
                r += 1
            # Rows i+1 .. r-1 can all be B. Greedy: C on row r first, then one row earlier
            # each time C fails, as long as three B rows remain (C no earlier than i+4).
            c = -1
            if r >= i + 4:
                first_b = p[i + 1]
                for q in range(min(r, n - 1), i + 3, -1):
                    if p[q] < first_b:
                        c = q
                        break
            if c < 0:
                i += 1
                continue
            out.append((key, [ids[x] for x in rows[i : c + 1]], ["A", *["B"] * (c - i - 1), "C"]))
            i = c + 1
    return out


def a_then_b_join_asof_spans(df: pl.DataFrame, within: timedelta = WITHIN_A) -> pl.DataFrame:
    """(a) as Polars: the matches as ``key``, ``start`` and ``end`` rows (of ``df`` in time order).

    Every A row is joined to the next B row of its key (as-of join on the row position,
    strategy forward, by key). A match needs that B within the window. Under SKIP PAST LAST
    ROW the sequential loop takes, among the A rows that share one next B, the first whose B is
    in time — and only that one: A rows sharing a B lie between two consecutive B rows of the
    key, a later A of the group is closer to the B (so validity is monotone within a group), and
    a match ends at that B, past every other A of the group. Different groups are separated by
    a B row, so their matches never overlap. Hence "first valid A per (key, next B)" is
    exactly the matcher's answer, with no loop at all. Ties in time are broken by input order
    because the as-of key is the row position, not the time.
    """
    events = _in_time_order(df).with_row_index("row").select(
        "key", pl.col("row").cast(pl.Int64), "ts", "type"
    )
    a = events.filter(pl.col("type") == "A").select("key", "row", "ts")
    b = events.filter(pl.col("type") == "B").select("key", pl.col("row").alias("end"), pl.col("ts").alias("end_ts"))
    pairs = a.join_asof(b, left_on="row", right_on="end", by="key", strategy="forward", check_sortedness=False)
    return (
        pairs.filter(pl.col("end").is_not_null() & (pl.col("end_ts") - pl.col("ts") < within))
        .unique(subset=["key", "end"], keep="first", maintain_order=True)
        .select("key", pl.col("row").alias("start"), "end")
    )


def a_then_b_join_asof(df: pl.DataFrame, within: timedelta = WITHIN_A) -> MatchList:
    """(a) as Polars, expanded to the full match list (every event from the A to the B)."""
    df = _in_time_order(df)
    spans = a_then_b_join_asof_spans(df, within)
    events = df.with_row_index("row").select("key", pl.col("row").cast(pl.Int64), "id")
    first_seen = events.group_by("key", maintain_order=True).agg(pl.col("row").first().alias("key_rank"))
    inside = (
        events.join_asof(spans, left_on="row", right_on="start", by="key", strategy="backward",
                         check_sortedness=False)
        .filter(pl.col("row") <= pl.col("end"))
        .group_by("start", maintain_order=True)
        .agg(pl.col("key").first(), pl.col("id"))
        .join(first_seen, on="key")
        .sort("key_rank", "start")
    )
    return [
        (key, ids, ["A", *["X"] * (len(ids) - 2), "B"])
        for key, ids in zip(inside["key"].to_list(), inside["id"].to_list(), strict=True)
    ]


CASES: dict[str, dict[str, Any]] = {
    "a": {
        "title": "(a) A then B within 5m",
        "pattern": {
            "kind": "match_recognize", "name": "a_then_b", "partition_by": ["key"], "order_by": "ts",
            "pattern": "A X*? B", "define": {"A": "type = 'A'", "B": "type = 'B'"},
            "within": "5m",
        },
        "sql": "PATTERN (A X*? B) DEFINE A AS type='A', B AS type='B' WITHIN 5m",
        "target_events_per_s": 5_000_000,
        "alternatives": {"hand loop": a_then_b_loop, "Polars join_asof": a_then_b_join_asof},
    },
    "b": {
        "title": "(b) V shape",
        "pattern": {
            "kind": "match_recognize", "name": "v_shape", "partition_by": ["key"], "order_by": "ts",
            "pattern": "A B+ C+",
            "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
        },
        "sql": "PATTERN (A B+ C+) DEFINE B AS price < PREV(price), C AS price > PREV(price)",
        "target_events_per_s": 2_500_000,
        "alternatives": {"hand loop": v_shape_loop},
    },
    "c": {
        "title": "(c) cross-variable rise over A",
        "pattern": {
            "kind": "match_recognize", "name": "rise_over_a", "partition_by": ["key"], "order_by": "ts",
            "pattern": "A B{3,} C",
            "define": {"B": "B.price > A.price", "C": "C.price < FIRST(B.price)"},
        },
        "sql": "PATTERN (A B{3,} C) DEFINE B AS B.price > A.price, C AS C.price < FIRST(B.price)",
        "target_events_per_s": 500_000,
        "alternatives": {"hand loop": rise_over_a_loop},
    },
}
"""The benchmark cases: the pattern (JSON form), its SQL, the target, and the alternatives."""
