"""Contiguity between steps: next / followedBy / followedByAny (SEMANTICS.md §2.2)."""

from __future__ import annotations

import pytest

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


@pytest.mark.parametrize(
    ("contiguity", "expected"),
    [
        # strict: the event right after a is c, not b: the partial match is dropped.
        ("strict", []),
        # relaxed (skip-till-next): c is skipped, b1 is taken, no branch is kept for b2.
        ("relaxed", ["a b1"]),
        # any (skip-till-any): branch on every b: take b1, and also keep waiting for b2.
        ("any", ["a b1", "a b2"]),
    ],
    ids=["next", "followedBy", "followedByAny"],
)
def test_docs_example_a_b_on_a_c_b1_b2(seq_matcher, contiguity, expected):
    assert run(seq_matcher, seq("a b", contiguity=contiguity), ev("a c b1 b2")) == expected


def test_strict_contiguity_takes_the_very_next_event(seq_matcher):
    assert run(seq_matcher, seq("a next b"), ev("a b1 b2")) == ["a b1"]


def test_relaxed_contiguity_skips_unrelated_events(seq_matcher):
    assert run(seq_matcher, seq("a followedBy b"), ev("a x1 x2 b x3")) == ["a b"]


def test_contiguity_is_set_per_step(seq_matcher):
    # a -> b strict, b -> c any: x breaks nothing after b, both c's complete the match.
    pattern = seq("a next b followedByAny c")
    assert run(seq_matcher, pattern, ev("a b x c1 c2")) == ["a b c1", "a b c2"]
    assert run(seq_matcher, pattern, ev("a x b c1")) == []


def test_every_a_waits_for_its_own_b(seq_matcher):
    # Each a starts its own partial match (NO_SKIP), like Esper's `every A -> B` (§3).
    assert run(seq_matcher, seq("a b"), ev("a1 a2 b1 b2")) == ["a1 b1", "a2 b1"]


def test_no_match_without_events(seq_matcher):
    assert run(seq_matcher, seq("a b"), ev("")) == []
