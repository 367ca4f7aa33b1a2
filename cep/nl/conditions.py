"""Turning a phrase that describes events (``declined online charges over $500``) into a
validated SQL condition built as a :mod:`cep.expr` AST, never by pasting text into SQL.

Unknown words are not guessed: :func:`describe_events` raises :class:`Unclear` with a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cep import expr as cx
from cep.nl.phrases import NUMBER_RE, parse_number
from cep.nl.vocabulary import Vocabulary, singular, words_match

__all__ = [
    "GENERIC_NOUNS",
    "STOPWORDS",
    "EventFilter",
    "Unclear",
    "and_all",
    "compare",
    "describe_events",
    "numeric_comparisons",
    "render",
]

EVENTISH_NOUNS = {
    "purchase", "payment", "charge", "transaction", "order", "transfer", "withdrawal",
    "deposit", "authorisation", "authorization", "auth",
}
"""Business event names: generic only when the schema has no event-type field to name them."""
_EVENT_TYPE_FIELDS = ("event", "event_type", "type", "action", "event_name", "activity")
GENERIC_NOUNS = {
    "event", "reading", "record", "request", "message", "activity", "attempt", "thing", "one",
    "measurement", "sample", "value", "entry", "row", "alert", "data", "point",
    "update", "ping", "heartbeat", "signal", "report", "log", "time",
}
STOPWORDS = {
    "a", "an", "the", "of", "with", "any", "that", "which", "who", "are", "is", "was", "were",
    "be", "been", "on", "in", "at", "to", "for", "from", "by", "and", "or", "its", "their",
    "it", "they", "there", "some", "all", "each", "every", "same", "single", "one", "more", "than", "least", "most", "this", "these", "those", "when", "where", "if",
    "has", "have", "had", "gets", "get", "got", "do", "does", "did", "happen", "happens",
    "occur", "occurs", "flag", "alert", "me", "detect", "find", "notify", "warn", "catch",
    "show", "report", "tell", "us", "we", "i", "you", "please", "whenever", "so", "as",
    "also", "only", "just", "like", "new", "small", "large", "big", "tiny", "huge",
    "consecutive", "row", "times", "time", "within", "over", "under", "above", "below",
    "into", "then", "after", "before", "followed", "per", "made", "seen",
    "see", "sees", "send", "sends", "sent", "record", "recorded", "logged", "happened",
    "occurring", "total", "combined", "overall", "window", "period", "span",
}
_CMP_WORDS: list[tuple[str, str]] = [
    (r"at\s+least|no\s+less\s+than|not\s+less\s+than|>=|minimum\s+of|min\s+of", ">="),
    (r"at\s+most|no\s+more\s+than|not\s+more\s+than|<=|up\s+to|maximum\s+of", "<="),
    (r"more\s+than|greater\s+than|higher\s+than|bigger\s+than|larger\s+than|over|above|"
     r"exceeding|exceeds|exceed|>", ">"),
    (r"less\s+than|lower\s+than|smaller\s+than|fewer\s+than|under|below|<", "<"),
    (r"equal\s+to|exactly|=", "="),
]
_UNIT_WORDS = r"(?:%|percent|°\s*c|degrees(?:\s+c(?:elsius)?)?|dollars|usd|eur|mm/s|rpm|km/h|kmh)"
_VALUE_RE = re.compile(
    rf"(?P<before>(?:[a-z_]+\s+){{0,3}}?)(?P<cmp>{'|'.join(f'(?:{p})' for p, _ in _CMP_WORDS)})"
    rf"\s+(?P<cur>\$|usd\s*|€|£)?\s*(?<![\w.])(?P<num>-?{NUMBER_RE})\s*(?P<unit>{_UNIT_WORDS})?"
    rf"(?P<orm>\s+or\s+(?:more|less|above|below))?",
    re.IGNORECASE,
)
_NEG_WORDS = {"non", "not", "un", "without"}


class Unclear(Exception):
    """The phrase needs a clarifying question (unknown word, ambiguous value or field)."""

    def __init__(self, question: str) -> None:
        super().__init__(question)
        self.question = question


@dataclass
class EventFilter:
    """The conditions found in a phrase, the words they used, and what was assumed."""

    parts: list[cx.Expr] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    assumptions: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)

    def condition(self) -> cx.Expr | None:
        """All parts joined with AND (``None``: every event)."""
        return and_all(self.parts)


def and_all(parts: list[cx.Expr]) -> cx.Expr | None:
    """``a AND b AND ...`` or ``None`` for no parts."""
    out: cx.Expr | None = None
    for p in parts:
        out = p if out is None else cx.Binary("AND", out, p)
    return out


def render(e: cx.Expr | None) -> str | None:
    """The SQL text of a condition, checked to parse back to the same AST."""
    if e is None:
        return None
    text = cx.to_sql(e)
    if cx.parse_condition(text) != e:
        raise AssertionError(f"condition {text!r} does not round-trip")
    return text


def _literal(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 1e15 else value


def compare(column: str, op: str, value: float | str) -> cx.Expr:
    """``column <op> value`` as an AST (numbers stay numbers, text is a quoted literal)."""
    lit: cx.Lit = cx.Lit(_literal(value) if isinstance(value, float | int) else value)
    return cx.Binary(op, cx.Col(column, None), lit)  # type: ignore[arg-type]


def _cmp_op(word: str) -> str:
    for pattern, op in _CMP_WORDS:
        if re.fullmatch(pattern, word.strip(), re.IGNORECASE):
            return op
    raise AssertionError(word)


def numeric_comparisons(
    text: str, vocab: Vocabulary, *, default_field: str | None = None
) -> tuple[list[tuple[str, str, float]], list[tuple[int, int]], list[str]]:
    """Every ``<field> <comparator> <number>`` in ``text``: (field, op, value), their spans, and
    assumptions. The field comes from the words before the comparator, the unit after the
    number (``$`` → the money column), or ``default_field``.

    Raises:
        Unclear: a comparison whose field cannot be told.
    """
    found: list[tuple[str, str, float]] = []
    spans: list[tuple[int, int]] = []
    notes: list[str] = []
    for m in _VALUE_RE.finditer(text):
        number = parse_number(m.group("num"))
        if number is None:
            continue
        after = text[m.end():m.end() + 24].lower()
        if re.match(r"\s*(?:s|sec|secs|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|"
                    r"readings?|events?|times?|transactions?|charges?|[a-z]+s\b)", after) and not (
            m.group("cur") or m.group("unit")
        ):
            continue  # a count or a duration, not a value
        op = _cmp_op(m.group("cmp"))
        if m.group("orm"):
            op = ">=" if re.search(r"more|above", m.group("orm"), re.I) else "<="
        before = [w for w in re.findall(r"[a-z_]+", m.group("before").lower())
                  if w not in STOPWORDS and w not in GENERIC_NOUNS]
        unit = (m.group("unit") or "").lower()
        column: str | None = None
        if before and vocab.has_schema:
            column = vocab.field_for(before, numeric=True)
        if column is None and unit and vocab.has_schema:
            column = vocab.field_for([unit.replace("°", "").replace(" ", "")], numeric=True)
            if column is None and unit in ("%", "percent"):
                pct = [n for n, u in vocab.units.items() if u in ("%", "0-100")]
                column = pct[0] if len(pct) == 1 else None
        if column is None and m.group("cur"):
            column = vocab.currency_field if vocab.has_schema else "amount"
            if not vocab.has_schema:
                notes.append("no event schema: money values are read from a field 'amount'")
        if column is None and not vocab.has_schema and before:
            column = "_".join(before[-2:])
            notes.append(f"no event schema: assumed a numeric field {column!r}")
        if column is None and default_field is not None:
            column = default_field
            notes.append(f"'{m.group(0).strip()}' is read as {column} {op} {_literal(number)}")
        if column is None:
            options = ", ".join(vocab.numeric_fields) or "none"
            raise Unclear(
                f"Which field should '{m.group(0).strip()}' compare? Numeric fields: {options}."
            )
        found.append((column, op, number))
        spans.append((m.start("cmp"), m.end()))
    return found, spans, notes


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)


def describe_events(
    text: str,
    vocab: Vocabulary,
    *,
    default_numeric: str | None = None,
    extra_known: set[str] | None = None,
) -> EventFilter:
    """The filter a phrase describes: example values it names (``failed logins`` →
    ``event = 'login_failed'``), numeric comparisons (``over $500``), and ``<field> is <value>``.

    Raises:
        Unclear: a word that is neither a known value, a field, nor a generic event noun
        (``refunds`` when no value says refund), or a word that fits several values.
    """
    out = EventFilter()
    comparisons, spans, notes = numeric_comparisons(text, vocab, default_field=default_numeric)
    out.assumptions.extend(notes)
    out.spans.extend(spans)
    rest = text
    for s, e in sorted(spans, reverse=True):
        rest = rest[:s] + " " * (e - s) + rest[e:]
    words = _words(rest)
    known = extra_known or set()
    used: set[str] = set()
    ordered: list[tuple[int, cx.Expr]] = []
    if vocab.has_schema:
        for name, value, _ in vocab.values_in(words):
            value_words = [p for p in re.split(r"[^A-Za-z0-9]+", value) if p]
            matched = {w for w in words for p in value_words
                       if words_match(w, p) or w == value or w.lower() == value.lower()}
            if matched and matched <= used:
                continue  # its words already name a more specific value
            negated = any(
                re.search(rf"\b(?:not|non|no)[\s-]+{re.escape(w)}\b", rest, re.I) for w in matched
            )
            if any(isinstance(p, cx.Binary) and isinstance(p.left, cx.Col)
                   and p.left.name == name and p.op == "=" for p in out.parts):
                # a second value of the same field: "declined or approved" is ambiguous here
                raise Unclear(
                    f"The phrase '{text.strip()}' names two values of {name}; say which one "
                    "(or write two patterns)."
                )
            pos = min((i for i, w in enumerate(words) if w in matched), default=0)
            ordered.append((pos, compare(name, "<>" if negated else "=", value)))
            out.parts.append(ordered[-1][1])
            used |= matched
    out.parts = [e for _, e in sorted(ordered, key=lambda t: t[0])]
    for column, op, number in comparisons:
        out.parts.append(compare(column, op, number))
    out.used = used
    unknown: list[str] = []
    for w in words:
        lw = w.lower()
        if w in used or lw in STOPWORDS or lw in known or lw in _NEG_WORDS:
            continue
        if singular(lw) in GENERIC_NOUNS or lw in GENERIC_NOUNS:
            continue
        if (singular(lw) in EVENTISH_NOUNS or lw in EVENTISH_NOUNS) and not any(
            f in vocab.values for f in _EVENT_TYPE_FIELDS
        ):
            continue
        if vocab.has_schema:
            status = _field_status(w, vocab)
            if status is not None:
                column, note = status
                if not any(isinstance(p, cx.Binary) and isinstance(p.left, cx.Col)
                           and p.left.name == column for p in out.parts):
                    out.parts.append(compare(column, "<>", "none"))
                    out.assumptions.append(note)
                used.add(w)
                continue
            if vocab.field_for([lw]) is not None or vocab.key_for(lw) is not None:
                continue
            unknown.append(w)
        else:
            unknown.append(w)
    if unknown and vocab.has_schema:
        word = unknown[0]
        partial = vocab.partial_values(word)
        if len(partial) > 1:
            options = ", ".join(f"{f} = '{v}'" for f, v in partial)
            raise Unclear(f"'{word}' fits several values: {options}. Which one do you mean?")
        if len(partial) == 1:
            f, v = partial[0]
            raise Unclear(f"Does '{word}' mean {f} = '{v}'? Please say so explicitly.")
        raise Unclear(
            f"I don't know what '{word}' refers to in these events. Fields: {vocab.describe()}."
        )
    if unknown and not vocab.has_schema:
        value = "_".join(
            w.lower()[:-1] if len(w) > 3 and w.lower().endswith("s") and not w.lower().endswith(
                "ss") else w.lower()
            for w in unknown
        )
        out.parts.insert(0, compare("event_type", "=", value))
        out.assumptions.append(
            f"no event schema: assumed the events have a field event_type with value {value!r}"
        )
        used |= set(unknown)
    return out


def _field_status(word: str, vocab: Vocabulary) -> tuple[str, str] | None:
    """``faults`` → (fault_code, note) when a text field is named by the word and has a 'none'
    example: such events are the ones where the field is not 'none'."""
    for name, values in vocab.values.items():
        parts = name.split("_")
        if any(words_match(word, p) for p in parts if len(p) > 2) and any(
            v.lower() == "none" for v in values
        ):
            return name, f"'{word}' read as events whose {name} is not 'none'"
    return None
