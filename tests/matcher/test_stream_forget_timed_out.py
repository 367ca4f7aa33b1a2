"""``StreamMatcher.forget_timed_out`` drops recorded near misses and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from cep.matcher import create_matcher, find_matches
from cep.model import parse_pattern

T0 = datetime(2024, 1, 1, tzinfo=UTC)

PATTERNS = {
    "temporal_correlation": {"kind": "temporal_correlation", "name": "ab", "partition_by": ["k"],
                             "a": "type = 'a'", "b": "type = 'b'", "max_gap": "1m"},
    "sequence": {"kind": "sequence", "name": "ab", "partition_by": ["k"], "within": "1m",
                 "steps": [{"name": "a", "where": "type = 'a'"},
                           {"name": "b", "where": "type = 'b'"}]},
}


def events() -> pl.DataFrame:
    # a at 0 s expires unpartnered; a at 90 s and b at 100 s match; so do a 200 s, b 230 s.
    times = [0, 90, 100, 200, 230]
    return pl.DataFrame({"id": [1, 2, 3, 4, 5], "k": ["x"] * 5,
                         "ts": [T0 + timedelta(seconds=s) for s in times],
                         "type": ["a", "a", "b", "a", "b"]})


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_forgetting_near_misses_keeps_every_match(kind: str) -> None:
    pattern = parse_pattern(PATTERNS[kind])
    frame = events()
    expected = [(m.event_ids, m.classifiers) for m in find_matches(pattern, frame).matches]
    assert len(expected) == 2
    matcher = create_matcher(pattern)
    got, forgotten = [], 0
    for i in range(frame.height):
        got += matcher.feed(frame.slice(i, 1))
        forgotten += len(matcher.timed_out)
        matcher.forget_timed_out()
        assert matcher.timed_out == []
        matcher = type(matcher).restore(matcher.snapshot())
    got += matcher.flush()
    assert forgotten >= 1  # the first a expired, and was recorded before it was forgotten
    assert [(m.event_ids, m.classifiers) for m in got] == expected
