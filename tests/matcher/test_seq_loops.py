"""Loops and their inner contiguity: times, timesOrMore, oneOrMore (SEMANTICS.md §2.3)."""

from __future__ import annotations

import pytest

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference

DOCS_EVENTS = "C D1 A1 A2 A3 D2 A4 B"


@pytest.mark.parametrize(
    ("loop", "expected"),
    [
        # consecutive: the a's must follow each other; D2 ends the run A1 A2 A3.
        (".consecutive", ["C A1 A2 A3 B", "C A1 A2 B", "C A1 B"]),
        # default (relaxed inside the loop): D's are skipped, every next a is taken: prefixes
        # of A1 A2 A3 A4.
        ("", ["C A1 A2 A3 A4 B", "C A1 A2 A3 B", "C A1 A2 B", "C A1 B"]),
        # allowCombinations: every subset of A2 A3 A4 after A1 (the followedBy from c takes only
        # the first a, so all 8 start with A1; the docs' list of 15 is wrong).
        (
            ".allowCombinations",
            [
                "C A1 A2 A3 A4 B",
                "C A1 A2 A3 B",
                "C A1 A2 A4 B",
                "C A1 A2 B",
                "C A1 A3 A4 B",
                "C A1 A3 B",
                "C A1 A4 B",
                "C A1 B",
            ],
        ),
    ],
    ids=["consecutive-3", "relaxed-4", "allowCombinations-8"],
)
def test_docs_example_c_a_plus_b(seq_matcher, loop, expected):
    # All complete on B with the same start, so they come out in lexicographic event order.
    assert run(seq_matcher, seq(f"c a+{loop} b"), ev(DOCS_EVENTS)) == expected


def test_times_exactly_n_with_relaxed_inner_contiguity(seq_matcher):
    # a{3}: x is skipped inside the loop; every a starts a run.
    assert run(seq_matcher, seq("a{3}"), ev("a1 x a2 a3 a4")) == ["a1 a2 a3", "a2 a3 a4"]


def test_times_exactly_n_consecutive(seq_matcher):
    assert run(seq_matcher, seq("a{3}.consecutive"), ev("a1 x a2 a3 a4")) == ["a2 a3 a4"]


def test_times_n_to_m(seq_matcher):
    # c a{2,3} b: the first two or three a's (skip-till-next), then b; a4 is skipped by b.
    assert run(seq_matcher, seq("c a{2,3} b"), ev("c a1 a2 a3 a4 b")) == [
        "c a1 a2 a3 b",
        "c a1 a2 b",
    ]


def test_times_n_to_m_as_first_step(seq_matcher):
    assert run(seq_matcher, seq("a{2,3} b"), ev("a1 a2 a3 a4 b")) == [
        "a1 a2 a3 b",
        "a1 a2 b",
        "a2 a3 a4 b",
        "a2 a3 b",
        "a3 a4 b",
    ]


def test_times_or_more(seq_matcher):
    # c a{2,} b: at least two a's.
    assert run(seq_matcher, seq("c a{2,} b"), ev("c a1 a2 a3 b")) == ["c a1 a2 a3 b", "c a1 a2 b"]
    assert run(seq_matcher, seq("c a{2,} b"), ev("c a1 b")) == []


def test_one_or_more_at_the_end_emits_each_run_as_it_grows(seq_matcher):
    # §2.4: a match is emitted when a path reaches the end; the loop is the last step.
    assert run(seq_matcher, seq("c a+"), ev("c a1 x a2")) == ["c a1", "c a1 a2"]


def test_strict_loop_entry_and_consecutive_loop(seq_matcher):
    # c next a+.consecutive next b: no gap anywhere.
    pattern = seq("c next a+.consecutive next b")
    assert run(seq_matcher, pattern, ev("c a1 a2 b")) == ["c a1 a2 b"]
    assert run(seq_matcher, pattern, ev("c a1 x a2 b")) == []


def test_optional_applies_to_a_times_step(seq_matcher):
    # §2.3: optional adds 0 to any quantifier: c a{2}.optional b is {c b} or {c a a b}.
    pattern = seq("c a{2}.optional b")
    assert run(seq_matcher, pattern, ev("c a1 a2 b")) == ["c a1 a2 b", "c b"]
    assert run(seq_matcher, pattern, ev("c a1 b")) == ["c b"]
