"""Conversions between the store's records and table rows: redaction and size bounds happen here.

:func:`run_row` turns a :class:`~cep.history.records.RunRecord` into the row that is stored
(or spooled): event fields redacted everywhere, each large JSON document held to
``settings.max_stored_bytes``. The other functions read rows back into frozen records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cep.history.records import AuditEvent, RunRecord, RunSummary, StoredRun, UserTemplate
from cep.history.redact import FieldRedactor
from cep.history.settings import HistorySettings
from cep.model import pattern_to_dict
from cep.results import jsonable

__all__ = [
    "as_utc",
    "audit_from_row",
    "json_size",
    "run_row",
    "stored_run_from_row",
    "summary_from_row",
    "template_from_row",
]


def as_utc(value: datetime) -> datetime:
    """A UTC-aware time (SQLite hands back naive UTC times; PostgreSQL, the session's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_size(value: Any) -> int:
    """Bytes of the compact UTF-8 JSON text of ``value``."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def _bounded_list(items: Sequence[Any], max_bytes: int) -> tuple[list[Any], bool]:
    """The longest prefix of ``items`` whose JSON fits ``max_bytes``; and whether it was cut."""
    kept: list[Any] = []
    total = 2
    for item in items:
        total += json_size(item) + 1
        if total > max_bytes:
            return kept, True
        kept.append(item)
    return kept, False


def run_row(run: RunRecord, settings: HistorySettings, *, now: datetime) -> dict[str, Any]:
    """The row to store for ``run``: a new id, redacted documents, bounded sizes.

    The events are redacted first so that pseudonyms are numbered in event order, and values of
    redacted fields are recognised again in matches and explanations.
    """
    redactor = FieldRedactor(settings.redact_fields)
    events_json = None if run.events is None else redactor.redact(jsonable([dict(e) for e in run.events]))
    matches = redactor.redact([m.to_json_dict() for m in run.result.matches])
    kept_matches, matches_cut = _bounded_list(matches, settings.max_stored_bytes)

    explanations: Any = None
    explanations_cut = False
    if run.explanations is not None:
        explanations = redactor.redact(jsonable(run.explanations))
        if isinstance(explanations, list):
            explanations, explanations_cut = _bounded_list(explanations, settings.max_stored_bytes)
        elif json_size(explanations) > settings.max_stored_bytes:
            explanations, explanations_cut = None, True

    stored_events: list[Any] | None = None
    note: str | None = None
    if not settings.store_events:
        note = "raw event storage is switched off (LAKESTREAM_STORE_EVENTS=0)"
    elif events_json is None:
        note = "the events were not passed to the history store"
    else:
        size = json_size(events_json)
        if size > settings.max_stored_bytes:
            note = (
                f"{len(events_json):,} events take {size:,} bytes, over the "
                f"{settings.max_stored_bytes:,}-byte bound (LAKESTREAM_MAX_STORED_BYTES)"
            )
        else:
            stored_events = events_json

    stats = run.result.stats
    event_count = stats.get("events")
    if not isinstance(event_count, int):
        event_count = len(run.events) if run.events is not None else 0
    duration = run.duration_ms
    if duration is None:
        elapsed = stats.get("elapsed_ms")
        duration = float(elapsed) if isinstance(elapsed, int | float) else 0.0
    created = as_utc(run.created_at) if run.created_at is not None else now
    return {
        "id": str(uuid.uuid4()),
        "created_at": created,
        "owner": run.owner,
        "pattern_name": run.pattern.name[:200],
        "kind": run.pattern.kind,
        "pattern": json.dumps(pattern_to_dict(run.pattern), ensure_ascii=False),
        "event_source": run.event_source,
        "event_count": event_count,
        "match_count": len(run.result.matches),
        "duration_ms": float(duration),
        "matches": kept_matches,
        "matches_truncated": matches_cut,
        "explanations": explanations,
        "explanations_truncated": explanations_cut,
        "events": stored_events,
        "events_note": note,
        "redacted_fields": list(settings.redact_fields),
        "run_settings": redactor.redact(jsonable(dict(run.run_settings))),
    }


def summary_from_row(row: Mapping[Any, Any]) -> RunSummary:
    """A list row from the summary columns (``has_events`` computed by the query)."""
    return RunSummary(
        id=row["id"],
        created_at=as_utc(row["created_at"]),
        owner=row["owner"],
        pattern_name=row["pattern_name"],
        kind=row["kind"],
        event_source=row["event_source"],
        event_count=row["event_count"],
        match_count=row["match_count"],
        duration_ms=row["duration_ms"],
        has_events=bool(row["has_events"]),
    )


def stored_run_from_row(row: Mapping[Any, Any]) -> StoredRun:
    """The full record of a run (without the stored events themselves)."""
    return StoredRun(
        id=row["id"],
        created_at=as_utc(row["created_at"]),
        owner=row["owner"],
        pattern_name=row["pattern_name"],
        kind=row["kind"],
        pattern=json.loads(row["pattern"]),
        event_source=row["event_source"],
        event_count=row["event_count"],
        match_count=row["match_count"],
        duration_ms=row["duration_ms"],
        matches=list(row["matches"]),
        matches_truncated=bool(row["matches_truncated"]),
        explanations=row["explanations"],
        explanations_truncated=bool(row["explanations_truncated"]),
        has_events=bool(row["has_events"]),
        events_note=row["events_note"],
        redacted_fields=list(row["redacted_fields"]),
        run_settings=dict(row["run_settings"]),
    )


def template_from_row(row: Mapping[Any, Any]) -> UserTemplate:
    """A saved template from its row."""
    return UserTemplate(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        description=row["description"],
        tags=tuple(row["tags"]),
        pattern=json.loads(row["pattern"]),
        kind=row["kind"],
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )


def audit_from_row(row: Mapping[Any, Any]) -> AuditEvent:
    """An audit entry from its row."""
    return AuditEvent(
        id=row["id"],
        created_at=as_utc(row["created_at"]),
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        details=dict(row["details"]),
    )
