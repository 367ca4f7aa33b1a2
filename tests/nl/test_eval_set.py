"""The offline generator's accuracy on its evaluation set stays at or above 85%."""

from __future__ import annotations

from benchmarks.nl_eval import accuracy, evaluate, normalised, same_events
from cep.model import KINDS, validate_pattern
from cep.nl import list_example_prompts, load_eval_set


def test_eval_set_covers_every_kind_with_enough_prompts() -> None:
    cases = load_eval_set()
    kinds = {c["expect"]["kind"] for c in cases if "expect" in c}
    assert len(cases) >= 80
    assert kinds == set(KINDS)
    assert sum(1 for c in cases if c.get("refuse")) >= 10
    assert len({c["id"] for c in cases}) == len(cases)


def test_offline_accuracy_is_at_least_85_percent_and_every_refusal_is_refused() -> None:
    results = evaluate()
    exact, same = accuracy(results)
    assert exact >= 0.85, [r for r in results if not r.exact]
    assert same >= exact
    not_refused = [r.id for r in results if r.refuse and not r.exact]
    assert not_refused == []


def test_example_prompts_are_listed_per_industry() -> None:
    examples = list_example_prompts()
    assert set(examples) >= {"payments", "identity", "manufacturing", "logistics"}
    assert "Five or more declined authorisations on one card within ten minutes" in examples[
        "payments"]


def test_same_events_tells_equivalent_patterns_from_different_ones() -> None:
    base = {"kind": "count_threshold", "name": "x", "partition_by": ["card_id"],
            "id_field": "event_id", "window": "10m"}
    declined = validate_pattern({**base, "where": "status = 'declined'", "threshold": 5})
    spelled = validate_pattern({**base, "where": "NOT status <> 'declined'", "threshold": 5})
    looser = validate_pattern({**base, "where": "status = 'declined'", "threshold": 2})
    assert normalised(declined) != normalised(spelled)
    assert same_events(declined, spelled, "card_fraud")
    assert not same_events(declined, looser, "card_fraud")
