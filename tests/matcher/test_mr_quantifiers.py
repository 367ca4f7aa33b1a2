"""Quantifiers: greedy and reluctant, bounded repeats, empty preference and empty cycles (§1.3-1.4).

Every expected answer below is worked out by hand from SEMANTICS.md; undefined variables
always hold.
"""

from __future__ import annotations

import pytest

from tests.matcher.harness import events, find, run

FOUR = events("x: 1 2 3 4")
FIVE = events("x: 1 2 3 4 5")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("A B+", [([1, 2, 3, 4], "A B B B")]),
        ("A B+?", [([1, 2], "A B"), ([3, 4], "A B")]),
        ("A B*", [([1, 2, 3, 4], "A B B B")]),
        ("A B*?", [([1], "A"), ([2], "A"), ([3], "A"), ([4], "A")]),
        ("A B?", [([1, 2], "A B"), ([3, 4], "A B")]),
        ("A B??", [([1], "A"), ([2], "A"), ([3], "A"), ([4], "A")]),
    ],
    ids=["plus", "plus-reluctant", "star", "star-reluctant", "optional", "optional-reluctant"],
)
def test_greedy_takes_most_and_reluctant_takes_fewest(matcher, pattern, expected):
    assert run(matcher, pattern, FOUR) == expected


def test_reluctant_plus_gives_one_row_matches(matcher):
    assert run(matcher, "B+?", events("x: 1 2 3")) == [([1], "B"), ([2], "B"), ([3], "B")]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("B{2,}", [([1, 2, 3, 4, 5], "B B B B B")]),
        ("B{2,}?", [([1, 2], "B B"), ([3, 4], "B B")]),
        ("B{2,3}", [([1, 2, 3], "B B B"), ([4, 5], "B B")]),
        ("B{2,3}?", [([1, 2], "B B"), ([3, 4], "B B")]),
        ("B{,2}", [([1, 2], "B B"), ([3, 4], "B B"), ([5], "B")]),
        ("B{3}", [([1, 2, 3], "B B B")]),
        ("B{3}?", [([1, 2, 3], "B B B")]),
        ("B{,}", [([1, 2, 3, 4, 5], "B B B B B")]),
    ],
    ids=[
        "n-open",
        "n-open-reluctant-stops-at-n",
        "n-m",
        "n-m-reluctant",
        "upto-m",
        "exact",
        "exact-reluctant-is-exact",
        "any",
    ],
)
def test_bounded_quantifiers(matcher, pattern, expected):
    assert run(matcher, pattern, FIVE) == expected


@pytest.mark.parametrize(
    "pattern", ["B*?", "B??", "B{0,3}?"], ids=["star", "optional", "zero-to-3"]
)
def test_reluctant_quantifier_that_may_be_empty_prefers_the_empty_match(matcher, pattern):
    result = find(matcher, pattern, events("x: 1 2 3"))
    assert [(m.event_ids, m.classifiers, m.empty_at, m.match_number) for m in result.matches] == [
        ([], [], 1, 1),
        ([], [], 2, 2),
        ([], [], 3, 3),
    ]


def test_reluctant_star_in_the_middle_grows_until_the_rest_matches(matcher):
    spec = {"pattern": "A B*? C", "define": {"C": "x >= 3"}}
    assert run(matcher, spec, FOUR) == [([1, 2, 3], "A B C")]


def test_greedy_star_in_the_middle_gives_back_rows_until_the_rest_matches(matcher):
    spec = {"pattern": "A B* C", "define": {"C": "x >= 3"}}
    assert run(matcher, spec, FOUR) == [([1, 2, 3, 4], "A B B C")]


def test_greedy_backtracks_to_fewer_iterations(matcher):
    # §1.10.1: the SQL answer for DOWN{2,} UP with UP below the first DOWN finds (19, 17, 13)
    # with 13 as UP (DOWN{2,} gives back rows until UP holds), and then (26, 20, 25).
    spec = {"pattern": "DOWN{2,} UP", "define": {"UP": "price < FIRST(DOWN.price)"}}
    df = events("price: 19 17 13 20 26 20 25")
    assert run(matcher, spec, df) == [([1, 2, 3], "DOWN DOWN UP"), ([5, 6, 7], "DOWN DOWN UP")]


EMPTY_CYCLE = events("value: 70 80 80 70")
B_NOT_BELOW_NEXT = {"B": "B.value >= NEXT(B.value)"}  # rows 2 and 3 only (row 4 has no next)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("()* | B", [([], "")] * 4),
        ("()+ | B", [([], "")] * 4),
        ("(){5,} | B", [([], "")] * 4),
        ("B | ()*", [([], ""), ([2], "B"), ([3], "B"), ([], "")]),
        ("(B ()*)*", [([], ""), ([2, 3], "B B"), ([], "")]),
        ("(B ()*)*?", [([], "")] * 4),
    ],
    ids=[
        "empty-star",
        "empty-plus",
        "empty-at-least-5",
        "B-or-empty-star",
        "B-then-empty-star-looped",
        "B-then-empty-star-looped-reluctant",
    ],
)
def test_empty_iteration_ends_the_loop(matcher, pattern, expected):
    # An iteration that matched no rows is not iterated again, and the minimum counts as met.
    assert run(matcher, {"pattern": pattern, "define": B_NOT_BELOW_NEXT}, EMPTY_CYCLE) == expected


def test_empty_matches_in_a_loop_keep_their_numbers(matcher):
    result = find(matcher, {"pattern": "(B ()*)*", "define": B_NOT_BELOW_NEXT}, EMPTY_CYCLE)
    assert [(m.match_number, m.event_ids, m.empty_at) for m in result.matches] == [
        (1, [], 1),
        (2, [2, 3], None),
        (3, [], 4),
    ]


def test_quantified_group_repeats_the_whole_group(matcher):
    spec = {"pattern": "(A B){2}", "define": {"A": "x % 2 = 1", "B": "x % 2 = 0"}}
    assert run(matcher, spec, events("x: 1 2 3 4 5 6")) == [([1, 2, 3, 4], "A B A B")]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # Greedy outer loop first tries another iteration (A at x=2 fails), then stops: done.
        ("(A B+?)+", [([1, 2], "A B"), ([4, 5], "A B")]),
        # With $ the reluctant B+? must grow: B takes x=2, the loop goes on at the 0, and the
        # last B+? grows to the end of the partition.
        ("(A B+?)+ $", [([1, 2, 3, 4, 5, 6], "A B B A B B")]),
    ],
    ids=["stops-early", "grows-to-reach-end-anchor"],
)
def test_reluctant_quantifier_inside_greedy_loop(matcher, pattern, expected):
    spec = {"pattern": pattern, "define": {"A": "x = 0", "B": "x > 0"}}
    assert run(matcher, spec, events("x: 0 1 2 0 3 9")) == expected


def test_greedy_optional_takes_its_row_before_the_rest_completes(matcher):
    # §1.10.2: A+ B+ C D? E where the row after C can be D or E. Flink ends at the first row
    # that can be E; the standard's greedy D? takes that row as D and ends one row later.
    spec = {
        "pattern": "A+ B+ C D? E",
        "define": {"A": "type = 'a'", "B": "type = 'b'", "C": "type = 'c'",
                   "D": "type = 'x'", "E": "type = 'x'"},
    }
    df = events("type: a b c x x")
    assert run(matcher, spec, df) == [([1, 2, 3, 4, 5], "A B C D E")]
