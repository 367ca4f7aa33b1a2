"""The match timeline: one horizontal bar per match, from its first to its last event, per key."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from ui.formatting import format_items, format_key, format_measures, format_time, parse_time

MAX_TIMELINE_KEYS = 40
_BAR_COLOR = "#FF3621"
_ROW_HEIGHT_PX = 34


def timeline_keys(matches: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the key labels of the matches in order of first appearance."""
    return list(dict.fromkeys(format_key(m.get("key")) for m in matches))


def _hover(match: Mapping[str, Any], number: int) -> str:
    label = match.get("match_number") or number
    lines = [
        f"<b>Match {label}</b> · {format_key(match.get('key'))}",
        f"{format_time(match.get('start'))} → {format_time(match.get('end'))}",
        f"events: {format_items(match.get('event_ids')) or '(none)'}",
        f"classifiers: {format_items(match.get('classifiers')) or '(none)'}",
    ]
    measures = format_measures(match.get("measures"))
    if measures:
        lines.append(f"measures: {measures}")
    return "<br>".join(lines[:1] + [html.escape(line) for line in lines[1:]])


def timeline_figure(
    matches: Sequence[Mapping[str, Any]], *, max_keys: int = MAX_TIMELINE_KEYS
) -> go.Figure | None:
    """Return a timeline of the matches (x = time, y = key), or None when nothing has a time.

    Only the first `max_keys` keys (in order of first appearance) are drawn, so a run over
    thousands of keys stays readable; `timeline_keys` tells the caller how many there are.
    A match whose first and last events share a time shows as a marker.
    """
    keys = timeline_keys(matches)[:max_keys]
    shown = set(keys)
    ys: list[str] = []
    bases: list[str] = []
    spans_ms: list[float] = []
    hovers: list[str] = []
    ends: list[str] = []
    for number, match in enumerate(matches, start=1):
        key = format_key(match.get("key"))
        start = parse_time(match.get("start"))
        end = parse_time(match.get("end")) or start
        if key not in shown or start is None or end is None:
            continue
        ys.append(key)
        bases.append(start.isoformat())
        ends.append(end.isoformat())
        spans_ms.append(max((end - start).total_seconds() * 1000.0, 0.0))
        hovers.append(_hover(match, number))
    if not ys:
        return None

    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=spans_ms,
            base=bases,
            y=ys,
            orientation="h",
            marker={"color": _BAR_COLOR, "opacity": 0.75, "line": {"width": 1, "color": "white"}},
            hovertext=hovers,
            hovertemplate="%{hovertext}<extra></extra>",
            name="match",
            showlegend=False,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=ends,
            y=ys,
            mode="markers",
            marker={"color": _BAR_COLOR, "size": 7, "symbol": "line-ns-open"},
            hovertext=hovers,
            hovertemplate="%{hovertext}<extra></extra>",
            name="match end",
            showlegend=False,
        )
    )
    figure.update_layout(
        barmode="overlay",
        height=max(160, 90 + _ROW_HEIGHT_PX * len(keys)),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"type": "date", "title": {"text": "event time (UTC)"}},
        yaxis={
            "title": {"text": ""},
            "categoryorder": "array",
            "categoryarray": list(reversed(keys)),
            "type": "category",
        },
        bargap=0.35,
    )
    return figure
