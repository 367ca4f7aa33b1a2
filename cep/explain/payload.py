"""The explanation payloads: why a match happened, and why a near miss did not (DESIGN.md §5.4).

Frozen dataclasses with a ``to_json_dict()`` that gives the one JSON form (times as ISO-8601
text without a zone, durations in seconds) and a ``from_json_dict()`` that reads it back, so a
payload stored in the history or sent over MCP round-trips unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from cep.explain.jsonform import json_row, json_tree, json_value
from cep.results import format_time, jsonable

__all__ = [
    "REASONS",
    "ClauseCheck",
    "MatchExplanation",
    "NearMiss",
    "NearMissReason",
    "TimelineEntry",
]

NearMissReason = Literal[
    "window_expired",
    "strict_contiguity_broken",
    "negated_event_seen",
    "threshold_not_reached",
    "skip_strategy_discarded",
    "data_ended",
    "baseline_too_short",
    "expected_arrived",
    "run_broken",
    "having_not_met",
    "boundary_not_crossed",
    "no_transition",
]
"""Why a partial match did not complete. The first six apply to every kind that has steps; the
rest are kind-specific: ``baseline_too_short`` (outlier: a far value judged before the baseline
held ``min_samples``), ``expected_arrived`` (absence: the expected event came, how close to the
deadline is in ``details``), ``run_broken`` (trend: a step failed before the run was long
enough), ``having_not_met`` (session: a closed session failed ``having``),
``boundary_not_crossed`` (geofence enter/exit: the closest approach that stayed on one side),
``no_transition`` (state_machine: a run that stopped before a terminal state because no
transition took the later events)."""

REASONS: tuple[str, ...] = get_args(NearMissReason)

def _time_in(value: Any) -> datetime | None:
    """A time read back from JSON: ISO text without a zone is UTC (DESIGN.md §5.1)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@dataclass(frozen=True, slots=True)
