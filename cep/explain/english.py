"""Patterns in plain English, precise enough to predict their matches.

``match_recognize`` patterns are described clause by clause (rows, order of variables,
quantifier preference, conditions, skip rule, window) and ``sequence`` patterns step by step
(contiguity, quantifiers, negation, window, skip strategy); each detector kind gets one
paragraph that states its window, threshold and when it reports.

>>> from cep.model import parse_pattern
>>> p = parse_pattern({"kind": "match_recognize", "name": "v", "pattern": "A B+? C",
...                    "define": {"C": "price > 10"}})
>>> print(describe_pattern(p).splitlines()[2])
Matches one row A (any row), then one or more rows B (any rows; as few as possible), then one row C (price > 10).
"""

from __future__ import annotations

import json
from typing import Any

from cep.matcher.syntax import (
    Alt,
    Anchor,
    Concat,
    Empty,
    Exclude,
    Node,
    Permute,
    Quant,
    Var,
    parse_row_pattern,
)
from cep.model import MatchRecognizePattern, Pattern, SequencePattern, Step

__all__ = ["describe_pattern", "describe_row_pattern"]

_SKIP = {
    "PAST LAST ROW": "After a match, the search resumes at the row after the match (matches never overlap).",
    "TO NEXT ROW": "After a match, the search resumes at the row after the match's first row (matches may overlap).",
}


def _count(q: Quant) -> str:
    low, high = q.min, q.max
    if (low, high) == (0, 1):
        return "an optional"
    if high is None:
        return "zero or more" if low == 0 else ("one or more" if low == 1 else f"{low} or more")
    if low == high:
        return "exactly " + str(low)
    return f"{low} to {high}"


def describe_row_pattern(node: Node, define: dict[str, str] | None = None) -> str:
    """English for a PATTERN tree; ``define`` adds each variable's condition."""
    conditions = {k.upper(): v for k, v in (define or {}).items()}

    def var(name: str, plural: bool) -> str:
        cond = conditions.get(name.upper())
        what = cond if cond else ("any rows" if plural else "any row")
        return f"row{'s' if plural else ''} {name} ({what})"

    def walk(n: Node, plural: bool = False) -> str:
        if isinstance(n, Var):
            return ("" if plural else "one ") + var(n.name, plural)
        if isinstance(n, Empty):
            return "nothing (an empty match)"
        if isinstance(n, Anchor):
            return "the start of the partition" if n.kind == "start" else "the end of the partition"
        if isinstance(n, Concat):
            return ", then ".join(walk(i, plural) for i in n.items)
        if isinstance(n, Alt):
            return "either " + ", or else ".join(f"({walk(i, plural)})" for i in n.items)
        if isinstance(n, Permute):
            return "all of " + ", ".join(f"({walk(i, plural)})" for i in n.items) + " in any order (listed order preferred)"
        if isinstance(n, Exclude):
            return walk(n.node, plural) + " [left out of ALL ROWS output]"
        count = _count(n)
        inner = walk(n.node, plural=True)
        preference = "" if n.min == n.max else ("as many as possible" if n.greedy else "as few as possible")
        if inner.startswith("row"):
            text = f"{count} {inner}"
            return text[:-1] + f"; {preference})" if preference else text
        text = f"{count} repetitions of ({inner})"
        return text + (f", {preference}" if preference else "")

    return walk(node)


