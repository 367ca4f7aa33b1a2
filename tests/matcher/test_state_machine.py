"""state_machine: guarded transitions per key, terminal states, state timeouts."""

from __future__ import annotations

import doctest
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds.state_machine import python_matches
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import state_machine as state_machine_module
from cep.model import parse_pattern
from tests.matcher.harness import at, events
from tests.matcher.test_absence import assert_stream_equals_batch, frames

# A door: closed -> open -> closed ..., locked is terminal; "open" times out into "alarm".
DOOR: dict[str, Any] = {
    "kind": "state_machine", "name": "door", "states": ["closed", "open", "alarm", "locked"],
    "initial": "closed", "terminal": ["locked"],
    "transitions": [
        {"from": "closed", "to": "open", "when": "type = 'open'"},
        {"from": "open", "to": "closed", "when": "type = 'close'"},
        {"from": "alarm", "to": "closed", "when": "type = 'close'"},
        {"from": "closed", "to": "locked", "when": "type = 'lock'"},
    ],
}


def machine(**fields: Any) -> Any:
    spec = dict(DOOR)
    spec.update(fields)
    return parse_pattern(spec)


def view(matches: Any) -> list[tuple[Any, ...]]:
    """(event_ids, classifiers, from, to, end second) per match."""
    return [(m.event_ids, " ".join(m.classifiers), m.measures["from"], m.measures["to"],
             (m.end - at(0)).total_seconds()) for m in matches]


def test_docstring_examples() -> None:
    failed, _ = doctest.testmod(state_machine_module)
    assert failed == 0


def test_each_transition_taken_is_a_match_with_from_and_to() -> None:
    df = events("type: open close lock")
    got = find_matches(machine(), df).matches
    assert view(got) == [([1], "open", "closed", "open", 0), ([2], "closed", "open", "closed", 1),
                         ([3], "locked", "closed", "locked", 2)]
    assert got[0].measures == {"from": "closed", "to": "open", "timed_out": False}
    assert got[0].start == got[0].end == at(0)


def test_unmatched_events_are_ignored_or_flagged() -> None:
    df = events("type: knock open knock")
    assert view(find_matches(machine(), df).matches) == [([2], "open", "closed", "open", 1)]
    flagged = find_matches(machine(on_unmatched="flag"), df).matches
    assert view(flagged) == [([1], "unmatched", "closed", "closed", 0),
                             ([2], "open", "closed", "open", 1),
                             ([3], "unmatched", "open", "open", 2)]


def test_the_first_listed_transition_wins_including_wildcards() -> None:
    transitions = [
        {"from": "*", "to": "alarm", "when": "force > 5"},
        {"from": "closed", "to": "open", "when": "type = 'open'"},
        {"from": "open", "to": "closed"},  # no condition: any event
    ]
    df = events("type: open open open", "force: 1 9 1")
    got = find_matches(machine(transitions=transitions), df).matches
    # open; then force 9 takes the wildcard to alarm (listed first); alarm has no way out.
    assert view(got) == [([1], "open", "closed", "open", 0), ([2], "alarm", "open", "alarm", 1)]


def test_a_null_condition_does_not_hold() -> None:
    df = events("type: open null close")
    got = find_matches(machine(on_unmatched="flag"), df).matches
    assert [m.classifiers for m in got] == [["open"], ["unmatched"], ["closed"]]


def test_equal_times_are_taken_in_input_order() -> None:
    got = find_matches(machine(on_unmatched="flag"), events("type: open close", "ts: 5 5")).matches
    assert [m.classifiers for m in got] == [["open"], ["closed"]]
    got = find_matches(machine(on_unmatched="flag"), events("type: close open", "ts: 5 5")).matches
    assert [m.classifiers for m in got] == [["unmatched"], ["open"]]


def test_the_first_event_of_a_key_starts_the_machine_and_can_move_it() -> None:
    p = machine(partition_by=["k"], emit="terminal")
    got = find_matches(p, events("type: lock lock", k=["a", "b"])).matches
    assert [(m.key, m.event_ids, m.classifiers) for m in got] == [
        ({"k": "a"}, [1], ["locked"]), ({"k": "b"}, [2], ["locked"])]


def test_a_transition_without_condition_takes_any_event() -> None:
    transitions = [{"from": "closed", "to": "open"}, {"from": "open", "to": "closed",
                                                       "when": "1 = 1"}]
    got = find_matches(machine(transitions=transitions), events("type: a b c")).matches
    assert [m.classifiers for m in got] == [["open"], ["closed"], ["open"]]


