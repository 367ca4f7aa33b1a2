"""Importing MATCH_RECOGNIZE queries in the Trino, Snowflake, Oracle, Flink and Databricks spellings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cep import expr
from cep.errors import PatternError, UnsupportedFeature
from cep.model import Duration, MatchRecognizePattern, load_pattern, parse_pattern
from cep.sqlimport import UnsupportedSql, import_match_recognize

V_SHAPE_JSON: dict[str, Any] = {
    "kind": "match_recognize",
    "name": "v_shape",
    "partition_by": ["symbol"],
    "order_by": "ts",
    "pattern": "A B+ C+",
    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
    "measures": {"bottom": "LAST(B.price)"},
    "after_match_skip": "PAST LAST ROW",
    "within": "10m",
    "rows_per_match": "ONE",
}

V_SHAPE_SQL = {
    "trino": """
        SELECT *
        FROM ticker
        MATCH_RECOGNIZE (
            PARTITION BY symbol
            ORDER BY ts
            MEASURES LAST(B.price) AS bottom
            ONE ROW PER MATCH
            AFTER MATCH SKIP PAST LAST ROW
            PATTERN (A B+ C+)
            WITHIN INTERVAL '10' MINUTE
            DEFINE
                B AS price < PREV(price),
                C AS price > PREV(price)
        ) AS v_shape
    """,
    "snowflake": """
        select * from ticker
          match_recognize(
            partition by symbol
            order by ts
            measures LAST(B.price) as bottom
            one row per match
            after match skip past last row
            pattern(a b+ c+) within interval '10' minutes
            define
              b as price < PREV(price),
              c as price > PREV(price)
          ) as v_shape;
    """,
    "oracle": """
        SELECT *
        FROM Ticker MATCH_RECOGNIZE (
             PARTITION BY symbol
             ORDER BY ts
             MEASURES  LAST(B.price) AS bottom
             ONE ROW PER MATCH
             AFTER MATCH SKIP PAST LAST ROW
             PATTERN (A B+ C+) WITHIN INTERVAL '10' MINUTE
             DEFINE
                B AS price < PREV(price),
                C AS price > PREV(price)
             ) v_shape
        ORDER BY v_shape.symbol;
    """,
    "flink": """
        SELECT *
        FROM Ticker
            MATCH_RECOGNIZE (
                PARTITION BY symbol
                ORDER BY ts
                MEASURES
                    LAST(B.price) AS bottom
                ONE ROW PER MATCH
                AFTER MATCH SKIP PAST LAST ROW
                PATTERN (A B+ C+) WITHIN INTERVAL '10' MINUTE
                DEFINE
                    B AS price < PREV(price),
                    C AS price > PREV(price)
            ) AS v_shape
    """,
    "databricks": """
        -- Databricks SQL spelling: backticks, Spark interval literals
        SELECT * FROM main.market.`ticker` MATCH_RECOGNIZE (
          PARTITION BY `symbol`
          ORDER BY `ts` ASC
          MEASURES LAST(B.price) AS `bottom`
          AFTER MATCH SKIP PAST LAST ROW
          PATTERN (A B+ C+) WITHIN INTERVAL 10 MINUTES
          DEFINE B AS price < PREV(price), /* falling */
                 C AS price > PREV(price)  -- rising
        ) AS `v_shape`
    """,
}


def _without_description(p: MatchRecognizePattern) -> dict[str, Any]:
    return p.model_dump(exclude={"description"})


@pytest.mark.parametrize("dialect", list(V_SHAPE_SQL))
def test_v_shape_in_each_dialect_equals_the_json_form(dialect: str) -> None:
    imported = import_match_recognize(V_SHAPE_SQL[dialect], source=f"{dialect}.sql")
    expected = parse_pattern(V_SHAPE_JSON)
    assert isinstance(expected, MatchRecognizePattern)
    assert _without_description(imported) == _without_description(expected)


@pytest.mark.parametrize(
    ("dialect", "spelling"),
    [("trino", "Flink"), ("flink", "Flink"), ("databricks", "Databricks")],
)
def test_description_records_the_detected_dialect(dialect: str, spelling: str) -> None:
    # WITHIN INTERVAL '10' MINUTE is Flink's clause, whoever writes it
    p = import_match_recognize(V_SHAPE_SQL[dialect])
    assert p.description == f"Imported from a MATCH_RECOGNIZE query ({spelling} spelling)."


def test_description_has_no_dialect_when_nothing_is_distinctive() -> None:
    p = import_match_recognize(ORACLE_20_1)
    assert p.description == "Imported from a MATCH_RECOGNIZE query."


def test_pattern_text_is_written_as_sql_reads_it() -> None:
    p = import_match_recognize(
        'SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN ( a  b+?\n (c|"d"){2,} ) '
        "DEFINE a AS x > 1)"
    )
    assert p.pattern == 'A B+? (C | "d"){2,}'
    assert p.define == {"A": "x > 1"}


def test_snowflake_lag_and_lead_are_kept_as_written() -> None:
    p = import_match_recognize(
        "select * from t match_recognize (order by ts pattern (a b+)"
        " define b as price < lag(price) and price > lead(price, 2))"
    )
    assert p.define == {"B": "price < lag(price) and price > lead(price, 2)"}
    assert "Snowflake" in p.description
    features = expr.Features(navigation=True)
    assert expr.parse_condition(p.define["B"], features=features) == expr.parse_condition(
        "price < PREV(price) and price > NEXT(price, 2)", features=features
    )


ORACLE_20_1 = """
SELECT *
FROM Ticker MATCH_RECOGNIZE (
     PARTITION BY symbol
     ORDER BY tstamp
     MEASURES  STRT.tstamp AS start_tstamp,
               LAST(DOWN.tstamp) AS bottom_tstamp,
               LAST(UP.tstamp) AS end_tstamp
     ONE ROW PER MATCH
     AFTER MATCH SKIP TO LAST UP
     PATTERN (STRT DOWN+ UP+)
     DEFINE
        DOWN AS DOWN.price < PREV(DOWN.price),
        UP AS UP.price > PREV(UP.price)
     ) MR
