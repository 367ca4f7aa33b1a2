"""Scrubbing: keep tokens and secrets out of every message, log line and record of a deployment."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "describe_exception", "scrub"]

REDACTED = "[redacted]"
"""What replaces a secret in a message."""

_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\bdapi[A-Za-z0-9-]{8,}"),  # Databricks personal access tokens
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWTs
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and anything that looks like a token replaced.

    >>> scrub("denied for Bearer abc.def-123 (token t0ps3cret)", ["t0ps3cret"])
    'denied for [redacted] (token [redacted])'
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def describe_exception(exc: BaseException, secrets: Iterable[str] = (), limit: int = 400) -> str:
    """One scrubbed line describing an SDK exception, without the SDK's configuration dump.

    >>> describe_exception(ValueError("no auth. Config: host=h, token=***"))
    'no auth.'
    """
    text = " ".join(str(exc).split()).split(" Config: ", 1)[0]
    return scrub(text[:limit], secrets) or "no detail"
