"""count_threshold: at least N qualifying events per key in a sliding or tumbling window.

Also holds the small stream-vs-batch harness that the velocity and dedup tests reuse: feed a
frame in random micro-batches (with a JSON snapshot/restore in between) and compare, per key,
with the batch run, including the pending list.
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

from benchmarks.kinds import count_threshold as count_threshold_benchmark
from benchmarks.kinds.count_threshold import python_matches
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import _windows
from cep.matcher.detectors import count_threshold as count_module
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match, MatchResult, PartialMatch
from tests.matcher.harness import at, events

# --- the stream/batch harness (reused by test_velocity and test_dedup) --------------------------


def per_key(matches: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Matches grouped by key, each as (event_ids, classifiers, start, end, measures)."""
    grouped: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for m in matches:
        grouped[json.dumps(m.key, sort_keys=True, default=str)].append(
            (list(m.event_ids), list(m.classifiers), m.start, m.end, m.measures)
        )
    return dict(grouped)


def pending_view(pending: Any) -> list[str]:
    return [json.dumps(p.to_json_dict(), sort_keys=True) for p in pending]


def disorder(df: pl.DataFrame) -> timedelta:
    """The largest lateness of an event behind the latest time before it (input order)."""
    worst, highest = 0, None
    for t in df.get_column("ts").dt.epoch("us").to_list():
        highest = t if highest is None else max(highest, t)
        worst = max(worst, highest - t)
    return timedelta(microseconds=worst)


def stream(pattern: Any, df: pl.DataFrame, cuts: list[int], snapshot_at: int | None = None,
           ) -> tuple[list[Match], list[PartialMatch]]:
    """Feed ``df`` cut at ``cuts`` (restoring from JSON before batch ``snapshot_at``); flush."""
    matcher = create_matcher(pattern, allowed_lateness=disorder(df))
    emitted: list[Match] = []
    bounds = [0, *sorted(set(cuts)), df.height]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        emitted += matcher.feed(df.slice(a, b - a))
    emitted += matcher.flush()
    assert matcher.late_events.height == 0
    return emitted, list(matcher.engine.pending)  # type: ignore[attr-defined]


def assert_stream_equals_batch(pattern: Any, df: pl.DataFrame, cuts: list[int],
                               snapshot_at: int | None) -> MatchResult:
    expected = find_matches(pattern, df)
    got, pending = stream(pattern, df, cuts, snapshot_at)
    assert per_key(got) == per_key(expected.matches)
    assert pending_view(pending) == pending_view(expected.pending)
    return expected


