"""Compiling conditions to Polars (to_polars) and evaluating them in Python (eval_row)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cep.errors import EventDataError, ExpressionError, UnsupportedFeature
from cep.expr import (
    Between,
    Binary,
    Case,
    Cast,
    Col,
    Expr,
    Features,
    Func,
    InList,
    IsNull,
    Like,
    Lit,
    Nav,
    Unary,
    eval_row,
    parse_condition,
    parse_expression,
    to_polars,
    to_sql,
    walk,
)

NAV = Features(navigation=True, var_refs=True)
ALL = Features(navigation=True, var_refs=True, aggregates=True, classifier=True)

FRAME = pl.DataFrame(
    {
        "a": [1, 2, None, 4],
        "b": [10.0, 0.0, 5.0, None],
        "s": ["apple", "a.b", None, "50%_off"],
        "f": [True, False, None, True],
    }
)


def evaluate(text: str, frame: pl.DataFrame = FRAME, **kwargs: Any) -> list[Any]:
    """Compile ``text`` and return its values over ``frame``, one per row."""
    e = parse_expression(text, features=ALL)
    return frame.with_columns(result=to_polars(e, **kwargs))["result"].to_list()


def evaluate_rows(text: str, frame: pl.DataFrame = FRAME) -> list[Any]:
    e = parse_expression(text, features=ALL)
    return [eval_row(e, row) for row in frame.iter_rows(named=True)]


# -- values on a small frame with NULLs -----------------------------------------------------

EXPECTED: list[tuple[str, list[Any]]] = [
    ("a > 1", [False, True, None, True]),
    ("a + b", [11.0, 2.0, None, None]),
    ("b / a", [10.0, 0.0, None, None]),
    ("a / b", [0.1, None, None, None]),
    ("a % 0", [None, None, None, None]),
    ("-7 % a", [0, -1, None, -3]),
    ("mod(a + 6, -4)", [3, 0, None, 2]),
    ("-a", [-1, -2, None, -4]),
    ("a || s", ["1apple", "2a.b", None, "450%_off"]),
    ("concat(s, '!')", ["apple!", "a.b!", None, "50%_off!"]),
    ("a IN (1, 4)", [True, False, None, True]),
    ("a IN (1, NULL)", [True, None, None, None]),
    ("a NOT IN (1, NULL)", [False, None, None, None]),
    ("a NOT IN (1, 4)", [False, True, None, False]),
    ("a BETWEEN 2 AND 4", [False, True, None, True]),
    ("a NOT BETWEEN 2 AND 4", [True, False, None, False]),
    ("a BETWEEN NULL AND 1", [None, False, None, False]),
    ("s IS NULL", [False, False, True, False]),
    ("b IS NOT NULL", [True, True, True, False]),
    ("s LIKE 'a%'", [True, True, None, False]),
    ("s LIKE '%e'", [True, False, None, False]),
    ("s LIKE '%.%'", [False, True, None, False]),
    ("s LIKE 'a.b'", [False, True, None, False]),
    ("s LIKE 'a_b'", [False, True, None, False]),
    ("s LIKE '%'", [True, True, None, True]),
    ("s LIKE 'a%e'", [True, False, None, False]),
    ("s LIKE '50\\%\\_%'", [False, False, None, True]),
    ("s LIKE '%\\_o%'", [False, False, None, True]),
    ("s NOT LIKE 'a%'", [False, False, None, True]),
    ("s ILIKE 'APP%'", [True, False, None, False]),
    ("s ILIKE 'A.B'", [False, True, None, False]),
    ("s NOT ILIKE '%P%'", [False, True, None, True]),
    ("CASE WHEN a > 1 THEN 'big' WHEN a = 1 THEN 'one' END", ["one", "big", None, "big"]),
    ("CASE a WHEN 1 THEN 'one' ELSE 'other' END", ["one", "other", "other", "other"]),
    ("CASE WHEN f THEN 1 ELSE 0 END", [1, 0, 0, 1]),
    ("CAST(b AS BIGINT)", [10, 0, 5, None]),
    ("CAST(a AS DOUBLE)", [1.0, 2.0, None, 4.0]),
    ("CAST(a AS STRING)", ["1", "2", None, "4"]),
    ("CAST(b AS BOOLEAN)", [True, False, True, None]),
    ("CAST('yes' AS BOOLEAN) AND CAST(' False ' AS BOOLEAN) IS NOT NULL", [True] * 4),
    ("CAST(s AS BOOLEAN)", [None, None, None, None]),
    ("CAST(f AS BOOLEAN)", [True, False, None, True]),
    ("CAST(CASE WHEN a > 1 THEN 'Yes' ELSE '0' END AS BOOLEAN)", [False, True, False, True]),
    ("CAST(0 AS TIMESTAMP)", [datetime(1970, 1, 1, tzinfo=UTC)] * 4),
    ("abs(-a)", [1, 2, None, 4]),
    ("round(b / 4)", [3.0, 0.0, 1.0, None]),
    ("round(2.675, 2) + round(-2.5)", [-0.32, -0.32, -0.32, -0.32]),
    ("floor(b / 4) + ceil(b / 4)", [5.0, 0.0, 3.0, None]),
    ("sqrt(b)", [math.sqrt(10.0), 0.0, math.sqrt(5.0), None]),
    ("ln(b) IS NULL", [False, True, False, True]),
    ("log10(100) + exp(0)", [3.0, 3.0, 3.0, 3.0]),
    ("power(a, 2)", [1.0, 4.0, None, 16.0]),
    ("sign(b - 5)", [1.0, -1.0, 0.0, None]),
    ("upper(s) || lower('X')", ["APPLEx", "A.Bx", None, "50%_OFFx"]),
    ("length(s)", [5, 3, None, 7]),
    ("trim('  x ') || ltrim(' y') || rtrim('z ')", ["xyz"] * 4),
    ("substring(s, 2, 3)", ["ppl", ".b", None, "0%_"]),
    ("substring(s, -3)", ["ple", "a.b", None, "off"]),
    ("substr(s, 0, 2)", ["ap", "a.", None, "50"]),
    ("substring(s, 10)", ["", "", None, ""]),
    ("replace(s, 'p', 'P')", ["aPPle", "a.b", None, "50%_off"]),
    ("replace(s, '.')", ["apple", "ab", None, "50%_off"]),
    ("coalesce(a, b, -1)", [1.0, 2.0, 5.0, 4.0]),
    ("nullif(a, 2)", [1, None, None, 4]),
    ("greatest(a, b)", [10.0, 2.0, 5.0, 4.0]),
    ("least(a, b, 3)", [1.0, 0.0, 3.0, 3.0]),
    ("NULL + 1", [None] * 4),
    ("abs(NULL)", [None] * 4),
    ("lower(NULL) IS NULL", [True] * 4),
]


@pytest.mark.parametrize(("text", "expected"), EXPECTED, ids=[t for t, _ in EXPECTED])
def test_to_polars_gives_sql_values(text: str, expected: list[Any]) -> None:
    assert evaluate(text) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "expected"), EXPECTED, ids=[t for t, _ in EXPECTED])
def test_eval_row_gives_the_same_values(text: str, expected: list[Any]) -> None:
    assert evaluate_rows(text) == pytest.approx(expected)


# -- three-valued logic ------------------------------------------------------------------------

KLEENE = [
    ("NULL AND FALSE", False),
    ("FALSE AND NULL", False),
    ("NULL AND TRUE", None),
    ("NULL OR TRUE", True),
    ("TRUE OR NULL", True),
    ("NULL OR FALSE", None),
    ("NOT NULL", None),
    ("NOT (NULL AND FALSE)", True),
    ("NULL = NULL", None),
    ("NULL <> 1", None),
]


@pytest.mark.parametrize(("text", "expected"), KLEENE, ids=[t for t, _ in KLEENE])
def test_literal_logic_is_three_valued(text: str, expected: bool | None) -> None:
    assert evaluate(text) == [expected] * FRAME.height
    assert evaluate_rows(text) == [expected] * FRAME.height


def test_column_logic_is_kleene() -> None:
    frame = pl.DataFrame(
        {"p": [True, True, True, False, False, False, None, None, None],
         "q": [True, False, None, True, False, None, True, False, None]}
    )  # fmt: skip
    assert evaluate("p AND q", frame) == [True, False, None, False, False, False, None, False, None]
    assert evaluate("p OR q", frame) == [True, True, True, True, False, None, True, None, None]
    assert evaluate("p AND q", frame) == evaluate_rows("p AND q", frame)
    assert evaluate("p OR q", frame) == evaluate_rows("p OR q", frame)


LIKE_EDGES = [
    ("s LIKE 'a'", ["a\n", "a", "A"], [False, True, False]),
    ("s LIKE 'a_'", ["a\n", "ab", "a"], [True, True, False]),
    ("s LIKE '%(x)%'", ["((x))", "x", "(x"], [True, False, False]),
    ("s LIKE '[a]%'", ["[a]b", "a", "[a"], [True, False, False]),
    ("s LIKE '$^.*+?{}|'", ["$^.*+?{}|", "x", ""], [True, False, False]),
    ("s ILIKE 'É%'", ["été", "Été", "e"], [True, True, False]),
    ("s LIKE '%\\\\\\\\%'", ["a\\b", "ab", ""], [True, False, False]),  # one escaped backslash
    ("s LIKE '%\\\\%'", ["5%", "a\\b", "%a"], [True, False, False]),  # \% is a literal %
]


@pytest.mark.parametrize(("text", "values", "expected"), LIKE_EDGES, ids=[e[0] for e in LIKE_EDGES])
def test_like_escapes_regex_metacharacters(text: str, values: list[str], expected: list[bool]) -> None:
    frame = pl.DataFrame({"s": values})
    assert evaluate(text, frame) == expected
    assert evaluate_rows(text, frame) == expected


def test_cast_to_boolean_reads_words_from_text_columns() -> None:
    frame = pl.DataFrame({"t": ["true", " F ", "yes", "n", "1", "0", "2.5", "maybe", None]})
    expected = [True, False, True, False, True, False, True, None, None]
    assert evaluate("CAST(t AS BOOLEAN)", frame) == expected
    assert evaluate_rows("CAST(t AS BOOLEAN)", frame) == expected


def test_a_null_condition_is_filled_false_by_the_caller() -> None:
    cond = to_polars(parse_condition("a > 1 AND s LIKE 'a%'"))
    kept = FRAME.filter(cond.fill_null(False))
    assert kept["a"].to_list() == [2]


# -- navigation across partitions ------------------------------------------------------------

TICKS = pl.DataFrame(
    {
        "k": ["x", "x", "x", "y", "y", None, None],
        "price": [10, 12, 11, 20, 19, 5, 6],
    }
)


def test_prev_is_null_at_the_start_of_each_partition() -> None:
    assert evaluate("PREV(price)", TICKS, partition_col="k") == [None, 10, 12, None, 20, None, 5]
    assert evaluate("price > PREV(price)", TICKS, partition_col="k") == [
        None, True, False, None, False, None, True,
    ]  # fmt: skip


def test_next_is_null_at_the_end_of_each_partition() -> None:
    assert evaluate("NEXT(price, 2)", TICKS, partition_col="k") == [11, None, None, None, None,
                                                                   None, None]  # fmt: skip
    assert evaluate("LEAD(price)", TICKS, partition_col="k") == [12, 11, None, 19, None, 6, None]


def test_navigation_without_partitions_is_a_plain_shift() -> None:
    assert evaluate("PREV(price, 3)", TICKS) == [None, None, None, 10, 12, 11, 20]
    assert evaluate("PREV(price, 0)", TICKS) == TICKS["price"].to_list()


def test_navigation_wraps_any_row_local_expression() -> None:
    assert evaluate("PREV(price * 2 + 1)", TICKS, partition_col="k")[:3] == [None, 21, 25]


def test_row_variable_is_the_current_row() -> None:
    e = parse_condition("A.price < PREV(A.price)", features=NAV)
    out = TICKS.with_columns(r=to_polars(e, partition_col="k", row_var="A"))["r"].to_list()
    assert out == [None, False, True, None, True, None, False]
    lower = parse_condition("a.price < 12", features=NAV)
    out = TICKS.select(to_polars(lower, row_var="A", case_insensitive_vars=True))
    assert out.to_series().to_list() == [True, False, True, False, False, True, True]
    with pytest.raises(UnsupportedFeature, match=r"'a\.price'"):
        to_polars(lower, row_var="A")


NOT_ROW_LOCAL = [
    ("B.price > 1", "'B.price' reads another pattern variable"),
    ("price > FIRST(price)", "FIRST is not row-local"),
    ("LAST(price) > 1", "LAST is not row-local"),
    ("SUM(price) > 1", "SUM is not row-local"),
    ("COUNT(*) > 1", "COUNT is not row-local"),
    ("CLASSIFIER() = 'A'", "CLASSIFIER is not row-local"),
    ("MATCH_NUMBER() = 1", "MATCH_NUMBER is not row-local"),
    ("s LIKE s", "LIKE with a pattern that is not a string literal"),
    ("replace(s, s) = ''", "replace() with a search text"),
]


@pytest.mark.parametrize(("text", "message"), NOT_ROW_LOCAL, ids=[t for t, _ in NOT_ROW_LOCAL])
def test_to_polars_rejects_what_needs_the_match_state(text: str, message: str) -> None:
    with pytest.raises(UnsupportedFeature, match=re.escape(message)):
        to_polars(parse_condition(text, features=ALL), row_var="A")


# -- timestamps and intervals -------------------------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)
EVENTS = pl.DataFrame(
    {"user": ["u", "u", "u", "v"], "ts": [T0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=9),
                                          T0 + timedelta(hours=2)]}
).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))  # fmt: skip


def test_interval_compares_with_a_difference_of_timestamps() -> None:
    text = "ts - PREV(ts) > INTERVAL '5' MINUTE"
    assert evaluate(text, EVENTS, partition_col="user") == [None, False, True, None]


def test_timestamp_literals_and_interval_arithmetic() -> None:
    assert evaluate("ts >= TIMESTAMP '2024-01-01 00:09:00'", EVENTS) == [False, False, True, True]
    assert evaluate("ts + INTERVAL '1' HOUR > TIMESTAMP '2024-01-01 01:05:00'", EVENTS) == [
        False, False, True, True,
    ]  # fmt: skip
    assert evaluate("NEXT(ts) - ts BETWEEN INTERVAL '3' MINUTE AND INTERVAL '6' MINUTE",
                    EVENTS, partition_col="user") == [True, True, None, None]  # fmt: skip
    assert evaluate("CAST('2024-01-01 00:03:00' AS TIMESTAMP) = ts", EVENTS)[:2] == [False, True]


def test_eval_row_handles_timestamps_and_intervals() -> None:
    e = parse_condition("ts + INTERVAL '10' MINUTE > TIMESTAMP '2024-01-01 00:15:00'")
    rows = list(EVENTS.iter_rows(named=True))
    assert [eval_row(e, r) for r in rows] == evaluate(to_sql(e), EVENTS) == [
        False, False, True, True,
    ]  # fmt: skip


# -- eval_row specifics -------------------------------------------------------------------------


def test_eval_row_asks_resolve_for_the_match_state() -> None:
    asked: list[str] = []

    def resolve(node: Expr) -> Any:
        asked.append(type(node).__name__)
        return {"Nav": 9, "Col": 5, "Agg": 2, "Classifier": "B", "MatchNumber": 1}[
            type(node).__name__
        ]

    e = parse_condition(
        "price > PREV(price) AND A.price < price AND COUNT(*) = 2 AND CLASSIFIER() = 'B' "
        "AND MATCH_NUMBER() = 1 AND B.price = 10",
        features=ALL,
    )
    assert eval_row(e, {"price": 10}, resolve=resolve, row_var="B") is True
    assert asked == ["Nav", "Col", "Agg", "Classifier", "MatchNumber"]


def test_eval_row_without_resolve_refuses_the_match_state() -> None:
    with pytest.raises(UnsupportedFeature, match=r"PREV\(price\) needs the match state"):
        eval_row(parse_condition("price > PREV(price)", features=NAV), {"price": 1})


def test_eval_row_names_a_missing_field() -> None:
    with pytest.raises(EventDataError, match="no field 'qty'"):
        eval_row(parse_condition("qty > 1"), {"price": 1})


def test_eval_row_reports_incompatible_types() -> None:
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        eval_row(parse_condition("price > 1"), {"price": "abc"})


# -- property: eval_row and to_polars agree on random rows with NULLs --------------------------

SCHEMA = {"k": pl.Int64, "i": pl.Int64, "j": pl.Int64, "x": pl.Float64, "s": pl.String,
          "b": pl.Boolean}  # fmt: skip
small_ints = st.integers(-5, 5)
text_values = st.text(alphabet="abAB %_", max_size=4)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "k": st.integers(0, 2),
            "i": st.none() | st.integers(-20, 20),
            "j": st.none() | st.integers(-20, 20),
            "x": st.none() | st.integers(-500, 500).map(lambda n: n / 100),
            "s": st.none() | text_values,
            "b": st.none() | st.booleans(),
        }
    ),
    min_size=1,
    max_size=8,
)


def lit(v: object) -> Expr:
    return Lit(v)  # type: ignore[arg-type]


def call(name: str, *args: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.tuples(*args).map(lambda xs: Func(name, tuple(xs)))


def navigation(args: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.builds(Nav, st.sampled_from(["PREV", "NEXT"]), args, st.integers(0, 2))


ints: st.SearchStrategy[Expr] = st.deferred(
    lambda: st.one_of(
        st.sampled_from([Col("i"), Col("j")]),
        small_ints.map(lit),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "%"]), ints, ints),
        call("mod", ints, ints),
        call("abs", ints),
        call("length", strings),
        navigation(ints),
    )
)
numbers: st.SearchStrategy[Expr] = st.deferred(
    lambda: st.one_of(
        ints,
        st.just(Col("x")),
        st.integers(-500, 500).map(lambda n: lit(n / 100)),
        st.just(lit(None)),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/"]), numbers, numbers),
        st.builds(Unary, st.just("-"), numbers),
        st.sampled_from(["abs", "floor", "ceil", "sign", "round"]).flatmap(
            lambda f: call(f, numbers)
        ),
        st.sampled_from(["greatest", "least", "coalesce", "nullif"]).flatmap(
            lambda f: call(f, numbers, numbers)
        ),
        st.builds(Case, st.none(), st.tuples(st.tuples(conditions, numbers)), numbers | st.none()),
        st.builds(Case, ints, st.tuples(st.tuples(ints, numbers)), numbers | st.none()),
        st.builds(Cast, numbers, st.sampled_from(["BIGINT", "DOUBLE"])),
        navigation(numbers),
    )
)
strings: st.SearchStrategy[Expr] = st.deferred(
    lambda: st.one_of(
        st.just(Col("s")),
        text_values.map(lit),
        st.just(lit(None)),
        st.builds(Binary, st.just("||"), strings, strings),
        st.sampled_from(["lower", "upper", "trim", "ltrim", "rtrim"]).flatmap(
            lambda f: call(f, strings)
        ),
        call("substring", strings, small_ints.map(lit) | st.just(Col("i"))),
        call("substring", strings, small_ints.map(lit), small_ints.map(lit) | st.just(Col("j"))),
        call("concat", strings, strings),
        call("replace", strings, text_values.map(lit), strings),
        call("coalesce", strings, strings),
        call("nullif", strings, strings),
        st.builds(Cast, ints, st.just("STRING")),
        st.builds(Case, st.none(), st.tuples(st.tuples(conditions, strings)), strings | st.none()),
        navigation(strings),
    )
)
like_patterns = st.lists(st.sampled_from(["a", "B", " ", "%", "_", "\\%", "\\_"]), max_size=4)
conditions: st.SearchStrategy[Expr] = st.deferred(
    lambda: st.one_of(
        st.just(Col("b")),
        st.sampled_from([lit(True), lit(False), lit(None)]),
        st.builds(Binary, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), numbers, numbers),
        st.builds(Binary, st.sampled_from(["=", "<>", "<", ">="]), strings, strings),
        st.builds(Binary, st.sampled_from(["AND", "OR"]), conditions, conditions),
        st.builds(Unary, st.just("NOT"), conditions),
        st.builds(IsNull, numbers | strings, st.booleans()),
        st.builds(
            InList, numbers, st.lists(numbers, min_size=1, max_size=3).map(tuple), st.booleans()
        ),
        st.builds(Between, numbers, numbers, numbers, st.booleans()),
        st.builds(Like, strings, like_patterns.map("".join).map(lit), st.booleans(), st.booleans()),
        st.builds(
            Case, st.none(), st.tuples(st.tuples(conditions, conditions)), conditions | st.none()
        ),
        st.builds(Cast, numbers, st.just("BOOLEAN")),
        navigation(conditions),
    )
)


def neighbour_resolver(records: list[dict[str, Any]], index: int) -> Callable[[Expr], Any]:
    """Resolve PREV/NEXT by evaluating the argument on the neighbouring row of the partition."""

    def resolve(node: Expr) -> Any:
        assert isinstance(node, Nav)
        other = index - node.offset if node.func == "PREV" else index + node.offset
        if not 0 <= other < len(records) or records[other]["k"] != records[index]["k"]:
            return None
        return eval_row(node.arg, records[other], resolve=neighbour_resolver(records, other))

    return resolve


def same(python: Any, polars: Any) -> bool:
    if python is None or polars is None:
        return python is None and polars is None
    if isinstance(python, bool) or isinstance(polars, bool):
        return python is polars
    if isinstance(python, int | float):
        return math.isclose(python, polars, rel_tol=1e-9, abs_tol=1e-9)
    return bool(python == polars)


@settings(max_examples=300, deadline=None)
@given(st.one_of(conditions, numbers, strings), rows)
def test_eval_row_agrees_with_to_polars(e: Expr, records: list[dict[str, Any]]) -> None:
    assume(sum(1 for _ in walk(e)) <= 40)
    records = sorted(records, key=lambda r: r["k"])
    frame = pl.DataFrame(records, schema=SCHEMA)
    expected = [
        eval_row(e, r, resolve=neighbour_resolver(records, n)) for n, r in enumerate(records)
    ]
    assume(all(not isinstance(v, int) or abs(v) < 2**62 for v in expected))
    actual = frame.with_columns(result=to_polars(e, partition_col="k"))["result"].to_list()
    assert all(same(p, q) for p, q in zip(expected, actual, strict=True)), (expected, actual)
