"""Parsing, validation helpers and Spark SQL rendering of the condition language (cep.expr)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.errors import ExpressionError, UnsupportedFeature
from cep.expr import (
    Agg,
    Between,
    Binary,
    Case,
    Cast,
    Classifier,
    Col,
    Expr,
    Features,
    Func,
    InList,
    IsNull,
    Like,
    Lit,
    MatchNumber,
    Nav,
    Unary,
    is_row_local,
    parse_condition,
    parse_expression,
    referenced_columns,
    referenced_variables,
    to_sql,
    walk,
)

ALL = Features(navigation=True, var_refs=True, aggregates=True, classifier=True)
price, qty = Col("price"), Col("qty")


def lit(v: object) -> Lit:
    return Lit(v)  # type: ignore[arg-type]


# -- parsing every construct ------------------------------------------------------------------

PARSED: list[tuple[str, Expr]] = [
    ("price > 100", Binary(">", price, lit(100))),
    ("price >= 1.5", Binary(">=", price, lit(1.5))),
    ("price < 1e3", Binary("<", price, lit(1000.0))),
    ("price <= .5", Binary("<=", price, lit(0.5))),
    ("price == 1", Binary("=", price, lit(1))),
    ("price != 1", Binary("<>", price, lit(1))),
    ("price <> -1", Binary("<>", price, lit(-1))),
    ("name = 'it''s'", Binary("=", Col("name"), lit("it's"))),
    ("name = 'it\\'s \\\\ \\n'", Binary("=", Col("name"), lit("it's \\ \\n"))),
    ("flag = TRUE OR flag = false", Binary("OR", Binary("=", Col("flag"), lit(True)),
                                          Binary("=", Col("flag"), lit(False)))),
    ("x IS NULL", IsNull(Col("x"))),
    ("x is not null", IsNull(Col("x"), negated=True)),
    ("a AND b OR c", Binary("OR", Binary("AND", Col("a"), Col("b")), Col("c"))),
    ("a OR b AND c", Binary("OR", Col("a"), Binary("AND", Col("b"), Col("c")))),
    ("NOT a AND b", Binary("AND", Unary("NOT", Col("a")), Col("b"))),
    ("NOT price > 1", Unary("NOT", Binary(">", price, lit(1)))),
    ("price + qty * 2 > 1", Binary(">", Binary("+", price, Binary("*", qty, lit(2))), lit(1))),
    ("(price + qty) * 2 > 1", Binary(">", Binary("*", Binary("+", price, qty), lit(2)), lit(1))),
    ("price - qty - 1 > 0", Binary(">", Binary("-", Binary("-", price, qty), lit(1)), lit(0))),
    ("price / 2 % 3 = 1", Binary("=", Binary("%", Binary("/", price, lit(2)), lit(3)), lit(1))),
    ("-price < +qty", Binary("<", Unary("-", price), Unary("+", qty))),
    ("a || 'x' = 'bx'", Binary("=", Binary("||", Col("a"), lit("x")), lit("bx"))),
    ("x IN (1, 2, NULL)", InList(Col("x"), (lit(1), lit(2), lit(None)))),
    ("x NOT IN ('a')", InList(Col("x"), (lit("a"),), negated=True)),
    ("x BETWEEN 1 AND 2", Between(Col("x"), lit(1), lit(2))),
    ("x NOT BETWEEN 1 AND 2 AND y", Binary("AND", Between(Col("x"), lit(1), lit(2), True),
                                          Col("y"))),
    ("s LIKE 'a%'", Like(Col("s"), lit("a%"))),
    ("s NOT LIKE '_b'", Like(Col("s"), lit("_b"), negated=True)),
    ("s ILIKE 'A%'", Like(Col("s"), lit("A%"), case_insensitive=True)),
    ("s NOT ILIKE 'A\\%'", Like(Col("s"), lit("A\\%"), True, True)),
    ("CASE WHEN x > 1 THEN TRUE ELSE FALSE END",
     Case(None, ((Binary(">", Col("x"), lit(1)), lit(True)),), lit(False))),
    ("CASE x WHEN 1 THEN 'a' WHEN 2 THEN 'b' END = 'a'",
     Binary("=", Case(Col("x"), ((lit(1), lit("a")), (lit(2), lit("b")))), lit("a"))),
    ("CAST(x AS INT) = 1", Binary("=", Cast(Col("x"), "BIGINT"), lit(1))),
    ("CAST(x AS decimal(10, 2)) = 1", Binary("=", Cast(Col("x"), "DOUBLE"), lit(1))),
    ("CAST(x AS varchar(3)) = '1'", Binary("=", Cast(Col("x"), "STRING"), lit("1"))),
    ("CAST(x AS BOOLEAN)", Cast(Col("x"), "BOOLEAN")),
    ("CAST(x AS TIMESTAMP) IS NULL", IsNull(Cast(Col("x"), "TIMESTAMP"))),
    ("ts > TIMESTAMP '2024-01-01 00:00:00'",
     Binary(">", Col("ts"), lit(datetime(2024, 1, 1, tzinfo=UTC)))),
    ("ts > TIMESTAMP '2024-01-01T02:00:00+02:00'",
     Binary(">", Col("ts"), lit(datetime(2024, 1, 1, tzinfo=UTC)))),
    ("d > INTERVAL '5' MINUTE", Binary(">", Col("d"), lit(timedelta(minutes=5)))),
    ("d > interval '1.5' second", Binary(">", Col("d"), lit(timedelta(seconds=1.5)))),
    ("d > INTERVAL 2 HOURS", Binary(">", Col("d"), lit(timedelta(hours=2)))),
    ("d < INTERVAL '-1' DAY", Binary("<", Col("d"), lit(timedelta(days=-1)))),
    ('"My Col" > 1', Binary(">", Col("My Col"), lit(1))),
    ("`we``ird` > 1", Binary(">", Col("we`ird"), lit(1))),
    ('"select" > 1', Binary(">", Col("select"), lit(1))),
    ("Price > 1", Binary(">", Col("Price"), lit(1))),
    ("abs(x) > 1", Binary(">", Func("abs", (Col("x"),)), lit(1))),
    ("ROUND(x, 2) > 1", Binary(">", Func("round", (Col("x"), lit(2))), lit(1))),
    ("ceiling(x) > pow(x, 2)", Binary(">", Func("ceil", (Col("x"),)),
                                      Func("power", (Col("x"), lit(2))))),
    ("substr(s, 2) = 'b'", Binary("=", Func("substring", (Col("s"), lit(2))), lit("b"))),
    ("coalesce(a, b, 0) > 0", Binary(">", Func("coalesce", (Col("a"), Col("b"), lit(0))), lit(0))),
    ("greatest(a, b) > least(a, b, 1)", Binary(">", Func("greatest", (Col("a"), Col("b"))),
                                                Func("least", (Col("a"), Col("b"), lit(1))))),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PARSED, ids=[t for t, _ in PARSED])
def test_parse_condition_builds_the_ast(text: str, expected: Expr) -> None:
    assert parse_condition(text) == expected


MATCH_RECOGNIZE: list[tuple[str, Expr]] = [
    ("price < PREV(price)", Binary("<", price, Nav("PREV", price, 1))),
    ("price < PREV(price, 2)", Binary("<", price, Nav("PREV", price, 2))),
    ("price < LAG(price)", Binary("<", price, Nav("PREV", price, 1))),
    ("price < LEAD(price, 3)", Binary("<", price, Nav("NEXT", price, 3))),
    ("price > NEXT(price, 0)", Binary(">", price, Nav("NEXT", price, 0))),
    ("price > FIRST(A.price)", Binary(">", price, Nav("FIRST", Col("price", "A"), 0))),
    ("price > LAST(A.price, 1)", Binary(">", price, Nav("LAST", Col("price", "A"), 1))),
    ("PREV(LAST(A.price, 1), 2) > 0", Binary(">", Nav("PREV", Nav("LAST", Col("price", "A"), 1), 2),
                                            lit(0))),
    ("B.price > A.price", Binary(">", Col("price", "B"), Col("price", "A"))),
    ('"b"."my col" > 1', Binary(">", Col("my col", "b"), lit(1))),
    ("AVG(A.price) < 15", Binary("<", Agg("AVG", Col("price", "A")), lit(15))),
    ("SUM(price) - price <= 3", Binary("<=", Binary("-", Agg("SUM", price), price), lit(3))),
    ("COUNT(*) > 2", Binary(">", Agg("COUNT"), lit(2))),
    ("COUNT(A.*) > 2", Binary(">", Agg("COUNT", None, "A"), lit(2))),
    ("MIN(A.price) = MAX(A.price)", Binary("=", Agg("MIN", Col("price", "A")),
                                          Agg("MAX", Col("price", "A")))),
    ("RUNNING LAST(A.price) > 1", Binary(">", Nav("LAST", Col("price", "A")), lit(1))),
    ("CLASSIFIER() = 'A'", Binary("=", Classifier(), lit("A"))),
    ("CLASSIFIER(U) = 'A'", Binary("=", Classifier("U"), lit("A"))),
    ("PREV(CLASSIFIER()) = 'A'", Binary("=", Nav("PREV", Classifier()), lit("A"))),
    ("MATCH_NUMBER() > 1", Binary(">", MatchNumber(), lit(1))),
    ("prev > 1 AND first = 2", Binary("AND", Binary(">", Col("prev"), lit(1)),
                                     Binary("=", Col("first"), lit(2)))),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), MATCH_RECOGNIZE, ids=[t for t, _ in MATCH_RECOGNIZE])
def test_parse_condition_reads_row_pattern_functions(text: str, expected: Expr) -> None:
    assert parse_condition(text, features=ALL) == expected


def test_parse_expression_accepts_non_boolean_values_and_final() -> None:
    assert parse_expression("price * 2") == Binary("*", price, lit(2))
    assert parse_expression("'x'") == lit("x")
    assert parse_expression("FINAL LAST(B.price)", features=ALL) == Nav(
        "LAST", Col("price", "B"), 0, "FINAL"
    )
    assert parse_expression("final count(B.*)", features=ALL) == Agg("COUNT", None, "B", "FINAL")


def test_nav_offset_defaults_depend_on_the_function() -> None:
    assert Nav("PREV", price).offset == 1
    assert Nav("NEXT", price).offset == 1
    assert Nav("FIRST", price).offset == 0
    assert Nav("LAST", price).offset == 0
    with pytest.raises(ValueError, match="offset"):
        Nav("PREV", price, -3)


def test_keywords_are_case_insensitive_and_names_keep_their_case() -> None:
    assert parse_condition("Amount between 1 and 2 OR Amount is null") == Binary(
        "OR", Between(Col("Amount"), lit(1), lit(2)), IsNull(Col("Amount"))
    )
    assert parse_condition("a.Price > 1", features=ALL) == Binary(">", Col("Price", "a"), lit(1))


def test_integer_literal_range_is_bigint() -> None:
    assert parse_condition("x > -9223372036854775808") == Binary(">", Col("x"), lit(-(2**63)))
    with pytest.raises(ExpressionError, match="out of range"):
        parse_condition("x > 9223372036854775808")


def test_columns_and_variables_are_checked_when_given() -> None:
    assert parse_condition("A.price > price", features=ALL, variables=["A"], columns=["price"])
    assert parse_condition("a.price > 1", features=ALL, variables=["A"], case_insensitive_vars=True)
    with pytest.raises(ExpressionError, match="unknown variable 'a'"):
        parse_condition("a.price > 1", features=ALL, variables=["A"])


# -- helpers ----------------------------------------------------------------------------------


def test_referenced_columns_ignore_qualifiers() -> None:
    e = parse_condition("A.price > PREV(price) AND qty IN (x, 1) OR COUNT(*) > 0", features=ALL)
    assert referenced_columns(e) == {"price", "qty", "x"}


def test_referenced_variables_include_star_counts_and_classifier() -> None:
    e = parse_condition(
        "A.price > 1 AND COUNT(B.*) > 0 AND CLASSIFIER(U) = 'A' AND SUM(C.x) > 0", features=ALL
    )
    assert referenced_variables(e) == {"A", "B", "U", "C"}


def test_walk_visits_parents_before_children_left_to_right() -> None:
    e = parse_condition("a + b > c")
    assert [type(n).__name__ for n in walk(e)] == ["Binary", "Binary", "Col", "Col", "Col"]
    assert [n.name for n in walk(e) if isinstance(n, Col)] == ["a", "b", "c"]


ROW_LOCAL = [
    ("price > PREV(price) AND NEXT(price, 2) IS NULL", None, True),
    ("A.price > PREV(A.price)", "A", True),
    ("a.price > 1", "A", False),
    ("B.price > 1", "A", False),
    ("price > FIRST(price)", None, False),
    ("COUNT(*) > 1", None, False),
    ("CLASSIFIER() = 'A'", None, False),
    ("MATCH_NUMBER() = 1", None, False),
]


@pytest.mark.parametrize(("text", "row_var", "expected"), ROW_LOCAL, ids=[r[0] for r in ROW_LOCAL])
def test_is_row_local(text: str, row_var: str | None, expected: bool) -> None:
    assert is_row_local(parse_condition(text, features=ALL), row_var) is expected


def test_is_row_local_can_ignore_variable_case() -> None:
    e = parse_condition("a.price > 1", features=ALL)
    assert is_row_local(e, "A", case_insensitive_vars=True)


# -- Spark SQL --------------------------------------------------------------------------------

RENDERED = [
    ("price>100", "price > 100"),
    ("a = 1 or b = 2 and c = 3", "a = 1 OR b = 2 AND c = 3"),
    ("(a = 1 or b = 2) and c = 3", "(a = 1 OR b = 2) AND c = 3"),
    ("not (a and b)", "NOT (a AND b)"),
    ("a - (b - c) > 0", "a - (b - c) > 0"),
    ("(a - b) - c > 0", "a - b - c > 0"),
    ("-(a * b) > - - c", "-(a * b) > -(-c)"),
    ("x = -(5)", "x = -(5)"),
    ("x = - 5", "x = -5"),
    ("x == 1 and y != 2", "x = 1 AND y <> 2"),
    ('`order` > 1 and "my col" > 2 and `é` > 3', "`order` > 1 AND `my col` > 2 AND `é` > 3"),
    ('"a`b" > 1', "`a``b` > 1"),
    ("s = 'it''s \\\\'", "s = 'it\\'s \\\\'"),
    ("d > interval '300' second", "d > INTERVAL '5' MINUTE"),
    ("d > interval '90' minute", "d > INTERVAL '90' MINUTE"),
    ("d > interval '1.25' second", "d > INTERVAL '1.25' SECOND"),
    ("d > interval '48' hour", "d > INTERVAL '2' DAY"),
    ("ts > timestamp '2024-01-02'", "ts > TIMESTAMP '2024-01-02 00:00:00+00:00'"),
    ("x in (1,2) and y not between 1 and 3", "x IN (1, 2) AND y NOT BETWEEN 1 AND 3"),
    ("s not ilike 'a%'", "s NOT ILIKE 'a%'"),
    ("(a = b) is null", "(a = b) IS NULL"),
    ("(a = b) = (c = d)", "(a = b) = (c = d)"),
    ("case when a then 1 end > 0", "CASE WHEN a THEN 1 END > 0"),
    ("cast(x as integer) > substr(s, 1)", "CAST(x AS BIGINT) > substring(s, 1)"),
    ("a || b || c = 'x'", "a || b || c = 'x'"),
    ("a || (b + c) = 'x'", "a || (b + c) = 'x'"),
]


@pytest.mark.parametrize(("text", "sql"), RENDERED, ids=[r[0] for r in RENDERED])
def test_to_sql_renders_spark_sql(text: str, sql: str) -> None:
    e = parse_condition(text)
    assert to_sql(e) == sql
    assert parse_condition(sql) == e


def test_to_sql_renders_row_pattern_functions() -> None:
    text = (
        "price < PREV(price) AND LAG(price, 2) > 0 AND LAST(A.price, 1) > FIRST(A.price) "
        "AND COUNT(*) > COUNT(A.*) AND CLASSIFIER() = 'A' AND MATCH_NUMBER() = 1"
    )
    assert to_sql(parse_condition(text, features=ALL)) == (
        "price < PREV(price) AND PREV(price, 2) > 0 AND LAST(A.price, 1) > FIRST(A.price) "
        "AND COUNT(*) > COUNT(A.*) AND CLASSIFIER() = 'A' AND MATCH_NUMBER() = 1"
    )
    final = parse_expression("FINAL SUM(A.x) + RUNNING LAST(A.x)", features=ALL)
    assert to_sql(final) == "FINAL SUM(A.x) + LAST(A.x)"


def test_to_sql_refuses_non_finite_numbers() -> None:
    with pytest.raises(UnsupportedFeature, match="inf"):
        to_sql(Binary(">", price, lit(float("inf"))))


# -- round trip: parse_expression(to_sql(e)) == e -------------------------------------------

names = st.one_of(
    st.sampled_from(["price", "qty", "ts", "Order", "select", "IN", "__x", "a b", "é", "x`y"]),
    st.text(min_size=1, max_size=6),
)
var_names = st.sampled_from(["A", "b", "My Var", "NULL", "`"])
literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.timedeltas(),
    st.datetimes(timezones=st.just(UTC)),
).map(lit)
like_patterns = st.lists(
    st.sampled_from(["a", "%", "_", "\\%", "\\_", "\\\\", "'", "x"]), max_size=5
)


def columns_of(var: str | None) -> st.SearchStrategy[Expr]:
    """Arithmetic over columns of one variable (what navigation and aggregates accept)."""
    leaf = names.map(lambda n: Col(n, var))
    return st.recursive(
        leaf,
        lambda inner: st.builds(Binary, st.sampled_from(["+", "-", "*"]), inner, leaf),
        max_leaves=3,
    )


optional_var = st.one_of(st.none(), var_names)
navigation = st.builds(
    Nav,
    st.sampled_from(["PREV", "NEXT", "FIRST", "LAST"]),
    optional_var.flatmap(columns_of),
    st.integers(0, 5),
    st.sampled_from(["RUNNING", "FINAL"]),
)
prev_of_last = st.builds(
    Nav,
    st.sampled_from(["PREV", "NEXT"]),
    st.builds(Nav, st.sampled_from(["FIRST", "LAST"]), optional_var.flatmap(columns_of)),
    st.integers(0, 3),
)
aggregates = st.one_of(
    st.builds(
        Agg,
        st.sampled_from(["SUM", "AVG", "COUNT", "MIN", "MAX"]),
        optional_var.flatmap(columns_of),
        st.none(),
        st.sampled_from(["RUNNING", "FINAL"]),
    ),
    st.builds(Agg, st.just("COUNT"), st.none(), optional_var),
)
leaves = st.one_of(
    literals,
    st.builds(Col, names, optional_var),
    navigation,
    prev_of_last,
    aggregates,
    st.builds(Classifier, optional_var),
    st.just(MatchNumber()),
)
comparison_ops = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
value_ops = st.sampled_from(["+", "-", "*", "/", "%", "||"])
cast_targets = st.sampled_from(["BIGINT", "DOUBLE", "STRING", "BOOLEAN", "TIMESTAMP"])

# Conditions go where the parser requires TRUE/FALSE (AND, OR, NOT, searched WHEN).
conditions: st.SearchStrategy[Expr] = st.deferred(
    lambda: st.one_of(
        st.builds(Col, names),
        st.sampled_from([lit(True), lit(False), lit(None)]),
        st.builds(Binary, comparison_ops, values, values),
        st.builds(IsNull, values, st.booleans()),
        st.builds(Binary, st.sampled_from(["AND", "OR"]), conditions, conditions),
        st.builds(Unary, st.just("NOT"), conditions),
    )
)
values: st.SearchStrategy[Expr] = st.deferred(
    lambda: st.one_of(
        leaves,
        conditions,
        st.builds(Binary, value_ops, values, values),
        st.builds(Unary, st.sampled_from(["-", "+"]), values),
        st.builds(
            InList, values, st.lists(values, min_size=1, max_size=3).map(tuple), st.booleans()
        ),
        st.builds(Between, values, values, values, st.booleans()),
        st.builds(Like, values, like_patterns.map("".join).map(lit), st.booleans(), st.booleans()),
        st.builds(
            Case,
            st.none(),
            st.lists(st.tuples(conditions, values), min_size=1, max_size=2).map(tuple),
            st.one_of(st.none(), values),
        ),
        st.builds(
            Case,
            values,
            st.lists(st.tuples(values, values), min_size=1, max_size=2).map(tuple),
            st.one_of(st.none(), values),
        ),
        st.builds(Cast, values, cast_targets),
        st.builds(Func, st.sampled_from(["abs", "lower", "sqrt"]), st.tuples(values)),
        st.builds(Func, st.sampled_from(["power", "nullif", "mod"]), st.tuples(values, values)),
        st.builds(
            Func,
            st.sampled_from(["coalesce", "concat", "greatest"]),
            st.lists(values, min_size=2, max_size=3).map(tuple),
        ),
        st.builds(lambda x, d: Func("round", (x, lit(d))), values, st.integers(0, 4)),
        st.builds(Func, st.just("substring"), st.tuples(values, values, values)),
    )
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_to_sql_round_trips_through_the_parser(e: Expr) -> None:
    sql = to_sql(e)
    assert parse_expression(sql, features=ALL) == e
    assert to_sql(parse_expression(sql, features=ALL)) == sql


@settings(max_examples=100, deadline=None)
@given(literals)
def test_literals_round_trip_with_their_type(e: Lit) -> None:
    back = parse_expression(to_sql(e))
    assert isinstance(back, Lit)
    assert type(back.value) is type(e.value)
    assert back.value == e.value
