"""outlier: values far from the key's rolling baseline, by z-score, IQR or MAD.

Events are written in the harness notation (ids 1.., one second apart unless ``ts`` is given);
expected matches and statistics are worked out by hand from the rules in
``cep.matcher.detectors.outlier``.
"""

from __future__ import annotations

import doctest
import itertools
import json
import math
from collections import defaultdict
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds import outlier as outlier_benchmark
from cep.errors import EventDataError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import _rolling
from cep.matcher.detectors import outlier as outlier_module
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match
from tests.matcher.harness import at, events


def pattern(
    method: str = "zscore", k: float = 3, baseline: str = "10s", min_samples: int = 3, **fields: Any
) -> Any:
    return parse_pattern(
        {
            "kind": "outlier",
            "name": "o",
            "value_field": "x",
            "method": method,
            "threshold": k,
            "baseline": baseline,
            "min_samples": min_samples,
            **fields,
        }
    )


def ids(result: Any) -> list[Any]:
    return [m.event_ids[0] for m in result.matches]


def test_module_doctests_pass() -> None:
    assert doctest.testmod(outlier_module).failed == 0
    assert doctest.testmod(_rolling).failed == 0  # the shared window bounds
    assert doctest.testmod(outlier_benchmark).failed == 0


# --- hand-computed examples ---------------------------------------------------------------------


def test_zscore_uses_the_sample_standard_deviation() -> None:
    # Baseline of event 4 = {1, 2, 3}: mean 2, sample std 1 (population std would be 0.816),
    # so x = 4.9 has z = 2.9 (not an outlier at k = 3) and x = 5.5 has z = 3.5.
    assert ids(find_matches(pattern(k=3), events("x: 1 2 3 4.9"))) == []
    (m,) = find_matches(pattern(k=3), events("x: 1 2 3 5.5")).matches
    assert (m.event_ids, m.classifiers, m.start, m.end) == ([4], ["outlier"], at(3), at(3))
    assert m.measures == {
        "value": 5.5,
        "mean": 2.0,
        "std": 1.0,
        "z": 3.5,
        "samples": 3,
        "threshold": 3.0,
        "baseline_s": 10.0,
    }


def test_iqr_interpolates_quantiles_linearly() -> None:
    # Baseline {1, 2, 3, 4}: Q1 at rank 0.75 = 1.75, Q3 at rank 2.25 = 3.25, IQR 1.5; with
    # k = 1.5 the fences are [-0.5, 5.5]: 10 is out, 5.5 is not (the fence is inclusive).
    df = events("x: 1 2 3 4 10 5.5", ts=[0, 1, 2, 3, 4, 4])
    (m,) = find_matches(pattern("iqr", k=1.5, min_samples=4), df).matches
    assert m.event_ids == [5]
    assert m.measures == {
        "value": 10.0,
        "q1": 1.75,
        "q3": 3.25,
        "iqr": 1.5,
        "lower": -0.5,
        "upper": 5.5,
        "samples": 4,
        "threshold": 1.5,
        "baseline_s": 10.0,
    }


def test_mad_scales_the_median_absolute_deviation() -> None:
    # Baseline {10..14}: median 12, |deviations| 2 1 0 1 2 -> MAD 1; 30 scores 18 / 1.4826.
    # 13.5 scores 1.5 / 1.4826 = 1.01 (k = 3: no); even count {10..15}: median 12.5.
    df = events("x: 10 11 12 13 14 13.5 30")
    (m,) = find_matches(pattern("mad", k=3, min_samples=5), df).matches
    assert m.event_ids == [7]
    assert m.measures["median"] == 12.5  # baseline {10, 11, 12, 13, 14, 13.5}
    assert m.measures["mad"] == 1.25  # |dev| 2.5 1.5 .5 .5 1.5 1 -> sorted middle (1 + 1.5) / 2
    assert m.measures["score"] == pytest.approx(17.5 / (1.4826 * 1.25))


@pytest.mark.parametrize(
    ("method", "values", "expected", "score_key"),
    [
        # A constant baseline: equal values are not outliers, any other value is (score None).
        ("zscore", "5 5 5 5 6", [5], "z"),
        ("mad", "5 5 5 5 7", [5], "score"),
        # IQR 0: fences [5, 5]; 6 is outside them.
        ("iqr", "5 5 5 5 6", [5], None),
        # 9 is out against {5, 5, 5}; then the baseline {5, 5, 5, 9} is not constant but its
        # MAD is 0 (|dev| 0 0 0 4): 5 is not an outlier, 6 is.
        ("mad", "5 5 5 9 5 6", [4, 6], "score"),
    ],
    ids=["zscore-constant", "mad-constant", "iqr-zero", "mad-zero"],
)
def test_zero_spread(method: str, values: str, expected: list[int], score_key: str | None) -> None:
    result = find_matches(pattern(method, k=3), events(f"x: {values}"))
    assert ids(result) == expected
    if score_key is not None:
        assert result.matches[0].measures[score_key] is None


def test_constant_decimals_have_exactly_zero_spread() -> None:
    # 0.1 + 0.1 + 0.1 is not 0.3: the sums alone would see a tiny variance and flag 0.1.
    df = events("x: 0.1 0.1 0.1 0.1 0.1 0.1 0.2")
    result = find_matches(pattern("zscore", k=3), df)
    assert ids(result) == [7]
    assert result.matches[0].measures["mean"] == 0.1
    assert result.matches[0].measures["std"] == 0.0


