"""Rendering the History page: run filters and pages, a run's detail, re-run, export, delete,
comparing two runs, and the audit log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from cep.explain import describe_pattern
from cep.history import (
    AuditFilters,
    HistoryStore,
    Page,
    RunFilters,
    RunSummary,
    StoredRun,
)
from cep.history.export import render_runs
from cep.model import KINDS
from ui import state
from ui.confirm import confirm_delete, render_delete_button
from ui.formatting import format_time
from ui.gallery_view import KIND_COLOR, badge, english_markdown
from ui.history_store import flush_spooled_runs
from ui.navigation import PAGES, TEST_PAGE
from ui.settings import ROOT
from ui.tables import COLUMN_HELP, match_rows
from ui.widgets import empty_state, escape_markdown, report_errors

EXPLAIN_PAGE = "pages/explain.py"
"""The Explain page's script; "Open explanation" appears once it exists and is in the menu."""

PAGE_SIZE = 50
ANY_KIND = "Any kind"
MATCHES_ANY = "Any"
MATCHES_YES = "With matches"
MATCHES_NO = "Without matches"
NO_RUNS = "No runs yet — run a test on the Test page; every run is saved here."
NO_RUNS_FILTERED = (
    "No run matches these filters. Clear a filter (or widen the dates) to see more runs."
)

RUN_COLUMN_HELP = {
    "created (UTC)": "When the test ran.",
    "pattern": "The pattern's name.",
    "kind": "The pattern's kind.",
    "owner": "Who ran it (the signed-in e-mail in Databricks Apps, else the OS user).",
    "source": "Where the events came from.",
    "events": "Events searched.",
    "matches": "Matches found.",
    "duration (ms)": "Matching time.",
    "re-runnable": "Whether the events were stored, so that the run can be re-run.",
}
AUDIT_COLUMN_HELP = {
    "time (UTC)": "When it happened.",
    "actor": "Who did it.",
    "action": "What happened (nl.generate, deploy.job, ...).",
    "subject": "What it happened to (a pattern name, a job id).",
    "details": "Facts recorded with it (secret-looking fields are never stored).",
}


def run_time(moment: dt.datetime) -> str:
    """Return a stored time to the second, in UTC.

    >>> run_time(dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC))
    '2026-01-02 03:04:05'
    """
    return format_time(moment.replace(microsecond=0))


# ------------------------------------------------------------------------------------------
# Pages of a keyset-paginated list


def current_cursor(key: str, signature: str) -> tuple[str | None, int]:
    """Return the cursor of the page shown and its number (1 = newest); new filters (another
    ``signature``) start again at the newest page."""
    pages = st.session_state.get(key)
    if not isinstance(pages, dict) or pages.get("signature") != signature:
        pages = {"signature": signature, "cursors": [None]}
        st.session_state[key] = pages
    cursors: list[str | None] = pages["cursors"]
    return cursors[-1], len(cursors)


def _go_older(key: str, cursor: str) -> None:
    pages = dict(st.session_state[key])
    pages["cursors"] = [*pages["cursors"], cursor]
    st.session_state[key] = pages


def _go_newer(key: str) -> None:
    pages = dict(st.session_state[key])
    pages["cursors"] = pages["cursors"][:-1] or [None]
    st.session_state[key] = pages


def render_pager(
    key: str, number: int, next_cursor: str | None, buttons: tuple[str, str], shown: int
) -> None:
    """Render "Newer" / "Older" buttons around the page number."""
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.button(
            "Newer",
            key=buttons[0],
            icon=":material/chevron_left:",
            disabled=number <= 1,
            on_click=_go_newer,
            args=(key,),
            help="Show the previous page (more recent entries).",
        )
        st.caption(f"Page {number} · {shown} shown")
        st.button(
            "Older",
            key=buttons[1],
            icon=":material/chevron_right:",
            disabled=next_cursor is None,
            on_click=_go_older,
            args=(key, next_cursor),
            help="Show the next page (older entries).",
        )


# ------------------------------------------------------------------------------------------
# Filters and the run list


