"""The explanation payload: JSON round-trip, caps, and bad input."""

from __future__ import annotations

import json

import pytest

from cep.errors import CepError, EventDataError, PatternError
from cep.explain import (
    MatchExplanation,
    NearMiss,
    explain_match,
    explain_result,
    find_near_misses,
)
from cep.matcher import find_matches
from cep.model import parse_pattern
from cep.results import Match
from tests.matcher.harness import at, events

RISE = {"kind": "match_recognize", "name": "rise", "pattern": "A B+",
        "define": {"B": "price > PREV(price)"}}


def test_match_explanation_survives_a_json_round_trip():
    pattern = parse_pattern({**RISE, "within": "1m"})
    df = events("price: 1 2 3")
    [e] = explain_result(pattern, df, find_matches(pattern, df))
    text = json.dumps(e.to_json_dict())
    back = MatchExplanation.from_json_dict(json.loads(text))
    assert back.to_json_dict() == e.to_json_dict()
    assert back.timeline == e.timeline
    assert back.start == at(0)
    assert json.loads(text)["timeline"][1]["clauses"] == [
        {"text": "price > PREV(price)", "value": True}]


def test_near_miss_survives_a_json_round_trip():
    pattern = parse_pattern({"kind": "sequence", "name": "s", "within": "5s", "steps": [
        {"name": "a", "where": "t = 'a'"}, {"name": "b", "where": "t = 'b'"}]})
    [m] = find_near_misses(pattern, events("ts: 0 9", "t: a b"))
    data = json.loads(json.dumps(m.to_json_dict()))
    assert data["reason"] == "window_expired"
    assert data["broken_by"] == 2
    assert NearMiss.from_json_dict(data).to_json_dict() == m.to_json_dict()


def test_long_matches_are_capped_with_a_visible_count():
    pattern = parse_pattern(RISE)
    df = events(price=list(range(60)))
    [e] = explain_result(pattern, df, find_matches(pattern, df), max_events=50)
    assert len(e.event_ids) == 60
    assert (len(e.matched_event_payloads), len(e.timeline), e.more_events) == (50, 50, 10)
    assert e.to_json_dict()["more_events"] == 10
    [short] = explain_result(pattern, df, find_matches(pattern, df), max_events=5)
    assert (len(short.timeline), short.more_events) == (5, 55)


def test_a_match_of_another_pattern_is_rejected():
    pattern = parse_pattern(RISE)
    df = events("price: 1 2")
    other = Match(pattern="fall", key={}, start=at(0), end=at(1), event_ids=[1, 2],
                  classifiers=["A", "B"])
    with pytest.raises(PatternError, match="match of pattern 'fall' cannot be explained with "
                                           "pattern 'rise'"):
        explain_match(pattern, df, other)


def test_a_match_whose_events_are_missing_is_rejected():
    pattern = parse_pattern(RISE)
    stray = Match(pattern="rise", key={}, start=at(0), end=at(1), event_ids=[1, 99],
                  classifiers=["A", "B"])
    with pytest.raises(EventDataError, match="event 99 of match 1 is not in the events"):
        explain_match(pattern, events("price: 1 2"), stray)


def test_a_match_under_the_wrong_key_is_rejected():
    pattern = parse_pattern({**RISE, "partition_by": ["k"]})
    df = events("k: x x", "price: 1 2")
    wrong = Match(pattern="rise", key={"k": "y"}, start=at(0), end=at(1), event_ids=[1, 2],
                  classifiers=["A", "B"])
    with pytest.raises(EventDataError, match="match 1 has key k=y but its events belong to k=x"):
        explain_match(pattern, df, wrong)


def test_ids_of_the_wrong_type_are_rejected():
    pattern = parse_pattern(RISE)
    odd = Match(pattern="rise", key={}, start=at(0), end=at(1), event_ids=["a", "b"],
                classifiers=["A", "B"])
    with pytest.raises(CepError, match="do not have the events' id type"):
        explain_match(pattern, events("price: 1 2"), odd)


def test_repeated_event_ids_are_rejected():
    pattern = parse_pattern(RISE)
    df = events("id: 1 1", "price: 1 2")
    with pytest.raises(EventDataError, match="event ids in 'id' repeat"):
        explain_result(pattern, df, find_matches(pattern, df))


def test_max_events_must_be_positive():
    pattern = parse_pattern(RISE)
    with pytest.raises(EventDataError, match="max_events must be at least 1"):
        explain_result(pattern, events("price: 1"), [], max_events=0)


def test_events_without_an_id_column_use_row_numbers():
    pattern = parse_pattern(RISE)
    df = events("price: 1 2").drop("id")
    [e] = explain_result(pattern, df, find_matches(pattern, df))
    assert e.event_ids == (0, 1)
    assert [t.event_id for t in e.timeline] == [0, 1]


def test_explanation_json_form_is_the_same_on_every_call_and_owned_by_the_caller() -> None:
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from cep.explain import explain_result
    from cep.matcher import find_matches
    from cep.model import parse_pattern

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = pl.DataFrame({
        "id": [1, 2, 3, 4],
        "ts": [t0, t0 + timedelta(seconds=1, microseconds=5), t0 + timedelta(seconds=2),
               t0 + timedelta(seconds=3)],
        "type": ["A", "X", "B", "A"],
        "price": [1.5, float("nan"), 2.0, 3.0],
    })
    pattern = parse_pattern({"kind": "match_recognize", "name": "ab", "pattern": "A X*? B",
                             "define": {"A": "type = 'A'", "B": "type = 'B'"}})
    [explanation] = explain_result(pattern, events, find_matches(pattern, events).matches)
    first = explanation.to_json_dict()
    assert first["matched_event_payloads"] == [
        {"id": 1, "ts": "2024-01-01T00:00:00", "type": "A", "price": 1.5},
        {"id": 2, "ts": "2024-01-01T00:00:01.000005", "type": "X", "price": None},
        {"id": 3, "ts": "2024-01-01T00:00:02", "type": "B", "price": 2.0},
    ]
    assert first["timeline"][2] == {"event_id": 3, "time": "2024-01-01T00:00:02", "step": "B",
                                    "fields": {"type": "B"},
                                    "clauses": [{"text": "type = 'B'", "value": True}]}
    first["timeline"][0]["fields"]["type"] = "changed by the caller"
    second = explanation.to_json_dict()
    assert second["timeline"][0]["fields"] == {"type": "A"}
    first["timeline"][0]["fields"]["type"] = "A"
    assert second == first
    assert second is not first
