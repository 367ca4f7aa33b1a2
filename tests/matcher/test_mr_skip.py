"""AFTER MATCH SKIP: where the next search starts after a non-empty match (§1.8)."""

from __future__ import annotations

import pytest

from tests.matcher.harness import events, find, run

# 90 80 70 80 70 100: B falls, C rises; E (undefined) takes any row A B+ C+ cannot start.
VALUES = events("value: 90 80 70 80 70 100")
V_OR_E = {
    "pattern": "A B+ C+ | E",
    "define": {"B": "B.value < PREV(B.value)", "C": "C.value > PREV(C.value)"},
}


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        # A B B C on rows 1-4; then 70 cannot start A B+ (100 does not fall): E, E.
        ("PAST LAST ROW", [([1, 2, 3, 4], "A B B C"), ([5], "E"), ([6], "E")]),
        # Every row starts a match: A B B C, A B C (80 70 80), E, A B C (80 70 100), E, E.
        (
            "TO NEXT ROW",
            [
                ([1, 2, 3, 4], "A B B C"),
                ([2, 3, 4], "A B C"),
                ([3], "E"),
                ([4, 5, 6], "A B C"),
                ([5], "E"),
                ([6], "E"),
            ],
        ),
    ],
    ids=["past-last-row", "to-next-row"],
)
def test_skip_past_last_row_and_to_next_row(matcher, skip, expected):
    assert run(matcher, {**V_OR_E, "after_match_skip": skip}, VALUES) == expected


V_THEN_D = {
    "pattern": "A B+ C+ D?",
    "subset": {"U": ["C", "D"]},
    "define": {"B": "B.value < PREV(B.value)", "C": "C.value > PREV(C.value)", "D": "FALSE"},
}


@pytest.mark.parametrize(
    "skip",
    [
        "TO FIRST C",
        "TO LAST C",
        "TO LAST B",
        "TO B",
        "TO U",
        "TO LAST U",
        "TO FIRST U",
        "SKIP TO c",
    ],
    ids=[
        "first-C",
        "last-C",
        "last-B",
        "to-B-means-last-B",
        "to-union",
        "last-union",
        "first-union",
        "lower-case-name",
    ],
)
def test_skip_to_a_variable_lets_a_row_end_one_match_and_start_the_next(matcher, skip):
    # Match 1 is A B B C on rows 1-4. TO C / TO U: row 4 starts A B C (80 70 100) on rows 4-6.
    # TO LAST B: row 3 (70) cannot start (80 does not fall), row 4 starts the same A B C.
    # After match 2 the target is row 6 (C) or row 5 (B); neither starts a match.
    assert run(matcher, {**V_THEN_D, "after_match_skip": skip}, VALUES) == [
        ([1, 2, 3, 4], "A B B C"),
        ([4, 5, 6], "A B C"),
    ]


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        # Oracle Example 20-1 style: the last UP of match 1 (row 5) starts match 2.
        (
            "TO LAST UP",
            [([1, 2, 3, 4, 5], "STRT DOWN DOWN UP UP"), ([5, 6, 7, 8], "STRT DOWN DOWN UP")],
        ),
        ("PAST LAST ROW", [([1, 2, 3, 4, 5], "STRT DOWN DOWN UP UP"), ([6, 7, 8], "STRT DOWN UP")]),
    ],
    ids=["to-last-up", "past-last-row"],
)
def test_skip_to_last_up_shares_the_turning_row(matcher, skip, expected):
    spec = {
        "pattern": "STRT DOWN+ UP+",
        "define": {"DOWN": "price < PREV(price)", "UP": "price > PREV(price)"},
        "after_match_skip": skip,
    }
    assert run(matcher, spec, events("price: 5 4 3 4 5 4 3 4")) == expected


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ("TO NEXT ROW", [([1, 2, 3, 4], "B B B C"), ([2, 3, 4], "B B C"), ([3, 4], "B C")]),
        ("PAST LAST ROW", [([1, 2, 3, 4], "B B B C")]),
    ],
    ids=["to-next-row-overlaps", "past-last-row"],
)
def test_overlapping_matches_of_b_plus_c(matcher, skip, expected):
    # The Flink docs' b+ c table on b1 b2 b3 c, under SQL semantics (SKIP TO LAST B is an
    # error in SQL: see test_mr_errors.py).
    spec = {
        "pattern": "B+ C",
        "define": {"B": "type = 'b'", "C": "type = 'c'"},
        "after_match_skip": skip,
    }
    assert run(matcher, spec, events("type: b b b c")) == expected


def test_to_next_row_repeats_rows_in_all_rows_output(matcher):
    spec = {"pattern": "A B", "after_match_skip": "TO NEXT ROW", "rows_per_match": "ALL"}
    assert run(matcher, spec, events("x: 1 2 3")) == [([1, 2], "A B"), ([2, 3], "A B")]


def test_skip_does_not_apply_after_an_empty_match(matcher):
    # A* finds only empty matches here; SKIP TO LAST A is never evaluated, so no error.
    spec = {"pattern": "A*", "define": {"A": "price > 10"}, "after_match_skip": "TO LAST A"}
    result = find(matcher, spec, events("price: 1 2"))
    assert [(m.event_ids, m.empty_at, m.match_number) for m in result.matches] == [
        ([], 1, 1),
        ([], 2, 2),
    ]


def test_skip_to_first_variable_after_the_first_row(matcher):
    # A B+ with SKIP TO FIRST B: match A B B on rows 1-3 (B rises), next search at row 2.
    spec = {"pattern": "A B+", "define": {"B": "x > PREV(x)"}, "after_match_skip": "TO FIRST B"}
    df = events("x: 1 2 3 1")
    # Row 2 starts A B (2 3); its first B is row 3, which starts nothing (1 does not rise).
    assert run(matcher, spec, df) == [([1, 2, 3], "A B B"), ([2, 3], "A B")]
