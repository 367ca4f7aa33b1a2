"""velocity: a per-key rate (count or sum per second / minute / hour) over a sliding window."""

from __future__ import annotations

import doctest
import math
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds import velocity as velocity_benchmark
from benchmarks.kinds.velocity import python_matches
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import velocity as velocity_module
from cep.model import parse_pattern
from cep.results import MatchResult
from tests.matcher.harness import at, events
from tests.matcher.test_count_threshold import assert_stream_equals_batch, frames


def velocity(**fields: Any) -> Any:
    spec = {"kind": "velocity", "name": "t", "threshold": 10, "per": "minute", "window": "30s"}
    spec.update(fields)
    return parse_pattern(spec)


def ids(result: MatchResult) -> list[list[Any]]:
    return [list(m.event_ids) for m in result.matches]


@pytest.mark.parametrize("module", [velocity_module, velocity_benchmark], ids=["matcher", "benchmark"])
def test_docstring_examples(module: Any) -> None:
    failed, _ = doctest.testmod(module)
    assert failed == 0


def test_a_count_rate_is_events_per_unit_of_the_window() -> None:
    # 5 events in a 30 s window = 10 per minute.
    result = find_matches(velocity(), events("ts: 0 5 10 15 20 25"))
    [m] = result.matches
    assert (m.event_ids, m.classifiers) == ([1, 2, 3, 4, 5], ["event"] * 5)
    assert (m.start, m.end) == (at(0), at(20))
    assert m.measures == {"rate": 10.0, "threshold": 10, "per": "minute", "window_s": 30.0,
                          "count": 5}
    assert result.stats["path"] == "count"
    assert list(result.pending) == []


@pytest.mark.parametrize(("per", "threshold", "expected"), [
    ("second", 0.2, [[1, 2]]),  # 2 events / 10 s = 0.2 per second
    ("second", 0.21, []),
    ("minute", 12, [[1, 2]]),  # 12 per minute
    ("hour", 720, [[1, 2]]),
    ("hour", 721, []),
], ids=["second", "second-above", "minute", "hour", "hour-above"])
def test_the_rate_unit_scales_the_window(per: str, threshold: float,
                                         expected: list[list[int]]) -> None:
    pattern = velocity(per=per, threshold=threshold, window="10s")
    assert ids(find_matches(pattern, events("ts: 0 5"))) == expected


def test_a_sum_rate_adds_the_value_field() -> None:
    pattern = velocity(value_field="amount", threshold=100, window="1m")
    [m] = find_matches(pattern, events("amount: 40 30 35", "ts: 0 10 20")).matches
    assert m.event_ids == [1, 2, 3]
    assert m.measures == {"rate": 105.0, "threshold": 100, "per": "minute", "window_s": 60.0,
                          "count": 3, "sum": 105.0}


def test_a_rate_equal_to_the_threshold_matches() -> None:
    pattern = velocity(value_field="amount", threshold=50, window="1m")
    assert ids(find_matches(pattern, events("amount: 20 30", "ts: 0 1"))) == [[1, 2]]


def test_an_event_exactly_one_window_earlier_is_out_of_the_window() -> None:
    pattern = velocity(value_field="amount", threshold=50, window="1m")
    assert ids(find_matches(pattern, events("amount: 20 30", "ts: 0 60"))) == []
    assert ids(find_matches(pattern, events("amount: 20 30", "ts: 0 59.5"))) == [[1, 2]]


def test_one_match_per_episode_and_time_alone_ends_it() -> None:
    pattern = velocity(value_field="amount", threshold=100, window="1m")
    # 60 + 50 at 0 s and 10 s: 110 (match). At 30 s: 130, still the same episode. The 60 of
    # 0 s leaves at 60 s (sum 70); at 65 s 40 more make 110 again: a new episode.
    df = events("amount: 60 50 20 40", "ts: 0 10 30 65")
    assert ids(find_matches(pattern, df)) == [[1, 2], [2, 3, 4]]


def test_the_episode_goes_on_while_the_rate_stays_above_between_events() -> None:
    pattern = velocity(value_field="amount", threshold=100, window="1m")
    # At 59 s the sum is 160; at 61 s the 60 of 0 s has left (100): never below 100.
    df = events("amount: 60 50 50 0", "ts: 0 10 59 61")
    assert ids(find_matches(pattern, df)) == [[1, 2]]


def test_a_rise_by_a_negative_value_leaving_is_reported_at_the_next_event() -> None:
    pattern = velocity(value_field="amount", threshold=10, window="1m")
    # -20 leaves at 60 s: the sum rises from 5 to 25 with no event; the next event reports it.
    df = events("amount: -20 25 1", "ts: 0 30 70")
    [m] = find_matches(pattern, df).matches
    assert (m.event_ids, m.measures["sum"]) == ([2, 3], 26.0)


