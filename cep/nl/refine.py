"""Refinement: edit a current pattern from a short instruction ("make it 10 minutes", "only for
amounts over 1000", "per device instead", "at least 8") instead of writing a new one."""

from __future__ import annotations

import re
from typing import Any

from cep import expr as cx
from cep.model import Pattern, VelocityPattern, pattern_to_dict
from cep.nl.conditions import Unclear, render
from cep.nl.phrases import NUMBER_RE, parse_number
from cep.nl.reading import GLOBAL, TIME_UNITS, Request, read_filter
from cep.nl.vocabulary import singular, words_match

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


_KEY_EDIT = re.compile(
    r"\b(?P<by>per|by|for\s+each|group(?:ed)?\s+by|partition(?:ed)?\s+by)\s+"
    r"(?P<w>[a-z_]+(?:\s+(?!(?:instead|rather|and|or|only|within|in|over|for|with|to|"
    r"then|call|name|rename|make|per|by|each|across)\b)[a-z_]+){0,2})"
)
"""``per merchant category instead``: the key words (at most three) after ``per``/``by``."""
_EDIT_WORDS = re.compile(
    r"\b(?:make|change|set|switch|update|use|increase|raise|lower|reduce|decrease|extend|"
    r"shorten|bump|instead|rather|now|threshold|window|limit)\b"
)
"""Words that only say "edit this"; they count as read once an edit was applied."""
_RATE_EDIT = re.compile(rf"(?:\b(?P<n>{NUMBER_RE})\s+)?\bper\s+(?P<unit>second|minute|hour)\b")
"""``per minute`` or ``100 per minute``: a velocity's rate unit, and its threshold if given."""
_UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_KEY_NOUNS = ("card", "user", "account", "device", "machine", "customer", "vehicle", "sensor",
              "pump", "ip", "merchant", "session", "key", "entity")


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
    mkey = next((m for m in _KEY_EDIT.finditer(low) if _may_be_key(m.group("w").split()[0])),
                None)
    if mkey:
        column, used = _key_column(ctx, mkey.group("w").split())
        data["partition_by"] = [column]
        ctx.use(mkey.group("by"))
        ctx.use(" ".join(used))
        changed.append(f"partitioned by {column}")
    elif (mglobal := GLOBAL.search(low)) is not None:
        data["partition_by"] = []
        ctx.use(mglobal.group(0))
        after = re.match(r"\s+([a-z_]+)", low[mglobal.end():])
        if after and _names_a_key(ctx, after.group(1)):
            ctx.use(after.group(1))
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
        ctx.use(low[monly.start():monly.start("c")])
        changed.append(f"restricted to {render(cond)}")
    elif mthr and kind in ("count_threshold", "velocity", "outlier", "trend"):
        n = parse_number(mthr.group("n") or mthr.group("n2")) or 0
        if mthr.group("gt") and kind == "count_threshold":
            n += 1
        target = "count" if kind == "trend" else "threshold"
        data[target] = int(n) if kind in ("count_threshold", "trend") else n
        ctx.use(mthr.group(0))
        changed.append(f"{target} set to {data[target]}")
    if isinstance(current, VelocityPattern):
        edit = ctx.low[:monly.start()] if monly else ctx.low
        changed.extend(_refine_rate(ctx, edit, data,
                                    has_threshold=mthr is not None and monly is None))
    mname = re.search(r"\b(?:call\s+it|name\s+it|rename\s+(?:it\s+)?to)\s+(?P<n>[\w-]+)", ctx.text,
                      re.I)
    if mname:
        data["name"] = mname.group("n")
        ctx.use(mname.group(0))
        changed.append(f"renamed to {mname.group('n')}")
    if not changed:
        raise Unclear("I could not tell how to change the current pattern. Try 'make it 10 "
                      "minutes', 'only for amounts over 1000' or 'per device instead'.")
    for verb in _EDIT_WORDS.finditer(low):
        ctx.use(verb.group(0))
    notes = [f"edited the current pattern: {'; '.join(changed)}"]
    if data.get("description") and not (mname and len(changed) == 1):
        # The old text would now describe a different pattern ("within ten minutes" after
        # "make it 20 minutes"): drop it rather than keep a description that is wrong.
        data.pop("description")
        notes.append("removed the old description, which no longer matches the pattern")
    if isinstance(current, VelocityPattern):
        notes.extend(_rate_notes(current, data, durations[0].seconds if durations else None))
    ctx.note(notes)
    return data


