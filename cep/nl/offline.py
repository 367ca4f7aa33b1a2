"""The offline generator: deterministic English → pattern rules for all 13 kinds, no network.

It reads thresholds, durations in any unit, keys, event types and values (grounded in the event
schema when one is given), sequences, negation, absence, silence, trends, outliers, geofences,
duplicates, sessions and state machines. It never returns a silently wrong pattern: a word it
cannot ground, an ambiguity or an out-of-range value gives a clarifying ``question`` instead,
and every default it fills in is listed in ``assumptions``.

>>> g = generate_offline("5 or more declined charges per card within 10 minutes",
...                      schema={"card_id": "string", "status": "string", "amount": "float"},
...                      examples={"status": ["approved", "declined"]})
>>> g.pattern.kind, g.pattern.where, g.pattern.threshold, str(g.pattern.window)
('count_threshold', "status = 'declined'", 5, '10m')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cep.errors import CepError
from cep.model import Pattern, validate_pattern
from cep.nl.conditions import STOPWORDS, Unclear
from cep.nl.generation import Generation, pattern_sha256, text_sha256
from cep.nl.kinds import BUILDERS, KIND_RULES, UNFILTERED, choose_kind
from cep.nl.phrases import parse_number
from cep.nl.reading import Request, clean_text, slug
from cep.nl.refine import refine_pattern
from cep.nl.vocabulary import Vocabulary

__all__ = ["MAX_TEXT_CHARS", "generate_offline"]

MAX_TEXT_CHARS = 2_000
"""Longest text the generators accept."""

_CODE_LIKE = re.compile(
    r"__\w+__|\bimport\b|\beval\b|\bexec\b|\bdrop\s+table\b|\bdelete\s+from\b|"
    r"\binsert\s+into\b|\bselect\b.+\bfrom\b|<script|\bos\.system\b|\bsubprocess\b",
    re.IGNORECASE,
)

_STOP_FOR_LEFTOVER = STOPWORDS | {
    "alert", "flag", "detect", "when", "whenever", "notify", "warn", "then", "followed",
    "within", "minutes", "minute", "seconds", "hours", "hour", "days", "day", "weeks",
    "more", "less", "than", "least", "over", "under", "above", "below", "per",
}


_LABEL = re.compile(r"^([A-Za-z][\w '-]{0,40}):\s+(.+)$")


def _leftovers(ctx: Request) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9_']*", ctx.text)
    return [
        w for w in words
        if w.lower() not in ctx.used and w.lower() not in _STOP_FOR_LEFTOVER
        and parse_number(w) is None
    ]




def _invalid(exc: CepError, ctx: Request, meta: Mapping[str, Any]) -> Generation:
    return Generation(
        question=f"I could not build a valid pattern from that: {exc}. Please rephrase.",
        assumptions=tuple(ctx.assumptions), **meta)


def _build(ctx: Request, current: Pattern | None, name: str | None = None) -> Pattern:
    if current is not None:
        data = refine_pattern(ctx, current)
    else:
        kind = choose_kind(ctx.text)
        if kind is None:
            raise Unclear(
                "I could not tell what to detect. Mention a count and a window ('5 or more "
                "... within 10 minutes'), an order ('A then B'), a missing event ('A not "
                "followed by B within 5 minutes'), a trend, an outlier, a silence, a "
                "session, duplicates, a geofence or states."
            )
        data = BUILDERS[kind](ctx)
        if kind in UNFILTERED and ctx.vocab.has_schema:
            words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]*", ctx.text)
                     if w.lower() not in ctx.used]
            named = ctx.vocab.values_in(words)
            if named:
                column, value, _ = named[0]
                raise Unclear(
                    f"A {kind} pattern looks at every event of a key; it cannot be limited to "
                    f"{column} = '{value}'. Drop that restriction, or describe a pattern kind "
                    "that filters events (a count, a sequence, a rate)."
                )
        if name:
            data["name"] = name
        for _, rule in KIND_RULES:
            for m in rule.finditer(ctx.text):
                ctx.use(m.group(0))
    return validate_pattern(data, source="generated pattern")


def generate_offline(
    text: str,
    *,
    schema: Mapping[str, str] | None = None,
    examples: Mapping[str, Sequence[Any]] | None = None,
    current: Pattern | None = None,
    units: Mapping[str, str] | None = None,
) -> Generation:
    """Turn English into a pattern with deterministic rules.

    Args:
        text: the user's description (at most :data:`MAX_TEXT_CHARS` characters).
        schema: event field → type (``string``, ``int``, ``float``, ``datetime``...); words are
            grounded in it when given.
        examples: field → example values; a phrase maps to a value only through these.
        current: a pattern to edit ("make it 10 minutes", "per device instead").
        units: field → unit (``USD``, ``°C``), used to read ``$500`` or ``80 degrees``.

    Returns:
        A :class:`Generation` with ``source="offline"``: a validated pattern, or a ``question``.
    """
    cleaned = clean_text(text if isinstance(text, str) else "")
    meta = {"prompt_sha256": text_sha256(text if isinstance(text, str) else ""),
            "prompt_chars": len(text) if isinstance(text, str) else 0}
    vocab = Vocabulary.build(schema, examples, units)
    if not cleaned:
        return Generation(question="What should the pattern detect? Describe the events.", **meta)
    if len(cleaned) > MAX_TEXT_CHARS:
        return Generation(
            question=f"The text is longer than {MAX_TEXT_CHARS} characters; describe one "
            "pattern in a few sentences.", **meta)
    if _CODE_LIKE.search(cleaned) and not re.search(r"\bmatch_recognize\b", cleaned, re.I):
        return Generation(
            question="That reads like code or SQL, not a description of events. Describe what "
            "should be detected (e.g. '5 failed logins per user within 10 minutes').", **meta)
    label = _LABEL.match(cleaned)
    ctx = Request(cleaned, vocab)
    try:
        pattern = _build(ctx, current)
    except Unclear as exc:
        # "card testing: six charges under $2 ..." - the words before the colon may be a title
        retry = Request(label.group(2), vocab) if label is not None and current is None else None
        try:
            if retry is None:
                raise
            pattern = _build(retry, None, name=slug(label.group(1)) if label else None)
            ctx = retry
            ctx.note([f"'{label.group(1) if label else ''}' was taken as the pattern's name"])
        except Unclear:
            return Generation(question=exc.question, assumptions=tuple(ctx.assumptions), **meta)
        except CepError as err:
            return _invalid(err, ctx, meta)
    except CepError as exc:
        return _invalid(exc, ctx, meta)
    leftovers = _leftovers(ctx)
    warnings = (f"not used: {' '.join(leftovers)} — check that the pattern says what you mean",
                ) if leftovers else ()
    return Generation(
        pattern=pattern,
        assumptions=tuple(ctx.assumptions),
        uninterpreted=tuple(leftovers),
        warnings=warnings,
        source="offline",
        pattern_sha256=pattern_sha256(pattern),
        **meta,
    )
