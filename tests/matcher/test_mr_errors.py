"""Run-time errors of AFTER MATCH SKIP (§1.8, §4.6): SQL raises where Flink CEP does not."""

from __future__ import annotations

import pytest

from cep.errors import MatchRuntimeError
from tests.matcher.harness import events, run

FIRST_ROW = "cannot skip to first row of match"
MISSING = r"pattern variable.*not present in match"

VALUES = events("value: 90 80 70 80 70 100")
V_THEN_D = {
    "pattern": "A B+ C+ D?",
    "subset": {"U": ["C", "D"]},
    "define": {"B": "B.value < PREV(B.value)", "C": "C.value > PREV(C.value)", "D": "FALSE"},
}


@pytest.mark.parametrize(
    "skip", ["TO FIRST A", "TO LAST A", "TO A"], ids=["first-A", "last-A", "to-A"]
)
def test_skip_to_the_first_row_of_the_match_raises(matcher, skip):
    with pytest.raises(MatchRuntimeError, match=FIRST_ROW):
        run(matcher, {**V_THEN_D, "after_match_skip": skip}, VALUES)


@pytest.mark.parametrize("skip", ["TO LAST D", "TO FIRST D", "TO D"], ids=["last", "first", "to"])
def test_skip_to_a_variable_absent_from_the_match_raises(matcher, skip):
    with pytest.raises(MatchRuntimeError, match=MISSING):
        run(matcher, {**V_THEN_D, "after_match_skip": skip}, VALUES)


def test_union_variable_avoids_the_missing_variable_error(matcher):
    # U = (C, D): D is never present, but C is, so SKIP TO U goes to the last C.
    result = run(matcher, {**V_THEN_D, "after_match_skip": "TO U"}, VALUES)
    assert result == [([1, 2, 3, 4], "A B B C"), ([4, 5, 6], "A B C")]


def test_skip_error_is_raised_only_when_a_later_match_hits_it(matcher):
    # b b b c, SKIP TO LAST B: match 1 is rows 1-4 and skips to row 3 (fine); match 2 is
    # rows 3-4 and its last B is its own first row: error. (Flink CEP would emit b3 c.)
    spec = {
        "pattern": "B+ C",
        "define": {"B": "type = 'b'", "C": "type = 'c'"},
        "after_match_skip": "TO LAST B",
    }
    with pytest.raises(MatchRuntimeError, match=FIRST_ROW):
        run(matcher, spec, events("type: b b b c"))


def test_missing_variable_is_an_error_only_in_a_match_without_it(matcher):
    # A B? C: the first match has B, so SKIP TO B works; the second (A C) has no B: error.
    spec = {
        "pattern": "A B? C",
        "define": {"A": "x = 0", "B": "x = 1", "C": "x = 2"},
        "after_match_skip": "TO B",
    }
    assert run(matcher, spec, events("x: 0 1 2")) == [([1, 2, 3], "A B C")]
    with pytest.raises(MatchRuntimeError, match=MISSING):
        run(matcher, spec, events("x: 0 1 2 0 2"))


def test_no_match_means_no_skip_error(matcher):
    spec = {**V_THEN_D, "after_match_skip": "TO FIRST A"}
    assert run(matcher, spec, events("value: 1 2 3")) == []
