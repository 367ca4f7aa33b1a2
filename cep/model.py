"""The pattern model: the 13 pattern kinds as frozen, validated pydantic values, and their files.

A pattern is one value with a ``kind`` discriminator (DESIGN.md §4). Its JSON form is the one
wire format for files, history, packs, MCP and the UI; :func:`pattern_json_schema` generates the
JSON Schema from these classes. Every condition string is checked with :mod:`cep.expr`, PATTERN
text with :mod:`cep.matcher.syntax`; both are imported only when a pattern is validated.

>>> p = parse_pattern('{"kind": "absence", "name": "no_ack", "trigger": "type = \\'alert\\'",'
...                   ' "expected": "type = \\'ack\\'", "timeout": "PT15M"}')
>>> p.timeout, p.timeout.seconds
(Duration('15m'), 900.0)

Validation failures from :func:`parse_pattern` and :func:`load_pattern` are one
:class:`~cep.errors.PatternError` naming the source and the field path, e.g.
``p.json: steps[1].where: function 'reflect' is not allowed at position 0``.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
import unicodedata
from collections.abc import Collection, Hashable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path, PurePath
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticSerializationUnexpectedValue, core_schema

from cep.errors import ExpressionError, PatternError

if TYPE_CHECKING:
    from cep.expr import Expr

__all__ = [
    "DEFAULT_MAX_DURATION_DAYS",
    "KINDS",
    "MAX_DURATION",
    "MAX_PATTERN_BYTES",
    "PATTERN_ADAPTER",
    "PATTERN_CLASSES",
    "SESSION_MEASURES",
    "AbsencePattern",
    "Circle",
    "CountThresholdPattern",
    "DedupPattern",
    "Duration",
    "GeoPoint",
    "GeofencePattern",
    "HeartbeatPattern",
    "MatchRecognizePattern",
    "OutlierPattern",
    "Pattern",
    "PatternBase",
    "Polygon",
    "SequencePattern",
    "SessionPattern",
    "StateMachinePattern",
    "Step",
    "TemporalCorrelationPattern",
    "Times",
    "Transition",
    "TrendPattern",
    "VelocityPattern",
    "dump_pattern",
    "load_pattern",
    "max_duration_s",
    "normalize_mr_skip",
    "normalize_sequence_skip",
    "parse_pattern",
    "pattern_json_schema",
    "pattern_to_dict",
    "validate_pattern",
]

KINDS: tuple[str, ...] = (
    "sequence",
    "match_recognize",
    "absence",
    "count_threshold",
    "velocity",
    "trend",
    "outlier",
    "session",
    "dedup",
    "geofence",
    "temporal_correlation",
    "heartbeat",
    "state_machine",
)
"""The pattern kinds, in the order of DESIGN.md §4."""

DEFAULT_MAX_DURATION_DAYS = 90
MAX_DURATION = timedelta(days=DEFAULT_MAX_DURATION_DAYS)
"""The default upper bound of every duration; ``LAKESTREAM_MAX_DURATION_DAYS`` overrides it."""

MAX_PATTERN_BYTES = 1_000_000
"""Largest pattern text (JSON, YAML or SQL) that is parsed at all."""

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 5_000
MAX_CONDITION_CHARS = 10_000
MAX_STEPS = 100
MAX_TIMES = 100_000
MAX_STATES = 1_000
MAX_TRANSITIONS = 10_000
MAX_POLYGON_VERTICES = 1_000
MAX_RADIUS_M = 20_000_000.0  # about half the Earth's circumference

SESSION_MEASURES: tuple[str, ...] = ("event_count", "duration_s")
"""Columns a session's ``having`` may use outside aggregates."""


# --------------------------------------------------------------------------------------------
# Errors that carry a path below the field that raised them


