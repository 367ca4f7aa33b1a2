"""dedup: events equal on ``fields`` within a window after the last kept event."""

from __future__ import annotations

import doctest
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds import dedup as dedup_benchmark
from benchmarks.kinds.dedup import python_matches
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import dedup as dedup_module
from cep.model import parse_pattern
from cep.results import MatchResult
from tests.matcher.harness import at, events
from tests.matcher.test_count_threshold import assert_stream_equals_batch, frames, per_key


def dedup(**fields: Any) -> Any:
    spec = {"kind": "dedup", "name": "t", "fields": ["msg"], "window": "10s"}
    spec.update(fields)
    return parse_pattern(spec)


def pairs(result: MatchResult) -> list[list[Any]]:
    return [list(m.event_ids) for m in result.matches]


@pytest.mark.parametrize("module", [dedup_module, dedup_benchmark], ids=["matcher", "benchmark"])
def test_docstring_examples(module: Any) -> None:
    failed, _ = doctest.testmod(module)
    assert failed == 0


def test_a_duplicate_pairs_with_the_kept_event() -> None:
    result = find_matches(dedup(), events("msg: a b a", "ts: 0 1 4"))
    [m] = result.matches
    assert (m.event_ids, m.classifiers) == ([1, 3], ["kept", "duplicate"])
    assert (m.start, m.end) == (at(0), at(4))
    assert m.measures == {"gap_s": 4.0, "window_s": 10.0, "duplicate_number": 1}
    assert list(result.pending) == []
    assert result.stats["matches"] == 1


def test_an_event_exactly_one_window_after_the_kept_one_is_kept() -> None:
    assert pairs(find_matches(dedup(), events("msg: a a", "ts: 0 10"))) == []
    assert pairs(find_matches(dedup(), events("msg: a a", "ts: 0 9.999999"))) == [[1, 2]]


def test_duplicates_do_not_extend_the_window() -> None:
    # 9 s duplicates 0 s; 15 s is 15 s after the kept event: kept, and 16 s duplicates it.
    df = events("msg: a a a a", "ts: 0 9 15 16")
    result = find_matches(dedup(), df)
    assert pairs(result) == [[1, 2], [3, 4]]
    assert [m.measures["duplicate_number"] for m in result.matches] == [1, 1]


def test_duplicates_are_numbered_within_their_kept_event() -> None:
    result = find_matches(dedup(), events("msg: a a a b a", "ts: 0 1 2 3 4"))
    assert [(m.event_ids, m.measures["duplicate_number"]) for m in result.matches] == [
        ([1, 2], 1), ([1, 3], 2), ([1, 5], 3)
    ]


def test_equal_times_keep_the_first_in_input_order() -> None:
    df = events("msg: a a a", "ts: 5 5 5", id=["x", "y", "z"])
    assert pairs(find_matches(dedup(), df)) == [["x", "y"], ["x", "z"]]


def test_every_field_must_be_equal_and_null_equals_null() -> None:
    df = events("msg: a a a null null", "n: 1 2 1 null null", "ts: 0 1 2 3 4")
    assert pairs(find_matches(dedup(fields=["msg", "n"]), df)) == [[1, 3], [4, 5]]


def test_a_field_may_also_be_a_partition_column() -> None:
    df = events("k: a a b", "ts: 0 1 2")
    assert pairs(find_matches(dedup(partition_by=["k"], fields=["k"]), df)) == [[1, 2]]


def test_keys_are_deduplicated_apart_in_order_of_first_appearance() -> None:
    df = events("k: b a a b b", "msg: m m m m m", "ts: 0 1 2 3 4")
    result = find_matches(dedup(partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"k": "b"}, [1, 4]), ({"k": "b"}, [1, 5]), ({"k": "a"}, [2, 3])
    ]


def test_matches_of_a_key_are_in_time_order_of_the_duplicate() -> None:
    df = events("msg: b a b a", "ts: 0 1 3 2")
    assert pairs(find_matches(dedup(), df)) == [[2, 4], [1, 3]]


def test_without_an_id_column_ids_are_input_rows() -> None:
    df = events("msg: a a", "ts: 3 0").drop("id")
    [m] = find_matches(dedup(), df).matches
    assert (m.event_ids, m.start, m.end) == ([1, 0], at(0), at(3))


