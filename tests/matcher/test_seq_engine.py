"""Engine-level tests of the ``sequence`` matcher: streaming state, time, buffers, compilation.

The semantic examples of SEMANTICS.md §2 live in ``test_seq_*.py`` (against the reference too);
this file checks the internals of ``cep.matcher.sequence.SequenceEngine``: that its state
survives JSON mid-stream, that chunks may split keys anywhere, how windows time runs out
(``timed_out``, trailing ``not_followed_by``, ``finish(now)``), and that the kernel's fixed
buffers, string codes and node collection do not change results.
"""

from __future__ import annotations

import doctest
import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from cep.errors import UnsupportedFeature
from cep.matcher import nfa
from cep.matcher import sequence as sequence_module
from cep.matcher.sequence import SequenceEngine, find_sequence_matches
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk
from cep.model import SequencePattern, parse_pattern
from cep.results import Match
from tests.matcher.harness import BASE_TIME, events

A = {"name": "a", "where": "type = 'a'"}
B = {"name": "b", "where": "type = 'b'"}


def pattern(steps: list[dict[str, Any]], skip: str = "NO_SKIP", **fields: Any) -> SequencePattern:
    value = {"kind": "sequence", "name": "p", "steps": steps, "after_match_skip": skip, **fields}
    result = parse_pattern(value)
    assert isinstance(result, SequencePattern)
    return result


def us(seconds: float) -> int:
    return int((BASE_TIME + timedelta(seconds=seconds)).timestamp() * 1_000_000)


def stamped(df: pl.DataFrame, partition_by: list[str]) -> tuple[pl.DataFrame, dict[int, Any]]:
    """``df`` with ``__key`` (first appearance) and ``__seq`` (row number), as the stream adds."""
    if partition_by:
        first = df.select(partition_by).unique(maintain_order=True).with_row_index(KEY_COL)
        keys = {int(r[KEY_COL]): {c: r[c] for c in partition_by}
                for r in first.iter_rows(named=True)}
        df = df.join(first.with_columns(pl.col(KEY_COL).cast(pl.Int64)), on=partition_by,
                     how="left", maintain_order="left")
    else:
        keys = {0: {}}
        df = df.with_columns(pl.lit(0, dtype=pl.Int64).alias(KEY_COL))
    return df.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(SEQ_COL)), keys


def chunks(df: pl.DataFrame, partition_by: list[str], cuts: list[int]) -> list[Chunk]:
    """Final-event chunks of a time-ordered ``df`` split at ``cuts`` (watermark: next time)."""
    frame, keys = stamped(df, partition_by)
    bounds = [0, *cuts, frame.height]
    times = frame.get_column("ts").dt.epoch("us").to_list()
    out = []
    for a, b in itertools.pairwise(bounds):
        part = frame.slice(a, b - a).sort(KEY_COL, "ts", SEQ_COL)
        watermark = times[b] if b < len(times) else times[-1]
        seen = {k: v for k, v in keys.items() if k in set(frame.slice(0, b)[KEY_COL].to_list())}
        out.append(Chunk(part, seen, watermark, "id", "ts"))
    return out


def view(matches: list[Match] | Any) -> list[tuple[Any, ...]]:
    return [(tuple(m.key.values()), list(m.event_ids), list(m.classifiers), m.start, m.end)
            for m in matches]


def streamed(p: SequencePattern, df: pl.DataFrame, cuts: list[int], *,
             restore_at: int | None = None, now_us: int | None = None,
             ) -> tuple[list[Match], SequenceEngine]:
    engine = SequenceEngine(p)
    out: list[Match] = []
    for i, chunk in enumerate(chunks(df, list(p.partition_by), cuts)):
        if i == restore_at:
            state = json.loads(json.dumps(engine.state(), allow_nan=False))
            engine = SequenceEngine.from_state(p, state)
        out += engine.process(chunk)
    out += engine.finish(now_us)
    return out, engine


