"""The result of turning text into a pattern: the pattern (or a question), and what was assumed.

A :class:`Generation` is what both generators return and what the audit records: assumptions,
uninterpreted text, warnings, where the pattern came from, and model metadata (endpoint,
latency, tokens, hashes). It never holds the prompt text itself, only its hash and length.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cep.model import Pattern, PatternBase, pattern_to_dict

__all__ = ["Generation", "Source", "pattern_sha256", "text_sha256"]

Source = Literal["offline", "model", "model+repair", "offline-fallback"]


def text_sha256(text: str) -> str:
    """Hex SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pattern_sha256(pattern: PatternBase) -> str:
    """Hex SHA-256 of the pattern's canonical JSON (sorted keys, no spaces)."""
    data = json.dumps(pattern_to_dict(pattern), sort_keys=True, separators=(",", ":"))
    return text_sha256(data)


class Generation(BaseModel):
    """A generated pattern, or the reason there is none.

    Attributes:
        pattern: the validated pattern; ``None`` when the text was refused or needs ``question``.
        assumptions: every default the generator filled in, in words.
        uninterpreted: parts of the text that were not used.
        question: a clarifying question when the text is ambiguous or names unknown fields.
        warnings: things the user must see (a fallback, a clamped bound, a rejected answer).
        source: ``offline``, ``model``, ``model+repair`` (the second answer was used) or
            ``offline-fallback`` (the model failed; the offline generator answered).
        model: the preferred model asked (``sonnet`` / ``opus``), if any.
        endpoint: the serving endpoint called, if any.
        latency_ms: total time spent waiting for the endpoint.
        prompt_tokens, completion_tokens: as reported by the endpoint (summed over a repair).
        prompt_sha256, prompt_chars: hash and length of the user's text.
        pattern_sha256: hash of the resulting pattern's canonical JSON.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: Pattern | None = None
    assumptions: tuple[str, ...] = ()
    uninterpreted: tuple[str, ...] = ()
    question: str | None = None
    warnings: tuple[str, ...] = ()
    source: Source = "offline"
    model: str | None = None
    endpoint: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_sha256: str = ""
    prompt_chars: int = Field(0, ge=0)
    pattern_sha256: str | None = None

    @property
    def is_refused(self) -> bool:
        """Whether no pattern came back (a refusal or a question)."""
        return self.pattern is None
