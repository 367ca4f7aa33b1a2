"""until: a stop condition for a loop (SEMANTICS.md §2.3)."""

from __future__ import annotations

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


def test_docs_example_a_plus_until_b(seq_matcher):
    # (a+ until b) on a1 c a2 b a3: b stops the runs a1.. and a2..; a3 starts a new one.
    # Emitted as they complete (NO_SKIP), earlier start first on the same event.
    assert run(seq_matcher, seq("a+.until(b)"), ev("a1 c a2 b a3")) == ["a1", "a1 a2", "a2", "a3"]


def test_until_event_is_not_taken_but_the_next_step_may_take_it(seq_matcher):
    # UntilConditionITCase: the loop stops at the until event, and `end` takes that event.
    pattern = seq("c a+.until() end", until={"a": "price = 5"}, where={"end": "price = 5"})
    events = ev("c a1 a2 a3 a4", price=[1, 2, 3, 5, 6])
    assert run(seq_matcher, pattern, events) == ["c a1 a2 a3=end", "c a1 a3=end"]


def test_until_with_consecutive_loop(seq_matcher):
    pattern = seq("c a+.consecutive.until() end", until={"a": "price = 5"},
                  where={"end": "price = 5"})
    events = ev("c a1 a2 a3 a4", price=[1, 2, 3, 5, 6])
    assert run(seq_matcher, pattern, events) == ["c a1 a2 a3=end", "c a1 a3=end"]


def test_until_on_an_optional_loop(seq_matcher):
    pattern = seq("c a*.until() end", until={"a": "price = 5"}, where={"end": "price = 5"})
    events = ev("c a1 a2 a3 a4", price=[1, 2, 3, 5, 6])
    assert run(seq_matcher, pattern, events) == ["c a1 a2 a3=end", "c a1 a3=end", "c a3=end"]


def test_until_event_before_the_first_loop_element_ends_the_loop_at_zero(seq_matcher):
    # GreedyITCase.testGreedyUntilWithDummyEventsBeforeQuantifier: a0 (price 4) is an `a` that
    # satisfies until before any a was taken: the loop ends with 0 iterations, so a1..a3 can
    # no longer be taken and only {c d} is found.
    events = ev("c a0 a1 a2 a3 d", price=[1, 4, 2, 3, 3, 3])
    until = {"a": "price > 3"}
    assert run(seq_matcher, seq("c a*.greedy.until() d", until=until), events) == ["c d"]
    assert run(seq_matcher, seq("c a*.until() d", until=until), events) == ["c d"]


def test_until_after_the_loop_started_with_greedy(seq_matcher):
    # GreedyITCase.testGreedyUntilZeroOrMoreWithDummyEventsAfterQuantifier.
    events = ev("c a1 a2 a3 a4 d", price=[1, 2, 3, 3, 4, 3])
    pattern = seq("c a*.greedy.until() d", until={"a": "price > 3"})
    assert run(seq_matcher, pattern, events) == ["c a1 a2 a3 d"]