def day_range(
    start: dt.date | None, end: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Return the UTC times of a day range: from the start of ``start`` to the end of ``end``.

    >>> day_range(dt.date(2024, 1, 2), dt.date(2024, 1, 2))  # doctest: +NORMALIZE_WHITESPACE
    (datetime.datetime(2024, 1, 2, 0, 0, tzinfo=datetime.timezone.utc),
     datetime.datetime(2024, 1, 3, 0, 0, tzinfo=datetime.timezone.utc))
    """
    low = dt.datetime.combine(start, dt.time.min, dt.UTC) if start else None
    high = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, dt.UTC) if end else None
    return low, high


def render_run_filters() -> RunFilters:
    """Render the run list's filters; return the filters they set."""
    name_col, kind_col, owner_col = st.columns(3)
    name = name_col.text_input(
        "Pattern name",
        key=state.HISTORY_NAME,
        placeholder="v_shape, fraud…",
        help="Runs whose pattern name contains this text (case does not matter).",
        icon=":material/search:",
    )
    kind = kind_col.selectbox(
        "Kind",
        [ANY_KIND, *KINDS],
        key=state.HISTORY_KIND,
        help="Runs of patterns of this kind only.",
    )
    owner = owner_col.text_input(
        "Owner",
        key=state.HISTORY_OWNER,
        placeholder="Everyone",
        help="Runs of this user only: the exact e-mail (Databricks Apps) or user name.",
    )
    from_col, to_col, matches_col = st.columns(3)
    start = from_col.date_input(
        "From",
        value=None,
        key=state.HISTORY_FROM,
        help="Runs on or after this day (UTC). Blank: since the first run.",
    )
    end = to_col.date_input(
        "To",
        value=None,
        key=state.HISTORY_TO,
        help="Runs on or before this day (UTC). Blank: up to now.",
    )
    matches = matches_col.selectbox(
        "Matches",
        [MATCHES_ANY, MATCHES_YES, MATCHES_NO],
        key=state.HISTORY_HAS_MATCHES,
        help="Only runs that found at least one match, only runs that found none, or both.",
    )
    low, high = day_range(start, end)  # type: ignore[arg-type]
    if low and high and low >= high:
        st.warning("**From** is after **To**: no run can match; swap the days.")
    return RunFilters(
        pattern_name=(name or "").strip() or None,
        kind=None if kind == ANY_KIND else kind,
        owner=(owner or "").strip() or None,
        created_from=low,
        created_to=high,
        has_matches={MATCHES_YES: True, MATCHES_NO: False}.get(str(matches)),
    )


def filters_signature(filters: RunFilters | AuditFilters) -> str:
    """Return text that identifies a set of filters (a page cursor belongs to one)."""
    return filters.model_dump_json()


def list_page(store: HistoryStore, filters: RunFilters) -> tuple[Page[RunSummary], int]:
    """Return the page of runs shown for ``filters`` and its number.

    Raises:
        StoreError: the database cannot be read.
    """
    cursor, number = current_cursor(state.HISTORY_PAGES, filters_signature(filters))
    return store.list_runs(filters, cursor=cursor, limit=PAGE_SIZE), number


def run_rows(items: Sequence[RunSummary]) -> list[dict[str, Any]]:
    """Return one table row per run."""
    return [
        {
            "created (UTC)": run_time(item.created_at),
            "pattern": item.pattern_name,
            "kind": item.kind,
            "owner": item.owner,
            "source": item.event_source,
            "events": item.event_count,
            "matches": item.match_count,
            "duration (ms)": round(item.duration_ms, 1),
            "re-runnable": item.has_events,
        }
        for item in items
    ]


def run_label(item: RunSummary) -> str:
    """Return a run's one-line label in pickers."""
    noun = "match" if item.match_count == 1 else "matches"
    return (
        f"{run_time(item.created_at)} · {item.pattern_name} · {item.match_count:,} {noun}"
        f" · {item.event_source or 'events'}"
    )


def pick_run(
    label: str, key: str, items: Sequence[RunSummary], index: int, help_text: str
) -> str | None:
    """Render a run picker over the page's runs; return the chosen run id."""
    labels = {item.id: run_label(item) for item in items}
    if st.session_state.get(key) not in labels:
        st.session_state.pop(key, None)
    choice = st.selectbox(
        label,
        list(labels),
        index=min(index, len(labels) - 1),
        format_func=labels.__getitem__,
        key=key,
        help=help_text,
    )
    return None if choice is None else str(choice)


def render_run_list(
    store: HistoryStore, filters: RunFilters, page: Page[RunSummary], number: int
) -> None:
    """Render the table of one page of runs, the pager, the export and the chosen run."""
    if not page.items:
        if number > 1:
            _go_newer(state.HISTORY_PAGES)
            st.rerun()
        filtered = filters != RunFilters()
        empty_state(NO_RUNS_FILTERED if filtered else NO_RUNS)
        if not filtered:
            st.page_link(TEST_PAGE, label="Open the Test page", icon=":material/play_circle:")
        return
    st.dataframe(
        run_rows(page.items),
        hide_index=True,
        width="stretch",
        column_config={n: st.column_config.Column(n, help=h) for n, h in RUN_COLUMN_HELP.items()},
    )
    render_pager(
        state.HISTORY_PAGES,
        number,
        page.next_cursor,
        (state.HISTORY_NEWER, state.HISTORY_OLDER),
        len(page.items),
    )
    render_export_all(store, filters)
    st.divider()
    run_id = pick_run(
        "Run",
        state.HISTORY_SELECTED,
        page.items,
        0,
        "The run to show in detail, from this page of the list.",
    )
    if run_id is not None:
        with report_errors("Could not show the run"):
            render_run_detail(store, store.get_run(run_id))


def render_export_all(store: HistoryStore, filters: RunFilters) -> None:
    """Offer every run that passes the filters as JSON and CSV, prepared on request."""
    signature = filters_signature(filters)
    prepared = st.session_state.get(state.HISTORY_EXPORT_ALL)
    if st.button(
        "Export every matching run",
        key=state.HISTORY_EXPORT_PREPARE,
        icon=":material/file_export:",
        help="Prepare JSON and CSV files of every run that passes the filters (all pages, up "
        "to 10,000 runs), with their patterns and matches.",
    ):
        with report_errors("Could not export the runs"):
            data = store.export_runs(filters, "json")
            prepared = {
                "signature": signature,
                "count": len(json.loads(data)["runs"]),
                "json": data,
                "csv": store.export_runs(filters, "csv"),
            }
            st.session_state[state.HISTORY_EXPORT_ALL] = prepared
    if not isinstance(prepared, dict) or prepared.get("signature") != signature:
        return
    count = int(prepared["count"])
    with st.container(horizontal=True, vertical_alignment="center"):
        st.download_button(
            "Download JSON",
            data=prepared["json"],
            file_name="lakestream_history.json",
            mime="application/json",
            key=state.HISTORY_EXPORT_ALL_JSON,
            icon=":material/download:",
            on_click="ignore",
            help='Every matching run as {"runs": [...]}: pattern, matches, counts, source.',
        )
        st.download_button(
            "Download CSV",
            data=prepared["csv"],
            file_name="lakestream_history.csv",
            mime="text/csv",
            key=state.HISTORY_EXPORT_ALL_CSV,
            icon=":material/download:",
            on_click="ignore",
            help="One row per matching run; the pattern and the matches as JSON text.",
        )
        st.caption(f"{count:,} {'run' if count == 1 else 'runs'} ready to download.")


# ------------------------------------------------------------------------------------------
# One run in detail


def explain_page_available() -> bool:
    """Return whether the Explain page exists and is in the navigation."""
    return (ROOT / EXPLAIN_PAGE).is_file() and any(spec.path == EXPLAIN_PAGE for spec in PAGES)


def open_explanation(run_id: str) -> None:
    """Go to the Explain page with this run selected."""
    st.session_state[state.EXPLAIN_RUN_ID] = run_id
    st.switch_page(EXPLAIN_PAGE)


def render_matches_table(matches: Sequence[Mapping[str, Any]], empty: str) -> None:
    """Show matches as the Test page's table, or ``empty`` when there are none."""
    if not matches:
        st.caption(empty)
        return
    rows = match_rows(matches)
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={n: st.column_config.Column(n, help=COLUMN_HELP[n]) for n in rows[0]},
    )


