"""The Explain page's match cards: a timeline chart, the bindings table, the state snapshot and the
matched payloads of one match explanation (the JSON form of ``MatchExplanation``)."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from ui.formatting import format_key, format_time, format_value, parse_time
from ui.widgets import escape_markdown

STEP_COLORS = tuple(qualitative.Plotly)
"""Colours of the steps / classifiers, in order of first appearance in a match."""
CONTEXT_COLOR = "#B0B7C3"
WINDOW_COLOR = "#FF3621"
MAX_METRICS = 8
"""Numbers of a snapshot shown as metrics; the rest go in the table."""

CHECK = {True: "✓", False: "✗", None: "NULL ✗"}
"""How a clause's value shows in the bindings table (NULL does not satisfy a condition)."""

_UNITS = {"_s": " (s)", "_ms": " (ms)", "_m": " (m)", "_pct": " (%)", "_usd": " (USD)"}


def bindings_rows(explanation: Mapping[str, Any]) -> list[dict[str, str]]:
    """Return one row per timeline entry: event, time, step, the values the condition read, and
    each clause with ✓ or ✗.

    >>> rows = bindings_rows({"timeline": [
    ...     {"event_id": 5, "time": "2024-01-02T09:31:00", "step": "B", "fields": {"price": 99.0},
    ...      "clauses": [{"text": "price < PREV(price)", "value": True}]}]})
    >>> rows[0]  # doctest: +NORMALIZE_WHITESPACE
    {'event': '5', 'time': '2024-01-02 09:31:00', 'step': 'B', 'price': '99',
     'price < PREV(price)': '✓'}
    """
    entries = list(explanation.get("timeline") or [])
    fields = list(dict.fromkeys(f for e in entries for f in (e.get("fields") or {})))
    clauses = list(dict.fromkeys(c["text"] for e in entries for c in e.get("clauses") or []))
    fixed = {"event", "time", "step", *fields}
    clause_column = {c: f"{c} (clause)" if c in fixed else c for c in clauses}
    rows = []
    for entry in entries:
        row = {
            "event": format_value(entry.get("event_id")),
            "time": format_time(entry.get("time")),
            "step": str(entry.get("step", "")),
        }
        values = entry.get("fields") or {}
        for name in fields:
            row[name] = format_value(values[name]) if name in values else ""
        checks = {c["text"]: c.get("value") for c in entry.get("clauses") or []}
        for text in clauses:
            row[clause_column[text]] = CHECK[checks[text]] if text in checks else ""
        rows.append(row)
    return rows


def label_of(name: str) -> str:
    """Return a snapshot field's name as a label, with its unit.

    >>> [label_of(n) for n in ("window_left_s", "match_number", "tolerance_pct")]
    ['window left (s)', 'match number', 'tolerance (%)']
    """
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ") + unit
    return name.replace("_", " ")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, str) and parse_time(value) is not None and "T" in value:
        return format_time(value)
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return format_value(value)


def snapshot_parts(
    snapshot: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], list[dict[str, str]], list[tuple[str, list[dict[str, str]]]]]:
    """Split a state snapshot into metrics, a name/value table and sub-tables.

    Numbers become metrics (the first :data:`MAX_METRICS`); other values, and small mappings
    flattened as ``name · part``, become table rows; lists of mappings become sub-tables.

    >>> metrics, rows, tables = snapshot_parts({"variables": {"A": 1}, "span_s": 120.0,
    ...     "after_match_skip": "PAST LAST ROW", "window_end": "2024-01-02T09:40:30"})
    >>> metrics, rows, tables  # doctest: +NORMALIZE_WHITESPACE
    ([('span (s)', '120')], [{'name': 'variables · A', 'value': '1'},
      {'name': 'after match skip', 'value': 'PAST LAST ROW'},
      {'name': 'window end', 'value': '2024-01-02 09:40:30'}], [])
    """
    metrics: list[tuple[str, str]] = []
    rows: list[dict[str, str]] = []
    tables: list[tuple[str, list[dict[str, str]]]] = []
    for name, value in snapshot.items():
        if _is_number(value) and len(metrics) < MAX_METRICS:
            metrics.append((label_of(name), format_value(value)))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append(
                (
                    label_of(name),
                    [{label_of(k): _text(v) for k, v in item.items()} for item in value],
                )
            )
        elif isinstance(value, dict) and all(
            not isinstance(v, dict | list) for v in value.values()
        ):
            rows.extend(
                {"name": f"{label_of(name)} · {part}", "value": _text(v)}
                for part, v in value.items()
            )
        else:
            rows.append({"name": label_of(name), "value": _text(value)})
    return metrics, rows, tables


