"""Patterns in plain English, precise enough to predict their matches.

``match_recognize`` patterns are described clause by clause (rows, order of variables,
quantifier preference, conditions, skip rule, window) and ``sequence`` patterns step by step
(contiguity, quantifiers, negation, window, skip strategy). The other kinds get a faithful
summary of their settings until their own wording lands.

>>> from cep.model import parse_pattern
>>> p = parse_pattern({"kind": "match_recognize", "name": "v", "pattern": "A B+? C",
...                    "define": {"C": "price > 10"}})
>>> print(describe_pattern(p).splitlines()[1])
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


def _describe_other(p: Any) -> str:
    settings = p.model_dump(mode="json", exclude={"kind", "name", "description"}, exclude_defaults=True)
    return (f"A {p.kind.replace('_', ' ')} pattern with settings: "
            f"{json.dumps(settings, sort_keys=True)}. (Its matcher is not implemented yet.)")


def describe_pattern(pattern: Pattern) -> str:
    """A plain-English description of a pattern: first line is its name and kind."""
    head = f"{pattern.name} ({pattern.kind})" + (f": {pattern.description}" if pattern.description else "")
    if isinstance(pattern, MatchRecognizePattern):
        return head + "\n" + _describe_recognize(pattern)
    if isinstance(pattern, SequencePattern):
        return head + "\n" + _describe_sequence(pattern)
    return head + "\n" + _describe_other(pattern)
