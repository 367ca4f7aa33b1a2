"""The 13 pattern kinds read from English: one builder per kind, and the rules that choose the
kind from the words used (``then`` → sequence, ``not followed by`` → absence, ``rising for N
readings`` → trend, ...). Each builder returns the pattern's JSON value or raises
:class:`~cep.nl.conditions.Unclear` with a question."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from cep import expr as cx
from cep.model import pattern_to_dict
from cep.nl.conditions import STOPWORDS, EventFilter, Unclear, and_all, compare, render
from cep.nl.phrases import NUMBER_RE, Duration, format_duration, parse_number
from cep.nl.reading import (
    Request,
    at_least,
    base_fields,
    blank_spans,
    event_text,
    name_from,
    read_count,
    read_filter,
    read_partition,
    read_window,
    slug,
)
from cep.nl.vocabulary import singular

__all__ = ["BUILDERS", "KIND_RULES", "UNFILTERED", "choose_kind"]


def _count_threshold(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    window = read_window(ctx, durations, "window")
    count = read_count(ctx.text, skip=[(d.start, d.end) for d in durations])
    if count is None:
        raise Unclear("How many events should it take? Say e.g. '5 or more ... within 10 minutes'.")
    threshold = at_least(ctx, count, "events")
    rest = event_text(ctx, ctx.text[:count.start] + " " * (count.end - count.start)
                       + ctx.text[count.end:], durations)
    rest = re.sub(r"\b(?:tumbling|sliding|fixed|rolling)\b(?:\s+window)?", " ", rest, flags=re.I)
    ev = read_filter(ctx, rest)
    data = base_fields(ctx, "count_threshold", slug(name_from(ev), "count"), partition)
    where = render(ev.condition())
    if where:
        data["where"] = where
    data["threshold"] = threshold
    data["window"] = window
    if re.search(r"\b(?:tumbling|fixed|calendar|clock)\b", ctx.low):
        data["window_type"] = "tumbling"
    else:
        ctx.note(["sliding window (counted back from each event)"])
    return data


_RATE = re.compile(r"\bper\s+(second|minute|hour)\b|\ban?\s+(second|minute|hour)\b(?!s)"
                   r"|\b(second|minute|hour)ly\b", re.I)
_SPEND = re.compile(r"\b(?:spend|spends|spent|spending|total|sum|volume|worth)\b", re.I)
_MONEY = re.compile(rf"(?:\$|usd\s*|€|£)\s*(?P<num>{NUMBER_RE})|(?P<num2>{NUMBER_RE})\s*"
                    r"(?:dollars|usd|eur)\b", re.I)


def _velocity(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    money = _MONEY.search(ctx.text)
    rate = _RATE.search(ctx.text)
    per_unit = (rate.group(1) or rate.group(2) or rate.group(3)).lower() if rate else None
    spans = [(d.start, d.end) for d in durations]
    counted = read_count(ctx.text, skip=[*spans, *([(money.start(), money.end())] if money else [])])
    if money is not None and counted is not None and not _SPEND.search(ctx.text):
        # "more than 5 transactions over $500 per hour": the money filters, the count is the rate
        money = None
    if money is not None:
        value_field = ctx.vocab.currency_field if ctx.vocab.has_schema else "amount"
        if value_field is None:
            raise Unclear("Which field holds the money amount? Name it (e.g. 'amount').")
        threshold = float(parse_number(money.group("num") or money.group("num2")) or 0)
        spans.append((money.start(), money.end()))
        before = ctx.text[max(0, money.start() - 30):money.start()].lower()
        if re.search(r"(more than|over|above|exceed)\s*$", before):
            ctx.note([f"'more than {money.group(0).strip()}' is read as reaching "
                      f"{money.group(0).strip()} (velocity fires at or above the threshold)"])
    else:
        value_field = None
        count = read_count(ctx.text, skip=spans)
        if count is None:
            raise Unclear("What rate should it flag? Say e.g. 'more than 10 transactions per "
                          "minute' or 'spend over $5,000 in an hour'.")
        threshold = float(count.value)
        spans.append((count.start, count.end))
    window_d = durations[0] if durations else None
    if window_d is None and per_unit is not None:
        window = format_duration({"second": 1, "minute": 60, "hour": 3600}[per_unit])
        ctx.note([f"window: one {per_unit}"])
    elif window_d is not None:
        window = window_d.text
    else:
        raise Unclear("Over what window should the rate be measured? Say e.g. 'in an hour'.")
    seconds = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
    window_s = next(d.seconds for d in durations) if durations else seconds[per_unit or "minute"]
    if per_unit is None or (rate is not None and window_d is not None
                            and rate.start() <= window_d.start < rate.end()):
        # "in an hour" is both the window and the unit: the threshold is the window's total
        per_unit = next((u for u in ("hour", "minute", "second") if window_s % seconds[u] == 0
                         and window_s >= seconds[u]), "second")
        threshold = threshold / (window_s / seconds[per_unit])
        if window_s != seconds[per_unit]:
            ctx.note([f"a total over {window} is a rate of {threshold:g} per {per_unit}"])
    if value_field is None and counted is not None and counted.op == ">":
        per_s = seconds[per_unit]
        if window_s == per_s and threshold == counted.value:
            threshold = counted.value + 1.0
            ctx.note([f"'more than {counted.value}' events in one {per_unit} means at least "
                      f"{counted.value + 1}"])
        else:
            ctx.note([f"'more than {counted.value}' is read as a rate of at least "
                      f"{threshold:g} per {per_unit}"])
    if rate is not None:
        spans.append((rate.start(), rate.end()))
    rest = event_text(ctx, blank_spans(ctx.text, spans), durations)
    rest = re.sub(r"\b(?:spend|spent|spends|spending|total|sum|rate|reaches|reach|amount|"
                  r"amounts|value|exceeds|exceed)\b", " ", rest, flags=re.I)
    ev = read_filter(ctx, rest)
    data = base_fields(ctx, "velocity", slug(name_from(ev), "velocity"), partition)
    where = render(ev.condition())
    if where:
        data["where"] = where
    if value_field:
        data["value_field"] = value_field
    data["threshold"] = float(round(threshold)) if abs(threshold - round(threshold)) < 1e-9 \
        else threshold
    data["per"] = per_unit
    data["window"] = window
    return data


_SEQ_SPLIT = re.compile(
    r"\s*(?:,\s*)?\b(?:and\s+then|then|followed\s+(?:later\s+)?by|after\s+that|afterwards|"
    r"and\s+later|later)\b\s*",
    re.IGNORECASE,
)
_BETWEEN_NEG = re.compile(
    r"\b(?:without|with\s+no|and\s+no|but\s+no)\s+(?P<what>.+?)\s+(?:in\s+between|between\s+them|"
    r"in\s+the\s+middle|between)\b",
    re.IGNORECASE,
)


def _step_from(ctx: Request, text: str, durations: list[Duration], index: int,
               previous: EventFilter | None) -> tuple[dict[str, Any], EventFilter]:
    count = read_count(text)
    step: dict[str, Any] = {}
    body = text
    if count is not None and not (count.value == 1 and count.op == ""):
        if count.op in (">=", ">"):
            low_n = count.value + (1 if count.op == ">" else 0)
            step["times"] = {"min": low_n, "max": None}
            step["greedy"] = True
            ctx.note([f"step {index + 1} takes {low_n} or more events, as many as it can"])
        else:
            step["times"] = {"min": count.value, "max": count.value}
            if count.op == "":
                ctx.note([f"step {index + 1}: exactly {count.value} events "
                          f"(say '{count.value} or more' for at least)"])
        body = text[:count.start] + " " + text[count.end:]
    inherit = re.match(r"\s*(?:one|another|a\s+second\s+one|a\s+later\s+one)\b", body, re.I)
    ev = read_filter(ctx, event_text(ctx, body, durations))
    if inherit and previous is not None:
        have = {p.left.name for p in ev.parts if isinstance(p, cx.Binary)
                and isinstance(p.left, cx.Col)}
        for p in previous.parts:
            if (isinstance(p, cx.Binary) and isinstance(p.left, cx.Col)
                    and isinstance(p.right, cx.Lit) and isinstance(p.right.value, str)
                    and p.left.name not in have):
                ev.parts.insert(0, p)
    where = render(ev.condition())
    if where is None:
        raise Unclear(f"What event is step {index + 1} ('{text.strip()}')? Name its event type "
                      "or a condition.")
    return {"where": where, **step}, ev


def _step_names(filters: list[EventFilter]) -> list[str]:
    names: list[str] = []
    for ev in filters:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name_from(ev)).strip("_").lower() or "step"
        if not re.match(r"[a-z_]", base):
            base = f"s_{base}"
        name = base[:40]
        n = 2
        while name in names:
            name, n = f"{base[:36]}_{n}", n + 1
        names.append(name)
    return names


def _sequence(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    text = blank_spans(ctx.text, [(d.start, d.end) for d in durations])
    # "B after A" → A then B
    m_after = re.search(r"^(?P<b>.+?)\s+(?:after|following)\s+(?P<a>.+)$", text, re.I)
    if not _SEQ_SPLIT.search(text) and m_after:
        text = f"{m_after.group('a')} then {m_after.group('b')}"
    negs: dict[int, str] = {}
    parts = [p for p in _SEQ_SPLIT.split(text) if p.strip(" ,.")]
    if len(parts) < 2:
        raise Unclear("Which events come in order? Say e.g. 'A then B within 10 minutes'.")
    clean: list[str] = []
    for i, p in enumerate(parts):
        mneg = _BETWEEN_NEG.search(p)
        if mneg:
            negs[len(clean)] = mneg.group("what")
            p = p[:mneg.start()] + p[mneg.end():]
        tail = re.search(r"\b(?:but\s+)?(?:not\s+followed\s+by|with\s+no|and\s+no|without)\s+"
                         r"(?P<what>.+)$", p, re.I)
        if tail and i == len(parts) - 1:
            negs[len(clean) + 1] = tail.group("what")
            p = p[:tail.start()]
        clean.append(p)
    steps: list[dict[str, Any]] = []
    filters: list[EventFilter] = []
    prev: EventFilter | None = None
    order: list[tuple[str, int]] = []
    empty: Unclear | None = None
    for i, p in enumerate(clean):
        try:
            step, ev = _step_from(ctx, p, durations, i, prev)
        except Unclear as exc:
            if not exc.question.startswith("What event is step"):
                raise
            empty = empty or exc
            step, ev = {}, EventFilter()
        steps.append(step)
        filters.append(ev)
        prev = ev
        order.append(("step", i))
    if empty is not None:
        raise empty
    names = _step_names(filters)
    out_steps: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        if i in negs and i > 0:
            ev = read_filter(ctx, negs[i])
            cond = render(ev.condition())
            out_steps.append({"name": _unique_name(f"no_{name_from(ev)}", names, out_steps),
                              "where": cond, "negated": "not_followed_by"})
        out_steps.append({"name": names[i], **step})
    if len(steps) in negs:
        ev = read_filter(ctx, negs[len(steps)])
        out_steps.append({"name": _unique_name(f"no_{name_from(ev)}", names, out_steps),
                          "where": render(ev.condition()), "negated": "not_followed_by"})
    data = base_fields(ctx, "sequence", slug(*names[:3]), partition)
    data["steps"] = out_steps
    if durations:
        data["within"] = durations[0].text
    elif out_steps[-1].get("negated"):
        raise Unclear("Within how long must the last event not follow? Say e.g. "
                      "'within 10 minutes'.")
    else:
        ctx.note(["no time limit: the steps may be any time apart (say 'within ...' to limit)"])
    ctx.note(["relaxed contiguity: other events may come between the steps"])
    return data


def _unique_name(base: str, names: list[str], steps: list[dict[str, Any]]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_").lower()[:40] or "no_step"
    taken = set(names) | {s["name"] for s in steps}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


_ABSENCE = [
    re.compile(r"^(?P<t>.+?)\s+(?:that\s+is\s+|is\s+)?(?:not|never)\s+followed\s+by\s+(?P<e>.+)$",
               re.I),
    re.compile(r"^(?P<t>.+?)\s+(?:without|with\s+no|and\s+no|but\s+no)\s+(?P<e>.+)$", re.I),
    re.compile(r"^(?:no|missing)\s+(?P<e>.+?)\s+(?:after|following|of|since)\s+(?P<t>.+)$",
               re.I),
    re.compile(r"^(?P<t>.+?)\s+(?:that\s+is\s+|is\s+|that\s+was\s+)?(?:not|never)\s+"
               r"(?P<e>completed|answered|acknowledged|confirmed|resolved|approved|closed|"
               r"finished|verified|succeeded)\b", re.I),
]
_COMPLETION = {"completed", "answered", "acknowledged", "confirmed", "resolved", "closed",
               "finished", "verified", "succeeded", "approved"}
_SUCCESS_WORDS = ("success", "ok", "complete", "completed", "done", "ack", "acknowledged",
                  "resolved", "passed", "answered", "confirmed", "verified", "closed")


def _absence(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    timeout = read_window(ctx, durations, "timeout")
    text = event_text(ctx, ctx.text, durations)
    text = re.sub(r"\b(?:in\s+time|afterwards|after\s+it|after\s+that)\b", " ", text, flags=re.I)
    text = re.sub(r"\s+", " ", text).strip(" ,.")
    text = re.sub(r"^(?:alert|flag|notify|warn|detect)(?:\s+(?:me|us))?\s+(?:when|if|on)\s+",
                  "", text, flags=re.I)
    match = next((m for r in _ABSENCE if (m := r.search(text))), None)
    if match is None:
        raise Unclear("What starts the wait and what is expected? Say e.g. 'an alert not "
                      "followed by an ack within 15 minutes'.")
    trigger = read_filter(ctx, match.group("t"))
    trigger_sql = render(trigger.condition())
    if trigger_sql is None:
        raise Unclear("Which event starts the wait? Name its event type.")
    expected_text = match.group("e")
    expected_sql: str | None
    if expected_text.lower() in _COMPLETION:
        expected_sql = _completion_of(ctx, trigger)
    else:
        expected = read_filter(ctx, expected_text)
        expected_sql = render(expected.condition())
    if expected_sql is None:
        raise Unclear("Which event is expected? Name its event type.")
    data = base_fields(ctx, "absence", slug(name_from(trigger), "not_followed"), partition)
    data.update(trigger=trigger_sql, expected=expected_sql, timeout=timeout)
    return data


def _completion_of(ctx: Request, trigger: EventFilter) -> str:
    """``mfa_challenge`` not completed → the value of the same field sharing its first word and
    ending in a success word (``mfa_success``)."""
    for p in trigger.parts:
        if (isinstance(p, cx.Binary) and p.op == "=" and isinstance(p.left, cx.Col)
                and isinstance(p.right, cx.Lit) and isinstance(p.right.value, str)):
            column, value = p.left.name, p.right.value
            head = re.split(r"[^A-Za-z0-9]+", value)[0].lower()
            options = [
                v for v in ctx.vocab.values.get(column, ())
                if v != value and v.lower().startswith(head)
                and v.lower().rsplit("_", 1)[-1] in _SUCCESS_WORDS
            ]
            if len(options) == 1:
                ctx.note([f"'completed' read as {column} = '{options[0]}'"])
                return render(compare(column, "=", options[0])) or ""
    raise Unclear("Which event completes it? Name the expected event (e.g. 'without an "
                  "mfa_success').")


_CORR = re.compile(
    r"^(?:both\s+)?(?P<a>.+?)\s+and\s+(?:also\s+)?(?P<b>.+?)\s*$", re.IGNORECASE
)


def _temporal_correlation(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    gap = read_window(ctx, durations, "maximum gap")
    text = event_text(ctx, ctx.text, durations)
    order = "any"
    text = re.sub(r"\b(?:in\s+(?:either|any)\s+order|either\s+way|of\s+each\s+other|"
                  r"of\s+one\s+another|apart|close\s+together|at\s+about\s+the\s+same\s+time|"
                  r"near(?:ly)?\s+simultaneous(?:ly)?|correlated?|together)\b", " ", text,
                  flags=re.I)
    text = re.sub(r"^\s*(?:alert|flag|detect|find|notify)(?:\s+(?:me|us))?\s+(?:when|if)?\s*",
                  "", text, flags=re.I)
    text = re.sub(r"\s+", " ", text).strip(" ,.")
    m = _CORR.search(text)
    if m is None:
        raise Unclear("Which two events should occur close together? Say 'A and B within T'.")
    a = read_filter(ctx, m.group("a"))
    b = read_filter(ctx, m.group("b"))
    a_sql, b_sql = render(a.condition()), render(b.condition())
    if a_sql is None or b_sql is None:
        raise Unclear("Name both events (their event types or conditions).")
    data = base_fields(ctx, "temporal_correlation", slug(name_from(a), name_from(b)), partition)
    data.update(a=a_sql, b=b_sql, max_gap=gap, order=order)
    ctx.note(["either order: A may come before or after B"])
    return data


def _heartbeat(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    grace: Duration | None = None
    for d in durations:
        after = ctx.low[d.end:d.end + 20]
        before = ctx.low[max(0, d.start - 20):d.start]
        if "grace" in after or "grace" in before or re.search(r"(plus|\+)\s*$", before):
            grace = d
    interval = [d for d in durations if d is not grace]
    if not interval:
        raise Unclear("How long a silence should raise the alert? Say e.g. 'silent for 10 "
                      "minutes'.")
    if not partition:
        raise Unclear("Silence of what? Say which entity (e.g. 'per device').")
    data = base_fields(ctx, "heartbeat", slug(partition[0], "silent"), partition)
    data["interval"] = interval[0].text
    if grace is not None:
        data["grace"] = grace.text
    else:
        ctx.note(["no grace period"])
    if re.search(r"\b(?:comes?\s+back|recovers?|resumes?|back\s+online|reappears?|"
                 r"status\s+change|alive\s+again)\b", ctx.low):
        data["emit"] = "status_change"
    else:
        ctx.note(["one match per silence (say 'and when it comes back' to report recovery too)"])
    return data


def _session(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    gap: Duration | None = None
    max_d: Duration | None = None
    longer: Duration | None = None
    for d in durations:
        after = ctx.low[d.end:d.end + 30]
        before = ctx.low[max(0, d.start - 30):d.start]
        if re.match(r"\s*(?:of\s+)?(?:inactivity|idle|idleness|silence|gap|quiet|timeout|"
                    r"without\s+(?:events|activity))", after) or re.search(
                        r"(?:gap|inactivity|idle|timeout|break)\s+(?:of\s+)?(?:more\s+than\s+)?$",
                        before):
            gap = d
        elif re.search(r"(?:at\s+most|capped\s+at|max(?:imum)?(?:\s+of)?|up\s+to)\s*$", before):
            max_d = d
        elif re.search(r"(?:longer\s+than|lasting\s+more\s+than|over|more\s+than)\s*$", before):
            longer = d
    if gap is None:
        raise Unclear("What inactivity gap ends a session? Say e.g. '30 minutes of inactivity'.")
    having: list[cx.Expr] = []
    count = read_count(ctx.text, skip=[(d.start, d.end) for d in durations])
    if count is not None:
        if count.op == "":
            count.op = ">="
        having.append(cx.Binary(count.op if count.op != "=" else "=",  # type: ignore[arg-type]
                                cx.Col("event_count", None), cx.Lit(count.value)))
    if longer is not None:
        having.append(cx.Binary(">", cx.Col("duration_s", None), cx.Lit(int(longer.seconds))))
    money = _MONEY.search(ctx.text)
    if money is not None and ctx.vocab.currency_field:
        amount = parse_number(money.group("num") or money.group("num2")) or 0
        having.append(cx.Binary(">", cx.Agg("SUM", cx.Col(ctx.vocab.currency_field, None), None),
                                cx.Lit(int(amount) if amount == int(amount) else amount)))
    data = base_fields(ctx, "session", slug(partition[0] if partition else "all", "session"),
                 partition)
    data["gap"] = gap.text
    if max_d is not None:
        data["max_duration"] = max_d.text
    if having:
        cond = and_all(having)
        data["having"] = cx.to_sql(cond) if cond is not None else None
    else:
        ctx.note(["every session is reported (no condition on the session)"])
    return data


def _dedup(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    window = read_window(ctx, durations, "window")
    m = re.search(r"\bsame\s+(?P<f>[a-z_ ,]+?)(?=\s+(?:within|in|inside|during|over|twice|"
                  r"again|repeated|more\s+than\s+once)\b|[.;)]|$)",
                  ctx.low)
    fields: list[str] = []
    if m:
        for w in re.split(r",|\band\b|\s+", m.group("f")):
            w = w.strip()
            if not w or w in STOPWORDS:
                continue
            column = ctx.vocab.key_for(w) or ctx.vocab.field_for([w]) if ctx.vocab.has_schema \
                else f"{singular(w)}"
            if column is None:
                raise Unclear(f"Which field is '{w}'? Fields: {ctx.vocab.describe()}.")
            if column not in fields:
                fields.append(column)
        ctx.use(m.group(0))
    if not fields:
        raise Unclear("Duplicates by which fields? Say e.g. 'same card and amount within 2 "
                      "minutes'.")
    data = base_fields(ctx, "dedup", slug("duplicate", *fields), [])
    data.update(fields=fields, window=window)
    ctx.note(["a later event with equal " + ", ".join(fields) + " within the window is a "
              "duplicate of the first"])
    return data


_SIGMA = re.compile(
    rf"(?P<n>{NUMBER_RE})\s*(?:x\s*)?(?P<unit>standard\s+deviations?|std(?:\s+devs?)?|sigmas?|"
    r"sds?|z|times\s+the\s+(?:iqr|interquartile\s+range)|iqrs?|mads?|median\s+absolute\s+"
    r"deviations?)\b",
    re.IGNORECASE,
)


def _numeric_subject(ctx: Request, text: str) -> str:
    words = [w for w in re.findall(r"[a-z_]+", text.lower()) if w not in STOPWORDS]
    if ctx.vocab.has_schema:
        column = ctx.vocab.field_for(words, numeric=True)
        if column is not None:
            return column
        raise Unclear("Which numeric field should it watch? Numeric fields: "
                      + ", ".join(ctx.vocab.numeric_fields) + ".")
    candidates = [w for w in words if w not in {
        "rising", "falling", "increasing", "decreasing", "readings", "reading", "values",
        "consecutive", "row", "standard", "deviations", "deviation", "baseline", "outlier",
        "spike", "flat", "stable", "steady", "times", "drops", "rises", "sigma"}]
    if not candidates:
        raise Unclear("Which numeric field should it watch?")
    subject: str = candidates[0]
    ctx.note([f"no event schema: assumed a numeric field {subject!r}"])
    return subject


def _outlier(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    m = _SIGMA.search(ctx.text)
    method = "zscore"
    if re.search(r"\b(?:iqr|interquartile)\b", ctx.low):
        method = "iqr"
    elif re.search(r"\b(?:mads?|median\s+absolute)\b", ctx.low):
        method = "mad"
    elif not re.search(r"\b(?:standard\s+deviations?|std|sigmas?|sds?|z-?scores?|z)\b", ctx.low):
        ctx.note(["method: z-score (distance in standard deviations from the baseline mean)"])
    mk = re.search(rf"\b(?:k|factor|multiplier)\s*(?:=|of|:)?\s*(?P<n>{NUMBER_RE})\b", ctx.text,
                   re.I)
    if m is None and mk is None:
        raise Unclear("How far from normal counts as an outlier? Say e.g. '3 standard "
                      "deviations'.")
    hit = m if m is not None else mk
    assert hit is not None
    threshold = parse_number(hit.group("n")) or 0.0
    ctx.use(hit.group(0))
    if not durations:
        raise Unclear("Over what baseline window? Say e.g. 'compared with the last 6 hours'.")
    subject_text = blank_spans(ctx.text, [(hit.start(), hit.end())]
                                + [(d.start, d.end) for d in durations])
    value_field = _numeric_subject(ctx, subject_text)
    data = base_fields(ctx, "outlier", slug(value_field, "outlier"), partition)
    data.update(value_field=value_field, method=method,
                threshold=int(threshold) if threshold == int(threshold) else threshold,
                baseline=durations[0].text)
    ms = re.search(rf"(?:at\s+least|after|minimum\s+of|min(?:imum)?)\s+(?P<n>{NUMBER_RE})\s+"
                   r"(?:readings|samples|events|values|points)", ctx.low)
    if ms:
        data["min_samples"] = int(parse_number(ms.group("n")) or 10)
    else:
        ctx.note(["no decision before 10 baseline events (min_samples 10)"])
    return data


_TREND_UP = r"ris(?:e|es|ing)|increas(?:e|es|ing)|climb(?:s|ing)?|grow(?:s|ing)?|going\s+up|goes\s+up|up"
_TREND_DOWN = r"fall(?:s|ing)?|decreas(?:e|es|ing)|dropp?(?:s|ing)?|declining|sink(?:s|ing)?|going\s+down|goes\s+down|down"
_TREND_FLAT = r"flat|stable|steady|unchanged|constant|stuck"


def _trend(ctx: Request) -> dict[str, Any]:
    partition = read_partition(ctx)
    low = ctx.low
    if re.search(rf"\b(?:{_TREND_FLAT})\b", low):
        direction = "flat"
    elif re.search(rf"\b(?:{_TREND_DOWN})\b", low):
        direction = "down"
    elif re.search(rf"\b(?:{_TREND_UP})\b", low):
        direction = "up"
    else:
        raise Unclear("Rising, falling or flat?")
    m = re.search(rf"(?P<n>{NUMBER_RE})\s+(?:consecutive|successive|straight|more)?\s*"
                  r"(?:readings|values|samples|events|measurements|points|times|ticks|"
                  r"[a-z]+s\b)|"
                  rf"(?P<n2>{NUMBER_RE})\s+(?:in\s+a\s+row|consecutively)|"
                  rf"(?P<n3>{NUMBER_RE})\s+(?:consecutive|successive)", low)
    if m is None:
        raise Unclear("For how many readings in a row? Say e.g. 'rising for 5 readings'.")
    count = int(parse_number(m.group("n") or m.group("n2") or m.group("n3")) or 0)
    tol = re.search(rf"(?P<n>{NUMBER_RE})\s*(?:%|percent)", low)
    subject = blank_spans(ctx.text, [(m.start(), m.end())] + ([(tol.start(), tol.end())]
                                                               if tol else []))
    value_field = _numeric_subject(ctx, subject)
    data = base_fields(ctx, "trend", slug(value_field, direction), partition)
    data.update(value_field=value_field, direction=direction, count=count)
    if tol:
        data["tolerance_pct"] = parse_number(tol.group("n"))
    else:
        ctx.note(["no tolerance: every step must strictly move" if direction != "flat"
                  else "no tolerance: values must be exactly equal"])
    return data


_COORD = r"-?\d{1,3}(?:\.\d+)?"
_PAIR = re.compile(rf"\(?\s*(?P<lat>{_COORD})\s*[, ]\s*(?P<lon>{_COORD})\s*\)?")


def _geofence(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    low = ctx.low
    if re.search(r"\b(?:dwell|dwells|stays?|remains?|lingers?|sits?|parked|idles?)\b", low):
        trigger = "dwell"
    elif re.search(r"\b(?:exits?|exiting|leaves?|leaving|departs?|goes\s+out)\b", low):
        trigger = "exit"
    elif re.search(r"\b(?:enters?|entering|arrives?|arriving|goes\s+into|comes\s+into)\b", low):
        trigger = "enter"
    else:
        raise Unclear("Should it fire when the fence is entered, exited, or when an entity "
                      "stays inside for some time?")
    radius = re.search(r"(?P<r>\d+(?:\.\d+)?)\s*(?P<u>km|kilomet(?:er|re)s?|m|met(?:er|re)s?|"
                       r"mi|miles?)\b", low)
    coord_text = blank_spans(ctx.text, [(radius.start(), radius.end())] if radius else [])
    coord_text = blank_spans(coord_text, [(d.start, d.end) for d in durations])
    pairs = [(float(m.group("lat")), float(m.group("lon"))) for m in _PAIR.finditer(coord_text)
             if "." in m.group("lat") or "." in m.group("lon")]
    shape: dict[str, Any]
    if len(pairs) >= 3:
        shape = {"type": "polygon", "vertices": [{"lat": a, "lon": b} for a, b in pairs]}
    elif len(pairs) == 1 and radius is not None:
        r = float(radius.group("r"))
        unit = radius.group("u")
        r *= 1000 if unit.startswith("k") else 1609.344 if unit.startswith("mi") else 1
        shape = {"type": "circle", "center": {"lat": pairs[0][0], "lon": pairs[0][1]},
                 "radius_m": r}
    else:
        raise Unclear("Where is the fence? Give a centre and radius ('within 500 m of 51.5, "
                      "-0.12') or the polygon's corners as lat, lon pairs.")
    lat = next((f for f in ("lat", "latitude") if f in ctx.vocab.fields), None)
    lon = next((f for f in ("lon", "lng", "longitude") if f in ctx.vocab.fields), None)
    if ctx.vocab.has_schema and (lat is None or lon is None):
        raise Unclear("Which fields hold latitude and longitude? The schema has none named "
                      "lat/lon.")
    data = base_fields(ctx, "geofence", slug(trigger, "fence"), partition)
    if not ctx.vocab.has_schema:
        ctx.note(["no event schema: positions are read from fields lat and lon"])
    if lat and lat != "lat":
        data["lat_field"] = lat
    if lon and lon != "lon":
        data["lon_field"] = lon
    data.update(shape=shape, trigger=trigger)
    if trigger == "dwell":
        if not durations:
            raise Unclear("How long must it stay inside? Say e.g. 'for 10 minutes'.")
        data["dwell"] = durations[0].text
    return data


def _state_machine(ctx: Request) -> dict[str, Any]:
    durations = ctx.durations()
    partition = read_partition(ctx)
    low = ctx.low
    ms = re.search(r"\bstates?\s*(?::|are|of)?\s*(?P<s>[a-z0-9_]+(?:\s*(?:,|and|/)\s*[a-z0-9_]+)+)",
                   low)
    if ms is None:
        raise Unclear("Which states are there? Say e.g. 'states new, paid, shipped; from new "
                      "to paid when event is payment'.")
    states = [s for s in re.split(r"\s*(?:,|\band\b|/)\s*", ms.group("s")) if s]
    mi = re.search(r"\b(?:start(?:s|ing)?\s+(?:in|at)|initial(?:\s+state)?\s*(?:is|:)?)\s+"
                   r"(?P<s>[a-z0-9_]+)", low)
    initial = mi.group("s") if mi else states[0]
    if mi is None:
        ctx.note([f"starts in {states[0]!r} (the first state listed)"])
    transitions: list[dict[str, Any]] = []
    for mt in re.finditer(r"\bfrom\s+(?P<f>[a-z0-9_*]+|any(?:\s+state)?)\s+to\s+(?P<t>[a-z0-9_]+)"
                          r"(?:\s+(?:when|on|if)\s+(?P<w>.+?))?(?=[;.]|\bfrom\b|$)", low):
        src = "*" if mt.group("f").startswith(("any", "*")) else mt.group("f")
        item: dict[str, Any] = {"from": src, "to": mt.group("t")}
        if mt.group("w"):
            ev = read_filter(ctx, mt.group("w"))
            cond = render(ev.condition())
            if cond is not None:
                item["when"] = cond
        transitions.append(item)
    if not transitions:
        raise Unclear("Which transitions? Say e.g. 'from new to paid when event is payment'.")
    unknown = {s for t in transitions for s in (t["from"], t["to"]) if s != "*"} - set(states)
    if initial not in states or unknown:
        raise Unclear(f"Unknown state(s) {', '.join(sorted(unknown | ({initial} - set(states))))}"
                      f"; the states are {', '.join(states)}.")
    data = base_fields(ctx, "state_machine", slug(*states[:3]), partition)
    data.update(states=states, initial=initial, transitions=transitions)
    mterm = re.search(r"(?P<s>[a-z0-9_]+(?:\s*(?:,|and)\s*[a-z0-9_]+)*)\s+(?:is|are)\s+"
                      r"(?:terminal|final)", low)
    if mterm:
        data["terminal"] = [s for s in re.split(r"\s*(?:,|\band\b)\s*", mterm.group("s"))
                            if s in states]
    mto = re.search(r"\btimes?\s+out\b.*?\bto\s+(?P<s>[a-z0-9_]+)", low)
    if durations and mto:
        data["timeout"] = durations[0].text
        data["timeout_state"] = mto.group("s")
    if re.search(r"\b(?:emit|alert|report)\w*\s+(?:on|at|when\s+(?:it\s+)?reach\w*)\s+"
                 r"(?:the\s+)?(?:terminal|final|end)", low):
        data["emit"] = "terminal"
    else:
        ctx.note(["a match for every transition taken"])
    return data


_MR_SHAPE = re.compile(r"\bv[\s-]?shape|\b(?:dips?|drops?|falls?|declines?)\b.*\b(?:then|and\s+then|"
                       r"before)\b.*\b(?:recovers?|rises?|rebounds?|climbs?|increases?)", re.I)


def _match_recognize(ctx: Request) -> dict[str, Any]:
    if re.search(r"\bmatch_recognize\b", ctx.text, re.I):
        from cep.sqlimport import import_match_recognize

        p = import_match_recognize(ctx.text, source="<text>")
        return pattern_to_dict(p)
    durations = ctx.durations()
    partition = read_partition(ctx)
    subject = re.sub(r"\b(?:v[\s-]?shape[ds]?|dips?|drops?|falls?|declines?|recovers?|rises?|"
                     r"rebounds?|climbs?|increases?|then|before|and|back|again|up|down|in|a|"
                     r"pattern|shape)\b", " ", blank_spans(ctx.text, [
                         (d.start, d.end) for d in durations]), flags=re.I)
    value_field = _numeric_subject(ctx, subject)
    col = cx.Col(value_field, None)
    prev = cx.Nav("PREV", col, 1)
    data = base_fields(ctx, "match_recognize", slug(value_field, "v_shape"), partition)
    data.update(pattern="A B+ C+",
                define={"B": cx.to_sql(cx.Binary("<", col, prev)),
                        "C": cx.to_sql(cx.Binary(">", col, prev))})
    ctx.note(["V shape: a start row A, one or more falling rows B, one or more rising rows C"])
    if durations:
        data["within"] = durations[0].text
    return data


# --------------------------------------------------------------------------------------------
# Choosing the kind

KIND_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("match_recognize", re.compile(r"\bmatch_recognize\b|" + _MR_SHAPE.pattern, re.I)),
    ("state_machine", re.compile(r"\bstate[\s_-]?machine\b|\bstates?\s*(?::|are)|\bstates\s+\w+\s*,|"
                                 r"\btransitions?\b.*\bfrom\b", re.I)),
    ("geofence", re.compile(r"\b(?:geo-?fence\w*|polygon|radius|depot|zone|enters?|entering|"
                            r"exits?\s+(?:the|a)|leaves?\s+(?:the|a)|dwell\w*|"
                            r"within\s+\d+(?:\.\d+)?\s*(?:km|m|metres|meters|miles)\s+of)\b",
                            re.I)),
    ("session", re.compile(r"\bsessions?\b", re.I)),
    ("dedup", re.compile(r"\b(?:duplicates?|duplicated|de-?dup\w*|twice|repeated\s+with\s+the\s+"
                         r"same|double[\s-]?(?:charges?|submissions?|posted))\b", re.I)),
    ("outlier", re.compile(r"\b(?:standard\s+deviations?|sigmas?|z-?scores?|outliers?|anomal\w+|"
                           r"iqr|interquartile|mads?|median\s+absolute)\b", re.I)),
    ("heartbeat", re.compile(r"\b(?:silent|silence|heartbeats?|goes\s+quiet|stops?\s+(?:sending|"
                             r"reporting)|stopped\s+(?:sending|reporting)|(?:hasn't|has\s+not|"
                             r"doesn't|does\s+not)\s+(?:reported|report|sent|send)|offline|"
                             r"no\s+(?:events|readings|data|messages|signal|pings|activity|"
                             r"traffic|heartbeats?)\s+(?:from|for|in))"
                             r"\b", re.I)),
    ("trend", re.compile(rf"\b(?:{_TREND_UP}|{_TREND_DOWN}|{_TREND_FLAT})\b.*\b(?:readings|"
                         r"values|samples|in\s+a\s+row|consecutive\w*|times|measurements|points)\b|"
                         rf"\b(?:consecutive|successive)\b.*\b(?:{_TREND_UP}|{_TREND_DOWN}|"
                         rf"{_TREND_FLAT})\b", re.I)),
    ("absence", re.compile(r"\bnot\s+followed\s+by\b|\bnever\s+followed\b|\bwithout\b|"
                           r"\b(?:not|never)\s+(?:completed|answered|acknowledged|confirmed|"
                           r"resolved|closed|finished|verified|succeeded)\b|"
                           r"^\W*(?:alert\s+(?:me\s+)?(?:when|if)\s+)?(?:no|missing)\s+\w+.*"
                           r"\b(?:after|following)\b|\bwith\s+no\b", re.I)),
    ("temporal_correlation", re.compile(r"\b(?:either|any)\s+order\b|\bof\s+each\s+other\b|"
                                        r"\bcorrelat\w*\b|\bclose\s+together\b|\bboth\b", re.I)),
    ("sequence", re.compile(r"\bthen\b|\bfollowed\s+by\b|\bafter\b|\bfollowing\b|\blater\b",
                            re.I)),
    ("velocity", re.compile(r"\b(?:spend|spends|spent|spending|total|sum|rate|per\s+(?:second|"
                            r"minute|hour))\b|\b(?:hourly|per-minute)\b", re.I)),
    ("count_threshold", re.compile(rf"\b{NUMBER_RE}\b", re.I)),
]

BUILDERS: dict[str, Callable[[Request], dict[str, Any]]] = {
    "count_threshold": _count_threshold,
    "velocity": _velocity,
    "sequence": _sequence,
    "absence": _absence,
    "temporal_correlation": _temporal_correlation,
    "heartbeat": _heartbeat,
    "session": _session,
    "dedup": _dedup,
    "outlier": _outlier,
    "trend": _trend,
    "geofence": _geofence,
    "state_machine": _state_machine,
    "match_recognize": _match_recognize,
}


def choose_kind(text: str) -> str | None:
    """The kind the text asks for, by the first matching rule of :data:`KIND_RULES`."""
    for kind, rule in KIND_RULES:
        if rule.search(text):
            if kind == "absence" and re.search(r"\bwithout\b.*\b(?:in\s+between|between)\b",
                                               text, re.I):
                return "sequence"
            if kind == "velocity" and not re.search(rf"{NUMBER_RE}", text, re.I):
                continue
            return kind
    return None


UNFILTERED = {"trend", "outlier", "heartbeat", "dedup", "geofence", "match_recognize"}
"""Kinds without an event filter: a value named in the text cannot be applied to them."""
