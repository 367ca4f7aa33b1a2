"""The event fields a pattern reads, with the Spark type a Kafka JSON schema should give each.

Used for the explicit schema of the Kafka source and the null columns of the rate demo source.
Types: the event-time column ``timestamp``; value, latitude and longitude fields and columns
that conditions compare with numbers or use in arithmetic ``double``; everything else
``string``.
"""

from __future__ import annotations

from collections.abc import Iterator

from cep import expr as E
from cep.errors import ExpressionError
from cep.model import (
    AbsencePattern,
    CountThresholdPattern,
    DedupPattern,
    GeofencePattern,
    MatchRecognizePattern,
    Pattern,
    SequencePattern,
    SessionPattern,
    StateMachinePattern,
    TemporalCorrelationPattern,
    VelocityPattern,
)

__all__ = ["pattern_conditions", "pattern_fields"]

_ARITHMETIC = {"+", "-", "*", "/", "%"}
_COMPARE = {"=", "<>", "<", "<=", ">", ">="}
_MR = E.Features(navigation=True, var_refs=True, aggregates=True, classifier=True)


def pattern_conditions(pattern: Pattern) -> Iterator[E.Expr]:
    """Every condition and expression of ``pattern``, parsed."""
    texts: list[tuple[str, E.Features, bool]] = []
    if isinstance(pattern, MatchRecognizePattern):
        texts += [(t, _MR, False) for t in pattern.define.values()]
        texts += [(t, _MR, True) for t in pattern.measures.values()]
    elif isinstance(pattern, SequencePattern):
        texts += [(s.where, _MR, False) for s in pattern.steps if s.where]
        texts += [(s.until, _MR, False) for s in pattern.steps if s.until]
    elif isinstance(pattern, AbsencePattern):
        texts += [(pattern.trigger, E.Features(), False), (pattern.expected, E.Features(), False)]
    elif isinstance(pattern, TemporalCorrelationPattern):
        texts += [(pattern.a, E.Features(), False), (pattern.b, E.Features(), False)]
    elif isinstance(pattern, StateMachinePattern):
        texts += [(t.when, E.Features(), False) for t in pattern.transitions if t.when]
    elif isinstance(pattern, CountThresholdPattern | VelocityPattern | SessionPattern
                    | DedupPattern) and pattern.where:
        texts.append((pattern.where, E.Features(), False))
    for text, features, is_expression in texts:
        parse = E.parse_expression if is_expression else E.parse_condition
        try:
            yield parse(text, features=features)
        except ExpressionError:
            continue  # variables the generic parse cannot resolve; the model validated it


def _numeric(node: E.Expr) -> bool:
    return isinstance(node, E.Lit) and isinstance(node.value, int | float) and not isinstance(
        node.value, bool)


def _numeric_columns(node: E.Expr) -> Iterator[str]:
    for sub in E.walk(node):
        if isinstance(sub, E.Binary) and sub.op in _ARITHMETIC:
            yield from (c.name for c in (sub.left, sub.right) if isinstance(c, E.Col))
        elif isinstance(sub, E.Binary) and sub.op in _COMPARE:
            if _numeric(sub.right) and isinstance(sub.left, E.Col):
                yield sub.left.name
            if _numeric(sub.left) and isinstance(sub.right, E.Col):
                yield sub.right.name
        elif isinstance(sub, E.Between) and isinstance(sub.operand, E.Col) and (
                _numeric(sub.low) or _numeric(sub.high)):
            yield sub.operand.name
        elif isinstance(sub, E.Agg) and sub.func in ("SUM", "AVG") and isinstance(sub.arg, E.Col):
            yield sub.arg.name


def pattern_fields(pattern: Pattern) -> dict[str, str]:
    """Field → Spark type (``timestamp``, ``double`` or ``string``), in first-use order."""
    fields: dict[str, str] = {pattern.order_by: "timestamp"}
    numeric: set[str] = set()
    for name in (*pattern.partition_by, *([pattern.id_field] if pattern.id_field else [])):
        fields.setdefault(name, "string")
    for attr in ("value_field", "lat_field", "lon_field"):
        field: str | None = getattr(pattern, attr, None)
        if field:
            fields.setdefault(field, "double")
            numeric.add(field)
    for attr in ("correlate_on",):
        for name in getattr(pattern, attr, ()):
            fields.setdefault(name, "string")
    if isinstance(pattern, DedupPattern):
        for name in pattern.fields:
            fields.setdefault(name, "string")
    if isinstance(pattern, GeofencePattern):
        numeric |= {pattern.lat_field, pattern.lon_field}
    from cep.model import SESSION_MEASURES

    for node in pattern_conditions(pattern):
        numeric |= set(_numeric_columns(node))
        for name in sorted(E.referenced_columns(node)):
            if isinstance(pattern, SessionPattern) and name in SESSION_MEASURES:
                continue
            fields.setdefault(name, "string")
    for name in numeric:
        if name in fields and fields[name] == "string":
            fields[name] = "double"
    return fields
