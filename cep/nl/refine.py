"""Refinement: edit a current pattern from a short instruction ("make it 10 minutes", "only for
amounts over 1000", "per device instead", "at least 8") instead of writing a new one."""

from __future__ import annotations

import re
from typing import Any

from cep import expr as cx
from cep.model import Pattern, pattern_to_dict
from cep.nl.conditions import Unclear, render
from cep.nl.phrases import NUMBER_RE, parse_number
from cep.nl.reading import GLOBAL, TIME_UNITS, Request, read_filter
from cep.nl.vocabulary import singular

__all__ = ["refine_pattern"]

_REFINE_DURATION_FIELDS = {
    "count_threshold": "window", "velocity": "window", "sequence": "within",
    "absence": "timeout", "temporal_correlation": "max_gap", "heartbeat": "interval",
    "session": "gap", "dedup": "window", "outlier": "baseline", "geofence": "dwell",
    "match_recognize": "within", "state_machine": "timeout",
}
_FILTER_FIELDS = {"count_threshold": ("where",), "velocity": ("where",),
                  "session": ("where",), "absence": ("trigger",),
                  "temporal_correlation": ("a", "b")}


def refine_pattern(ctx: Request, current: Pattern) -> dict[str, Any]:
    """The JSON value of ``current`` edited as the request says: a new window, key, threshold,
    name, or an extra ``only for ...`` condition.

    Raises:
        Unclear: no edit was recognised, or it does not apply to this kind.
    """
    data = pattern_to_dict(current)
    kind = current.kind
    changed: list[str] = []
    low = ctx.low
    durations = ctx.durations()
    if durations:
        target = _REFINE_DURATION_FIELDS.get(kind)
        if target is None or (target == "dwell" and data.get("trigger") != "dwell"):
            raise Unclear(f"This {kind} pattern has no window to change.")
        if kind == "state_machine" and data.get("timeout") is None:
            raise Unclear("This state machine has no timeout; say which state times out, and "
                          "to which state.")
        data[target] = durations[0].text
        changed.append(f"{target} set to {durations[0].text}")
    mkey = re.search(r"\b(?:per|by|for\s+each|group(?:ed)?\s+by|partition(?:ed)?\s+by)\s+"
                     r"(?P<w>[a-z_]+)", low)
    if mkey and singular(mkey.group("w")) not in TIME_UNITS:
        column = ctx.vocab.key_for(mkey.group("w")) if ctx.vocab.has_schema else None
        if column is None and ctx.vocab.has_schema:
            column = ctx.vocab.field_for([mkey.group("w")])
        if column is None and not ctx.vocab.has_schema:
            column = mkey.group("w") if mkey.group("w").endswith("_id") else \
                f"{singular(mkey.group('w'))}_id"
            ctx.note([f"no event schema: assumed the key field is {column!r}"])
        if column is None:
            raise Unclear(f"Which field is '{mkey.group('w')}'? Fields: {ctx.vocab.describe()}.")
        data["partition_by"] = [column]
        changed.append(f"partitioned by {column}")
    elif GLOBAL.search(low):
        data["partition_by"] = []
        changed.append("matched across all keys")
    mthr = re.search(rf"\b(?:threshold\s+(?:to\s+|of\s+)?|at\s+least\s+|(?P<gt>more\s+than)\s+)"
                     rf"(?P<n>{NUMBER_RE})(?!\s*(?:%|\$))|\b(?P<n2>{NUMBER_RE})\s+or\s+more\b",
                     low)
    monly = re.search(r"\bonly\s+(?:for|when|if|where)\s+(?P<c>.+?)\s*(?:instead)?\s*$", low)
    if monly:
        ev = read_filter(ctx, monly.group("c"))
        cond = ev.condition()
        if cond is None:
            raise Unclear(f"What does '{monly.group('c')}' restrict? Name a field and value.")
        fields = _FILTER_FIELDS.get(kind)
        if kind == "sequence":
            steps = []
            for step in data["steps"]:
                if step.get("negated") is None:
                    step = {**step, "where": _and_text(step.get("where"), cond)}
                steps.append(step)
            data["steps"] = steps
            ctx.note(["the restriction applies to every (non-negated) step"])
        elif fields:
            for f in fields:
                data[f] = _and_text(data.get(f), cond)
        else:
            raise Unclear(f"A {kind} pattern has no event filter to restrict.")
        changed.append(f"restricted to {render(cond)}")
    elif mthr and kind in ("count_threshold", "velocity", "outlier", "trend"):
        n = parse_number(mthr.group("n") or mthr.group("n2")) or 0
        if mthr.group("gt") and kind == "count_threshold":
            n += 1
        target = "count" if kind == "trend" else "threshold"
        data[target] = int(n) if kind in ("count_threshold", "trend") else n
        changed.append(f"{target} set to {data[target]}")
    mname = re.search(r"\b(?:call\s+it|name\s+it|rename\s+(?:it\s+)?to)\s+(?P<n>[\w-]+)", ctx.text,
                      re.I)
    if mname:
        data["name"] = mname.group("n")
        changed.append(f"renamed to {mname.group('n')}")
    if not changed:
        raise Unclear("I could not tell how to change the current pattern. Try 'make it 10 "
                      "minutes', 'only for amounts over 1000' or 'per device instead'.")
    ctx.note([f"edited the current pattern: {'; '.join(changed)}"])
    return data


def _and_text(existing: str | None, cond: cx.Expr) -> str:
    if not existing:
        return render(cond) or ""
    old = cx.parse_condition(existing)
    if isinstance(old, cx.Binary) and old.op == "OR":
        return cx.to_sql(cx.Binary("AND", old, cond))
    return cx.to_sql(cx.Binary("AND", old, cond))
