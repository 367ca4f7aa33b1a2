"""Aggregates in DEFINE: running, over the labels of the path under test (§1.5, §4.3)."""

from __future__ import annotations

import pytest

from tests.matcher.harness import events, find, run


def test_avg_counts_the_current_row_only_when_it_is_tested_for_that_variable(matcher):
    # Row 1 (4): A sees avg(B) over no rows = NULL, so B. Row 2 (6): avg(B) = 4, so B.
    # Row 3 (0): tested as A, avg(B) = (4 + 6) / 2 = 5: A.
    spec = {"pattern": "(A | B)*", "define": {"A": "avg(B.value) = 5"}}
    assert run(matcher, spec, events("value: 4 6 0")) == [([1, 2, 3], "B B A")]


def test_balancing_sums(matcher):
    # A holds when the earlier A rows sum to at most the B rows so far (NULL before any B).
    spec = {
        "pattern": "(A | B)*",
        "define": {"A": "sum(A.value) - A.value <= sum(B.value)"},
        "measures": {"sum_a": "RUNNING sum(A.value)", "sum_b": "RUNNING sum(B.value)"},
        "rows_per_match": "ALL",
    }
    result = find(matcher, spec, events("value: 4 6 10 1 1 1 10 5 1"))
    assert [(m.event_ids, " ".join(m.classifiers)) for m in result.matches] == [
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], "B A B A A A A B A")
    ]
    assert [(r["sum_a"], r["sum_b"]) for r in result.matches[0].row_measures] == [
        (None, 4),
        (6, 4),
        (6, 14),
        (7, 14),
        (8, 14),
        (9, 14),
        (19, 14),
        (19, 19),
        (20, 19),
    ]


def test_sum_skips_nulls(matcher):
    # With NULL propagation row 2 would fail and the matches would be [1] and [3, 4].
    spec = {"pattern": "A+", "define": {"A": "SUM(A.price) < 30"}}
    df = events("price: 10 null 15 10")
    assert run(matcher, spec, df) == [([1, 2, 3], "A A A"), ([4], "A")]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            "COUNT(B.*) = 0 AND SUM(B.price) IS NULL AND AVG(B.price) IS NULL "
            "AND MIN(B.price) IS NULL AND MAX(B.price) IS NULL AND COUNT(B.price) = 0",
            [([1], "A"), ([2], "A"), ([3], "A")],
        ),
        ("SUM(B.price) <= 0", []),
        ("NOT (SUM(B.price) <= 0)", []),
    ],
    ids=["null-and-zero", "comparison-with-null-fails", "negated-null-fails"],
)
def test_aggregate_over_no_rows_is_null_and_count_is_zero(matcher, condition, expected):
    spec = {"pattern": "A B?", "define": {"A": condition, "B": "price < 0"}}
    assert run(matcher, spec, events("price: 1 2 3")) == expected


def test_count_of_a_variable(matcher):
    spec = {"pattern": "A+", "define": {"A": "COUNT(A.*) <= 2"}}
    df = events("x: 1 2 3 4 5")
    assert run(matcher, spec, df) == [([1, 2], "A A"), ([3, 4], "A A"), ([5], "A")]


def test_unqualified_count_star_counts_all_rows_of_the_partial_match(matcher):
    spec = {"pattern": "A B+", "define": {"B": "COUNT(*) <= 3"}}
    df = events("x: 1 2 3 4 5")
    assert run(matcher, spec, df) == [([1, 2, 3], "A B B"), ([4, 5], "A B")]


def test_unqualified_sum_covers_every_variable(matcher):
    # SUM(price) over all rows of the partial match, current row included.
    spec = {"pattern": "A B+", "define": {"B": "SUM(price) <= 10"}}
    df = events("price: 4 3 3 1 5 5")
    assert run(matcher, spec, df) == [([1, 2, 3], "A B B"), ([4, 5], "A B")]


def test_min_and_max_over_a_variable(matcher):
    spec = {"pattern": "A+", "define": {"A": "MAX(A.price) - MIN(A.price) <= 2"}}
    df = events("price: 5 6 7 8 3 4")
    assert run(matcher, spec, df) == [([1, 2, 3], "A A A"), ([4], "A"), ([5, 6], "A A")]


def test_aggregate_is_recomputed_after_a_label_changes_on_backtrack(matcher):
    # (A | B)* X: A is preferred everywhere; X needs exactly one B before it. The first path
    # A A X fails (no B); backtracking relabels row 2 as B and X's COUNT(B.*) sees it.
    spec = {
        "pattern": "(A | B)* X",
        "define": {"X": "x = 9 AND COUNT(B.*) = 1 AND SUM(B.x) = 2"},
    }
    assert run(matcher, spec, events("x: 1 2 9")) == [([1, 2, 3], "A B X")]


def test_period_length(matcher):
    # (A B* C | D)*: A B* C is a run of consecutive minutes; B* must give back a row for C.
    spec = {
        "pattern": "(A B* C | D)*",
        "partition_by": ["user_id"],
        "define": {
            "B": "minute_of_the_day = PREV(minute_of_the_day) + 1",
            "C": "minute_of_the_day = PREV(minute_of_the_day) + 1",
        },
        "measures": {
            "periods_total": "COALESCE(sum(C.minute_of_the_day) - sum(A.minute_of_the_day), 0)"
        },
    }
    df = events("user_id: 1 1 1 1 1 2 2 2", "minute_of_the_day: 3 4 5 8 9 2 3 4")
    result = find(matcher, spec, df)
    assert [
        (m.key["user_id"], m.event_ids, " ".join(m.classifiers), m.measures["periods_total"])
        for m in result.matches
    ] == [
        (1, [1, 2, 3, 4, 5], "A B C A C", 3),
        (2, [6, 7, 8], "A B C", 2),
    ]


def test_running_average_includes_the_current_row(matcher):
    # The Flink docs' A AS AVG(A.price) < 15: 12, 14.5, 14, 14.5 hold; with 20 it is 15.6.
    spec = {"pattern": "A+ B", "define": {"A": "AVG(A.price) < 15"}}
    assert run(matcher, spec, events("price: 12 17 13 16 20")) == [([1, 2, 3, 4, 5], "A A A A B")]