def window_span(explanation: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime, str] | None:
    """Return the time span to shade behind a match, and what it is, from its snapshot.

    The pattern's window when the snapshot has one (``window_start`` / ``window_end``, or a
    ``window_end`` with ``within_s``), else the session, the baseline, a window or maximum gap
    from the match's start (``window_s``, ``max_gap_s``), the wait up to a deadline, or the
    match itself.

    >>> start, end, what = window_span({"start": "2024-01-02T09:30:30",
    ...     "end": "2024-01-02T09:32:30",
    ...     "state_snapshot": {"within_s": 600.0, "window_end": "2024-01-02T09:40:30"}})
    >>> (format_time(start), format_time(end), what)
    ('2024-01-02 09:30:30', '2024-01-02 09:40:30', 'window (WITHIN 600 s)')
    """
    snap = explanation.get("state_snapshot") or {}
    start, end = parse_time(explanation.get("start")), parse_time(explanation.get("end"))
    window_end = parse_time(snap.get("window_end"))
    window_start = parse_time(snap.get("window_start"))
    trigger = snap.get("trigger")
    trigger_time = parse_time(trigger.get("time")) if isinstance(trigger, dict) else None
    if window_start and window_end:
        return window_start, window_end, "window"
    if window_end and _is_number(snap.get("within_s")):
        begin = window_end - dt.timedelta(seconds=float(snap["within_s"]))
        return begin, window_end, f"window (WITHIN {format_value(snap['within_s'])} s)"
    for first, last, what in (
        ("session_start", "session_end", "session"),
        ("baseline_start", "baseline_end", "baseline"),
    ):
        a, b = parse_time(snap.get(first)), parse_time(snap.get(last))
        if a and b:
            return a, b, what
    for name, what in (("window_s", "window"), ("max_gap_s", "max gap")):
        if start and _is_number(snap.get(name)):
            seconds = float(snap[name])
            return (
                start,
                start + dt.timedelta(seconds=seconds),
                f"{what} ({format_value(seconds)} s)",
            )
    deadline = parse_time(snap.get("deadline"))
    if deadline and (trigger_time or start):
        return trigger_time or start or deadline, deadline, "wait up to the deadline"
    if start and end:
        return start, end, "match"
    return None


