"""Partitions and ordering: independent partitions, first-appearance order, stable sort (§1.1)."""

from __future__ import annotations

from tests.matcher.harness import events, find, run

RISE = {"pattern": "A B+", "define": {"B": "price > PREV(price)"}}


def test_partitions_are_matched_independently(matcher):
    # Interleaved rows: X rises 1 2 3, Y falls 10 9 8. Unpartitioned, PREV would mix them.
    df = events("k: X Y X Y X Y", "price: 1 10 2 9 3 8")
    assert run(matcher, {**RISE, "partition_by": ["k"]}, df) == [("X", [1, 3, 5], "A B B")]


def test_match_number_restarts_in_each_partition(matcher):
    spec = {"pattern": "A", "partition_by": ["k"], "measures": {"n": "MATCH_NUMBER()"}}
    result = find(matcher, spec, events("k: X Y X Y X"))
    assert [(m.key["k"], m.event_ids, m.match_number, m.measures["n"]) for m in result.matches] == [
        ("X", [1], 1, 1),
        ("X", [3], 2, 2),
        ("X", [5], 3, 3),
        ("Y", [2], 1, 1),
        ("Y", [4], 2, 2),
    ]


def test_partitions_come_out_in_order_of_first_appearance(matcher):
    # Y's first row comes first in the input, although X's rows are earlier in time.
    df = events("k: Y X X Y", "ts: 5 0 1 6")
    assert run(matcher, {"pattern": "A B", "partition_by": ["k"]}, df) == [
        ("Y", [1, 4], "A B"),
        ("X", [2, 3], "A B"),
    ]


def test_unsorted_input_is_sorted_by_time(matcher):
    spec = {"pattern": "A B C", "define": {"A": "price = 1", "B": "price = 2", "C": "price = 3"}}
    df = events("ts: 3 1 2 0", "price: 4 2 3 1")
    assert run(matcher, spec, df) == [([4, 2, 3], "A B C")]


def test_equal_timestamps_keep_input_order(matcher):
    spec = {"pattern": "A B C", "define": {"A": "price = 1", "B": "price = 2", "C": "price = 3"}}
    assert run(matcher, spec, events("ts: 0 1 1", "price: 1 2 3")) == [([1, 2, 3], "A B C")]
    assert run(matcher, spec, events("ts: 0 1 1", "price: 1 3 2")) == []


def test_several_partition_columns_form_one_key(matcher):
    df = events("a: 1 1 2 1", "b: x y x x")
    result = find(matcher, {"pattern": "A B", "partition_by": ["a", "b"]}, df)
    assert [(m.key, m.event_ids) for m in result.matches] == [({"a": 1, "b": "x"}, [1, 4])]


def test_no_partition_by_gives_an_empty_key(matcher):
    result = find(matcher, "A", events("x: 1"))
    assert [(m.key, m.event_ids, m.match_number) for m in result.matches] == [({}, [1], 1)]


def test_anchors_refer_to_the_partition(matcher):
    # ^A: only the first row of each partition; A$: only the last one.
    df = events("k: X Y X Y X")
    assert run(matcher, {"pattern": "^ A", "partition_by": ["k"]}, df) == [
        ("X", [1], "A"),
        ("Y", [2], "A"),
    ]
    assert run(matcher, {"pattern": "A $", "partition_by": ["k"]}, df) == [
        ("X", [5], "A"),
        ("Y", [4], "A"),
    ]


def test_row_position_is_the_id_without_an_id_column(matcher):
    df = events("k: X Y X", "ts: 2 1 0").drop("id")
    result = find(matcher, {"pattern": "A B", "partition_by": ["k"]}, df)
    # X's rows sorted by time: position 2 (ts 0), then position 0 (ts 2).
    assert [(m.key["k"], m.event_ids) for m in result.matches] == [("X", [2, 0])]


def test_id_field_names_the_id_column(matcher):
    df = events("code: a b c")
    result = find(matcher, {"pattern": "A B", "id_field": "code"}, df)
    assert [m.event_ids for m in result.matches] == [["a", "b"]]