class _FieldError(ValueError):
    """A validation error for a part of a field (``B`` of ``define``, ``[1].where`` of ``steps``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def _join_path(base: str, sub: str) -> str:
    if not base:
        return sub
    if not sub:
        return base
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


# --------------------------------------------------------------------------------------------
# Durations

_UNIT_US: dict[str, int] = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_UNIT_NAMES: dict[str, str] = {
    **dict.fromkeys(("us", "µs", "usec", "microsecond", "microseconds"), "us"),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
}
_CANONICAL_UNITS = ("d", "h", "m", "s", "ms", "us")  # weeks are written as days ("7d")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_SHORT_PART = re.compile(rf"\s*({_NUMBER})\s*([A-Za-zµ]+)\s*")
_ISO = re.compile(
    rf"P(?:({_NUMBER})W)?(?:({_NUMBER})D)?(?:T(?:({_NUMBER})H)?(?:({_NUMBER})M)?(?:({_NUMBER})S)?)?"
)
_DURATION_HELP = (
    "write e.g. '30s', '5m', '2h', '7d', '1w', '500ms', ISO-8601 'PT5M' / 'P7D', "
    'or {"value": 5, "unit": "minutes"}'
)


@functools.cache
def max_duration_s() -> float:
    """The longest allowed duration in seconds: 90 days unless ``LAKESTREAM_MAX_DURATION_DAYS`` says.

    The variable is read once per process (``max_duration_s.cache_clear()`` re-reads it).

    Raises:
        PatternError: when the variable is not a positive number of days.
    """
    raw = os.environ.get("LAKESTREAM_MAX_DURATION_DAYS", "").strip()
    if not raw:
        return DEFAULT_MAX_DURATION_DAYS * 86_400.0
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise PatternError(
            f"LAKESTREAM_MAX_DURATION_DAYS must be a positive number of days, got {raw!r}"
        )
    return days * 86_400.0


def _format_us(total_us: int) -> str:
    for unit in _CANONICAL_UNITS:
        size = _UNIT_US[unit]
        if total_us % size == 0:
            return f"{total_us // size}{unit}"
    raise AssertionError("unreachable: every integer is a whole number of microseconds")


def _to_us(amount: Decimal, unit: str, shown: str) -> Decimal:
    canonical = _UNIT_NAMES.get(unit) if unit != "M" else None
    if canonical is None:
        if unit in ("M", "mo", "mon", "month", "months", "y", "yr", "year", "years"):
            raise PatternError(
                f"invalid duration {shown!r}: months and years have no fixed length "
                "(and 'M' is ambiguous); use 'm' for minutes or whole days such as '30d'"
            )
        raise PatternError(f"invalid duration {shown!r}: unknown unit {unit!r}; {_DURATION_HELP}")
    return amount * _UNIT_US[canonical]


def _parse_short(text: str) -> Decimal | None:
    pos, total, parts = 0, Decimal(0), 0
    while pos < len(text):
        m = _SHORT_PART.match(text, pos)
        if m is None:
            return None
        unit = m.group(2) if m.group(2) == "M" else m.group(2).lower()
        total += _to_us(Decimal(m.group(1)), unit, text)
        pos, parts = m.end(), parts + 1
    return total if parts else None


def _parse_iso(text: str) -> Decimal | None:
    upper = text.strip().upper().replace(",", ".")
    if re.fullmatch(r"P(\d+Y)?(\d+M)?(\d+[WD])?(T.*)?", upper) and re.match(r"P\d+[YM]", upper):
        raise PatternError(
            f"invalid duration {text!r}: ISO-8601 years and months have no fixed length; "
            "use days, e.g. 'P30D'"
        )
    m = _ISO.fullmatch(upper)
    if m is None or not any(m.groups()) or upper.endswith("T"):
        return None
    total = Decimal(0)
    for value, unit in zip(m.groups(), ("w", "d", "h", "m", "s"), strict=True):
        if value is not None:
            total += Decimal(value) * _UNIT_US[unit]
    return total


def _parse_duration_us(value: object) -> int:
    shown: object = value
    if isinstance(value, Duration):
        return value.microseconds
    if isinstance(value, timedelta):
        total = Decimal(value // timedelta(microseconds=1))
    elif isinstance(value, int | float | Decimal):  # bool is an int
        raise PatternError(
            f"invalid duration {value!r}: a bare number is ambiguous (seconds? minutes?); "
            + _DURATION_HELP
        )
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise PatternError(f"invalid duration: empty text; {_DURATION_HELP}")
        if text.startswith("-"):
            raise PatternError(f"invalid duration {value!r}: durations must be positive")
        if re.fullmatch(_NUMBER, text):
            raise PatternError(
                f"invalid duration {value!r}: a number without a unit is ambiguous; "
                + _DURATION_HELP
            )
        parsed = _parse_iso(text) if text[0] in "Pp" else _parse_short(text)
        if parsed is None:
            raise PatternError(f"invalid duration {value!r}; {_DURATION_HELP}")
        total = parsed
    elif isinstance(value, Mapping):
        keys = set(value)
        if keys != {"value", "unit"}:
            extra = sorted(str(k) for k in keys - {"value", "unit"})
            detail = f"unknown key(s) {', '.join(extra)}" if extra else "'value' and 'unit' needed"
            raise PatternError(f"invalid duration {dict(value)!r}: {detail}; " + _DURATION_HELP)
        amount, unit = value["value"], value["unit"]
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise PatternError(f"invalid duration {dict(value)!r}: 'value' must be a number")
        if not math.isfinite(amount):
            raise PatternError(f"invalid duration {dict(value)!r}: 'value' must be finite")
        if not isinstance(unit, str):
            raise PatternError(f"invalid duration {dict(value)!r}: 'unit' must be a string")
        unit_text = unit.strip()
        total = _to_us(
            Decimal(str(amount)), unit_text if unit_text == "M" else unit_text.lower(), str(shown)
        )
    else:
        raise PatternError(f"invalid duration of type {type(value).__name__}; " + _DURATION_HELP)
    if total <= 0:
        raise PatternError(f"invalid duration {shown!r}: durations must be positive")
    if total != total.to_integral_value():
        raise PatternError(f"invalid duration {shown!r}: finer than one microsecond")
    limit_s = max_duration_s()
    if total > Decimal(repr(limit_s)) * 1_000_000:
        limit = _format_us(int(limit_s * 1_000_000)) if limit_s * 1e6 >= 1 else f"{limit_s}s"
        raise PatternError(
            f"invalid duration {shown!r}: longer than the maximum {limit} "
            "(set LAKESTREAM_MAX_DURATION_DAYS to change it)"
        )
    return int(total)


def _serialize_duration(value: object) -> str:
    # Raising (not str()-ing anything) lets a union such as Duration | dict try its next member.
    if not isinstance(value, Duration):
        raise PydanticSerializationUnexpectedValue(f"expected a Duration, not {type(value)}")
    return str(value)


@functools.total_ordering
class Duration:
    """A positive length of time, at most :func:`max_duration_s`, held in whole microseconds.

    Accepts ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"``, ``"1w"``, ``"500ms"``, ``"1h30m"``, ISO-8601
    (``"PT5M"``, ``"P7D"``, ``"PT1H30M"``, ``"P1W"``), ``{"value": 5, "unit": "minutes"}``
    (units seconds, minutes, hours, days, weeks, milliseconds: singular, plural or one letter) and
    :class:`datetime.timedelta`. A day is 86,400 s. Bare numbers are refused as ambiguous.
    It serialises to the shortest exact ``<n><unit>`` (``"90s"``, ``"90m"``, ``"7d"``).

    >>> Duration("PT1H30M"), Duration({"value": 2, "unit": "weeks"}).seconds
    (Duration('90m'), 1209600.0)

    Raises:
        PatternError: for text that is not a duration or is out of bounds.
    """

    __slots__ = ("_us",)
    _us: int

    def __init__(self, value: str | Mapping[str, Any] | timedelta | Duration) -> None:
        self._us = _parse_duration_us(value)

    @classmethod
    def from_seconds(cls, seconds: float) -> Duration:
        """A duration of ``seconds`` seconds (rounded to the microsecond)."""
        return cls(timedelta(seconds=seconds))

    @property
    def microseconds(self) -> int:
        """The whole length in microseconds."""
        return self._us

    @property
    def seconds(self) -> float:
        """The whole length in seconds."""
        return self._us / 1_000_000

    @property
    def timedelta(self) -> timedelta:
        """The length as a :class:`datetime.timedelta`."""
        return timedelta(microseconds=self._us)

    def __str__(self) -> str:
        return _format_us(self._us)

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other._us == self._us

    def __lt__(self, other: Duration) -> bool:
        if not isinstance(other, Duration):
            return NotImplemented
        return self._us < other._us

    def __hash__(self) -> int:
        return hash(("Duration", self._us))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_us"):
            raise AttributeError("Duration is immutable")
        object.__setattr__(self, name, value)

    @classmethod
    def _validate(cls, value: object) -> Duration:
        if isinstance(value, Duration):
            return value
        try:
            return cls(value)  # type: ignore[arg-type]
        except PatternError as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize_duration, when_used="json"
            ),
            ref="Duration",
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        units = sorted(set(_UNIT_NAMES) - {"µs"})
        return {
            "title": "Duration",
            "description": "A positive duration: '30s', '5m', '2h', '7d', '1w', '500ms', "
            "ISO-8601 'PT5M' / 'P7D', or {value, unit}. Bare numbers are not accepted.",
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^(\s*(\d+(\.\d*)?|\.\d+)\s*[A-Za-zµ]+\s*)+$|^[Pp][0-9TtWwDdHhMmSs.,]+$",
                    "examples": ["30s", "5m", "2h", "7d", "PT5M", "P7D"],
                },
                {
                    "type": "object",
                    "properties": {
                        "value": {"type": "number", "exclusiveMinimum": 0},
                        "unit": {"type": "string", "enum": units},
                    },
                    "required": ["value", "unit"],
                    "additionalProperties": False,
                },
            ],
        }


# --------------------------------------------------------------------------------------------
# Text fields


def _control_char(text: str, allowed: str = "") -> str | None:
    return next((c for c in text if unicodedata.category(c) == "Cc" and c not in allowed), None)


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    bad = _control_char(value)
    if bad is not None:
        raise ValueError(f"must not contain the control character {bad!r}")
    return value


def _check_text(value: str) -> str:
    bad = _control_char(value, "\t\n\r")
    if bad is not None:
        raise ValueError(f"must not contain the control character {bad!r}")
    return value


def _check_condition(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty; leave the field out instead")
    return _check_text(value)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_step_name(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid step name: use letters, digits and '_', starting with a "
            "letter (conditions refer to steps as name.field)"
        )
    return value


Name = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS), AfterValidator(_check_name)]
"""A human-facing name: non-empty, no control characters."""
Column = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS), AfterValidator(_check_name)]
"""An event field (column) name."""
Condition = Annotated[
    str, StringConstraints(max_length=MAX_CONDITION_CHARS), AfterValidator(_check_condition)
]
"""SQL condition text, checked by :mod:`cep.expr` at the pattern level."""
StepName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_step_name)]


def _unique(values: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)


# --------------------------------------------------------------------------------------------
# Conditions (cep.expr is imported lazily: it is built independently of this module)

ExprKind = Literal["condition", "expression"]


def _expression_message(exc: ExpressionError) -> str:
    message = str(exc)
    if exc.position is not None and "position" not in message:
        message += f" at position {exc.position}"
    return message


def _check_sql(
    path: str,
    text: str,
    *,
    kind: ExprKind = "condition",
    navigation: bool = False,
    prev_next: bool = True,
    var_refs: bool = False,
    aggregates: bool = False,
    classifier: bool = False,
    variables: Collection[str] | None = None,
    case_sensitive: bool = True,
) -> Expr:
    """Parse ``text`` with :mod:`cep.expr`; raise :class:`_FieldError` naming ``path`` if it fails.

    Qualifiers (``A.price``) must name one of ``variables``: case-insensitively for
    MATCH_RECOGNIZE (SQL), exactly for sequence steps.
    """
    from cep import expr as cx

    features = cx.Features(
        navigation=navigation, var_refs=var_refs, aggregates=aggregates, classifier=classifier
    )
    parse = cx.parse_condition if kind == "condition" else cx.parse_expression
    try:
        node = parse(
            text,
            features=features,
            variables=variables if var_refs else None,
            case_insensitive_vars=not case_sensitive,
        )
    except ExpressionError as exc:
        raise _FieldError(path, _expression_message(exc)) from None
    if navigation and not prev_next:
        for sub in cx.walk(node):
            if isinstance(sub, cx.Nav) and sub.func in ("PREV", "NEXT"):
                m = re.search(r"\b(PREV|NEXT|LAG|LEAD)\s*\(", text, re.IGNORECASE)
                where = f" at position {m.start()}" if m else ""
                raise _FieldError(
                    path,
                    f"{sub.func}() is not allowed in a step condition{where}: a step sees the "
                    "events its match has taken; use FIRST/LAST(step.field) or step.field",
                )
    return node


def _check_plain(path: str, text: str | None) -> None:
    if text is not None:
        _check_sql(path, text)


# --------------------------------------------------------------------------------------------
# Base classes


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _require_kind(schema: dict[str, Any]) -> None:
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "kind" not in required:
        required.insert(0, "kind")


class PatternBase(_Frozen):
    """Fields every pattern has (DESIGN.md §4).

    Attributes:
        kind: the discriminator; one of :data:`KINDS`.
        name: shown in results and alerts (non-empty, at most 200 characters).
        description: free text, at most 5,000 characters.
        partition_by: key columns; each key is matched on its own (empty: one key).
        order_by: the event-time column.
        id_field: the column identifying an event (``None``: ``id`` when present, else the row
            position).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_require_kind)

    kind: str
    name: Name
    description: Annotated[
        str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS), AfterValidator(_check_text)
    ] = ""
    partition_by: tuple[Column, ...] = ()
    order_by: Column = "ts"
    id_field: Column | None = None

    @field_validator("partition_by")
    @classmethod
    def _partition_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, "column")
        return value


