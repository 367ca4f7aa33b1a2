"""dedup with ``where``: only events where it holds are kept or duplicates; the others are ignored."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds.dedup import python_matches
from cep.codegen.fields import pattern_fields
from cep.errors import EventDataError
from cep.explain import describe_pattern, explain_result, find_near_misses
from cep.matcher import create_matcher, find_matches
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import MatchResult
from tests.matcher.harness import at, events
from tests.matcher.test_count_threshold import assert_stream_equals_batch, frames, per_key

PAID = "type = 'pay'"


def dedup(**fields: Any) -> Any:
    spec = {"kind": "dedup", "name": "t", "where": PAID, "fields": ["amount"], "window": "10s"}
    spec.update(fields)
    return parse_pattern(spec)


def pairs(result: MatchResult) -> list[list[Any]]:
    return [list(m.event_ids) for m in result.matches]


def test_events_that_fail_where_neither_open_nor_fill_a_window() -> None:
    # The note at 0 s would be kept and make the payment at 5 s its duplicate, and the payment
    # at 12 s kept (12 s after the note). Ignored, the payment at 5 s is kept and 12 s (7 s
    # later) is its duplicate.
    df = events("type: note pay pay", "amount: 5 5 5", "ts: 0 5 12")
    assert pairs(find_matches(dedup(where=None), df)) == [[1, 2]]
    [m] = find_matches(dedup(), df).matches
    assert (m.event_ids, m.classifiers) == ([2, 3], ["kept", "duplicate"])
    assert (m.start, m.end) == (at(5), at(12))
    assert m.measures == {"gap_s": 7.0, "window_s": 10.0, "duplicate_number": 1}


def test_ignored_events_are_not_duplicates_and_not_counted() -> None:
    df = events("type: pay note pay note pay", "amount: 5 5 5 5 5", "ts: 0 1 2 3 4")
    result = find_matches(dedup(), df)
    assert [(m.event_ids, m.measures["duplicate_number"]) for m in result.matches] == [
        ([1, 3], 1), ([1, 5], 2)
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [("n > 0", [[2, 4]]), ("NOT n > 0", [[1, 3]]), ("n IS NULL", [[5, 6]])],
    ids=["null-fails-a-condition", "null-fails-its-negation", "is-null-holds"],
)
def test_a_null_condition_counts_as_false(where: str, expected: list[list[int]]) -> None:
    df = events("msg: a a a a a a", "n: 0 1 0 2 null null")
    assert pairs(find_matches(dedup(where=where, fields=["msg"]), df)) == expected


def test_where_may_read_a_deduplicated_field() -> None:
    df = events("amount: 5 5 700 700 700", "ts: 0 1 2 3 20")
    assert pairs(find_matches(dedup(where="amount > 100"), df)) == [[3, 4]]


def test_keys_and_equal_times_with_where() -> None:
    df = events("k: x y x x y y", "type: pay pay note pay pay pay", "amount: 1 1 1 1 1 1",
                "ts: 0 0 0 0 30 30", id=["a", "b", "c", "d", "e", "f"])
    result = find_matches(dedup(partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"k": "x"}, ["a", "d"]), ({"k": "y"}, ["e", "f"])
    ]


def test_stream_with_a_snapshot_in_the_middle_equals_batch() -> None:
    df = events("type: pay note pay pay note pay pay", "amount: 5 5 5 7 7 7 5",
                "ts: 0 1 3 4 6 9 14")
    pattern = dedup()
    assert pairs(find_matches(pattern, df)) == [[1, 3], [4, 6]]
    first = create_matcher(pattern)
    got = first.feed(df.slice(0, 2)) + first.feed(df.slice(2, 2))
    restored = StreamMatcher.restore(json.loads(json.dumps(first.snapshot())))
    got += restored.feed(df.slice(4, 3)) + restored.flush()
    assert [m.event_ids for m in got] == [[1, 3], [4, 6]]
    assert_stream_equals_batch(pattern, df, [1, 2, 5], 2)


def test_a_missing_where_field_is_named() -> None:
    df = events("amount: 5 5")
    with pytest.raises(EventDataError, match=r"'type'.*where"):
        find_matches(dedup(), df)
    with pytest.raises(EventDataError, match=r"'type'.*where"):
        create_matcher(dedup()).feed(df)


def test_a_where_that_cannot_be_evaluated_is_an_event_data_error() -> None:
    with pytest.raises(EventDataError, match="cannot be evaluated"):
        find_matches(dedup(where="type > 3"), events("type: pay pay", "amount: 5 5"))


WHERES = ["n = 1", "n IS NULL OR msg = 'a'", "NOT n = 2"]
SPECS = [
    {"fields": ["msg"]},
    {"partition_by": ["k"], "fields": ["msg"]},
    {"partition_by": ["k"], "fields": ["msg", "n"], "window": "3s"},
    {"fields": ["n"], "window": "1m"},
]


def by_key(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for key, ids, classifiers in rows:
        grouped[json.dumps(key, sort_keys=True)].append((ids, classifiers))
    return dict(grouped)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"msg": ["a", "b", None], "n": [1, 2, None]}), data=st.data())
def test_where_equals_deduplicating_the_filtered_events(df: pl.DataFrame, data: Any) -> None:
    spec = data.draw(st.sampled_from(SPECS))
    where = data.draw(st.sampled_from(WHERES))
    df = df.with_columns(pl.col("msg").cast(pl.String), pl.col("n").cast(pl.Int64))
    if "id" not in df.columns:
        df = df.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("id"))
    pattern = dedup(where=where, **spec)
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    kept = df.filter(pl.sql_expr(where).fill_null(False))
    plain = dedup(where=None, **spec)
    assert per_key(result.matches) == per_key(find_matches(plain, kept).matches)
    assert by_key([(m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches]) == (
        by_key(python_matches(plain, kept)))


# --- description, explanations, generated code ------------------------------------------------


def test_the_description_says_which_events_take_part() -> None:
    assert describe_pattern(dedup(partition_by=["claim"])) == (
        "t (dedup)\nFor each claim separately, an event with the same amount as a kept event "
        "less than 10s before it is a duplicate (one match per duplicate). Only events where "
        "type = 'pay' take part; the others are ignored."
    )
    assert "Only events" not in describe_pattern(dedup(where=None))


def test_the_timeline_shows_the_where_clauses_of_both_events() -> None:
    # The note at 1 s (same amount) is ignored: 3 s is the first duplicate of 0 s, not the second.
    pattern = dedup(where="type = 'pay' AND amount > 1")
    df = events("type: pay note pay", "amount: 5 5 5", "ts: 0 1 3")
    [e] = explain_result(pattern, df, find_matches(pattern, df))
    assert [t.step for t in e.timeline] == ["kept", "duplicate"]
    for entry in e.timeline:
        assert entry.fields == {"type": "pay", "amount": 5}
        assert [(c.text, c.value) for c in entry.clauses] == [("type = 'pay'", True),
                                                                ("amount > 1", True)]
    assert e.state_snapshot["duplicate_number"] == 1
    assert e.state_snapshot["first_occurrence"] == {"event_id": 1, "time": at(0)}


def test_near_misses_skip_events_that_fail_where() -> None:
    # The note at 0 s is ignored: the payment at 11 s is kept, and 22 s repeats it 11 s later,
    # 1 s after its window closed. Without where, the note would be kept and give two misses.
    df = events("type: note pay pay", "amount: 5 5 5", "ts: 0 11 22")
    assert len(find_near_misses(dedup(where=None), df)) == 2
    [m] = find_near_misses(dedup(), df)
    assert (m.reason, m.event_ids, m.classifiers) == ("window_expired", (2, 3),
                                                      ("kept", "duplicate"))
    assert m.details["late_by_s"] == 1.0


def test_generated_jobs_read_the_where_fields() -> None:
    pattern = dedup(partition_by=["claim"], where="type = 'pay' AND fee > 0")
    assert pattern_fields(pattern) == {"ts": "timestamp", "claim": "string", "amount": "string",
                                       "type": "string", "fee": "double"}
