"""The offline generator: every kind, phrasing families, questions instead of guesses, and
refinement of a current pattern."""

from __future__ import annotations

from typing import Any

import pytest

from cep.model import pattern_to_dict
from cep.nl import Generation, generate_offline, pack_vocabulary
from cep.packs import load_pack

CARD = pack_vocabulary(load_pack("card_fraud"))
AUTH = pack_vocabulary(load_pack("account_security"))
IOT = pack_vocabulary(load_pack("iot_maintenance"))


def gen(text: str, vocab: dict[str, Any] = CARD, **kw: Any) -> Generation:
    return generate_offline(text, **vocab, **kw)


def fields(g: Generation) -> dict[str, Any]:
    assert g.pattern is not None, g.question
    data = pattern_to_dict(g.pattern)
    data.pop("name")
    data.pop("description")
    return data


@pytest.mark.parametrize(
    ("text", "where", "threshold", "window"),
    [
        ("flag a card with more than 5 transactions over $500 in 10 minutes", "amount > 500", 6,
         "10m"),
        ("at least 3 declined charges per card within half an hour", "status = 'declined'", 3,
         "30m"),
        ("10+ online payments for the same card within a day", "channel = 'online'", 10, "1d"),
        ("five or more declined authorisations on one card in 2h", "status = 'declined'", 5,
         "2h"),
        ("4 declined charges by card within 90s", "status = 'declined'", 4, "90s"),
    ],
    ids=["more-than-and-dollars", "at-least-half-hour", "plus-a-day", "words-2h", "bare-90s"],
)
def test_count_threshold_phrasings(text: str, where: str, threshold: int, window: str) -> None:
    data = fields(gen(text))
    assert data["kind"] == "count_threshold"
    assert (data["where"], data["threshold"], data["window"]) == (where, threshold, window)
    assert data["partition_by"] == ["card_id"]


def test_more_than_n_is_stated_as_an_assumption() -> None:
    g = gen("more than 5 declined charges per card in 10 minutes")
    assert "'more than 5' events means at least 6" in g.assumptions
    assert g.source == "offline"
    assert g.pattern_sha256 is not None


def test_default_key_is_an_assumption() -> None:
    g = gen("5 declined charges within 10 minutes")
    assert fields(g)["partition_by"] == ["card_id"]
    assert any("card_id is matched on its own" in a for a in g.assumptions)


@pytest.mark.parametrize(
    ("text", "vocab", "kind", "expected"),
    [
        ("A card's approved spend reaches $5,000 within one hour", CARD, "velocity",
         {"value_field": "amount", "threshold": 5000.0, "per": "hour", "window": "1h"}),
        ("five failed logins then a successful login per user within 10 minutes", AUTH,
         "sequence", {"within": "10m"}),
        ("an MFA challenge not completed within five minutes", AUTH, "absence",
         {"trigger": "event = 'mfa_challenge'", "expected": "event = 'mfa_success'",
          "timeout": "5m"}),
        ("a chip payment and an online payment on the same card within 2 minutes of each other",
         CARD, "temporal_correlation",
         {"a": "channel = 'chip'", "b": "channel = 'online'", "max_gap": "2m"}),
        ("alert when a pump sends no readings for 10 minutes", IOT, "heartbeat",
         {"interval": "10m", "partition_by": ["device_id"]}),
        ("user sessions split by 30 minutes of inactivity with more than 20 events", AUTH,
         "session", {"gap": "30m", "having": "event_count > 20"}),
        ("duplicate authorisations: same card and amount within 2 minutes", CARD, "dedup",
         {"fields": ["card_id", "amount"], "window": "2m"}),
        ("vibration more than 8 standard deviations from its 6-hour baseline per machine", IOT,
         "outlier", {"value_field": "vibration_mm_s", "threshold": 8.0, "baseline": "6h"}),
        ("temperature rising for 5 readings per device", IOT, "trend",
         {"value_field": "temperature_c", "direction": "up", "count": 5}),
        ("a V shape in temperature per device within 30 minutes", IOT, "match_recognize",
         {"pattern": "A B+ C+", "within": "30m"}),
        ("states ok, suspect; from ok to suspect on declined; from suspect to ok on approved",
         CARD, "state_machine", {"states": ["ok", "suspect"], "initial": "ok"}),
    ],
    ids=["velocity", "sequence", "absence", "correlation", "heartbeat", "session", "dedup",
         "outlier", "trend", "match_recognize", "state_machine"],
)
def test_each_kind_is_recognised(text: str, vocab: dict[str, Any], kind: str,
                                 expected: dict[str, Any]) -> None:
    data = fields(gen(text, vocab))
    assert data["kind"] == kind
    assert {k: data[k] for k in expected} == expected


def test_geofence_circle_and_polygon() -> None:
    fleet = {"schema": {"vehicle_id": "string", "ts": "datetime", "lat": "float",
                        "lon": "float"}}
    circle = fields(gen("a vehicle enters within 2 km of 40.7128, -74.0060", fleet))
    assert circle["shape"] == {"type": "circle", "center": {"lat": 40.7128, "lon": -74.006},
                               "radius_m": 2000.0}
    assert (circle["trigger"], circle["partition_by"]) == ("enter", ["vehicle_id"])
    poly = fields(gen("a truck leaves the zone (52.0, 4.0), (52.0, 4.1), (52.1, 4.1)", fleet))
    assert poly["trigger"] == "exit"
    assert len(poly["shape"]["vertices"]) == 3


