"""notNext and notFollowedBy (SEMANTICS.md §2.2, §4 items 10)."""

from __future__ import annotations

import pytest

from cep.errors import PatternError
from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


def test_not_next_drops_the_run_when_the_very_next_event_matches(seq_matcher):
    # a1 is followed by c: dropped. a2 is followed by x: fine, and b (relaxed) comes later.
    assert run(seq_matcher, seq("a notNext c b"), ev("a1 c a2 x b")) == ["a2 b"]


def test_not_next_looks_at_one_event_only(seq_matcher):
    assert run(seq_matcher, seq("a notNext c b"), ev("a x c b")) == ["a b"]


def test_not_next_at_the_end_completes_on_the_next_event(seq_matcher):
    # The match is {a2}, emitted when x arrives; a3 has no next event yet: no match.
    assert run(seq_matcher, seq("a notNext c"), ev("a1 c a2 x a3")) == ["a2"]


def test_not_followed_by_forbids_the_event_until_the_next_positive_step(seq_matcher):
    # c between a1 and b kills a1; c2 after b does not matter.
    assert run(seq_matcher, seq("a notFollowedBy c b"), ev("a1 c1 a2 b c2")) == ["a2 b"]


def test_trailing_not_followed_by_emits_when_the_window_expires(seq_matcher):
    # within 5s: a1 (t=0) and a2 (t=1) die on c (t=2); a3 (t=3) sees no c and its window ends at
    # t=8, so it is emitted when x (t=9) advances time. a4 (t=7) expires only at 12, after the
    # last event: still pending, not a match.
    pattern = seq("a notFollowedBy c", within="5s")
    events = ev("a1 a2 c a3 a4 x", ts=[0, 1, 2, 3, 7, 9])
    assert run(seq_matcher, pattern, events) == ["a3"]


def test_not_followed_by_after_a_loop_applies_between_the_loop_events(seq_matcher):
    # §2.2: b{2} relaxed + notFollowedBy(c): the loop may not skip a c between the b's.
    pattern = seq("a b{2} notFollowedBy c d")
    assert run(seq_matcher, pattern, ev("a b1 c b2 d")) == []
    # A c before the first b is not covered by the NOT (it sits after b{2}); after b2 it is.
    assert run(seq_matcher, pattern, ev("a c1 b1 b2 d c2")) == ["a b1 b2 d"]
    assert run(seq_matcher, pattern, ev("a b1 b2 c d")) == []


def test_not_next_after_one_or_more_skip_till_next(seq_matcher):
    # NotPatternITCase.testNotNextAfterOneOrMoreSkipTillNext: the loop may not skip c, and
    # after b1 the next event is c: no match at all.
    assert run(seq_matcher, seq("a b+ notNext c d"), ev("a b1 c b2 d")) == []


def test_not_next_after_loop_when_no_forbidden_event(seq_matcher):
    # The control: without c, each run of b's followed by a non-c event goes on to d.
    assert run(seq_matcher, seq("a b+ notNext c d"), ev("a b1 b2 d")) == ["a b1 b2 d", "a b1 d"]


def test_taking_an_optional_step_lifts_the_not_before_it(seq_matcher):
    # NotPatternITCase.testNotFollowedByBeforeOptional: a notFollowedBy(b) c? d. The run that
    # took c1 is no longer bound by the NOT, so b1 does not kill it; the run that skipped the
    # optional c is still bound, and dies on b1.
    pattern = seq("a notFollowedBy b followedByAny c? followedBy d")
    assert run(seq_matcher, pattern, ev("a1 c1 b1 c2 d")) == ["a1 c1 d"]


def test_not_next_before_followed_by_any(seq_matcher):
    # NotPatternITCase.testNotNext: only the event right after a1 is checked (c1, not b).
    pattern = seq("a notNext b followedByAny c followedBy d")
    assert run(seq_matcher, pattern, ev("a1 c1 b1 c2 d")) == ["a1 c1 d", "a1 c2 d"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a notFollowedBy c", "only when 'within' is set"),
        ("a b? notFollowedBy c d", "cannot follow the optional step"),
    ],
    ids=["trailing-not-followed-by-needs-within", "not-after-optional"],
)
def test_patterns_flink_rejects_are_rejected(text, problem):
    # §2.2: a trailing notFollowedBy needs within; a NOT cannot come right after an optional.
    with pytest.raises(PatternError, match=problem):
        seq(text)