def test_the_stream_forgets_kept_events_whose_window_has_passed() -> None:
    matcher = create_matcher(dedup())
    matcher.feed(events("msg: a b c", "ts: 0 1 2"))
    got = matcher.feed(events("msg: a d", "ts: 8 11", id=[4, 5]))
    assert [m.event_ids for m in got] == [[1, 4]]
    # Watermark 11 s: a kept event can still have duplicates while its time is > 1 s.
    kept = matcher.engine.kept  # type: ignore[attr-defined]
    assert kept.get_column("msg").to_list() == ["c"]


def test_late_events_are_reported_and_not_deduplicated() -> None:
    matcher = create_matcher(dedup(), allowed_lateness=timedelta(seconds=5))
    got = matcher.feed(events("msg: a b", "ts: 0 10", id=[1, 2]))
    got += matcher.feed(events("msg: a", "ts: 6", id=[3]))  # within the lateness
    got += matcher.feed(events("msg: a", "ts: 1", id=[4]))  # behind the watermark (5 s)
    got += matcher.flush()
    assert [m.event_ids for m in got] == [[1, 3]]
    assert matcher.late_events.get_column("id").to_list() == [4]


def test_missing_fields_are_named() -> None:
    with pytest.raises(EventDataError, match=r"'msg'.*fields"):
        find_matches(dedup(), events("ts: 0 1"))
    with pytest.raises(EventDataError, match="'msg'"):
        create_matcher(dedup()).feed(events("ts: 0 1"))


def test_bad_patterns_are_refused() -> None:
    for bad in ({"fields": []}, {"fields": ["a", "a"]}, {"window": "-1s"}, {"window": 5}):
        with pytest.raises(PatternError):
            dedup(**bad)


def test_empty_events_give_no_matches() -> None:
    result = find_matches(dedup(), events("msg: a").head(0))
    assert list(result.matches) == []
    assert result.stats["events"] == 0


def test_hash_collisions_fall_back_to_exact_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    df = events("k: x y x y", "msg: a b b a", "ts: 0 1 2 3")
    pattern = dedup(partition_by=["k"], fields=["msg"])
    expected = per_key(find_matches(pattern, df).matches)
    assert expected == {}

    def collide(self: pl.DataFrame, seed: int = 0) -> pl.Series:
        return pl.Series([7] * self.height, dtype=pl.UInt64)

    monkeypatch.setattr(pl.DataFrame, "hash_rows", collide)
    assert per_key(find_matches(pattern, df).matches) == expected
    df = events("k: x y x y", "msg: a b a b", "ts: 0 1 2 3")
    result = find_matches(pattern, df)
    assert [(m.key, m.event_ids) for m in result.matches] == [
        ({"k": "x"}, [1, 3]), ({"k": "y"}, [2, 4])
    ]


SPECS = [
    {},
    {"partition_by": ["k"]},
    {"partition_by": ["k"], "fields": ["msg", "n"], "window": "3s"},
    {"fields": ["k"], "window": "500ms"},
    {"fields": ["n"], "window": "1m"},
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"msg": ["a", "b", None], "n": [1, 2, None]}), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(df: pl.DataFrame, data: Any) -> None:
    pattern = dedup(**data.draw(st.sampled_from(SPECS)))
    df = df.with_columns(pl.col("msg").cast(pl.String), pl.col("n").cast(pl.Int64))
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    assert python_matches(pattern, df) == [
        (m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches
    ]


@pytest.mark.parametrize("window", ["1m", "1d"], ids=["short", "longer-than-the-data"])
def test_generated_telemetry_agrees_with_python_and_the_stream(window: str) -> None:
    from benchmarks.kinds.dedup import generate_events

    df = generate_events(20_000, n_keys=50, seed=7)
    for pattern in (dedup(fields=["msg_id"], partition_by=["device"], window=window),
                    dedup(fields=["device", "msg_id"], window=window)):
        result = assert_stream_equals_batch(pattern, df, [5_000, 12_345], 1)
        assert len(result.matches) > 200
        assert python_matches(pattern, df) == [
            (m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches
        ]
