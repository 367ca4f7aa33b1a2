"""Redaction: event fields become per-run pseudonyms; secret-looking keys are dropped."""

from __future__ import annotations

import pytest

from cep.history import drop_secrets, looks_secret
from cep.history.redact import FieldRedactor


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("access_token", True),
        ("refreshToken", True),
        ("password", True),
        ("DB_PASSWORD", True),
        ("client_secret", True),
        ("Authorization", True),
        ("api_key", True),
        ("X-Api-Key", True),
        ("private_key", True),
        ("input_tokens", False),
        ("max_tokens", False),
        ("endpoint", False),
        ("keys", False),
        ("model", False),
    ],
)
def test_secret_keys_are_recognised_word_by_word(key: str, secret: bool) -> None:
    assert looks_secret(key) is secret


def test_drop_secrets_removes_secret_keys_at_any_depth_and_bearer_tokens_in_text() -> None:
    details = {
        "model": "sonnet",
        "input_tokens": 120,
        "request": {"headers": {"Authorization": "Bearer x", "Accept": "json"}, "token": "t"},
        "calls": [{"password": "p", "ok": True}],
        "log": "sent Authorization: Bearer dapi1234567890abcdef to the endpoint",
    }
    assert drop_secrets(details) == {
        "model": "sonnet",
        "input_tokens": 120,
        "request": {"headers": {"Accept": "json"}},
        "calls": [{"ok": True}],
        "log": "sent Authorization: [redacted] to the endpoint",
    }


def test_equal_values_get_equal_pseudonyms_in_order_of_first_appearance() -> None:
    redactor = FieldRedactor(["card_number"])
    rows = [{"card_number": "4111"}, {"card_number": "5500"}, {"card_number": "4111"}]
    assert redactor.redact(rows) == [
        {"card_number": "[redacted-1]"},
        {"card_number": "[redacted-2]"},
        {"card_number": "[redacted-1]"},
    ]


def test_field_names_match_case_insensitively_and_when_qualified() -> None:
    redactor = FieldRedactor(["Email"])
    value = {"EMAIL": "a@x", "ok.email": "a@x", "timeline": [{"fields": {"email": "b@x"}}]}
    assert redactor.redact(value) == {
        "EMAIL": "[redacted-1]",
        "ok.email": "[redacted-1]",
        "timeline": [{"fields": {"email": "[redacted-2]"}}],
    }


def test_a_redacted_value_is_also_replaced_under_other_keys_once_seen() -> None:
    redactor = FieldRedactor(["email"])
    redactor.redact([{"email": "a@x"}])
    assert redactor.redact({"measures": {"last_email": "a@x", "n": 3}}) == {
        "measures": {"last_email": "[redacted-1]", "n": 3}
    }


def test_nulls_stay_null_and_other_fields_are_untouched() -> None:
    redactor = FieldRedactor(["email"])
    assert redactor.redact({"email": None, "amount": 12.5}) == {"email": None, "amount": 12.5}


def test_without_fields_the_value_is_returned_as_is() -> None:
    value = {"email": "a@x"}
    assert FieldRedactor([]).redact(value) is value