def test_no_events_no_matches() -> None:
    p = machine(timeout="5s", timeout_state="alarm")
    result = find_matches(p, events("type: open").head(0))
    assert list(result.matches) == []
    assert list(result.pending) == []


def test_a_terminal_state_ends_the_machine_and_the_next_event_restarts_it() -> None:
    df = events("type: lock open lock")
    got = find_matches(machine(), df).matches
    # After locked (terminal) the open restarts the machine at closed and takes closed -> open.
    assert view(got) == [([1], "locked", "closed", "locked", 0), ([2], "open", "closed", "open", 1)]


def test_emit_terminal_gives_one_match_per_completed_run() -> None:
    df = events("type: knock open close lock knock open")
    got = find_matches(machine(emit="terminal"), df).matches
    [run] = got
    assert (run.event_ids, run.classifiers) == ([1, 2, 3, 4], ["closed", "open", "closed", "locked"])
    assert (run.start, run.end) == (at(0), at(3))
    assert run.measures == {"from": "closed", "to": "locked", "timed_out": False,
                            "transitions": 3, "duration_s": 3.0}


def test_emit_all_gives_the_transition_then_the_run() -> None:
    df = events("type: open close lock")
    got = find_matches(machine(emit="all"), df).matches
    assert [m.event_ids for m in got] == [[1], [2], [3], [1, 2, 3]]


def test_a_state_held_past_its_timeout_moves_to_the_timeout_state_at_the_deadline() -> None:
    p = machine(timeout={"open": "10s"}, timeout_state="alarm")
    df = events("type: open knock close", "ts: 0 5 20")
    got = find_matches(p, df).matches
    assert view(got) == [([1], "open", "closed", "open", 0),
                         ([1], "open", "open", "alarm", 10),
                         ([3], "closed", "alarm", "closed", 20)]
    timeout = got[1]
    assert (timeout.start, timeout.measures) == (at(0), {"from": "open", "to": "alarm",
                                                         "timed_out": True, "timeout_s": 10.0})


def test_an_event_exactly_at_the_deadline_is_in_time() -> None:
    p = machine(timeout={"open": "10s"}, timeout_state="alarm")
    got = find_matches(p, events("type: open close", "ts: 0 10")).matches
    assert view(got) == [([1], "open", "closed", "open", 0), ([2], "closed", "open", "closed", 10)]


def test_a_deadline_equal_to_the_last_event_time_fires_at_the_end() -> None:
    p = machine(timeout={"open": "10s"}, timeout_state="alarm", partition_by=["k"])
    result = find_matches(p, events("type: open knock", "ts: 0 10", k=["a", "b"]))
    assert view(result.matches) == [([1], "open", "closed", "open", 0),
                                     ([1], "open", "open", "alarm", 10)]
    assert list(result.pending) == []


def test_a_self_loop_restarts_the_timer_an_unmatched_event_does_not() -> None:
    transitions = [*DOOR["transitions"], {"from": "open", "to": "open", "when": "type = 'push'"}]
    p = machine(transitions=transitions, timeout={"open": "10s"}, timeout_state="alarm")
    df = events("type: open push knock knock", "ts: 0 8 15 19")
    got = find_matches(p, df).matches
    # push at 8 re-enters open (deadline 18); the knocks change nothing; the deadline fires.
    assert view(got) == [([1], "open", "closed", "open", 0), ([2], "open", "open", "open", 8),
                         ([2], "open", "open", "alarm", 18)]


def test_a_global_timeout_spares_terminal_states_and_the_timeout_state() -> None:
    p = machine(timeout="10s", timeout_state="alarm")
    df = events("type: knock knock knock", "ts: 0 11 50")
    got = find_matches(p, df).matches
    # closed (entered at 0 by the first event) times out at 10; alarm never times out.
    assert view(got) == [([1], "closed", "closed", "alarm", 10)]


def test_a_timeout_into_a_terminal_state_ends_the_run() -> None:
    p = machine(timeout={"open": "10s"}, timeout_state="locked", emit="all")
    df = events("type: open knock open", "ts: 0 30 31")
    got = find_matches(p, df).matches
    assert view(got) == [([1], "open", "closed", "open", 0), ([1], "open", "open", "locked", 10),
                         ([1], "open", "closed", "locked", 10),
                         ([3], "open", "closed", "open", 31)]
    # The knock at 30 restarts the machine (it takes no transition); the open at 31 moves it.
    assert got[2].measures["timed_out"] is True
    assert got[2].measures["transitions"] == 2