def test_sequence_with_loop_negation_and_order() -> None:
    data = fields(gen("an MFA challenge then a password reset without an MFA success in "
                      "between, per user, within 30 minutes", AUTH))
    assert [(s["where"], s["negated"]) for s in data["steps"]] == [
        ("event = 'mfa_challenge'", None), ("event = 'mfa_success'", "not_followed_by"),
        ("event = 'password_reset'", None)]
    after = fields(gen("a successful login after 3 failed logins for the same user within "
                       "15 minutes", AUTH))
    assert [s["where"] for s in after["steps"]] == ["event = 'login_failed'",
                                                    "event = 'login_success'"]
    assert after["steps"][0]["times"] == {"min": 3, "max": 3}


def test_literals_are_quoted_not_pasted() -> None:
    vocab = {"schema": {"user_id": "string", "event": "string"},
             "examples": {"event": ["o'hare_arrival", "departure"]}}
    data = fields(gen("a departure not followed by an o'hare arrival within 5 minutes per user",
                      vocab))
    assert data["expected"] == "event = 'o\\'hare_arrival'"


@pytest.mark.parametrize(
    ("text", "vocab", "fragment"),
    [
        ("a purchase then a refund within 1 hour", CARD, "'refund'"),
        ("more than 3 purchases per user within 1 hour", AUTH, "'purchases'"),
        ("5 or more logins per user within 1 hour", AUTH, "fits several values"),
        ("humidity above 80 five times in 10 minutes per device", IOT, "humidity"),
        ("rising for 5 readings", IOT, "Which numeric field"),
        ("5 failed logins per user in the last 6 months", AUTH, "no fixed length"),
        ("10 declined charges per card within 200 days", CARD, "longest window"),
        ("a truck enters the depot polygon", {"schema": {"lat": "float", "lon": "float",
                                                         "vehicle_id": "string"}},
         "Where is the fence"),
        ("DROP TABLE users; --", CARD, "reads like code"),
        ("__import__('os').system('ls')", CARD, "reads like code"),
        ("something weird happens", CARD, "could not tell what to detect"),
        ("", CARD, "Describe the events"),
    ],
    ids=["unknown-value", "purchase-with-event-field", "ambiguous-value", "unknown-field",
         "no-field", "months", "over-90-days", "no-coordinates", "sql", "python", "vague",
         "empty"],
)
def test_questions_instead_of_guesses(text: str, vocab: dict[str, Any], fragment: str) -> None:
    g = gen(text, vocab)
    assert g.pattern is None
    assert g.question is not None
    assert fragment in g.question


def test_without_a_schema_every_field_is_an_assumption() -> None:
    g = generate_offline("5 or more failed logins per user within 10 minutes")
    data = fields(g)
    assert data["where"] == "event_type = 'failed_login'"
    assert data["partition_by"] == ["user_id"]
    assert any("no event schema" in a for a in g.assumptions)


def test_unused_words_are_reported() -> None:
    g = gen("5 declined charges per card within 10 minutes on a rainy tuesday")
    assert g.pattern is None or "rainy" in g.uninterpreted


@pytest.mark.parametrize(
    ("instruction", "changed"),
    [
        ("make it 20 minutes", {"window": "20m"}),
        ("only for amounts over 1000", {"where": "status = 'declined' AND amount > 1000"}),
        ("per merchant category instead", {"partition_by": ["merchant_category"]}),
        ("across all cards", {"partition_by": []}),
        ("at least 8", {"threshold": 8}),
    ],
    ids=["window", "filter", "key", "global", "threshold"],
)
def test_refinement_edits_the_current_pattern(instruction: str, changed: dict[str, Any]) -> None:
    current = gen("5 or more declined charges per card within 10 minutes").pattern
    assert current is not None
    before = pattern_to_dict(current)
    after = fields(gen(instruction, current=current))
    for key, value in changed.items():
        assert after[key] == value
    untouched = {k for k in before if k not in changed and k not in ("name", "description")}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


def test_refinement_of_a_sequence_window_and_an_unclear_edit() -> None:
    current = gen("five failed logins then a successful login per user within 10 minutes",
                  AUTH).pattern
    assert current is not None
    assert fields(gen("within 1 hour instead", AUTH, current=current))["within"] == "1h"
    unclear = gen("make it nicer", AUTH, current=current)
    assert unclear.pattern is None
    assert unclear.question is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("more than 5 transactions over $500 per hour per card",
         {"where": "amount > 500", "value_field": None, "threshold": 6.0, "per": "hour",
          "window": "1h"}),
        ("total spend over $2,000 per card in 10 minutes",
         {"where": None, "value_field": "amount", "threshold": 200.0, "per": "minute",
          "window": "10m"}),
        ("more than 3 transactions per minute per card over 5 minutes",
         {"value_field": None, "threshold": 3.0, "per": "minute", "window": "5m"}),
    ],
    ids=["count-rate-with-money-filter", "money-total-as-rate", "rate-over-longer-window"],
)
def test_velocity_reads_what_is_measured(text: str, expected: dict[str, Any]) -> None:
    g = gen(text)
    data = fields(g)
    assert data["kind"] == "velocity"
    assert {k: data[k] for k in expected} == expected
    assert g.assumptions  # the rate reading is always spelled out
