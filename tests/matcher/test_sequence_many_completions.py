"""Many matches completing on the same event: the ``sequence`` engine's emission order.

With ``followedByAny`` every earlier combination completes on one event, so an event can end
thousands of matches at once. Flink emits them by start event, then in lexicographic order of
their event positions (a prefix first); the reference matcher takes them in that order and the
engine must give exactly the same list. Worked example, ``a followedByAny b followedByAny c``
under ``NO_SKIP`` on ``a1 a2 b1 b2 c1``: c1 completes ``a1 b1 c1, a1 b2 c1, a2 b1 c1, a2 b2 c1``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from cep.matcher import create_matcher, find_matches
from cep.results import Match
from tests.matcher import seq_harness
from tests.matcher.seq_harness import SeqMatcher, ev, run, seq
from tests.reference.seq_reference import reference_find_sequence_matches

ANY3 = "a followedByAny b followedByAny c"
seq_matcher = seq_harness.seq_matcher  # the fixture: fast engine and reference

SKIPS = ["NO_SKIP", "SKIP TO NEXT", "PAST LAST EVENT", "SKIP TO FIRST b", "SKIP TO LAST b"]


@pytest.mark.parametrize(
    ("pattern", "events", "expected"),
    [
        (ANY3, "a1 a2 b1 b2 c1",
         ["a1 b1 c1", "a1 b2 c1", "a2 b1 c1", "a2 b2 c1"]),
        (ANY3, "a1 b1 a2 b2 c1 c2",
         ["a1 b1 c1", "a1 b2 c1", "a2 b2 c1", "a1 b1 c2", "a1 b2 c2", "a2 b2 c2"]),
        # Lexicographic, not shortest first: (a1 b1 b2 c1) sorts before (a1 b1 c1) at b2 < c1.
        ("a followedByAny b+.allowCombinations followedByAny c", "a1 b1 b2 c1",
         ["a1 b1 b2 c1", "a1 b1 c1", "a1 b2 c1"]),
        # Runs are kept in start order only, so one start's completions can come out of its
        # runs unsorted: on c2, a1 c1 (in the loop), a1 b1 and a1 (b skipped) all complete.
        ("a followedByAny b? followedByAny c+", "a1 c1 b1 c2",
         ["a1 c1", "a1 c1 c2", "a1 b1 c2", "a1 c2"]),
        # A loop at the end emits every prefix; b3 completes four of them at once.
        ("a followedByAny b+.allowCombinations", "a1 b1 b2 b3",
         ["a1 b1", "a1 b1 b2", "a1 b2", "a1 b1 b2 b3", "a1 b1 b3", "a1 b2 b3", "a1 b3"]),
    ],
    ids=["two-starts", "interleaved", "loop-in-the-middle", "optional-then-loop",
         "loop-at-the-end"],
)
def test_matches_completing_together_come_out_by_start_then_event_sequence(
    seq_matcher: SeqMatcher, pattern: str, events: str, expected: list[str]
) -> None:
    assert run(seq_matcher, seq(pattern), ev(events)) == expected


def test_equal_event_sequences_keep_the_order_their_runs_completed_in(
    seq_matcher: SeqMatcher,
) -> None:
    # Both steps take every event, so one event sequence completes twice (a1 as x or as y);
    # such ties stay in the order the runs completed, x before y.
    p = seq("x? followedByAny y+.allowCombinations", where={"x": "type = 'a'", "y": "type = 'a'"})
    assert run(seq_matcher, p, ev("a1 a2 a3")) == [
        "a1=y",
        "a1=x a2=y", "a1=y a2=y", "a2=y",
        "a1=x a2=y a3=y", "a1=y a2=y a3=y", "a1=x a3=y", "a1=y a3=y", "a2=x a3=y", "a2=y a3=y",
        "a3=y",
    ]


def test_pending_runs_expiring_together_come_out_in_order(seq_matcher: SeqMatcher) -> None:
    # A trailing not_followed_by completes when its window runs out: a3 at 10 s ends the
    # windows of a1 and a2 (both at 0 s), and their four runs complete together.
    p = seq("a followedByAny b notFollowedBy c", within="5s")
    df = ev("a1 a2 b1 b2 x a3", ts=[0, 0, 1, 2, 3, 10])
    assert run(seq_matcher, p, df) == [
        "a1 b1", "a1 b2", "a2 b1", "a2 b2",
    ]


def _rows(matches: Sequence[Match]) -> list[tuple[Any, ...]]:
    return [(m.key["user"], tuple(m.event_ids), tuple(m.classifiers)) for m in matches]


def _random_events(seed: int, n: int, keys: int) -> Any:
    rng = random.Random(seed)
    tokens = [f"{rng.choice('abcd')}{i}" for i in range(n)]
    users = [f"u{rng.randrange(keys)}" for _ in range(n)]
    seconds = sorted(rng.randrange(n // 2) for _ in range(n))  # ties complete runs together
    return ev(" ".join(tokens), user=users, ts=seconds)


@pytest.mark.parametrize("skip", SKIPS)
@pytest.mark.parametrize(
    ("pattern", "within"),
    [
        (ANY3, None),
        (ANY3, "8s"),
        ("a followedByAny b+.allowCombinations followedByAny c", None),
        ("a followedByAny b+.allowCombinations", None),
        ("a followedByAny b notFollowedBy c", "6s"),
        ("a followedByAny b? followedByAny c+", None),
        ("a followedByAny b+ followedByAny c+", "8s"),
    ],
    ids=["any3", "any3-within", "loop-in-the-middle", "loop-at-the-end", "pending",
         "optional-then-loop", "loops-within"],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_equals_the_reference_when_many_matches_complete_together(
    pattern: str, within: str | None, skip: str, seed: int
) -> None:
    p = seq(pattern, skip=skip, within=within, partition_by=["user"])
    df = _random_events(seed, 36, keys=2)
    expected = _rows(reference_find_sequence_matches(p, df).matches)
    assert _rows(find_matches(p, df).matches) == expected
    # Held-back matches survive between micro-batches (the engine's saved state); keys
    # interleave in a stream, so compare key by key.
    matcher = create_matcher(p)
    streamed = [m for i in range(0, df.height, 7) for m in matcher.feed(df.slice(i, 7))]
    by_key = sorted(_rows(streamed + matcher.flush()), key=lambda r: r[0])
    assert by_key == sorted(expected, key=lambda r: r[0])


def test_hundreds_of_thousands_of_matches_come_out_complete_and_in_order() -> None:
    # 400 events give about 200,000 (a, b, c) triples, thousands of them ending on each c.
    rng = random.Random(7)
    types = [rng.choice("abcd") for _ in range(400)]
    df = ev(" ".join(f"{t}{i}" for i, t in enumerate(types)))
    result = find_matches(seq(ANY3), df)
    # Emitted per c event, by start, then by b: every (a, b, c) in stream order, by (c, a, b).
    at = {t: [i for i, x in enumerate(types) if x == t] for t in "abc"}
    expected = sorted(
        ((i, j, k) for i in at["a"] for j in at["b"] if j > i for k in at["c"] if k > j),
        key=lambda t: (t[2], t[0], t[1]),
    )
    names = [f"{t}{i}" for i, t in enumerate(types)]
    assert [tuple(m.event_ids) for m in result.matches] == [
        (names[i], names[j], names[k]) for i, j, k in expected
    ]
