"""What the audit log records about a natural-language generation, and when the prompt is kept.

Every generation is appended to the audit log as ``nl.generate``; accepting its pattern (Accept,
Save as template, Open in Test) appends ``nl.accept`` naming the generation's entry. The details
say how the pattern was made — prompt hash and length, model and endpoint, latency, tokens when
the endpoint reported them, whether the offline fallback answered, the warnings, the resulting
pattern's hash — and never hold a secret. The prompt text itself is kept only when
``LAKESTREAM_AUDIT_PROMPTS`` is on; otherwise words of the prompt that a warning repeats
("not used: ...") are masked as well.

>>> from cep.nl.offline import generate_offline
>>> g = generate_offline("5 or more declined charges per card within 10 minutes",
...                      schema={"card_id": "string", "status": "string"},
...                      examples={"status": ["declined"]})
>>> d = audit_details(g, accepted=False, store_prompt_text=False)
>>> d["prompt_chars"], d["model"], d["fallback_used"], d["accepted"], "prompt" in d
(53, 'offline', False, False, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from cep.errors import CepError
from cep.nl.generation import Generation, text_sha256
from cep.nl.offline import MAX_TEXT_CHARS

__all__ = [
    "ACCEPT_ACTION",
    "AUDIT_PROMPTS_VAR",
    "GENERATE_ACTION",
    "MASKED",
    "AcceptedVia",
    "audit_details",
    "audit_prompts_enabled",
]

GENERATE_ACTION = "nl.generate"
"""Audit action of one generation (a first prompt or a refinement)."""
ACCEPT_ACTION = "nl.accept"
"""Audit action of a user accepting a generated pattern."""
AUDIT_PROMPTS_VAR = "LAKESTREAM_AUDIT_PROMPTS"
"""Set to ``1`` to keep the prompt text in the audit log (off by default)."""
MASKED = "[prompt words]"
"""What replaces the prompt's own words inside warnings when the prompt is not kept."""

AcceptedVia = Literal["accept", "template", "open_in_test"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def audit_prompts_enabled(environ: Mapping[str, str]) -> bool:
    """Whether ``LAKESTREAM_AUDIT_PROMPTS`` asks for prompt texts in the audit log.

    >>> audit_prompts_enabled({}), audit_prompts_enabled({"LAKESTREAM_AUDIT_PROMPTS": "1"})
    (False, True)

    Raises:
        CepError: the variable is set to something other than a yes/no value.
    """
    raw = environ.get(AUDIT_PROMPTS_VAR, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise CepError(f"{AUDIT_PROMPTS_VAR} must be 1 or 0 (true/false), got {raw!r}")


def _mask(warning: str, words: tuple[str, ...]) -> str:
    for word in sorted(set(words), key=len, reverse=True):
        warning = re.sub(rf"(?<![\w]){re.escape(word)}(?![\w])", MASKED, warning)
    return re.sub(rf"{re.escape(MASKED)}(?:\s+{re.escape(MASKED)})+", MASKED, warning)


def audit_details(
    generation: Generation,
    *,
    accepted: bool,
    store_prompt_text: bool,
    prompt: str | None = None,
    schema_source: str | None = None,
    refined: bool = False,
    generation_id: str | None = None,
    accepted_via: AcceptedVia | None = None,
) -> dict[str, Any]:
    """The JSON-ready details of an ``nl.generate`` or ``nl.accept`` audit entry.

    The actor and the time are the audit entry's own columns; these are the facts about the
    generation. Tokens appear only when the endpoint reported them.

    Args:
        generation: what the generator returned.
        accepted: whether the user accepted the pattern (``False`` for ``nl.generate``).
        store_prompt_text: keep the prompt text (:func:`audit_prompts_enabled`).
        prompt: the user's text; needed only with ``store_prompt_text``.
        schema_source: what grounded the words (a template pack's name), if anything.
        refined: whether the text edited a current pattern.
        generation_id: for ``nl.accept``: the id of the ``nl.generate`` entry.
        accepted_via: for ``nl.accept``: ``accept``, ``template`` or ``open_in_test``.

    Raises:
        CepError: ``store_prompt_text`` without the prompt, or a prompt that is not the one
            the generation was made from (its hash differs).
    """
    details: dict[str, Any] = {
        "prompt_sha256": generation.prompt_sha256,
        "prompt_chars": generation.prompt_chars,
    }
    if store_prompt_text:
        if prompt is None:
            raise CepError("audit: the prompt text is to be kept but was not given")
        if text_sha256(prompt) != generation.prompt_sha256:
            raise CepError("audit: the prompt given is not the one this generation was made from")
        details["prompt"] = prompt[:MAX_TEXT_CHARS]
    used_model = generation.source in ("model", "model+repair")
    details.update({
        "source": generation.source,
        "model": generation.model or "offline",
        "model_used": generation.model if used_model and generation.model else "offline",
        "endpoint": generation.endpoint,
        "latency_ms": generation.latency_ms,
        "fallback_used": generation.source == "offline-fallback",
        "repaired": generation.source == "model+repair",
    })
    if generation.prompt_tokens is not None:
        details["prompt_tokens"] = generation.prompt_tokens
    if generation.completion_tokens is not None:
        details["completion_tokens"] = generation.completion_tokens
    warnings = list(generation.warnings)
    if not store_prompt_text and generation.uninterpreted:
        warnings = [_mask(w, generation.uninterpreted) for w in warnings]
    pattern = generation.pattern
    details.update({
        "warnings": warnings,
        "assumption_count": len(generation.assumptions),
        "uninterpreted_count": len(generation.uninterpreted),
        "asked_question": generation.question is not None,
        "pattern_sha256": generation.pattern_sha256,
        "pattern_kind": pattern.kind if pattern is not None else None,
        "schema_source": schema_source,
        "refined": refined,
        "accepted": accepted,
    })
    if generation_id is not None:
        details["generation_id"] = generation_id
    if accepted_via is not None:
        details["accepted_via"] = accepted_via
    return details