ORDER BY MR.symbol, MR.start_tstamp;
"""


def test_oracle_example_20_1_is_imported() -> None:
    p = import_match_recognize(ORACLE_20_1, source="oracle_20_1.sql")
    assert p.name == "MR"
    assert p.partition_by == ("symbol",)
    assert p.order_by == "tstamp"
    assert p.pattern == "STRT DOWN+ UP+"
    assert p.define == {
        "DOWN": "DOWN.price < PREV(DOWN.price)",
        "UP": "UP.price > PREV(UP.price)",
    }
    assert p.measures == {
        "start_tstamp": "STRT.tstamp",
        "bottom_tstamp": "LAST(DOWN.tstamp)",
        "end_tstamp": "LAST(UP.tstamp)",
    }
    assert p.after_match_skip == "TO LAST UP"
    assert (p.rows_per_match, p.within) == ("ONE", None)


FLINK_DOCS = """
SELECT *
FROM Ticker
    MATCH_RECOGNIZE (
        PARTITION BY symbol
        ORDER BY rowtime
        MEASURES
            FIRST(A.rowtime) AS start_tstamp,
            LAST(A.rowtime) AS end_tstamp,
            AVG(A.price) AS avgPrice
        ONE ROW PER MATCH
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A+ B) WITHIN INTERVAL '1' HOUR
        DEFINE
            A AS AVG(A.price) < 15
    ) MR;
