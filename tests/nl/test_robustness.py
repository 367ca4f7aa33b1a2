"""Any text gives a Generation (a validated pattern or a question), never an exception; the
public API of cep.nl is pinned."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cep.nl
from cep.model import pattern_to_dict, validate_pattern
from cep.nl import generate_offline, pack_vocabulary
from cep.packs import load_pack

VOCABS: list[dict[str, Any]] = [
    pack_vocabulary(load_pack(n)) for n in ("card_fraud", "account_security", "iot_maintenance")
] + [{}]
WORDS = ["then", "followed", "by", "after", "within", "minutes", "5", "10", "more", "than", "at", "least", "over", "$500", "per", "card", "user", "device", "not", "without", "no", "silent", "rising", "falling", "standard", "deviations", "iqr", "session", "duplicate", "same", "enters", "polygon", "states", "from", "to", "when", "on", "terminal", "v", "shape", "dips", "recovers", "declined", "approved", "login", "failed", "success", "mfa", "challenge", "E42", "fault", "temperature", "amount", "spend", "total", "hour", "day", "200", "days", "months", "(", ")", ",", ";", ":", "'", "51.5", "-0.12", "km", "either", "order", "grace", "times", "in", "a", "row", "%", "2h", "30s", "0", "-5", "99999999999", "twice", "inactivity", "gap"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=20),
    noise=st.text(max_size=20),
    vocab=st.sampled_from(range(len(VOCABS))),
)
def test_any_text_gives_a_valid_pattern_or_a_question(
    words: list[str], noise: str, vocab: int
) -> None:
    g = generate_offline(" ".join(words) + noise, **VOCABS[vocab])
    if g.pattern is None:
        assert g.question
    else:
        assert g.question is None
        assert validate_pattern(pattern_to_dict(g.pattern)) == g.pattern


def test_public_api_is_curated() -> None:
    assert set(cep.nl.__all__) == {
        "DEFAULT_ENDPOINTS", "MAX_TEXT_CHARS", "MODEL_CHOICES", "Generation", "NlSettings",
        "Source", "check_model_name", "generate_offline", "generate_with_model",
        "list_example_prompts", "load_eval_set", "pack_vocabulary", "pattern_sha256",
        "text_sha256", "ACCEPT_ACTION", "AUDIT_PROMPTS_VAR", "GENERATE_ACTION", "audit_details",
        "audit_prompts_enabled",
    }
    assert len(cep.nl.__all__) == len(set(cep.nl.__all__))
