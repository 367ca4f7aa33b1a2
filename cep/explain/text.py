"""Render explanations and near misses as plain text for the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cep.explain.keyed import key_label
from cep.explain.payload import MatchExplanation, NearMiss
from cep.results import format_time, jsonable

__all__ = ["render_explanations"]


def _value(value: Any) -> str:
    shown = jsonable(value)
    if isinstance(shown, float):
        return f"{shown:g}"
    if isinstance(shown, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in shown.items()) + "}"
    if isinstance(shown, list):
        return "[" + ", ".join(_value(v) for v in shown) + "]"
    return str(shown)


def _match_lines(e: MatchExplanation) -> list[str]:
    bound = ", ".join(f"{i}:{c}" for i, c in zip(e.event_ids, e.classifiers, strict=True))
    lines = [f"- {key_label(e.key)}: {e.start} → {e.end}: {bound or 'empty match'}"]
    for t in e.timeline:
        fields = " ".join(f"{k}={_value(v)}" for k, v in t.fields.items())
        clauses = "; ".join(f"{c.text}: {_value(c.value).lower()}" for c in t.clauses)
        parts = [f"    {t.event_id!s:>6}  {format_time(t.time)}  {t.step}"]
        if fields:
            parts.append(fields)
        if clauses:
            parts.append(f"[{clauses}]")
        lines.append("  ".join(parts))
    if e.more_events:
        lines.append(f"    ... and {e.more_events} more events")
    if e.state_snapshot:
        state = ", ".join(f"{k}={_value(v)}" for k, v in e.state_snapshot.items())
        lines.append(f"  state: {state}")
    return lines


def render_explanations(description: str, n_events: int, explanations: Sequence[MatchExplanation],
                        near: Sequence[tuple[dict[str, Any], Sequence[NearMiss]]], *,
                        key_given: bool) -> str:
    """The description, each match with its timeline and state, then the near misses."""
    lines = [description, "", f"{len(explanations)} matches in {n_events} events:"]
    for e in explanations:
        lines += _match_lines(e)
    lines.append("")
    if not near or all(not misses for _, misses in near):
        lines.append("No near misses" + (" for this key." if key_given else "."))
    for key, misses in near:
        lines.append(f"Near misses for {key_label(key)} ({len(misses)}, closest first):")
        for m in misses:
            events = " ".join(f"{i}:{c}" for i, c in zip(m.event_ids, m.classifiers, strict=True))
            broken = f", broken by {m.broken_by}" if m.broken_by is not None else ""
            lines.append(f"- [{m.reason}] {m.reason_text}")
            lines.append(f"    reached {m.step_reached} ({m.steps_done} of {m.steps_total}); "
                         f"events {events or 'none'}{broken}")
    return "\n".join(lines) + "\n"