# --------------------------------------------------------------------------------------------
# match_recognize

_MR_SKIP_HELP = "use PAST LAST ROW, TO NEXT ROW, TO FIRST v, TO LAST v or TO v"


@functools.lru_cache(maxsize=256)
def _row_pattern_variables(text: str) -> tuple[str, ...]:
    from cep.matcher.syntax import parse_row_pattern, pattern_variables

    return tuple(pattern_variables(parse_row_pattern(text)))


def _has_exclusion(text: str) -> bool:
    from cep.matcher import syntax

    def visit(node: syntax.Node) -> bool:
        if isinstance(node, syntax.Exclude):
            return True
        if isinstance(node, syntax.Concat | syntax.Alt | syntax.Permute):
            return any(visit(item) for item in node.items)
        return isinstance(node, syntax.Quant) and visit(node.node)

    return visit(syntax.parse_row_pattern(text))


def _resolve_variable(name: str, variables: Sequence[str]) -> str | None:
    """The variable ``name`` denotes: an exact match, else the only case-insensitive one."""
    if name in variables:
        return name
    same = [v for v in variables if v.upper() == name.upper()]
    return same[0] if len(same) == 1 else None


def _unquote_sql_name(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


def normalize_mr_skip(value: str) -> str:
    """Normalise AFTER MATCH SKIP text to ``PAST LAST ROW``, ``TO NEXT ROW``, ``TO FIRST v`` or
    ``TO LAST v`` (case, spacing, a leading ``AFTER MATCH SKIP``/``SKIP``, ``TO v`` = ``TO LAST v``).

    >>> normalize_mr_skip("skip to  b"), normalize_mr_skip("AFTER MATCH SKIP past last row")
    ('TO LAST b', 'PAST LAST ROW')

    Raises:
        ValueError: for anything else.
    """
    words = re.findall(r'"(?:[^"]|"")*"|\S+', value)
    upper = [w.upper() for w in words]
    if upper[:3] == ["AFTER", "MATCH", "SKIP"]:
        words, upper = words[3:], upper[3:]
    elif upper[:1] == ["SKIP"]:
        words, upper = words[1:], upper[1:]
    if upper in (["PAST", "LAST", "ROW"], ["TO", "NEXT", "ROW"]):
        return " ".join(upper)
    if len(upper) == 3 and upper[0] == "TO" and upper[1] in ("FIRST", "LAST"):
        return f"TO {upper[1]} {words[2]}"
    if len(upper) == 2 and upper[0] == "TO":
        return f"TO LAST {words[1]}"
    raise ValueError(f"after_match_skip {value!r} is not understood; {_MR_SKIP_HELP}")


class MatchRecognizePattern(PatternBase):
    """SQL:2016 row pattern recognition (SEMANTICS.md §1; DESIGN.md §5.2).

    Attributes:
        pattern: the PATTERN text, e.g. ``A B+ C+`` (:mod:`cep.matcher.syntax`).
        define: variable → condition; an undefined variable matches every row. Keys are matched
            to the PATTERN variables case-insensitively and stored in the PATTERN's spelling.
        measures: output name → expression (``RUNNING``/``FINAL`` allowed).
        after_match_skip: ``PAST LAST ROW`` (default), ``TO NEXT ROW``, ``TO FIRST v`` or
            ``TO LAST v`` (input may say ``SKIP TO v``, in any case).
        rows_per_match: ``ONE`` (default) or ``ALL``.
        rows_per_match_option: with ``ALL`` only: ``SHOW EMPTY MATCHES`` (the default),
            ``OMIT EMPTY MATCHES`` or ``WITH UNMATCHED ROWS``.
        subset: union variable → the pattern variables it stands for.
        within: a match must satisfy ``last.ts - first.ts < within`` (Flink's rule).
    """

    kind: Literal["match_recognize"] = "match_recognize"
    pattern: Annotated[str, StringConstraints(max_length=MAX_CONDITION_CHARS)]
    subset: dict[Name, tuple[Name, ...]] = Field(default_factory=dict)
    define: dict[Name, Condition] = Field(default_factory=dict)
    measures: dict[Name, Condition] = Field(default_factory=dict)
    after_match_skip: str = "PAST LAST ROW"
    rows_per_match: Literal["ONE", "ALL"] = "ONE"
    rows_per_match_option: (
        Literal["SHOW EMPTY MATCHES", "OMIT EMPTY MATCHES", "WITH UNMATCHED ROWS"] | None
    ) = Field(default=None, validate_default=True)
    within: Duration | None = None

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        try:
            _row_pattern_variables(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return value

    @staticmethod
    def _variables(info: ValidationInfo) -> tuple[str, ...] | None:
        text = info.data.get("pattern")
        return None if text is None else _row_pattern_variables(text)

    @field_validator("subset")
    @classmethod
    def _check_subset(
        cls, value: dict[str, tuple[str, ...]], info: ValidationInfo
    ) -> dict[str, tuple[str, ...]]:
        variables = cls._variables(info)
        if variables is None:
            return value
        out: dict[str, tuple[str, ...]] = {}
        for union, members in value.items():
            if _resolve_variable(union, variables) is not None:
                raise _FieldError(union, f"{union!r} is already a PATTERN variable")
            if any(u.upper() == union.upper() for u in out):
                raise _FieldError(union, f"SUBSET {union!r} is given twice")
            if not members:
                raise _FieldError(union, "a SUBSET needs at least one variable")
            resolved: list[str] = []
            for member in members:
                var = _resolve_variable(_unquote_sql_name(member), variables)
                if var is None:
                    raise _FieldError(
                        union,
                        f"{member!r} is not a PATTERN variable (variables: {', '.join(variables)})",
                    )
                if var in resolved:
                    raise _FieldError(union, f"{var!r} is listed twice")
                resolved.append(var)
            out[union] = tuple(resolved)
        return out

    @staticmethod
    def _qualifiers(info: ValidationInfo) -> tuple[str, ...] | None:
        variables = MatchRecognizePattern._variables(info)
        if variables is None:
            return None
        return variables + tuple(info.data.get("subset", {}))

    @field_validator("define")
    @classmethod
    def _check_define(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        variables = cls._variables(info)
        qualifiers = cls._qualifiers(info)
        if variables is None or qualifiers is None:
            return value
        out: dict[str, str] = {}
        for key, condition in value.items():
            var = _resolve_variable(_unquote_sql_name(key), variables)
            if var is None:
                raise _FieldError(
                    key,
                    f"{key!r} is not a variable of PATTERN {info.data['pattern']!r} "
                    f"(variables: {', '.join(variables)})",
                )
            if var in out:
                raise _FieldError(key, f"variable {var!r} is defined twice")
            _check_sql(
                var,
                condition,
                navigation=True,
                var_refs=True,
                aggregates=True,
                classifier=True,
                variables=qualifiers,
                case_sensitive=False,
            )
            out[var] = condition
        return out

    @field_validator("measures")
    @classmethod
    def _check_measures(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        qualifiers = cls._qualifiers(info)
        if qualifiers is None:
            return value
        seen: set[str] = set()
        for key, expression in value.items():
            if key.upper() in seen:
                raise _FieldError(key, f"measure {key!r} is given twice (names ignore case)")
            seen.add(key.upper())
            _check_sql(
                key,
                expression,
                kind="expression",
                navigation=True,
                var_refs=True,
                aggregates=True,
                classifier=True,
                variables=qualifiers,
                case_sensitive=False,
            )
        return value

    @field_validator("after_match_skip")
    @classmethod
    def _check_skip(cls, value: str, info: ValidationInfo) -> str:
        skip = normalize_mr_skip(value)
        if not skip.startswith(("TO FIRST ", "TO LAST ")):
            return skip
        head, target = skip.rsplit(" ", 1)
        variables = cls._variables(info)
        if variables is None:
            return skip
        unions = tuple(info.data.get("subset", {}))
        name = _unquote_sql_name(target)
        resolved = _resolve_variable(name, variables) or _resolve_variable(name, unions)
        if resolved is None:
            raise ValueError(
                f"{skip!r}: {name!r} is not a PATTERN variable or SUBSET name "
                f"(variables: {', '.join(variables + unions)})"
            )
        return f"{head} {resolved}"

    @field_validator("rows_per_match", mode="before")
    @classmethod
    def _normalize_rows(cls, value: object) -> object:
        if isinstance(value, str):
            words = value.upper().split()
            if words in (["ONE", "ROW", "PER", "MATCH"], ["ONE"]):
                return "ONE"
            if words in (["ALL", "ROWS", "PER", "MATCH"], ["ALL"]):
                return "ALL"
        return value

    @field_validator("rows_per_match_option", mode="before")
    @classmethod
    def _normalize_option(cls, value: object) -> object:
        if isinstance(value, str):
            words = value.upper().split()
            if words[:2] in (["SHOW", "EMPTY"], ["OMIT", "EMPTY"]) and words[2:] in (
                [],
                ["MATCHES"],
            ):
                return f"{words[0]} EMPTY MATCHES"
            return " ".join(words)
        return value

    @field_validator("rows_per_match_option")
    @classmethod
    def _check_option(cls, value: str | None, info: ValidationInfo) -> str | None:
        rows = info.data.get("rows_per_match")
        if rows == "ALL" and value is None:
            return "SHOW EMPTY MATCHES"
        if rows == "ONE" and value is not None:
            raise ValueError(f"{value!r} needs rows_per_match ALL (ALL ROWS PER MATCH)")
        text = info.data.get("pattern")
        if value == "WITH UNMATCHED ROWS" and text is not None and _has_exclusion(text):
            raise ValueError(
                "WITH UNMATCHED ROWS cannot be combined with an exclusion {- ... -} in PATTERN"
            )
        return value


# --------------------------------------------------------------------------------------------
# sequence

_SEQ_SKIP_HELP = (
    "use NO_SKIP, SKIP TO NEXT, PAST LAST EVENT, SKIP TO FIRST <step> or SKIP TO LAST <step>"
)


def normalize_sequence_skip(value: str) -> str:
    """Normalise a sequence skip strategy (Flink spellings accepted, any case).

    >>> normalize_sequence_skip("skip_past_last_event"), normalize_sequence_skip("SKIP_TO_LAST[fail]")
    ('PAST LAST EVENT', 'SKIP TO LAST fail')

    Raises:
        ValueError: for anything else.
    """
    text = value.strip()
    sep = r"[\s_]+"
    if re.fullmatch(rf"no{sep}skip", text, re.I):
        return "NO_SKIP"
    if re.fullmatch(rf"(skip{sep})?to{sep}next", text, re.I):
        return "SKIP TO NEXT"
    if re.fullmatch(rf"(skip{sep})?past{sep}last{sep}event", text, re.I):
        return "PAST LAST EVENT"
    m = re.fullmatch(
        rf"(?:skip{sep})?to{sep}(first|last)(?:\s*\[\s*(\w+)\s*\]|(?:\s+|_)(\w+))", text, re.I
    )
    if m:
        return f"SKIP TO {m.group(1).upper()} {m.group(2) or m.group(3)}"
    raise ValueError(f"after_match_skip {value!r} is not understood; {_SEQ_SKIP_HELP}")


class Times(_Frozen):
    """How often a step repeats: ``min``..``max`` events (``max`` None = unbounded).

    ``{1, 1}`` is a single event; ``{1, None}`` is Flink's ``oneOrMore``; ``{3, 3}`` is
    ``times(3)``. Zero occurrences are expressed with the step's ``optional``.
    """

    min: int = Field(1, ge=1, le=MAX_TIMES)
    max: int | None = Field(1, ge=1, le=MAX_TIMES)

    @model_validator(mode="after")
    def _ordered(self) -> Times:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    @property
    def is_single(self) -> bool:
        """Whether the step takes exactly one event."""
        return self.min == 1 and self.max == 1


class Step(_Frozen):
    """One step of a ``sequence`` pattern (DESIGN.md §5.3, Flink CEP).

    Attributes:
        name: identifier, unique in the pattern; later conditions say ``name.field``.
        where: the condition an event must satisfy (``None``: every event).
        contiguity: relation to the previous step: ``strict`` (next), ``relaxed`` (followedBy,
            the default) or ``any`` (followedByAny).
        times: repetitions; ``optional`` allows zero; ``greedy`` (loops only) keeps taking events.
        loop_contiguity: inside a loop: ``relaxed`` (default), ``strict`` (consecutive) or
            ``any`` (allowCombinations).
        until: stop condition of an unbounded loop (the stopping event is not taken).
        negated: ``not_next`` / ``not_followed_by``: the step forbids events instead of taking one.
    """

    name: StepName
    where: Condition | None = None
    contiguity: Literal["strict", "relaxed", "any"] = "relaxed"
    times: Times = Field(default_factory=Times)
    optional: bool = False
    greedy: bool = False
    loop_contiguity: Literal["relaxed", "strict", "any"] = "relaxed"
    until: Condition | None = None
    negated: Literal["not_next", "not_followed_by"] | None = None

    @field_validator("times", mode="before")
    @classmethod
    def _times_shorthand(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"min": value, "max": value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        if self.negated is not None:
            unsupported = [
                field
                for field, bad in (
                    ("times", not self.times.is_single),
                    ("optional", self.optional),
                    ("greedy", self.greedy),
                    ("until", self.until is not None),
                    ("loop_contiguity", self.loop_contiguity != "relaxed"),
                )
                if bad
            ]
            if unsupported:
                raise ValueError(
                    f"a negated step ({self.negated}) matches no events, so it cannot have "
                    f"{', '.join(unsupported)}"
                )
            if self.contiguity != "relaxed":
                raise ValueError(
                    "contiguity does not apply to a negated step: not_next is strict and "
                    "not_followed_by relaxed; leave contiguity out"
                )
            return self
        if self.times.is_single:
            for field, bad in (
                ("greedy", self.greedy),
                ("loop_contiguity", self.loop_contiguity != "relaxed"),
            ):
                if bad:
                    raise ValueError(
                        f"{field} applies only to a step that repeats (times other than "
                        "{min: 1, max: 1})"
                    )
        if self.until is not None and self.times.max is not None:
            raise ValueError(
                "until applies only to a step without an upper bound (times.max null, "
                "i.e. oneOrMore / timesOrMore)"
            )
        return self


class SequencePattern(PatternBase):
    """Ordered steps with Flink CEP semantics (SEMANTICS.md §2; DESIGN.md §5.3).

    Attributes:
        steps: the steps in order; the first is not negated.
        within: the whole match must satisfy ``last.ts - first.ts < within``; required when the
            last step is ``not_followed_by`` (the match completes when the window expires).
        after_match_skip: ``NO_SKIP``, ``SKIP TO NEXT``, ``PAST LAST EVENT`` (default),
            ``SKIP TO FIRST <step>`` or ``SKIP TO LAST <step>`` (Flink's rules: no error when
            the step is missing from the match).

    Step conditions may read earlier steps and the step itself (``amount > ok.amount``,
    ``SUM(fail.amount) > 1000``, ``LAST(fail.ts)``): Flink's iterative conditions over the
    events the partial match has taken. ``PREV``/``NEXT`` are not available.
    """

    kind: Literal["sequence"] = "sequence"
    steps: tuple[Step, ...] = Field(min_length=1, max_length=MAX_STEPS)
    within: Duration | None = None
    after_match_skip: str = "PAST LAST EVENT"

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        seen: set[str] = set()
        for i, step in enumerate(steps):
            if step.name in seen:
                raise _FieldError(f"[{i}].name", f"step name {step.name!r} is used twice")
            seen.add(step.name)
        if steps[0].negated is not None:
            raise _FieldError(
                "[0].negated", "the first step cannot be negated: a match must start with an event"
            )
        for i in range(1, len(steps)):
            if steps[i].negated is not None and steps[i - 1].optional:
                raise _FieldError(
                    f"[{i}].negated",
                    f"a negated step cannot follow the optional step {steps[i - 1].name!r} "
                    "(Flink CEP does not support it); write two patterns, with and without it",
                )
        taken: list[str] = []
        for i, step in enumerate(steps):
            scope = [*taken, step.name] if step.negated is None else list(taken)
            for field, text in (("where", step.where), ("until", step.until)):
                if text is not None:
                    _check_sql(
                        f"[{i}].{field}",
                        text,
                        navigation=True,
                        prev_next=False,
                        var_refs=True,
                        aggregates=True,
                        variables=scope,
                    )
            if step.negated is None:
                taken.append(step.name)
        return steps

    @field_validator("after_match_skip")
    @classmethod
    def _check_skip(cls, value: str, info: ValidationInfo) -> str:
        skip = normalize_sequence_skip(value)
        steps: tuple[Step, ...] | None = info.data.get("steps")
        if steps is None or not skip.startswith("SKIP TO ") or skip == "SKIP TO NEXT":
            return skip
        target = skip.rsplit(" ", 1)[1]
        names = [s.name for s in steps if s.negated is None]
        if target not in names:
            raise ValueError(
                f"{skip!r}: {target!r} is not a (non-negated) step (steps: {', '.join(names)})"
            )
        return skip

    @model_validator(mode="after")
    def _check_window(self) -> SequencePattern:
        last = self.steps[-1]
        if last.negated == "not_followed_by" and self.within is None:
            raise _FieldError(
                f"steps[{len(self.steps) - 1}].negated",
                "a sequence can end with not_followed_by only when 'within' is set "
                "(the match completes when the window expires)",
            )
        return self


# --------------------------------------------------------------------------------------------
# Detector kinds (issue 4)


class AbsencePattern(PatternBase):
    """A trigger event not followed by an expected event within a timeout.

    Each trigger opens a wait; an expected event at a time in (trigger.ts, trigger.ts + timeout]
    closes every open wait on the key (with equal ``correlate_on`` values). An unclosed wait
    emits one match at the deadline trigger.ts + timeout, with event_ids = [trigger]. An event
    satisfying both conditions counts as expected for earlier triggers only.
    """

    kind: Literal["absence"] = "absence"
    trigger: Condition
    expected: Condition
    timeout: Duration
    correlate_on: tuple[Column, ...] = ()

    @field_validator("trigger", "expected")
    @classmethod
    def _conditions(cls, value: str) -> str:
        _check_sql("", value)
        return value

    @field_validator("correlate_on")
    @classmethod
    def _columns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, "column")
        return value


class CountThresholdPattern(PatternBase):
    """At least ``threshold`` qualifying events per key within a window.

    ``sliding``: at each qualifying event t, count qualifying events in (t - window, t]; one
    match when the count first reaches the threshold, none again until it drops below.
    ``tumbling``: epoch-aligned windows, one match per window whose count reaches it.
    """

    kind: Literal["count_threshold"] = "count_threshold"
    where: Condition | None = None
    threshold: int = Field(ge=1, le=1_000_000_000)
    window: Duration
    window_type: Literal["sliding", "tumbling"] = "sliding"

    @field_validator("where")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        _check_plain("", value)
        return value


class VelocityPattern(PatternBase):
    """A rate (count, or sum of ``value_field``) per key over a window at or above a threshold.

    rate = (count or sum over (t - window, t]) / (window length in ``per`` units); one match per
    episode, as for ``count_threshold``.
    """

    kind: Literal["velocity"] = "velocity"
    where: Condition | None = None
    value_field: Column | None = None
    threshold: float = Field(gt=0, allow_inf_nan=False)
    per: Literal["second", "minute", "hour"] = "minute"
    window: Duration

    @field_validator("where")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        _check_plain("", value)
        return value


class TrendPattern(PatternBase):
    """``count`` consecutive rising, falling or flat values of ``value_field``.

    up: each value > previous − tol × |previous| (= previous × (1 − tol) for non-negative
    values) and the run's last value > its first; down is symmetric; flat:
    |v − prev| <= tol × |prev|, with tol = tolerance_pct / 100. One match when a
    run reaches ``count`` values; a new one only after the run breaks.
    """

    kind: Literal["trend"] = "trend"
    value_field: Column
    direction: Literal["up", "down", "flat"]
    count: int = Field(ge=2, le=100_000)
    tolerance_pct: float = Field(0.0, ge=0, le=100, allow_inf_nan=False)


class OutlierPattern(PatternBase):
    """A value far from its rolling per-key baseline.

    The baseline is the key's events in (t - baseline, t), the current event excluded; zscore:
    |x - mean| / std > k; iqr: x outside [Q1 - k·IQR, Q3 + k·IQR]; mad: |x - median| /
    (1.4826·MAD) > k. No decision before ``min_samples`` baseline events.
    """

    kind: Literal["outlier"] = "outlier"
    value_field: Column
    method: Literal["zscore", "iqr", "mad"] = "zscore"
    threshold: float = Field(gt=0, allow_inf_nan=False)
    baseline: Duration
    min_samples: int = Field(10, ge=2, le=1_000_000)


class SessionPattern(PatternBase):
    """Sessions per key split by an inactivity ``gap`` (and at most ``max_duration`` long).

    ``where`` picks the events that belong to sessions; ``having`` is a condition on the closed
    session: ``event_count``, ``duration_s`` and aggregates of fields (``SUM(amount) > 100``).
    """

    kind: Literal["session"] = "session"
    gap: Duration
    max_duration: Duration | None = None
    where: Condition | None = None
    having: Condition | None = None

    @field_validator("where")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        _check_plain("", value)
        return value

    @field_validator("having")
    @classmethod
    def _having(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from cep import expr as cx

        node = _check_sql("", value, kind="condition", aggregates=True)
        inside = {id(c) for sub in cx.walk(node) if isinstance(sub, cx.Agg) for c in cx.walk(sub)}
        for sub in cx.walk(node):
            if (
                isinstance(sub, cx.Col)
                and id(sub) not in inside
                and sub.name not in SESSION_MEASURES
            ):
                raise ValueError(
                    f"column {sub.name!r} must be inside an aggregate (SUM, AVG, COUNT, MIN, "
                    f"MAX); outside one, use {' or '.join(SESSION_MEASURES)}"
                )
        return value


class DedupPattern(PatternBase):
    """Repeated events: equal ``fields`` within ``window`` after the last kept event.

    A kept event starts a new window; one match per duplicate, event_ids = [kept, duplicate].
    Only events where ``where`` holds (NULL is false) take part, as kept events or duplicates;
    the others are ignored: they neither open a window nor repeat a kept event.
    """

    kind: Literal["dedup"] = "dedup"
    where: Condition | None = None
    fields: tuple[Column, ...] = Field(min_length=1)
    window: Duration

    @field_validator("where")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        _check_plain("", value)
        return value

    @field_validator("fields")
    @classmethod
    def _columns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, "field")
        return value


class GeoPoint(_Frozen):
    """A WGS-84 position in degrees."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class Circle(_Frozen):
    """All points within ``radius_m`` metres (haversine) of ``center``."""

    type: Literal["circle"] = "circle"
    center: GeoPoint
    radius_m: float = Field(gt=0, le=MAX_RADIUS_M, allow_inf_nan=False)


def _orientation(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> float:
    return (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon)


def _on_segment(a: GeoPoint, b: GeoPoint, p: GeoPoint) -> bool:
    return min(a.lon, b.lon) <= p.lon <= max(a.lon, b.lon) and min(a.lat, b.lat) <= p.lat <= max(
        a.lat, b.lat
    )


def _segments_touch(a: GeoPoint, b: GeoPoint, c: GeoPoint, d: GeoPoint) -> bool:
    if (
        max(a.lon, b.lon) < min(c.lon, d.lon)
        or max(c.lon, d.lon) < min(a.lon, b.lon)
        or max(a.lat, b.lat) < min(c.lat, d.lat)
        or max(c.lat, d.lat) < min(a.lat, b.lat)
    ):
        return False
    o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
    o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
    if ((o1 > 0 and o2 < 0) or (o1 < 0 and o2 > 0)) and (
        (o3 > 0 and o4 < 0) or (o3 < 0 and o4 > 0)
    ):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


class Polygon(_Frozen):
    """A simple polygon of ``vertices`` (lat/lon degrees, treated as a plane; no antimeridian).

    At least 3 distinct vertices, no repeated consecutive vertex, edges that do not cross or
    touch except at shared corners, and a non-zero area. A closing vertex equal to the first is
    dropped.
    """

    type: Literal["polygon"] = "polygon"
    vertices: tuple[GeoPoint, ...] = Field(max_length=MAX_POLYGON_VERTICES + 1)

    @field_validator("vertices")
    @classmethod
    def _simple(cls, vertices: tuple[GeoPoint, ...]) -> tuple[GeoPoint, ...]:
        if len(vertices) > 3 and vertices[0] == vertices[-1]:
            vertices = vertices[:-1]
        n = len(vertices)
        if n < 3:
            raise ValueError(f"a polygon needs at least 3 vertices, got {n}")
        if n > MAX_POLYGON_VERTICES:
            raise ValueError(f"a polygon may have at most {MAX_POLYGON_VERTICES} vertices")
        for i in range(n):
            if vertices[i] == vertices[(i + 1) % n]:
                raise _FieldError(f"[{(i + 1) % n}]", "repeats the previous vertex")
        for i in range(n):
            a, b = vertices[i], vertices[(i + 1) % n]
            for j in range(i + 1, n):
                c, d = vertices[j], vertices[(j + 1) % n]
                if j == i + 1 or (i == 0 and j == n - 1):
                    shared, other_1, other_2 = (b, a, d) if j == i + 1 else (a, b, c)
                    folds_back = _orientation(other_1, shared, other_2) == 0 and (
                        (other_1.lon - shared.lon) * (other_2.lon - shared.lon)
                        + (other_1.lat - shared.lat) * (other_2.lat - shared.lat)
                        > 0
                    )
                    if folds_back:
                        raise ValueError(f"edges {i} and {j} overlap (the outline folds back)")
                elif _segments_touch(a, b, c, d):
                    raise ValueError(
                        f"the polygon intersects itself: edge {i} ({a.lat}, {a.lon} -> {b.lat}, "
                        f"{b.lon}) meets edge {j} ({c.lat}, {c.lon} -> {d.lat}, {d.lon})"
                    )
        area2 = sum(
            vertices[i].lon * vertices[(i + 1) % n].lat
            - vertices[(i + 1) % n].lon * vertices[i].lat
            for i in range(n)
        )
        if area2 == 0:
            raise ValueError("the polygon has no area (its vertices are on one line)")
        lons = [v.lon for v in vertices]
        if max(lons) - min(lons) > 180:
            raise ValueError(
                "the polygon spans more than 180 degrees of longitude; a fence that crosses the "
                "antimeridian must be split into two polygons at longitude ±180"
            )
        return vertices


class GeofencePattern(PatternBase):
    """Enter / exit / dwell events for a circle or polygon over lat/lon fields.

    The first event of a key sets its state without emitting; enter = outside → inside, exit =
    inside → outside, dwell = inside continuously for at least ``dwell`` (one match per visit).
    Points on the boundary count as inside.
    """

    kind: Literal["geofence"] = "geofence"
    lat_field: Column = "lat"
    lon_field: Column = "lon"
    shape: Annotated[Circle | Polygon, Field(discriminator="type")]
    trigger: Literal["enter", "exit", "dwell"]
    dwell: Duration | None = None

    @model_validator(mode="after")
    def _check_dwell(self) -> GeofencePattern:
        if self.lat_field == self.lon_field:
            raise _FieldError("lon_field", "lat_field and lon_field must be different columns")
        if self.trigger == "dwell" and self.dwell is None:
            raise _FieldError("dwell", "trigger 'dwell' needs a dwell duration, e.g. '10m'")
        if self.trigger != "dwell" and self.dwell is not None:
            raise _FieldError(
                "dwell", f"dwell applies only to trigger 'dwell', not {self.trigger!r}"
            )
        return self


class TemporalCorrelationPattern(PatternBase):
    """An ``a`` event and a ``b`` event with equal ``correlate_on`` values within ``max_gap``.

    Events pair one-to-one in time order: each new event pairs with the earliest unpaired event
    of the other side within max_gap (``a_then_b``: only an A before the B); an event never
    pairs with itself; one match per pair.
    """

    kind: Literal["temporal_correlation"] = "temporal_correlation"
    a: Condition
    b: Condition
    correlate_on: tuple[Column, ...] = ()
    max_gap: Duration
    order: Literal["any", "a_then_b"] = "any"

    @field_validator("a", "b")
    @classmethod
    def _conditions(cls, value: str) -> str:
        _check_sql("", value)
        return value

    @field_validator("correlate_on")
    @classmethod
    def _columns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, "column")
        return value


class HeartbeatPattern(PatternBase):
    """An entity (key) silent for longer than ``interval`` + ``grace``.

    ``dead`` emits one match per silence; ``status_change`` also emits when it comes back
    (classifier ``alive``). Entities are the keys seen so far; no grace means zero.
    """

    kind: Literal["heartbeat"] = "heartbeat"
    interval: Duration
    grace: Duration | None = None
    emit: Literal["dead", "status_change"] = "dead"


def _state_timeouts(value: object) -> object:
    """One duration for every state, or state -> duration (each checked, errors name the state)."""
    if value is None:
        return None
    if isinstance(value, Mapping) and not (value and set(value) <= {"value", "unit"}):
        out: dict[object, Duration] = {}
        for state, item in value.items():
            try:
                out[state] = Duration._validate(item)
            except ValueError as exc:
                raise _FieldError(str(state), str(exc)) from None
        return out
    return Duration._validate(value)


class Transition(_Frozen):
    """A guarded transition: from ``from`` (or ``*``, any state) to ``to`` when ``when`` holds."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    from_: Name = Field(alias="from")
    to: Name
    when: Condition | None = None

    @field_validator("when")
    @classmethod
    def _conditions(cls, value: str | None) -> str | None:
        _check_plain("", value)
        return value


class StateMachinePattern(PatternBase):
    """States and guarded transitions per key.

    Each event takes the first listed transition from the current state whose ``when`` holds
    (``from: "*"`` matches any state). A terminal state ends the key's machine (the next event
    restarts at ``initial``). A state held longer than its timeout (``timeout``: one duration
    for every state, or state → duration) moves to ``timeout_state`` at the deadline. Matches
    carry the from/to states in ``measures``; ``emit`` picks transitions, terminal states or
    all; ``on_unmatched: flag`` reports events no transition takes.
    """

    kind: Literal["state_machine"] = "state_machine"
    states: tuple[Name, ...] = Field(min_length=1, max_length=MAX_STATES)
    initial: Name
    transitions: tuple[Transition, ...] = Field(min_length=1, max_length=MAX_TRANSITIONS)
    terminal: tuple[Name, ...] = ()
    timeout: Annotated[
        Duration | dict[Name, Duration] | None, Field(union_mode="left_to_right")
    ] = None
    timeout_state: Name | None = None
    emit: Literal["transition", "terminal", "all"] = "transition"
    on_unmatched: Literal["ignore", "flag"] = "ignore"

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout_form(cls, value: object) -> object:
        return _state_timeouts(value)

    @field_validator("states", "terminal")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, "state")
        for i, state in enumerate(value):
            if state == "*":
                raise _FieldError(
                    f"[{i}]", "'*' means 'any state' in transitions; rename the state"
                )
        return value

    @model_validator(mode="after")
    def _references(self) -> StateMachinePattern:
        states = set(self.states)
        listed = ", ".join(self.states)

        def known(path: str, state: str) -> None:
            if state not in states:
                raise _FieldError(path, f"unknown state {state!r} (states: {listed})")

        known("initial", self.initial)
        for i, state in enumerate(self.terminal):
            known(f"terminal[{i}]", state)
        terminal = set(self.terminal)
        if self.initial in terminal:
            raise _FieldError("initial", "the initial state cannot be terminal")
        for i, t in enumerate(self.transitions):
            if t.from_ != "*":
                known(f"transitions[{i}].from", t.from_)
                if t.from_ in terminal:
                    raise _FieldError(
                        f"transitions[{i}].from",
                        f"{t.from_!r} is terminal: the machine ends there, so this never fires",
                    )
            known(f"transitions[{i}].to", t.to)
        if isinstance(self.timeout, dict):
            if not self.timeout:
                raise _FieldError("timeout", "give one duration, or at least one state: duration")
            for state in self.timeout:
                known(f"timeout.{state}", state)
                if state in terminal:
                    raise _FieldError(
                        f"timeout.{state}", f"{state!r} is terminal; it cannot time out"
                    )
        if self.timeout is not None and self.timeout_state is None:
            raise _FieldError("timeout_state", "a timeout needs timeout_state (where it moves to)")
        if self.timeout is None and self.timeout_state is not None:
            raise _FieldError("timeout_state", "timeout_state needs a timeout")
        if self.timeout_state is not None:
            known("timeout_state", self.timeout_state)
            if isinstance(self.timeout, Mapping) and self.timeout_state in self.timeout:
                raise _FieldError(
                    f"timeout.{self.timeout_state}",
                    "timeout_state cannot have a timeout of its own; the machine waits there for an event",
                )
        if self.emit == "terminal" and not self.terminal:
            raise _FieldError("emit", "emit 'terminal' needs at least one terminal state")
        return self


# --------------------------------------------------------------------------------------------
# The union, schema, files

Pattern = Annotated[
    SequencePattern
    | MatchRecognizePattern
    | AbsencePattern
    | CountThresholdPattern
    | VelocityPattern
    | TrendPattern
    | OutlierPattern
    | SessionPattern
    | DedupPattern
    | GeofencePattern
    | TemporalCorrelationPattern
    | HeartbeatPattern
    | StateMachinePattern,
    Field(discriminator="kind"),
]
"""Any pattern: the discriminated union of the 13 kinds on ``kind``."""

PATTERN_ADAPTER: TypeAdapter[Pattern] = TypeAdapter(Pattern)

PATTERN_CLASSES: dict[str, type[PatternBase]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        SequencePattern,
        MatchRecognizePattern,
        AbsencePattern,
        CountThresholdPattern,
        VelocityPattern,
        TrendPattern,
        OutlierPattern,
        SessionPattern,
        DedupPattern,
        GeofencePattern,
        TemporalCorrelationPattern,
        HeartbeatPattern,
        StateMachinePattern,
    )
}
"""Kind name → pattern class."""

assert tuple(PATTERN_CLASSES) == KINDS


def pattern_json_schema() -> dict[str, Any]:
    """The JSON Schema of a pattern, generated from the model (a ``oneOf`` over the kinds)."""
    schema = PATTERN_ADAPTER.json_schema()
    return {"title": "Pattern", **schema}


# -- turning pydantic errors into one message ------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _model_members(annotation: Any) -> list[type[BaseModel]]:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, UnionType):
        return [
            m
            for a in get_args(annotation)
            if isinstance((m := _unwrap(a)), type) and issubclass(m, BaseModel)
        ]
    return []


def _tag(model: type[BaseModel]) -> str | None:
    for key in ("kind", "type"):
        field = model.model_fields.get(key)
        if field is not None and isinstance(field.default, str):
            return field.default
    return None


def _field_name(model: type[BaseModel], key: str) -> str | None:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return name
    return None


def _walk_loc(
    loc: Sequence[str | int], root: Any = Pattern
) -> tuple[list[str | int], type[BaseModel] | None]:
    """Render a pydantic ``loc`` as user-facing parts, dropping union tags; and the model at it."""
    current: Any = root
    parts: list[str | int] = []
    for part in loc:
        members = _model_members(current)
        if len(members) > 1:
            chosen = next((m for m in members if _tag(m) == part), None)
            if chosen is not None:
                current = chosen
                continue
        if len(members) == 1 and isinstance(part, str):
            name = _field_name(members[0], part)
            field = members[0].model_fields.get(name) if name else None
            parts.append(part)
            current = field.annotation if field is not None else None
            continue
        parts.append(part)
        origin = get_origin(_unwrap(current))
        args = get_args(_unwrap(current))
        if origin in (tuple, list) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            current = None
    members = _model_members(current)
    return parts, members[0] if len(members) == 1 else None


def _render(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out = out + f"[{part}]" if isinstance(part, int) else _join_path(out, str(part))
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_parts(exc: ValidationError, root: Any = Pattern) -> list[tuple[str, str]]:
    """(field path, message) for each error of a validation of ``root`` (:data:`Pattern`)."""
    out: list[tuple[str, str]] = []
    errors = exc.errors(include_url=False)
    nested = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
    for err in errors:
        kind = err["type"]
        if kind == "too_short" and tuple(err["loc"]) in nested:
            continue  # a consequence of an item's own error, reported on its own
        ctx = err.get("ctx") or {}
        if kind in ("union_tag_invalid", "union_tag_not_found") and len(err["loc"]) == 0:
            given = ctx.get("tag")
            known = ", ".join(KINDS)
            if kind == "union_tag_not_found":
                out.append(("", f"missing field 'kind'; one of: {known}"))
            else:
                out.append(("", f"unknown kind {given!r}; known kinds: {known}"))
            continue
        parts, _ = _walk_loc(err["loc"], root)
        path = _render(parts)
        if kind == "extra_forbidden":
            parent_parts, model = _walk_loc(err["loc"][:-1], root)
            parent = _render(parent_parts)
            field = str(err["loc"][-1])
            message = f"unknown field {field!r}" + (f" in {parent}" if parent else "")
            if model is not None:
                allowed = [f.alias or n for n, f in model.model_fields.items()]
                close = difflib.get_close_matches(field, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                message += f" ({hint}allowed: {', '.join(allowed)})"
            out.append(("", message))
            continue
        if kind == "missing":
            parent = _render(parts[:-1])
            where = f" in {parent}" if parent else ""
            out.append(("", f"missing required field {str(parts[-1])!r}{where}"))
            continue
        error = ctx.get("error")
        if isinstance(error, _FieldError):
            out.append((_join_path(path, error.path), error.message))
        elif isinstance(error, ValueError | AssertionError):
            out.append((path, str(error)))
        elif kind in ("literal_error", "enum"):
            out.append((path, f"{err['msg']}, got {_short(err['input'])}"))
        else:
            out.append((path, err["msg"]))
    return out


def _format_error(exc: ValidationError, source: str, limit: int = 3) -> str:
    parts = [f"{path}: {message}" if path else message for path, message in _error_parts(exc)]
    text = "; ".join(parts[:limit])
    if len(parts) > limit:
        text += f" (and {len(parts) - limit} more)"
    return f"{source}: {text}"


def validate_pattern(data: Mapping[str, Any], *, source: str = "<input>") -> Pattern:
    """Validate a pattern's JSON value (a mapping with ``kind``).

    Raises:
        PatternError: one message naming ``source`` and the field path.
    """
    if not isinstance(data, Mapping):
        raise PatternError(
            f"{source}: a pattern must be a mapping (JSON object) with a 'kind' field, "
            f"got {type(data).__name__}"
        )
    try:
        return PATTERN_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise PatternError(_format_error(exc, source)) from None
    except PatternError as exc:  # raised outside pydantic's error handling (configuration)
        raise PatternError(f"{source}: {exc}") from None


# -- text formats ----------------------------------------------------------------------------

PatternFormat = Literal["json", "yaml", "sql"]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _load_json(text: str, source: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise PatternError(
            f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise PatternError(f"{source}: malformed JSON: {exc}") from None
    except RecursionError:
        raise PatternError(f"{source}: malformed JSON: nested too deeply") from None


class _SafeLoader(yaml.SafeLoader):
    """Safe YAML without aliases (no billion laughs) and without duplicate keys."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = event.start_mark if isinstance(event.start_mark, yaml.Mark) else None
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in patterns", mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_SafeLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise PatternError(f"{source}: malformed YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise PatternError(f"{source}: malformed YAML: {exc}") from None
    except RecursionError:
        raise PatternError(f"{source}: malformed YAML: nested too deeply") from None


_SQL_COMMENT_LINE = re.compile(r"\s*(--[^\n]*)?\n")


def _looks_like_sql(text: str) -> bool:
    if not re.search(r"\bMATCH_RECOGNIZE\b", text, re.IGNORECASE):
        return False
    pos = 0
    while m := _SQL_COMMENT_LINE.match(text, pos):
        if m.end() == pos:
            break
        pos = m.end()
    first_line = text[pos:].split("\n", 1)[0]
    return re.match(r"\s*[\"']?[\w-]+[\"']?\s*:", first_line) is None


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PatternError(
            f"{source}: not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"
        ) from None


def parse_pattern(
    data: str | bytes | Mapping[str, Any],
    *,
    source: str = "<input>",
    fmt: PatternFormat | None = None,
) -> Pattern:
    """Parse and validate one pattern from JSON, YAML or MATCH_RECOGNIZE SQL text, or a mapping.

    Args:
        data: the text (``bytes`` are decoded as UTF-8) or the already-parsed JSON value.
        source: the name used in error messages (a file name, ``<input>``, ...).
        fmt: ``json``, ``yaml`` or ``sql``; ``None`` guesses: a leading ``{`` is JSON, text with
            ``MATCH_RECOGNIZE`` is SQL, anything else YAML. SQL read from a ``.sql`` source is
            named after the file; otherwise after its alias or table (:mod:`cep.sqlimport`).

    Raises:
        PatternError: one message naming ``source`` and what is wrong where.
    """
    if isinstance(data, Mapping):
        return validate_pattern(data, source=source)
    if isinstance(data, bytes | bytearray):
        if len(data) > MAX_PATTERN_BYTES:
            raise PatternError(f"{source}: pattern text is larger than {MAX_PATTERN_BYTES} bytes")
        data = _decode(bytes(data), source)
    if not isinstance(data, str):
        raise PatternError(
            f"{source}: expected pattern text or a mapping, got {type(data).__name__}"
        )
    text = data.lstrip("\ufeff")
    if len(text) > MAX_PATTERN_BYTES:
        raise PatternError(f"{source}: pattern text is longer than {MAX_PATTERN_BYTES} characters")
    if not text.strip():
        raise PatternError(f"{source}: the pattern is empty")
    if fmt is None:
        stripped = text.lstrip()
        fmt = "json" if stripped.startswith("{") else "sql" if _looks_like_sql(text) else "yaml"
    if fmt == "sql":
        from cep.sqlimport import import_match_recognize

        stem = PurePath(source).stem if source.lower().endswith(".sql") else None
        return import_match_recognize(text, source=source, name=stem)
    if fmt == "json":
        value = _load_json(text, source)
    elif fmt == "yaml":
        value = _load_yaml(text, source)
    else:
        raise PatternError(f"{source}: unknown pattern format {fmt!r}; use json, yaml or sql")
    if value is None:
        raise PatternError(f"{source}: the pattern is empty")
    if not isinstance(value, Mapping):
        raise PatternError(
            f"{source}: a pattern must be a mapping (JSON object) with a 'kind' field, "
            f"got {'a list' if isinstance(value, list) else type(value).__name__}"
        )
    return validate_pattern(value, source=source)


_SUFFIX_FORMATS: dict[str, PatternFormat] = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".sql": "sql",
}


def load_pattern(path: str | os.PathLike[str]) -> Pattern:
    """Load one pattern from a ``.json``, ``.yaml``/``.yml`` or ``.sql`` file.

    A ``.sql`` file holds a ``MATCH_RECOGNIZE`` query; the pattern is named after the file.

    Raises:
        PatternError: for a missing or unreadable file, an unknown extension, or a bad pattern.
    """
    file = Path(path)
    source = str(path)
    fmt = _SUFFIX_FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise PatternError(
            f"{source}: unknown pattern file type {file.suffix or '(none)'!r}; "
            "use .json, .yaml, .yml or .sql"
        )
    try:
        if file.stat().st_size > MAX_PATTERN_BYTES:
            raise PatternError(f"{source}: the file is larger than {MAX_PATTERN_BYTES} bytes")
        data = file.read_bytes()
    except FileNotFoundError:
        raise PatternError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise PatternError(f"{source}: is a directory, not a pattern file") from None
    except OSError as exc:
        raise PatternError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
    return parse_pattern(data, source=source, fmt=fmt)


def pattern_to_dict(pattern: PatternBase) -> dict[str, Any]:
    """The pattern's JSON value (every field, durations as strings, ``kind`` first)."""
    return pattern.model_dump(mode="json", by_alias=True)


def dump_pattern(pattern: PatternBase, fmt: Literal["json", "yaml"] = "json") -> str:
    """Serialise a pattern as JSON or YAML text that :func:`parse_pattern` reads back equal.

    >>> p = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "PT60S"})
    >>> print(dump_pattern(p, "yaml"), end="")
    kind: heartbeat
    name: hb
    description: ''
    partition_by: []
    order_by: ts
    id_field: null
    interval: 1m
    grace: null
    emit: dead
    """
    data = pattern_to_dict(pattern)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    raise PatternError(f"unknown pattern format {fmt!r}; use json or yaml")
