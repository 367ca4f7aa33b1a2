"""What each step of a pattern tests: its condition split into clauses, and the fields it reads.

A *rule* belongs to a classifier (a sequence step, a MATCH_RECOGNIZE variable, a detector's
role such as ``trigger`` or ``a``). Its condition is split at the top-level ANDs into clauses,
each shown with its SQL text (``cep.expr.to_sql``) and evaluated for the events bound to it:

* row-local clauses (the current row and PREV/NEXT neighbours) are compiled to Polars once and
  evaluated over all events of all keys in one pass;
* path-dependent clauses (``A.price``, ``FIRST``/``LAST``, aggregates, ``CLASSIFIER()``) are
  evaluated per bound event with ``cep.expr.eval_row`` against the match's own bindings (the
  events bound before it, and itself), which is what the running semantics define.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from cep import expr as E
from cep.model import (
    AbsencePattern,
    CountThresholdPattern,
    DedupPattern,
    GeofencePattern,
    MatchRecognizePattern,
    OutlierPattern,
    Pattern,
    SequencePattern,
    SessionPattern,
    TemporalCorrelationPattern,
    TrendPattern,
    VelocityPattern,
)

__all__ = ["Rule", "clause_values", "conjuncts", "parse", "rules_of", "trend_step"]

_ALL = E.Features(navigation=True, var_refs=True, aggregates=True, classifier=True)


def parse(text: str, *, case_insensitive: bool = False) -> E.Expr:
    """Parse a condition the model already validated (every feature allowed)."""
    return E.parse_condition(text, features=_ALL, case_insensitive_vars=case_insensitive)


def conjuncts(e: E.Expr) -> list[E.Expr]:
    """The top-level AND parts of a condition, left to right."""
    if isinstance(e, E.Binary) and e.op == "AND":
        return [*conjuncts(e.left), *conjuncts(e.right)]
    return [e]


@dataclass(frozen=True)
class Rule:
    """The test one classifier's events pass.

    Attributes:
        clauses: the condition's top-level AND parts (empty: any event fits).
        texts: their SQL text.
        fields: the event fields the rule reads, in first-mention order.
        row_var: the variable / step the row is tested as (``A.price`` = the current row).
        case_insensitive: compare variable names ignoring case (MATCH_RECOGNIZE).
        row_local: every clause reads only the current row and its physical neighbours.
    """

    clauses: tuple[E.Expr, ...]
    texts: tuple[str, ...]
    fields: tuple[str, ...]
    row_var: str | None = None
    case_insensitive: bool = False
    row_local: bool = True


def _fields(exprs: Sequence[E.Expr], extra: Sequence[str] = ()) -> tuple[str, ...]:
    names: list[str] = []
    for e in exprs:
        names += [n.name for n in E.walk(e) if isinstance(n, E.Col)]
    return tuple(dict.fromkeys([*names, *extra]))


def make_rule(condition: E.Expr | None, *, extra_fields: Sequence[str] = (),
              row_var: str | None = None, case_insensitive: bool = False) -> Rule:
    """A rule from a parsed condition (None: any event)."""
    clauses = tuple(conjuncts(condition)) if condition is not None else ()
    return Rule(
        clauses=clauses,
        texts=tuple(E.to_sql(c) for c in clauses),
        fields=_fields(clauses, extra_fields),
        row_var=row_var,
        case_insensitive=case_insensitive,
        row_local=all(E.is_row_local(c, row_var, case_insensitive) for c in clauses),
    )


def trend_step(pattern: TrendPattern) -> E.Expr:
    """The trend detector's step rule as SQL over the value and its predecessor.

    >>> from cep.model import parse_pattern
    >>> p = parse_pattern({"kind": "trend", "name": "t", "value_field": "x",
    ...                    "direction": "up", "count": 3, "tolerance_pct": 10})
    >>> E.to_sql(trend_step(p))
    'x > PREV(x) - 0.1 * abs(PREV(x))'
    """
    value = E.Col(pattern.value_field, None)
    prev = E.Nav("PREV", value, 1)
    tol = pattern.tolerance_pct / 100
    slack = E.Binary("*", E.Lit(tol), E.Func("abs", (prev,)))
    if pattern.direction == "up":
        return E.Binary(">", value, E.Binary("-", prev, slack) if tol else prev)
    if pattern.direction == "down":
        return E.Binary("<", value, E.Binary("+", prev, slack) if tol else prev)
    return E.Binary("<=", E.Func("abs", (E.Binary("-", value, prev),)), slack)


def rules_of(pattern: Pattern) -> dict[str, Rule]:
    """Classifier → rule, for every classifier the pattern's matches use.

    State machines are not here: which transition an event took depends on the state before it
    (``cep.explain.timeline`` picks it).
    """
    if isinstance(pattern, SequencePattern):
        return {
            s.name: make_rule(parse(s.where) if s.where else None, row_var=s.name)
            for s in pattern.steps
        }
    if isinstance(pattern, MatchRecognizePattern):
        return {
            var: make_rule(parse(cond, case_insensitive=True), row_var=var, case_insensitive=True)
            for var, cond in pattern.define.items()
        }
    if isinstance(pattern, AbsencePattern):
        trigger = parse(pattern.trigger)
        return {"trigger": make_rule(trigger, extra_fields=pattern.correlate_on)}
    if isinstance(pattern, CountThresholdPattern | SessionPattern):
        where = parse(pattern.where) if pattern.where else None
        extra: list[str] = []
        if isinstance(pattern, SessionPattern) and pattern.having:
            having = E.parse_condition(pattern.having, features=_ALL)
            extra = [n.name for n in E.walk(having) if isinstance(n, E.Col)
                     and n.name not in ("event_count", "duration_s")]
        return {"event": make_rule(where, extra_fields=extra)}
    if isinstance(pattern, VelocityPattern):
        where = parse(pattern.where) if pattern.where else None
        value = [pattern.value_field] if pattern.value_field else []
        return {"event": make_rule(where, extra_fields=value)}
    if isinstance(pattern, TrendPattern):
        return {pattern.direction: make_rule(trend_step(pattern))}
    if isinstance(pattern, OutlierPattern):
        return {"outlier": make_rule(None, extra_fields=[pattern.value_field])}
    if isinstance(pattern, DedupPattern):
        where = parse(pattern.where) if pattern.where else None
        rule = make_rule(where, extra_fields=pattern.fields)
        return {"kept": rule, "duplicate": rule}
    if isinstance(pattern, GeofencePattern):
        rule = make_rule(None, extra_fields=[pattern.lat_field, pattern.lon_field])
        return dict.fromkeys(("inside", "outside", "enter"), rule)
    if isinstance(pattern, TemporalCorrelationPattern):
        corr = pattern.correlate_on
        return {"a": make_rule(parse(pattern.a), extra_fields=corr),
                "b": make_rule(parse(pattern.b), extra_fields=corr)}
    return {}


def clause_column(rule_index: int, clause_index: int) -> str:
    """Name of the column holding a row-local clause's value."""
    return f"__clause_{rule_index}_{clause_index}"


def clause_values(frame: pl.DataFrame, rules: dict[str, Rule], partition_col: str
                  ) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """Add one Boolean column per row-local clause to a key-sorted frame.

    Returns the frame and classifier → the clause columns of its rule (empty for rules that
    are not row-local: those are evaluated per event).
    """
    exprs: list[pl.Expr] = []
    columns: dict[str, list[str]] = {}
    for r, (name, rule) in enumerate(rules.items()):
        names: list[str] = []
        if rule.row_local and all(f in frame.columns for f in rule.fields):
            for c, clause in enumerate(rule.clauses):
                column = clause_column(r, c)
                exprs.append(E.to_polars(clause, partition_col=partition_col, row_var=rule.row_var,
                                         case_insensitive_vars=rule.case_insensitive)
                             .cast(pl.Boolean).alias(column))
                names.append(column)
        columns[name] = names
    return (frame.with_columns(exprs) if exprs else frame), columns


Resolver = Callable[[E.Expr], Any]


def truth(value: Any) -> bool | None:
    """A clause value as True / False / None (NULL)."""
    if value is None:
        return None
    return bool(value)
