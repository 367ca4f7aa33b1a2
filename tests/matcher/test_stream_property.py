"""Incremental matching equals batch matching, for any split of the stream into micro-batches.

The stream is fed in input order, split at random points, with the allowed lateness set to the
input's largest disorder (so no event is late); half the runs also take a snapshot at a random
point, round-trip it through JSON and continue from the restored matcher. Matches are compared
per key (the stream emits keys interleaved; within a key the order must be the same).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.errors import MatchRuntimeError
from cep.matcher import create_matcher, find_matches
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match
from tests.matcher.harness import make_pattern
from tests.matcher.test_mr_property import _same, cases
from tests.matcher.test_seq_property import cases as sequence_cases


def _per_key(matches: list[Match]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in matches:
        grouped[json.dumps(m.key, sort_keys=True, default=str)].append({
            "event_ids": list(m.event_ids), "classifiers": list(m.classifiers), "start": m.start,
            "end": m.end, "match_number": m.match_number, "empty_at": m.empty_at,
            "measures": m.measures, "row_measures": m.row_measures,
        })
    return dict(grouped)


def _disorder(df: pl.DataFrame) -> timedelta:
    ts = df.get_column("ts").dt.epoch("us").to_list()
    worst, highest = 0, None
    for t in ts:
        highest = t if highest is None else max(highest, t)
        worst = max(worst, highest - t)
    return timedelta(microseconds=worst)


def _timed_out(partials: Any) -> list[str]:
    return sorted(json.dumps(p.to_json_dict(), sort_keys=True) for p in partials)


def _batch(pattern: Any, df: pl.DataFrame) -> tuple[str, Any]:
    try:
        result = find_matches(pattern, df)
        unmatched = sorted(map(str, result.unmatched_event_ids or []))
        return "ok", (_per_key(list(result.matches)), unmatched, _timed_out(result.timed_out))
    except MatchRuntimeError as error:
        return "error", "first row" in str(error)


def _stream(pattern: Any, df: pl.DataFrame, cuts: list[int], snapshot_at: int | None) -> tuple[str, Any]:
    matcher = create_matcher(pattern, allowed_lateness=_disorder(df))
    emitted: list[Match] = []
    bounds = [0, *sorted(set(cuts)), df.height]
    try:
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            if i == snapshot_at:
                matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
            emitted += matcher.feed(df.slice(a, b - a))
        emitted += matcher.flush()
    except MatchRuntimeError as error:
        return "error", "first row" in str(error)
    assert matcher.late_events.height == 0
    unmatched = getattr(matcher.engine, "unmatched", [])
    return "ok", (_per_key(emitted), sorted(map(str, unmatched)), _timed_out(matcher.timed_out))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(case, data):
    spec, df = case
    pattern = make_pattern(spec)
    cuts = data.draw(st.lists(st.integers(0, max(df.height, 0)), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    expected = _batch(pattern, df)
    got = _stream(pattern, df, cuts, snapshot_at)
    assert got[0] == expected[0]
    assert _same(got[1], expected[1]) if got[0] == "ok" else got == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=sequence_cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches_for_sequences(case, data):
    spec, df = case
    pattern = parse_pattern(spec)
    cuts = data.draw(st.lists(st.integers(0, max(df.height, 0)), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    expected = _batch(pattern, df)
    got = _stream(pattern, df, cuts, snapshot_at)
    assert got[0] == expected[0]
    assert _same(got[1], expected[1]) if got[0] == "ok" else got == expected


def _events(seconds: list[int], values: list[int]) -> pl.DataFrame:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame({
        "id": list(range(1, len(seconds) + 1)),
        "ts": [base + timedelta(seconds=s) for s in seconds],
        "x": values,
    })


def test_matches_are_emitted_as_soon_as_they_are_certain():
    pattern = parse_pattern({"kind": "match_recognize", "name": "rise", "pattern": "A B+",
                             "define": {"B": "x > PREV(x)"}})
    matcher = create_matcher(pattern)
    # 1 2 3: the greedy B+ could still grow, so nothing is certain yet.
    assert matcher.feed(_events([0, 1, 2], [1, 2, 3])) == []
    # 1 ends the rise: A B B (ids 1 2 3) is decided once the 1 is final (a later event arrives).
    assert matcher.feed(_events([3], [1])) == []
    got = matcher.feed(_events([4], [0]).with_columns(pl.lit(5).alias("id")))
    assert [(m.event_ids, m.classifiers) for m in got] == [([1, 2, 3], ["A", "B", "B"])]
    assert matcher.flush() == []


def test_within_decides_when_the_watermark_passes_the_window():
    pattern = parse_pattern({"kind": "match_recognize", "name": "pair", "pattern": "A B*",
                             "define": {"A": "x = 1", "B": "x = 2"}, "within": "10s"})
    matcher = create_matcher(pattern)
    assert matcher.feed(_events([0, 1], [1, 2])) == []
    got = matcher.advance_watermark(datetime(2024, 1, 1, 0, 0, 11, tzinfo=UTC))
    assert [m.event_ids for m in got] == [[1, 2]]


def test_late_events_are_reported_not_dropped_silently():
    pattern = parse_pattern({"kind": "match_recognize", "name": "any", "pattern": "A"})
    matcher = create_matcher(pattern, allowed_lateness=timedelta(seconds=2))
    matcher.feed(_events([10, 11], [1, 1]))
    matcher.feed(_events([9, 5], [1, 1]).with_columns(pl.Series("id", [3, 4])))
    assert matcher.late_events.get_column("id").to_list() == [4]
    assert matcher.stats["late_events"] == 1
    ids = [m.event_ids[0] for m in matcher.flush()]
    assert ids == [3, 1, 2]


def test_a_flushed_matcher_refuses_more_events():
    pattern = parse_pattern({"kind": "match_recognize", "name": "any", "pattern": "A"})
    matcher = create_matcher(pattern)
    matcher.flush()
    with pytest.raises(Exception, match="flushed"):
        matcher.feed(_events([0], [1]))
