"""The ``sequence`` matcher's guard against partial-match blow-up (``max_partial_matches``).

``a followedByAny b followedByAny c`` with no ``within`` keeps every combination: over
``a1 a2 a3 b1 b2 b3`` (no c) each b branches every run still waiting for b, so the key ends
with 3 runs waiting for b and 3 x 3 waiting for c, 12 open runs. A limit of 12 lets it run; 11
raises ``MatchRuntimeError`` naming the pattern, the key and the fix. Below the limit the
result is exactly the reference matcher's.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.errors import CepError, MatchRuntimeError
from cep.matcher import create_matcher, find_matches
from cep.matcher.sequence import MAX_PARTIAL_MATCHES, SequenceEngine, find_sequence_matches
from cep.matcher.stream import StreamMatcher
from cep.results import Match
from tests.matcher.harness import events
from tests.matcher.seq_harness import ev, seq, view
from tests.reference.seq_reference import reference_find_sequence_matches

ANY3 = "a followedByAny b followedByAny c"


def keyed(*keys_and_types: tuple[str, str]) -> pl.DataFrame:
    """One event per (user, type) pair, one second apart, ids 1..n."""
    users = [u for u, _ in keys_and_types]
    types = [t for _, t in keys_and_types]
    return events(user=users, type=types)


def match_rows(matches: list[Match]) -> list[tuple[Any, ...]]:
    return [(tuple(m.key.values()), tuple(m.event_ids), tuple(m.classifiers)) for m in matches]


def replay(matcher: StreamMatcher, df: pl.DataFrame, size: int = 5) -> list[Match]:
    """Feed ``df`` in batches of ``size`` rows, then flush; every match in order."""
    out = [m for i in range(0, df.height, size) for m in matcher.feed(df.slice(i, size))]
    return out + matcher.flush()


def test_the_limit_counts_open_runs_of_one_key_exactly() -> None:
    p = seq(ANY3, name="abc_any")
    df = ev("a1 a2 a3 b1 b2 b3")
    assert view(find_sequence_matches(p, df, max_partial_matches=12)) == []
    with pytest.raises(MatchRuntimeError, match=r"more than 11 partial matches"):
        find_sequence_matches(p, df, max_partial_matches=11)


@pytest.mark.parametrize("blown", ["u1", "u2"], ids=["first-key", "second-key"])
def test_error_names_the_pattern_the_key_and_the_fix(blown: str) -> None:
    p = seq(ANY3, name="abc_any", partition_by=["user"])
    quiet = [("u2" if blown == "u1" else "u1", t) for t in "abc"]
    loud = [(blown, t) for t in "ab" * 10]
    df = keyed(*loud, *quiet) if blown == "u1" else keyed(*quiet, *loud)
    with pytest.raises(MatchRuntimeError) as error:
        find_matches(p, df, max_partial_matches=20)
    message = str(error.value)
    assert "sequence pattern 'abc_any'" in message
    assert f"key user={blown!r}" in message
    assert "more than 20 partial matches" in message
    assert "Add a `within`, or use followedBy / next instead of followedByAny" in message
    assert "a narrower `where`" in message
    assert isinstance(error.value, CepError)  # what the pages catch and show with st.error


def test_error_without_partition_says_the_whole_stream() -> None:
    df = ev(" ".join(f"a{i} b{i}" for i in range(10)))
    with pytest.raises(MatchRuntimeError, match=r"for the whole stream \(no partition_by\)"):
        find_matches(seq(ANY3, name="abc_any"), df, max_partial_matches=20)


def test_a_loop_with_allow_combinations_is_limited_too() -> None:
    df = ev("a " + " ".join(f"b{i}" for i in range(12)))
    p = seq("a b+.allowCombinations c", name="loop_any")
    with pytest.raises(MatchRuntimeError, match="'loop_any'"):
        find_matches(p, df, max_partial_matches=1000)


def test_default_limit_stops_a_realistic_blow_up() -> None:
    """2,000 events of one key without a window: about 220,000 runs without the limit."""
    rng = np.random.default_rng(0)
    types = rng.choice(["a", "b", "d"], size=2000).tolist()
    df = events(user=["u1"] * 2000, type=types)
    p = seq(ANY3, name="abc_any", skip="PAST LAST EVENT", partition_by=["user"])
    with pytest.raises(MatchRuntimeError, match=f"more than {MAX_PARTIAL_MATCHES:,} partial"):
        find_matches(p, df)


def test_a_window_bounds_the_same_stream_under_the_default_limit() -> None:
    rng = np.random.default_rng(0)
    types = rng.choice(["a", "b", "c", "d"], size=2000).tolist()
    df = events(user=["u1"] * 2000, type=types)
    p = seq(ANY3, name="abc_any", skip="PAST LAST EVENT", within="30s", partition_by=["user"])
    assert len(find_matches(p, df).matches) > 0


CASES = {
    "any-no-skip": (ANY3, {}, "a1 b1 a2 c1 b2 c2 b3 c3"),
    "any-skip-next": (ANY3, {"skip": "SKIP TO NEXT"}, "a1 b1 a2 b2 c1 b3 c2"),
    "any-within": (ANY3, {"within": "6s"}, "a1 a2 b1 b2 d1 c1 b3 c2 c3"),
    "combinations": ("a b+.allowCombinations c", {}, "a1 b1 d1 b2 b3 c1"),
    "relaxed-loop": ("c a+ b", {}, "c1 d1 a1 a2 a3 d2 a4 b1"),
    "not-followed-by": ("a followedByAny b notFollowedBy c", {"within": "5s"},
                        "a1 b1 d1 d2 d3 d4 d5 a2 b2 c1 b3"),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_results_below_the_limit_equal_the_reference(name: str) -> None:
    text, options, tokens = CASES[name]
    p = seq(text, **options)
    df = ev(tokens)
    expected = view(reference_find_sequence_matches(p, df))
    assert expected  # every case matches something
    assert view(find_sequence_matches(p, df, max_partial_matches=40)) == expected
    assert view(find_matches(p, df)) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(types=st.lists(st.sampled_from("abcd"), max_size=12), limit=st.integers(1, 30),
       skip=st.sampled_from(["NO_SKIP", "SKIP TO NEXT", "PAST LAST EVENT"]))
def test_either_the_reference_result_or_the_error(types: list[str], limit: int,
                                                  skip: str) -> None:
    p = seq(ANY3, skip=skip)
    df = ev(" ".join(f"{t}{i}" for i, t in enumerate(types)))
    expected = view(reference_find_sequence_matches(p, df))
    try:
        got = view(find_sequence_matches(p, df, max_partial_matches=limit))
    except MatchRuntimeError:
        # Open runs never exceed (a's) * (1 + b's): a run waits for b, or for c with one b.
        assert limit < types.count("a") * (1 + types.count("b"))
        got = view(find_sequence_matches(p, df, max_partial_matches=2**20))
    assert got == expected


def test_stream_raises_the_same_error_and_equals_batch_below_the_limit() -> None:
    p = seq(ANY3, name="abc_any", partition_by=["user"])
    df = keyed(*[("u1", t) for t in "abc" * 3], *[("u2", t) for t in "ab" * 8])
    batch = find_matches(p, df, max_partial_matches=1000).matches
    streamed = replay(create_matcher(p, max_partial_matches=1000), df)
    assert match_rows(streamed) == match_rows(list(batch))
    with pytest.raises(MatchRuntimeError, match=r"'abc_any'.*key user='u2'"):
        replay(create_matcher(p, max_partial_matches=20), df)


def test_the_limit_survives_a_snapshot() -> None:
    p = seq(ANY3, partition_by=["user"])
    matcher = create_matcher(p, max_partial_matches=20)
    matcher.feed(keyed(("u1", "a"), ("u1", "b")))
    restored = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
    assert isinstance(restored.engine, SequenceEngine)
    assert restored.engine.max_partial_matches == 20
    with pytest.raises(MatchRuntimeError, match="more than 20"):
        replay(restored, keyed(*[("u1", t) for t in "ab" * 8]))


def test_a_limit_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SequenceEngine(seq(ANY3), max_partial_matches=0)
