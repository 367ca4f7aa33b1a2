"""Everything the condition language refuses, with the message and the position it reports."""

from __future__ import annotations

from typing import Any

import pytest

from cep.errors import ExpressionError
from cep.expr import MAX_DEPTH, MAX_LENGTH, Col, Features, Lit, parse_condition, parse_expression

ALL = Features(navigation=True, var_refs=True, aggregates=True, classifier=True)


def rejection(text: str, **kwargs: Any) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse_condition(text, **kwargs)
    return caught.value


# (text, parse_condition keywords, expected message fragment, expected position)
INJECTIONS: list[tuple[str, dict[str, Any], str, int]] = [
    ("__import__('os').system('x')", {}, "identifier '__import__' is not allowed", 0),
    ("1; DROP TABLE t", {}, "';' is not allowed", 1),
    ("(SELECT 1)", {}, "subqueries are not allowed: 'SELECT'", 1),
    ("reflect('java.lang.Runtime','exec','x')", {}, "function 'reflect' is not allowed", 0),
    ("price > 1 -- comment", {}, "comment '--' is not allowed", 10),
    ("/* x */ price > 1", {}, "comment '/*' is not allowed", 0),
    ("x IN (select id from t)", {}, "subqueries are not allowed", 6),
    ("price > 1; --", {}, "';' is not allowed", 9),
    ("x = 1 OR DROP", {}, "SQL keyword 'DROP' is not allowed", 9),
    ("delete > 1", {}, "SQL keyword 'delete' is not allowed", 0),
    ("x = 1 AND INSERT", {}, "SQL keyword 'INSERT' is not allowed", 10),
    ("UPDATE t SET x = 1", {}, "SQL keyword 'UPDATE' is not allowed", 0),
    ("create = 1", {}, "SQL keyword 'create' is not allowed", 0),
    ("ALTER", {}, "SQL keyword 'ALTER' is not allowed", 0),
    ("x = 1 OR GRANT", {}, "SQL keyword 'GRANT' is not allowed", 9),
    ("EXEC xp_cmdshell", {}, "SQL keyword 'EXEC' is not allowed", 0),
    ("x = 1 UNION y", {}, "SQL keyword 'UNION' is not allowed", 6),
    ("x.__class__ = 1", {"features": ALL}, "identifier '__class__' is not allowed", 2),
    ("os.system('ls')", {"features": ALL}, "unexpected '('", 9),
    ("eval('1') = 1", {}, "function 'eval' is not allowed", 0),
    ("exec('1') = 1", {}, "SQL keyword 'exec' is not allowed", 0),
    ("open('/etc/passwd') = 'x'", {}, "function 'open' is not allowed", 0),
    ("getattr(x, 'y') = 1", {}, "function 'getattr' is not allowed", 0),
    ("lambda: 1", {}, "unexpected character ':'", 6),
    ("x = 1 && y = 2", {}, "unexpected character '&'", 6),
    ("x = 'a' || 'b' | 'c'", {}, "unexpected character '|'", 15),
    ("x = `a", {}, "unterminated quoted name", 4),
    ("x = 'a", {}, "unterminated string literal", 4),
    ("x = 'a\\'", {}, "unterminated string literal", 4),
]


@pytest.mark.parametrize(
    ("text", "kwargs", "message", "position"), INJECTIONS, ids=[i[0] for i in INJECTIONS]
)
def test_injection_attempts_are_rejected_with_the_position(
    text: str, kwargs: dict[str, Any], message: str, position: int
) -> None:
    error = rejection(text, **kwargs)
    assert message in str(error)
    assert error.position == position
    assert f"at position {position}" in str(error)


def test_unknown_function_lists_the_allowed_ones() -> None:
    error = rejection("reflect('java.lang.Runtime','exec','x')")
    assert "allowed functions: abs, ceil, coalesce, concat" in str(error)
    assert "in condition 'reflect(" in str(error)


def test_quoted_names_may_be_keywords() -> None:
    assert parse_condition('"drop" = 1 AND `select` = 2 AND "__x" = 3') is not None


