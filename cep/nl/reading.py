"""Reading the parts every request shares: the text and its assumptions, keys, windows, counts,
and the event filters of phrases (grounded in the schema by :mod:`cep.nl.conditions`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cep import expr as cx
from cep.model import max_duration_s
from cep.nl.conditions import EventFilter, Unclear, describe_events
from cep.nl.phrases import NUMBER_RE, Duration, find_durations, format_duration, parse_number
from cep.nl.vocabulary import Vocabulary, singular

__all__ = [
    "GLOBAL",
    "KEY_PHRASE",
    "TIME_UNITS",
    "CountPhrase",
    "Request",
    "at_least",
    "base_fields",
    "blank_spans",
    "clean_text",
    "event_text",
    "name_from",
    "read_count",
    "read_filter",
    "read_partition",
    "read_window",
    "slug",
]

KEY_PHRASE = re.compile(
    r"\b(?:per|for\s+each|for\s+every|each|by|grouped\s+by|partitioned\s+by|"
    r"(?:for|on|from|of|with|in|to|by)\s+(?:the\s+same|one|a\s+single|a\s+given|a|the)|"
    r"the\s+same|same|a\s+single|one)\s+([a-z_]+)",
    re.IGNORECASE,
)
GLOBAL = re.compile(r"\b(?:across\s+all|globally|overall|in\s+total\s+across|all\s+\w+\s+together)\b",
                     re.I)
TIME_UNITS = {"second", "minute", "hour", "day", "week", "sec", "min", "hr", "s", "m", "h", "d"}


@dataclass
class Request:
    """The text being read and what has been assumed about it."""

    text: str
    vocab: Vocabulary
    assumptions: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    @property
    def low(self) -> str:
        """The text in lower case."""
        return self.text.lower()

    def note(self, items: Sequence[str]) -> None:
        """Record assumptions (each once, in order)."""
        for item in items:
            if item not in self.assumptions:
                self.assumptions.append(item)

    def use(self, text: str) -> None:
        """Mark the words of ``text`` as interpreted."""
        self.used.update(w.lower() for w in re.findall(r"[A-Za-z0-9_$%.,]+", text))

    def durations(self) -> list[Duration]:
        """Every duration in the text.

        Raises:
            Unclear: a month/year duration, or one longer than the maximum window.
        """
        found = find_durations(self.text)
        for d in found:
            if d.seconds < 0:
                raise Unclear(
                    f"'{self.text[d.start:d.end]}' has no fixed length; give it in days "
                    "(e.g. '30 days') or weeks."
                )
            if d.seconds > max_duration_s():
                limit = format_duration(max_duration_s())
                raise Unclear(
                    f"'{self.text[d.start:d.end]}' is longer than the longest window allowed "
                    f"({limit}); choose a window of at most {limit}."
                )
            self.use(self.text[d.start:d.end])
        return found


def clean_text(text: str) -> str:
    """``text`` with Unicode normalised, smart quotes and dashes plain, control characters
    and possessive 's removed, and spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u2013", "-").replace("\u2014", "-")
    text = "".join(c if unicodedata.category(c) != "Cc" else " " for c in text)
    text = re.sub(r"(?<=[A-Za-z])'s\b", "", text)
    return re.sub(r"\s+", " ", text).strip()


def slug(*parts: str) -> str:
    """A pattern name made of ``parts`` (lower case, ``_``-joined, at most 60 characters)."""
    words = [re.sub(r"[^a-z0-9]+", "_", p.lower()).strip("_") for p in parts if p]
    name = "_".join(w for w in words if w)[:60].strip("_")
    return name or "generated_pattern"


# --------------------------------------------------------------------------------------------
# Shared pieces: keys, windows, counts


def read_partition(ctx: Request, *, default: bool = True) -> list[str]:
    """The key columns: ``per card`` → ``[card_id]``, ``across all`` → ``[]``; by default the
    schema's only key column (an assumption)."""
    if GLOBAL.search(ctx.text):
        ctx.use(GLOBAL.search(ctx.text).group(0))  # type: ignore[union-attr]
        return []
    for m in KEY_PHRASE.finditer(ctx.text):
        word = m.group(1).lower()
        if singular(word) in TIME_UNITS or word in TIME_UNITS:
            continue
        column = ctx.vocab.key_for(word) if ctx.vocab.has_schema else None
        if column is None and not ctx.vocab.has_schema and word in (
            "card", "user", "account", "device", "machine", "customer", "vehicle", "sensor",
            "pump", "ip", "merchant", "session",
        ):
            column = f"{singular(word)}_id"
            ctx.note([f"no event schema: assumed the key field is {column!r}"])
        if column is not None:
            ctx.use(m.group(0))
            return [column]
    if default and ctx.vocab.has_schema:
        keys = ctx.vocab.key_fields
        if len(keys) == 1:
            ctx.note([f"each {keys[0]} is matched on its own (say 'across all' to match globally)"])
            return [keys[0]]
    if default:
        ctx.note(["no key given: all events are matched together (say 'per <field>' to split)"])
    return []