def render_run_detail(store: HistoryStore, run: StoredRun) -> None:
    """Render one stored run: what ran on what, its matches, and what can be done with it."""
    st.subheader(run.pattern_name, anchor=False)
    st.markdown(badge(run.kind, KIND_COLOR))
    st.caption(
        f"Run {run.id} · {run_time(run.created_at)} UTC · by {escape_markdown(run.owner)} · "
        f"events from **{escape_markdown(run.event_source or 'unknown')}**"
    )
    events_col, matches_col, duration_col = st.columns(3)
    events_col.metric("Events", f"{run.event_count:,}", border=True, help="Events searched.")
    matches_col.metric("Matches", f"{run.match_count:,}", border=True, help="Matches found.")
    duration_col.metric(
        "Duration", f"{run.duration_ms:,.1f} ms", border=True, help="Matching time."
    )
    with report_errors("Could not describe the stored pattern"):
        english = describe_pattern(run.parsed_pattern())
        _, _, body = english.partition("\n")
        st.markdown("**In plain English** — " + english_markdown(body or english))
    render_matches_table(run.matches, "No matches.")
    if run.matches_truncated:
        st.caption(
            f"Only the first {len(run.matches):,} of {run.match_count:,} matches were stored "
            "(size bound)."
        )
    if run.explanations:
        st.caption(
            f"Explanations stored for {len(run.explanations):,} "
            f"{'match' if len(run.explanations) == 1 else 'matches'}."
        )
    if run.redacted_fields:
        st.caption("Redacted fields: " + escape_markdown(", ".join(run.redacted_fields)) + ".")
    with st.expander("Pattern (JSON)", icon=":material/code:"):
        st.code(json.dumps(run.pattern, indent=2, ensure_ascii=False), language="json")
    render_run_actions(store, run)
    render_delete_confirmation(store, run)
    render_rerun_result(run)