# -- syntax errors -------------------------------------------------------------------------------

SYNTAX: list[tuple[str, str, int]] = [
    ("price > )", "unexpected ')' at position 8 in condition 'price > )'", 8),
    ("price >", "unexpected end of condition", 7),
    ("", "empty condition", 0),
    ("   ", "empty condition", 0),
    ("(price > 1", "expected ')' but found end of condition", 10),
    ("price > 1)", "unexpected ')'", 9),
    ("price 1", "unexpected '1'", 6),
    ("a < b < c", "comparisons cannot be chained", 6),
    ("a = b = c", "comparisons cannot be chained", 6),
    ("x BETWEEN 1 OR 2", "expected AND but found 'OR'", 12),
    ("x IN ()", "unexpected ')'", 6),
    ("x IN 1", "expected '(' but found '1'", 5),
    ("x IS 1", "expected NULL but found '1'", 5),
    ("x IS TRUE", "IS TRUE is not supported", 5),
    ("x NOT 1", "unexpected 'NOT'", 2),
    ("CASE x END", "expected WHEN but found 'END'", 7),
    ("CASE WHEN x THEN 1", "expected END but found end of condition", 18),
    ("CAST(x AS blob) = 1", "unknown CAST type 'blob'", 10),
    ("CAST(x) = 1", "expected AS but found ')'", 6),
    ("s LIKE 'a' ESCAPE '!'", "ESCAPE is not supported", 11),
    ("s LIKE 'a\\\\'", "bad LIKE pattern", 7),
    ("a.b.c = 1", "names with more than one '.'", 3),
    ("A.* = 1", "'A.*' is only allowed in COUNT(A.*)", 0),
    ("AND x", "unexpected 'AND'", 0),
    ("x = 1 AND", "unexpected end of condition", 9),
    ("x = #1", "unexpected character '#'", 4),
    ('x = ""', "empty quoted name", 4),
]


@pytest.mark.parametrize(("text", "message", "position"), SYNTAX, ids=[s[0] or "<empty>" for s in SYNTAX])
def test_syntax_errors_name_the_token_and_position(text: str, message: str, position: int) -> None:
    error = rejection(text, features=ALL)
    assert message in str(error)
    assert error.position == position


# -- bad literals ------------------------------------------------------------------------------

BAD_LITERALS: list[tuple[str, str, int]] = [
    ("x > 1abc", "bad number literal '1abc'", 4),
    ("x > 1e", "bad number literal '1e'", 4),
    ("x > 9223372036854775808", "out of range for BIGINT", 4),
    ("x > 1e999", "number literal '1e999' is out of range", 4),
    ("d > INTERVAL 'soon' MINUTE", "bad INTERVAL value ''soon''", 13),
    ("d > INTERVAL '5' FORTNIGHT", "unknown INTERVAL unit 'FORTNIGHT'", 17),
    ("d > INTERVAL '0.0000001' SECOND", "bad INTERVAL value", 13),
    ("ts > TIMESTAMP '2024-13-01'", "bad TIMESTAMP literal ''2024-13-01''", 15),
]


@pytest.mark.parametrize(("text", "message", "position"), BAD_LITERALS, ids=[b[0] for b in BAD_LITERALS])
def test_bad_literals_are_rejected(text: str, message: str, position: int) -> None:
    error = rejection(text)
    assert message in str(error)
    assert error.position == position


# -- functions, arity, nesting of row pattern functions ---------------------------------------

