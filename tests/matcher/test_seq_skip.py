"""AfterMatchSkipStrategy and the order of emission (SEMANTICS.md §2.6, §1.10.3)."""

from __future__ import annotations

import pytest

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ("NO_SKIP", ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
        ("SKIP TO NEXT", ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
        ("PAST LAST EVENT", ["b1 b2 b3 c"]),
        ("SKIP TO FIRST b", ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
        ("SKIP TO LAST b", ["b1 b2 b3 c", "b3 c"]),
    ],
    ids=["no-skip", "to-next", "past-last-event", "to-first-b", "to-last-b"],
)
def test_docs_table_b_plus_c(seq_matcher, skip, expected):
    # The docs' `b+ c`, as AfterMatchSkipITCase writes it: b.oneOrMore().consecutive().greedy()
    # .next(c). All three runs complete on c; no run is left open after c.
    pattern = seq("b+.consecutive.greedy next c", skip=skip)
    assert run(seq_matcher, pattern, ev("b1 b2 b3 c")) == expected


def test_relaxed_loop_runs_stay_open_and_hold_later_matches_back(seq_matcher):
    # With the default (relaxed) loop the runs b1.., b2.., b3.. skip c and keep waiting for more
    # b's. SKIP TO FIRST b discards nothing, so {b2 b3 c} and {b3 c} wait for the open run that
    # started at b1, which never ends: only {b1 b2 b3 c} is emitted. SKIP TO LAST b discards the
    # runs that started before b3 and so releases {b3 c}; NO_SKIP does not wait.
    events = ev("b1 b2 b3 c")
    assert run(seq_matcher, seq("b+ next c", skip="SKIP TO FIRST b"), events) == ["b1 b2 b3 c"]
    assert run(seq_matcher, seq("b+ next c", skip="SKIP TO LAST b"), events) == [
        "b1 b2 b3 c",
        "b3 c",
    ]
    assert run(seq_matcher, seq("b+ next c", skip="NO_SKIP"), events) == [
        "b1 b2 b3 c",
        "b2 b3 c",
        "b3 c",
    ]


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ("NO_SKIP", ["a b1", "a b1 b2", "a b1 b2 b3"]),
        ("SKIP TO NEXT", ["a b1"]),
    ],
    ids=["no-skip", "to-next"],
)
def test_docs_example_a_b_plus(seq_matcher, skip, expected):
    assert run(seq_matcher, seq("a b+", skip=skip), ev("a b1 b2 b3")) == expected


def test_default_strategy_is_past_last_event(seq_matcher):
    assert seq("a b", skip=None).after_match_skip == "PAST LAST EVENT"
    assert run(seq_matcher, seq("a b", skip=None), ev("a1 a2 b")) == ["a1 b"]


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ("NO_SKIP", ["a1 c", "a2 c"]),
        # b is optional and absent from both matches: nothing is discarded.
        ("SKIP TO FIRST b", ["a1 c", "a2 c"]),
        ("SKIP TO LAST b", ["a1 c", "a2 c"]),
        ("PAST LAST EVENT", ["a1 c"]),
    ],
    ids=["no-skip", "to-first-missing", "to-last-missing", "past-last-event"],
)
def test_skip_to_a_missing_step_discards_nothing(seq_matcher, skip, expected):
    # After c, runs {a1} and {a2} are still open (they could take a b, then another c), which
    # holds {a2 c} back; x at t=20 expires them (within 10s) and releases it.
    pattern = seq("a b? c", skip=skip, within="10s")
    assert run(seq_matcher, pattern, ev("a1 a2 c x", ts=[0, 1, 2, 20])) == expected


@pytest.mark.parametrize("skip", ["SKIP TO FIRST a", "SKIP TO LAST a"])
def test_skip_to_the_first_event_of_the_match_is_not_an_error(seq_matcher, skip):
    # In SQL this is an error; in Flink CEP it discards nothing.
    assert run(seq_matcher, seq("a b", skip=skip), ev("a1 a2 b")) == ["a1 b", "a2 b"]


# a1 (price 5) waits for a b above 5; a2 (price 1) completes first, on b1 (price 3).
LATE_START = ev("a1 a2 b1 b2", price=[5, 1, 3, 9])
ABOVE_A = {"b": "type = 'b' AND price > a.price"}


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        # NO_SKIP emits each match when it completes.
        ("NO_SKIP", ["a2 b1", "a1 b2"]),
        # Any other strategy holds {a2 b1} back while the earlier run {a1} is open; then the
        # matches come out in order of their start (SKIP TO FIRST a discards nothing).
        ("SKIP TO FIRST a", ["a1 b2", "a2 b1"]),
        # SKIP TO NEXT discards runs that started at a1 only.
        ("SKIP TO NEXT", ["a1 b2", "a2 b1"]),
        # {a1 b2} is emitted first and discards the held {a2 b1} (a2 is before b2).
        ("PAST LAST EVENT", ["a1 b2"]),
    ],
    ids=["no-skip", "to-first", "to-next", "past-last-event"],
)
def test_matches_wait_for_earlier_partial_matches(seq_matcher, skip, expected):
    assert run(seq_matcher, seq("a b", skip=skip, where=ABOVE_A), LATE_START) == expected


def test_held_match_waits_for_the_earlier_run_to_complete_or_expire(seq_matcher):
    # {a2 b1} waits while {a1} is open. Without a window {a1} is still open at the end of the
    # input, so {a2 b1} is never emitted (as in Flink); with within 10s, {a1} expires at t=10
    # (event x at t=12 advances time) and releases it.
    events = ev("a1 a2 b1", price=[5, 1, 3])
    assert run(seq_matcher, seq("a b", skip="PAST LAST EVENT", where=ABOVE_A), events) == []
    assert run(seq_matcher, seq("a b", skip="NO_SKIP", where=ABOVE_A), events) == ["a2 b1"]
    timed = seq("a b", skip="PAST LAST EVENT", where=ABOVE_A, within="10s")
    events = ev("a1 a2 b1 x", price=[5, 1, 3, 0], ts=[0, 1, 2, 12])
    assert run(seq_matcher, timed, events) == ["a2 b1"]


def test_same_start_ties_go_to_the_earliest_event_sequence(seq_matcher):
    # §1.10.3: {a b1 c} and {a c} complete on c with the same start; PAST LAST EVENT emits the
    # lexicographically earliest event sequence, which discards the other.
    assert run(seq_matcher, seq("a b? c", skip="PAST LAST EVENT"), ev("a b1 c")) == ["a b1 c"]
    assert run(seq_matcher, seq("a b? c"), ev("a b1 c")) == ["a b1 c", "a c"]


def test_past_last_event_never_overlaps(seq_matcher):
    pattern = seq("a b", skip="PAST LAST EVENT", contiguity="any")
    assert run(seq_matcher, pattern, ev("a1 a2 b1 a3 b2 b3")) == ["a1 b1", "a3 b2"]


def test_tie_on_one_event_goes_to_the_earliest_sequence_and_prunes_the_rest(seq_matcher):
    # AfterMatchSkipITCase.testSkipPastLast2: eight candidates complete on d1 (a1|a2, b1|b2,
    # c1|c2); {a1 b1 c1 d1} is emitted first and discards every other run.
    pattern = seq("a followedByAny b followedByAny c followedBy d", skip="PAST LAST EVENT")
    assert run(seq_matcher, pattern, ev("a1 a2 b1 b2 c1 c2 d1 d2")) == ["a1 b1 c1 d1"]
