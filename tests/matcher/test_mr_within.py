"""WITHIN: a match needs last_ts - first_ts < within (exclusive, Flink's rule; §1.10, §4.8)."""

from __future__ import annotations

import pytest

from tests.matcher.harness import events, run


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ("ts: 0 2", []),
        ("ts: 0 1.999999", [([1, 2], "A B")]),
        ("ts: 0 1", [([1, 2], "A B")]),
        ("ts: 0 2.5", []),
    ],
    ids=["span-equal-to-within-fails", "one-microsecond-under-passes", "well-under", "over"],
)
def test_within_bound_is_exclusive(matcher, times, expected):
    assert run(matcher, {"pattern": "A B", "within": "2s"}, events(times)) == expected


def test_match_spanning_exactly_one_hour_is_not_within_one_hour(matcher):
    # The Flink SQL docs claim such a match; Flink's own tests (and this matcher) reject it.
    assert run(matcher, {"pattern": "A B", "within": "1h"}, events("ts: 0 3600")) == []
    assert run(matcher, {"pattern": "A B", "within": "1h"}, events("ts: 0 3599")) == [
        ([1, 2], "A B")
    ]


def test_within_makes_a_greedy_quantifier_settle_for_fewer_rows(matcher):
    # A B+ over 6 rows one second apart, within 3s: A B B B B B (5 s), A B B B B (4 s) and
    # A B B B (3 s) are too long; A B B (2 s) is the first candidate that fits.
    spec = {"pattern": "A B+", "within": "3s"}
    df = events("x: 1 2 3 4 5 6")
    assert run(matcher, spec, df) == [([1, 2, 3], "A B B"), ([4, 5, 6], "A B B")]


def test_within_makes_alternation_fall_back_to_a_shorter_alternative(matcher):
    spec = {"pattern": "A (B B B | B)", "within": "2s"}
    assert run(matcher, spec, events("x: 1 2 3 4 5 6")) == [
        ([1, 2], "A B"),
        ([3, 4], "A B"),
        ([5, 6], "A B"),
    ]


def test_within_can_leave_a_start_row_unmatched(matcher):
    # A then B with anything between, within 5s: B at 10 s is too late for the A at 0 s,
    # but the A at 7 s reaches it.
    spec = {"pattern": "A X*? B", "define": {"A": "type = 'a'", "B": "type = 'b'"}, "within": "5s"}
    df = events("type: a c a b", "ts: 0 3 7 10")
    assert run(matcher, spec, df) == [([3, 4], "A B")]


def test_within_does_not_affect_empty_matches(matcher):
    spec = {"pattern": "A*?", "within": "1s"}
    assert run(matcher, spec, events("x: 1 2")) == [([], ""), ([], "")]


def test_within_counts_the_span_of_the_whole_match_not_gaps(matcher):
    # Gaps of 1 s each, but the match A B B C spans 3 s, which is not under 3s.
    spec = {"pattern": "A B+ C", "define": {"C": "x = 4"}, "within": "3s"}
    assert run(matcher, spec, events("x: 1 2 3 4")) == [([2, 3, 4], "A B C")]
