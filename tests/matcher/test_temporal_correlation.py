"""The ``temporal_correlation`` kind: one-to-one greedy pairing of A and B events within
``max_gap``, per key and correlation value, in either order or A before B; near misses;
stream/batch equivalence and agreement with the pure-Python benchmark.

Events are written as a string of tokens ``"A1@0 B2@3 C3@4"``: the side (``A``, ``B``, ``AB``
for both, anything else for neither), the id, ``@`` the second; ``key`` and ``dev`` columns
may be given as lists. Conditions: ``a`` = ``side IN ('A', 'AB')``, ``b`` = ``side IN ('B',
'AB')``.
"""

from __future__ import annotations

import doctest
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds import temporal_correlation as bench
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import temporal_correlation
from cep.matcher.stream import StreamMatcher
from cep.model import parse_pattern
from cep.results import Match
from tests.matcher.test_stream_property import _disorder, _per_key, _timed_out

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"([A-Z]+)(\d+)@([\d.]+)")


def corr(max_gap: str = "10s", order: str = "any", **fields: Any) -> Any:
    return parse_pattern({"kind": "temporal_correlation", "name": "pair",
                          "a": "side IN ('A', 'AB')", "b": "side IN ('B', 'AB')",
                          "max_gap": max_gap, "order": order, **fields})


def ev(text: str, **columns: list[Any]) -> pl.DataFrame:
    tokens = [_TOKEN.fullmatch(t) for t in text.split()]
    assert all(tokens), text
    return pl.DataFrame({
        "id": [int(m[2]) for m in tokens if m],
        "ts": [T0 + timedelta(seconds=float(m[3])) for m in tokens if m],
        "side": [m[1] for m in tokens if m],
        **columns,
    })


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pairs(matches: Any) -> list[str]:
    """Each match as ``"1a 3b"``, prefixed with the key when there is one."""
    out = []
    for m in matches:
        text = " ".join(f"{i}{c}" for i, c in zip(m.event_ids, m.classifiers, strict=True))
        out.append(f"{m.key['key']}: {text}" if m.key else text)
    return out


def run(pattern: Any, df: pl.DataFrame) -> list[str]:
    return pairs(find_matches(pattern, df).matches)


# --- docstrings -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", [temporal_correlation, bench], ids=lambda m: m.__name__)
def test_docstring_examples_pass(module: Any) -> None:
    failed, tried = doctest.testmod(module)
    assert tried
    assert not failed


# --- pairing --------------------------------------------------------------------------------


def test_each_event_pairs_with_the_earliest_unpaired_event_of_the_other_side() -> None:
    assert run(corr(), ev("A1@0 A2@1 B3@2 B4@3 B5@4")) == ["1a 3b", "2a 4b"]
    assert run(corr(), ev("B1@0 B2@1 A3@2 A4@3 A5@4")) == ["1b 3a", "2b 4a"]


def test_a_then_b_needs_the_a_first_and_a_b_never_waits() -> None:
    df = ev("B1@0 A2@1 B3@2 B4@3 A5@4 B6@5")
    assert run(corr(order="a_then_b"), df) == ["2a 3b", "5a 6b"]
    assert run(corr(order="any"), df) == ["1b 2a", "3b 5a"]


@pytest.mark.parametrize(("second", "paired"), [(10, True), (10.000001, False)])
def test_max_gap_is_inclusive(second: float, paired: bool) -> None:
    assert run(corr("10s"), ev(f"A1@0 B2@{second}")) == (["1a 2b"] if paired else [])


def test_equal_times_keep_input_order_so_a_then_b_needs_the_a_given_first() -> None:
    assert run(corr(order="a_then_b"), ev("A1@5 B2@5")) == ["1a 2b"]
    assert run(corr(order="a_then_b"), ev("B1@5 A2@5")) == []
    assert run(corr(order="any"), ev("B1@5 A2@5")) == ["1b 2a"]


def test_events_are_paired_in_time_order_not_input_order() -> None:
    assert run(corr(), ev("B3@4 A1@0 A2@1 B4@5")) == ["1a 3b", "2a 4b"]


def test_an_event_that_expired_is_skipped_for_a_later_one() -> None:
    # 1 is 12 s before 3 (too far); 2 is 3 s before it.
    assert run(corr("10s"), ev("A1@0 A2@9 B3@12")) == ["2a 3b"]


def test_an_event_satisfying_both_conditions_never_pairs_with_itself() -> None:
    assert run(corr(), ev("AB1@0")) == []
    assert run(corr(order="a_then_b"), ev("AB1@0")) == []


