"""The run the Explain page explains: the Test page's last run or a stored run, as one subject.

A subject holds what explanations need — the pattern, the run's matches, the events when they
are at hand — and, for a stored run, the explanations stored with it (shown when the events were
not stored, since new explanations and near misses need the events).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cep.errors import StoreError
from cep.events import load_events
from cep.history import HistoryStore, RunSummary, StoredRun
from cep.model import Pattern, parse_pattern
from cep.results import Match
from ui.formatting import format_time, parse_time

RECENT_RUNS = 50
"""Stored runs offered in the run picker (the newest)."""


@dataclass(frozen=True)
class ExplainSubject:
    """One run to explain.

    Attributes:
        ident: identifies the run and its inputs (cache key of the explanations).
        title: the pattern and where its events came from, for the page header.
        pattern: the pattern that ran.
        matches: the run's matches (for a stored run: as stored, maybe fewer than
            ``match_count``).
        match_count: how many matches the run found.
        event_count: how many events it searched.
        events: the events it ran on (a Polars frame), or None when they are not at hand.
        stored_explanations: explanation payloads stored with the run (JSON), or None.
        run_id: the run's id in the history, if it was saved there.
        notes: facts a reader needs (truncated matches, why the events are missing, ...).
    """

    ident: str
    title: str
    pattern: Pattern
    matches: tuple[Match, ...]
    match_count: int
    event_count: int
    events: Any
    stored_explanations: tuple[dict[str, Any], ...] | None
    run_id: str | None
    notes: tuple[str, ...] = ()

    @property
    def has_events(self) -> bool:
        """Whether the events are at hand (new explanations and near misses need them)."""
        return self.events is not None


def match_from_json(data: Mapping[str, Any]) -> Match:
    """Return a match from its JSON object (DESIGN.md §5.1); times without a zone are UTC.

    >>> m = match_from_json({"pattern": "v", "key": {"symbol": "ACME"},
    ...                      "start": "2024-01-02T09:30:30", "end": "2024-01-02T09:32:30",
    ...                      "event_ids": [3, 5], "classifiers": ["A", "B"], "measures": {}})
    >>> (m.key, m.start.isoformat(), m.event_ids, m.classifiers)
    ({'symbol': 'ACME'}, '2024-01-02T09:30:30+00:00', [3, 5], ['A', 'B'])
    """
    return Match(
        pattern=str(data.get("pattern", "")),
        key=dict(data.get("key") or {}),
        start=parse_time(data.get("start")),
        end=parse_time(data.get("end")),
        event_ids=list(data.get("event_ids") or []),
        classifiers=[str(c) for c in data.get("classifiers") or []],
        measures=dict(data.get("measures") or {}),
        match_number=data.get("match_number"),
        empty_at=data.get("empty_at"),
    )


def events_from_rows(rows: Sequence[Mapping[str, Any]], pattern: Pattern, label: str) -> Any:
    """Return stored event rows as the frame the matcher read (time column parsed, order kept).

    Raises:
        EventDataError: the rows do not load (the message names the run).
    """
    text = "\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in rows)
    return load_events(
        text.encode("utf-8"),
        fmt="ndjson",
        time_field=pattern.order_by,
        max_rows=None,
        max_bytes=None,
        source_name=label,
    )


def _complete_preview(outcome: Mapping[str, Any]) -> Any:
    """The Test page's preview of the events when it holds all of them (small inputs)."""
    preview = outcome.get("events_preview")
    total = (outcome.get("result") or {}).get("stats", {}).get("events")
    if preview is None or total is None or int(preview.height) != int(total):
        return None
    return preview


def outcome_ident(outcome: Mapping[str, Any]) -> str:
    """Return what identifies a Test page outcome: its history run id and its inputs' digest."""
    history = outcome.get("history") or {}
    count = len((outcome.get("result") or {}).get("matches") or [])
    return f"current:{history.get('run_id')}:{outcome.get('inputs')}:{count}"


