"""DEFINE navigation: PREV/NEXT (physical), FIRST/LAST (logical), cross-variable references,
CLASSIFIER() (§1.5, §4.2)."""

from __future__ import annotations

import pytest

from tests.matcher.harness import at, events, find, run


def test_prev_reads_the_row_before_the_match(matcher):
    spec = {"pattern": "A", "define": {"A": "price > PREV(price)"}}
    assert run(matcher, spec, events("price: 5 6 4 7")) == [([2], "A"), ([4], "A")]


def test_prev_is_null_outside_the_partition(matcher):
    # Row 3 is the first Y row: its PREV would be row 2 (X, 2 < 3) if it crossed partitions.
    spec = {"pattern": "A", "partition_by": ["k"], "define": {"A": "price > PREV(price)"}}
    df = events("k: X X Y Y", "price: 1 2 3 4")
    assert run(matcher, spec, df) == [("X", [2], "A"), ("Y", [4], "A")]


def test_next_reads_rows_past_the_current_row(matcher):
    spec = {"pattern": "A", "define": {"A": "NEXT(price) > price"}}
    assert run(matcher, spec, events("price: 1 2 2 3")) == [([1], "A"), ([3], "A")]


def test_next_is_null_past_the_partition_end(matcher):
    spec = {"pattern": "A", "define": {"A": "NEXT(price) IS NULL"}}
    assert run(matcher, spec, events("price: 1 2 3")) == [([3], "A")]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("price > PREV(price, 2)", [([3], "A"), ([4], "A")]),
        ("price < NEXT(price, 2)", [([1], "A"), ([2], "A")]),
    ],
    ids=["prev-2", "next-2"],
)
def test_physical_navigation_with_an_offset(matcher, condition, expected):
    spec = {"pattern": "A", "define": {"A": condition}}
    assert run(matcher, spec, events("price: 1 5 2 6")) == expected


def test_prev_of_a_qualified_column_starts_from_the_last_row_of_that_variable(matcher):
    # C AS PREV(A.price) = 10: the row before the (only) A row; the A row is row 2 or 4.
    spec = {"pattern": "A B C", "define": {"C": "PREV(A.price) = 10"}}
    df = events("price: 10 1 2 3 10 4 5 6")
    assert run(matcher, spec, df) == [([2, 3, 4], "A B C"), ([6, 7, 8], "A B C")]


@pytest.mark.parametrize(
    ("reference", "is_match"),
    [
        ("FIRST(A.price)", False),  # 10
        ("FIRST(A.price, 1)", True),  # 20
        ("FIRST(A.price, 3)", False),  # no such row: NULL
        ("LAST(A.price)", False),  # 30
        ("LAST(A.price, 1)", True),  # 20
        ("LAST(A.price, 2)", False),  # 10
        ("LAST(A.price, 5)", False),  # NULL
    ],
    ids=["first", "first-1", "first-3-null", "last", "last-1", "last-2", "last-5-null"],
)
def test_first_and_last_with_offsets(matcher, reference, is_match):
    spec = {"pattern": "A{3} B", "define": {"B": f"B.price = {reference}"}}
    expected = [([1, 2, 3, 4], "A A A B")] if is_match else []
    assert run(matcher, spec, events("price: 10 20 30 20")) == expected


def test_last_with_offset_is_the_previous_row_of_the_same_variable(matcher):
    # (N | A)+ where A must rise above the previous A row, skipping N rows in between:
    # at the 2, LAST(A.price, 1) is 1 (PREV(price) would be the 9 of the N row).
    spec = {
        "pattern": "(N | A)+",
        "define": {
            "N": "price > 5",
            "A": "LAST(A.price, 1) IS NULL OR A.price > LAST(A.price, 1)",
        },
    }
    assert run(matcher, spec, events("price: 1 9 2 0")) == [([1, 2, 3], "A N A"), ([4], "A")]


def test_unqualified_first_and_last_count_all_rows_of_the_match(matcher):
    # C AS FIRST(price) = 1 AND LAST(price, 1) = 7: the match's first row and the row before C.
    spec = {"pattern": "A B+ C", "define": {"C": "FIRST(price) = 1 AND LAST(price, 1) = 7"}}
    assert run(matcher, spec, events("price: 1 5 7 9 4")) == [([1, 2, 3, 4], "A B B C")]


def test_prev_of_last_does_the_logical_step_first(matcher):
    # PREV(LAST(A.x, 1), 2): the A row before the last A row, then two rows back.
    # From row 1: LAST(A.x, 1) is row 2, two back is before the partition: NULL.
    # From row 2: LAST(A.x, 1) is row 3, two back is row 1 (x = 5) = B.x.
    spec = {"pattern": "A{3} B", "define": {"B": "B.x = PREV(LAST(A.x, 1), 2)"}}
    assert run(matcher, spec, events("x: 5 0 0 0 5 0")) == [([2, 3, 4, 5], "A A A B")]