def test_an_event_satisfying_both_pairs_with_the_earliest_of_either_side() -> None:
    # any: AB2 takes B1 (the earliest waiting event) and plays a.
    assert run(corr(), ev("B1@0 A3@1 AB2@2")) == ["1b 3a"]  # A3 took B1 first
    assert run(corr(), ev("B1@0 AB2@2")) == ["1b 2a"]
    assert run(corr(), ev("A1@0 AB2@2")) == ["1a 2b"]
    # Two events that satisfy both: the earlier plays a.
    assert run(corr(), ev("AB1@0 AB2@1 AB3@2")) == ["1a 2b"]
    # Waiting as either side: a later A or B takes it.
    assert run(corr(), ev("AB1@0 A2@1")) == ["1b 2a"]
    assert run(corr(), ev("AB1@0 B2@1")) == ["1a 2b"]


def test_with_a_then_b_an_event_satisfying_both_closes_an_a_or_waits_as_one() -> None:
    assert run(corr(order="a_then_b"), ev("A1@0 AB2@1 B3@2")) == ["1a 2b"]
    assert run(corr(order="a_then_b"), ev("AB1@0 B2@1")) == ["1a 2b"]
    assert run(corr(order="a_then_b"), ev("AB1@0 A2@1")) == []
    assert run(corr(order="a_then_b"), ev("AB1@0 AB2@1 AB3@2 AB4@3")) == ["1a 2b", "3a 4b"]


def test_match_fields() -> None:
    [m] = find_matches(corr(correlate_on=["dev"]), ev("B1@2 C2@3 A3@7", dev=["x", "y", "x"])).matches
    assert (m.key, m.start, m.end, m.event_ids, m.classifiers) == (
        {}, at(2), at(7), [1, 3], ["b", "a"])
    assert m.measures == {"gap_s": 5.0, "dev": "x"}


def test_pairs_need_equal_correlation_values_and_null_pairs_with_nothing() -> None:
    df = ev("A1@0 A2@1 B3@2 B4@3 B5@4 A6@5 B7@6",
            dev=["x", "y", "y", "x", None, None, "z"])
    assert run(corr(correlate_on=["dev"]), df) == ["2a 3b", "1a 4b"]
    assert run(corr(), df) == ["1a 3b", "2a 4b", "5b 6a"]


def test_keys_are_independent_and_ordered_by_first_appearance() -> None:
    df = ev("A1@0 A2@1 B3@2 B4@3", key=["k2", "k1", "k1", "k2"])
    assert run(corr(partition_by=["key"]), df) == ["k2: 1a 4b", "k1: 2a 3b"]


def test_matches_within_a_key_follow_their_later_event() -> None:
    # y pairs 2-3 at second 2, x pairs 1-4 at second 3: 2-3 comes first.
    df = ev("A1@0 A2@1 B3@2 B4@3", dev=["x", "y", "y", "x"])
    assert run(corr(correlate_on=["dev"]), df) == ["2a 3b", "1a 4b"]


# --- near misses ----------------------------------------------------------------------------


def test_unpaired_events_time_out_when_their_window_has_passed() -> None:
    result = find_matches(corr("10s"), ev("A1@0 A2@5 B3@6 C4@15 C5@16"))
    assert pairs(result.matches) == ["1a 3b"]
    [p] = result.timed_out
    assert (p.event_ids, p.classifiers, p.step_reached, p.started, p.ended, p.reason) == (
        [2], ["a"], "a", at(5), at(15), "window expired")
    assert list(result.pending) == []


def test_a_window_that_outlives_the_events_is_not_a_near_miss_yet() -> None:
    assert find_matches(corr("10s"), ev("A1@0 C2@9.5")).timed_out == []
    matcher = create_matcher(corr("10s"))
    matcher.feed(ev("A1@0 C2@9.5"))
    assert matcher.flush() == []
    assert matcher.timed_out == []
    matcher = create_matcher(corr("10s"))
    matcher.feed(ev("A1@0 C2@9.5"))
    assert matcher.flush(now=at(10)) == []
    assert [p.event_ids for p in matcher.timed_out] == [[1]]


def test_with_a_then_b_a_lone_b_is_not_a_near_miss() -> None:
    result = find_matches(corr("1s", order="a_then_b"), ev("B1@0 A2@1 C3@5"))
    assert [p.event_ids for p in result.timed_out] == [[2]]


def test_near_misses_are_reported_when_the_watermark_passes_the_window() -> None:
    matcher = create_matcher(corr("10s"))
    matcher.feed(ev("A1@0 C2@10"))
    assert matcher.timed_out == []
    matcher.advance_watermark(at(10.5))
    assert [p.event_ids for p in matcher.timed_out] == [[1]]


# --- streaming ------------------------------------------------------------------------------


def test_pairs_are_emitted_as_soon_as_their_later_event_is_final() -> None:
    matcher = create_matcher(corr("10s"))
    assert matcher.feed(ev("A1@0 B2@3")) == []  # B2 is at the watermark: not final yet
    assert pairs(matcher.feed(ev("C3@4"))) == ["1a 2b"]
    assert matcher.flush() == []


