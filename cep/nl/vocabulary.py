"""Grounding words in an event schema: which field a word names, which value a phrase denotes.

The offline generator never invents a field or a value when a schema is given: a word maps to a
field only through the field's name, unit or a small list of synonyms, and a phrase maps to a
value only when the value's words all appear in it (``failed logins`` → ``login_failed``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Vocabulary", "singular", "words_match"]

_KEY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "card": ("card",),
    "cardholder": ("card",),
    "user": ("user", "account", "customer"),
    "account": ("user", "account"),
    "customer": ("customer", "user", "account"),
    "device": ("device", "machine", "sensor"),
    "machine": ("device", "machine"),
    "pump": ("device", "pump"),
    "sensor": ("sensor", "device"),
    "vehicle": ("vehicle", "truck"),
    "truck": ("vehicle", "truck"),
    "merchant": ("merchant",),
    "country": ("country",),
    "session": ("session",),
    "ip": ("ip",),
}
_FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature", "temp", "degrees", "hot", "heat", "overheating"),
    "vibration": ("vibration", "vibrations", "shaking"),
    "rpm": ("rpm", "shaft", "rotation"),
    "amount": ("amount", "amounts", "spend", "spent", "spending", "value", "dollars", "usd",
               "sum", "charged"),
    "risk": ("risk",),
    "speed": ("speed",),
    "price": ("price", "prices"),
}
_CURRENCY_UNITS = {"usd", "eur", "gbp", "$", "€", "£"}
_ID_NAMES = ("event_id", "id")
_TIME_NAMES = ("ts", "timestamp", "time", "event_time")


def singular(word: str) -> str:
    """A crude singular/stem: ``logins`` → ``login``, ``declined`` → ``decline``, ``successful``
    → ``success``."""
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ful", ""), ("ing", ""), ("ed", "e"),
                         ("es", "e"), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            return w[: len(w) - len(suffix)] + repl
    return w


def words_match(a: str, b: str) -> bool:
    """Whether two words are the same up to plural, past tense or ``-ful`` (case ignored)."""
    x, y = a.lower(), b.lower()
    if x == y:
        return True
    sx, sy = singular(x), singular(y)
    if sx == sy or sx.rstrip("e") == sy.rstrip("e"):
        return True
    short, long_ = sorted((sx.rstrip("e"), sy.rstrip("e")), key=len)
    return len(short) >= 5 and long_.startswith(short)


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^A-Za-z0-9]+", text) if t]


@dataclass(frozen=True)
class Vocabulary:
    """The fields (name → type) and example values of an event schema, and lookups over them.

    ``has_schema`` is False when no schema was given: then no field is known and every lookup
    returns nothing; the generator states its own assumptions instead.
    """

    fields: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        schema: Mapping[str, str] | None,
        examples: Mapping[str, Sequence[Any]] | None,
        units: Mapping[str, str] | None = None,
    ) -> Vocabulary:
        """A vocabulary from field → type and field → example values (strings kept only)."""
        fields = {str(k): str(v).lower() for k, v in (schema or {}).items()}
        values: dict[str, tuple[str, ...]] = {}
        for name, items in (examples or {}).items():
            if fields and name not in fields:
                continue
            strings = tuple(dict.fromkeys(str(v) for v in items if isinstance(v, str) and v))
            if strings and fields.get(name, "string") == "string":
                values[name] = strings
        return cls(fields=fields, units=dict(units or {}), values=values)

    @property
    def has_schema(self) -> bool:
        """Whether a schema was given."""
        return bool(self.fields)

    @property
    def id_field(self) -> str | None:
        """The event id column, if the schema has one."""
        return next((n for n in _ID_NAMES if n in self.fields), None)

    @property
    def time_field(self) -> str:
        """The event time column (``ts`` unless the schema names another time column)."""
        if "ts" in self.fields or not self.fields:
            return "ts"
        timed = [n for n, t in self.fields.items() if t in ("datetime", "timestamp")]
        return next((n for n in _TIME_NAMES if n in self.fields), timed[0] if timed else "ts")

    @property
    def key_fields(self) -> list[str]:
        """String columns that identify an entity (``card_id``, ``user_id``, ...)."""
        return [
            n for n, t in self.fields.items()
            if n.endswith("_id") and n not in _ID_NAMES and t in ("string", "str", "int")
        ]

    @property
    def numeric_fields(self) -> list[str]:
        """Number columns other than ids."""
        return [
            n for n, t in self.fields.items()
            if t in ("int", "float", "double", "number", "bigint")
            and n not in _ID_NAMES and not n.endswith("_id") and n not in ("lat", "lon")
        ]

    @property
    def currency_field(self) -> str | None:
        """The only money column (unit USD/EUR/..., or named ``amount``), if exactly one."""
        by_unit = [n for n, u in self.units.items() if u.lower() in _CURRENCY_UNITS]
        if len(by_unit) == 1:
            return by_unit[0]
        named = [n for n in self.numeric_fields if "amount" in n]
        return named[0] if len(named) == 1 else None

    def key_for(self, word: str) -> str | None:
        """The key column a word names (``card`` → ``card_id``, ``account`` → ``user_id``)."""
        w = singular(word)
        candidates = (w, *_KEY_SYNONYMS.get(w, ()))
        for cand in candidates:
            for name in (f"{cand}_id", cand, f"{cand}_name"):
                if (name in self.fields and self.fields[name] in ("string", "str")) or (
                    name in self.fields and name.endswith("_id") and name not in _ID_NAMES
                ):
                    return name
        return None

    def field_for(self, words: Sequence[str], *, numeric: bool = False) -> str | None:
        """The column the words name, by column-name token or synonym (``risk score`` →
        ``risk_score``, ``temperature`` → ``temperature_c``)."""
        pool = self.numeric_fields if numeric else list(self.fields)
        lowered = [w.lower() for w in words]
        joined = "_".join(lowered)
        if joined in pool:
            return joined
        best: tuple[int, str] | None = None
        for name in pool:
            parts = [p for p in name.lower().split("_") if len(p) > 1 or p.isalpha()]
            syn = [s for p in parts for s in _FIELD_SYNONYMS.get(p, ())]
            unit = self.units.get(name, "").lower()
            score = 0
            for w in lowered:
                if any(words_match(w, p) for p in parts if len(p) >= 2):
                    score += 2
                elif w in syn or (unit and w == unit):
                    score += 1
            if score and (best is None or score > best[0]):
                best = (score, name)
        return best[1] if best else None

    def values_in(self, words: Sequence[str]) -> list[tuple[str, str, int]]:
        """(field, value, words used) for every example value all of whose words are among
        ``words``; the most specific (most words) first."""
        found: list[tuple[str, str, int]] = []
        # short or upper-case codes (US, IN, E42) must match as written: "in" is not India
        codes = {v: (n, v) for n, items in self.values.items() for v in items
                 if len(v) <= 3 or v.isupper()}
        names = {v.lower(): (n, v) for n, items in self.values.items() for v in items
                 if not (len(v) <= 3 or v.isupper())}
        hits = {w: codes.get(w) or names[w.lower()] for w in words
                if w in codes or w.lower() in names}
        lowered = [w for w in words if w not in hits]
        for name, value in hits.values():
            found.append((name, value, 99))
        for name, items in self.values.items():
            for value in items:
                parts = _tokens(value)
                if not parts:
                    continue
                if len(value) <= 3 or value.isupper():
                    ok = any(w == value for w in lowered) or (
                        len(value) > 2 and any(w.lower() == value.lower() for w in lowered)
                    )
                else:
                    ok = all(any(words_match(w, p) for w in lowered) for p in parts)
                if ok:
                    found.append((name, value, len(parts)))
        found.sort(key=lambda t: -t[2])
        return found

    def partial_values(self, word: str) -> list[tuple[str, str]]:
        """(field, value) for every value one of whose words is ``word``: the candidates for
        a clarifying question (``logins`` → login_success, login_failed)."""
        return [
            (name, value)
            for name, items in self.values.items()
            for value in items
            if len(value) > 3 and any(words_match(word, p) for p in _tokens(value))
        ]

    def describe(self) -> str:
        """The fields and their example values, for messages."""
        parts = []
        for name in self.fields:
            vals = self.values.get(name)
            parts.append(f"{name} ({', '.join(vals[:6])})" if vals else name)
        return ", ".join(parts)