def test_cross_variable_condition_reads_the_last_row_of_the_other_variable(matcher):
    spec = {"pattern": "A B+", "define": {"B": "B.price > A.price"}}
    df = events("price: 5 6 4 7 3")
    assert run(matcher, spec, df) == [([1, 2], "A B"), ([3, 4], "A B")]


def test_qualified_column_of_the_tested_variable_is_the_current_row(matcher):
    # B.price inside B's own condition is the current row; compared with the last B so far.
    spec = {"pattern": "A B+", "define": {"B": "B.price > PREV(B.price)"}}
    assert run(matcher, spec, events("price: 5 1 2 3 1")) == [([2, 3, 4], "A B B")]


def test_variable_not_matched_yet_reads_as_null(matcher):
    spec = {"pattern": "A? B", "define": {"A": "price > 5", "B": "A.price IS NULL"}}
    # Row 1 (9) is A, then B at row 2 sees A.price = 9: fails; A? then gives up its row and
    # B at row 1 sees no A row: NULL, holds.
    assert run(matcher, spec, events("price: 9 1")) == [([1], "B"), ([2], "B")]


@pytest.mark.parametrize(
    "pattern", ["A+", "A B", "A | B", "(A | B)+"], ids=["plus", "concat", "alt", "alt-loop"]
)
def test_next_classifier_is_never_known_in_define(matcher, pattern):
    define = {"A": "NEXT(CLASSIFIER()) = 'A'"}
    if "B" in pattern:
        define["B"] = "FALSE"
    spec = {"pattern": pattern, "define": define}
    assert run(matcher, spec, events("x: 1 2 3 4")) == []


def test_prev_classifier_reads_the_label_of_the_previous_match_row(matcher):
    spec = {"pattern": "A B", "define": {"B": "PREV(CLASSIFIER()) = 'A'"}}
    assert run(matcher, spec, events("x: 1 2 3 4")) == [([1, 2], "A B"), ([3, 4], "A B")]


def test_classifier_before_the_match_start_is_null(matcher):
    spec = {"pattern": "B+", "define": {"B": "PREV(CLASSIFIER()) IS NULL"}}
    assert run(matcher, spec, events("x: 1 2 3")) == [([1], "B"), ([2], "B"), ([3], "B")]


@pytest.mark.parametrize(
    ("label", "labels"), [("'B'", "B B B"), ("'A'", "A A A")], ids=["never-A", "always-A"]
)
def test_classifier_in_define_is_the_tentative_label(matcher, label, labels):
    spec = {"pattern": "(A | B)+", "define": {"A": f"CLASSIFIER() = {label}"}}
    assert run(matcher, spec, events("x: 1 2 3")) == [([1, 2, 3], labels)]


STOCKS = events(
    """
    id symbol ts  price
    1  ACME   0   100
    2  GLOBX  15  50
    3  ACME   30  101
    4  GLOBX  45  49
    5  ACME   60  99
    6  GLOBX  75  48
    7  ACME   90  97
    8  GLOBX  105 47
    9  ACME   120 98
    10 GLOBX  135 46
    11 ACME   150 100
    12 GLOBX  165 47
    13 ACME   180 100
    14 GLOBX  195 48
    15 ACME   210 99
    16 GLOBX  225 50
    17 ACME   240 101
    18 GLOBX  255 50
    19 ACME   270 102
    20 GLOBX  285 51
    21 ACME   300 101
    22 ACME   330 100
    23 ACME   360 103
    """
)
V_SHAPE = {
    "name": "v_shape",
    "partition_by": ["symbol"],
    "order_by": "ts",
    "pattern": "A B+ C+",
    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
    "measures": {
        "start_price": "FIRST(A.price)",
        "bottom": "LAST(B.price)",
        "end_price": "LAST(C.price)",
    },
    "after_match_skip": "PAST LAST ROW",
    "within": "10m",
    "rows_per_match": "ONE",
}


def test_v_shape_of_the_design_example(matcher):
    # samples/README.md works this out by hand: four matches, ACME before GLOBX.
    result = find(matcher, V_SHAPE, STOCKS)
    assert [
        (m.key, m.event_ids, " ".join(m.classifiers), m.start, m.end, m.match_number, m.measures)
        for m in result.matches
    ] == [
        (
            {"symbol": "ACME"},
            [3, 5, 7, 9, 11],
            "A B B C C",
            at(30),
            at(150),
            1,
            {"start_price": 101, "bottom": 97, "end_price": 100},
        ),
        (
            {"symbol": "ACME"},
            [13, 15, 17, 19],
            "A B C C",
            at(180),
            at(270),
            2,
            {"start_price": 100, "bottom": 99, "end_price": 102},
        ),
        (
            {"symbol": "ACME"},
            [21, 22, 23],
            "A B C",
            at(300),
            at(360),
            3,
            {"start_price": 101, "bottom": 100, "end_price": 103},
        ),
        (
            {"symbol": "GLOBX"},
            [2, 4, 6, 8, 10, 12, 14, 16],
            "A B B B B C C C",
            at(15),
            at(225),
            1,
            {"start_price": 50, "bottom": 46, "end_price": 50},
        ),
    ]
