"""Who ran a test: the signed-in user inside Databricks Apps, else the operating-system user."""

from __future__ import annotations

import getpass
from collections.abc import Mapping

__all__ = ["FORWARDED_EMAIL_HEADER", "resolve_owner"]

FORWARDED_EMAIL_HEADER = "X-Forwarded-Email"
"""The header Databricks Apps sets to the signed-in user's e-mail."""


def resolve_owner(headers: Mapping[str, str] | None) -> str:
    """The owner to record: ``X-Forwarded-Email`` (any letter case) when present, else the OS user.

    Args:
        headers: the request headers (``st.context.headers``), or ``None`` outside a request.

    >>> resolve_owner({"x-forwarded-email": " ana@example.com "})
    'ana@example.com'
    """
    for name, value in (headers or {}).items():
        if name.lower() == FORWARDED_EMAIL_HEADER.lower() and value and value.strip():
            return value.strip()[:320]
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"