def test_late_events_within_the_allowed_lateness_are_reordered() -> None:
    matcher = create_matcher(corr("10s", order="a_then_b"), allowed_lateness=timedelta(seconds=5))
    got = matcher.feed(ev("B3@6"))
    got += matcher.feed(ev("A1@2"))  # within 5 s of 6: goes before B3
    got += matcher.feed(ev("C4@20"))
    got += matcher.feed(ev("A5@7"))  # late: the watermark is 20 - 5 = 15
    got += matcher.flush()
    assert pairs(got) == ["1a 3b"]
    assert matcher.late_events.get_column("id").to_list() == [5]


def test_snapshot_and_restore_keep_waiting_events_and_near_misses() -> None:
    matcher = create_matcher(corr("10s"))
    matcher.feed(ev("A1@0 A2@20 C3@25"))
    restored = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
    assert [p.event_ids for p in restored.timed_out] == [[1]]
    assert pairs(restored.feed(ev("B4@26"))) == []
    assert pairs(restored.flush()) == ["2a 4b"]


# --- errors and validation ------------------------------------------------------------------


def test_a_missing_field_is_named_with_where_it_is_used() -> None:
    with pytest.raises(EventDataError, match=r"'dev'.*correlate_on"):
        find_matches(corr(correlate_on=["dev"]), ev("A1@0"))
    with pytest.raises(EventDataError, match=r"'side'.*condition a"):
        find_matches(corr(), ev("A1@0").rename({"side": "kind"}))


def test_a_condition_that_cannot_be_evaluated_is_an_event_error() -> None:
    pattern = parse_pattern({"kind": "temporal_correlation", "name": "p", "a": "side > 3",
                             "b": "side = 'B'", "max_gap": "1m"})
    with pytest.raises(EventDataError, match="cannot be evaluated"):
        find_matches(pattern, ev("A1@0"))


@pytest.mark.parametrize(("fields", "message"), [
    ({"max_gap": "-5s"}, "max_gap"),
    ({"order": "b_then_a"}, "order"),
    ({"correlate_on": ["dev", "dev"]}, "twice"),
    ({"a": "side = "}, "a"),
])
def test_bad_patterns_are_rejected(fields: dict[str, Any], message: str) -> None:
    spec = {"kind": "temporal_correlation", "name": "p", "a": "side = 'A'", "b": "side = 'B'",
            "max_gap": "1m", **fields}
    with pytest.raises(PatternError, match=message):
        parse_pattern(spec)


# --- properties -----------------------------------------------------------------------------


@st.composite
def cases(draw: Any) -> tuple[Any, pl.DataFrame]:
    fields: dict[str, Any] = {"partition_by": ["key"]} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        fields["correlate_on"] = ["dev"]
    pattern = corr(f"{draw(st.integers(1, 8))}s", draw(st.sampled_from(["any", "a_then_b"])),
                   **fields)
    n = draw(st.integers(0, 30))
    sides = [draw(st.sampled_from(["A", "B", "AB", "C"])) for _ in range(n)]
    seconds = [draw(st.integers(0, 25)) for _ in range(n)]
    text = " ".join(f"{s}{i}@{t}" for i, (s, t) in enumerate(zip(sides, seconds, strict=True)))
    df = ev(text, key=[draw(st.sampled_from(["k1", "k2"])) for _ in range(n)],
            dev=[draw(st.sampled_from(["x", "y", None])) for _ in range(n)])
    if n == 0:
        df = df.with_columns(pl.col("id").cast(pl.Int64), pl.col("ts").cast(pl.Datetime("us", "UTC")),
                             pl.col("side", "key", "dev").cast(pl.String))
    return pattern, df


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(case: Any, data: Any) -> None:
    pattern, df = case
    expected = find_matches(pattern, df)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, df.height), max_size=6))))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    matcher = create_matcher(pattern, allowed_lateness=_disorder(df))
    emitted: list[Match] = []
    for i, (a, b) in enumerate(itertools.pairwise([0, *cuts, df.height])):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        emitted += matcher.feed(df.slice(a, b - a))
    emitted += matcher.flush()
    assert matcher.late_events.height == 0
    assert _per_key(emitted) == _per_key(list(expected.matches))
    assert _timed_out(matcher.timed_out) == _timed_out(expected.timed_out)
    assert list(expected.pending) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_pure_python_benchmark_agrees_with_find_matches(case: Any) -> None:
    pattern, df = case
    result = find_matches(pattern, df)
    assert bench.python_matches(pattern, df) == [(m.key, m.event_ids, m.classifiers)
                                                 for m in result.matches]


def test_the_benchmark_generator_is_deterministic_and_pairs_events() -> None:
    df = bench.generate_events(20_000, n_keys=50, seed=3)
    assert df.equals(bench.generate_events(20_000, n_keys=50, seed=3))
    for spec in bench.PATTERNS.values():
        pattern = parse_pattern(spec)
        result = find_matches(pattern, df)
        assert len(result.matches) > 50
        assert bench.python_matches(pattern, df) == [(m.key, m.event_ids, m.classifiers)
                                                     for m in result.matches]