"""


def test_flink_within_and_aggregate_define_are_imported() -> None:
    p = import_match_recognize(FLINK_DOCS)
    assert p.within == Duration("1h")
    assert p.define == {"A": "AVG(A.price) < 15"}
    assert p.measures["avgPrice"] == "AVG(A.price)"
    assert "Flink" in p.description


@pytest.mark.parametrize(
    ("interval", "duration"),
    [
        ("INTERVAL '10' MINUTE", "10m"),
        ("INTERVAL '90' SECOND", "90s"),
        ("INTERVAL '2' DAY", "2d"),
        ("INTERVAL '1' HOUR", "1h"),
        ("interval '1.5' hour", "90m"),
        ("INTERVAL '500' MILLISECOND", "500ms"),
        ("INTERVAL '10' SECOND(3)", "10s"),
        ("INTERVAL 10 MINUTES", "10m"),
        ("INTERVAL '10 minutes'", "10m"),
        ("INTERVAL 1 WEEK", "7d"),
    ],
    ids=str,
)
def test_within_interval_spellings(interval: str, duration: str) -> None:
    p = import_match_recognize(
        f"SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A B) WITHIN {interval}"
        " DEFINE B AS x > 1)"
    )
    assert p.within == Duration(duration)


TRINO_SUBSET = """
SELECT * FROM orders MATCH_RECOGNIZE(
     PARTITION BY custkey
     ORDER BY orderdate
     MEASURES
              A.totalprice AS starting_price,
              LAST(B.totalprice) AS bottom_price,
              LAST(U.totalprice) AS top_price,
              CLASSIFIER(U) AS label
     ALL ROWS PER MATCH OMIT EMPTY MATCHES
     AFTER MATCH SKIP TO FIRST u
     PATTERN (A B+ C+ D+)
     SUBSET U = (C, D), other = (a, "B")
     DEFINE
              B AS totalprice < PREV(totalprice),
              C AS totalprice > PREV(totalprice) AND totalprice <= A.totalprice,
              D AS totalprice > PREV(totalprice) AND U.totalprice > 0
     )
