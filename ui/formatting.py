"""Turning match values (keys, times, measures) into short text for tables, charts and hovers."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

NO_KEY_LABEL = "(all events)"


def format_key(key: Mapping[str, Any] | None) -> str:
    """Return a partition key as a label: the value alone for one column, else `col=value` pairs.

    >>> format_key({"symbol": "ACME"})
    'ACME'
    >>> format_key({"region": "EU", "user": 7})
    'region=EU, user=7'
    >>> format_key({})
    '(all events)'
    """
    if not key:
        return NO_KEY_LABEL
    if len(key) == 1:
        return format_value(next(iter(key.values())))
    return ", ".join(f"{name}={format_value(value)}" for name, value in key.items())


def parse_time(value: Any) -> dt.datetime | None:
    """Return a timezone-aware UTC datetime from an ISO string or datetime (naive means UTC)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def format_time(value: Any) -> str:
    """Return a time as `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC, or the value as given if unparseable.

    >>> format_time("2024-01-02T09:30:30Z")
    '2024-01-02 09:30:30'
    >>> format_time("2024-01-02T10:30:30.250+01:00")
    '2024-01-02 09:30:30.250'
    """
    moment = parse_time(value)
    if moment is None:
        return "" if value is None else str(value)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        fraction = f"{moment.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text


def format_value(value: Any) -> str:
    """Return a scalar as short text: whole floats without `.0`, NULL as `NULL`.

    >>> [format_value(v) for v in (97.0, 97.25, None, True, "x")]
    ['97', '97.25', 'NULL', 'true', 'x']
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return f"{value:.6g}"
    if isinstance(value, dt.datetime):
        return format_time(value)
    return str(value)


def format_measures(measures: Mapping[str, Any] | None) -> str:
    """Return measures as `name=value` pairs.

    >>> format_measures({"bottom": 97.0, "end_price": 100.0})
    'bottom=97, end_price=100'
    """
    if not measures:
        return ""
    return ", ".join(f"{name}={format_value(value)}" for name, value in measures.items())


def format_items(items: Sequence[Any] | None) -> str:
    """Return event ids or classifiers separated by spaces.

    >>> format_items([3, 5, 7])
    '3 5 7'
    """
    return " ".join(format_value(item) for item in items or ())
