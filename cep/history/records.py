"""Typed, frozen records that go in and out of the history store.

In: :class:`RunRecord` (a test run to record), :class:`TemplateDraft`, and the filters
:class:`RunFilters` / :class:`AuditFilters`. Out: :class:`RunSummary` (a list row),
:class:`StoredRun` (the detail), :class:`RecordOutcome`, :class:`Page`,
:class:`RunComparison`, :class:`UserTemplate` and :class:`AuditEvent`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cep.model import Pattern, PatternBase, parse_pattern
from cep.results import MatchResult

__all__ = [
    "AuditEvent",
    "AuditFilters",
    "Page",
    "RecordOutcome",
    "RunComparison",
    "RunFilters",
    "RunRecord",
    "RunSummary",
    "StoredRun",
    "TemplateDraft",
    "UserTemplate",
]

T = TypeVar("T")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Rows(Protocol):
    """Anything with ``to_dicts()`` (a Polars DataFrame), so this module needs no Polars."""

    def to_dicts(self) -> list[dict[str, Any]]: ...


class RunRecord(_Frozen):
    """One test run to record: what was matched, against what, and what came out.

    Attributes:
        pattern: the pattern that ran.
        result: what the matcher returned.
        owner: who ran it (:func:`~cep.history.owner.resolve_owner`).
        event_source: where the events came from, for people (a file name, "pack fraud, seed 0").
        duration_ms: how long the run took (default: the result's ``elapsed_ms``).
        events: the events as rows (``df.to_dicts()``), stored for re-runs when the settings
            allow and they fit the size bound; ``None`` to never store them.
        explanations: JSON-ready explanation payloads (DESIGN.md §5.4), or ``None``.
        run_settings: JSON-ready knobs of the run worth keeping (time field, limits, ...).
        created_at: when it ran (default: now); set it only when importing old runs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    pattern: Pattern
    result: MatchResult
    owner: str = Field(min_length=1, max_length=320)
    event_source: str = Field(default="", max_length=500)
    duration_ms: float | None = Field(default=None, ge=0)
    events: Sequence[Mapping[str, Any]] | None = None
    explanations: Any = None
    run_settings: Mapping[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime | None = None


    @classmethod
    def from_run(
        cls,
        pattern: PatternBase,
        result: MatchResult,
        *,
        owner: str,
        events: _Rows | Sequence[Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> RunRecord:
        """Build a record from a matcher run; ``events`` may be a Polars DataFrame.

        >>> from cep.model import parse_pattern
        >>> p = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "1m"})
        >>> RunRecord.from_run(p, MatchResult(matches=[]), owner="ana").pattern.name
        'hb'
        """
        rows = events.to_dicts() if events is not None and hasattr(events, "to_dicts") else events
        return cls(pattern=pattern, result=result, owner=owner, events=rows, **fields)


class RecordOutcome(_Frozen):
    """What happened to a recorded run.

    Attributes:
        id: the run's id (a UUID), valid in either case.
        status: ``stored`` (in the database) or ``spooled`` (kept in the local spool file until
            the database is back; :meth:`HistoryStore.flush_spool` writes it).
        detail: why it was spooled (the database error, without secrets).
    """

    id: str
    status: Literal["stored", "spooled"]
    detail: str | None = None


class RunFilters(_Frozen):
    """Filters of the run list; ``None`` means "any".

    Attributes:
        pattern_name: a case-insensitive substring of the pattern name.
        kind: the exact pattern kind.
        owner: the exact owner.
        created_from: runs at or after this time.
        created_to: runs before this time.
        has_matches: only runs with (``True``) or without (``False``) matches.
    """

    pattern_name: str | None = None
    kind: str | None = None
    owner: str | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    has_matches: bool | None = None


class RunSummary(_Frozen):
    """One row of the run list (no large documents)."""

    id: str
    created_at: datetime
    owner: str
    pattern_name: str
    kind: str
    event_source: str
    event_count: int
    match_count: int
    duration_ms: float
    has_events: bool


class StoredRun(_Frozen):
    """A stored run in full, as the History and Explain pages show it.

    Attributes:
        pattern: the pattern's JSON value (see :meth:`parsed_pattern`).
        matches: the matches' JSON objects (DESIGN.md §5.1), redacted; at most the size bound.
        matches_truncated: whether some matches were left out to respect the size bound
            (``match_count`` is always the true count).
        explanations: the explanation payloads, redacted, or ``None``.
        explanations_truncated: whether explanations were cut to respect the size bound.
        has_events: whether the events were stored (a re-run needs them).
        events_note: why the events were not stored, when they were not.
        redacted_fields: the event fields that were redacted before storing.
        run_settings: the knobs the caller recorded with the run.
    """

    id: str
    created_at: datetime
    owner: str
    pattern_name: str
    kind: str
    pattern: dict[str, Any]
    event_source: str
    event_count: int
    match_count: int
    duration_ms: float
    matches: list[dict[str, Any]]
    matches_truncated: bool
    explanations: Any
    explanations_truncated: bool
    has_events: bool
    events_note: str | None
    redacted_fields: list[str]
    run_settings: dict[str, Any]

    def parsed_pattern(self) -> Pattern:
        """The stored pattern as a validated model (``PatternError`` if it no longer validates)."""
        return parse_pattern(self.pattern, source=f"history run {self.id}")


class Page(_Frozen, Generic[T]):
    """One page of a keyset-paginated list, newest first.

    Attributes:
        items: the rows of this page.
        next_cursor: pass it back as ``cursor`` for the next page; ``None`` on the last page.
    """

    items: tuple[T, ...]
    next_cursor: str | None = None


class RunComparison(_Frozen):
    """How the matches of run ``b`` differ from those of run ``a``.

    Matches are the same when their key and bound event ids are equal.

    Attributes:
        added: matches of ``b`` that ``a`` lacks.
        removed: matches of ``a`` that ``b`` lacks.
        unchanged: matches in both (as ``b`` stored them).
        is_partial: a stored match list was truncated, so the comparison covers part of it.
    """

    a_id: str
    b_id: str
    added: tuple[dict[str, Any], ...]
    removed: tuple[dict[str, Any], ...]
    unchanged: tuple[dict[str, Any], ...]
    is_partial: bool


class TemplateDraft(_Frozen):
    """What a user saves as a template.

    Attributes:
        name: unique per owner.
        description: free text.
        tags: labels for the gallery filter.
        pattern: the pattern the template creates.
    """

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5_000)
    tags: tuple[str, ...] = ()
    pattern: Pattern

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.strip() for t in value if t.strip()))


class UserTemplate(_Frozen):
    """A saved user template."""

    id: str
    owner: str
    name: str
    description: str
    tags: tuple[str, ...]
    pattern: dict[str, Any]
    kind: str
    created_at: datetime
    updated_at: datetime

    def parsed_pattern(self) -> Pattern:
        """The template's pattern as a validated model."""
        return parse_pattern(self.pattern, source=f"template {self.name!r}")


class AuditEvent(_Frozen):
    """One audit log entry.

    Attributes:
        action: what happened, dotted (``nl.generate``, ``deploy.job``, ``history.delete``).
        subject: what it happened to (a pattern name, a job id).
        details: JSON-ready facts, with secret-looking keys dropped.
    """

    id: str
    created_at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


class AuditFilters(_Frozen):
    """Filters of the audit list; ``None`` means "any".

    Attributes:
        action: an exact action, or a prefix ending with ``.`` (``nl.`` = every NL action).
    """

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