"""


def test_subset_and_all_rows_are_imported() -> None:
    p = import_match_recognize(TRINO_SUBSET)
    assert p.name == "orders"
    assert p.subset == {"U": ("C", "D"), "OTHER": ("A", "B")}
    assert p.after_match_skip == "TO FIRST U"
    assert (p.rows_per_match, p.rows_per_match_option) == ("ALL", "OMIT EMPTY MATCHES")
    assert p.measures["label"] == "CLASSIFIER(U)"
    assert p.description == "Imported from a MATCH_RECOGNIZE query."


@pytest.mark.parametrize(
    ("clause", "rows", "option"),
    [
        ("ONE ROW PER MATCH", "ONE", None),
        ("ALL ROWS PER MATCH", "ALL", "SHOW EMPTY MATCHES"),
        ("all rows per match show empty matches", "ALL", "SHOW EMPTY MATCHES"),
        ("ALL ROWS PER MATCH WITH UNMATCHED ROWS", "ALL", "WITH UNMATCHED ROWS"),
        ("", "ONE", None),
    ],
    ids=str,
)
def test_rows_per_match_clauses(clause: str, rows: str, option: str | None) -> None:
    p = import_match_recognize(
        f"SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts {clause} PATTERN (A) DEFINE A AS x > 1)"
    )
    assert (p.rows_per_match, p.rows_per_match_option) == (rows, option)


@pytest.mark.parametrize(
    ("skip", "normalised"),
    [
        ("PAST LAST ROW", "PAST LAST ROW"),
        ("TO NEXT ROW", "TO NEXT ROW"),
        ("TO FIRST b", "TO FIRST B"),
        ("TO LAST B", "TO LAST B"),
        ("TO B", "TO LAST B"),
    ],
    ids=str,
)
def test_after_match_skip_clauses(skip: str, normalised: str) -> None:
    p = import_match_recognize(
        f"SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts AFTER MATCH SKIP {skip}"
        " PATTERN (A B+) DEFINE B AS x > 1)"
    )
    assert p.after_match_skip == normalised


def test_clauses_may_come_in_any_order_and_measures_keep_running_and_final() -> None:
    p = import_match_recognize(
        "SELECT * FROM t MATCH_RECOGNIZE (PATTERN (A B*) ORDER BY ts PARTITION BY k1, k2"
        " MEASURES FINAL LAST(B.x) AS last_x, RUNNING COUNT(*) AS n DEFINE B AS x > PREV(x))"
    )
    assert p.partition_by == ("k1", "k2")
    assert p.measures == {"last_x": "FINAL LAST(B.x)", "n": "RUNNING COUNT(*)"}


def test_comments_are_dropped_and_whitespace_squashed_but_strings_kept() -> None:
    p = import_match_recognize(
        """
        -- header comment
        SELECT * /* all columns */ FROM t MATCH_RECOGNIZE (
          ORDER BY ts
          PATTERN (A   B)  -- two rows
          DEFINE A AS note = 'a -- b /* c */'
                      AND   x > 1,   -- trailing
                 B AS "my  col" = 'two  spaces'
        );
        """
    )
    assert p.define == {
        "A": "note = 'a -- b /* c */' AND x > 1",
        "B": "\"my  col\" = 'two  spaces'",
    }
    assert p.pattern == "A B"


def test_variable_names_fold_to_upper_case_unless_quoted() -> None:
    p = import_match_recognize(
        'SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN ("up" down+) '
        'DEFINE "up" AS x > 1, down AS x < PREV(x))'
    )
    assert p.define == {"up": "x > 1", "DOWN": "x < PREV(x)"}


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT * FROM db.schema.ticks MATCH_RECOGNIZE ({body})", "ticks"),
        ("SELECT * FROM ticks MATCH_RECOGNIZE ({body}) AS m", "m"),
        ("SELECT * FROM ticks MATCH_RECOGNIZE ({body}) m WHERE m.x > 1", "m"),
        ("SELECT * FROM (SELECT * FROM ticks) MATCH_RECOGNIZE ({body})", "match_recognize"),
        ("MATCH_RECOGNIZE ({body})", "match_recognize"),
    ],
    ids=["qualified-table", "alias", "oracle-alias", "subquery", "bare-clause"],
)
def test_the_name_comes_from_the_alias_or_the_table(sql: str, name: str) -> None:
    body = "ORDER BY ts PATTERN (A) DEFINE A AS x > 1"
    assert import_match_recognize(sql.format(body=body)).name == name


def test_a_subquery_source_is_noted_in_the_description() -> None:
    p = import_match_recognize(
        "SELECT * FROM (SELECT * FROM t WHERE x > 0) MATCH_RECOGNIZE (ORDER BY ts PATTERN (A)"
        " DEFINE A AS x > 1)"
    )
    assert "subquery" in p.description


def test_an_explicit_name_wins() -> None:
    p = import_match_recognize(
        "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A) DEFINE A AS x > 1) AS m",
        name="my_pattern",
    )
    assert p.name == "my_pattern"


def test_parse_pattern_and_load_pattern_read_sql(tmp_path: Path) -> None:
    assert parse_pattern(V_SHAPE_SQL["flink"]).name == "v_shape"
    path = tmp_path / "dips.sql"
    path.write_text(V_SHAPE_SQL["trino"])
    assert load_pattern(path).name == "dips"
    assert parse_pattern(V_SHAPE_SQL["trino"], source="uploads/dips.SQL", fmt="sql").name == "dips"


def _mr(inner: str) -> str:
    return f"SELECT *\nFROM t\nMATCH_RECOGNIZE (\n{inner}\n)"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            _mr("ORDER BY ts\nPATTERN (A B)\nDEFINE\n  A AS x > 1,\n  B x > 2"),
            "<sql>: DEFINE: expected 'AS' after variable B at line 8, column 5",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS"),
            "DEFINE: missing condition after 'A AS' at line 6",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS x > 1,"),
            "DEFINE: empty item (is there a stray comma?) at line 6",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE"),
            "DEFINE: expected 'variable AS condition, ...' at line 6",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE 1 AS x"),
            "DEFINE: expected a pattern variable, found '1'",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS x > 1, A AS x > 2"),
            "DEFINE: variable A is defined twice",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A B)\nDEFINE C AS x > 1"),
            "<sql>: define.C (DEFINE at line 6): 'C' is not a variable of PATTERN 'A B'",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS reflect('java.lang.Runtime','exec','x')"),
            "define.A (DEFINE at line 6): function 'reflect' is not allowed at position 0",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS __import__('os').system('x')"),
            "define.A (DEFINE at line 6): identifier '__import__' is not allowed",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS x IN (SELECT y FROM u)"),
            "define.A (DEFINE at line 6): subqueries are not allowed",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A (B)\nDEFINE A AS x > 1"),
            "MATCH_RECOGNIZE: the '(' opened here is never closed at line 3, column 17",
        ),
        (_mr("ORDER BY ts\nPATTERN (A) B\nDEFINE A AS x > 1"), "PATTERN: unexpected 'B' at line 5"),
        (
            _mr("ORDER BY ts\nPATTERN (A |)\nDEFINE A AS x > 1"),
            "pattern (PATTERN at line 5): PATTERN 'A |'",
        ),
        (_mr("ORDER BY ts\nDEFINE A AS x > 1"), "MATCH_RECOGNIZE: the PATTERN clause is missing"),
        (
            _mr("PATTERN (A)\nDEFINE A AS x > 1"),
            "MATCH_RECOGNIZE: ORDER BY is missing; add ORDER BY",
        ),
        (
            _mr("ORDER BY ts\nMEASURES A.x\nPATTERN (A)"),
            "MEASURES: expected 'expression AS name' at line 5",
        ),
        (
            _mr("ORDER BY ts\nMEASURES A.x AS m, A.y AS m\nPATTERN (A)"),
            "MEASURES: measure 'm' is given twice",
        ),
        (
            _mr("ORDER BY ts\nMEASURES LAST(Z.x) AS m\nPATTERN (A)"),
            "measures.m (MEASURES at line 5): unknown variable 'Z'",
        ),
        (_mr("ORDER BY ts\nPATTERN (A)\nSUBSET U (A)"), "SUBSET: expected '=' after U at line 6"),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nSUBSET U = A"),
            "SUBSET: expected '(v1, v2, ...)' after 'U ='",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nSUBSET U = (Z)"),
            "subset.U (SUBSET at line 6): 'Z' is not a PATTERN variable",
        ),
        (
            _mr("ORDER BY ts\nONE ROW PER MATCH SHOW EMPTY MATCHES\nPATTERN (A)"),
            "ONE ROW PER MATCH: unexpected 'SHOW'",
        ),
        (
            _mr("ORDER BY ts\nALL ROWS PER MATCH SOMETIMES\nPATTERN (A)"),
            "ALL ROWS PER MATCH: unexpected 'SOMETIMES'",
        ),
        (
            _mr("ORDER BY ts\nAFTER MATCH SKIP\nPATTERN (A)"),
            "AFTER MATCH SKIP: expected PAST LAST ROW",
        ),
        (
            _mr("ORDER BY ts\nAFTER MATCH SKIP TO FIRST Q\nPATTERN (A)"),
            "after_match_skip (AFTER MATCH SKIP at line 5): 'TO FIRST Q'",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A) WITHIN INTERVAL '10' FORTNIGHT"),
            "WITHIN: unknown interval unit 'FORTNIGHT'",
        ),
        (_mr("ORDER BY ts\nPATTERN (A) WITHIN INTERVAL"), "WITHIN: expected INTERVAL '10' MINUTE"),
        (
            _mr("ORDER BY ts\nPATTERN (A) WITHIN INTERVAL '100' DAY"),
            "within (WITHIN at line 5): invalid duration '100d'",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A) WITHIN INTERVAL '0' SECOND"),
            "within (WITHIN at line 5): invalid duration '0s'",
        ),
        (
            _mr("FOO\nORDER BY ts\nPATTERN (A)"),
            "MATCH_RECOGNIZE: unexpected 'FOO'; expected one of PARTITION BY",
        ),
        (
            _mr("ORDER BY ts FOO\nPATTERN (A)"),
            "ORDER BY: expected a column name, found 'ts FOO' at line 4",
        ),
        (
            _mr("ORDER BY ts, \nPATTERN (A)"),
            "ORDER BY: empty item (is there a stray comma?) at line 4",
        ),
        (
            "SELECT * FROM t MATCH_RECOGNIZE ORDER BY ts",
            "MATCH_RECOGNIZE: expected '(' after MATCH_RECOGNIZE",
        ),
        (
            "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A)",
            "MATCH_RECOGNIZE: the '(' opened here is never closed at line 1, column 33",
        ),
        ("SELECT * FROM t WHERE x > 1", "<sql>: MATCH_RECOGNIZE: no MATCH_RECOGNIZE clause found"),
        (
            _mr("ORDER BY ts\nPATTERN (A)") + ";;",
            "SQL: only one statement is allowed (one trailing ';' at most)",
        ),
        (_mr("ORDER BY ts\nPATTERN (A)") + "; DROP TABLE t", "SQL: only one statement is allowed"),
        (
            _mr("ORDER BY ts\nPATTERN (A)\nDEFINE A AS x = 'open"),
            "<sql>: unterminated '...' quote starting at line 6",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)\n/* DEFINE A AS x > 1"),
            "<sql>: unterminated /* comment starting at line 6",
        ),
    ],
    ids=[
        "define-missing-as",
        "define-missing-condition",
        "define-stray-comma",
        "define-empty",
        "define-not-a-name",
        "define-twice",
        "define-unknown-variable",
        "define-reflect",
        "define-import",
        "define-subquery",
        "pattern-unclosed",
        "pattern-trailing",
        "pattern-syntax",
        "no-pattern",
        "no-order-by",
        "measures-missing-as",
        "measures-twice",
        "measures-unknown-variable",
        "subset-missing-equals",
        "subset-missing-list",
        "subset-unknown-member",
        "one-row-with-option",
        "all-rows-bad-option",
        "skip-empty",
        "skip-unknown-variable",
        "within-bad-unit",
        "within-incomplete",
        "within-too-long",
        "within-zero",
        "unknown-clause",
        "order-by-garbage",
        "order-by-stray-comma",
        "no-parenthesis",
        "unclosed-parenthesis",
        "no-match-recognize",
        "double-semicolon",
        "second-statement",
        "unterminated-string",
        "unterminated-comment",
    ],
)
def test_bad_sql_is_reported_with_clause_and_line(sql: str, message: str) -> None:
    with pytest.raises(PatternError) as info:
        import_match_recognize(sql)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            _mr("ORDER BY ts, id\nPATTERN (A)"),
            "ORDER BY: only the event-time column is supported, not the tie-break column(s) id",
        ),
        (_mr("ORDER BY ts DESC\nPATTERN (A)"), "ORDER BY: descending order is not supported"),
        (_mr("ORDER BY ts NULLS LAST\nPATTERN (A)"), "ORDER BY: NULLS FIRST/LAST is not supported"),
        (
            _mr("PARTITION BY lower(k)\nORDER BY ts\nPATTERN (A)"),
            "PARTITION BY: only plain column names are supported, not 'lower(k)'",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A) WITHIN INTERVAL '1:30' HOUR TO MINUTE"),
            "WITHIN: INTERVAL ... TO ... is not supported",
        ),
        (
            _mr("ORDER BY ts\nPATTERN (A)") + " JOIN u MATCH_RECOGNIZE (ORDER BY ts PATTERN (B))",
            "more than one MATCH_RECOGNIZE clause; import one at a time",
        ),
    ],
    ids=["tie-break", "desc", "nulls", "partition-expression", "interval-range", "two-clauses"],
)
def test_valid_sql_the_model_cannot_express_is_unsupported(sql: str, message: str) -> None:
    with pytest.raises(UnsupportedSql) as info:
        import_match_recognize(sql, source="q.sql")
    assert isinstance(info.value, UnsupportedFeature)
    assert isinstance(info.value, PatternError)
    assert str(info.value).startswith("q.sql: ")
    assert message in str(info.value)


def test_errors_name_the_source_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.sql"
    path.write_text(_mr("ORDER BY ts\nPATTERN (A)\nDEFINE A x > 1"))
    with pytest.raises(PatternError) as info:
        load_pattern(path)
    assert str(info.value) == f"{path}: DEFINE: expected 'AS' after variable A at line 6, column 10"
