"""Alternation and PERMUTE: the leftmost alternative that completes wins, with full backtracking."""

from __future__ import annotations

import pytest

from tests.matcher.harness import events, find, run


@pytest.mark.parametrize(
    ("pattern", "label"), [("A | B", "A"), ("B | A", "B")], ids=["A-first", "B-first"]
)
def test_leftmost_alternative_wins_when_both_match(matcher, pattern, label):
    spec = {"pattern": pattern, "define": {"A": "x > 0", "B": "x > 0"}}
    assert run(matcher, spec, events("x: 1 2")) == [([1], label), ([2], label)]


def test_preferred_match_is_not_the_longest(matcher):
    assert run(matcher, "A | A B", events("x: 1 2")) == [([1], "A"), ([2], "A")]


ALT_THEN_C = {"pattern": "(A B | A) C", "define": {"A": "x = 1", "B": "x = 2", "C": "x = 2"}}


def test_first_alternative_wins_when_it_completes(matcher):
    assert run(matcher, ALT_THEN_C, events("x: 1 2 2")) == [([1, 2, 3], "A B C")]


@pytest.mark.parametrize("data", ["x: 1 2", "x: 1 2 9"], ids=["no-row-left", "wrong-row-left"])
def test_alternative_that_cannot_complete_is_abandoned_for_the_next(matcher, data):
    # "A B" leaves no row for C (or a row that is not C), so the second item "A" is tried.
    assert run(matcher, ALT_THEN_C, events(data)) == [([1, 2], "A C")]


def test_star_over_alternation_gives_back_an_iteration_for_the_tail(matcher):
    # (A|B)* X on 1 5 2 9: A=1, B=5, A=2, B=9, then X finds no row; the loop gives back its
    # last iteration and X takes the 9.
    spec = {"pattern": "(A | B)* X", "define": {"A": "x < 5", "B": "x > 3", "X": "x > 3"}}
    assert run(matcher, spec, events("x: 1 5 2 9")) == [([1, 2, 3, 4], "A B A X")]


def test_star_over_alternation_tries_the_other_label_on_backtrack(matcher):
    # (A|B)* X where X needs the previous row to be B: A is preferred on row 2, then X fails at
    # row 3; backtracking relabels row 2 as B and X holds.
    spec = {
        "pattern": "(A | B)* X",
        "define": {"A": "x < 5", "B": "x < 5", "X": "x = 9 AND PREV(CLASSIFIER()) = 'B'"},
    }
    assert run(matcher, spec, events("x: 1 2 9")) == [([1, 2, 3], "A B X")]


@pytest.mark.parametrize(
    ("define", "labels"),
    [
        ({}, "A B C"),
        ({"A": "x = 2", "B": "x = 1", "C": "x = 3"}, "B A C"),
        # B A C and B C A both fit; B A C comes first in the lexicographic order.
        ({"A": "x >= 2"}, "B A C"),
        ({"A": "x = 3", "B": "x = 2"}, "C B A"),
    ],
    ids=["all-undefined", "forced-order", "lexicographic-preference", "last-permutation"],
)
def test_permute_tries_permutations_in_lexicographic_order(matcher, define, labels):
    spec = {"pattern": "PERMUTE(A, B, C)", "define": define}
    assert run(matcher, spec, events("x: 1 2 3")) == [([1, 2, 3], labels)]


def test_permute_items_can_be_patterns(matcher):
    spec = {"pattern": "PERMUTE(A, B+)", "define": {"A": "x = 0", "B": "x > 0"}}
    assert run(matcher, spec, events("x: 5 6 0 1 0")) == [([1, 2, 3], "B B A"), ([4, 5], "B A")]


def test_empty_first_alternative_gives_empty_matches(matcher):
    result = find(matcher, "() | A", events("x: 1 2"))
    assert [(m.event_ids, m.empty_at, m.match_number) for m in result.matches] == [
        ([], 1, 1),
        ([], 2, 2),
    ]


def test_empty_second_alternative_is_used_only_when_the_first_fails(matcher):
    spec = {"pattern": "A | ()", "define": {"A": "x > 1"}}
    assert run(matcher, spec, events("x: 1 2")) == [([], ""), ([2], "A")]
