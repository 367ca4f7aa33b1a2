"""Keys are matched independently; events are ordered by time, ties by input order (§2.4, §4.11)."""

from __future__ import annotations

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq, timeouts

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


def test_keys_are_independent_and_listed_in_order_of_first_appearance(seq_matcher):
    pattern = seq("a b", partition_by=["k"])
    events = ev("a1 a2 b1 b2", k=["p", "q", "q", "p"])
    # q's match completes first, but results are grouped by key, p first.
    assert run(seq_matcher, pattern, events) == [("p", "a1 b2"), ("q", "a2 b1")]


def test_strict_contiguity_is_within_the_key(seq_matcher):
    pattern = seq("a next b", partition_by=["k"])
    assert run(seq_matcher, pattern, ev("a x b", k=["p", "q", "p"])) == [("p", "a b")]


def test_no_match_across_keys(seq_matcher):
    pattern = seq("a b", partition_by=["k"])
    assert run(seq_matcher, pattern, ev("a b", k=["p", "q"])) == []


def test_events_are_sorted_by_time(seq_matcher):
    assert run(seq_matcher, seq("a next b"), ev("b a", ts=[1, 0])) == ["a b"]


def test_equal_times_keep_input_order(seq_matcher):
    assert run(seq_matcher, seq("a next b next c"), ev("a b c", ts=[0, 1, 1])) == ["a b c"]
    assert run(seq_matcher, seq("a next b next c"), ev("a c b", ts=[0, 1, 1])) == []


def test_skip_strategy_acts_per_key(seq_matcher):
    pattern = seq("a b", partition_by=["k"], skip="PAST LAST EVENT")
    events = ev("a1 a2 b1 a3 b2", k=["p", "q", "p", "p", "q"])
    assert run(seq_matcher, pattern, events) == [("p", "a1 b1"), ("q", "a2 b2")]


def test_several_partition_columns(seq_matcher):
    pattern = seq("a b", partition_by=["k", "j"])
    events = ev("a1 b1 b2", k=["p", "p", "p"], j=[1, 2, 1])
    assert run(seq_matcher, pattern, events) == [(("p", 1), "a1 b2")]


def test_time_is_the_same_for_every_key(seq_matcher):
    # Batch decision: the window of key p's {a} (ends at 10) expires at the end of the input
    # because the last event of the input (key q, t=20) is past it, like the final watermark of a
    # stream, which is the same for every key.
    pattern = seq("a b", partition_by=["k"], within="10s")
    result = seq_matcher(pattern, ev("a x", k=["p", "q"], ts=[0, 20]))
    assert timeouts(result) == [("a", "a", 10.0)]
    assert [p.key for p in result.timed_out] == [{"k": "p"}]