def _refine_rate(ctx: Request, text: str, data: dict[str, Any], *,
                 has_threshold: bool) -> list[str]:
    """Apply ``per minute`` / ``100 per minute`` to a velocity's ``per`` (and ``threshold``).

    Only a named rate changes ``per``: "make it 2 hours" is the window alone. A number right
    before the rate ("100 per minute") is the threshold unless one was already read.
    """
    mrate = _RATE_EDIT.search(text)
    if mrate is None:
        return []
    changed = []
    ctx.use(mrate.group(0))
    ctx.use("rate")  # "make the rate per minute": the word names the field being edited
    unit = mrate.group("unit")
    number = parse_number(mrate.group("n")) if mrate.group("n") else None
    if number is not None and not has_threshold:
        data["threshold"] = number
        changed.append(f"threshold set to {number}")
    if unit != data["per"]:
        changed.append(f"rate per {unit} (was per {data['per']})")
        data["per"] = unit
    return changed


def _rate_notes(current: VelocityPattern, data: dict[str, Any],
                window_s: float | None) -> list[str]:
    """What an edited velocity now flags, as a rate and as a total over the window; nothing
    when the rate, threshold and window are as before."""
    if window_s is None and (data["per"], data["threshold"]) == (current.per, current.threshold):
        return []
    window_s = current.window.seconds if window_s is None else window_s
    threshold = float(data["threshold"])
    total = threshold * window_s / _UNIT_SECONDS[data["per"]]
    what = "events" if data.get("value_field") is None else f"(sum of {data['value_field']})"
    return [f"now flags a rate of at least {_number(threshold)} {what} per {data['per']}: "
            f"{_number(total)} or more over the {data['window']} window"]


def _number(x: float) -> str:
    """``10,000``, ``83.33``: a number as a user reads it."""
    if x == round(x):
        return f"{x:,.0f}"
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def _key_column(ctx: Request, words: list[str]) -> tuple[str, list[str]]:
    """The key column the words after ``per`` name, and the words that named it.

    With a schema, a column is taken only when it is named in full (``merchant category`` →
    ``merchant_category``, ``card`` → ``card_id``); without one, ``<word>_id`` is assumed.

    Raises:
        Unclear: the words name no column, or only part of one (``merchant`` when the schema
            has ``merchant_category`` but no merchant id).
    """
    first = words[0]
    if not ctx.vocab.has_schema:
        assumed = first if first.endswith("_id") else f"{singular(first)}_id"
        ctx.note([f"no event schema: assumed the key field is {assumed!r}"])
        return assumed, [first]
    for n in range(len(words), 0, -1):
        phrase = words[:n]
        column: str | None = ctx.vocab.key_for(phrase[0]) if n == 1 else None
        if column is None and "_".join(phrase) in ctx.vocab.fields:
            column = "_".join(phrase)
        if column is None:
            candidate = ctx.vocab.field_for(phrase)
            if candidate is not None and _names_in_full(candidate, phrase):
                column = candidate
        if column is not None:
            return column, phrase
    near = ctx.vocab.field_for([first])
    hint = f" Did you mean {near}?" if near is not None else ""
    raise Unclear(f"Which field is '{first}'?{hint} Fields: {ctx.vocab.describe()}.")


def _may_be_key(word: str) -> bool:
    """Whether the word after ``per``/``by`` may name a key (not ``hour`` or ``five``)."""
    return singular(word) not in TIME_UNITS and word not in TIME_UNITS and parse_number(
        word) is None


def _names_in_full(column: str, words: list[str]) -> bool:
    """Whether every word names a part of ``column`` and every part of it is named."""
    parts = [p for p in column.lower().split("_") if p]
    return all(any(words_match(w, p) for p in parts) for w in words) and all(
        any(words_match(w, p) for w in words) for p in parts)


def _names_a_key(ctx: Request, word: str) -> bool:
    """Whether ``word`` (``cards`` in ``across all cards``) names a key column or entity."""
    return ctx.vocab.key_for(word) is not None or singular(word) in _KEY_NOUNS


def _and_text(existing: str | None, cond: cx.Expr) -> str:
    if not existing:
        return render(cond) or ""
    old = cx.parse_condition(existing)
    if isinstance(old, cx.Binary) and old.op == "OR":
        return cx.to_sql(cx.Binary("AND", old, cond))
    return cx.to_sql(cx.Binary("AND", old, cond))