def test_a_run_started_by_an_unmatched_event_lists_it_under_the_initial_state() -> None:
    p = machine(emit="terminal", timeout={"closed": "5s"}, timeout_state="locked")
    got = find_matches(p, events("type: knock knock", "ts: 0 9")).matches
    assert [(m.event_ids, m.classifiers, m.end) for m in got] == [([1], ["closed"], at(5))]


def test_timeouts_use_event_time_of_the_whole_stream_and_pending_the_rest() -> None:
    p = machine(partition_by=["k"], timeout={"open": "10s"}, timeout_state="alarm")
    df = events("type: open open knock", "ts: 0 5 12", k=["a", "b", "c"])
    result = find_matches(p, df)
    assert [(m.key["k"], m.measures["to"]) for m in result.matches] == [
        ("a", "open"), ("a", "alarm"), ("b", "open")]
    [pending] = result.pending
    assert (pending.key, pending.step_reached, pending.event_ids, pending.started,
            pending.ended, pending.reason) == ({"k": "b"}, "open", [2], at(5), at(15), "pending")


def test_stream_timeouts_fire_when_the_watermark_passes() -> None:
    p = machine(timeout={"open": "10s"}, timeout_state="alarm", partition_by=["k"])
    matcher = create_matcher(p)
    assert view(matcher.feed(events("type: open", "ts: 0", k=["a"]))) == []
    got = matcher.feed(events("type: knock", "ts: 10", k=["b"], id=[2]))
    assert view(got) == [([1], "open", "closed", "open", 0)]
    got = matcher.feed(events("type: knock", "ts: 10.5", k=["b"], id=[3]))
    assert view(got) == [([1], "open", "open", "alarm", 10)]
    assert view(matcher.flush()) == []


def test_flush_now_and_advance_watermark_fire_timeouts() -> None:
    p = machine(timeout={"open": "10s"}, timeout_state="alarm")
    matcher = create_matcher(p)
    matcher.feed(events("type: open", "ts: 0"))
    assert view(matcher.advance_watermark(at(5))) == [([1], "open", "closed", "open", 0)]
    assert view(matcher.flush(now=at(10))) == [([1], "open", "open", "alarm", 10)]
    assert matcher.pending_matches == []


def test_late_events_are_not_fed_to_the_machine() -> None:
    matcher = create_matcher(machine(), allowed_lateness=timedelta(seconds=1))
    got = matcher.feed(events("type: open knock", "ts: 0 10"))
    got += matcher.feed(events("type: close", "ts: 5", id=[3]))
    assert matcher.late_events.get_column("id").to_list() == [3]
    assert view(got + matcher.flush()) == [([1], "open", "closed", "open", 0)]


def test_missing_fields_and_type_errors_are_event_data_errors() -> None:
    with pytest.raises(EventDataError, match=r"'type'.*transitions\[0\]"):
        find_matches(machine(), events("x: 1"))
    with pytest.raises(EventDataError, match="same type"):
        find_matches(machine(), events("type: 1 2"))


@pytest.mark.parametrize(("fields", "message"), [
    ({"initial": "nowhere"}, "unknown state"),
    ({"terminal": ["closed"]}, "initial state cannot be terminal"),
    ({"timeout": "5s"}, "timeout_state"),
    ({"emit": "terminal", "terminal": []}, "terminal"),
], ids=["unknown initial", "terminal initial", "timeout without state", "emit terminal"])
def test_bad_patterns_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(PatternError, match=message):
        machine(**fields)


RANDOM_SPECS: list[dict[str, Any]] = [
    {},
    {"partition_by": ["k"], "on_unmatched": "flag", "emit": "all"},
    {"partition_by": ["k"], "timeout": {"open": "7s"}, "timeout_state": "alarm"},
    {"partition_by": ["k"], "timeout": "5s", "timeout_state": "locked", "emit": "all",
     "on_unmatched": "flag"},
    {"partition_by": ["k"], "timeout": {"open": "3s", "closed": "9s"},
     "timeout_state": "alarm", "emit": "terminal",
     "transitions": [*DOOR["transitions"], {"from": "*", "to": "open", "when": "type = 'push'"},
                     {"from": "open", "to": "open"}]},
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames({"type": ["open", "close", "lock", "push", "knock"]}), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(df: pl.DataFrame, data: Any) -> None:
    pattern = machine(**data.draw(st.sampled_from(RANDOM_SPECS)))
    cuts = data.draw(st.lists(st.integers(0, df.height), max_size=6))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    result = assert_stream_equals_batch(pattern, df, cuts, snapshot_at)
    expected = [(m.key, list(m.event_ids), list(m.classifiers)) for m in result.matches]
    assert python_matches(pattern, df) == expected