CALLS: list[tuple[str, str, int]] = [
    ("abs(x, 1) > 0", "abs() takes 1 argument, got 2", 0),
    ("round() > 0", "round() takes 1 to 2 arguments, got 0", 0),
    ("round(x, 1.5) > 0", "round() must be a non-negative integer", 9),
    ("round(x, y) > 0", "round() must be a non-negative integer", 9),
    ("greatest(x) > 0", "greatest() takes at least 2 arguments, got 1", 0),
    ("power(x) > 0", "power() takes 2 arguments, got 1", 0),
    ("MAX(a, b) > 0", "for the larger of several values use greatest(a, b)", 5),
    ("SUM(*) > 0", "only COUNT accepts '*', not SUM", 4),
    ("COUNT(DISTINCT x) > 0", "COUNT(DISTINCT ...) is not supported", 6),
    ("SUM(SUM(x)) > 0", "aggregate SUM cannot be nested inside SUM", 4),
    ("AVG(A.x + COUNT(*)) > 0", "aggregate COUNT cannot be nested inside AVG", 10),
    ("PREV(SUM(x)) > 0", "SUM cannot be used inside PREV", 5),
    ("SUM(PREV(x)) > 0", "PREV cannot be used inside SUM", 4),
    ("FIRST(PREV(x)) > 0", "PREV cannot be used inside FIRST", 6),
    ("LAST(FIRST(A.x)) > 0", "FIRST cannot be used inside LAST", 5),
    ("PREV(NEXT(x)) > 0", "NEXT cannot be nested inside PREV", 5),
    ("PREV(x, -1) > 0", "the offset of PREV must be a non-negative integer literal", 8),
    ("PREV(x, 1.5) > 0", "the offset of PREV must be a non-negative integer literal", 8),
    ("PREV(1) > 0", "PREV needs a column to navigate", 5),
    ("PREV(A.x - B.x) > 0", "all columns inside PREV must refer to the same variable, found A, B", 0),
    ("SUM(A.x * x) > 0", "all columns inside SUM must refer to the same variable", 0),
    ("FINAL LAST(A.x) > 0", "FINAL is not allowed in a condition", 0),
]


@pytest.mark.parametrize(("text", "message", "position"), CALLS, ids=[c[0] for c in CALLS])
def test_calls_are_checked(text: str, message: str, position: int) -> None:
    error = rejection(text, features=ALL)
    assert message in str(error)
    assert error.position == position


# -- features, columns and variables -----------------------------------------------------------

FEATURES: list[tuple[str, str, int]] = [
    ("price > PREV(price)", "PREV is not allowed in this condition", 8),
    ("price > lag(price)", "LAG is not allowed in this condition", 8),
    ("price > FIRST(price)", "FIRST is not allowed in this condition", 8),
    ("A.price > 1", "variable reference 'A.price' is not allowed in this condition", 0),
    ("SUM(price) > 1", "SUM is not allowed in this condition", 0),
    ("count(*) > 1", "COUNT is not allowed in this condition", 0),
    ("CLASSIFIER() = 'A'", "CLASSIFIER is not allowed in this condition", 0),
    ("MATCH_NUMBER() = 1", "MATCH_NUMBER is not allowed in this condition", 0),
]


@pytest.mark.parametrize(("text", "message", "position"), FEATURES, ids=[f[0] for f in FEATURES])
def test_features_are_off_by_default(text: str, message: str, position: int) -> None:
    error = rejection(text)
    assert message in str(error)
    assert error.position == position


def test_each_feature_switches_on_alone() -> None:
    assert parse_condition("price > PREV(price)", features=Features(navigation=True))
    assert parse_condition("A.price > 1", features=Features(var_refs=True))
    assert parse_condition("SUM(price) > 1", features=Features(aggregates=True))
    assert parse_condition("CLASSIFIER() = 'A'", features=Features(classifier=True))
    error = rejection("COUNT(A.*) > 1", features=Features(aggregates=True))
    assert "COUNT(A.*) is not allowed in this condition" in str(error)


def test_unknown_columns_are_named_with_a_suggestion() -> None:
    error = rejection("amount > 1 AND pricee > 2", columns=["amount", "price"])
    assert "unknown column 'pricee'" in str(error)
    assert "did you mean 'price'?" in str(error)
    assert error.position == 15
    error = rejection("Amount > 1", columns=["amount", "price"])
    assert "did you mean 'amount'?" in str(error)
    error = rejection("zzz > 1", columns=["amount", "price"])
    assert "known columns: amount, price" in str(error)
    error = rejection("A.qty > 1", columns=["price"], features=ALL)
    assert "unknown column 'qty'" in str(error)
    assert error.position == 2


