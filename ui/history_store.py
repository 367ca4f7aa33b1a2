"""The app's history store: one per process, who the user is, and recording the Test page's runs.

Settings are read from the environment at this edge (``HistorySettings.from_env``) and the store
is cached with ``st.cache_resource``, keyed by the variables that configure it (so a test that
points ``LAKESTREAM_DATA_DIR`` or ``LAKESTREAM_DATABASE_URL`` elsewhere gets a store of its own).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import streamlit as st

from cep.errors import CepError
from cep.history import (
    HistorySettings,
    HistoryStore,
    RunRecord,
    create_history_engine,
    resolve_owner,
)
from cep.model import Pattern
from cep.results import MatchResult

logger = logging.getLogger(__name__)

SETTINGS_PREFIXES = ("LAKESTREAM_", "PG")
"""Environment variables that configure the history store start with one of these."""

MAX_EXPLAINED_MATCHES = 100
"""Matches explained and stored with a run (the first ones, in result order)."""
EXPLAINED_EVENTS_PER_MATCH = 20
"""Bound events kept per stored explanation; the rest are counted in ``more_events``."""
MAX_EVENT_SOURCE_CHARS = 500

SPOOLED_MESSAGE = (
    "History database unreachable, the run is kept locally and will be saved when it is back."
)

RecordStatus = Literal["stored", "spooled", "failed"]


@dataclass(frozen=True)
class RecordReport:
    """What happened when a test run was recorded, kept with the Test page's outcome.

    Attributes:
        status: ``stored``, ``spooled`` (kept in the local spool until the database is back) or
            ``failed`` (not saved: the settings are wrong, or the spool cannot be written).
        run_id: the run's id in the history (``None`` when it failed).
        detail: the database error, for ``spooled`` and ``failed``.
        explained: whether explanations were stored with the run.
    """

    status: RecordStatus
    run_id: str | None = None
    detail: str | None = None
    explained: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain form, for session state."""
        return asdict(self)


def history_environment(environ: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """Return the environment variables that configure the history store, sorted.

    >>> history_environment({"PGHOST": "h", "HOME": "/root", "LAKESTREAM_DATA_DIR": "d"})
    (('LAKESTREAM_DATA_DIR', 'd'), ('PGHOST', 'h'))
    """
    env = os.environ if environ is None else environ
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith(SETTINGS_PREFIXES)))


@st.cache_resource(show_spinner=False, max_entries=8)
def _store_for(environment: tuple[tuple[str, str], ...]) -> HistoryStore:
    settings = HistorySettings.from_env(dict(environment))
    return HistoryStore(create_history_engine(settings), settings)


def get_history_store() -> HistoryStore:
    """Return the process's history store (built on first use; no connection is made yet).

    Raises:
        StoreError: a history variable in the environment holds an unusable value.
    """
    return _store_for(history_environment())


def current_owner() -> str:
    """Return who is using the app: ``X-Forwarded-Email`` inside Databricks Apps, else the OS
    user."""
    return resolve_owner(st.context.headers)


def explain_for_history(pattern: Pattern, frame: Any, result: MatchResult) -> list[Any] | None:
    """Return the JSON explanations of the first matches, bounded, or None when they cannot be
    computed (the run is still recorded, without them)."""
    if not result.matches:
        return []
    try:
        from cep.explain import explain_result

        explained = explain_result(
            pattern,
            frame,
            result.matches[:MAX_EXPLAINED_MATCHES],
            max_events=EXPLAINED_EVENTS_PER_MATCH,
        )
        return explained.to_json_dicts()
    except Exception:  # an optional enrichment must never cost the user the run itself
        logger.exception("Could not explain the matches of %r for the history", pattern.name)
        return None


def record_test_run(
    pattern: Pattern,
    result: MatchResult,
    frame: Any,
    *,
    event_source: str,
    run_settings: Mapping[str, Any],
) -> RecordReport:
    """Record one Test page run in the history, with its explanations and (when they fit) its
    events; never raises.

    Args:
        pattern: the pattern that ran.
        result: what the matcher (or the replay) returned.
        frame: the events it ran on (a Polars frame).
        event_source: where the events came from, for people ("sample: stocks.csv").
        run_settings: JSON-ready facts of the run (where the pattern came from, replay settings).
    """
    try:
        store = get_history_store()
        explanations = explain_for_history(pattern, frame, result)
        extra: dict[str, Any] = dict(run_settings)
        events: Any = frame
        size = int(frame.estimated_size())
        if size > store.settings.max_stored_bytes:
            # JSON text is larger than Polars' columns: skip the costly conversion
            events = None
            extra["events_not_stored"] = (
                f"{frame.height:,} events take {size:,} bytes in memory, over the "
                f"{store.settings.max_stored_bytes:,}-byte bound (LAKESTREAM_MAX_STORED_BYTES)"
            )
        if explanations is not None and len(result.matches) > MAX_EXPLAINED_MATCHES:
            extra["explained_matches"] = MAX_EXPLAINED_MATCHES
        record = RunRecord.from_run(
            pattern,
            result,
            owner=current_owner(),
            events=events if store.settings.store_events else None,
            event_source=event_source[:MAX_EVENT_SOURCE_CHARS],
            explanations=explanations,
            run_settings=extra,
        )
        outcome = store.record_run(record)
    except CepError as e:
        return RecordReport(status="failed", detail=str(e))
    return RecordReport(
        status=outcome.status,
        run_id=outcome.id,
        detail=outcome.detail,
        explained=explanations is not None,
    )


def render_record_report(report: Mapping[str, Any] | None) -> None:
    """Say where the run went: a caption when stored, a warning when spooled or not saved."""
    if not report:
        return
    status = report.get("status")
    if status == "stored":
        st.caption(
            ":material/history: Saved to **History**"
            + ("" if report.get("explained") else " (without explanations)")
            + "."
        )
    elif status == "spooled":
        st.warning(
            f"**{SPOOLED_MESSAGE}**\n\n{report.get('detail') or ''}",
            icon=":material/cloud_off:",
        )
    else:
        st.warning(
            "**This run was not saved to History** — the results below are complete. "
            f"{report.get('detail') or ''}",
            icon=":material/cloud_off:",
        )


def flush_spooled_runs(store: HistoryStore) -> tuple[int, int, str | None]:
    """Write runs kept in the local spool if the database is back.

    Returns:
        ``(written, still waiting, why not)``.
    """
    pending = store.pending_spooled()
    if not pending:
        return 0, 0, None
    try:
        written = store.flush_spool()
    except CepError as e:
        return 0, store.pending_spooled(), str(e)
    return written, store.pending_spooled(), None
