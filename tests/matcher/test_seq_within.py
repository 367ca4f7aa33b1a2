"""within(t): the exclusive window and timed-out partial matches (SEMANTICS.md §2.5, §4.8)."""

from __future__ import annotations

import pytest

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq, timeouts

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


def test_start_at_1_and_end_at_11_fails_within_10(seq_matcher):
    # testSimplePatternWithTimeWindowNFAWithinFirstAndLast: 11 - 1 >= 10.
    assert run(seq_matcher, seq("a b", within="10s"), ev("a b", ts=[1, 11])) == []


@pytest.mark.parametrize(
    ("end", "expected"),
    [(10.5, ["a b"]), (11, []), (12, [])],
    ids=["inside", "exactly-the-window", "after"],
)
def test_window_bound_is_exclusive(seq_matcher, end, expected):
    assert run(seq_matcher, seq("a b", within="10s"), ev("a b", ts=[1, end])) == expected


def test_timed_out_partial_match_has_start_plus_within_and_step_reached(seq_matcher):
    result = seq_matcher(seq("a b", within="10s"), ev("a b", ts=[1, 11]))
    assert timeouts(result) == [("a", "a", 11.0)]
    (partial,) = result.timed_out
    assert partial.reason == "window expired"
    assert partial.classifiers == ["a"]


def test_every_timed_out_branch_is_reported(seq_matcher):
    # a b+ c within 10: at x (t=12) the runs {a b1} (waiting for c, b2 skipped) and
    # {a b1 b2} both expire, each reported with the step it reached and end 0 + 10.
    result = seq_matcher(seq("a b+ c", within="10s"), ev("a b1 b2 x", ts=[0, 2, 4, 12]))
    assert list(result.matches) == []
    assert timeouts(result) == [("a b1", "b", 10.0), ("a b1 b2", "b", 10.0)]


def test_followed_by_any_reports_the_start_alone(seq_matcher):
    # §2.5: {a} keeps waiting under followedByAny, so it times out too.
    pattern = seq("a b c", within="5s", contiguity="any")
    result = seq_matcher(pattern, ev("a b1 b2 x", ts=[0, 1, 2, 7]))
    assert timeouts(result) == [("a", "a", 5.0), ("a b1", "b", 5.0), ("a b2", "b", 5.0)]


def test_timeouts_are_reported_only_when_time_advances(seq_matcher):
    # The last event is at t=5: the window of a (ends at 10) has not expired yet.
    result = seq_matcher(seq("a b", within="10s"), ev("a x", ts=[0, 5]))
    assert timeouts(result) == []
    result = seq_matcher(seq("a b", within="10s"), ev("a x y", ts=[0, 5, 10]))
    assert timeouts(result) == [("a", "a", 10.0)]


def test_no_timeouts_without_within(seq_matcher):
    result = seq_matcher(seq("a b"), ev("a x", ts=[0, 500]))
    assert list(result.matches) == []
    assert list(result.timed_out) == []


def test_completed_runs_are_not_timed_out(seq_matcher):
    result = seq_matcher(seq("a b", within="10s"), ev("a b x", ts=[0, 3, 20]))
    assert run(seq_matcher, seq("a b", within="10s"), ev("a b x", ts=[0, 3, 20])) == ["a b"]
    assert timeouts(result) == []


def test_window_counts_from_the_first_event(seq_matcher):
    # a b+ within 5: b3 at t=5 is too late for the run that started at a (t=0).
    assert run(seq_matcher, seq("a b+", within="5s"), ev("a b1 b2 b3", ts=[0, 2, 4, 5])) == [
        "a b1",
        "a b1 b2",
    ]
