"""Benchmarks (d)–(g) of issue 3: the hand loops and the stream agree with ``find_matches``.

Each hand loop in ``benchmarks.sequence_cases`` encodes SEMANTICS.md §2 (Flink CEP) for one
pattern by hand; on generated data (several seeds, sparse and dense arrivals, ties in time) its
match list must equal the matcher's, and on small hand-made streams both must give the match
list worked out in the comments. No wall time is asserted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks import sequence_cases as S
from benchmarks.data import generate_events, write_events
from benchmarks.handwritten import MatchList, as_match_list
from cep.matcher import find_matches
from cep.model import parse_pattern

HAND_CASES = ("d", "e", "f")
DATASETS = {
    # name: (events, keys, seed, events per second overall)
    "20keys-seed1": (5_000, 20, 1, 20.0),
    "20keys-seed2": (5_000, 20, 2, 20.0),
    "20keys-seed3": (5_000, 20, 3, 20.0),
    "20keys-seed4": (5_000, 20, 4, 20.0),
    "sparse-windows-expire-often": (4_000, 20, 5, 0.2),
    "dense-windows-never-expire": (4_000, 20, 6, 1_000.0),
    "few-long-partitions": (6_000, 3, 7, 20.0),
}


def matcher_list(case: str, events: pl.DataFrame) -> MatchList:
    return as_match_list(find_matches(parse_pattern(S.CASES[case]["pattern"]), events).matches)


def frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Events from ``(key, seconds, type, price)`` rows; ids 1..n."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "id": list(range(1, len(rows) + 1)),
            "key": [r[0] for r in rows],
            "ts": [base + timedelta(seconds=r[1]) for r in rows],
            "type": [r[2] for r in rows],
            "price": [float(r[3]) for r in rows],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )


def by_key(matches: MatchList) -> dict[Any, MatchList]:
    return S.per_key(matches)


@pytest.mark.parametrize("case", HAND_CASES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_hand_loop_gives_the_matchers_match_list(case: str, dataset: str) -> None:
    n, keys, seed, rate = DATASETS[dataset]
    events = generate_events(n, n_keys=keys, seed=seed, events_per_s=rate)
    ours = matcher_list(case, events)
    assert ours, "the data should give matches"
    assert S.CASES[case]["hand"](events) == ours


@pytest.mark.parametrize("case", HAND_CASES)
@pytest.mark.parametrize("truncate", ["30s", "1m", "5m"])
def test_hand_loop_agrees_when_times_tie(case: str, truncate: str) -> None:
    # Many equal timestamps: they keep their input order, and a window of exactly 5 or 10
    # minutes between truncated times is common, so the exclusive bound is exercised.
    events = generate_events(4_000, n_keys=10, seed=11, events_per_s=2.0)
    events = events.with_columns(pl.col("ts").dt.truncate(truncate))
    assert S.CASES[case]["hand"](events) == matcher_list(case, events)


@pytest.mark.parametrize("batch", [S.STREAM_BATCH, 997, 64])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stream_gives_the_batch_matches_of_d_per_key(batch: int, seed: int) -> None:
    events = generate_events(5_000, n_keys=20, seed=seed)
    pattern = parse_pattern(S.PATTERN_D)
    streamed = as_match_list(S.stream_matches(pattern, events, batch=batch))
    batch_list = matcher_list("d", events)
    assert len(streamed) == len(batch_list) > 0
    assert by_key(streamed) == by_key(batch_list)


def test_d_takes_the_earliest_a_in_the_window_and_prunes_the_others() -> None:
    events = frame(
        [
            ("x", 0, "A", 1),  # 1: expired when the B at 320 s comes (320 - 0 >= 300)
            ("x", 100, "A", 1),  # 2: the earliest run still open: matches
            ("x", 200, "A", 1),  # 3: pruned (started before the match's B)
            ("x", 320, "B", 1),  # 4
            ("x", 330, "B", 1),  # 5: no open run
            ("x", 400, "A", 1),  # 6
            ("x", 700, "B", 1),  # 7: exactly 5 minutes after 6: too late (exclusive bound)
            ("y", 0, "A", 1),  # 8
            ("y", 299.999999, "B", 1),  # 9: just inside
        ]
    )
    expected = [("x", [2, 4], ["A", "B"]), ("y", [8, 9], ["A", "B"])]
    assert matcher_list("d", events) == expected
    assert S.a_then_b_past_last_loop(events) == expected


def test_e_holds_a_match_back_until_the_earlier_run_completes() -> None:
    # Runs: r1 = A1 A2 A3 (last price 30), r2 = A2 A3 A5 (last price 10), r3 = A3 A5 A7 (20).
    # B(15) at 5 completes r2 only (15 > 10, not > 30): held back, r1 started earlier.
    # B(35) at 9 completes r1 (35 > 30) and r3 (35 > 20); r1 is emitted first and prunes every
    # run and completed match that started at or before the B(35): r2's held match and r3.
    events = frame(
        [
            ("x", 0, "A", 10),  # 1
            ("x", 10, "A", 20),  # 2
            ("x", 20, "A", 30),  # 3
            ("x", 30, "D", 0),  # 4
            ("x", 40, "A", 10),  # 5
            ("x", 50, "B", 15),  # 6
            ("x", 60, "A", 20),  # 7
            ("x", 70, "E", 0),  # 8
            ("x", 80, "B", 35),  # 9
        ]
    )
    expected = [("x", [1, 2, 3, 9], ["A", "A", "A", "B"])]
    assert matcher_list("e", events) == expected
    assert S.three_a_then_higher_b_loop(events) == expected


def test_e_releases_a_held_match_when_the_earlier_run_expires() -> None:
    # r1 = A1 A2 A3 waits for B > 30; r2 = A2 A3 A4 completes on B(15) but is held behind r1.
    # The next event of the key, at 10 minutes (600 s - 0 >= 600 s), expires r1 first: r2's
    # match is emitted, and prunes the runs that started at or before its B.
    events = frame(
        [
            ("x", 0, "A", 10),  # 1
            ("x", 60, "A", 20),  # 2
            ("x", 120, "A", 30),  # 3
            ("x", 180, "A", 10),  # 4
            ("x", 240, "B", 15),  # 5
            ("x", 600, "C", 0),  # 6
        ]
    )
    expected = [("x", [2, 3, 4, 5], ["A", "A", "A", "B"])]
    assert matcher_list("e", events) == expected
    assert S.three_a_then_higher_b_loop(events) == expected
    # Without the event at 600 s the earlier run is still open at the end: nothing emitted.
    assert matcher_list("e", events.head(5)) == []
    assert S.three_a_then_higher_b_loop(events.head(5)) == []


def test_e_end_of_stream_time_is_the_latest_event_of_any_key() -> None:
    # As above, but the time that expires r1 comes from key y: the batch run ends with time
    # at the latest event of the stream, which releases x's held match.
    rows = [
        ("x", 0, "A", 10),
        ("x", 60, "A", 20),
        ("x", 120, "A", 30),
        ("x", 180, "A", 10),
        ("x", 240, "B", 15),
    ]
    expected = [("x", [2, 3, 4, 5], ["A", "A", "A", "B"])]
    events = frame([*rows, ("y", 600, "D", 0)])
    assert matcher_list("e", events) == expected
    assert S.three_a_then_higher_b_loop(events) == expected
    events = frame([*rows, ("y", 599, "D", 0)])  # r1 still inside its window at the end
    assert matcher_list("e", events) == []
    assert S.three_a_then_higher_b_loop(events) == []


def test_f_c_kills_the_waiting_runs_and_no_skip_emits_every_completion() -> None:
    events = frame(
        [
            ("x", 0, "A", 1),  # 1: killed by the C
            ("x", 10, "C", 1),  # 2
            ("x", 20, "A", 1),  # 3: expired at the B (320 - 20 >= 300)
            ("x", 100, "A", 1),  # 4
            ("x", 200, "A", 1),  # 5
            ("x", 320, "B", 1),  # 6: completes 4 and 5, earliest start first
            ("x", 330, "B", 1),  # 7: no open run (followedBy took the first B)
            ("x", 340, "A", 1),  # 8
            ("x", 350, "D", 1),  # 9
            ("x", 360, "B", 1),  # 10
        ]
    )
    expected = [
        ("x", [4, 6], ["A", "B"]),
        ("x", [5, 6], ["A", "B"]),
        ("x", [8, 10], ["A", "B"]),
    ]
    assert matcher_list("f", events) == expected
    assert S.a_then_b_not_c_loop(events) == expected


@pytest.mark.parametrize("case", ["e", "g"])
def test_case_process_measures_and_checks_one_case(case: str, tmp_path: Path) -> None:
    data = write_events(generate_events(3_000, n_keys=20, seed=1), tmp_path / "events.parquet")
    figures = S.run_case(case, data, repeat=1)
    assert figures["events"] == 3_000
    assert figures["matches"] == figures["first_matches"] > 0
    assert figures["hand_identical"]
    assert figures["matcher_process_peak_rss"] >= figures["match_peak_rss"] > 0
    json.dumps(figures)


def test_report_renders_every_case_and_the_stream_ratios(tmp_path: Path) -> None:
    data = write_events(generate_events(2_000, n_keys=20, seed=2), tmp_path / "events.parquet")
    from benchmarks.run import machine_info

    run = {
        "date": "today", "machine": machine_info(), "events": 2_000, "seed": 2, "repeat": 1,
        "cold_compile": False, "types": {"A": 1, "B": 1},
        "cases": {c: S.run_case(c, data, repeat=1) for c in S.CASE_NAMES},
    }
    text = S.render(run)
    assert text.startswith("## Sequence patterns (issue 3)")
    for case in S.CASE_NAMES:
        assert f"| ({case}) " in text
    assert "of (d) find + materialise" in text
    assert "of (d) `find_matches`" in text
    assert "**NO**" not in text