def _describe_recognize(p: MatchRecognizePattern) -> str:
    lines = []
    scope = (f"For each {', '.join(p.partition_by)} separately" if p.partition_by else "Over all events")
    lines.append(f"{scope}, rows ordered by {p.order_by}:")
    body = describe_row_pattern(parse_row_pattern(p.pattern), dict(p.define))
    lines.append("Matches " + body + ".")
    lines.append("Consecutive rows only: every row of a match directly follows the previous one "
                 "within its partition. Where several matches could start at a row, the first in "
                 "preference order wins (not the longest).")
    if p.subset:
        for name, members in p.subset.items():
            lines.append(f"{name} stands for any of {', '.join(members)}.")
    if p.within is not None:
        lines.append(f"A match must span less than {p.within} from its first to its last row.")
    if p.measures:
        lines.append("Reports " + "; ".join(f"{k} = {v}" for k, v in p.measures.items()) + ".")
    skip = p.after_match_skip
    if skip in _SKIP:
        lines.append(_SKIP[skip])
    else:
        which, _, target = skip[3:].partition(" ")
        lines.append(f"After a match, the search resumes at the {which.lower()} row labelled "
                     f"{target} (an error if that is the match's first row or {target} is absent).")
    if p.rows_per_match == "ALL":
        option = p.rows_per_match_option or "SHOW EMPTY MATCHES"
        lines.append(f"Outputs every row of each match ({option.lower()}).")
    else:
        lines.append("Outputs one row per match.")
    return "\n".join(lines)


_RELATION = {
    "strict": "immediately followed by (the very next event of the key)",
    "relaxed": "followed by (unrelated events may come between; the first fitting event is taken)",
    "any": "followed by any (every fitting later event starts its own branch)",
}
_LOOP = {
    "relaxed": "other events may come between them",
    "strict": "consecutively",
    "any": "in every combination of fitting events",
}
_SEQUENCE_SKIP = {
    "NO_SKIP": "Every possible match is reported (matches may share events).",
    "SKIP TO NEXT": "After a match, other partial matches that started at the same event are dropped.",
    "PAST LAST EVENT": "After a match, every partial match that started at or before its last event is dropped (matches never overlap).",
}


def _times(step: Step) -> str:
    low, high = step.times.min, step.times.max
    if high is None:
        count = "one or more times" if low == 1 else f"{low} or more times"
    elif low == high:
        count = "once" if low == 1 else f"exactly {low} times"
    else:
        count = f"{low} to {high} times"
    if step.optional:
        count += ", or not at all"
    if high is None or high > 1:
        count += f" ({_LOOP[step.loop_contiguity]}"
        count += "; as many as possible)" if step.greedy else ")"
        if step.until:
            count += f", stopping at the first event where {step.until}"
    return count


def _describe_sequence(p: SequencePattern) -> str:
    scope = f"For each {', '.join(p.partition_by)} separately" if p.partition_by else "Over all events"
    lines = [f"{scope}, events ordered by {p.order_by}:"]
    for i, step in enumerate(p.steps):
        what = step.where or "any event"
        if step.negated == "not_next":
            lines.append(f"- then the very next event must NOT be {step.name} ({what})")
            continue
        if step.negated == "not_followed_by":
            lines.append(f"- with no {step.name} event ({what}) before the next step"
                         + (" or before the window ends" if i == len(p.steps) - 1 else ""))
            continue
        lead = "- an event" if i == 0 else f"- {_RELATION[step.contiguity]} an event"
        lines.append(f"{lead} {step.name} ({what}), {_times(step)}")
    if p.within is not None:
        lines.append(f"All within {p.within}: the last event is less than {p.within} after the first.")
    skip = p.after_match_skip
    if skip in _SEQUENCE_SKIP:
        lines.append(_SEQUENCE_SKIP[skip])
    else:
        which, _, target = skip[len("SKIP TO "):].partition(" ")
        lines.append(f"After a match, partial matches that started before the {which.lower()} "
                     f"{target} event of the match are dropped.")
    return "\n".join(lines)


def _scope(p: Any) -> str:
    return f"For each {', '.join(p.partition_by)} separately" if p.partition_by else "Over all events"


