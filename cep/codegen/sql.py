"""The ``sql`` target: a ``match_recognize`` pattern as a Databricks SQL ``MATCH_RECOGNIZE`` query.

Databricks SQL ``MATCH_RECOGNIZE`` (Databricks Runtime 19.0+, Beta) is a batch query over a
table. What its documentation describes, and so what this target can express:
``PARTITION BY`` columns, ``ORDER BY``, ``MEASURES expr AS name``, ``ONE ROW PER MATCH`` /
``ALL ROWS PER MATCH [SHOW EMPTY MATCHES]``, ``AFTER MATCH SKIP PAST LAST ROW`` only,
``PATTERN`` with greedy quantifiers, alternation, grouping, ``PERMUTE`` and ``^``/``$`` only at the
start/end of the whole pattern, and ``DEFINE`` without aggregates. It has no ``WITHIN``,
``SUBSET``, reluctant quantifiers, exclusion, ``OMIT EMPTY MATCHES``, ``WITH UNMATCHED ROWS`` or
other skip targets, and it never produces empty matches. Each of those raises
``UnsupportedFeature`` naming the feature and the target, so the query finds exactly the matches
the app finds, or is not generated at all.
"""

from __future__ import annotations

from cep import expr as E
from cep.codegen.escape import Code, sql_identifier, sql_table
from cep.errors import ExpressionError, PatternError, UnsupportedFeature
from cep.matcher.syntax import (
    Alt,
    Anchor,
    Concat,
    Empty,
    Exclude,
    Node,
    Permute,
    Quant,
    Var,
    parse_row_pattern,
    pattern_variables,
    to_text,
)
from cep.model import MatchRecognizePattern

__all__ = ["render_match_recognize_sql"]

_TARGET = "the sql target (Databricks SQL MATCH_RECOGNIZE)"
_FEATURES = E.Features(navigation=True, var_refs=True, aggregates=True, classifier=True)


def _unsupported(feature: str, pattern: MatchRecognizePattern) -> UnsupportedFeature:
    return UnsupportedFeature(
        f"pattern {pattern.name!r}: {feature} is not supported by {_TARGET}; use the sss or sdp "
        "target, which run the app's own matcher"
    )


def _can_be_empty(node: Node) -> bool:
    match node:
        case Var():
            return False
        case Empty() | Anchor():
            return True
        case Concat(items) | Permute(items):
            return all(_can_be_empty(i) for i in items)
        case Alt(items):
            return any(_can_be_empty(i) for i in items)
        case Quant():
            return node.min == 0 or _can_be_empty(node.node)
        case Exclude(inner):
            return _can_be_empty(inner)
    return False


def _check_row_pattern(node: Node, pattern: MatchRecognizePattern, top: bool = True) -> None:
    items = node.items if isinstance(node, Concat) and top else (node,)
    for i, item in enumerate(items):
        if isinstance(item, Anchor):
            at_edge = top and ((item.kind == "start" and i == 0)
                               or (item.kind == "end" and i == len(items) - 1))
            if not at_edge:
                raise _unsupported(f"the anchor {'^' if item.kind == 'start' else '$'} inside the "
                                   "pattern (only at the start or end of the whole pattern)",
                                   pattern)
            continue
        if isinstance(item, Exclude):
            raise _unsupported("row pattern exclusion {- ... -}", pattern)
        if isinstance(item, Quant) and not item.greedy:
            raise _unsupported("the reluctant quantifier in " + repr(to_text(item)), pattern)
        for child in _children(item):
            _check_row_pattern(child, pattern, top=False)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Concat | Alt | Permute):
        return tuple(node.items)
    if isinstance(node, Quant | Exclude):
        return (node.node,)
    return ()


def _expression(text: str, variables: list[str], where: str, *, condition: bool) -> str:
    parse = E.parse_condition if condition else E.parse_expression
    try:
        node = parse(text, features=_FEATURES, variables=variables, case_insensitive_vars=True)
    except ExpressionError as exc:
        raise PatternError(f"{where}: {exc}") from None
    return E.to_sql(node)


def render_match_recognize_sql(pattern: MatchRecognizePattern, table: str, header: Code) -> str:
    """The Databricks SQL query finding ``pattern``'s matches in ``table``.

    Raises:
        UnsupportedFeature: the pattern uses something Databricks SQL cannot express (named).
        PatternError: a name cannot be written as a Spark SQL identifier.
    """
    if pattern.within is not None:
        raise _unsupported("WITHIN", pattern)
    if pattern.subset:
        raise _unsupported("SUBSET", pattern)
    if pattern.after_match_skip != "PAST LAST ROW":
        raise _unsupported(f"AFTER MATCH SKIP {pattern.after_match_skip}", pattern)
    option = pattern.rows_per_match_option
    if pattern.rows_per_match == "ALL" and option not in (None, "SHOW EMPTY MATCHES"):
        raise _unsupported(f"ALL ROWS PER MATCH {option}", pattern)
    node = parse_row_pattern(pattern.pattern)
    _check_row_pattern(node, pattern)
    if _can_be_empty(node):
        raise _unsupported(f"a PATTERN that can match no rows ({to_text(node)!r}: Databricks "
                           "never produces empty matches)", pattern)
    variables = pattern_variables(node)
    for var in variables:
        sql_identifier(var, f"pattern variable {var!r}")
    lines = [str(header), "--",
             "-- Databricks SQL MATCH_RECOGNIZE (Databricks Runtime 19.0+, Beta), generated by",
             "-- LakeStream CEP Builder (target: sql) from the validated pattern.",
             "SELECT *", f"FROM {sql_table(table, 'source table')}", "MATCH_RECOGNIZE ("]
    if pattern.partition_by:
        cols = ", ".join(sql_identifier(c, f"partition_by {c!r}") for c in pattern.partition_by)
        lines.append(f"  PARTITION BY {cols}")
    lines.append(f"  ORDER BY {sql_identifier(pattern.order_by, 'order_by')}")
    measures = [f"MATCH_NUMBER() AS {sql_identifier('match_number')}"]
    measures = [] if "match_number" in {m.lower() for m in pattern.measures} else measures
    for name, text in pattern.measures.items():
        rendered = _expression(text, variables, f"measures.{name}", condition=False)
        measures.append(f"{rendered} AS {sql_identifier(name, f'measure {name!r}')}")
    if measures:
        lines.append("  MEASURES")
        lines += [f"    {m}{',' if i < len(measures) - 1 else ''}" for i, m in enumerate(measures)]
    lines.append("  ONE ROW PER MATCH" if pattern.rows_per_match == "ONE"
                 else "  ALL ROWS PER MATCH")
    lines.append("  AFTER MATCH SKIP PAST LAST ROW")
    lines.append(f"  PATTERN ({to_text(node)})")
    defines = []
    for var, text in pattern.define.items():
        node_sql = _expression(text, variables, f"define.{var}", condition=True)
        if any(isinstance(n, E.Agg) for n in E.walk(E.parse_condition(
                text, features=_FEATURES, variables=variables, case_insensitive_vars=True))):
            raise _unsupported(f"an aggregate in DEFINE {var}", pattern)
        defines.append(f"{sql_identifier(var, f'define {var!r}')} AS {node_sql}")
    if not defines:  # DEFINE is mandatory; an undefined variable matches every row
        defines.append(f"{sql_identifier(variables[0])} AS TRUE")
    lines.append("  DEFINE")
    lines += [f"    {d}{',' if i < len(defines) - 1 else ''}" for i, d in enumerate(defines)]
    lines.append(")")
    return "\n".join(lines) + "\n"


