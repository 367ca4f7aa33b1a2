"""Reading quantities out of English: numbers (digits or words), money, and durations in any unit.

>>> [(d.text, d.seconds) for d in find_durations("3 fails within half an hour or 2h")]
[('30m', 1800.0), ('2h', 7200.0)]
>>> parse_number("five"), parse_number("1,850"), parse_number("2.5k")
(5.0, 1850.0, 2500.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "NUMBER_RE",
    "UNIT_SECONDS",
    "Duration",
    "find_durations",
    "format_duration",
    "parse_number",
]

WORD_NUMBERS: dict[str, int] = {
    "zero": 0, "one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100, "twice": 2,
}
_WORDS = "|".join(sorted((w for w in WORD_NUMBERS if w not in ("a", "an", "twice")), key=len,
                         reverse=True))
NUMBER_RE = rf"(?:\d[\d,]*(?:\.\d+)?k?|\.\d+|{_WORDS})"
"""A number as written: ``5``, ``1,850``, ``2.5``, ``2k``, ``five``."""

UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "wk": 604800, "week": 604800, "weeks": 604800,
    "month": -1, "months": -1, "year": -1, "years": -1,
}
_UNITS = "|".join(sorted(UNIT_SECONDS, key=len, reverse=True))
_DURATION = re.compile(
    rf"(?<![\w.$])(?:(?P<half>half\s+an?\s+(?P<hunit>hour|minute|day))|"
    rf"(?P<num>{NUMBER_RE}|an?)\s*-?\s*(?P<unit>{_UNITS})\b)",
    re.IGNORECASE,
)
_BARE_UNIT = re.compile(r"\b(?:within|in|per|over|for|every|each|an?|the|last|past)\s+"
                        r"(?P<unit>second|minute|hour|day|week)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Duration:
    """A duration found in text: its span, the short form (``10m``) and its length in seconds.

    ``seconds`` is negative for months and years, which have no fixed length.
    """

    start: int
    end: int
    text: str
    seconds: float


def parse_number(text: str) -> float | None:
    """The value of a number written with digits (``1,850``, ``2.5k``) or as a word (``five``)."""
    raw = text.strip().lower().replace(",", "")
    if raw in WORD_NUMBERS:
        return float(WORD_NUMBERS[raw])
    scale = 1.0
    if raw.endswith("k"):
        raw, scale = raw[:-1], 1000.0
    try:
        return float(raw) * scale
    except ValueError:
        return None


def format_duration(seconds: float) -> str:
    """The shortest exact ``<n><unit>`` form of ``seconds`` (``600`` → ``10m``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and abs(seconds / size - round(seconds / size)) < 1e-9:
            return f"{round(seconds / size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def find_durations(text: str) -> list[Duration]:
    """Every duration in ``text``, in order: ``10 minutes``, ``2h``, ``a day``, ``half an hour``,
    ``within an hour``; months and years are returned with ``seconds = -1``."""
    found: list[Duration] = []
    for m in _DURATION.finditer(text):
        if m.group("half"):
            size = UNIT_SECONDS[m.group("hunit").lower()]
            seconds = size / 2
        else:
            unit = m.group("unit").lower()
            number = m.group("num").lower()
            if m.group("unit") == "M":
                continue  # months or minutes: refuse to guess
            value = 1.0 if number in ("a", "an") else parse_number(number)
            if value is None or value <= 0:
                continue
            # "a s" or "an m" are not durations; single letters need digits.
            if number in ("a", "an") and len(unit) <= 3:
                continue
            size = UNIT_SECONDS[unit]
            seconds = -1.0 if size < 0 else value * size
        found.append(Duration(m.start(), m.end(),
                              format_duration(seconds) if seconds > 0 else "", seconds))
    taken = [(d.start, d.end) for d in found]
    for m in _BARE_UNIT.finditer(text):
        s, e = m.start("unit"), m.end("unit")
        if any(a <= s < b for a, b in taken):
            continue
        seconds = UNIT_SECONDS[m.group("unit").lower()]
        if m.group(0).lower().startswith("per"):
            continue
        found.append(Duration(s, e, format_duration(seconds), seconds))
    return sorted(found, key=lambda d: d.start)