def partials(items: Any) -> Counter[tuple[Any, ...]]:
    return Counter((tuple(p.key.items()), tuple(p.event_ids), tuple(p.classifiers),
                    p.step_reached, p.started, p.ended, p.reason) for p in items)


def per_key(matches: list[Match]) -> dict[Any, list[tuple[Any, ...]]]:
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for row in view(matches):
        grouped.setdefault(row[0], []).append(row)
    return grouped


def market(n: int = 240, keys: int = 3, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return events(
        k=[f"k{i}" for i in rng.integers(0, keys, n)],
        type=list(rng.choice(list("abcd"), n)),
        price=[int(x) for x in rng.integers(0, 10, n)],
    )


PATTERNS = {
    "relaxed-past-last": pattern([A, B], "PAST LAST EVENT", within="20s", partition_by=["k"]),
    "iterative-loop": pattern(
        [{**A, "times": {"min": 1, "max": None}, "where": "type = 'a' AND SUM(a.price) < 20"},
         {"name": "b", "where": "type = 'b' AND price > LAST(a.price)"}],
        "SKIP TO LAST a", within="30s", partition_by=["k"]),
    "any-with-negation": pattern(
        [A, {"name": "n", "where": "type = 'c'", "negated": "not_followed_by"},
         {**B, "contiguity": "any"}], within="15s", partition_by=["k"]),
    "trailing-not-followed-by": pattern(
        [A, {"name": "n", "where": "type = 'c'", "negated": "not_followed_by"}],
        "PAST LAST EVENT", within="12s", partition_by=["k"]),
    "greedy-until": pattern(
        [{"name": "c", "where": "type = 'c'"},
         {**A, "times": {"min": 1, "max": None}, "greedy": True, "until": "price > 7",
          "loop_contiguity": "relaxed"}, {**B, "contiguity": "relaxed"}],
        "SKIP TO NEXT", within="25s"),
}


@pytest.mark.parametrize("name", list(PATTERNS))
@pytest.mark.parametrize("restore_at", [1, 2, 3])
def test_state_through_json_mid_stream_continues_like_the_batch(name: str, restore_at: int) -> None:
    p = PATTERNS[name]
    df = market()
    cuts = [37, 90, 91, 200]
    batch = find_sequence_matches(p, df)
    straight, uninterrupted = streamed(p, df, cuts)
    got, restored = streamed(p, df, cuts, restore_at=restore_at)
    assert view(got) == view(straight)
    assert per_key(got) == per_key(list(batch.matches))
    # Which runs time out (rather than being pruned by a match that their expiry released)
    # depends on when time advances, so the restored stream is compared with the same stream.
    assert partials(restored.timed_out) == partials(uninterrupted.timed_out)
    assert partials(restored.pending) == partials(uninterrupted.pending)


def test_state_is_plain_json() -> None:
    p = PATTERNS["iterative-loop"]
    engine = SequenceEngine(p)
    for chunk in chunks(market(), ["k"], [100])[:1]:
        engine.process(chunk)
    state = engine.state()
    assert json.loads(json.dumps(state, allow_nan=False)) == state
    assert state["runs"], "open runs are part of the state"


@pytest.mark.parametrize("cuts", [[1], [5, 6, 7], list(range(1, 24, 2)), [23]],
                         ids=["first", "middle", "every-other", "last"])
def test_chunks_may_split_keys_anywhere(cuts: list[int]) -> None:
    # Key "late" appears only after several chunks; "x" events separate each key's a and b.
    df = events(
        k=["p", "q", "p", "q", "p", "q", "late", "p", "late", "q", "late", "p", "q", "late",
           "p", "q", "p", "late", "q", "p", "q", "late", "p", "q"],
        type=list("aabxbbaabbxaaaxbaabbbbab"),
    )
    p = pattern([A, {**B, "contiguity": "any"}], within="8s", partition_by=["k"])
    batch = find_sequence_matches(p, df)
    got, _ = streamed(p, df, cuts)
    assert per_key(got) == per_key(list(batch.matches))
    assert len(batch.matches) >= 6


def test_timed_out_runs_report_the_step_reached_and_start_plus_within() -> None:
    p = pattern([A, B, {"name": "c", "where": "type = 'c'"}], within="5s")
    df = events("type: a b x x", ts=[0, 1, 4, 9])
    result = find_sequence_matches(p, df)
    assert list(result.matches) == []
    [partial] = result.timed_out
    assert (partial.step_reached, partial.event_ids) == ("b", [1, 2])
    assert partial.classifiers == ["a", "b"]
    assert partial.started == BASE_TIME
    assert partial.ended == BASE_TIME + timedelta(seconds=5)
    assert partial.reason == "window expired"


def test_every_branch_times_out_on_its_own() -> None:
    # Under followedByAny the run keeps waiting at {a} after taking b1: both {a} and {a b1}
    # are open when the window closes, and both are reported.
    p = pattern([A, {**B, "contiguity": "any"}, {"name": "c", "where": "type = 'c'"}],
                within="5s")
    result = find_sequence_matches(p, events("type: a b x", ts=[0, 1, 6]))
    assert sorted(t.event_ids for t in result.timed_out) == [[1], [1, 2]]


def test_window_bound_is_exclusive() -> None:
    p = pattern([A, B], within="5s")
    df = events("type: a b a b", ts=[0, 4.999999, 10, 15])
    assert [m.event_ids for m in find_sequence_matches(p, df).matches] == [[1, 2]]


def test_watermark_expires_windows_of_keys_without_new_events() -> None:
    p = pattern([A, B], within="5s", partition_by=["k"])
    engine = SequenceEngine(p)
    [chunk] = chunks(events(k=["p", "q"], type=["a", "a"], ts=[0, 1]), ["k"], [])
    assert engine.process(Chunk(chunk.frame, chunk.keys, us(1), "id", "ts")) == []
    assert list(engine.timed_out) == []
    assert engine.on_time(us(5.5)) == []
    assert [t.event_ids for t in engine.timed_out] == [[1]]
    engine.on_time(us(6))
    assert [t.key for t in engine.timed_out] == [{"k": "p"}, {"k": "q"}]


TRAILING = pattern([A, {"name": "n", "where": "type = 'c'", "negated": "not_followed_by"}],
                   within="10s")


def test_trailing_not_followed_by_waits_at_the_end_of_the_stream() -> None:
    df = events("type: a x", ts=[0, 3])
    got, engine = streamed(TRAILING, df, [])
    assert got == []
    assert [(p.event_ids, p.reason, p.ended) for p in engine.pending] == [
        ([1], "pending", BASE_TIME + timedelta(seconds=10))]
    batch = find_sequence_matches(TRAILING, df)
    assert list(batch.matches) == []
    assert [p.event_ids for p in batch.pending] == [[1]]


def test_trailing_not_followed_by_completes_when_now_passes_the_window() -> None:
    df = events("type: a x", ts=[0, 3])
    early, _ = streamed(TRAILING, df, [], now_us=us(9.9))
    assert early == []
    done, engine = streamed(TRAILING, df, [], now_us=us(10))
    assert view(done) == [((), [1], ["a"], BASE_TIME, BASE_TIME)]
    assert engine.pending == []
    assert list(engine.timed_out) == []


def test_trailing_not_followed_by_dies_on_a_forbidden_event_before_the_deadline() -> None:
    df = events("type: a c a x", ts=[0, 9, 10, 21])
    assert [m.event_ids for m in find_sequence_matches(TRAILING, df).matches] == [[3]]


def test_held_back_match_is_released_when_the_earlier_run_expires() -> None:
    # PAST LAST EVENT: {a(1) b(3)} completes first but waits for the earlier run {a(5)};
    # when that run's window closes, the held match comes out.
    p = pattern([A, {"name": "b", "where": "type = 'b' AND price > a.price"}],
                "PAST LAST EVENT", within="10s")
    df = events("type: a a b x", price=[5, 1, 3, 0], ts=[0, 1, 2, 12])
    result = find_sequence_matches(p, df)
    assert [m.event_ids for m in result.matches] == [[2, 3]]
    assert [t.event_ids for t in result.timed_out] == [[1]]
    got, _ = streamed(p, df.head(3), [], now_us=us(10))
    assert [m.event_ids for m in got] == [[2, 3]]
    held, _ = streamed(p, df.head(3), [])
    assert held == []


def test_self_reference_sees_the_current_event_other_steps_only_accepted_ones() -> None:
    # The module docstring's example: the run from F(40) cannot take F(30) (its sum would be
    # 120), so it dies; the run from F(50) takes F(30) (sum 80), and O(45) > LAST(fail) = 30.
    p = pattern([{"name": "fail", "where": "type = 'F' AND SUM(fail.amount) <= 100",
                  "times": {"min": 2, "max": None}, "loop_contiguity": "strict"},
                 {"name": "ok", "where": "amount > LAST(fail.amount)", "contiguity": "strict"}],
                "PAST LAST EVENT")
    df = events("type: F F F O", amount=[40, 50, 30, 45])
    assert [(m.event_ids, m.classifiers) for m in find_sequence_matches(p, df).matches] == [
        ([2, 3, 4], ["fail", "fail", "ok"])]


def test_until_with_followed_by_any_restarts_after_the_stop_event() -> None:
    # Flink UntilConditionITCase: c followedByAny a+ until(price = 5).
    p = pattern([{"name": "c", "where": "type = 'c'"},
                 {"name": "a", "where": "type = 'a'", "contiguity": "any",
                  "times": {"min": 1, "max": None}, "until": "price = 5"}])
    df = events("type: c a a a a", price=[1, 2, 3, 5, 6], id=[40, 41, 42, 44, 45])
    got = sorted(m.event_ids for m in find_sequence_matches(p, df).matches)
    assert got == [[40, 41], [40, 41, 42], [40, 42], [40, 45]]


def test_iterative_until_sees_only_accepted_events() -> None:
    # Flink UntilConditionITCase: until(sum of middle prices so far = 6).
    p = pattern([{"name": "c", "where": "type = 'c'"},
                 {"name": "middle", "times": {"min": 1, "max": None},
                  "until": "SUM(middle.price) = 6"}])
    df = events("type: c a a d a a", price=[1, 2, 3, 1, 5, 6])
    got = sorted(m.event_ids for m in find_sequence_matches(p, df).matches)
    assert got == [[1, 2], [1, 2, 3], [1, 2, 3, 4]]


def test_docs_skip_table_uses_a_consecutive_greedy_loop() -> None:
    # The Flink docs' `b+ c` table is `b.oneOrMore().consecutive().greedy()` then `next(c)`.
    steps = [{"name": "b", "where": "type = 'b'", "times": {"min": 1, "max": None},
              "loop_contiguity": "strict", "greedy": True},
             {"name": "c", "where": "type = 'c'", "contiguity": "strict"}]
    df = events("type: b b b c")
    got = {skip: [m.event_ids for m in find_sequence_matches(pattern(steps, skip), df).matches]
           for skip in ("NO_SKIP", "SKIP TO NEXT", "PAST LAST EVENT", "SKIP TO FIRST b",
                        "SKIP TO LAST b")}
    assert got == {
        "NO_SKIP": [[1, 2, 3, 4], [2, 3, 4], [3, 4]],
        "SKIP TO NEXT": [[1, 2, 3, 4], [2, 3, 4], [3, 4]],
        "PAST LAST EVENT": [[1, 2, 3, 4]],
        "SKIP TO FIRST b": [[1, 2, 3, 4], [2, 3, 4], [3, 4]],
        "SKIP TO LAST b": [[1, 2, 3, 4], [3, 4]],
    }


def test_kernel_buffers_start_tiny_and_grow_without_changing_results(monkeypatch: Any) -> None:
    p = PATTERNS["any-with-negation"]
    df = market(400, keys=2)
    expected = find_sequence_matches(p, df)
    statuses: list[int] = []
    original = nfa.run_chunk

    def spy(*args: Any) -> Any:
        out = original(*args)
        statuses.append(int(out[0]))
        return out

    monkeypatch.setattr(nfa, "run_chunk", spy)
    engine = SequenceEngine(p)
    engine._caps = [1, 1, 1, 1, 1, 1]
    engine.nodes = np.zeros((1, 4), dtype=np.int64)
    monkeypatch.setattr(engine, "_size_buffers", lambda n: engine._caps)
    monkeypatch.setattr("cep.matcher.sequence.SequenceEngine", lambda pattern, **_: engine)
    got = find_sequence_matches(p, df)
    assert view(got.matches) == view(expected.matches)
    assert partials(got.timed_out) == partials(expected.timed_out)
    for status in (nfa.FULL_RUNS, nfa.FULL_Q, nfa.FULL_EMITTED, nfa.FULL_TIMED_OUT,
                   nfa.FULL_NODES, nfa.FULL_OUT_RUNS):
        assert status in statuses
    assert statuses[-1] == nfa.OK


def test_text_codes_stay_ordered_when_later_chunks_bring_new_values() -> None:
    # `name > LAST(a.name)` compares text held in a run's registers: values first seen in a
    # later chunk must not reorder the codes of the values already held.
    p = pattern([{"name": "a", "where": "type = 'a'"},
                 {"name": "b", "where": "type = 'b' AND name > LAST(a.name)"}],
                within="1h")
    df = events(type=list("abababab"), name=["m", "a", "n", "z", "c", "b", "y", "x"])
    batch = find_sequence_matches(p, df)
    assert [m.event_ids for m in batch.matches] == [[1, 4], [3, 4], [5, 8]]
    for cuts in ([1], [1, 3, 5], [2, 4, 6]):
        got, _ = streamed(p, df, cuts)
        assert view(got) == view(batch.matches)


def test_long_streams_keep_only_the_nodes_open_runs_need() -> None:
    p = pattern([A, B], "PAST LAST EVENT", within="3s", partition_by=["k"])
    df = market(6000, keys=4, seed=3)
    got, engine = streamed(p, df, list(range(100, 6000, 100)))
    assert per_key(got) == per_key(list(find_sequence_matches(p, df).matches))
    engine.state()
    assert engine.n_nodes <= 4 * max(engine.runs.shape[0], 1) + 16
    assert engine.table is not None
    assert engine.table.height <= engine.n_nodes


def test_too_many_conditions_seen_at_once_is_refused() -> None:
    steps = [A] + [{"name": f"s{i}", "where": f"price = {i}", "optional": True}
                   for i in range(13)] + [B]
    with pytest.raises(UnsupportedFeature, match="too complex"):
        find_sequence_matches(pattern(steps), events("type: a b"))


def test_empty_and_time_typed_inputs() -> None:
    p = pattern([A, B], within="1m")
    empty = events(type=[]).cast({"type": pl.String})
    assert list(find_sequence_matches(p, empty).matches) == []
    naive = events("type: a b").with_columns(pl.col("ts").dt.replace_time_zone(None)
                                             .dt.cast_time_unit("ms"))
    [m] = find_sequence_matches(p, naive).matches
    assert m.start == datetime(2024, 1, 1)
    assert m.end == datetime(2024, 1, 1, 0, 0, 1)
    assert find_sequence_matches(p, events("type: a b")).matches[0].start == datetime(
        2024, 1, 1, tzinfo=UTC)


def test_module_docstring_examples() -> None:
    failed, _ = doctest.testmod(sequence_module)
    assert failed == 0
