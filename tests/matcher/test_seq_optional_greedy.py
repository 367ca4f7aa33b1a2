"""Optional steps and Flink's greedy loops (SEMANTICS.md §2.3, §2.4, §1.10.1-2)."""

from __future__ import annotations

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


def test_greedy_loop_at_the_end_still_emits_every_prefix(seq_matcher):
    # GreedyITCase: greedy removes the exit branch on an event the loop takes, but at the end
    # of the pattern nothing follows, so {c} {c a1} {c a1 a2} ... are all emitted.
    assert run(seq_matcher, seq("c a*.greedy"), ev("c a1 a2 a3")) == [
        "c",
        "c a1",
        "c a1 a2",
        "c a1 a2 a3",
    ]


def test_begin_followed_by_one_or_more_emits_all_runs_of_two_or_more(seq_matcher):
    # §2.4: begin.followedBy(end).oneOrMore() on a..e (every event qualifies) under NO_SKIP:
    # the 10 contiguous runs of length >= 2, each emitted at its last event.
    pattern = seq("begin end+", where={"begin": None, "end": None})
    assert run(seq_matcher, pattern, ev("a b c d e")) == [
        "a=begin b=end",
        "a=begin b=end c=end",
        "b=begin c=end",
        "a=begin b=end c=end d=end",
        "b=begin c=end d=end",
        "c=begin d=end",
        "a=begin b=end c=end d=end e=end",
        "b=begin c=end d=end e=end",
        "c=begin d=end e=end",
        "d=begin e=end",
    ]


def test_optional_step_gives_both_paths(seq_matcher):
    # a b? c: with b (b taken) and without it (b skipped while waiting for c).
    assert run(seq_matcher, seq("a b? c"), ev("a b c")) == ["a b c", "a c"]
    assert run(seq_matcher, seq("a b? c"), ev("a c")) == ["a c"]


def test_optional_step_with_strict_contiguity(seq_matcher):
    # a next b? next c: without b, c must come right after a.
    assert run(seq_matcher, seq("a next b? next c"), ev("a b c")) == ["a b c"]
    assert run(seq_matcher, seq("a next b? next c"), ev("a c")) == ["a c"]
    assert run(seq_matcher, seq("a next b? next c"), ev("a x c")) == []


def test_optional_last_step_does_not_wait(seq_matcher):
    # §1.10.2 earliest completion: {a} is emitted at a, {a b} later.
    assert run(seq_matcher, seq("a b?"), ev("a b")) == ["a", "a b"]


def test_optional_first_step(seq_matcher):
    assert run(seq_matcher, seq("a? b"), ev("x b1 a b2")) == ["b1", "a b2", "b2"]


def test_non_greedy_optional_loop_in_between(seq_matcher):
    # c a* d with relaxed contiguity: every prefix of the a's can be followed by d.
    assert run(seq_matcher, seq("c a* d"), ev("c x1 a1 x2 a2 x3 a3 d")) == [
        "c a1 a2 a3 d",
        "c a1 a2 d",
        "c a1 d",
        "c d",
    ]


def test_greedy_optional_loop_in_between_takes_every_a(seq_matcher):
    # GreedyITCase.testGreedyZeroOrMoreInBetween: d may not take, skip or pass an a.
    assert run(seq_matcher, seq("c a*.greedy d"), ev("c x1 a1 x2 a2 x3 a3 d")) == ["c a1 a2 a3 d"]


def test_greedy_one_or_more_with_dummy_events(seq_matcher):
    assert run(seq_matcher, seq("c a+.greedy d"), ev("c a1 a2 x d")) == ["c a1 a2 d"]
    assert run(seq_matcher, seq("c a*.greedy d"), ev("c x d")) == ["c d"]


def test_greedy_does_not_backtrack(seq_matcher):
    # §1.10.1: the loop accepts every event that is not a c; the next step (b) may not take an
    # event the loop accepts, so b1 and b2 can never be b: no match, where the non-greedy loop
    # ends on either b.
    where = {"a": "type <> 'c'"}
    assert run(seq_matcher, seq("a+ next b", where=where), ev("a1 b1 b2 c")) == [
        "a1 b1",
        "a1 b1=a b2",
        "b1=a b2",
    ]
    assert run(seq_matcher, seq("a+.greedy next b", where=where), ev("a1 b1 b2 c")) == []


def test_greedy_times_range_before_next_step(seq_matcher):
    # a{1,2}.greedy then b (relaxed): b cannot pass the second a, so {a1 b} is not found.
    assert run(seq_matcher, seq("a{1,2} b"), ev("a1 a2 b")) == ["a1 a2 b", "a1 b", "a2 b"]
    assert run(seq_matcher, seq("a{1,2}.greedy b"), ev("a1 a2 b")) == ["a1 a2 b", "a2 b"]
