"""absence: a trigger not followed by an expected event within the timeout.

Also holds the stream-vs-batch harness the other time-driven kinds (heartbeat, state_machine)
reuse: feed a frame in random micro-batches (with a JSON snapshot/restore in between) and
compare, per key, with the batch run, including the pending deadlines.
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

from benchmarks.kinds.absence import python_matches
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import absence as absence_module
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match, MatchResult, PartialMatch
from tests.matcher.harness import at, events

# --- the shared stream/batch harness -----------------------------------------------------------


def per_key(matches: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Matches grouped by key, each as (event_ids, classifiers, start, end, measures)."""
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for m in matches:
        grouped[json.dumps(m.key, sort_keys=True, default=str)].append(
            (list(m.event_ids), list(m.classifiers), m.start, m.end, m.measures)
        )
    return dict(grouped)


def pending_view(pending: Any) -> list[str]:
    return sorted(json.dumps(p.to_json_dict(), sort_keys=True) for p in pending)


def disorder(df: pl.DataFrame) -> timedelta:
    """The largest lateness of an event behind the latest time before it (input order)."""
    worst, highest = 0, None
    for t in df.get_column("ts").dt.epoch("us").to_list():
        highest = t if highest is None else max(highest, t)
        worst = max(worst, highest - t)
    return timedelta(microseconds=worst)


def stream(pattern: Any, df: pl.DataFrame, cuts: list[int], snapshot_at: int | None = None,
           *, lateness: timedelta | None = None) -> tuple[list[Match], list[PartialMatch]]:
    """Feed ``df`` cut at ``cuts`` (restoring from JSON before batch ``snapshot_at``); flush."""
    matcher = create_matcher(pattern, allowed_lateness=disorder(df) if lateness is None
                             else lateness)
    emitted: list[Match] = []
    bounds = [0, *sorted(set(cuts)), df.height]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        emitted += matcher.feed(df.slice(a, b - a))
    emitted += matcher.flush()
    assert matcher.late_events.height == 0
    return emitted, matcher.pending_matches


def assert_stream_equals_batch(pattern: Any, df: pl.DataFrame, cuts: list[int],
                               snapshot_at: int | None) -> MatchResult:
    expected = find_matches(pattern, df)
    got, pending = stream(pattern, df, cuts, snapshot_at)
    assert per_key(got) == per_key(expected.matches)
    assert pending_view(pending) == pending_view(expected.pending)
    return expected


