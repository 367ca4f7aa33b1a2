"""The match table of the Test page, built from the matches of `MatchResult.to_json_dict()`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ui.formatting import format_items, format_key, format_measures, format_time, format_value

MATCH_COLUMNS = ("key", "start", "end", "events", "classifiers", "measures")
COLUMN_HELP = {
    "match_number": "MATCH_NUMBER(): 1, 2, ... within each key, as SQL numbers matches.",
    "key": "The partition key (the pattern's partition_by columns) the match belongs to.",
    "start": "Time of the first event of the match (UTC).",
    "end": "Time of the last event of the match (UTC).",
    "events": "Ids of the events in the match, in order (the id column, or row numbers from 0).",
    "classifiers": "The pattern variable or step each event was bound to, in the same order.",
    "measures": "The pattern's MEASURES, computed over the whole match.",
}


def has_match_numbers(matches: Sequence[Mapping[str, Any]]) -> bool:
    """Return whether any match carries a `match_number` (match_recognize patterns do)."""
    return any(m.get("match_number") is not None for m in matches)


def _events_text(match: Mapping[str, Any]) -> str:
    ids = match.get("event_ids") or []
    if not ids and match.get("empty_at") is not None:
        return f"(empty match at {format_value(match['empty_at'])})"
    return format_items(ids)


def match_rows(matches: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return one display row per match: key, start, end, events, classifiers, measures.

    A `match_number` column leads when the matches have one.

    >>> match_rows([{"key": {"symbol": "ACME"}, "start": "2024-01-02T09:30:30Z",
    ...              "end": "2024-01-02T09:32:30Z", "event_ids": [3, 5, 7],
    ...              "classifiers": ["A", "B", "C"], "measures": {"bottom": 97.0}}])[0]
    ... # doctest: +NORMALIZE_WHITESPACE
    {'key': 'ACME', 'start': '2024-01-02 09:30:30', 'end': '2024-01-02 09:32:30',
     'events': '3 5 7', 'classifiers': 'A B C', 'measures': 'bottom=97'}
    """
    numbered = has_match_numbers(matches)
    rows = []
    for match in matches:
        row: dict[str, Any] = {}
        if numbered:
            row["match_number"] = match.get("match_number")
        row["key"] = format_key(match.get("key"))
        row["start"] = format_time(match.get("start"))
        row["end"] = format_time(match.get("end"))
        row["events"] = _events_text(match)
        row["classifiers"] = format_items(match.get("classifiers"))
        row["measures"] = format_measures(match.get("measures"))
        rows.append(row)
    return rows