def read_window(ctx: Request, durations: list[Duration], what: str) -> str:
    """The first duration as the ``what`` (window, timeout, ...).

    Raises:
        Unclear: no duration was given.
    """
    if not durations:
        raise Unclear(f"Over what time {what}? Say e.g. 'within 10 minutes'.")
    if len(durations) > 1:
        ctx.note([f"the {what} is {durations[0].text}; other durations were not used"])
    return durations[0].text


_COUNT = re.compile(
    rf"(?P<cmp>more\s+than|over|at\s+least|no\s+fewer\s+than|fewer\s+than|less\s+than|"
    rf"exactly|a\s+minimum\s+of|)\s*(?<![\w.])(?P<n>{NUMBER_RE})(?P<plus>\+)?\s*(?P<orm>or\s+more\b)?"
    rf"(?=\s+(?!(?:s|sec|secs|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|"
    rf"%|percent|degrees|dollars|usd|mm|standard|sigma|sd|times\s+the|iqr|mads?|on|in|"
    rf"within|for|per|at|from|by|and|or|then|to|of|during|inside|over|under)\b)[a-z])",
    re.IGNORECASE,
)


@dataclass
class CountPhrase:
    value: int
    op: str  # ">=", ">", "=", "<"
    start: int
    end: int


def read_count(text: str, *, skip: Sequence[tuple[int, int]] = ()) -> CountPhrase | None:
    """The first event count (``5 or more``, ``more than 3``, ``ten``) outside ``skip``."""
    for m in _COUNT.finditer(text):
        if any(a <= m.start("n") < b for a, b in skip):
            continue
        if text[max(0, m.start("n") - 1):m.start("n")] in ("$", "€", "£"):
            continue
        n = parse_number(m.group("n"))
        if n is None or n != int(n) or n < 1:
            continue
        cmp = re.sub(r"\s+", " ", m.group("cmp").lower())
        if m.group("plus") or m.group("orm") or cmp in ("at least", "no fewer than",
                                                         "a minimum of"):
            op = ">="
        elif cmp in ("more than", "over"):
            op = ">"
        elif cmp == "exactly":
            op = "="
        elif cmp in ("fewer than", "less than"):
            op = "<"
        else:
            op = ""
        return CountPhrase(int(n), op, m.start() if cmp else m.start("n"), m.end())
    return None


def at_least(ctx: Request, count: CountPhrase, noun: str) -> int:
    """The minimum count a phrase asks for (``more than 5`` → 6, stated as an assumption).

    Raises:
        Unclear: ``fewer than N``, which asks for missing events.
    """
    if count.op == ">":
        ctx.note([f"'more than {count.value}' {noun} means at least {count.value + 1}"])
        return count.value + 1
    if count.op == "":
        ctx.note([f"'{count.value}' {noun} is read as at least {count.value}"])
    if count.op == "<":
        raise Unclear(
            f"'fewer than {count.value}' asks for missing events; say what is expected and "
            "within how long (an absence pattern), or give a minimum count."
        )
    return count.value


def blank_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with the ``spans`` replaced by spaces (positions are kept)."""
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + " " * (e - s) + text[e:]
    return text


def base_fields(ctx: Request, kind: str, name: str, partition: list[str]) -> dict[str, Any]:
    """The fields every pattern has: kind, name, the text as description, keys, id and time
    columns."""
    data: dict[str, Any] = {"kind": kind, "name": name, "description": ctx.text[:5000]}
    if partition:
        data["partition_by"] = partition
    if ctx.vocab.id_field is not None:
        data["id_field"] = ctx.vocab.id_field
    if ctx.vocab.time_field != "ts":
        data["order_by"] = ctx.vocab.time_field
    return data


def read_filter(ctx: Request, text: str, **kw: Any) -> EventFilter:
    """The event filter ``text`` describes (:func:`cep.nl.conditions.describe_events`); its
    assumptions are recorded."""
    ev = describe_events(text, ctx.vocab, **kw)
    ctx.note(ev.assumptions)
    ctx.use(text)
    return ev


def name_from(ev: EventFilter) -> str:
    """A short name for a filter: its first value or column."""
    for p in ev.parts:
        if isinstance(p, cx.Binary) and isinstance(p.right, cx.Lit) and isinstance(
            p.right.value, str
        ):
            return str(p.right.value)
        if isinstance(p, cx.Binary) and isinstance(p.left, cx.Col):
            return p.left.name
    return "events"


# --------------------------------------------------------------------------------------------
# Kinds


def event_text(ctx: Request, text: str, durations: list[Duration]) -> str:
    """``text`` without durations, key phrases and connective words."""
    out = blank_spans(text, [(d.start, d.end) for d in durations if d.end <= len(text)])
    out = KEY_PHRASE.sub(
        lambda m: " " if (ctx.vocab.key_for(m.group(1)) or m.group(1).lower() in (
            "card", "user", "account", "device", "machine", "vehicle", "customer", "sensor")
        ) else m.group(0),
        out,
    )
    out = GLOBAL.sub(" ", out)
    out = re.sub(r"\b(?:within|in|over|during|inside|under|for|of)\s+(?=\s*(?:[,.]|$))", " ", out)
    return out