@st.composite
def frames(draw: st.DrawFn, columns: dict[str, list[Any]], max_size: int = 24,
           max_s: int = 40) -> pl.DataFrame:
    """Random events: keys x/y/z, whole-second times (ties, any input order), ``columns``."""
    n = draw(st.integers(0, max_size))
    data: dict[str, Any] = {
        "id": list(range(1, n + 1)),
        "ts": [at(s) for s in draw(st.lists(st.integers(0, max_s), min_size=n, max_size=n))],
        "k": draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n)),
    }
    for name, values in columns.items():
        data[name] = draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
    df = pl.DataFrame(data, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    return df if draw(st.booleans()) else df.drop("id")


def compact(result: MatchResult) -> list[tuple[Any, ...]]:
    return [(*m.key.values(), m.event_ids, m.end) for m in result.matches]


# --- absence ---------------------------------------------------------------------------------


def absence(**fields: Any) -> Any:
    spec = {"kind": "absence", "name": "t", "trigger": "type = 'order'",
            "expected": "type = 'paid'", "timeout": "10s"}
    spec.update(fields)
    return parse_pattern(spec)


def test_docstring_examples() -> None:
    failed, _ = doctest.testmod(absence_module)
    assert failed == 0


def test_an_unanswered_trigger_fires_at_its_deadline() -> None:
    result = find_matches(absence(), events("type: order ping ping", "ts: 0 5 12"))
    [m] = result.matches
    assert (m.event_ids, m.classifiers, m.start, m.end) == ([1], ["trigger"], at(0), at(10))
    assert m.measures == {"timeout_s": 10.0}
    assert list(result.pending) == []


def test_the_window_is_open_at_the_trigger_and_closed_at_the_deadline() -> None:
    # paid exactly at the deadline (10 s) closes; paid at the trigger's own time does not.
    df = events("type: order paid order paid ping", "ts: 0 10 20 20 31")
    assert compact(find_matches(absence(), df)) == [([3], at(30))]


def test_an_expected_event_just_after_the_deadline_is_too_late() -> None:
    df = events("type: order paid", "ts: 0 10.000001")
    assert compact(find_matches(absence(), df)) == [([1], at(10))]


def test_one_expected_event_closes_every_open_wait_of_its_key() -> None:
    df = events("type: order order order paid ping", "ts: 0 3 6 9 40")
    assert find_matches(absence(), df).matches == []


def test_an_expected_event_before_the_trigger_does_not_count() -> None:
    df = events("type: paid order ping", "ts: 0 1 30")
    assert compact(find_matches(absence(), df)) == [([2], at(11))]


def test_an_event_that_is_both_closes_earlier_waits_and_opens_its_own() -> None:
    ticks = absence(trigger="type = 'tick'", expected="type = 'tick'")
    df = events("type: tick tick tick tick", "ts: 0 5 5 30")
    # 2 closes 1; 3 (same time as 2) does not close 2, and 2 does not close 3: both fire at 15.
    result = find_matches(ticks, df)
    assert compact(result) == [([2], at(15)), ([3], at(15))]
    assert [p.event_ids for p in result.pending] == [[4]]


def test_keys_and_correlated_fields_must_match() -> None:
    df = events("""
        ts k order type
        0  a 1     order
        1  a 2     order
        2  b 1     paid
        3  a 2     paid
        30 a 1     ping
    """)
    p = absence(partition_by=["k"], correlate_on=["order"])
    # order 2 on key a is paid; order 1 on key a is not (the payment of order 1 is on key b).
    assert compact(find_matches(p, df)) == [("a", [1], at(10))]


def test_null_correlation_values_correlate_with_each_other() -> None:
    df = pl.DataFrame({
        "id": [1, 2, 3, 4], "ts": [at(0), at(1), at(2), at(30)],
        "type": ["order", "order", "paid", "ping"], "ref": [None, "r", None, None],
    })
    assert compact(find_matches(absence(correlate_on=["ref"]), df)) == [([2], at(11))]


def test_deadlines_after_the_last_event_are_pending_never_matches() -> None:
    df = events("type: order ping order", "ts: 0 10 15", k=["a", "a", "b"])
    result = find_matches(absence(partition_by=["k"]), df)
    assert compact(result) == [("a", [1], at(10))]  # 10 s is not after the last event (15 s)
    [pending] = result.pending
    assert (pending.key, pending.event_ids, pending.reason) == ({"k": "b"}, [3], "pending")
    assert (pending.started, pending.ended, pending.step_reached) == (at(15), at(25), "trigger")


def test_the_deadline_uses_event_time_of_the_whole_stream() -> None:
    # Key a has no later event, but key b's event at 20 s passes a's deadline (10 s).
    df = events("type: order ping", "ts: 0 20", k=["a", "b"])
    assert compact(find_matches(absence(partition_by=["k"]), df)) == [("a", [1], at(10))]


def test_matches_are_ordered_by_deadline_then_trigger_within_a_key() -> None:
    df = events("type: order order order ping", "ts: 3 0 3 60", id=[7, 8, 9, 10])
    assert [m.event_ids for m in find_matches(absence(), df).matches] == [[8], [7], [9]]


def test_the_first_event_of_a_key_can_trigger() -> None:
    df = events("type: order", "ts: 0")
    result = find_matches(absence(), df)
    assert result.matches == []
    assert [p.event_ids for p in result.pending] == [[1]]


def test_without_an_id_column_ids_are_input_rows() -> None:
    df = events("type: ping order ping", "ts: 0 1 20").drop("id")
    assert [m.event_ids for m in find_matches(absence(), df).matches] == [[1]]


def test_stream_fires_when_the_watermark_passes_the_deadline() -> None:
    matcher = create_matcher(absence())
    assert matcher.feed(events("type: order", "ts: 0")) == []
    assert matcher.feed(events("type: ping", "ts: 10", id=[2])) == []  # 10 is not past 10
    [m] = matcher.feed(events("type: ping", "ts: 10.5", id=[3]))
    assert (m.event_ids, m.end) == ([1], at(10))
    assert matcher.flush() == []


def test_advance_watermark_fires_without_new_events() -> None:
    matcher = create_matcher(absence())
    matcher.feed(events("type: order", "ts: 0"))
    assert matcher.advance_watermark(at(10)) == []
    assert [m.event_ids for m in matcher.advance_watermark(at(11))] == [[1]]


def test_flush_with_now_fires_pending_deadlines() -> None:
    matcher = create_matcher(absence())
    matcher.feed(events("type: order order", "ts: 0 5"))
    got = matcher.flush(now=at(12))
    assert [m.event_ids for m in got] == [[1]]
    assert [p.event_ids for p in matcher.pending_matches] == [[2]]


def test_a_late_expected_event_is_reported_and_does_not_close_the_wait() -> None:
    matcher = create_matcher(absence(), allowed_lateness=timedelta(seconds=2))
    got = matcher.feed(events("type: order ping", "ts: 0 9"))
    got += matcher.feed(events("type: paid ping", "ts: 6 15", id=[3, 4]))  # 6 is behind 9 - 2
    assert matcher.late_events.get_column("id").to_list() == [3]
    assert [m.event_ids for m in got + matcher.flush()] == [[1]]


def test_an_expected_event_within_the_lateness_still_closes_the_wait() -> None:
    matcher = create_matcher(absence(), allowed_lateness=timedelta(seconds=5))
    matcher.feed(events("type: order ping", "ts: 0 9"))
    matcher.feed(events("type: paid ping", "ts: 6 15", id=[3, 4]))
    assert matcher.late_events.height == 0
    assert matcher.flush() == []


def test_missing_fields_are_named() -> None:
    with pytest.raises(EventDataError, match="correlate_on"):
        find_matches(absence(correlate_on=["order"]), events("type: order"))
    with pytest.raises(EventDataError, match="'kind'"):
        find_matches(absence(trigger="kind = 'x'"), events("type: order"))


def test_conditions_of_the_wrong_type_are_event_data_errors() -> None:
    with pytest.raises(EventDataError, match="same type"):
        find_matches(absence(trigger="type > 3"), events("type: order"))


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(PatternError):
        absence(timeout="-5s")
    with pytest.raises(PatternError):
        absence(trigger="type = ")


def test_empty_events_give_no_matches() -> None:
    result = find_matches(absence(), events("type: order").head(0))
    assert list(result.matches) == []
    assert list(result.pending) == []
    assert result.stats["events"] == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"type": ["order", "paid", "ping"], "ref": [1, 2, None]}), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(df: pl.DataFrame, data: Any) -> None:
    spec = data.draw(st.sampled_from([
        {},
        {"partition_by": ["k"]},
        {"partition_by": ["k"], "correlate_on": ["ref"], "timeout": "7s"},
        {"trigger": "type IN ('order', 'paid')", "expected": "type = 'paid'", "timeout": "5s"},
    ]))
    pattern = absence(**spec)
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    expected = [(m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches]
    assert python_matches(pattern, df) == expected
