"""Refining a velocity pattern: a new window keeps the rate unit (``per``), a named rate
("per minute") changes it, and the assumptions say what the edited pattern now flags."""

from __future__ import annotations

from typing import Any

import pytest

from cep.model import pattern_to_dict
from cep.nl import Generation, generate_offline, pack_vocabulary
from cep.packs import load_pack

PACK = load_pack("card_fraud")
CARD = pack_vocabulary(PACK)
SPEND = PACK.patterns["spend_velocity"]  # 5,000 approved spend per hour over 1h, per card


def refine(text: str) -> Generation:
    return generate_offline(text, current=SPEND, **CARD)


def spend(**changed: Any) -> dict[str, Any]:
    """The pack's spend_velocity as JSON, with ``changed`` applied (its description dropped)."""
    return {
        "kind": "velocity", "name": "spend_velocity", "description": "",
        "partition_by": ["card_id"], "order_by": "ts", "id_field": "event_id",
        "where": "status = 'approved'", "value_field": "amount", "threshold": 5000.0,
        "per": "hour", "window": "1h", **changed,
    }


DROPPED = "removed the old description, which no longer matches the pattern"


@pytest.mark.parametrize(
    ("instruction", "expected", "assumptions"),
    [
        ("make it 2 hours", spend(window="2h"),
         ("edited the current pattern: window set to 2h", DROPPED,
          "now flags a rate of at least 5,000 (sum of amount) per hour: 10,000 or more over "
          "the 2h window")),
        ("make it 30 minutes", spend(window="30m"),
         ("edited the current pattern: window set to 30m", DROPPED,
          "now flags a rate of at least 5,000 (sum of amount) per hour: 2,500 or more over "
          "the 30m window")),
        ("per minute instead", spend(per="minute"),
         ("edited the current pattern: rate per minute (was per hour)", DROPPED,
          "now flags a rate of at least 5,000 (sum of amount) per minute: 300,000 or more "
          "over the 1h window")),
        ("make it 2 hours per minute", spend(window="2h", per="minute"),
         ("edited the current pattern: window set to 2h; rate per minute (was per hour)",
          DROPPED,
          "now flags a rate of at least 5,000 (sum of amount) per minute: 600,000 or more "
          "over the 2h window")),
        ("make it 100 per minute", spend(threshold=100.0, per="minute"),
         ("edited the current pattern: threshold set to 100.0; rate per minute (was per hour)",
          DROPPED,
          "now flags a rate of at least 100 (sum of amount) per minute: 6,000 or more over "
          "the 1h window")),
        ("at least 100 per minute", spend(threshold=100.0, per="minute"),
         ("edited the current pattern: threshold set to 100.0; rate per minute (was per hour)",
          DROPPED,
          "now flags a rate of at least 100 (sum of amount) per minute: 6,000 or more over "
          "the 1h window")),
        ("make the rate per second", spend(per="second"),
         ("edited the current pattern: rate per second (was per hour)", DROPPED,
          "now flags a rate of at least 5,000 (sum of amount) per second: 18,000,000 or more "
          "over the 1h window")),
    ],
    ids=["window", "shorter-window", "rate", "window-and-rate", "threshold-and-rate",
         "at-least-and-rate", "rate-word"],
)
def test_velocity_edits_change_only_what_is_named(
    instruction: str, expected: dict[str, Any], assumptions: tuple[str, ...]
) -> None:
    g = refine(instruction)
    assert g.pattern is not None, g.question
    assert pattern_to_dict(g.pattern) == expected
    assert g.assumptions == assumptions
    assert g.warnings == ()


def test_a_new_window_on_a_count_rate_keeps_per_and_threshold() -> None:
    current = generate_offline("more than 5 transactions over $500 per hour per card",
                               **CARD).pattern
    assert current is not None
    g = generate_offline("make it 2 hours", current=current, **CARD)
    assert g.pattern is not None
    after = pattern_to_dict(g.pattern)
    assert (after["threshold"], after["per"], after["window"]) == (6.0, "hour", "2h")
    assert g.assumptions[-1] == ("now flags a rate of at least 6 events per hour: 12 or more "
                                 "over the 2h window")


def test_the_same_rate_unit_and_a_new_key_leave_per_alone() -> None:
    g = refine("per hour per channel")
    assert g.pattern is not None
    assert pattern_to_dict(g.pattern) == spend(partition_by=["channel"])
    assert g.assumptions == ("edited the current pattern: partitioned by channel", DROPPED)


def test_a_rename_alone_reports_no_rate() -> None:
    g = refine("call it burst")
    assert g.pattern is not None
    assert g.pattern.description == SPEND.description
    assert g.assumptions == ("edited the current pattern: renamed to burst",)
