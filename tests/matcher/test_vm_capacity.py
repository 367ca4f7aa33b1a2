"""The VM's fixed-size buffers: overflowing one retries with more room, results unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from cep.matcher import find_matches
from cep.model import parse_pattern


def _rows(n: int) -> pl.DataFrame:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame({"id": range(n), "ts": [base + timedelta(seconds=i) for i in range(n)],
                         "x": [1] * n})


def test_a_greedy_run_longer_than_the_backtracking_stack_still_matches():
    # Every row can be A; the greedy A+ pushes one branch per row, far beyond the first stack.
    pattern = parse_pattern({"kind": "match_recognize", "name": "run", "pattern": "A+ B",
                             "define": {"A": "x = 1", "B": "x = 1"}})
    (match,) = find_matches(pattern, _rows(5000)).matches
    assert match.event_ids == list(range(5000))
    assert match.classifiers == ["A"] * 4999 + ["B"]


def test_overlapping_matches_longer_than_the_output_buffer_are_all_kept():
    # SKIP TO NEXT ROW: n matches of lengths n, n-1, ..., 2, 1 — about n²/2 labelled rows.
    pattern = parse_pattern({"kind": "match_recognize", "name": "tails", "pattern": "A+",
                             "after_match_skip": "TO NEXT ROW"})
    matches = find_matches(pattern, _rows(200)).matches
    assert [len(m.event_ids) for m in matches] == list(range(200, 0, -1))
    assert matches[-1].event_ids == [199]
