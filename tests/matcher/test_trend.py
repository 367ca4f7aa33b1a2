"""trend: N consecutive rising, falling or flat values per key, one match per run.

Events are written in the harness notation (ids 1.., one second apart unless ``ts`` is given);
expected matches are worked out by hand from the rules in ``cep.matcher.detectors.trend``.
"""

from __future__ import annotations

import doctest
import itertools
import json
from collections import defaultdict
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds import trend as trend_benchmark
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import trend as trend_module
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match
from tests.matcher.harness import at, events


def pattern(direction: str = "up", count: int = 3, tol: float = 0.0, **fields: Any) -> Any:
    return parse_pattern(
        {
            "kind": "trend",
            "name": "t",
            "value_field": "x",
            "direction": direction,
            "count": count,
            "tolerance_pct": tol,
            **fields,
        }
    )


def ids(result: Any) -> list[list[Any]]:
    return [list(m.event_ids) for m in result.matches]


def test_module_doctests_pass() -> None:
    assert doctest.testmod(trend_module).failed == 0
    assert doctest.testmod(trend_benchmark).failed == 0


# --- hand-computed examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "count", "tol", "values", "expected"),
    [
        # 4 continues the matched run; 2 fails the step and is the first value of the next run.
        ("up", 3, 0, "1 2 3 4 2 3 5", [[1, 2, 3], [5, 6, 7]]),
        # Equal values are not a rise: 2 -> 2 breaks, the second 2 starts the run 2 3 4.
        ("up", 3, 0, "1 2 2 3 4", [[3, 4, 5]]),
        # One run 3 2 1 0: one match, for its first two values only.
        ("down", 2, 0, "3 2 1 0", [[1, 2]]),
        ("down", 2, 0, "3 2 3 2", [[1, 2], [3, 4]]),
        ("flat", 3, 0, "5 5 5 5 6 6 6", [[1, 2, 3], [5, 6, 7]]),
        # Within 10%: one run; windows 10 9.5 9.2 and 9.5 9.2 9.5 fail last > first.
        ("up", 3, 10, "10 9.5 9.2 9.5 10", [[3, 4, 5]]),
        # The window slides inside one run; only the first passing window matches.
        ("up", 3, 10, "10 9.5 9.2 9.5 10 11 12", [[3, 4, 5]]),
        # Negative values: -10.5 > -10 - 1 (10% of |-10|), -9 > -10.5 - 1.05, and -9 > -10.
        ("up", 3, 10, "-10 -10.5 -9", [[1, 2, 3]]),
        ("down", 3, 10, "-10 -9.5 -11", [[1, 2, 3]]),
        # Flat with 1%: |0.5| <= 1, |0.5| <= 1.005, then |2| > 1.01 starts a new run at 103.
        ("flat", 3, 1, "100 100.5 101 103 103 103", [[1, 2, 3], [4, 5, 6]]),
        # A NULL ends the run and cannot be in one.
        ("down", 3, 0, "5 4 null 3 2 1", [[4, 5, 6]]),
        ("up", 2, 0, "1 null 2", []),
        # Too short.
        ("up", 4, 0, "1 2 3", []),
        # Zero values: a flat run at 0 with any tolerance needs exact zeros.
        ("flat", 2, 50, "0 0 0.1", [[1, 2]]),
    ],
    ids=[
        "up-rerun",
        "equal-breaks",
        "down-one-run",
        "down-two-runs",
        "flat",
        "tol-window",
        "tol-slides-once",
        "negative-up",
        "negative-down",
        "flat-tolerance",
        "null-breaks",
        "null-between",
        "too-short",
        "flat-zero",
    ],
)
def test_hand_computed_trends(
    direction: str, count: int, tol: float, values: str, expected: list[list[int]]
) -> None:
    assert ids(find_matches(pattern(direction, count, tol), events(f"x: {values}"))) == expected


def test_measures_and_times_describe_the_window() -> None:
    result = find_matches(pattern("up", 3), events("x: 0 2 5 1"))
    (m,) = result.matches
    assert (m.start, m.end, m.classifiers) == (at(0), at(2), ["up", "up", "up"])
    assert m.measures == {
        "count": 3,
        "first": 0.0,
        "last": 5.0,
        "change": 5.0,
        "change_pct": None,
        "tolerance_pct": 0.0,
    }
    (m,) = find_matches(pattern("down", 2), events("x: 4 3")).matches
    assert m.measures["change_pct"] == -25.0


def test_keys_are_separate_and_in_order_of_first_appearance() -> None:
    df = events("k: b a b a b a", "x: 5 1 6 2 7 3")
    result = find_matches(pattern("up", 3, partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"k": "b"}, [1, 3, 5]),
        ({"k": "a"}, [2, 4, 6]),
    ]