def render_run_actions(store: HistoryStore, run: StoredRun) -> None:
    """The buttons of a run: re-run, open its explanation, download it, delete it."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        if st.button(
            "Re-run",
            key=state.HISTORY_RERUN,
            icon=":material/replay:",
            disabled=not run.has_events,
            help="Run the stored pattern again on the stored events and say whether the "
            "matches are the same."
            + ("" if run.has_events else f" Not possible: {run.events_note or 'no events'}."),
        ):
            with report_errors("Could not re-run the stored run"):
                rerun_stored(store, run)
        if explain_page_available() and st.button(
            "Open explanation",
            key=state.HISTORY_OPEN_EXPLANATION,
            icon=":material/lightbulb:",
            help="Why each match happened, step by step, on the Explain page.",
        ):
            open_explanation(run.id)  # not a callback: the page menu is known only in the script
        stem = f"{run.pattern_name or 'run'}_{run.id[:8]}"
        st.download_button(
            "Download JSON",
            data=render_runs([run], "json"),
            file_name=f"{stem}.json",
            mime="application/json",
            key=state.HISTORY_EXPORT_JSON,
            icon=":material/download:",
            on_click="ignore",
            help='This run as {"runs": [...]}: pattern, matches, explanations, counts.',
        )
        st.download_button(
            "Download CSV",
            data=render_runs([run], "csv"),
            file_name=f"{stem}.csv",
            mime="text/csv",
            key=state.HISTORY_EXPORT_CSV,
            icon=":material/download:",
            on_click="ignore",
            help="This run as one CSV row; the pattern and the matches as JSON text.",
        )
        render_delete_button(
            state.HISTORY_DELETE,
            run.id,
            help="Delete this run from the history (asks for confirmation first).",
        )


def render_delete_confirmation(store: HistoryStore, run: StoredRun) -> None:
    """Ask before a run is deleted; delete it on "Yes"."""

    def delete() -> None:
        store.delete_run(run.id)
        st.session_state.pop(state.HISTORY_SELECTED, None)
        st.session_state[state.HISTORY_NOTICE] = (
            f"Deleted the run of {run.pattern_name} from {run_time(run.created_at)} UTC."
        )

    confirm_delete(
        state.HISTORY_DELETE,
        run.id,
        question=f"Delete the run of **{escape_markdown(run.pattern_name)}** from "
        f"{run_time(run.created_at)} UTC?",
        what="run",
        on_confirm=delete,
    )


def match_identity(match: Mapping[str, Any]) -> str:
    """Return what identifies a match across runs: its key and bound event ids (as the store's
    comparison does)."""
    return json.dumps([match.get("key"), match.get("event_ids")], sort_keys=True, default=str)


def compare_matches(
    stored: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Compare a re-run's matches with the stored ones.

    Returns:
        ``added`` and ``removed`` matches, the ``unchanged`` count, and ``identical``: the same
        matches in the same order with the same classifiers and measures.

    >>> m = {"key": {"k": "a"}, "event_ids": [1, 2], "classifiers": ["A", "B"]}
    >>> compare_matches([m], [m])["identical"], compare_matches([m], [])["removed"] == [m]
    (True, True)
    """
    stored_ids = {match_identity(m) for m in stored}
    new_ids = {match_identity(m) for m in new}
    added = [m for m in new if match_identity(m) not in stored_ids]
    removed = [m for m in stored if match_identity(m) not in new_ids]
    canonical = [json.dumps(m, sort_keys=True, default=str) for m in stored]
    return {
        "added": added,
        "removed": removed,
        "unchanged": sum(match_identity(m) in stored_ids for m in new),
        "identical": canonical == [json.dumps(m, sort_keys=True, default=str) for m in new],
    }