def match_figure(
    explanation: Mapping[str, Any], context: Sequence[tuple[Any, dt.datetime]] = ()
) -> go.Figure | None:
    """Return the match's events on a time axis (one lane: the key), coloured by step, with the
    window shaded; ``context`` adds the key's other events in that span, in grey.

    Returns None when no bound event has a time.
    """
    key = format_key(explanation.get("key"))
    entries = [e for e in explanation.get("timeline") or [] if parse_time(e.get("time"))]
    if not entries:
        return None
    figure = go.Figure()
    bound = {format_value(e.get("event_id")) for e in entries}
    others = [(i, t) for i, t in context if format_value(i) not in bound]
    if others:
        figure.add_trace(
            go.Scatter(
                x=[t.isoformat() for _, t in others],
                y=[key] * len(others),
                mode="markers",
                marker={"color": CONTEXT_COLOR, "size": 9, "symbol": "circle-open"},
                name="other events of the key",
                hovertext=[f"event {html.escape(format_value(i))}" for i, _ in others],
                hovertemplate="%{hovertext}<br>%{x}<extra></extra>",
            )
        )
    steps = list(dict.fromkeys(str(e.get("step", "")) for e in entries))
    for number, step in enumerate(steps):
        mine = [e for e in entries if str(e.get("step", "")) == step]
        figure.add_trace(
            go.Scatter(
                x=[parse_time(e["time"]).isoformat() for e in mine],  # type: ignore[union-attr]
                y=[key] * len(mine),
                mode="markers+text",
                text=[format_value(e.get("event_id")) for e in mine],
                textposition="top center",
                marker={"color": STEP_COLORS[number % len(STEP_COLORS)], "size": 13},
                name=f"step {step}",
                hovertext=[_hover(e) for e in mine],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    span = window_span(explanation)
    if span is not None:
        begin, finish, what = span
        figure.add_vrect(
            x0=begin.isoformat(),
            x1=finish.isoformat(),
            fillcolor=WINDOW_COLOR,
            opacity=0.10,
            line_width=0,
            annotation_text=what,
            annotation_position="top left",
        )
    figure.update_layout(
        height=230,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"type": "date", "title": {"text": "event time (UTC)"}},
        yaxis={"type": "category", "title": {"text": ""}},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return figure


def _hover(entry: Mapping[str, Any]) -> str:
    lines = [
        f"<b>event {html.escape(format_value(entry.get('event_id')))}</b> · step "
        f"{html.escape(str(entry.get('step', '')))}",
        html.escape(format_time(entry.get("time"))),
    ]
    lines += [
        html.escape(f"{name} = {format_value(value)}")
        for name, value in (entry.get("fields") or {}).items()
    ]
    lines += [
        html.escape(f"{CHECK[c.get('value')]} {c['text']}") for c in entry.get("clauses") or []
    ]
    return "<br>".join(lines)


def payload_rows(explanation: Mapping[str, Any]) -> list[dict[str, str]]:
    """Return the matched events' payloads as text rows (one column per field)."""
    payloads = list(explanation.get("matched_event_payloads") or [])
    columns = list(dict.fromkeys(name for p in payloads for name in p))
    return [{c: _text(p[c]) if c in p else "" for c in columns} for p in payloads]


def more_events_note(explanation: Mapping[str, Any]) -> str | None:
    """Return the "and N more" note when bound events were left out, else None.

    >>> more_events_note({"matched_event_payloads": [{}] * 20, "more_events": 5})
    'Showing 20 bound events, and 5 more not shown.'
    """
    more = int(explanation.get("more_events") or 0)
    if not more:
        return None
    shown = len(explanation.get("matched_event_payloads") or [])
    return f"Showing {shown:,} bound events, and {more:,} more not shown."


def card_title(number: int, explanation: Mapping[str, Any]) -> str:
    """Return a card's heading: its number, key and time span.

    >>> card_title(1, {"key": {"symbol": "ACME"}, "start": "2024-01-02T09:30:30",
    ...                "end": "2024-01-02T09:32:30"})
    'Match 1 · ACME · 2024-01-02 09:30:30 → 2024-01-02 09:32:30'
    """
    return (
        f"Match {number} · {format_key(explanation.get('key'))} · "
        f"{format_time(explanation.get('start'))} → {format_time(explanation.get('end'))}"
    )


def render_snapshot(snapshot: Mapping[str, Any]) -> None:
    """Show a state snapshot: numbers as metrics, the rest as small tables."""
    metrics, rows, tables = snapshot_parts(snapshot)
    if not (metrics or rows or tables):
        st.caption("No engine state recorded for this match.")
        return
    for start in range(0, len(metrics), 4):
        columns = st.columns(4)
        for column, (label, value) in zip(columns, metrics[start : start + 4], strict=False):
            column.metric(label, value, border=True)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    for name, table in tables:
        st.caption(name)
        st.dataframe(table, hide_index=True, width="stretch")


def render_match_card(
    number: int,
    explanation: Mapping[str, Any],
    context: Sequence[tuple[Any, dt.datetime]],
    chart_key: str,
) -> None:
    """Render one match card: heading, timeline chart, bindings, state snapshot and payloads."""
    with st.container(border=True):
        st.markdown(f"**{escape_markdown(card_title(number, explanation))}**")
        classifiers = " ".join(str(c) for c in explanation.get("classifiers") or [])
        ids = " ".join(format_value(i) for i in explanation.get("event_ids") or [])
        st.caption(escape_markdown(f"Events {ids or '(none)'} bound to {classifiers or '(none)'}"))
        figure = match_figure(explanation, context)
        if figure is not None:
            st.plotly_chart(figure, key=chart_key, config={"displayModeBar": False})
        st.markdown("**Bindings** — what each condition saw")
        rows = bindings_rows(explanation)
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        else:
            st.caption("No bound events (an empty match).")
        st.markdown("**State at completion**")
        render_snapshot(explanation.get("state_snapshot") or {})
        payloads = payload_rows(explanation)
        with st.expander(f"Matched events ({len(payloads):,})", icon=":material/table_rows:"):
            if payloads:
                st.dataframe(payloads, hide_index=True, width="stretch")
            note = more_events_note(explanation)
            if note:
                st.caption(note)
