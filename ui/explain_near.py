"""The Explain page's near-miss view: pick a key (and a time range), see what almost matched and
why it did not, as a table and a small chart."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from cep.explain import DEFAULT_LIMIT
from ui import state
from ui.explain_data import key_options, matched_keys, near_misses, resolve_key, time_bounds
from ui.explain_source import ExplainSubject
from ui.formatting import format_key, format_time, format_value
from ui.widgets import empty_state, escape_markdown, report_errors

REASON_COLORS = {
    "window_expired": "#E45756",
    "strict_contiguity_broken": "#4C78A8",
    "negated_event_seen": "#B279A2",
    "threshold_not_reached": "#F58518",
    "skip_strategy_discarded": "#54A24B",
    "data_ended": "#9D755D",
}
OTHER_REASON_COLOR = "#72B7B2"
NEAR_COLUMN_HELP = {
    "step reached": "The furthest step (or variable, or stage) the partial match reached, and "
    "how many of the steps a match needs it completed.",
    "events bound": "Ids of the events bound so far, in order.",
    "broken by": "The event that broke it (blank: time or the end of the data did).",
    "reason": "Why it did not complete (a fixed code, see the reason list of cep.explain).",
    "why": "The reason in plain English, with the numbers behind it.",
    "started": "Time of its first event (UTC).",
    "ended": "When it stopped: the breaking event, the window end, or the last event (UTC).",
}


def near_miss_rows(misses: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Return one table row per near miss.

    >>> near_miss_rows([{"step_reached": "A", "steps_done": 1, "steps_total": 3,
    ...     "event_ids": [1], "broken_by": 3, "reason": "strict_contiguity_broken",
    ...     "reason_text": "After step A ...", "started": "2024-01-02T09:30:00",
    ...     "ended": "2024-01-02T09:30:30"}])[0]  # doctest: +NORMALIZE_WHITESPACE
    {'step reached': 'A (1 of 3)', 'events bound': '1', 'broken by': '3',
     'reason': 'strict_contiguity_broken', 'why': 'After step A ...',
     'started': '2024-01-02 09:30:00', 'ended': '2024-01-02 09:30:30'}
    """
    rows = []
    for miss in misses:
        broken = miss.get("broken_by")
        rows.append(
            {
                "step reached": f"{miss.get('step_reached')} ({miss.get('steps_done')} of "
                f"{miss.get('steps_total')})",
                "events bound": " ".join(format_value(i) for i in miss.get("event_ids") or []),
                "broken by": "" if broken is None else format_value(broken),
                "reason": str(miss.get("reason", "")),
                "why": str(miss.get("reason_text", "")),
                "started": format_time(miss.get("started")),
                "ended": format_time(miss.get("ended")),
            }
        )
    return rows