@st.composite
def frames(draw: st.DrawFn, columns: dict[str, Any], max_size: int = 30,
           max_s: float = 40) -> pl.DataFrame:
    """Random events: keys x/y/z, times on a half-second grid (ties, any input order), and
    ``columns`` (name → list of values to sample, or a strategy)."""
    n = draw(st.integers(0, max_size))
    halves = draw(st.lists(st.integers(0, int(2 * max_s)), min_size=n, max_size=n))
    data: dict[str, Any] = {
        "id": list(range(1, n + 1)),
        "ts": [at(h / 2) for h in halves],
        "k": draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n)),
    }
    for name, values in columns.items():
        element = values if isinstance(values, st.SearchStrategy) else st.sampled_from(values)
        data[name] = draw(st.lists(element, min_size=n, max_size=n))
    df = pl.DataFrame(data, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    return df if draw(st.booleans()) else df.drop("id")


# --- count_threshold ---------------------------------------------------------------------------


def counting(**fields: Any) -> Any:
    spec = {"kind": "count_threshold", "name": "t", "threshold": 3, "window": "10s"}
    spec.update(fields)
    return parse_pattern(spec)


def ids(result: MatchResult) -> list[list[Any]]:
    return [list(m.event_ids) for m in result.matches]


@pytest.mark.parametrize("module", [count_module, count_threshold_benchmark], ids=["matcher", "benchmark"])
def test_docstring_examples(module: Any) -> None:
    failed, _ = doctest.testmod(module)
    assert failed == 0


def test_the_match_holds_the_window_when_the_count_first_reaches_n() -> None:
    result = find_matches(counting(), events("ts: 0 4 8 9"))
    [m] = result.matches
    assert (m.event_ids, m.classifiers) == ([1, 2, 3], ["event"] * 3)
    assert (m.start, m.end) == (at(0), at(8))
    assert m.measures == {"count": 3, "threshold": 3, "window_s": 10.0}
    assert list(result.pending) == []
    assert result.stats["matches"] == 1
    assert result.stats["path"] == "sliding"


def test_an_event_exactly_one_window_earlier_is_out_of_the_window() -> None:
    # (t - 10 s, t]: at 10 s the event of 0 s no longer counts; at 9.999999 s it still does.
    assert ids(find_matches(counting(threshold=2), events("ts: 0 10"))) == []
    assert ids(find_matches(counting(threshold=2), events("ts: 0 9.999999"))) == [[1, 2]]


def test_one_match_per_episode_while_the_count_stays_at_n_or_more() -> None:
    # The count is 3, 4, 3, 3 at 2, 5, 11, 12 s: it never drops below 3 (at 11.5 s the
    # window (1.5 s, 11.5 s] holds 2, 5, 11).
    assert ids(find_matches(counting(), events("ts: 0 1 2 5 11 12"))) == [[1, 2, 3]]


def test_the_episode_ends_when_time_alone_drops_the_count_below_n() -> None:
    # After 0 1 2, the count falls to 2 at 11 s (the event of 1 s leaves) with no event; at
    # 11.5 s the count is 3 again: a new episode, even though the previous qualifying event
    # (10 s) saw a count of 3.
    df = events("ts: 0 1 2 10 11.5")
    assert ids(find_matches(counting(), df)) == [[1, 2, 3], [3, 4, 5]]


def test_events_leaving_and_arriving_at_the_same_instant_keep_the_episode() -> None:
    # At 10 s the two events of 0 s leave as two events arrive: the count is 2 at every instant.
    assert ids(find_matches(counting(threshold=2), events("ts: 0 0 10 10"))) == [[1, 2]]


def test_equal_times_are_counted_together_and_the_count_can_pass_n() -> None:
    [m] = find_matches(counting(), events("ts: 1 5 5 5 6")).matches
    assert (m.event_ids, m.measures["count"], m.end) == ([1, 2, 3, 4], 4, at(5))


def test_a_threshold_of_one_matches_the_first_event_of_each_key_and_episode() -> None:
    df = events("k: a a b a", "ts: 0 5 6 30")
    result = find_matches(counting(threshold=1, partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"k": "a"}, [1]), ({"k": "a"}, [4]), ({"k": "b"}, [3])
    ]


def test_only_qualifying_events_count_and_null_is_false() -> None:
    df = events("type: fail ok fail null fail", "ts: 0 1 2 3 4")
    result = find_matches(counting(where="type = 'fail'"), df)
    assert ids(result) == [[1, 3, 5]]


def test_keys_are_counted_apart_and_reported_in_order_of_first_appearance() -> None:
    df = events("k: b a b a b a", "ts: 0 1 2 3 4 5")
    result = find_matches(counting(partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"k": "b"}, [1, 3, 5]), ({"k": "a"}, [2, 4, 6])
    ]


def test_input_order_does_not_matter_except_between_equal_times() -> None:
    df = events("ts: 8 0 4 4", id=["d", "a", "b", "c"])
    assert ids(find_matches(counting(), df)) == [["a", "b", "c"]]


def test_without_an_id_column_ids_are_input_rows_and_id_field_is_used() -> None:
    df = events("ts: 0 1 2", "ref: 7 8 9").drop("id")
    assert ids(find_matches(counting(), df)) == [[0, 1, 2]]
    assert ids(find_matches(counting(id_field="ref"), df)) == [[7, 8, 9]]


def test_the_stream_emits_a_sliding_match_once_its_last_event_is_final() -> None:
    matcher = create_matcher(counting())
    assert matcher.feed(events("ts: 0 1 2")) == []  # 2 s is not final yet
    assert [m.event_ids for m in matcher.feed(events("ts: 3", id=[4]))] == [[1, 2, 3]]
    assert matcher.flush() == []


