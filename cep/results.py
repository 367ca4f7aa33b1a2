"""Match results: the one shape every matcher kind returns, and its JSON, table and CSV forms.

All times are UTC. In the JSON form they are ISO-8601 strings without a zone suffix
(``"2024-01-01T00:00:01"``), as DESIGN.md §5.1 specifies.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

__all__ = ["Match", "MatchResult", "PartialMatch", "format_time", "jsonable"]


def format_time(value: datetime | None) -> str | None:
    """ISO-8601 text of a UTC time, without the zone suffix (``None`` stays ``None``)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat()


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of a measure or id value (times as ISO text, durations in seconds)."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
        return None  # NaN and infinities have no JSON form
    return value


@dataclass(frozen=True, slots=True)
class Match:
    """One match: the key it was found on, its time span, its bound events and their labels.

    Attributes:
        pattern: the pattern's name.
        key: partition column → value (empty without ``partition_by``).
        start: time of the first bound event (of the start row for an empty match).
        end: time of the last bound event.
        event_ids: the id-field values (or 0-based input row positions) of the bound events.
        classifiers: the variable or step each event was bound to, in the same order.
        measures: name → value computed for the match.
        match_number: MATCH_NUMBER() within the key (``match_recognize`` only).
        empty_at: the id of the row where an empty match was found (``match_recognize`` only).
        row_measures: running measures per output row (ALL ROWS PER MATCH only).
    """

    pattern: str
    key: dict[str, Any]
    start: datetime | None
    end: datetime | None
    event_ids: list[Any]
    classifiers: list[str]
    measures: dict[str, Any] = field(default_factory=dict)
    match_number: int | None = None
    empty_at: Any = None
    row_measures: list[dict[str, Any]] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The match as the JSON object of DESIGN.md §5.1."""
        out: dict[str, Any] = {
            "pattern": self.pattern,
            "key": jsonable(self.key),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "event_ids": jsonable(self.event_ids),
            "classifiers": list(self.classifiers),
            "measures": jsonable(self.measures),
        }
        if self.match_number is not None:
            out["match_number"] = self.match_number
        if self.empty_at is not None or (self.match_number is not None and not self.event_ids):
            out["empty_at"] = jsonable(self.empty_at)
        if self.row_measures is not None:
            out["row_measures"] = jsonable(self.row_measures)
        return out


@dataclass(frozen=True, slots=True)
class PartialMatch:
    """A partial match that did not complete (a near miss), e.g. one its window killed.

    Attributes:
        pattern: the pattern's name.
        key: partition column → value.
        step_reached: the last step (or variable) the partial match had bound.
        event_ids: the events bound so far.
        classifiers: their steps, in the same order.
        started: time of its first event.
        ended: when it died (for a window: start + within).
        reason: why it died, e.g. ``"window expired"``.
    """

    pattern: str
    key: dict[str, Any]
    step_reached: str
    event_ids: list[Any]
    classifiers: list[str]
    started: datetime | None
    ended: datetime | None
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form, with times as ISO text."""
        return {
            "pattern": self.pattern,
            "key": jsonable(self.key),
            "step_reached": self.step_reached,
            "event_ids": jsonable(self.event_ids),
            "classifiers": list(self.classifiers),
            "started": format_time(self.started),
            "ended": format_time(self.ended),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Everything one matcher run returns.

    Attributes:
        matches: in output order (by key in order of first appearance, then as the
            semantics define).
        unmatched_event_ids: ids of the unmatched rows (``WITH UNMATCHED ROWS`` only).
        stats: ``events``, ``matches``, ``elapsed_ms`` and matcher details such as ``path``.
        timed_out: partial matches a window killed (near misses).
        pending: time-driven matches whose deadline lies beyond the last event time (reason
            ``"pending"``, ``ended`` = the deadline); they become matches only when event time
            (or ``flush(now=...)``) passes the deadline.
    """

    matches: Sequence[Match]
    unmatched_event_ids: list[Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    timed_out: Sequence[PartialMatch] = ()
    pending: Sequence[PartialMatch] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """The result as the JSON object printed by ``python -m cep match --format json``."""
        out: dict[str, Any] = {"matches": [m.to_json_dict() for m in self.matches]}
        if self.unmatched_event_ids is not None:
            out["unmatched_event_ids"] = jsonable(self.unmatched_event_ids)
        if self.pending:
            out["pending"] = [p.to_json_dict() for p in self.pending]
        out["stats"] = jsonable(self.stats)
        return out

    def to_json(self, indent: int | None = None) -> str:
        """JSON text of :meth:`to_json_dict`."""
        return json.dumps(self.to_json_dict(), indent=indent, default=str)

    def to_frame(self) -> pl.DataFrame:
        """One row per match with the columns a table view needs (lists shown as text)."""
        rows = [
            {
                "key": ", ".join(f"{k}={v}" for k, v in m.key.items()),
                "start": m.start,
                "end": m.end,
                "events": ", ".join(str(i) for i in m.event_ids),
                "classifiers": " ".join(m.classifiers),
                "measures": json.dumps(jsonable(m.measures), default=str) if m.measures else "",
                "match_number": m.match_number,
            }
            for m in self.matches
        ]
        schema: dict[str, pl.DataType] = {
            "key": pl.String(),
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
            "events": pl.String(),
            "classifiers": pl.String(),
            "measures": pl.String(),
            "match_number": pl.Int64(),
        }
        return pl.DataFrame(rows, schema=schema)

    def to_csv(self) -> str:
        """CSV text, one row per match."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["pattern", "key", "start", "end", "event_ids", "classifiers", "measures", "match_number"])
        for m in self.matches:
            writer.writerow(
                [
                    m.pattern,
                    json.dumps(jsonable(m.key)),
                    format_time(m.start),
                    format_time(m.end),
                    json.dumps(jsonable(m.event_ids)),
                    " ".join(m.classifiers),
                    json.dumps(jsonable(m.measures)),
                    "" if m.match_number is None else m.match_number,
                ]
            )
        return buffer.getvalue()