def test_equal_times_keep_input_order_and_unsorted_input_is_sorted_by_time() -> None:
    df = events(ts=[2, 0, 1, 1], x=[9, 1, 2, 3])
    assert ids(find_matches(pattern("up", 4), df)) == [[2, 3, 4, 1]]
    df = events(ts=[0, 1, 1, 2], x=[1, 3, 2, 4])
    assert ids(find_matches(pattern("up", 2), df)) == [[1, 2], [3, 4]]


def test_first_event_of_a_key_starts_its_first_run() -> None:
    df = events("k: a a b b", "x: 1 2 3 4")
    result = find_matches(pattern("up", 2, partition_by=["k"]), df)
    assert [m.event_ids for m in result.matches] == [[1, 2], [3, 4]]  # 2 -> 3 crosses keys


def test_ids_default_to_input_rows_without_an_id_column() -> None:
    df = events("x: 3 1 2 3").drop("id")
    assert ids(find_matches(pattern("up", 3), df)) == [[1, 2, 3]]
    df = events("x: 1 2", "ref: a b")
    assert ids(find_matches(pattern("up", 2, id_field="ref"), df)) == [["a", "b"]]


def test_text_numbers_are_read_and_bad_values_name_the_field() -> None:
    df = events(x=["1", "2", "3"])
    assert ids(find_matches(pattern("up", 3), df)) == [[1, 2, 3]]
    with pytest.raises(EventDataError, match="'x'"):
        find_matches(pattern("up", 3), events(x=["1", "two", "3"]))
    with pytest.raises(EventDataError, match="'x'"):
        find_matches(pattern("up", 3), events("y: 1 2 3"))


def test_count_below_two_is_refused() -> None:
    with pytest.raises(PatternError, match="count"):
        pattern("up", 1)


# --- streaming -------------------------------------------------------------------------------


def test_a_match_is_emitted_once_its_last_event_is_final() -> None:
    df = events("x: 1 2 3 4 2 3 5")
    matcher = create_matcher(pattern("up", 3))
    assert matcher.feed(df.slice(0, 3)) == []  # 3 (at 2 s) is not final yet
    assert [m.event_ids for m in matcher.feed(df.slice(3, 1))] == [[1, 2, 3]]
    assert matcher.feed(df.slice(4, 3)) == []  # the run 4 carries its "matched" flag
    assert [m.event_ids for m in matcher.flush()] == [[5, 6, 7]]


def test_late_events_within_the_lateness_are_matched_and_later_ones_reported() -> None:
    df = events(ts=[0, 2, 1, 3, 0], x=[1, 3, 2, 4, 0])
    matcher = create_matcher(pattern("up", 4), allowed_lateness=timedelta(seconds=1))
    got = matcher.feed(df.slice(0, 3)) + matcher.feed(df.slice(3, 2)) + matcher.flush()
    assert [m.event_ids for m in got] == [[1, 3, 2, 4]]
    assert matcher.late_events.get_column("id").to_list() == [5]


# --- properties ------------------------------------------------------------------------------


def per_key(matches: list[Match]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for m in matches:
        grouped[json.dumps(m.key, sort_keys=True)].append(
            (m.event_ids, m.classifiers, m.start, m.end, m.measures)
        )
    return dict(grouped)


def disorder(df: pl.DataFrame) -> timedelta:
    ts = df.get_column("ts").dt.epoch("us").to_list()
    highest = list(itertools.accumulate(ts, max))
    return timedelta(microseconds=max((h - t for h, t in zip(highest, ts, strict=True)), default=0))


def stream(p: Any, df: pl.DataFrame, cuts: list[int], snapshot_at: int | None) -> list[Match]:
    matcher = create_matcher(p, allowed_lateness=disorder(df))
    out: list[Match] = []
    bounds = [0, *sorted(set(cuts)), df.height]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        out += matcher.feed(df.slice(a, b - a))
    out += matcher.flush()
    assert matcher.late_events.height == 0
    assert matcher.pending_matches == []
    return out


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, pl.DataFrame]:
    n = draw(st.integers(0, 30))
    keys = draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n))
    secs = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    if draw(st.booleans()):
        secs.sort()
    values = draw(
        st.lists(st.one_of(st.integers(-3, 6), st.none(), st.just(2.5)), min_size=n, max_size=n)
    )
    p = pattern(
        draw(st.sampled_from(["up", "down", "flat"])),
        draw(st.integers(2, 4)),
        draw(st.sampled_from([0, 10, 40])),
        partition_by=["k"],
    )
    return p, events(k=keys, ts=secs, x=values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(case: Any, data: st.DataObject) -> None:
    p, df = case
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    assert per_key(stream(p, df, cuts, snapshot_at)) == per_key(list(find_matches(p, df).matches))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_pure_python_implementation_agrees(case: Any) -> None:
    p, df = case
    expected = [(m.key, m.event_ids, m.classifiers) for m in find_matches(p, df).matches]
    assert trend_benchmark.python_matches(p, df) == expected