def rerun_stored(store: HistoryStore, run: StoredRun) -> None:
    """Re-run a stored run and keep the outcome for display.

    Raises:
        CepError: the events were not stored, or the pattern no longer runs.
    """
    result = store.rerun(run.id).to_json_dict()
    new = list(result.get("matches") or [])
    compared = compare_matches(
        run.matches, new[: len(run.matches)] if run.matches_truncated else new
    )
    st.session_state[state.HISTORY_RERUN_RESULT] = {"run_id": run.id, "result": result, **compared}


def render_rerun_result(run: StoredRun) -> None:
    """Show the last re-run of this run and whether it found the stored matches."""
    rerun = st.session_state.get(state.HISTORY_RERUN_RESULT)
    if not isinstance(rerun, dict) or rerun.get("run_id") != run.id:
        return
    st.markdown("**Re-run**")
    matches = list(rerun["result"].get("matches") or [])
    count = len(matches)
    if rerun["identical"]:
        st.success(
            f"Same result as stored: the re-run found the same {count:,} "
            f"{'match' if count == 1 else 'matches'}.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(
            f"Different from the stored run: {count:,} {'match' if count == 1 else 'matches'} "
            f"now; {len(rerun['added']):,} added, {len(rerun['removed']):,} removed, "
            f"{rerun['unchanged']:,} unchanged.",
            icon=":material/difference:",
        )
        if rerun["added"]:
            st.caption("Added by the re-run")
            render_matches_table(rerun["added"], "")
        if rerun["removed"]:
            st.caption("Stored but not found by the re-run")
            render_matches_table(rerun["removed"], "")
    with st.expander("Matches of the re-run", icon=":material/table_rows:"):
        render_matches_table(matches, "No matches.")


# ------------------------------------------------------------------------------------------
# Comparing two runs


