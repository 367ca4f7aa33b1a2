"""Output modes: ONE ROW / ALL ROWS PER MATCH, empty matches, unmatched rows, exclusion (§1.7)."""

from __future__ import annotations

import pytest

from tests.matcher.harness import at, events, find

# OVER* on 5 12 13 4 15 3 (OVER: price > 10): empty at row 1, OVER OVER on rows 2-3, empty at
# row 4, OVER on row 5, empty at row 6. Five matches, numbered 1-5.
PRICES = events("price: 5 12 13 4 15 3")
OVER = {"pattern": "OVER*", "define": {"OVER": "price > 10"}, "measures": {"n": "MATCH_NUMBER()"}}


def _view(result):
    return [
        (m.match_number, m.event_ids, " ".join(m.classifiers), m.empty_at) for m in result.matches
    ]


def test_one_row_per_match_lists_empty_matches_with_their_numbers(matcher):
    result = find(matcher, OVER, PRICES)
    assert _view(result) == [
        (1, [], "", 1),
        (2, [2, 3], "OVER OVER", None),
        (3, [], "", 4),
        (4, [5], "OVER", None),
        (5, [], "", 6),
    ]
    assert [m.measures["n"] for m in result.matches] == [1, 2, 3, 4, 5]
    assert result.unmatched_event_ids is None


def test_empty_match_starts_and_ends_at_its_row(matcher):
    result = find(matcher, OVER, PRICES)
    assert [(m.start, m.end) for m in result.matches] == [
        (at(0), at(0)),
        (at(1), at(2)),
        (at(3), at(3)),
        (at(4), at(4)),
        (at(5), at(5)),
    ]


@pytest.mark.parametrize("option", [None, "SHOW EMPTY MATCHES"], ids=["default", "explicit"])
def test_all_rows_show_empty_matches(matcher, option):
    spec = {**OVER, "rows_per_match": "ALL"}
    if option:
        spec["rows_per_match_option"] = option
    result = find(matcher, spec, PRICES)
    assert _view(result) == [
        (1, [], "", 1),
        (2, [2, 3], "OVER OVER", None),
        (3, [], "", 4),
        (4, [5], "OVER", None),
        (5, [], "", 6),
    ]
    assert [m.row_measures for m in result.matches] == [
        [],
        [{"n": 2}, {"n": 2}],
        [],
        [{"n": 4}],
        [],
    ]


def test_all_rows_omit_empty_matches_keeps_the_numbers_they_used(matcher):
    # In the spirit of Snowflake's OVERAVG* example: the numbers shown skip the empty matches.
    spec = {**OVER, "rows_per_match": "ALL", "rows_per_match_option": "OMIT EMPTY MATCHES"}
    result = find(matcher, spec, PRICES)
    assert _view(result) == [(2, [2, 3], "OVER OVER", None), (4, [5], "OVER", None)]
    assert result.stats["matches"] == 2


def test_with_unmatched_rows_lists_rows_in_no_match(matcher):
    spec = {
        "pattern": "OVER+",
        "define": {"OVER": "price > 10"},
        "rows_per_match": "ALL",
        "rows_per_match_option": "WITH UNMATCHED ROWS",
    }
    result = find(matcher, spec, PRICES)
    assert _view(result) == [(1, [2, 3], "OVER OVER", None), (2, [5], "OVER", None)]
    assert result.unmatched_event_ids == [1, 4, 6]


def test_with_unmatched_rows_counts_empty_match_rows_as_matched(matcher):
    spec = {**OVER, "rows_per_match": "ALL", "rows_per_match_option": "WITH UNMATCHED ROWS"}
    result = find(matcher, spec, PRICES)
    assert len(result.matches) == 5
    assert result.unmatched_event_ids == []


def test_with_unmatched_rows_does_not_repeat_rows_of_earlier_matches(matcher):
    # SKIP TO NEXT ROW: rows 2 and 3 start no match but are inside match 1, so only the c at
    # row 4 and the lone a at row 5 are unmatched.
    spec = {
        "pattern": "A B+",
        "define": {"A": "type = 'a'", "B": "type = 'b'"},
        "after_match_skip": "TO NEXT ROW",
        "rows_per_match": "ALL",
        "rows_per_match_option": "WITH UNMATCHED ROWS",
    }
    result = find(matcher, spec, events("type: a b b c a"))
    assert _view(result) == [(1, [1, 2, 3], "A B B", None)]
    assert result.unmatched_event_ids == [4, 5]


def test_unmatched_rows_come_in_partition_then_time_order(matcher):
    spec = {
        "pattern": "A B",
        "define": {"A": "type = 'a'", "B": "type = 'b'"},
        "partition_by": ["k"],
        "rows_per_match": "ALL",
        "rows_per_match_option": "WITH UNMATCHED ROWS",
    }
    df = events("k: Y X Y X Y", "type: c a a b c", "ts: 9 1 3 2 0")
    result = find(matcher, spec, df)
    # Y (first seen) sorted by time: row 5 (c, 0 s), row 3 (a, 3 s), row 1 (c, 9 s); X: 2, 4.
    assert [(m.key["k"], m.event_ids) for m in result.matches] == [("X", [2, 4])]
    assert result.unmatched_event_ids == [5, 3, 1]


EXCLUDED = {
    "pattern": "A {- B+ -} C",
    "define": {"C": "C.price > B.price"},
    "measures": {"b": "LAST(B.price)", "rows": "COUNT(*)"},
}


def test_exclusion_does_not_change_one_row_per_match(matcher):
    result = find(matcher, EXCLUDED, events("price: 1 2 3"))
    assert [(m.event_ids, m.classifiers, m.measures) for m in result.matches] == [
        ([1, 2, 3], ["A", "B", "C"], {"b": 2, "rows": 3})
    ]


def test_exclusion_drops_rows_from_all_rows_output_only(matcher):
    # DEFINE (C reads B.price) and MEASURES still see the excluded B row.
    result = find(matcher, {**EXCLUDED, "rows_per_match": "ALL"}, events("price: 1 2 3"))
    assert [(m.event_ids, m.classifiers, m.measures, m.start, m.end) for m in result.matches] == [
        ([1, 3], ["A", "C"], {"b": 2, "rows": 3}, at(0), at(2))
    ]
    assert result.matches[0].row_measures == [{"b": None, "rows": 1}, {"b": 2, "rows": 3}]


def test_stats_count_events_and_matches(matcher):
    result = find(matcher, OVER, PRICES)
    assert result.stats["events"] == 6
    assert result.stats["matches"] == 5
    assert isinstance(result.stats["elapsed_ms"], float)


def test_all_rows_per_match_without_measures_has_one_empty_dict_per_row(matcher):
    result = find(matcher, {"pattern": "A B", "rows_per_match": "ALL"}, events("x: 1 2"))
    assert [(m.event_ids, m.measures, m.row_measures) for m in result.matches] == [
        ([1, 2], {}, [{}, {}])
    ]


def test_one_row_per_match_has_no_row_measures(matcher):
    result = find(matcher, {"pattern": "A B", "measures": {"n": "COUNT(*)"}}, events("x: 1 2"))
    assert [(m.measures, m.row_measures, m.empty_at) for m in result.matches] == [
        ({"n": 2}, None, None)
    ]
