"""The per-key runtime of generated jobs, without Spark: timers for deadlines, Spark's watermark
passed on, snapshots that continue exactly, and the end-of-stream row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd

from cep.codegen.runtime import END_OF_STREAM_COLUMN, KeyRunner, match_columns
from cep.model import dump_pattern
from tests.codegen.kinds import pattern

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def rows(*events: tuple[int, int, str], end: bool = False) -> pd.DataFrame:
    """Events (id, seconds after T0, event_type) of customer c1, as Spark hands them over."""
    frame = pd.DataFrame({
        "id": [e[0] for e in events],
        "ts": [(T0 + timedelta(seconds=e[1])).replace(tzinfo=None) for e in events],
        "customer_id": "c1",
        "event_type": [e[2] for e in events],
        END_OF_STREAM_COLUMN: end,
    })
    return frame


def runner() -> KeyRunner:
    return KeyRunner(dump_pattern(pattern("absence")), lateness_ms=60_000)


def test_absence_registers_a_timer_at_its_deadline_and_fires_when_spark_passes_it() -> None:
    r = runner()
    step = r.on_rows(None, [rows((1, 0, "add_to_cart"))], ("c1",), watermark_ms=0)
    assert step.matches.empty
    # the event waits for the watermark: the first timer is just after its time
    assert step.timer_ms == ms(T0) + 1
    step = r.on_timer(step.snapshot, ("c1",), watermark_ms=ms(T0) + 1)
    deadline = T0 + timedelta(minutes=30)
    assert step.timer_ms == ms(deadline) + 1
    assert step.matches.empty
    step = r.on_timer(step.snapshot, ("c1",), watermark_ms=ms(deadline) + 1)
    assert list(step.matches.columns) == match_columns(pattern("absence"))
    record = step.matches.to_dict("records")[0]
    assert (record["customer_id"], record["event_ids"], record["classifiers"]) == (
        "c1", ["1"], ["trigger"])
    assert record["start"] == pd.Timestamp("2024-01-01 00:00:00")
    assert json.loads(record["measures"]) == {"timeout_s": 1800.0}
    assert step.timer_ms is None


def test_expected_event_in_time_cancels_the_absence() -> None:
    r = runner()
    step = r.on_rows(None, [rows((1, 0, "add_to_cart"), (2, 60, "checkout"))], ("c1",), 0)
    step = r.on_timer(step.snapshot, ("c1",), ms(T0 + timedelta(hours=2)))
    assert step.matches.empty
    assert step.timer_ms is None


def test_end_of_stream_row_flushes_the_key_at_its_time() -> None:
    r = runner()
    step = r.on_rows(None, [rows((1, 0, "add_to_cart"))], ("c1",), 0)
    end = rows((0, 1800, "")).assign(id=None, event_type=None, **{END_OF_STREAM_COLUMN: True})
    step = r.on_rows(step.snapshot, [end], ("c1",), 0)
    assert step.snapshot is None
    assert step.timer_ms is None
    assert step.matches["event_ids"].tolist() == [["1"]]


def test_snapshot_restored_elsewhere_continues_the_same_way() -> None:
    first = runner()
    step = first.on_rows(None, [rows((1, 0, "add_to_cart"))], ("c1",), 0)
    fresh = runner()  # another worker: nothing cached
    later = ms(T0 + timedelta(hours=1))
    assert fresh.on_timer(step.snapshot, ("c1",), later).matches["event_ids"].tolist() == [["1"]]
    assert first.on_timer(step.snapshot, ("c1",), later).matches["event_ids"].tolist() == [["1"]]


def test_integer_columns_spark_turned_into_floats_are_integers_again() -> None:
    r = KeyRunner(dump_pattern(pattern("absence")), 60_000, int_columns=["id"])
    frame = rows((7, 0, "add_to_cart"))
    frame["id"] = frame["id"].astype("float64")
    step = r.on_rows(None, [frame], ("c1",), 0)
    step = r.on_timer(step.snapshot, ("c1",), ms(T0 + timedelta(hours=1)))
    assert step.matches["event_ids"].tolist() == [["7"]]


def test_within_patterns_get_a_timer_when_every_window_has_closed() -> None:
    p = pattern("match_recognize", within="10m", partition_by=["customer_id"],
                define={"B": "id > PREV(id)", "C": "id < PREV(id)"}, measures={})
    r = KeyRunner(dump_pattern(p), 0)
    step = r.on_rows(None, [rows((1, 0, "x"), (2, 1, "x"))], ("c1",), 0)
    last = T0 + timedelta(seconds=1)
    assert step.timer_ms == ms(last) + 1  # the last event waits for the watermark
    step = r.on_timer(step.snapshot, ("c1",), ms(last) + 1)
    assert step.timer_ms == ms(last + timedelta(minutes=10)) + 1


def test_the_shared_runner_is_one_per_worker_process_and_job() -> None:
    text = dump_pattern(pattern("absence"))
    assert KeyRunner.shared(text, 60_000, ["id"]) is KeyRunner.shared(text, 60_000, ("id",))
    assert KeyRunner.shared(text, 60_000) is not KeyRunner.shared(text, 0)


def test_a_cold_cache_resumes_from_the_stored_snapshot_exactly_like_the_live_matcher() -> None:
    p = pattern("sequence", partition_by=["customer_id"], within="5m",
                steps=[{"name": "A", "where": "event_type = 'a'"},
                       {"name": "B", "where": "event_type = 'b'"}])
    text = dump_pattern(p)
    batches = [[(1, 0, "a"), (2, 30, "x")], [(4, 90, "a"), (3, 60, "b")],
               [(5, 400, "b"), (6, 420, "a")]]
    warm = KeyRunner(text, 60_000)  # keeps the live matcher from call to call
    warm_snapshot = cold_snapshot = None
    watermark = 0
    found = []
    for events in batches:
        w = warm.on_rows(warm_snapshot, [rows(*events)], ("c1",), watermark)
        c = KeyRunner(text, 60_000).on_rows(cold_snapshot, [rows(*events)], ("c1",), watermark)
        assert (c.snapshot, c.timer_ms) == (w.snapshot, w.timer_ms)
        assert c.matches["event_ids"].tolist() == w.matches["event_ids"].tolist()
        found += w.matches["event_ids"].tolist()
        warm_snapshot, cold_snapshot = w.snapshot, c.snapshot
        # Spark's watermark for the next micro-batch: the latest time so far minus the delay
        watermark = ms(T0 + timedelta(seconds=max(e[1] for e in events) - 60))
    assert found == [["1", "3"]]  # 4 -> 5 is 310 s apart, past the 5-minute window


def test_a_retried_micro_batch_is_run_from_its_stored_snapshot_again() -> None:
    r = runner()
    first = r.on_rows(None, [rows((1, 0, "add_to_cart"))], ("c1",), 0)
    batch = [rows((2, 600, "add_to_cart"))]
    once = r.on_rows(first.snapshot, batch, ("c1",), 0)
    # Spark rolled the state back to `first` and runs the batch again: the live matcher has
    # moved on, so the runner must restore the stored snapshot, not reuse it
    again = r.on_rows(first.snapshot, batch, ("c1",), 0)
    assert (again.snapshot, again.timer_ms) == (once.snapshot, once.timer_ms)
    later = ms(T0 + timedelta(hours=1))
    assert r.on_timer(again.snapshot, ("c1",), later).matches["event_ids"].tolist() == [
        ["1"], ["2"]]


def test_rows_spread_over_several_frames_count_as_one_micro_batch() -> None:
    events = [(1, 0, "add_to_cart"), (2, 60, "checkout"), (3, 120, "add_to_cart")]
    one = runner().on_rows(None, [rows(*events)], ("c1",), 0)
    split = runner().on_rows(None, [rows(events[2]), rows(), rows(*events[:2])], ("c1",), 0)
    assert (split.snapshot, split.timer_ms) == (one.snapshot, one.timer_ms)


def test_end_of_stream_row_among_events_flushes_after_feeding_them() -> None:
    r = KeyRunner(dump_pattern(pattern("absence")), 60_000, int_columns=["id"])
    end = rows((0, 1800, "")).assign(id=None, event_type=None, **{END_OF_STREAM_COLUMN: True})
    frame = pd.concat([end, rows((1, 0, "add_to_cart"))], ignore_index=True)
    step = r.on_rows(None, [frame], ("c1",), 0)
    assert (step.snapshot, step.timer_ms) == (None, None)
    assert step.matches["event_ids"].tolist() == [["1"]]


def test_a_keys_stored_state_does_not_grow_with_expired_partial_matches() -> None:
    # "a then b within 1 minute": every a expires unmatched; the engine records each as a near
    # miss, which a job never reads, so the stored snapshot must stay the same size.
    p = pattern("sequence", partition_by=["customer_id"], within="1m", steps=[
        {"name": "a", "where": "event_type = 'a'"}, {"name": "b", "where": "event_type = 'b'"}])
    r = KeyRunner(dump_pattern(p), 0)
    snapshot, sizes = None, []
    for batch in range(30):
        t = batch * 300
        step = r.on_rows(snapshot, [rows((2 * batch, t, "a"), (2 * batch + 1, t + 120, "x"))],
                         ("c1",), ms(T0 + timedelta(seconds=t + 120)))
        assert len(step.matches) == 0
        snapshot = step.snapshot
        assert snapshot is not None
        sizes.append(len(snapshot))
    assert json.loads(snapshot)["engine"]["timed_out"] == []
    assert max(sizes[5:]) <= sizes[5] + 16  # numbers in the text may gain a digit


def test_forgetting_timed_out_partial_matches_changes_no_later_match() -> None:
    from cep.matcher import create_matcher, find_matches

    p = pattern("sequence", partition_by=["customer_id"], within="1m", steps=[
        {"name": "a", "where": "event_type = 'a'"}, {"name": "b", "where": "event_type = 'b'"}])
    frame = rows((1, 0, "a"), (2, 90, "a"), (3, 100, "b"), (4, 200, "a"), (5, 230, "b"))
    from cep.events import load_events

    events = load_events(frame.drop(columns=[END_OF_STREAM_COLUMN]), time_field="ts")
    expected = [(m.event_ids, m.classifiers) for m in find_matches(p, events).matches]
    matcher = create_matcher(p)
    got = []
    for i in range(events.height):
        got += matcher.feed(events.slice(i, 1))
        matcher.forget_timed_out()
    got += matcher.flush()
    assert [(m.event_ids, m.classifiers) for m in got] == expected == [([2, 3], ["a", "b"]),
                                                                      ([4, 5], ["a", "b"])]
    assert matcher.timed_out == []
