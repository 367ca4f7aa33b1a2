"""The audit details of a generation, written to and read back from a SQLite history store."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

import cep.nl.audit
from cep.errors import CepError
from cep.history import AuditFilters, HistorySettings, HistoryStore, create_history_engine
from cep.nl import (
    ACCEPT_ACTION,
    GENERATE_ACTION,
    Generation,
    audit_details,
    audit_prompts_enabled,
    generate_offline,
    pattern_sha256,
)

SCHEMA = {"event_id": "int", "ts": "datetime", "card_id": "string", "amount": "float",
          "status": "string"}
EXAMPLES = {"status": ["approved", "declined"]}
TEXT = "5 or more declined charges per card within 10 minutes"


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    settings = HistorySettings(data_dir=tmp_path)
    return HistoryStore(create_history_engine(settings), settings)


def model_generation(text: str = TEXT) -> Generation:
    """What the model path returns after a good answer (as `generate_with_model` builds it)."""
    offline = generate_offline(text, schema=SCHEMA, examples=EXAMPLES)
    assert offline.pattern is not None
    return offline.model_copy(update={
        "source": "model", "model": "sonnet", "endpoint": "databricks-claude-sonnet-4-6",
        "latency_ms": 812.5, "prompt_tokens": 1200, "completion_tokens": 80,
    })


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(cep.nl.audit)
    assert result.attempted > 0
    assert result.failed == 0


def test_offline_generation_details_hold_hashes_and_no_prompt_text() -> None:
    gen = generate_offline(TEXT, schema=SCHEMA, examples=EXAMPLES)
    assert gen.pattern is not None

    details = audit_details(gen, accepted=False, store_prompt_text=False, prompt=TEXT,
                            schema_source="card_fraud")

    assert details == {
        "prompt_sha256": gen.prompt_sha256,
        "prompt_chars": len(TEXT),
        "source": "offline",
        "model": "offline",
        "model_used": "offline",
        "endpoint": None,
        "latency_ms": None,
        "fallback_used": False,
        "repaired": False,
        "warnings": [],
        "assumption_count": len(gen.assumptions),
        "uninterpreted_count": 0,
        "asked_question": False,
        "pattern_sha256": pattern_sha256(gen.pattern),
        "pattern_kind": "count_threshold",
        "schema_source": "card_fraud",
        "refined": False,
        "accepted": False,
    }
    assert "declined" not in json.dumps(details)


def test_model_generation_details_carry_endpoint_latency_and_tokens() -> None:
    details = audit_details(model_generation(), accepted=False, store_prompt_text=False)

    assert details["model"] == "sonnet"
    assert details["model_used"] == "sonnet"
    assert details["endpoint"] == "databricks-claude-sonnet-4-6"
    assert details["latency_ms"] == 812.5
    assert (details["prompt_tokens"], details["completion_tokens"]) == (1200, 80)
    assert details["fallback_used"] is False


def test_fallback_is_recorded_with_its_warning_and_the_offline_model_used() -> None:
    gen = model_generation().model_copy(update={
        "source": "offline-fallback", "prompt_tokens": None, "completion_tokens": None,
        "warnings": ("the sonnet model was not used: endpoint failed (500); the offline "
                     "generator answered",),
    })

    details = audit_details(gen, accepted=False, store_prompt_text=False)

    assert details["fallback_used"] is True
    assert (details["model"], details["model_used"]) == ("sonnet", "offline")
    assert details["warnings"] == [gen.warnings[0]]
    assert "prompt_tokens" not in details
    assert "completion_tokens" not in details


def test_prompt_text_is_kept_only_when_enabled_and_must_be_the_generated_one() -> None:
    gen = generate_offline(TEXT, schema=SCHEMA, examples=EXAMPLES)

    assert audit_details(gen, accepted=True, store_prompt_text=True, prompt=TEXT)["prompt"] == TEXT
    assert "prompt" not in audit_details(gen, accepted=True, store_prompt_text=False, prompt=TEXT)
    with pytest.raises(CepError, match="not the one this generation was made from"):
        audit_details(gen, accepted=True, store_prompt_text=True, prompt=TEXT + " or more")
    with pytest.raises(CepError, match="was not given"):
        audit_details(gen, accepted=True, store_prompt_text=True)


def test_words_of_the_prompt_in_warnings_are_masked_unless_the_prompt_is_kept() -> None:
    text = "a vehicle enters within 500 m of 51.5074, -0.1278"
    gen = generate_offline(text)
    assert gen.uninterpreted == ("vehicle",)

    masked = audit_details(gen, accepted=False, store_prompt_text=False)["warnings"]
    kept = audit_details(gen, accepted=False, store_prompt_text=True, prompt=text)["warnings"]

    assert masked == ["not used: [prompt words] — check that the pattern says what you mean"]
    assert kept == ["not used: vehicle — check that the pattern says what you mean"]


def test_a_clarifying_question_is_recorded_without_a_pattern() -> None:
    gen = generate_offline("5 or more logins for the same user within 7 days",
                           schema={"user_id": "string", "event": "string"},
                           examples={"event": ["login_success", "login_failed"]})
    assert gen.question is not None

    details = audit_details(gen, accepted=False, store_prompt_text=False)

    assert details["asked_question"] is True
    assert (details["pattern_sha256"], details["pattern_kind"]) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("0", False), ("false", False), ("1", True), ("TRUE", True), (" yes ", True)],
)
def test_audit_prompts_setting_reads_yes_and_no(value: str, expected: bool) -> None:
    assert audit_prompts_enabled({"LAKESTREAM_AUDIT_PROMPTS": value}) is expected


def test_audit_prompts_setting_rejects_other_values() -> None:
    with pytest.raises(CepError, match="LAKESTREAM_AUDIT_PROMPTS must be 1 or 0"):
        audit_prompts_enabled({"LAKESTREAM_AUDIT_PROMPTS": "sometimes"})


def test_generate_and_accept_entries_round_trip_through_sqlite(store: HistoryStore) -> None:
    gen = model_generation()
    assert gen.pattern is not None
    first = store.append_audit(
        actor="ana@example.com", action=GENERATE_ACTION, subject=gen.pattern.name,
        details=audit_details(gen, accepted=False, store_prompt_text=False, prompt=TEXT))
    store.append_audit(
        actor="ana@example.com", action=ACCEPT_ACTION, subject=gen.pattern.name,
        details=audit_details(gen, accepted=True, store_prompt_text=False, prompt=TEXT,
                              generation_id=first.id, accepted_via="template"))

    entries = store.list_audit(AuditFilters(action="nl.")).items

    assert sorted(e.action for e in entries) == [ACCEPT_ACTION, GENERATE_ACTION]
    by_action = {e.action: e for e in entries}
    generated, accepted = by_action[GENERATE_ACTION], by_action[ACCEPT_ACTION]
    assert generated.actor == "ana@example.com"
    assert generated.subject == gen.pattern.name
    assert generated.details["prompt_tokens"] == 1200  # "tokens" is not a secret-looking key
    assert generated.details["completion_tokens"] == 80
    assert generated.details["pattern_sha256"] == gen.pattern_sha256
    assert generated.details["accepted"] is False
    assert accepted.details["accepted"] is True
    assert accepted.details["generation_id"] == first.id
    assert accepted.details["accepted_via"] == "template"
    stored = json.dumps([e.details for e in entries])
    assert TEXT not in stored
    assert "declined" not in stored
