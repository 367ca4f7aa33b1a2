"""Per-match explanations, one hand-computed case per kind.

Events use the matcher harness notation (ids 1.., ``ts`` in seconds after 2024-01-01T00:00Z).
Each case states the expected timeline (fields read, clause truth) and the state snapshot
numbers, worked out from the events by hand in the comment above it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cep.explain import explain_match, explain_result
from cep.matcher import find_matches
from cep.model import parse_pattern
from tests.matcher.harness import at, events


def explain_all(spec, df):
    pattern = parse_pattern({"name": "p", **spec})
    return explain_result(pattern, df, find_matches(pattern, df))


def clauses(entry):
    return [(c.text, c.value) for c in entry.clauses]


def test_match_recognize_timeline_shows_each_define_clause_and_the_window_left():
    # A B+ C+ over 10 8 7 9 10: A=1, B=2,3 (falling), C=4,5 (rising); span 4 s of 10 s.
    [e] = explain_all({"kind": "match_recognize", "pattern": "A B+ C+", "within": "10s",
                       "define": {"B": "price < PREV(price) AND price > 0",
                                  "C": "price > PREV(price)"}},
                      events("price: 10 8 7 9 10"))
    assert [t.step for t in e.timeline] == ["A", "B", "B", "C", "C"]
    assert clauses(e.timeline[0]) == []
    assert clauses(e.timeline[1]) == [("price < PREV(price)", True), ("price > 0", True)]
    assert e.timeline[3].fields == {"price": 9}
    assert clauses(e.timeline[3]) == [("price > PREV(price)", True)]
    assert e.state_snapshot["variables"] == {"A": 1, "B": 2, "C": 2}
    assert e.state_snapshot["match_number"] == 1
    assert (e.state_snapshot["span_s"], e.state_snapshot["window_left_s"]) == (4.0, 6.0)
    assert e.state_snapshot["window_end"] == at(10)


def test_match_recognize_path_dependent_clauses_use_the_match_bindings():
    # B's running average (9, then (9+11)/2 = 10) must exceed A.price = 8.
    [e] = explain_all({"kind": "match_recognize", "pattern": "A B+",
                       "define": {"A": "price < 9", "B": "AVG(B.price) > A.price"}},
                      events("price: 8 9 11"))
    assert [t.step for t in e.timeline] == ["A", "B", "B"]
    assert clauses(e.timeline[2]) == [("AVG(B.price) > A.price", True)]
    assert e.timeline[2].fields == {"price": 11}


def test_sequence_timeline_reads_earlier_steps_and_snapshot_counts_loop_events():
    # fail{2,} then ok with amount > the last fail's amount (7): 9 > 7. Span 3 s of 10 s.
    [e] = explain_all({"kind": "sequence", "within": "10s", "steps": [
        {"name": "fail", "where": "t = 'f'", "times": {"min": 2, "max": None}},
        {"name": "ok", "where": "t = 'ok' AND amount > fail.amount"}]},
        events("t: f f x ok", "amount: 5 7 0 9"))
    assert e.event_ids == (1, 2, 4)
    assert clauses(e.timeline[2]) == [("t = 'ok'", True), ("amount > fail.amount", True)]
    assert e.timeline[2].fields == {"t": "ok", "amount": 9}
    assert e.state_snapshot["steps"] == [
        {"step": "fail", "events": 2, "times_min": 2, "times_max": None},
        {"step": "ok", "events": 1, "times_min": 1, "times_max": 1}]
    assert e.state_snapshot["step_index_per_event"] == [1, 1, 2]
    assert (e.state_snapshot["span_s"], e.state_snapshot["window_left_s"]) == (3.0, 7.0)


def test_count_threshold_snapshot_counts_the_window_at_the_match_and_just_before():
    # failed at 0, 1, 9, 11 (2 s is ok): at 9 s the window (-1 s, 9 s] holds 0, 1, 9 -> 3;
    # just before 9 s it held 2. The event of 0 s leaves at 10 s.
    [e] = explain_all({"kind": "count_threshold", "threshold": 3, "window": "10s",
                       "where": "status = 'failed'"},
                      events("ts: 0 1 2 9 11", "status: failed failed ok failed failed"))
    assert e.event_ids == (1, 2, 4)
    assert [clauses(t) for t in e.timeline] == [[("status = 'failed'", True)]] * 3
    snap = e.state_snapshot
    assert (snap["count"], snap["count_just_before"], snap["threshold"]) == (3, 2, 3)
    assert (snap["window_start"], snap["window_end"]) == (at(-1), at(9))
    assert snap["first_event_leaves_at"] == at(10)


def test_count_threshold_tumbling_snapshot_names_the_epoch_aligned_window():
    [e] = explain_all({"kind": "count_threshold", "threshold": 2, "window": "10s",
                       "window_type": "tumbling"}, events("ts: 1 5 12 31"))
    snap = e.state_snapshot
    assert (snap["window_start"], snap["window_end"], snap["count"]) == (at(0), at(10), 2)


def test_velocity_snapshot_gives_sum_and_rate_now_and_just_before():
    # 40 + 50 + 20 = 110 per minute at 30 s; just before 30 s only 40 + 50 = 90.
    [e] = explain_all({"kind": "velocity", "value_field": "amount", "threshold": 100,
                       "per": "minute", "window": "1m"},
                      events("ts: 0 20 30", "amount: 40 50 20"))
    snap = e.state_snapshot
    assert (snap["count"], snap["sum"], snap["rate"]) == (3, 110.0, 110.0)
    assert (snap["count_just_before"], snap["sum_just_before"], snap["rate_just_before"]) == (
        2, 90.0, 90.0)
    assert e.timeline[0].fields == {"amount": 40}


def test_trend_timeline_checks_each_step_and_snapshot_measures_the_open_run():
    # 5 then 1 2 3 4: the run starts at 1 (id 2; 1 > 5 fails), matches at 3, runs on to 4.
    [e] = explain_all({"kind": "trend", "value_field": "x", "direction": "up", "count": 3},
                      events("x: 5 1 2 3 4"))
    assert e.event_ids == (2, 3, 4)
    assert [clauses(t) for t in e.timeline] == [
        [("x > PREV(x)", False)], [("x > PREV(x)", True)], [("x > PREV(x)", True)]]
    snap = e.state_snapshot
    assert snap["run_start"] == {"event_id": 2, "time": at(1)}
    assert (snap["run_length_at_match"], snap["run_length"], snap["run_open"]) == (3, 4, True)
    assert (snap["first"], snap["last"], snap["change"]) == (1.0, 3.0, 2.0)


def test_outlier_snapshot_recomputes_the_baseline_statistics():
    # Baseline of 30 (at 3 s) is 10 12 11: mean 11, sample std 1, z = 19.
    [e] = explain_all({"kind": "outlier", "value_field": "x", "threshold": 3, "baseline": "10s",
                       "min_samples": 3}, events("x: 10 12 11 30"))
    snap = e.state_snapshot
    assert (snap["samples"], snap["mean"], snap["std"], snap["score"]) == (3, 11.0, 1.0, 19.0)
    assert snap["value"] == 30.0


def test_session_snapshot_says_what_closed_the_session():
    # 0 and 4 s form a session; 30 s is 26 s later (> 10 s gap): closed by the gap at 14 s.
    [e] = explain_all({"kind": "session", "gap": "10s", "having": "event_count >= 2"},
                      events("ts: 0 4 30"))
    snap = e.state_snapshot
    assert (snap["event_count"], snap["duration_s"], snap["closed_by"]) == (2, 4.0, "gap")
    assert (snap["deadline"], snap["next_event"], snap["gap_after_s"]) == (at(14), at(30), 26.0)


def test_dedup_snapshot_gives_the_first_occurrence_and_the_duplicate_number():
    # a at 0 is kept; a at 3 and a at 5 are its duplicates 1 and 2.
    first, second = explain_all({"kind": "dedup", "fields": ["msg"], "window": "10s"},
                                events("ts: 0 3 5", "msg: a a a"))
    assert second.state_snapshot["first_occurrence"] == {"event_id": 1, "time": at(0)}
    assert (second.state_snapshot["gap_s"], second.state_snapshot["window_left_s"]) == (5.0, 5.0)
    assert (first.state_snapshot["duplicate_number"],
            second.state_snapshot["duplicate_number"]) == (1, 2)
    assert second.timeline[1].fields == {"msg": "a"}


def test_geofence_timeline_tests_inside_and_snapshot_gives_distances():
    # 0.1° and 0.001° of latitude from the centre: 11,119.5 m and 111.2 m (R = 6,371,008.8 m).
    [e] = explain_all({"kind": "geofence", "trigger": "enter",
                       "shape": {"type": "circle", "center": {"lat": 0, "lon": 0},
                                 "radius_m": 1000}},
                      events("lat: 0.1 0.001", "lon: 0 0"))
    assert [c.value for t in e.timeline for c in t.clauses] == [False, True]
    assert e.state_snapshot["inside"] == [False, True]
    assert [round(d, 1) for d in e.state_snapshot["distance_m"]] == [11119.5, 111.2]
    assert [round(d, 1) for d in e.state_snapshot["boundary_distance_m"]] == [10119.5, 888.8]


def test_geofence_polygon_snapshot_gives_the_distance_to_the_outline_in_metres():
    # A square of ±0.01° around (0, 0); 0.001° of latitude is 111.2 m (R = 6,371,008.8 m).
    square = [{"lat": -0.01, "lon": -0.01}, {"lat": -0.01, "lon": 0.01},
              {"lat": 0.01, "lon": 0.01}, {"lat": 0.01, "lon": -0.01}]
    [e] = explain_all({"kind": "geofence", "trigger": "enter",
                       "shape": {"type": "polygon", "vertices": square}},
                      events("lat: 0.011 0.009", "lon: 0 0"))
    assert e.state_snapshot["inside"] == [False, True]
    assert e.state_snapshot["distance_m"] is None
    assert [round(d, 1) for d in e.state_snapshot["boundary_distance_m"]] == [111.2, 111.2]


def test_temporal_correlation_snapshot_gives_both_sides_and_the_gap_left():
    [e] = explain_all({"kind": "temporal_correlation", "a": "type = 'fail'",
                       "b": "type = 'reset'", "max_gap": "5m", "correlate_on": ["user"]},
                      events("ts: 0 120", "user: u1 u1", "type: fail reset"))
    snap = e.state_snapshot
    assert snap["a"] == {"event_id": 1, "time": at(0)}
    assert snap["b"] == {"event_id": 2, "time": at(120)}
    assert (snap["gap_s"], snap["gap_left_s"]) == (120.0, 180.0)
    assert [clauses(t) for t in e.timeline] == [[("type = 'fail'", True)],
                                               [("type = 'reset'", True)]]


def test_heartbeat_snapshot_measures_the_silence_against_the_timeout():
    # 5 s + 10 s = 15 s < 20 s: dead after event 2, silent for 15 s.
    [e] = explain_all({"kind": "heartbeat", "interval": "10s"}, events("ts: 0 5 20"))
    snap = e.state_snapshot
    assert (snap["last_seen"], snap["deadline"], snap["next_event"]) == (at(5), at(15), at(20))
    assert (snap["silence_s"], snap["timeout_s"]) == (15.0, 10.0)


def test_state_machine_timeline_shows_the_transition_condition_taken():
    matches = explain_all({"kind": "state_machine", "states": ["new", "paid", "done"],
                           "initial": "new", "terminal": ["done"],
                           "transitions": [{"from": "new", "to": "paid", "when": "type = 'pay'"},
                                           {"from": "paid", "to": "done",
                                            "when": "type = 'ship'"}]},
                          events("type: pay ship"))
    done = matches[1]
    assert clauses(done.timeline[0]) == [("type = 'ship'", True)]
    assert done.timeline[0].fields == {"type": "ship"}
    snap = done.state_snapshot
    assert (snap["previous_state"], snap["current_state"], snap["terminal"]) == (
        "paid", "done", True)


def test_absence_snapshot_says_when_the_expected_event_came_too_late():
    # Order at 0, timeout 10 s, paid only at 15 s: 5 s late.
    [e] = explain_all({"kind": "absence", "trigger": "type = 'order'",
                       "expected": "type = 'paid'", "timeout": "10s"},
                      events("ts: 0 15", "type: order paid"))
    snap = e.state_snapshot
    assert (snap["deadline"], snap["expected_in_window"]) == (at(10), 0)
    assert snap["next_expected"] == {"event_id": 2, "time": at(15)}
    assert snap["late_by_s"] == 5.0
    assert clauses(e.timeline[0]) == [("type = 'order'", True)]


def test_payloads_hold_every_field_of_each_bound_event_as_given():
    df = events("price: 10 8 9", "note: a b c")
    pattern = parse_pattern({"kind": "match_recognize", "name": "p", "pattern": "A B C",
                             "define": {"B": "price < PREV(price)"}})
    e = explain_match(pattern, df, find_matches(pattern, df).matches[0])
    assert e.matched_event_payloads == tuple(
        {"id": i, "ts": at(i - 1), "price": p, "note": n}
        for i, p, n in ((1, 10, "a"), (2, 8, "b"), (3, 9, "c")))
    assert e.more_events == 0


def test_explanations_follow_the_result_order_across_keys():
    df = events("k: x y x y", "v: 1 1 2 2")
    pattern = parse_pattern({"kind": "trend", "name": "p", "partition_by": ["k"],
                             "value_field": "v", "direction": "up", "count": 2})
    result = find_matches(pattern, df)
    explained = explain_result(pattern, df, result)
    assert [(e.key, e.event_ids) for e in explained] == [({"k": "x"}, (1, 3)),
                                                         ({"k": "y"}, (2, 4))]
    assert explained[1].state_snapshot["run_start"]["time"] == at(1)


@pytest.mark.parametrize("rows", [0, 3], ids=["no matches", "three matches"])
def test_explain_result_returns_one_explanation_per_match(rows):
    df = events(price=[float(i % 2) for i in range(2 * rows + 1)]) if rows else events("price: 1")
    pattern = parse_pattern({"kind": "match_recognize", "name": "p", "pattern": "A B",
                             "define": {"B": "price > PREV(price)"}})
    assert len(explain_result(pattern, df, find_matches(pattern, df))) == rows


def test_match_time_and_step_appear_in_the_timeline():
    [e] = explain_all({"kind": "sequence", "steps": [{"name": "a", "where": "t = 'a'"},
                                                     {"name": "b", "where": "t = 'b'"}]},
                      events("t: a x b"))
    assert [(t.event_id, t.time, t.step) for t in e.timeline] == [
        (1, at(0), "a"), (3, at(0) + timedelta(seconds=2), "b")]
