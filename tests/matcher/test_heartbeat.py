"""heartbeat: keys silent for longer than interval + grace (dead, and back alive)."""

from __future__ import annotations

import doctest
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds.heartbeat import python_matches
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import heartbeat as heartbeat_module
from cep.model import parse_pattern
from tests.matcher.harness import at, events
from tests.matcher.test_absence import assert_stream_equals_batch, frames


def heartbeat(**fields: Any) -> Any:
    spec = {"kind": "heartbeat", "name": "t", "partition_by": ["k"], "interval": "10s",
            "grace": "5s"}
    spec.update(fields)
    return parse_pattern(spec)


def compact(matches: Any) -> list[tuple[Any, ...]]:
    return [(m.key["k"], m.event_ids, " ".join(m.classifiers), m.end) for m in matches]


def test_docstring_examples() -> None:
    failed, _ = doctest.testmod(heartbeat_module)
    assert failed == 0


def test_a_silence_longer_than_interval_plus_grace_is_dead_once() -> None:
    df = events("k: a a a", "ts: 0 16 40")
    result = find_matches(heartbeat(), df)
    # 0 -> 16: dead at 15; 16 -> 40: dead at 31; 40: deadline 55 after the last event.
    assert compact(result.matches) == [("a", [1], "dead", at(15)), ("a", [2], "dead", at(31))]
    m = result.matches[0]
    assert (m.start, m.measures) == (at(0), {"interval_s": 10.0, "grace_s": 5.0,
                                             "silence_s": 15.0})


def test_a_silence_of_exactly_interval_plus_grace_is_allowed() -> None:
    df = events("k: a a b", "ts: 0 15 15")
    assert list(find_matches(heartbeat(), df).matches) == []


def test_one_microsecond_more_is_dead() -> None:
    df = events("k: a a", "ts: 0 15.000001")
    assert compact(find_matches(heartbeat(), df).matches) == [("a", [1], "dead", at(15))]


def test_without_grace_the_interval_alone_counts() -> None:
    df = events("k: a a", "ts: 0 10.5")
    got = find_matches(heartbeat(grace=None), df).matches
    assert compact(got) == [("a", [1], "dead", at(10))]
    assert got[0].measures["grace_s"] == 0.0


def test_the_deadline_passes_with_any_key_s_events() -> None:
    # a is never heard from again; b's event at 20 s is event time passing a's deadline (15 s).
    df = events("k: a b", "ts: 0 20")
    result = find_matches(heartbeat(), df)
    assert compact(result.matches) == [("a", [1], "dead", at(15))]
    assert [(p.key, p.event_ids, p.ended) for p in result.pending] == [({"k": "b"}, [2], at(35))]


def test_a_deadline_equal_to_the_last_event_time_fires_at_the_end() -> None:
    # No event of a in (0 s, 15 s] and the stream is over at 15 s: a is dead; b is pending.
    result = find_matches(heartbeat(), events("k: a b", "ts: 0 15"))
    assert compact(result.matches) == [("a", [1], "dead", at(15))]
    assert [p.key["k"] for p in result.pending] == ["b"]


def test_status_change_reports_the_return_but_not_the_first_event() -> None:
    df = events("k: a a a b", "ts: 0 5 30 31")
    got = find_matches(heartbeat(emit="status_change"), df).matches
    assert compact(got) == [("a", [2], "dead", at(20)), ("a", [3], "alive", at(30))]
    alive = got[1]
    assert (alive.start, alive.measures["silence_s"]) == (at(30), 25.0)


def test_equal_times_are_not_a_silence() -> None:
    df = events("k: a a a", "ts: 0 0 15")
    assert list(find_matches(heartbeat(), df).matches) == []


def test_without_partition_the_whole_stream_is_one_entity() -> None:
    df = events("k: a b", "ts: 0 20")
    got = find_matches(heartbeat(partition_by=[]), df).matches
    assert [(m.key, m.event_ids) for m in got] == [({}, [1])]


def test_pending_deadlines_are_one_per_live_key() -> None:
    result = find_matches(heartbeat(), events("k: a b a", "ts: 0 3 4"))
    assert list(result.matches) == []
    view = [(p.key["k"], p.event_ids, p.started, p.ended, p.step_reached, p.reason)
            for p in result.pending]
    assert view == [("a", [3], at(4), at(19), "dead", "pending"),
                    ("b", [2], at(3), at(18), "dead", "pending")]


def test_stream_declares_dead_when_the_watermark_passes_then_alive_on_return() -> None:
    matcher = create_matcher(heartbeat(emit="status_change"))
    assert matcher.feed(events("k: a b", "ts: 0 1")) == []
    assert matcher.feed(events("k: b", "ts: 15", id=[3])) == []  # a's deadline is 15: not past
    got = matcher.feed(events("k: b", "ts: 15.5", id=[4]))
    assert compact(got) == [("a", [1], "dead", at(15))]
    got = matcher.feed(events("k: a b", "ts: 20 21", id=[5, 6]))
    assert compact(got) == [("a", [5], "alive", at(20))]  # no second dead for the same silence
    assert compact(matcher.flush()) == []


def test_advance_watermark_and_flush_now() -> None:
    matcher = create_matcher(heartbeat())
    matcher.feed(events("k: a b", "ts: 0 10"))
    assert compact(matcher.advance_watermark(at(16))) == [("a", [1], "dead", at(15))]
    assert compact(matcher.flush(now=at(25))) == [("b", [2], "dead", at(25))]
    assert matcher.pending_matches == []


def test_a_late_event_does_not_revive_a_key() -> None:
    matcher = create_matcher(heartbeat(), allowed_lateness=timedelta(seconds=1))
    got = matcher.feed(events("k: a b", "ts: 0 30"))
    got += matcher.feed(events("k: a", "ts: 12", id=[3]))  # behind the watermark (29 s)
    assert matcher.late_events.get_column("id").to_list() == [3]
    assert compact(got + matcher.flush()) == [("a", [1], "dead", at(15))]


def test_string_ids_and_naive_times_are_kept() -> None:
    df = events("k: a a", "ts: 0 20").with_columns(
        pl.col("ts").dt.replace_time_zone(None), pl.Series("id", ["x", "y"])
    )
    [m] = find_matches(heartbeat(), df).matches
    assert (m.event_ids, m.end) == (["x"], at(15).replace(tzinfo=None))
    assert m.end is not None
    assert m.end.tzinfo is None


def test_no_events_no_matches() -> None:
    result = find_matches(heartbeat(), events("k: a").head(0))
    assert list(result.matches) == []
    assert list(result.pending) == []
    assert create_matcher(heartbeat()).flush() == []


def test_missing_key_column_is_an_event_data_error() -> None:
    with pytest.raises(EventDataError, match="'k'"):
        find_matches(heartbeat(), events("x: 1"))


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(PatternError):
        heartbeat(interval="0s")
    with pytest.raises(PatternError):
        heartbeat(emit="sometimes")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({}), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(df: pl.DataFrame, data: Any) -> None:
    spec = data.draw(st.sampled_from([
        {}, {"emit": "status_change"}, {"grace": None, "interval": "3s"},
        {"partition_by": [], "interval": "2s", "grace": "1s", "emit": "status_change"},
    ]))
    pattern = heartbeat(**spec)
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    expected = [(m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches]
    assert python_matches(pattern, df) == expected
