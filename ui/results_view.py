"""Rendering one matcher result: metrics, the match table, the timeline and the downloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from ui.charts import MAX_TIMELINE_KEYS, timeline_figure, timeline_keys
from ui.tables import COLUMN_HELP, match_rows
from ui.widgets import empty_state

NO_MATCHES = (
    "No matches — no run of events satisfied the pattern. Check the conditions (DEFINE / where), "
    "the partition and time columns against the events, and any WITHIN window; or try the sample "
    "pattern on the sample ticks."
)


def render_metrics(stats: Mapping[str, Any], match_count: int) -> None:
    """Show events searched, matches found and matching time side by side."""
    events_col, matches_col, elapsed_col = st.columns(3)
    events_col.metric(
        "Events",
        f"{int(stats.get('events', 0)):,}",
        help="Events loaded and searched.",
        border=True,
    )
    matches_col.metric("Matches", f"{match_count:,}", help="Matches found.", border=True)
    elapsed_col.metric(
        "Elapsed",
        f"{float(stats.get('elapsed_ms', 0.0)):,.1f} ms",
        help="Time spent matching; loading the events is not included."
        + (f" Matcher path: {stats['path']}." if stats.get("path") else ""),
        border=True,
    )


def render_matches(matches: list[Mapping[str, Any]]) -> None:
    """Show the match table and the timeline, or the empty state when there are none."""
    if not matches:
        empty_state(NO_MATCHES)
        return
    rows = match_rows(matches)
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            name: st.column_config.Column(name, help=COLUMN_HELP[name]) for name in rows[0]
        },
    )
    figure = timeline_figure(matches)
    if figure is None:
        return
    st.markdown("**Timeline** — one bar per match, from its first to its last event.")
    st.plotly_chart(figure, width="stretch", config={"displaylogo": False})
    key_count = len(timeline_keys(matches))
    if key_count > MAX_TIMELINE_KEYS:
        st.caption(f"Showing the first {MAX_TIMELINE_KEYS} of {key_count:,} keys.")


def render_result(
    result: Mapping[str, Any],
    *,
    json_text: str,
    csv_text: str,
    file_stem: str,
    download_keys: tuple[str, str],
) -> None:
    """Show a `MatchResult.to_json_dict()`: metrics, matches, unmatched rows and downloads.

    Args:
        result: the result's JSON form.
        json_text: the result as JSON text, offered for download.
        csv_text: the result as CSV text, offered for download.
        file_stem: the download files' name without extension.
        download_keys: widget keys of the JSON and CSV download buttons.
    """
    matches = list(result.get("matches") or [])
    stats = result.get("stats") or {}
    render_metrics(stats, int(stats.get("matches", len(matches))))
    render_matches(matches)

    unmatched = result.get("unmatched_event_ids")
    if unmatched:
        st.caption(f"{len(unmatched):,} events were in no match (WITH UNMATCHED ROWS).")

    json_col, csv_col, _ = st.columns([1, 1, 4])
    json_col.download_button(
        "Download JSON",
        data=json_text,
        file_name=f"{file_stem}_matches.json",
        mime="application/json",
        key=download_keys[0],
        help="Matches and stats, the same JSON as `python -m cep match --format json`.",
        icon=":material/download:",
        on_click="ignore",
    )
    csv_col.download_button(
        "Download CSV",
        data=csv_text,
        file_name=f"{file_stem}_matches.csv",
        mime="text/csv",
        key=download_keys[1],
        help="One row per match (pattern, key, start, end, event ids, classifiers, measures, "
        "match number), as `python -m cep match --format csv`.",
        icon=":material/download:",
        on_click="ignore",
    )
