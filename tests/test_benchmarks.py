"""The benchmark formulations agree with ``find_matches`` — a correctness check of both sides.

Each hand-written formulation in ``benchmarks.handwritten`` encodes SEMANTICS.md §1 for one
pattern by hand; on generated data (several seeds, sizes and arrival rates, with and without
ties in time) its full match list must equal the matcher's. No wall time is asserted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks import handwritten as H
from benchmarks.data import describe_events, generate_events, write_events
from cep.matcher import find_matches
from cep.model import parse_pattern

ALTERNATIVES = [
    pytest.param(case, name, id=f"{case}-{name.replace(' ', '_')}")
    for case, spec in H.CASES.items()
    for name in spec["alternatives"]
]
DATASETS = {
    # name: (events, keys, seed, events per second overall)
    "20keys-seed1": (5_000, 20, 1, 20.0),
    "20keys-seed2": (5_000, 20, 2, 20.0),
    "20keys-seed3": (5_000, 20, 3, 20.0),
    "sparse-window-prunes-often": (4_000, 20, 4, 0.2),
    "dense-window-never-prunes": (4_000, 20, 5, 1_000.0),
    "short-partitions": (3_000, 300, 6, 20.0),
    "long-partitions": (6_000, 3, 7, 20.0),
}


def matcher_list(case: str, events: pl.DataFrame) -> H.MatchList:
    result = find_matches(parse_pattern(H.CASES[case]["pattern"]), events)
    return H.as_match_list(result.matches)


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


@pytest.mark.parametrize(("case", "name"), ALTERNATIVES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_alternative_gives_the_matchers_match_list(case: str, name: str, dataset: str) -> None:
    n, keys, seed, rate = DATASETS[dataset]
    events = generate_events(n, n_keys=keys, seed=seed, events_per_s=rate)
    ours = matcher_list(case, events)
    assert ours, "the data should give matches"
    assert H.CASES[case]["alternatives"][name](events) == ours


@pytest.mark.parametrize(("case", "name"), ALTERNATIVES)
def test_alternative_agrees_when_times_tie(case: str, name: str) -> None:
    # Times truncated to the minute: many equal timestamps, which keep their input order.
    events = generate_events(4_000, n_keys=10, seed=11, events_per_s=2.0)
    events = events.with_columns(pl.col("ts").dt.truncate("1m"))
    assert H.CASES[case]["alternatives"][name](events) == matcher_list(case, events)


@pytest.mark.parametrize("name", list(H.CASES["a"]["alternatives"]))
def test_within_is_exclusive(name: str) -> None:
    events = frame(
        [
            ("x", 0, "A", 1),
            ("x", 100, "C", 1),
            ("x", 300, "B", 1),  # exactly 5m: too late
            ("x", 350, "A", 1),
            ("x", 450, "A", 1),
            ("x", 650.5, "B", 1),  # only the 2nd A in time
            ("y", 0, "A", 1),
            ("y", 299.999999, "B", 1),  # just inside
        ]
    )
    expected = [("x", [5, 6], ["A", "B"]), ("y", [7, 8], ["A", "B"])]
    assert matcher_list("a", events) == expected
    assert H.CASES["a"]["alternatives"][name](events) == expected


def test_a_then_b_matches_are_reluctant_and_skip_past_last_row() -> None:
    events = frame(
        [
            ("x", 0, "A", 1),
            ("y", 1, "B", 1),
            ("x", 2, "A", 1),
            ("x", 3, "B", 1),
            ("x", 4, "B", 1),
            ("y", 5, "A", 1),
            ("x", 6, "A", 1),
            ("y", 7, "D", 1),
            ("y", 8, "B", 1),
        ]
    )
    expected = [("x", [1, 3, 4], ["A", "X", "B"]), ("y", [6, 8, 9], ["A", "X", "B"])]
    assert matcher_list("a", events) == expected
    assert H.a_then_b_loop(events) == expected
    assert H.a_then_b_join_asof(events) == expected


def test_v_shape_takes_every_falling_then_every_rising_row() -> None:
    # Equal prices are neither falling nor rising: the starts at 5, 4, 3 and 3 find no match.
    prices = [5, 4, 3, 3, 9, 8, 7, 8, 9, 9]
    events = frame([("x", i, "A", p) for i, p in enumerate(prices)])
    expected = [("x", [5, 6, 7, 8, 9], ["A", "B", "B", "C", "C"])]
    assert matcher_list("b", events) == expected
    assert H.v_shape_loop(events) == expected


def test_rise_over_a_backtracks_when_the_partition_ends() -> None:
    # A=10; 12 13 14 11 15 all stay above 10 up to the partition end, so C cannot follow the
    # longest B run: the engine backtracks and 11 (< first B 12) becomes C after three B rows.
    prices = [10, 12, 13, 14, 11, 15]
    events = frame([("x", i, "A", p) for i, p in enumerate(prices)])
    expected = [("x", [1, 2, 3, 4, 5], ["A", "B", "B", "B", "C"])]
    assert matcher_list("c", events) == expected
    assert H.rise_over_a_loop(events) == expected


def test_rise_over_a_needs_three_b_rows() -> None:
    prices = [10, 12, 13, 9, 10, 11, 12, 13, 5]
    events = frame([("x", i, "A", p) for i, p in enumerate(prices)])
    expected = [("x", [4, 5, 6, 7, 8, 9], ["A", "B", "B", "B", "B", "C"])]
    assert matcher_list("c", events) == expected
    assert H.rise_over_a_loop(events) == expected


def test_generated_events_are_deterministic_and_time_ordered() -> None:
    first = generate_events(2_000, n_keys=30, seed=9)
    assert first.equals(generate_events(2_000, n_keys=30, seed=9))
    assert not first.equals(generate_events(2_000, n_keys=30, seed=10))
    assert first.schema == pl.Schema(
        {
            "id": pl.Int64,
            "key": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "type": pl.String,
            "price": pl.Float64,
        }
    )
    assert first["ts"].is_sorted()
    assert first["ts"].n_unique() == first.height
    assert set(first["type"].unique()) == set("ABCDE")
    assert (
        (first["price"] * 100)
        .round(6)
        .cast(pl.Int64)
        .cast(pl.Float64)
        .equals((first["price"] * 100).round(6))
    )
    described = describe_events(first)
    assert described["a_rows"] == (
        described["a_next_b_in_window"] + described["a_next_b_too_late"] + described["a_no_next_b"]
    )


def test_case_process_measures_and_checks_one_case(tmp_path: Path) -> None:
    from benchmarks.run import run_case

    data = write_events(generate_events(3_000, n_keys=20, seed=1), tmp_path / "events.parquet")
    figures = run_case("c", data, repeat=1)
    assert figures["events"] == 3_000
    assert figures["matches"] == figures["first_call_matches"] > 0
    assert all(alt["identical"] for alt in figures["alternatives"].values())
    assert "error" not in figures["stages"], figures["stages"]
    assert figures["matcher_process_peak_rss"] >= figures["match_peak_rss"] > 0
    json.dumps(figures)


@pytest.mark.slow
def test_benchmark_command_writes_the_report(tmp_path: Path) -> None:
    from benchmarks.run import main

    out = tmp_path / "BENCHMARKS.md"
    assert main(["--out", str(out), "--events", "2000", "--quick", "--cases", "a"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "| (a) A then B within 5m |" in text
    assert "Polars join_asof | " in text
    assert "**NO**" not in text