def test_late_events_are_reported_and_not_counted() -> None:
    matcher = create_matcher(counting(window="20s"), allowed_lateness=timedelta(seconds=5))
    got = matcher.feed(events("ts: 0 10", id=[1, 2]))
    got += matcher.feed(events("ts: 6", id=[3]))  # within the lateness: counted
    got += matcher.feed(events("ts: 2", id=[4]))  # behind the watermark (5 s): late
    got += matcher.flush()
    assert [m.event_ids for m in got] == [[1, 3, 2]]  # counted, 4 would have matched at 6 s
    assert matcher.late_events.get_column("id").to_list() == [4]


# --- tumbling ----------------------------------------------------------------------------------


def tumbling(**fields: Any) -> Any:
    return counting(window_type="tumbling", threshold=2, **fields)


def test_tumbling_windows_are_aligned_to_the_epoch() -> None:
    # [0 s, 10 s), [10 s, 20 s) ... of 2024-01-01 (an exact multiple of 10 s since 1970).
    result = find_matches(tumbling(), events("ts: 9.5 10 15 25"))
    [m] = result.matches
    assert m.event_ids == [2, 3]
    assert m.measures == {"count": 2, "threshold": 2, "window_s": 10.0,
                          "window_start": at(10), "window_end": at(20)}
    assert (m.start, m.end) == (at(10), at(15))
    assert result.stats["path"] == "tumbling"


def test_a_window_of_7s_is_aligned_to_the_epoch_not_to_the_first_event() -> None:
    # 2024-01-01T00:00:00Z is 1704067200 s = 3 (mod 7): windows start at 4 s, 11 s, 18 s ...
    # (aligned to the first event, [3 s, 10 s) would hold 3 and 4).
    result = find_matches(tumbling(window="7s"), events("ts: 3 4 10 11 20"))
    assert ids(result) == [[2, 3]]
    assert result.matches[0].measures["window_start"] == at(4)


def test_a_window_ending_at_the_last_event_time_closes() -> None:
    result = find_matches(tumbling(), events("ts: 1 5 10"))
    assert ids(result) == [[1, 2]]
    assert list(result.pending) == []


def test_a_window_ending_after_the_last_event_is_pending_not_a_match() -> None:
    result = find_matches(tumbling(), events("ts: 1 5 9"))
    assert ids(result) == []
    [p] = result.pending
    assert (p.event_ids, p.reason, p.started, p.ended) == ([1, 2, 3], "pending", at(1), at(10))


