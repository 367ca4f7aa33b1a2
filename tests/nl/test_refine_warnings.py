"""Refinement reports only the words it did not read: the edit's own words ("make it", "call
it", "per ... instead") are not "not used", unknown words still are, and a key it cannot ground
is a question."""

from __future__ import annotations

from typing import Any

import pytest

from cep.model import Pattern, pattern_to_dict
from cep.nl import Generation, generate_offline, pack_vocabulary
from cep.packs import load_pack

CARD = pack_vocabulary(load_pack("card_fraud"))
AUTH = pack_vocabulary(load_pack("account_security"))


def _current(text: str, vocab: dict[str, Any]) -> Pattern:
    g = generate_offline(text, **vocab)
    assert g.pattern is not None, g.question
    assert g.warnings == ()
    return g.pattern


DECLINES = _current("Five or more declined authorisations on one card within ten minutes", CARD)
VELOCITY = _current("more than 5 transactions over $500 per hour per card", CARD)
LOGINS = _current("five failed logins then a successful login per user within 10 minutes", AUTH)


def refine(text: str, current: Pattern = DECLINES, vocab: dict[str, Any] = CARD) -> Generation:
    return generate_offline(text, current=current, **vocab)


def changes(g: Generation, current: Pattern) -> dict[str, Any]:
    """The fields the refinement changed, old → new values."""
    assert g.pattern is not None, g.question
    before, after = pattern_to_dict(current), pattern_to_dict(g.pattern)
    # A stale description is dropped on any edit; its own test below covers that.
    return {k: after.get(k) for k in {*before, *after}
            if before.get(k) != after.get(k) and k != "description"}


@pytest.mark.parametrize(
    ("instruction", "changed"),
    [
        ("make it 20 minutes", {"window": "20m"}),
        ("change the window to 30 minutes", {"window": "30m"}),
        ("make it 3 or more", {"threshold": 3}),
        ("set the threshold to 7", {"threshold": 7}),
        ("lower the threshold to 3", {"threshold": 3}),
        ("more than 6 instead", {"threshold": 7}),
        ("call it burst", {"name": "burst"}),
        ("rename it to burst", {"name": "burst"}),
        ("per channel instead", {"partition_by": ["channel"]}),
        ("per merchant category instead", {"partition_by": ["merchant_category"]}),
        ("across all cards", {"partition_by": []}),
        ("only for online payments", {"where": "status = 'declined' AND channel = 'online'"}),
        ("make it 20 minutes and call it burst", {"window": "20m", "name": "burst"}),
    ],
)
def test_refinement_words_are_not_reported_as_unused(
    instruction: str, changed: dict[str, Any]
) -> None:
    g = refine(instruction)
    assert changes(g, DECLINES) == changed
    assert g.warnings == ()
    assert g.uninterpreted == ()


def test_refinement_of_a_sequence_and_a_rate_reports_nothing_unused() -> None:
    within = refine("within 1 hour instead", LOGINS, AUTH)
    assert changes(within, LOGINS) == {"within": "1h"}
    assert within.warnings == ()
    longer = refine("make it 1 hour", LOGINS, AUTH)
    assert changes(longer, LOGINS) == {"within": "1h"}
    assert longer.warnings == ()
    rekeyed = refine("per hour per channel", VELOCITY)
    assert changes(rekeyed, VELOCITY) == {"partition_by": ["channel"]}
    assert rekeyed.warnings == ()


@pytest.mark.parametrize(
    ("instruction", "changed", "unused"),
    [
        ("make it 20 minutes please flibber", {"window": "20m"}, ("flibber",)),
        ("call it burst on a rainy tuesday", {"name": "burst"}, ("rainy", "tuesday")),
        ("per card holder instead", {}, ("holder",)),
    ],
)
def test_unknown_words_in_a_refinement_are_still_reported(
    instruction: str, changed: dict[str, Any], unused: tuple[str, ...]
) -> None:
    g = refine(instruction)
    assert changes(g, DECLINES) == changed
    assert g.uninterpreted == unused
    assert g.warnings == (
        f"not used: {' '.join(unused)} — check that the pattern says what you mean",
    )


@pytest.mark.parametrize(
    ("instruction", "word"),
    [("per merchant instead", "merchant"), ("per merchant_id instead", "merchant_id"),
     ("per category", "category")],
)
def test_a_key_that_names_only_part_of_a_field_is_a_question(instruction: str,
                                                             word: str) -> None:
    g = refine(instruction)
    assert g.pattern is None
    assert g.warnings == ()
    assert g.question is not None
    assert g.question.startswith(f"Which field is '{word}'? Did you mean merchant_category? "
                                 "Fields: event_id, ts, card_id (C00017, C00342), amount, ")


def test_without_a_schema_a_new_key_is_an_assumption_not_a_warning() -> None:
    current = generate_offline("5 or more declined charges per card within 10 minutes").pattern
    assert current is not None
    g = generate_offline("per device instead", current=current)
    assert changes(g, current) == {"partition_by": ["device_id"]}
    assert g.warnings == ()
    assert g.assumptions == ("no event schema: assumed the key field is 'device_id'",
                             "edited the current pattern: partitioned by device_id",
                             "removed the old description, which no longer matches the pattern")


def test_an_edit_drops_the_old_description_that_no_longer_matches() -> None:
    assert DECLINES.description  # "... within ten minutes"
    g = refine("make it 20 minutes")
    assert g.pattern is not None
    assert g.pattern.description == ""
    assert "removed the old description, which no longer matches the pattern" in g.assumptions


def test_a_rename_keeps_the_description() -> None:
    g = refine("call it burst")
    assert g.pattern is not None
    assert g.pattern.name == "burst"
    assert g.pattern.description == DECLINES.description