class ClauseCheck:
    """One top-level clause of a condition (its AND parts) and its value for one event.

    Attributes:
        text: the clause as SQL (``cep.expr.to_sql``).
        value: True, False, or None when SQL gave NULL (which does not satisfy a condition).
    """

    text: str
    value: bool | None

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"text": self.text, "value": self.value}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """What one bound event did for the match.

    Attributes:
        event_id: the event's id (id field value or 0-based row position).
        time: its event time.
        step: the step, variable or role it was bound to (the match's classifier).
        fields: the values of the fields the step's condition reads (or the kind's rule uses).
        clauses: the condition's top-level clauses and whether each was true for this event.
    """

    event_id: Any
    time: datetime | None
    step: str
    fields: dict[str, Any]
    clauses: tuple[ClauseCheck, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "event_id": json_value(self.event_id),
            "time": format_time(self.time),
            "step": self.step,
            "fields": json_row(self.fields),
            "clauses": [{"text": c.text, "value": c.value} for c in self.clauses],
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> TimelineEntry:
        """Read the JSON form back."""
        return cls(
            event_id=data["event_id"],
            time=_time_in(data["time"]),
            step=data["step"],
            fields=dict(data["fields"]),
            clauses=tuple(ClauseCheck(c["text"], c["value"]) for c in data["clauses"]),
        )


@dataclass(frozen=True, slots=True)
class MatchExplanation:
    """Why one match happened: its events, what each condition saw, the engine state at the end.

    Attributes:
        pattern: the pattern's name.
        kind: the pattern's kind.
        key: partition column → value.
        start: the match's start time.
        end: the match's end time.
        event_ids: the bound events' ids, in match order.
        classifiers: their steps / variables / roles.
        matched_event_payloads: every bound event's fields as given (at most ``max_events``).
        more_events: how many bound events were left out of the payloads and the timeline.
        timeline: per bound event (at most ``max_events``), see :class:`TimelineEntry`.
        state_snapshot: the state the kind's engine had when the match completed, recomputed
            from the events (window, counts, runs, baseline, states ...; see
            ``cep.explain.snapshot``).
    """

    pattern: str
    kind: str
    key: dict[str, Any]
    start: datetime | None
    end: datetime | None
    event_ids: tuple[Any, ...]
    classifiers: tuple[str, ...]
    matched_event_payloads: tuple[dict[str, Any], ...]
    more_events: int
    timeline: tuple[TimelineEntry, ...]
    state_snapshot: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form (DESIGN.md §5.4); ``Explanations.to_json_dicts`` gives the same for all the
        explanations of a result, faster."""
        return {
            "pattern": self.pattern,
            "kind": self.kind,
            "key": json_tree(self.key),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "event_ids": [json_value(v) for v in self.event_ids],
            "classifiers": list(self.classifiers),
            "matched_event_payloads": [json_row(p) for p in self.matched_event_payloads],
            "more_events": self.more_events,
            "timeline": [t.to_json_dict() for t in self.timeline],
            "state_snapshot": json_tree(self.state_snapshot),
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> MatchExplanation:
        """Read the JSON form back (times become datetimes again; payload values stay JSON)."""
        return cls(
            pattern=data["pattern"],
            kind=data["kind"],
            key=dict(data["key"]),
            start=_time_in(data["start"]),
            end=_time_in(data["end"]),
            event_ids=tuple(data["event_ids"]),
            classifiers=tuple(data["classifiers"]),
            matched_event_payloads=tuple(dict(p) for p in data["matched_event_payloads"]),
            more_events=int(data["more_events"]),
            timeline=tuple(TimelineEntry.from_json_dict(t) for t in data["timeline"]),
            state_snapshot=dict(data["state_snapshot"]),
        )


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A partial match that did not complete, how far it got and why it stopped.

    Attributes:
        pattern: the pattern's name.
        kind: the pattern's kind.
        key: partition column → value.
        step_reached: the furthest step (or variable, or the kind's stage) it reached.
        steps_done: how many of the ``steps_total`` steps it completed.
        steps_total: the steps a match needs (1 for detectors that have a single test).
        event_ids: the events bound so far.
        classifiers: their steps / roles.
        broken_by: the id of the event that broke it, if an event did (None: time or the end
            of the data did).
        reason: one of :data:`REASONS`.
        reason_text: one English sentence for a user.
        started: time of its first event.
        ended: when it stopped (the breaking event, the window end, or the last event).
        details: the numbers behind the reason (counts vs threshold, seconds short, ...).
    """

    pattern: str
    kind: str
    key: dict[str, Any]
    step_reached: str
    steps_done: int
    steps_total: int
    event_ids: tuple[Any, ...]
    classifiers: tuple[str, ...]
    broken_by: Any
    reason: NearMissReason
    reason_text: str
    started: datetime | None
    ended: datetime | None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "pattern": self.pattern,
            "kind": self.kind,
            "key": jsonable(self.key),
            "step_reached": self.step_reached,
            "steps_done": self.steps_done,
            "steps_total": self.steps_total,
            "event_ids": jsonable(list(self.event_ids)),
            "classifiers": list(self.classifiers),
            "broken_by": jsonable(self.broken_by),
            "reason": self.reason,
            "reason_text": self.reason_text,
            "started": format_time(self.started),
            "ended": format_time(self.ended),
            "details": jsonable(self.details),
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> NearMiss:
        """Read the JSON form back."""
        return cls(
            pattern=data["pattern"],
            kind=data["kind"],
            key=dict(data["key"]),
            step_reached=data["step_reached"],
            steps_done=int(data["steps_done"]),
            steps_total=int(data["steps_total"]),
            event_ids=tuple(data["event_ids"]),
            classifiers=tuple(data["classifiers"]),
            broken_by=data["broken_by"],
            reason=data["reason"],
            reason_text=data["reason_text"],
            started=_time_in(data["started"]),
            ended=_time_in(data["ended"]),
            details=dict(data["details"]),
        )