def _describe_detector(p: Any) -> str:
    """One paragraph per detector kind, in the words of its matcher's documented semantics."""
    kind = p.kind
    where = f" events where {p.where}" if getattr(p, "where", None) else " events"
    if kind == "absence":
        on = f" with the same {', '.join(p.correlate_on)}" if p.correlate_on else ""
        text = (f"each event where {p.trigger} opens a wait; an event where {p.expected}{on} within "
                f"{p.timeout} after it (deadline included) closes it. A wait still open at its "
                f"deadline is a match, reported when event time passes the deadline.")
    elif kind == "count_threshold":
        if p.window_type == "tumbling":
            text = (f"in each {p.window} window aligned to the epoch, {p.threshold} or more{where} "
                    f"make one match, reported when the window closes.")
        else:
            text = (f"a match when the{where} in the last {p.window} first reach {p.threshold}; "
                    f"no new match until the count drops below {p.threshold} again.")
    elif kind == "velocity":
        measure = f"the sum of {p.value_field}" if p.value_field else "the count"
        text = (f"{measure} of{where} over the last {p.window}, per {p.per}, reaching "
                f"{p.threshold:g} is a match; one match per episode above the threshold.")
    elif kind == "trend":
        tolerance = f" (tolerance {p.tolerance_pct:g}%)" if p.tolerance_pct else ""
        moves = {"up": "rising", "down": "falling", "flat": "flat"}[p.direction]
        text = f"{p.count} consecutive {moves} values of {p.value_field}{tolerance} make one match per run."
    elif kind == "outlier":
        text = (f"a value of {p.value_field} more than {p.threshold:g} ({p.method}) away from the "
                f"key's values of the previous {p.baseline} is a match, once there are at least "
                f"{p.min_samples} of them.")
    elif kind == "session":
        cap = f", or after {p.max_duration} in total" if p.max_duration else ""
        having = f" that satisfies {p.having}" if p.having else ""
        text = (f"{where.strip()} form sessions that end after {p.gap} without an event{cap}; each "
                f"closed session{having} is a match.")
    elif kind == "dedup":
        among = (f" Only events where {p.where} take part; the others are ignored."
                 if p.where else "")
        text = (f"an event with the same {', '.join(p.fields)} as a kept event less than {p.window} "
                f"before it is a duplicate (one match per duplicate).{among}")
    elif kind == "geofence":
        shape = (f"the circle of {p.shape.radius_m:g} m around ({p.shape.center.lat}, {p.shape.center.lon})"
                 if p.shape.type == "circle" else f"the polygon of {len(p.shape.vertices)} vertices")
        action = {"enter": "entering", "exit": "leaving",
                  "dwell": f"staying at least {p.dwell} inside"}[p.trigger]
        text = f"{action} {shape} ({p.lat_field}, {p.lon_field}; the boundary counts as inside) is a match."
    elif kind == "temporal_correlation":
        on = f" with the same {', '.join(p.correlate_on)}" if p.correlate_on else ""
        order = "an A before its B" if p.order == "a_then_b" else "in either order"
        text = (f"an event where {p.a} and an event where {p.b}{on}, at most {p.max_gap} apart "
                f"({order}), pair one-to-one in time order; each pair is a match.")
    elif kind == "heartbeat":
        grace = f" plus a grace of {p.grace}" if p.grace else ""
        back = "; coming back is reported too" if p.emit == "status_change" else ""
        text = f"a key silent for longer than {p.interval}{grace} is reported dead{back}."
    elif kind == "state_machine":
        text = (f"each key moves from {p.initial} through {', '.join(p.states)} by the first "
                f"matching transition of {len(p.transitions)}; it reports "
                f"{ {'transition': 'every transition', 'terminal': 'each run that reaches a terminal state', 'all': 'transitions and completed runs'}[p.emit] }.")
    else:
        return json.dumps(p.model_dump(mode="json", exclude={"kind", "name", "description"}))
    return f"{_scope(p)}, {text}"


def describe_pattern(pattern: Pattern) -> str:
    """A plain-English description of a pattern: first line is its name and kind."""
    head = f"{pattern.name} ({pattern.kind})" + (f": {pattern.description}" if pattern.description else "")
    if isinstance(pattern, MatchRecognizePattern):
        return head + "\n" + _describe_recognize(pattern)
    if isinstance(pattern, SequencePattern):
        return head + "\n" + _describe_sequence(pattern)
    return head + "\n" + _describe_detector(pattern)
