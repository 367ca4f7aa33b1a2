"""Redaction: configured event fields become pseudonyms, and secret-looking keys are dropped.

Two different jobs:

- :class:`FieldRedactor` replaces the values of configured event fields (``card_number``,
  ``email``) in stored events, match keys and explanations by pseudonyms ``"[redacted-1]"``,
  ``"[redacted-2]"``, ... numbered per stored run in order of first appearance. Equal values get
  equal pseudonyms, so a stored run can still be re-run (partitions, dedup keys and
  correlations keep their identity) while the values themselves are never stored.
- :func:`drop_secrets` removes keys that look like credentials (``token``, ``password``,
  ``secret``, ``authorization``, ``api_key``, ...) from audit details. It is a safety net: callers
  redact what they log, and must not put secrets inside values of innocent keys.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["REDACTED", "FieldRedactor", "drop_secrets", "looks_secret"]

REDACTED = "[redacted]"
"""What :func:`drop_secrets` leaves in place of a bearer token found inside a string."""

_SECRET_WORDS = frozenset(
    {"token", "password", "passwd", "secret", "authorization", "credential", "credentials",
     "apikey", "cookie", "pwd", "passphrase"}
)
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key"), ("auth", "key")})
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")


def looks_secret(key: str) -> bool:
    """Whether a mapping key names a credential (word-wise, so ``input_tokens`` is not one).

    >>> [looks_secret(k) for k in ("access_token", "clientSecret", "API-Key", "max_tokens")]
    [True, True, True, False]
    """
    words = [w.lower() for w in _WORDS.findall(key)]
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def drop_secrets(value: Any) -> Any:
    """A copy of a JSON-like value without secret-looking keys, at any depth.

    Keys for which :func:`looks_secret` holds are removed; ``Bearer <token>`` inside strings is
    replaced by ``"[redacted]"``.

    >>> drop_secrets({"endpoint": "x", "headers": {"Authorization": "Bearer abc"}, "tokens": 3})
    {'endpoint': 'x', 'headers': {}, 'tokens': 3}
    """
    if isinstance(value, Mapping):
        return {
            str(k): drop_secrets(v) for k, v in value.items() if not looks_secret(str(k))
        }
    if isinstance(value, list | tuple):
        return [drop_secrets(v) for v in value]
    if isinstance(value, str):
        return _BEARER.sub(REDACTED, value)
    return value


class FieldRedactor:
    """Replaces the values of named event fields by per-run pseudonyms, wherever they appear.

    A value is redacted when it sits under a key equal to a configured field (case-insensitive;
    a qualified key such as ``ok.email`` or ``A.card_number`` counts too). A string value seen
    under such a key is also replaced where it appears elsewhere (e.g. a measure
    ``LAST(B.email)``), so it is not leaked under another name.

    Args:
        fields: the event fields to redact.

    >>> r = FieldRedactor(["email"])
    >>> r.redact([{"id": 1, "email": "a@x"}, {"id": 2, "email": "b@x"}, {"id": 3, "email": "a@x"}])
    [{'id': 1, 'email': '[redacted-1]'}, {'id': 2, 'email': '[redacted-2]'}, {'id': 3, 'email': '[redacted-1]'}]
    >>> r.redact({"key": {"email": "b@x"}, "measures": {"last_mail": "b@x"}})
    {'key': {'email': '[redacted-2]'}, 'measures': {'last_mail': '[redacted-2]'}}
    """

    def __init__(self, fields: Collection[str]) -> None:
        self._fields = frozenset(f.lower() for f in fields)
        self._pseudonyms: dict[str, str] = {}

    @property
    def is_active(self) -> bool:
        """Whether any field is configured (otherwise :meth:`redact` returns its input)."""
        return bool(self._fields)

    @property
    def fields(self) -> tuple[str, ...]:
        """The configured fields (lower case, sorted)."""
        return tuple(sorted(self._fields))

    def redact(self, value: Any) -> Any:
        """A redacted copy of a JSON-like value (mappings, lists, scalars); the input is kept."""
        if not self._fields:
            return value
        return self._walk(value, under_field=False)

    def _is_field(self, key: str) -> bool:
        lowered = key.lower()
        return lowered in self._fields or lowered.rsplit(".", 1)[-1] in self._fields

    def _pseudonym(self, value: Any) -> str:
        token = json.dumps(value, sort_keys=True, default=str)
        if token not in self._pseudonyms:
            self._pseudonyms[token] = f"[redacted-{len(self._pseudonyms) + 1}]"
        return self._pseudonyms[token]

    def _walk(self, value: Any, *, under_field: bool) -> Any:
        if isinstance(value, Mapping):
            return {
                k: self._walk(v, under_field=under_field or self._is_field(str(k)))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._walk(v, under_field=under_field) for v in value]
        if value is None:
            return None
        if under_field:
            return self._pseudonym(value)
        if isinstance(value, str) and json.dumps(value) in self._pseudonyms:
            return self._pseudonyms[json.dumps(value)]
        return value