def reason_counts(misses: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Return how many near misses each reason has, most frequent first.

    >>> reason_counts([{"reason": "data_ended"}, {"reason": "window_expired"},
    ...                {"reason": "window_expired"}])
    {'window_expired': 2, 'data_ended': 1}
    """
    return dict(Counter(str(m.get("reason", "")) for m in misses).most_common())


def near_miss_figure(misses: Sequence[Mapping[str, Any]]) -> go.Figure | None:
    """Return the near misses on a time axis (x: when each stopped, y: steps completed),
    coloured by reason; None when none has a time."""
    timed = [m for m in misses if m.get("ended") or m.get("started")]
    if not timed:
        return None
    figure = go.Figure()
    for reason in reason_counts(timed):
        mine = [m for m in timed if m.get("reason") == reason]
        figure.add_trace(
            go.Scatter(
                x=[m.get("ended") or m.get("started") for m in mine],
                y=[m.get("steps_done") for m in mine],
                mode="markers",
                marker={"color": REASON_COLORS.get(reason, OTHER_REASON_COLOR), "size": 11},
                name=reason,
                hovertext=[html.escape(str(m.get("reason_text", ""))) for m in mine],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    total = max(int(m.get("steps_total") or 1) for m in timed)
    figure.update_layout(
        height=240,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"type": "date", "title": {"text": "stopped at (UTC)"}},
        yaxis={"title": {"text": "steps completed"}, "range": [-0.5, total + 0.5], "dtick": 1},
        legend={"orientation": "h", "y": -0.35},
    )
    return figure


def render_key_picker(subject: ExplainSubject) -> str | None:
    """Render the key selector (and a box to type any key); return the chosen key's text, or
    None for a pattern without partition columns."""
    columns = ", ".join(subject.pattern.partition_by)
    if not columns:
        st.caption("The pattern has no partition_by, so all events form one key.")
        return None
    options = key_options(subject)
    with_matches = matched_keys(subject)
    first = with_matches[0] if with_matches and with_matches[0] in options else None
    if st.session_state.get(state.EXPLAIN_KEY) not in options:
        st.session_state.pop(state.EXPLAIN_KEY, None)
    pick_col, type_col = st.columns(2)
    picked = pick_col.selectbox(
        "Key",
        options,
        index=options.index(first) if first else 0,
        key=state.EXPLAIN_KEY,
        help=f"The partition key ({escape_markdown(columns)}) whose near misses to look for. "
        f"Keys are listed in order of first appearance (the first {len(options):,}).",
    )
    typed = type_col.text_input(
        "Or type a key",
        key=state.EXPLAIN_KEY_TEXT,
        placeholder="ACME" if len(subject.pattern.partition_by) == 1 else "col=value,col2=value",
        help="Any key, also one not in the list: the value alone when the pattern has one "
        "partition column, else col=value pairs separated by commas. Overrides the list.",
    )
    return typed.strip() or (None if picked is None else str(picked))


def render_time_range(subject: ExplainSubject) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Render the optional time range; return its start and (exclusive) end, UTC."""
    bounds = time_bounds(subject)
    if bounds is None or bounds[0] >= bounds[1]:
        return None, None
    limited = st.toggle(
        "Limit to a time range",
        key=state.EXPLAIN_USE_RANGE,
        help="Look only at the key's events in a time range (UTC). Off: all its events.",
    )
    if not limited:
        return None, None
    first, last = st.slider(
        "Time range (UTC)",
        min_value=bounds[0],
        max_value=bounds[1],
        value=bounds,
        step=dt.timedelta(seconds=1),
        format="YYYY-MM-DD HH:mm:ss",
        key=state.EXPLAIN_RANGE,
        help="Events from the start up to the end of the last second chosen are read.",
    )
    return first.replace(tzinfo=dt.UTC), last.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=1)


def render_near_misses(subject: ExplainSubject) -> None:
    """Render the near-miss view of a run: key, time range, table and chart, or why not."""
    if not subject.has_events:
        empty_state(
            "Near misses need the events, and this run's events are not at hand (see the note "
            "above). Run the pattern again on the Test page to look for near misses."
        )
        return
    text = render_key_picker(subject)
    start, end = render_time_range(subject)
    limit = st.number_input(
        "Near misses shown at most",
        min_value=1,
        max_value=1_000,
        value=DEFAULT_LIMIT,
        step=10,
        key=state.EXPLAIN_NEAR_LIMIT,
        help="The closest calls come first; raise this to see more of them.",
        width=220,
    )
    misses: list[dict[str, Any]] | None = None
    label = "all events"
    with report_errors("Could not find near misses"):
        key = resolve_key(subject, text) if text is not None else None
        label = format_key(key) if key else "all events"
        misses = near_misses(subject, key, start, end, int(limit))
    if misses is None:
        return
    if not misses:
        empty_state(
            f"No near misses for this key ({escape_markdown(label)}): no partial match of the "
            "pattern started and failed in its events"
            + (" in this time range." if start is not None else ".")
        )
        return
    counts = reason_counts(misses)
    st.markdown(
        f"**{len(misses):,} near {'miss' if len(misses) == 1 else 'misses'}** for "
        f"**{escape_markdown(label)}**, closest calls first — "
        + ", ".join(f"{escape_markdown(r)}: {n:,}" for r, n in counts.items())
    )
    rows = near_miss_rows(misses)
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            n: st.column_config.Column(
                n, help=NEAR_COLUMN_HELP[n], width="large" if n == "why" else None
            )
            for n in rows[0]
        },
    )
    figure = near_miss_figure(misses)
    if figure is not None:
        st.plotly_chart(figure, key=state.EXPLAIN_NEAR_CHART, config={"displayModeBar": False})