def test_the_last_event_time_is_that_of_the_whole_stream() -> None:
    # Key b's window [0, 10) closes because key a has an event at 12 s, and so does a window
    # whose events are not qualifying.
    df = events("k: b b a", "type: x x y", "ts: 1 2 12")
    result = find_matches(tumbling(partition_by=["k"], where="type = 'x'"), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [({"k": "b"}, [1, 2])]


def test_the_stream_fires_a_window_once_the_watermark_passes_its_end() -> None:
    matcher = create_matcher(tumbling())
    assert matcher.feed(events("ts: 1 5 10")) == []  # watermark 10 s: not past the end yet
    assert [m.event_ids for m in matcher.feed(events("ts: 10.5", id=[4]))] == [[1, 2]]
    assert [p.ended for p in matcher.engine.pending] == []  # type: ignore[attr-defined]


def test_advance_watermark_and_flush_with_now_fire_windows() -> None:
    matcher = create_matcher(tumbling())
    assert matcher.feed(events("ts: 11 12 13")) == []
    assert [m.event_ids for m in matcher.advance_watermark(at(20.5))] == [[1, 2, 3]]

    matcher = create_matcher(tumbling())
    matcher.feed(events("ts: 21 22"))
    assert matcher.flush(now=at(29)) == []
    assert [p.ended for p in matcher.engine.pending] == [at(30)]  # type: ignore[attr-defined]

    matcher = create_matcher(tumbling())
    matcher.feed(events("ts: 21 22"))
    assert [m.event_ids for m in matcher.flush(now=at(30))] == [[1, 2]]


def test_a_tumbling_window_ignores_late_events() -> None:
    matcher = create_matcher(tumbling(), allowed_lateness=timedelta(seconds=3))
    matcher.feed(events("ts: 1 14", id=[1, 2]))
    matcher.feed(events("ts: 9", id=[3]))  # watermark 11 s: late
    assert matcher.flush(now=at(20)) == []
    assert matcher.late_events.get_column("id").to_list() == [3]


# --- errors ------------------------------------------------------------------------------------


def test_missing_fields_are_named() -> None:
    with pytest.raises(EventDataError, match=r"'type'.*where"):
        find_matches(counting(where="type = 'x'"), events("ts: 0 1"))
    with pytest.raises(EventDataError, match=r"'user'.*partition_by"):
        find_matches(counting(partition_by=["user"]), events("ts: 0 1"))
    with pytest.raises(EventDataError, match="'ref'"):
        find_matches(counting(id_field="ref"), events("ts: 0 1"))
    with pytest.raises(EventDataError, match="'type'"):
        create_matcher(counting(where="type = 'x'")).feed(events("ts: 0 1"))


def test_conditions_of_the_wrong_type_are_event_data_errors() -> None:
    with pytest.raises(EventDataError, match="where condition"):
        find_matches(counting(where="amount > 5"), events("amount: a b"))


def test_event_times_must_be_timestamps() -> None:
    with pytest.raises(EventDataError, match="not a timestamp"):
        find_matches(counting(), pl.DataFrame({"ts": [1, 2]}))


def test_bad_patterns_are_refused() -> None:
    for bad in ({"threshold": 0}, {"window": "-5s"}, {"window_type": "hopping"},
                {"where": "x >"}, {"extra": 1}):
        with pytest.raises(PatternError):
            counting(**bad)


def test_empty_events_give_no_matches() -> None:
    for pattern in (counting(), tumbling()):
        result = find_matches(pattern, events("ts: 0").head(0))
        assert list(result.matches) == []
        assert list(result.pending) == []
        assert result.stats["events"] == 0


def test_hash_collisions_fall_back_to_exact_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    df = events("k: a b a b a b", "ts: 0 1 2 3 4 5")
    expected = per_key(find_matches(counting(partition_by=["k"]), df).matches)

    def collide(self: pl.DataFrame, seed: int = 0) -> pl.Series:
        return pl.Series([7] * self.height, dtype=pl.UInt64)

    monkeypatch.setattr(pl.DataFrame, "hash_rows", collide)
    codes, first = _windows.group_codes(df, ["k"])
    assert codes.tolist() == [0, 1, 0, 1, 0, 1]
    assert first.tolist() == [0, 1]
    assert per_key(find_matches(counting(partition_by=["k"]), df).matches) == expected


# --- properties --------------------------------------------------------------------------------


SPECS = [
    {},
    {"partition_by": ["k"], "threshold": 2},
    {"partition_by": ["k"], "where": "type = 'f'", "window": "5s"},
    {"threshold": 1, "window": "3s"},
    {"window_type": "tumbling", "threshold": 2},
    {"window_type": "tumbling", "partition_by": ["k"], "where": "type = 'f'", "window": "7s"},
    {"window_type": "tumbling", "threshold": 1, "window": "500ms"},
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"type": ["f", "g", None]}), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(df: pl.DataFrame, data: Any) -> None:
    pattern = counting(**data.draw(st.sampled_from(SPECS)))
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    matches, pending = python_matches(pattern, df)
    assert matches == [(m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches]
    assert pending == [(p.key, list(p.event_ids), list(p.classifiers)) for p in result.pending]


def test_generated_logins_agree_with_python_and_the_stream() -> None:
    from benchmarks.kinds.count_threshold import PATTERNS, generate_events

    df = generate_events(20_000, n_keys=50, seed=7)
    for spec in PATTERNS.values():
        pattern = parse_pattern(spec)
        result = assert_stream_equals_batch(pattern, df, [5_000, 12_345], 1)
        assert len(result.matches) > 20
        matches, pending = python_matches(pattern, df)
        assert matches == [(m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches]
        assert pending == [(p.key, list(p.event_ids), list(p.classifiers)) for p in result.pending]
