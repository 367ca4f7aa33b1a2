"""MEASURES: navigation, aggregates, CLASSIFIER, MATCH_NUMBER; RUNNING vs FINAL (§1.6)."""

from __future__ import annotations

import pytest

from tests.matcher.harness import events, find

V = {"pattern": "A B+ C+", "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"}}
V_PRICES = events("price: 10 8 6 7 9 5")  # A B B C C on rows 1-5


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("FIRST(A.price)", 10),
        ("LAST(B.price)", 6),
        ("FIRST(B.price)", 8),
        ("LAST(C.price)", 9),
        ("LAST(C.price, 1)", 7),
        ("FIRST(price, 1)", 8),
        ("price", 9),
        ("C.price", 9),
        ("B.price", 6),
        ("PREV(B.price)", 8),
        ("NEXT(C.price)", 5),
        ("PREV(LAST(B.price, 1), 1)", 10),
        ("SUM(B.price)", 14),
        ("AVG(C.price)", 8),
        ("MIN(price)", 6),
        ("MAX(B.price)", 8),
        ("COUNT(*)", 5),
        ("COUNT(B.*)", 2),
        ("COUNT(C.price)", 2),
        ("LAST(B.price) - FIRST(A.price)", -4),
        ("CLASSIFIER()", "C"),
        ("MATCH_NUMBER()", 1),
        ("FINAL LAST(B.price)", 6),
        ("RUNNING LAST(B.price)", 6),
    ],
    ids=[
        "first-A",
        "last-B",
        "first-B",
        "last-C",
        "last-C-1",
        "first-all-1",
        "column-last-row",
        "qualified-C",
        "qualified-B",
        "prev-of-B",
        "next-past-match",
        "prev-of-last",
        "sum-B",
        "avg-C",
        "min-all",
        "max-B",
        "count-star",
        "count-B",
        "count-C-values",
        "arithmetic",
        "classifier-last-row",
        "match-number",
        "final",
        "running",
    ],
)
def test_one_row_measures_are_computed_at_the_last_row(matcher, expression, value):
    result = find(matcher, {**V, "measures": {"m": expression}}, V_PRICES)
    assert [m.measures["m"] for m in result.matches] == [value]


def test_classifier_of_a_union_is_the_label_of_its_last_row(matcher):
    # Trino's union-variable example: (L | H) A on 90 80 70 80. At the last row (A),
    # CLASSIFIER(U) is the label of the last U row (H or L); CLASSIFIER(W) is A.
    spec = {
        "pattern": "(L | H) A",
        "subset": {"U": ["L", "H"], "W": ["A", "L", "H"]},
        "define": {"A": "A.value = 80", "L": "L.value < 80", "H": "H.value > 80"},
        "measures": {
            "val": "LAST(U.value)",
            "lower_or_higher": "CLASSIFIER(U)",
            "label": "CLASSIFIER(W)",
        },
    }
    result = find(matcher, spec, events("value: 90 80 70 80"))
    assert [(m.event_ids, m.measures) for m in result.matches] == [
        ([1, 2], {"val": 90, "lower_or_higher": "H", "label": "A"}),
        ([3, 4], {"val": 70, "lower_or_higher": "L", "label": "A"}),
    ]


def test_running_and_final_measures_per_output_row(matcher):
    spec = {
        **V,
        "rows_per_match": "ALL",
        "measures": {
            "cls": "CLASSIFIER()",
            "run_bottom": "LAST(B.price)",
            "final_bottom": "FINAL LAST(B.price)",
            "run_rows": "RUNNING COUNT(*)",
            "final_rows": "FINAL COUNT(*)",
            "run_first_c": "FIRST(C.price)",
            "final_first_c": "FINAL FIRST(C.price)",
            "price": "price",
        },
    }
    result = find(matcher, spec, V_PRICES)
    (match,) = result.matches
    assert match.measures == {
        "cls": "C",
        "run_bottom": 6,
        "final_bottom": 6,
        "run_rows": 5,
        "final_rows": 5,
        "run_first_c": 7,
        "final_first_c": 7,
        "price": 9,
    }
    assert [
        (
            r["cls"],
            r["run_bottom"],
            r["final_bottom"],
            r["run_rows"],
            r["final_rows"],
            r["run_first_c"],
            r["final_first_c"],
            r["price"],
        )
        for r in match.row_measures
    ] == [
        ("A", None, 6, 1, 5, None, 7, 10),
        ("B", 8, 6, 2, 5, None, 7, 8),
        ("B", 6, 6, 3, 5, None, 7, 6),
        ("C", 6, 6, 4, 5, 7, 7, 7),
        ("C", 6, 6, 5, 5, 7, 7, 9),
    ]


def test_running_prev_and_next_classifier_see_only_match_rows_up_to_the_current_one(matcher):
    spec = {
        **V,
        "rows_per_match": "ALL",
        "measures": {"next_label": "NEXT(CLASSIFIER())", "prev_label": "PREV(CLASSIFIER())"},
    }
    (match,) = find(matcher, spec, V_PRICES).matches
    assert [(r["next_label"], r["prev_label"]) for r in match.row_measures] == [
        (None, None),
        (None, "A"),
        (None, "B"),
        (None, "B"),
        (None, "C"),
    ]


def test_measures_of_an_empty_match(matcher):
    spec = {
        "pattern": "A*",
        "define": {"A": "price > 10"},
        "measures": {
            "n": "MATCH_NUMBER()",
            "rows": "COUNT(*)",
            "a_rows": "COUNT(A.*)",
            "total": "SUM(A.price)",
            "cls": "CLASSIFIER()",
            "last": "LAST(price)",
            "price": "price",
        },
    }
    result = find(matcher, spec, events("price: 1"))
    assert [(m.event_ids, m.empty_at, m.measures) for m in result.matches] == [
        (
            [],
            1,
            {
                "n": 1,
                "rows": 0,
                "a_rows": 0,
                "total": None,
                "cls": None,
                "last": None,
                "price": None,
            },
        )
    ]


def test_match_number_in_measures_counts_empty_matches(matcher):
    spec = {"pattern": "A | ()", "define": {"A": "price > 1"}, "measures": {"n": "MATCH_NUMBER()"}}
    result = find(matcher, spec, events("price: 1 2 1 3"))
    assert [(m.event_ids, m.measures["n"]) for m in result.matches] == [
        ([], 1),
        ([2], 2),
        ([], 3),
        ([4], 4),
    ]


def test_match_number_in_define(matcher):
    # A only in the first two matches.
    spec = {"pattern": "A", "define": {"A": "MATCH_NUMBER() <= 2"}}
    result = find(matcher, spec, events("x: 1 2 3 4"))
    assert [(m.event_ids, m.match_number) for m in result.matches] == [([1], 1), ([2], 2)]
