"""What the Explain page computes, cached per run: match explanations, the key's events around
each match, the keys and time bounds of the events, and near misses."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from cep.errors import CepError
from cep.explain import explain_result, find_near_misses, parse_key
from cep.explain.keyed import ID, TS, prepare_keyed
from cep.model import Pattern
from cep.results import Match
from ui.explain_cards import window_span
from ui.explain_source import ExplainSubject
from ui.formatting import parse_time

MAX_CONTEXT_EVENTS = 300
"""Other events of the key drawn behind one match (the first ones in its span)."""
MAX_KEY_OPTIONS = 1_000
"""Keys offered in the near-miss key picker; any other key can be typed."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def available_explanations(subject: ExplainSubject) -> int:
    """Return how many matches can be explained: all with the events, else those stored."""
    if subject.has_events:
        return len(subject.matches)
    return len(subject.stored_explanations or ())


def explanations(subject: ExplainSubject, count: int) -> list[dict[str, Any]]:
    """Return the JSON explanations of the first ``count`` matches.

    With the events they are computed now (``cep.explain.explain_result``); without, the
    explanations stored with the run are returned.

    Raises:
        CepError: a match cannot be explained on these events.
    """
    if not subject.has_events:
        return [dict(e) for e in (subject.stored_explanations or ())[:count]]
    return _explain(subject.ident, count, subject.pattern, subject.events, subject.matches)


@st.cache_data(show_spinner="Explaining the matches…", max_entries=32)
def _explain(
    ident: str, count: int, _pattern: Pattern, _events: Any, _matches: Sequence[Match]
) -> list[dict[str, Any]]:
    return explain_result(_pattern, _events, list(_matches[:count])).to_json_dicts()


def context_events(
    subject: ExplainSubject, explained: Sequence[Mapping[str, Any]]
) -> list[list[tuple[Any, dt.datetime]]]:
    """Return, per explanation, the key's events (id, time) within the shaded span of the match.

    Empty lists without the events, or for a match whose key is not found in them.
    """
    if not subject.has_events or not explained:
        return [[] for _ in explained]
    spans = [_span_us(e) for e in explained]
    keys = [dict(e.get("key") or {}) for e in explained]
    return _context(subject.ident, tuple(spans), repr(keys), subject.pattern, subject.events, keys)


def _span_us(explanation: Mapping[str, Any]) -> tuple[int, int] | None:
    span = window_span(explanation)
    start, end = parse_time(explanation.get("start")), parse_time(explanation.get("end"))
    if span is None or start is None or end is None:
        return None
    lo, hi = min(span[0], start), max(span[1], end)
    return _to_us(lo), _to_us(hi)


def _to_us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


@st.cache_data(show_spinner=False, max_entries=32)
def _context(
    ident: str,
    spans: tuple[tuple[int, int] | None, ...],
    keys_text: str,
    _pattern: Pattern,
    _events: Any,
    _keys: list[dict[str, Any]],
) -> list[list[tuple[Any, dt.datetime]]]:
    keyed = prepare_keyed(_pattern, _events, check_ids=False)
    out: list[list[tuple[Any, dt.datetime]]] = []
    for span, key in zip(spans, _keys, strict=True):
        if span is None:
            out.append([])
            continue
        try:
            frame = keyed.key_frame(keyed.key_number(key))
        except CepError:  # a key stored as text (a time) no longer equals the event's value
            out.append([])
            continue
        times = frame.get_column(TS).to_list()
        lo = bisect.bisect_left(times, span[0])
        hi = min(bisect.bisect_right(times, span[1]), lo + MAX_CONTEXT_EVENTS)
        ids = frame.get_column(ID).slice(lo, hi - lo).to_list()
        out.append(
            [
                (i, _EPOCH + dt.timedelta(microseconds=t))
                for i, t in zip(ids, times[lo:hi], strict=True)
            ]
        )
    return out


def key_label(pattern: Pattern, key: Mapping[str, Any]) -> str:
    """Return a key as the text ``parse_key`` reads: the value alone for one partition column,
    else ``col=value,col2=value``.

    >>> from cep.model import parse_pattern
    >>> p = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "1m",
    ...                    "partition_by": ["site", "host"]})
    >>> key_label(p, {"site": "eu", "host": 7})
    'site=eu,host=7'
    """
    if len(pattern.partition_by) == 1:
        return str(key[pattern.partition_by[0]])
    return ",".join(f"{c}={key[c]}" for c in pattern.partition_by)


def key_options(subject: ExplainSubject) -> list[str]:
    """Return the keys of the events (as ``parse_key`` text) in order of first appearance, the
    first :data:`MAX_KEY_OPTIONS`."""
    if not subject.has_events or not subject.pattern.partition_by:
        return []
    columns = list(subject.pattern.partition_by)
    keys = subject.events.select(columns).unique(maintain_order=True).head(MAX_KEY_OPTIONS)
    return [key_label(subject.pattern, k) for k in keys.to_dicts()]


def matched_keys(subject: ExplainSubject) -> list[str]:
    """Return the keys that have matches (as ``parse_key`` text), in match order."""
    if not subject.pattern.partition_by:
        return []
    labels = []
    for match in subject.matches:
        if set(match.key) == set(subject.pattern.partition_by):
            labels.append(key_label(subject.pattern, match.key))
    return list(dict.fromkeys(labels))


def time_bounds(subject: ExplainSubject) -> tuple[dt.datetime, dt.datetime] | None:
    """Return the first and last event time (UTC, without a zone for the slider), or None."""
    if not subject.has_events or subject.events.height == 0:
        return None
    column = subject.events.get_column(subject.pattern.order_by)
    first, last = column.min(), column.max()
    if not isinstance(first, dt.datetime) or not isinstance(last, dt.datetime):
        return None
    return _naive_utc(first), _naive_utc(last)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def resolve_key(subject: ExplainSubject, text: str) -> dict[str, Any] | None:
    """Return the key named by ``text`` (None for a pattern without partition columns).

    Raises:
        EventDataError: no event has that key, or the text does not name the partition columns.
    """
    if not subject.pattern.partition_by:
        return None
    return parse_key(subject.pattern, subject.events, text)


def near_misses(
    subject: ExplainSubject,
    key: Mapping[str, Any] | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Return the key's near misses (JSON form), closest calls first.

    Raises:
        CepError: the key or the time range does not fit the events.
    """
    return _near(
        subject.ident, repr(sorted((key or {}).items())), start, end, limit,
        subject.pattern, subject.events, dict(key) if key is not None else None,
    )  # fmt: skip


@st.cache_data(show_spinner="Looking for near misses…", max_entries=64)
def _near(
    ident: str,
    key_text: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int,
    _pattern: Pattern,
    _events: Any,
    _key: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    misses = find_near_misses(_pattern, _events, key=_key, start=start, end=end, limit=limit)
    return [m.to_json_dict() for m in misses]
