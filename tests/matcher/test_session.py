"""session: per-key sessions split by an inactivity gap and a maximum duration, filtered by
``where`` and ``having``; the last session closes when event time passes its deadline.

Events are written in the harness notation (ids 1.., ``ts`` in seconds); expected sessions are
worked out by hand from the rules in ``cep.matcher.detectors.session``.
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

from benchmarks.kinds import session as session_benchmark
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import session as session_module
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match, PartialMatch
from tests.matcher.harness import at, events


def pattern(gap: str = "10s", **fields: Any) -> Any:
    return parse_pattern({"kind": "session", "name": "s", "gap": gap, **fields})


def sessions(result: Any) -> list[list[Any]]:
    return [list(m.event_ids) for m in result.matches]


def pending(result: Any) -> list[tuple[list[Any], Any]]:
    return [(list(p.event_ids), p.ended) for p in result.pending]


def test_module_doctests_pass() -> None:
    assert doctest.testmod(session_module).failed == 0
    assert doctest.testmod(session_benchmark).failed == 0


# --- hand-computed examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "secs", "expected", "expected_pending"),
    [
        # A gap of exactly 10 s joins; 10.000001 s does not. The last session {30} has deadline
        # 40 > 30 (the last event time): pending.
        ({}, [0, 10, 20.000001, 30], [[1, 2]], [([3, 4], 40.0)]),
        # max_duration 20 s, inclusive: 0 10 20 is one session (duration 20); 30 starts the next,
        # whose deadline min(30 + 10, 30 + 20) = 40 is pending.
        ({"max_duration": "20s"}, [0, 10, 20, 30], [[1, 2, 3]], [([4], 40.0)]),
        # max_duration 15 s: 20 is 20 s after the first event 0, so 0 10 | 20 25 26, and the
        # deadline of the last session is min(26 + 10, 20 + 15) = 35.
        ({"max_duration": "15s"}, [0, 10, 20, 25, 26], [[1, 2]], [([3, 4, 5], 35.0)]),
        # The deadline is min(last + gap, first + max): 0 5 10 with max 10 s closes at 10 s, the
        # latest event time, so it is a match at the end of the stream.
        ({"max_duration": "10s"}, [0, 5, 10], [[1, 2, 3]], []),
        ({}, [], [], []),
        ({}, [7], [], [([1], 17.0)]),
    ],
    ids=["gap-inclusive", "max-inclusive", "max-splits", "max-deadline", "no-events", "one-event"],
)
def test_hand_computed_sessions(
    fields: dict[str, Any],
    secs: list[float],
    expected: list[list[int]],
    expected_pending: list[tuple[list[int], float]],
) -> None:
    result = find_matches(pattern(**fields), events(ts=secs, x=[1] * len(secs)))
    assert sessions(result) == expected
    assert pending(result) == [(i, at(d)) for i, d in expected_pending]


def test_measures_and_times_describe_the_session() -> None:
    df = events(ts=[0, 4, 9, 30], amount=[2, None, 5, 1])
    p = pattern(having="SUM(amount) > 1 AND COUNT(amount) = 2 AND AVG(amount) = 3.5")
    (m,) = find_matches(p, df).matches
    assert (m.event_ids, m.classifiers) == ([1, 2, 3], ["event", "event", "event"])
    assert (m.start, m.end) == (at(0), at(9))
    assert m.measures == {
        "event_count": 3,
        "duration_s": 9.0,
        "SUM(amount)": 7,
        "COUNT(amount)": 2,
        "AVG(amount)": 3.5,
    }


def test_where_picks_the_events_and_the_others_neither_extend_nor_split() -> None:
    # Qualifying events at 0, 8 and 25; the 'ping' at 16 does not bridge 8 -> 25 (gap 10 s).
    df = events("type: a a ping a", ts=[0, 8, 16, 25])
    result = find_matches(pattern(where="type <> 'ping'"), df)
    assert sessions(result) == [[1, 2]]
    assert pending(result) == [([4], at(35))]


def test_having_follows_sql_null_rules() -> None:
    df = events(ts=[0, 1, 20, 21], amount=[None, None, 5, 6])
    # {0, 1}: SUM over no values is NULL, and COUNT(amount) is 0. {20, 21} (SUM 11) is still
    # open at the end (deadline 31 > 21): pending, since it satisfies having as it stands.
    result = find_matches(pattern(having="SUM(amount) >= 0 OR COUNT(amount) = 0"), df)
    assert sessions(result) == [[1, 2]]  # NULL OR TRUE
    assert pending(result) == [([3, 4], at(31))]
    result = find_matches(pattern(having="SUM(amount) >= 0"), df)
    assert sessions(result) == []  # NULL >= 0 is NULL: not satisfied
    assert pending(result) == [([3, 4], at(31))]
    result = find_matches(pattern(having="SUM(amount) > 11"), df)
    assert pending(result) == []


def test_min_max_of_text_and_a_non_condition_having() -> None:
    df = events("type: b a c d", ts=[0, 1, 2, 30])
    p = pattern(having="MIN(type) = 'a' AND MAX(type) = 'c'")
    assert sessions(find_matches(p, df)) == [[1, 2, 3]]
    with pytest.raises(PatternError, match="having"):
        find_matches(pattern(having="SUM(x)"), events(ts=[0], x=[1]))
    with pytest.raises(EventDataError, match="SUM"):
        find_matches(pattern(having="SUM(type) > 1"), df)


def test_the_end_of_the_stream_is_the_latest_event_time_of_any_key() -> None:
    # Key a's session {0, 5} has deadline 15; key b's last event at 15 closes it (<=), and its
    # own session {15} (deadline 25) is pending.
    df = events("k: a a b", ts=[0, 5, 15])
    result = find_matches(pattern(partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [({"k": "a"}, [1, 2])]
    assert [(p.key, p.event_ids, p.ended, p.reason) for p in result.pending] == [
        ({"k": "b"}, [3], at(25), "pending")
    ]


def test_keys_are_in_order_of_first_appearance() -> None:
    df = events("k: b a b a", ts=[0, 1, 30, 31])
    result = find_matches(pattern(partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [({"k": "b"}, [1]), ({"k": "a"}, [2])]


def test_equal_times_keep_input_order() -> None:
    df = events(ts=[5, 0, 5, 40])
    assert sessions(find_matches(pattern(), df)) == [[2, 1, 3]]


def test_missing_fields_are_named() -> None:
    with pytest.raises(EventDataError, match="'amount'"):
        find_matches(pattern(having="SUM(amount) > 1"), events(ts=[0], x=[1]))
    with pytest.raises(EventDataError, match="'type'"):
        find_matches(pattern(where="type = 'a'"), events(ts=[0], x=[1]))


# --- streaming and time ------------------------------------------------------------------------


def test_the_watermark_closes_a_session_strictly_after_its_deadline() -> None:
    df = events("k: a a b b", ts=[0, 1, 11, 12])
    matcher = create_matcher(pattern(partition_by=["k"]))
    assert matcher.feed(df.slice(0, 2)) == []
    assert matcher.feed(df.slice(2, 1)) == []  # watermark 11: a's deadline 11 is not passed
    got = matcher.feed(df.slice(3, 1))  # watermark 12 > 11
    assert [m.event_ids for m in got] == [[1, 2]]
    assert matcher.flush() == []
    assert [p.event_ids for p in matcher.pending_matches] == [[3, 4]]


def test_flush_with_now_and_advance_watermark_complete_pending_sessions() -> None:
    df = events(ts=[0, 3])
    matcher = create_matcher(pattern())
    matcher.feed(df)
    assert matcher.advance_watermark(at(13)) == []  # deadline 13 is not before 13
    assert [m.event_ids for m in matcher.advance_watermark(at(13.5))] == [[1, 2]]
    matcher = create_matcher(pattern())
    matcher.feed(df)
    assert matcher.flush(now=at(12.9)) == []
    assert [p.event_ids for p in matcher.pending_matches] == [[1, 2]]
    matcher = create_matcher(pattern())
    matcher.feed(df)
    assert [m.event_ids for m in matcher.flush(now=at(13))] == [[1, 2]]
    assert matcher.pending_matches == []


def test_late_events_within_the_lateness_are_matched_and_later_ones_reported() -> None:
    df = events(ts=[0, 30, 5, 60, 1])
    matcher = create_matcher(pattern(), allowed_lateness=timedelta(seconds=30))
    got = matcher.feed(df.slice(0, 3))  # watermark 0
    got += matcher.feed(df.slice(3, 1))  # watermark 30: {0, 5} closes (deadline 15 < 30)
    got += matcher.feed(df.slice(4, 1))  # 1 < 30: late
    got += matcher.flush()  # {30} closes: 60 is 30 s after it; {60} pends
    assert [m.event_ids for m in got] == [[1, 3], [2]]
    assert matcher.late_events.get_column("id").to_list() == [5]
    assert [p.event_ids for p in matcher.pending_matches] == [[4]]


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


def stream(
    p: Any, df: pl.DataFrame, cuts: list[int], snapshot_at: int | None
) -> tuple[list[Match], list[PartialMatch]]:
    matcher = create_matcher(p, allowed_lateness=disorder(df))
    out: list[Match] = []
    bounds = [0, *sorted(set(cuts)), df.height]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        out += matcher.feed(df.slice(a, b - a))
    out += matcher.flush()
    assert matcher.late_events.height == 0
    return out, matcher.pending_matches


HAVING = [
    None,
    "event_count >= 2",
    "SUM(x) > 5",
    "AVG(x) >= 2 OR MAX(x) = 6",
    "COUNT(x) < event_count AND duration_s <= 4",
    "MIN(x) IS NULL",
]


@st.composite
def cases(draw: st.DrawFn) -> tuple[Any, pl.DataFrame]:
    n = draw(st.integers(0, 30))
    keys = draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n))
    secs = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    if draw(st.booleans()):
        secs.sort()
    values = draw(st.lists(st.integers(0, 6) | st.none(), min_size=n, max_size=n))
    fields: dict[str, Any] = {"partition_by": ["k"]}
    if draw(st.booleans()):
        fields["max_duration"] = f"{draw(st.integers(1, 10))}s"
    where = draw(st.sampled_from([None, "x IS NULL OR x > 1"]))
    having = draw(st.sampled_from(HAVING))
    fields |= {k: v for k, v in (("where", where), ("having", having)) if v is not None}
    return pattern(f"{draw(st.integers(1, 5))}s", **fields), events(k=keys, ts=secs, x=values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(case: Any, data: st.DataObject) -> None:
    p, df = case
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    got, got_pending = stream(p, df, cuts, snapshot_at)
    expected = find_matches(p, df)
    assert per_key(got) == per_key(list(expected.matches))
    assert [x.to_json_dict() for x in got_pending] == [x.to_json_dict() for x in expected.pending]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_pure_python_implementation_agrees(case: Any) -> None:
    p, df = case
    expected = [(m.key, m.event_ids, m.classifiers) for m in find_matches(p, df).matches]
    assert session_benchmark.python_matches(p, df) == expected
