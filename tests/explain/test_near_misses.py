"""Near misses: one case per reason (and per kind), in the matcher harness notation.

Events have ids 1.. and ``ts`` in seconds after 2024-01-01T00:00Z unless given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cep.errors import EventDataError
from cep.explain import REASONS, find_near_misses
from cep.model import parse_pattern
from tests.matcher.harness import at, events


def misses(spec, df, **kwargs):
    return find_near_misses(parse_pattern({"name": "p", **spec}), df, **kwargs)


def brief(found):
    return [(m.reason, m.event_ids, m.broken_by) for m in found]


AB = [{"name": "a", "where": "t = 'a'"}, {"name": "b", "where": "t = 'b'"}]


def test_sequence_window_expired_names_the_event_that_came_too_late():
    # b at 6 s is 6 s after a: the 5 s window (exclusive end) closed at 5 s.
    [m] = misses({"kind": "sequence", "within": "5s", "steps": AB}, events("ts: 0 1 6", "t: a x b"))
    assert (m.reason, m.event_ids, m.broken_by) == ("window_expired", (1,), 3)
    assert (m.step_reached, m.steps_done, m.steps_total) == ("a", 1, 2)
    assert "past the 5s window" in m.reason_text


def test_sequence_strict_contiguity_broken_by_the_very_next_event():
    steps = [AB[0], {**AB[1], "contiguity": "strict"}]
    found = misses({"kind": "sequence", "steps": steps}, events("t: a x b"))
    assert brief(found) == [("strict_contiguity_broken", (1,), 2)]
    assert "very next event 2" in found[0].reason_text


def test_sequence_negated_event_seen_before_the_next_step():
    steps = [AB[0], {"name": "c", "where": "t = 'c'", "negated": "not_followed_by"}, AB[1]]
    found = misses({"kind": "sequence", "steps": steps}, events("t: a c b"))
    assert brief(found) == [("negated_event_seen", (1,), 2)]
    assert found[0].steps_total == 2


def test_sequence_trailing_negation_seen_within_the_window():
    steps = [*AB, {"name": "c", "where": "t = 'c'", "negated": "not_followed_by"}]
    found = misses({"kind": "sequence", "within": "10s", "steps": steps},
                   events("ts: 0 1 3 20", "t: a b c x"))
    assert brief(found) == [("negated_event_seen", (1, 2), 3)]


def test_sequence_waiting_on_a_trailing_negation_is_data_ended():
    # a b at 0 1 s; the 10 s window for "no c" ends at 10 s, after the data (2 s).
    steps = [*AB, {"name": "c", "where": "t = 'c'", "negated": "not_followed_by"}]
    found = misses({"kind": "sequence", "within": "10s", "steps": steps},
                   events("ts: 0 1 2", "t: a b x"))
    assert brief(found) == [("data_ended", (1, 2), None)]


def test_sequence_threshold_not_reached_when_a_loop_gets_too_few_events():
    steps = [{"name": "s", "where": "t = 's'"},
             {"name": "fail", "where": "t = 'f'", "times": {"min": 3, "max": None}}]
    [m] = misses({"kind": "sequence", "steps": steps}, events("t: s f f"))
    assert (m.reason, m.event_ids, m.step_reached) == ("threshold_not_reached", (1,), "s")
    assert m.reason_text == "Step fail got only 2 of the 3 events it needs."


def test_sequence_skip_strategy_discarded_overlapping_starts():
    # b+ c over b b b c: PAST LAST EVENT keeps b1 b2 b3 c; b2 and b3 could have started one.
    steps = [{"name": "b", "where": "t = 'b'", "times": {"min": 1, "max": None},
              "loop_contiguity": "strict"}, {"name": "c", "where": "t = 'c'"}]
    found = misses({"kind": "sequence", "steps": steps}, events("t: b b b c"))
    assert brief(found) == [("skip_strategy_discarded", (2, 3, 4), 4),
                            ("skip_strategy_discarded", (3, 4), 4)]
    assert found[0].steps_done == found[0].steps_total == 2


def test_sequence_data_ended_while_waiting():
    found = misses({"kind": "sequence", "steps": AB}, events("t: a x"))
    assert brief(found) == [("data_ended", (1,), None)]
    assert found[0].reason_text == "The data ended while waiting for step b (after 1 of 2 steps)."


def test_sequence_window_expired_without_any_later_fitting_event():
    found = misses({"kind": "sequence", "within": "5s", "steps": AB},
                   events("ts: 0 9", "t: a x"))
    assert brief(found) == [("window_expired", (1,), None)]
    assert found[0].ended == at(5)


def test_match_recognize_strict_contiguity_broken_by_the_next_row():
    found = misses({"kind": "match_recognize", "pattern": "A B",
                    "define": {"A": "price > 10", "B": "price < 5"}},
                   events("price: 12 7 3"))
    assert brief(found) == [("strict_contiguity_broken", (1,), 2)]


def test_match_recognize_skip_and_data_end():
    # A B+ C+ over 10 8 7 9 10 9 8: match 1..5; 2 (8) 3 (7) 4 (9) also matches but lies inside
    # it; 5 (10) 6 (9) 7 (8) is A B B waiting for a rise when the data ends.
    found = misses({"kind": "match_recognize", "pattern": "A B+ C+",
                    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"}},
                   events("price: 10 8 7 9 10 9 8"))
    assert brief(found)[:2] == [("skip_strategy_discarded", (2, 3, 4, 5), 5),
                                ("data_ended", (5, 6, 7), None)]


def test_match_recognize_window_expired():
    found = misses({"kind": "match_recognize", "pattern": "A B", "within": "5s",
                    "define": {"A": "t = 'a'", "B": "t = 'b'"}},
                   events("ts: 0 7", "t: a b"))
    assert brief(found) == [("window_expired", (1,), 2)]


def test_count_threshold_reports_the_fullest_window_below_the_threshold():
    # Threshold 3 in 10 s: 0 1 hold 2; 30 alone holds 1; 50 51 52 match.
    found = misses({"kind": "count_threshold", "threshold": 3, "window": "10s"},
                   events("ts: 0 1 30 50 51 52"))
    assert brief(found) == [("threshold_not_reached", (1, 2), None),
                            ("threshold_not_reached", (3,), None)]
    assert (found[0].steps_done, found[0].steps_total) == (2, 3)
    assert found[0].details["count"] == 2


def test_count_threshold_reports_each_peak_that_fell_back():
    # Threshold 4 in 10 s: 0 1 2 reach 3; at 11.5 s the window (1.5, 11.5] holds 2 (a fall);
    # 11.5 12 13 reach 3 again when the data ends.
    found = misses({"kind": "count_threshold", "threshold": 4, "window": "10s"},
                   events("ts: 0 1 2 11.5 12 13"))
    assert brief(found) == [("threshold_not_reached", (1, 2, 3), None),
                            ("threshold_not_reached", (4, 5, 6), None)]


def test_count_threshold_decay_after_a_match_is_not_a_near_miss():
    # 0 1 2 match (3 in 10 s); at 11.5 s the window holds 2 only because the match decays.
    assert misses({"kind": "count_threshold", "threshold": 3, "window": "10s"},
                  events("ts: 0 1 2 11.5")) == []


def test_velocity_reports_the_peak_rate_below_the_threshold():
    found = misses({"kind": "velocity", "value_field": "amount", "threshold": 100,
                    "per": "minute", "window": "1m"},
                   events("ts: 0 20 200", "amount: 40 50 10"))
    assert brief(found) == [("threshold_not_reached", (1, 2), None),
                            ("threshold_not_reached", (3,), None)]
    assert found[0].details["rate"] == 90.0


def test_trend_run_broken_names_the_breaking_event():
    found = misses({"kind": "trend", "value_field": "x", "direction": "up", "count": 3},
                   events("x: 1 2 1"))
    assert brief(found) == [("run_broken", (1, 2), 3)]
    assert found[0].reason_text == "2 rising values of x in a row, then event 3 broke the run (3 needed)."


def test_outlier_baseline_too_short():
    # 50 after 10 11: z = 39.5/0.707 > 3, but the baseline holds 2 of the 3 values needed.
    found = misses({"kind": "outlier", "value_field": "x", "threshold": 3, "baseline": "10s",
                    "min_samples": 3}, events("x: 10 11 50"))
    assert brief(found) == [("baseline_too_short", (3,), None)]
    assert (found[0].steps_done, found[0].steps_total) == (2, 3)


def test_outlier_highest_score_below_the_threshold():
    # 12 after 10 11 10: mean 10.333, std 0.577, z = 2.887 < 3.
    found = misses({"kind": "outlier", "value_field": "x", "threshold": 3, "baseline": "10s",
                    "min_samples": 3}, events("x: 10 11 10 12"))
    assert brief(found) == [("threshold_not_reached", (4,), None)]
    assert round(found[0].details["score"], 3) == 2.887


def test_session_having_not_met():
    found = misses({"kind": "session", "gap": "10s", "having": "event_count >= 3"},
                   events("ts: 0 5 30 100"))
    assert brief(found) == [("having_not_met", (1, 2), None), ("having_not_met", (3,), None)]


def test_dedup_repeat_after_the_window_expired():
    found = misses({"kind": "dedup", "fields": ["msg"], "window": "10s"},
                   events("ts: 0 12", "msg: a a"))
    assert brief(found) == [("window_expired", (1, 2), None)]
    assert found[0].details["late_by_s"] == 2.0


def test_geofence_closest_approach_without_entering():
    # 0.05° of latitude is 6,371,008.8 m × 0.05 × π/180 = 5,559.75 m from the centre:
    # 4,559.75 m outside a 1 km circle.
    found = misses({"kind": "geofence", "trigger": "enter",
                    "shape": {"type": "circle", "center": {"lat": 0, "lon": 0},
                              "radius_m": 1000}},
                   events("lat: 0.1 0.05 0.2", "lon: 0 0 0"))
    assert brief(found) == [("boundary_not_crossed", (2,), None)]
    assert round(found[0].details["margin"], 2) == 4559.75


def test_geofence_dwell_left_too_early():
    found = misses({"kind": "geofence", "trigger": "dwell", "dwell": "60s",
                    "shape": {"type": "circle", "center": {"lat": 0, "lon": 0},
                              "radius_m": 1000}},
                   events("ts: 0 10 40", "lat: 1 0 1", "lon: 0 0 0"))
    assert brief(found) == [("threshold_not_reached", (2,), 3)]
    assert found[0].details["stayed_s"] == 30.0


def test_temporal_correlation_window_expired_without_a_partner():
    found = misses({"kind": "temporal_correlation", "a": "t = 'a'", "b": "t = 'b'",
                    "max_gap": "10s"}, events("ts: 0 15 30", "t: a b x"))
    assert brief(found) == [("window_expired", (1,), None), ("window_expired", (2,), None)]
    assert found[0].details["late_by_s"] == 5.0


def test_heartbeat_longest_silence_within_the_timeout():
    # Gaps of 9 s and 3 s stay within 10 s; the last event's deadline (22 s) is after the data.
    found = misses({"kind": "heartbeat", "interval": "10s"}, events("ts: 0 9 12"))
    assert brief(found) == [("threshold_not_reached", (1,), 2), ("threshold_not_reached", (2,), 3),
                            ("data_ended", (3,), None)]
    assert found[0].details["silence_s"] == 9.0


def test_state_machine_event_without_a_transition():
    found = misses({"kind": "state_machine", "states": ["new", "paid"], "initial": "new",
                    "transitions": [{"from": "new", "to": "paid", "when": "type = 'pay'"}]},
                   events("type: pay x"))
    assert brief(found) == [("no_transition", (2,), 2)]
    assert found[0].step_reached == "paid"


def test_absence_expected_arrived_with_how_close_it_came():
    found = misses({"kind": "absence", "trigger": "t = 'order'", "expected": "t = 'paid'",
                    "timeout": "10s"}, events("ts: 0 8", "t: order paid"))
    assert brief(found) == [("expected_arrived", (1,), 2)]
    assert found[0].details["slack_s"] == 2.0


def test_absence_pending_deadline_is_data_ended():
    found = misses({"kind": "absence", "trigger": "t = 'order'", "expected": "t = 'paid'",
                    "timeout": "10s"}, events("ts: 0 5", "t: x order"))
    assert brief(found) == [("data_ended", (2,), None)]
    assert found[0].details["deadline"] == at(15)


def test_every_reason_is_covered_by_a_test_above():
    text = Path(__file__).read_text(encoding="utf-8")
    assert [r for r in REASONS if f'"{r}"' not in text.split("def test_every_reason")[0]] == []


def test_key_and_time_range_select_the_near_misses():
    df = events("k: x y x y", "ts: 0 1 20 21", "t: a a a a")
    spec = {"kind": "sequence", "partition_by": ["k"], "steps": AB}
    assert brief(misses(spec, df, key="y")) == [("data_ended", (2,), None),
                                               ("data_ended", (4,), None)]
    assert brief(misses(spec, df, key={"k": "y"}, start=at(10))) == [("data_ended", (4,), None)]
    assert misses(spec, df, key="y", start=at(30)) == []


def test_limit_caps_the_near_misses():
    df = events("t: a a a a a")
    assert len(misses({"kind": "sequence", "steps": AB}, df, limit=2)) == 2


@pytest.mark.parametrize(("key", "message"), [
    ("zz", "no events with key k=zz"),
    (None, "give a key"),
    ({"other": 1}, "must name exactly the partition columns"),
], ids=["unknown key", "missing key", "wrong columns"])
def test_bad_keys_are_rejected_with_a_clear_message(key, message):
    df = events("k: x y", "t: a a")
    with pytest.raises(EventDataError, match=message):
        misses({"kind": "sequence", "partition_by": ["k"], "steps": AB}, df, key=key)


def test_an_empty_time_range_is_rejected():
    with pytest.raises(EventDataError, match="time range is empty"):
        misses({"kind": "sequence", "steps": AB}, events("t: a"), start=at(5), end=at(5))