def test_the_baseline_window_is_open_at_both_ends() -> None:
    # Event 5 at 10 s: its baseline (0 s, 10 s) excludes the 100 at 0 s, so {1, 2, 1}:
    # mean 4/3, std sqrt(1/3), z = 84.3. With the 100 the z would be 0.49.
    df = events("x: 100 1 2 1 50", ts=[0, 1, 2, 3, 10])
    (m,) = find_matches(pattern(k=3, baseline="10s"), df).matches
    assert (m.event_ids, m.measures["samples"]) == ([5], 3)
    assert m.measures["z"] == pytest.approx((50 - 4 / 3) / math.sqrt(1 / 3))
    # One microsecond earlier, the 100 is inside: not an outlier.
    df = events("x: 100 1 2 1 50", ts=[0, 1, 2, 3, 9.999999])
    assert ids(find_matches(pattern(k=3, baseline="10s"), df)) == []


def test_equal_times_never_see_each_other() -> None:
    # Events 4 and 5 share 3 s: both have baseline {10, 12, 11}; 30 is an outlier (z = 19),
    # and 11 is not, whatever the order of the tie.
    for xs, expected in (("10 12 11 30 11", [4]), ("10 12 11 11 30", [5])):
        df = events(f"x: {xs}", ts=[0, 1, 2, 3, 3])
        assert ids(find_matches(pattern(k=3), df)) == expected


def test_no_decision_before_min_samples_and_keys_are_separate() -> None:
    df = events("k: a a b a b b a", "x: 1 1 1 1 50 50 50")
    # a: 1 1 1 then 50 (4th a event, baseline {1, 1, 1}) -> outlier; b: 1 50 50 -> fewer than
    # 3 samples for every b event.
    result = find_matches(pattern(k=3, partition_by=["k"]), df)
    assert [(m.key, m.event_ids) for m in result.matches] == [({"k": "a"}, [7])]


def test_null_and_nan_values_are_skipped() -> None:
    df = events(x=[1.0, 2.0, None, 3.0, float("nan"), 5.5])
    (m,) = find_matches(pattern(k=3), df).matches
    assert (m.event_ids, m.measures["samples"], m.measures["mean"]) == ([6], 3, 2.0)


def test_outliers_stay_in_later_baselines() -> None:
    # 100 is an outlier against {1, 2, 1}; then 1 has baseline {1, 2, 1, 100}: not an outlier.
    df = events("x: 1 2 1 100 1")
    assert ids(find_matches(pattern(k=3), df)) == [4]


def test_bad_values_name_the_field() -> None:
    with pytest.raises(EventDataError, match="'x'"):
        find_matches(pattern(), events(x=["1", "a", "2"]))
    with pytest.raises(EventDataError, match="'x'"):
        find_matches(pattern(), events("y: 1 2"))


# --- streaming -------------------------------------------------------------------------------


def test_an_event_is_decided_once_it_is_final() -> None:
    df = events("x: 1 2 3 5.5 2")
    matcher = create_matcher(pattern(k=3))
    assert matcher.feed(df.slice(0, 4)) == []  # 5.5 (at 3 s) is not final yet
    assert [m.event_ids for m in matcher.feed(df.slice(4, 1))] == [[4]]
    assert matcher.flush() == []


def test_late_events_within_the_lateness_are_matched_and_later_ones_reported() -> None:
    df = events(ts=[0, 2, 1, 3, 0], x=[1, 3, 2, 20, 7])
    matcher = create_matcher(pattern(k=3), allowed_lateness=timedelta(seconds=1))
    got = matcher.feed(df.slice(0, 3)) + matcher.feed(df.slice(3, 2)) + matcher.flush()
    assert [m.event_ids for m in got] == [[4]]  # baseline {1, 2, 3}: z = 18
    assert matcher.late_events.get_column("id").to_list() == [5]


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


def stream(p: Any, df: pl.DataFrame, cuts: list[int], snapshot_at: int | None) -> list[Match]:
    matcher = create_matcher(p, allowed_lateness=disorder(df))
    out: list[Match] = []
    bounds = [0, *sorted(set(cuts)), df.height]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        out += matcher.feed(df.slice(a, b - a))
    out += matcher.flush()
    assert matcher.late_events.height == 0
    assert matcher.pending_matches == []
    return out


@st.composite
def cases(draw: st.DrawFn, decimals: bool = True) -> tuple[Any, pl.DataFrame]:
    n = draw(st.integers(0, 40))
    keys = draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n))
    secs = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    if draw(st.booleans()):
        secs.sort()
    value = st.integers(0, 6) | st.just(30) | st.none()
    if decimals:
        value |= st.sampled_from([0.1, 0.7, 2.3])
    values = draw(st.lists(value, min_size=n, max_size=n))
    # Thresholds no small-integer baseline can hit exactly (so a tie cannot decide).
    p = pattern(
        draw(st.sampled_from(["zscore", "iqr", "mad"])),
        draw(st.sampled_from([1.2345, 2.71828])),
        f"{draw(st.integers(2, 15))}s",
        draw(st.integers(2, 4)),
        partition_by=["k"],
    )
    return p, events(k=keys, ts=secs, x=values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(case: Any, data: st.DataObject) -> None:
    p, df = case
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    assert per_key(stream(p, df, cuts, snapshot_at)) == per_key(list(find_matches(p, df).matches))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(decimals=False))
def test_the_pure_python_implementation_agrees(case: Any) -> None:
    # Whole numbers: the running sums and the reference's two-pass statistics are both exact
    # enough that the same events come out.
    p, df = case
    expected = [(m.key, m.event_ids, m.classifiers) for m in find_matches(p, df).matches]
    assert outlier_benchmark.python_matches(p, df) == expected