def render_compare(store: HistoryStore, items: Sequence[RunSummary]) -> None:
    """Pick two runs of the current page and show which matches were added, removed or kept."""
    if len(items) < 2:
        empty_state(
            "Comparing needs two runs in the list (on the **Runs** tab, with its filters): run "
            "a test twice, for example before and after editing a pattern."
        )
        return
    st.caption(
        "Pick two runs from the page shown on the **Runs** tab (its filters apply). Matches are "
        "the same when their key and events are."
    )
    a_col, b_col = st.columns(2)
    with a_col:
        a = pick_run(
            "Run A (before)",
            state.HISTORY_COMPARE_A,
            items,
            1,
            "The baseline run. Matches are the same when their key and events are.",
        )
    with b_col:
        b = pick_run(
            "Run B (after)",
            state.HISTORY_COMPARE_B,
            items,
            0,
            "The run compared with A: its matches that A lacks are added, A's that it lacks "
            "are removed.",
        )
    if a is None or b is None:
        return
    if a == b:
        st.info("Pick two different runs.", icon=":material/info:")
        return
    comparison = store.compare_runs(a, b)
    added_col, removed_col, unchanged_col = st.columns(3)
    added_col.metric("Added", f"{len(comparison.added):,}", border=True,
                     help="Matches of B that A lacks.")  # fmt: skip
    removed_col.metric("Removed", f"{len(comparison.removed):,}", border=True,
                       help="Matches of A that B lacks.")  # fmt: skip
    unchanged_col.metric("Unchanged", f"{len(comparison.unchanged):,}", border=True,
                         help="Matches in both runs.")  # fmt: skip
    if comparison.is_partial:
        st.caption("A run stored only part of its matches (size bound): the comparison covers "
                   "the stored ones.")  # fmt: skip
    added_tab, removed_tab, unchanged_tab = st.tabs(
        [f"Added ({len(comparison.added)})", f"Removed ({len(comparison.removed)})",
         f"Unchanged ({len(comparison.unchanged)})"]
    )  # fmt: skip
    with added_tab:
        render_matches_table(comparison.added, "No match was added.")
    with removed_tab:
        render_matches_table(comparison.removed, "No match was removed.")
    with unchanged_tab:
        render_matches_table(comparison.unchanged, "No match is in both runs.")


# ------------------------------------------------------------------------------------------
# The audit log and the spool


def audit_rows(
    store: HistoryStore, filters: AuditFilters
) -> tuple[list[dict[str, Any]], int, str | None]:
    """Return the audit page shown: its rows, its number and the next page's cursor."""
    cursor, number = current_cursor(state.HISTORY_AUDIT_PAGES, filters_signature(filters))
    page = store.list_audit(filters, cursor=cursor, limit=PAGE_SIZE)
    rows = [
        {
            "time (UTC)": run_time(event.created_at),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details": json.dumps(event.details, ensure_ascii=False, sort_keys=True),
        }
        for event in page.items
    ]
    return rows, number, page.next_cursor


def render_audit(store: HistoryStore) -> None:
    """Render the audit log, newest first, with an action filter."""
    action = st.text_input(
        "Action",
        key=state.HISTORY_AUDIT_ACTION,
        placeholder="Every action",
        help="An exact action (nl.generate, deploy.job) or a prefix ending with a dot (nl.).",
    )
    filters = AuditFilters(action=(action or "").strip() or None)
    rows, number, next_cursor = audit_rows(store, filters)
    if not rows:
        empty_state(
            "No audit entries"
            + (" for this action." if filters.action else " yet: plain-English pattern "
               "generations, deployments and deletions are logged here.")
        )  # fmt: skip
        return
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={n: st.column_config.Column(n, help=h) for n, h in AUDIT_COLUMN_HELP.items()},
    )
    render_pager(
        state.HISTORY_AUDIT_PAGES,
        number,
        next_cursor,
        (state.HISTORY_AUDIT_NEWER, state.HISTORY_AUDIT_OLDER),
        len(rows),
    )


def render_spool_status(store: HistoryStore) -> None:
    """Write runs kept locally while the database was down; say so, or say they still wait."""
    written, waiting, problem = flush_spooled_runs(store)
    if written:
        st.success(
            f"{written:,} {'run' if written == 1 else 'runs'} kept locally while the database "
            f"was unreachable {'is' if written == 1 else 'are'} now saved.",
            icon=":material/cloud_done:",
        )
    if waiting:
        st.warning(
            f"**{waiting:,} {'run waits' if waiting == 1 else 'runs wait'} in the local spool**"
            " — the history database is unreachable; they will be saved when it is back. "
            + escape_markdown(problem or ""),
            icon=":material/cloud_off:",
        )