def test_unknown_variables_are_named() -> None:
    error = rejection("X.price > 1", features=ALL, variables=["A", "B"])
    assert "unknown variable 'X'" in str(error)
    assert "known variables: A, B" in str(error)
    assert error.position == 0
    error = rejection("COUNT(C.*) > 1", features=ALL, variables=["A"])
    assert "unknown variable 'C'" in str(error)
    assert error.position == 6
    error = rejection("CLASSIFIER(U) = 'A'", features=ALL, variables=["A"])
    assert error.position == 11
    assert parse_condition("a.price > 1", features=ALL, variables=["A"], case_insensitive_vars=True)


# -- boolean-ness --------------------------------------------------------------------------------

NOT_BOOLEAN: list[tuple[str, str, int]] = [
    ("42", "the condition is a number, not TRUE or FALSE", 0),
    ("'yes'", "the condition is a string, not TRUE or FALSE", 0),
    (" price + 1", "the condition is a number, not TRUE or FALSE", 1),
    ("a - b", "the condition is a value, not TRUE or FALSE", 0),
    ("INTERVAL '5' MINUTE", "the condition is an interval", 0),
    ("lower(s)", "the condition is a string", 0),
    ("price > 1 AND 5", "the right side of AND ('5') is a number", 14),
    ("price * 2 OR x", "the left side of OR ('price * 2') is a number", 0),
    ("NOT price + 1", "the operand of NOT ('price + 1') is a number", 4),
    ("CASE WHEN 1 THEN TRUE END", "the WHEN condition ('1') is a number", 10),
]


@pytest.mark.parametrize(("text", "message", "position"), NOT_BOOLEAN, ids=[n[0] for n in NOT_BOOLEAN])
def test_conditions_must_be_boolean(text: str, message: str, position: int) -> None:
    error = rejection(text)
    assert message in str(error)
    assert error.position == position


def test_unknown_types_pass_as_conditions() -> None:
    assert parse_condition("flag") == Col("flag")
    assert parse_condition("NULL") == Lit(None)
    assert parse_condition("coalesce(flag, FALSE)")
    assert parse_expression("price + 1")


# -- limits ------------------------------------------------------------------------------------


def test_over_long_text_is_rejected() -> None:
    longest = "x = '" + "a" * (MAX_LENGTH - 6) + "'"
    assert len(longest) == MAX_LENGTH
    assert parse_condition(longest)
    error = rejection(longest + " ")
    assert f"condition is too long ({MAX_LENGTH + 1:,} characters; the limit is {MAX_LENGTH:,})" in str(error)
    assert error.position == MAX_LENGTH


DEEP: list[tuple[str, int]] = [
    ("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1) + " > 1", MAX_DEPTH),
    ("(" * 9000 + "x", MAX_DEPTH),
    ("NOT " * 2000 + "x", 4 * MAX_DEPTH),
    ("- " * 3000 + "1 > 0", 2 * MAX_DEPTH),
    ("abs(" * 1000 + "x" + ")" * 1000 + " > 0", 4 * MAX_DEPTH),
    (" AND ".join(["x = 1"] * 200), 986),
    ("x" + " + x" * 150 + " > 0", 398),
]


@pytest.mark.parametrize(("text", "position"), DEEP, ids=["parens", "open parens", "NOT", "minus",
                                                         "calls", "AND chain", "sum chain"])  # fmt: skip
def test_excessive_nesting_is_rejected_without_recursion_error(text: str, position: int) -> None:
    error = rejection(text)
    assert "expression is nested too deeply" in str(error)
    assert f"the limit is {MAX_DEPTH} levels" in str(error)
    assert error.position == position


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_condition("(" * 90 + "x" + ")" * 90 + " > 1")
    assert parse_condition(" AND ".join(["x = 1"] * 90))