def test_an_event_that_lowers_the_sum_below_ends_the_episode() -> None:
    pattern = velocity(value_field="amount", threshold=10, window="1m")
    df = events("amount: 20 -15 10", "ts: 0 1 2")
    assert ids(find_matches(pattern, df)) == [[1], [1, 2, 3]]


def test_equal_times_are_added_together() -> None:
    pattern = velocity(value_field="amount", threshold=100, window="1m")
    df = events("amount: 10 50 50 5", "ts: 0 5 5 6")
    assert ids(find_matches(pattern, df)) == [[1, 2, 3]]


def test_null_and_nan_values_are_skipped_and_text_numbers_are_read() -> None:
    pattern = velocity(value_field="amount", threshold=3, per="second", window="1s")
    df = events(amount=[1.0, None, math.nan, 2.0], ts=[0, 0.1, 0.2, 0.3])
    assert ids(find_matches(pattern, df)) == [[1, 4]]
    text = events(amount=["1", "2"], ts=[0, 0.5])
    assert ids(find_matches(pattern, text)) == [[1, 2]]


def test_non_numeric_and_infinite_values_are_event_data_errors() -> None:
    pattern = velocity(value_field="amount")
    with pytest.raises(EventDataError, match="'amount'"):
        find_matches(pattern, events(amount=["1", "x"]))
    with pytest.raises(EventDataError, match="'amount'"):
        find_matches(pattern, events("ts: 0"))
    with pytest.raises(EventDataError, match="'amount' of event 2 is infinite"):
        find_matches(pattern, events(amount=[1.0, math.inf]))
    matcher = create_matcher(pattern)
    with pytest.raises(EventDataError, match="'amount'"):
        matcher.feed(events("amount: x y"))


def test_keys_where_and_first_events() -> None:
    pattern = velocity(partition_by=["card"], where="channel = 'web'", threshold=4,
                       window="30s")
    df = events("card: a b a a b b", "channel: web web shop web web web", "ts: 0 1 2 3 4 5")
    result = find_matches(pattern, df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"card": "a"}, [1, 4]), ({"card": "b"}, [2, 5])
    ]


def test_late_events_are_reported_and_not_counted() -> None:
    pattern = velocity(value_field="amount", threshold=100, window="1m")
    matcher = create_matcher(pattern, allowed_lateness=timedelta(seconds=5))
    got = matcher.feed(events("amount: 50 10", "ts: 0 10", id=[1, 2]))
    got += matcher.feed(events("amount: 50", "ts: 6", id=[3]))  # within the lateness
    got += matcher.feed(events("amount: 500", "ts: 1", id=[4]))  # behind the watermark (5 s)
    got += matcher.flush()
    assert [m.event_ids for m in got] == [[1, 3]]  # counted, 4 would have matched at 1 s
    assert matcher.late_events.get_column("id").to_list() == [4]


def test_bad_patterns_are_refused() -> None:
    for bad in ({"threshold": 0}, {"threshold": -1}, {"per": "day"}, {"window": "0s"},
                {"value_field": ""}, {"where": "a ="}):
        with pytest.raises(PatternError):
            velocity(**bad)


def test_empty_events_give_no_matches() -> None:
    result = find_matches(velocity(value_field="amount"), events("amount: 1").head(0))
    assert list(result.matches) == []
    assert result.stats["events"] == 0


SPECS = [
    {},
    {"partition_by": ["k"], "threshold": 4, "per": "second", "window": "1s"},
    {"partition_by": ["k"], "value_field": "v", "threshold": 2, "per": "second", "window": "5s"},
    {"value_field": "v", "where": "v <> 0", "threshold": 40, "window": "3s"},
    {"partition_by": ["k"], "value_field": "v", "threshold": 0.5, "per": "hour", "window": "2s"},
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"v": st.one_of(st.none(), st.integers(-5, 9))}), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(df: pl.DataFrame, data: Any) -> None:
    pattern = velocity(**data.draw(st.sampled_from(SPECS)))
    df = df.with_columns(pl.col("v").cast(pl.Int64))
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    assert python_matches(pattern, df) == [
        (m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"v": st.one_of(st.just(math.nan), st.floats(-1e6, 1e6))}), data=st.data())
def test_float_sums_are_the_same_in_stream_and_batch(df: pl.DataFrame, data: Any) -> None:
    pattern = velocity(partition_by=["k"], value_field="v", threshold=0.3, per="second",
                       window="4s")
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    assert_stream_equals_batch(pattern, df.with_columns(pl.col("v").cast(pl.Float64)), cuts,
                               snapshot_at)


def test_generated_payments_agree_with_python_and_the_stream() -> None:
    from benchmarks.kinds.velocity import PATTERNS, generate_events

    df = generate_events(20_000, n_keys=50, seed=7)
    for spec in PATTERNS.values():
        pattern = parse_pattern(spec)
        result = assert_stream_equals_batch(pattern, df, [5_000, 12_345], 1)
        assert len(result.matches) > 20
        assert python_matches(pattern, df) == [
            (m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches
        ]