def current_subject(outcome: Mapping[str, Any], store: HistoryStore | None) -> ExplainSubject:
    """Return the Test page's last run (``ui.state.TEST_OUTCOME``) as a subject.

    The pattern and the events come from the outcome when it keeps them (``pattern``,
    ``events``); otherwise the pattern comes from the run's history record, and the events from
    the outcome's preview when it holds them all, else from the history record.

    Raises:
        StoreError: the pattern is not in the outcome and the run was not saved to History.
    """
    result = outcome.get("result") or {}
    history = outcome.get("history") or {}
    run_id = history.get("run_id") if history.get("status") == "stored" else None
    stored: StoredRun | None = None
    if run_id is not None and store is not None:
        stored = store.get_run(str(run_id))
    pattern_json = outcome.get("pattern")
    if pattern_json is not None:
        pattern = parse_pattern(pattern_json, source="the Test page's last run")
    elif stored is not None:
        pattern = stored.parsed_pattern()
    else:
        raise StoreError(
            "the Test page's last run was not saved to History, so its pattern is not at hand "
            f"({history.get('detail') or 'no history record'}); press Run on the Test page "
            "again once the history database is reachable"
        )
    notes: list[str] = []
    events = outcome.get("events")
    if events is None:
        events = _complete_preview(outcome)
    if events is None and stored is not None and store is not None:
        rows = store.get_run_events(stored.id)
        if rows is not None:
            events = events_from_rows(rows, pattern, f"events of history run {stored.id}")
        else:
            notes.append(_events_missing_note(stored))
    elif events is None:
        notes.append("The events of this run are not at hand.")
    matches = tuple(match_from_json(m) for m in result.get("matches") or [])
    label = str(outcome.get("events_label") or "events")
    return ExplainSubject(
        ident=outcome_ident(outcome),
        title=f"{pattern.name} on {label}",
        pattern=pattern,
        matches=matches,
        match_count=len(matches),
        event_count=int(result.get("stats", {}).get("events", 0)),
        events=events,
        stored_explanations=(
            tuple(stored.explanations) if stored is not None and stored.explanations else None
        ),
        run_id=None if run_id is None else str(run_id),
        notes=tuple(notes),
    )


def _events_missing_note(run: StoredRun) -> str:
    return (
        "The events of this run were not stored"
        + (f" ({run.events_note})" if run.events_note else "")
        + ", so only the explanations stored with it are shown; near misses need the events."
    )


def stored_subject(store: HistoryStore, run_id: str) -> ExplainSubject:
    """Return a stored run as a subject (its stored events loaded when there are some).

    Raises:
        StoreError: no such run, or the database cannot be read.
        PatternError: the stored pattern no longer validates.
        EventDataError: the stored events do not load.
    """
    run = store.get_run(run_id)
    pattern = run.parsed_pattern()
    notes: list[str] = []
    events = None
    rows = store.get_run_events(run.id) if run.has_events else None
    if rows:
        events = events_from_rows(rows, pattern, f"events of history run {run.id}")
    else:
        notes.append(_events_missing_note(run))
    if run.matches_truncated:
        notes.append(
            f"Only the first {len(run.matches):,} of {run.match_count:,} matches were stored "
            "(size bound), so only those are explained."
        )
    if run.redacted_fields:
        notes.append(
            "Redacted fields show per-run pseudonyms, not the original values: "
            + ", ".join(run.redacted_fields)
            + "."
        )
    return ExplainSubject(
        ident=f"stored:{run.id}",
        title=f"{run.pattern_name} on {run.event_source or 'events'}",
        pattern=pattern,
        matches=tuple(match_from_json(m) for m in run.matches),
        match_count=run.match_count,
        event_count=run.event_count,
        events=events,
        stored_explanations=tuple(run.explanations) if run.explanations else None,
        run_id=run.id,
        notes=tuple(notes),
    )


def recent_runs(store: HistoryStore, wanted: str | None = None) -> dict[str, str]:
    """Return run id → label of the newest stored runs, with ``wanted`` first if it is older.

    Raises:
        StoreError: the database cannot be read.
    """
    items = list(store.list_runs(limit=RECENT_RUNS).items)
    labels = {item.id: run_label(item) for item in items}
    if wanted and wanted not in labels:
        try:
            run = store.get_run(wanted)
        except StoreError:
            return labels  # deleted or purged: the picker offers the runs that exist
        older = {run.id: run_label(run)}
        labels = {**older, **labels}
    return labels


def run_label(run: RunSummary | StoredRun) -> str:
    """Return a run's one-line label: when, which pattern, how many matches, which events.

    >>> import datetime as dt
    >>> run_label(RunSummary(id="r1", created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    ...     owner="ana", pattern_name="v_shape", kind="match_recognize",
    ...     event_source="sample: stocks.csv", event_count=23, match_count=4, duration_ms=1.0,
    ...     has_events=True))
    '2026-01-02 03:04:05 · v_shape · 4 matches · sample: stocks.csv'
    """
    noun = "match" if run.match_count == 1 else "matches"
    when = format_time(run.created_at.replace(microsecond=0))
    return (
        f"{when} · {run.pattern_name} · {run.match_count:,} {noun} · {run.event_source or 'events'}"
    )
