"""Generated code: golden files per kind and target, Python that parses, SQL that is sane, the
GeneratedCode API, options, and what each target refuses.

Regenerate the golden files after a deliberate change (then review the diff)::

    LAKESTREAM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/codegen/test_codegen_generate.py
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cep.codegen import TARGETS, GeneratedCode, generate_code
from cep.errors import CepError, PatternError, UnsupportedFeature
from tests.codegen.kinds import PATTERNS, pattern

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parents[2]
UPDATE = os.environ.get("LAKESTREAM_UPDATE_GOLDEN") == "1"
CASES = [(kind, target) for kind in PATTERNS for target in ("sss", "sdp")] + [
    ("match_recognize", "sql")]


def golden_path(kind: str, target: str) -> Path:
    return GOLDEN / f"{kind}.{target}.{'sql' if target == 'sql' else 'py'}.txt"


@pytest.mark.parametrize(("kind", "target"), CASES, ids=[f"{k}-{t}" for k, t in CASES])
def test_generated_code_matches_its_golden_file(kind: str, target: str) -> None:
    code = generate_code(pattern(kind), target)
    path = golden_path(kind, target)
    if UPDATE:
        path.write_text(code.text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path.name}; run with LAKESTREAM_UPDATE_GOLDEN=1"
    assert code.text == path.read_text(encoding="utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {golden_path(k, t).name for k, t in CASES}
    assert {p.name for p in GOLDEN.glob("*.txt")} == expected


@pytest.mark.parametrize(("kind", "target"), [c for c in CASES if c[1] != "sql"],
                         ids=[f"{k}-{t}" for k, t in CASES if t != "sql"])
def test_python_targets_parse_and_embed_the_pattern_json(kind: str, target: str) -> None:
    code = generate_code(pattern(kind), target)
    tree = ast.parse(code.text)
    assigned = {node.targets[0].id: node.value for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    literal = assigned["PATTERN_JSON"]
    assert isinstance(literal, ast.Constant)
    assert isinstance(literal.value, str)
    from cep.model import parse_pattern

    assert parse_pattern(literal.value) == pattern(kind)
    assert "transformWithStateInPandas" in code.text
    assert 'timeMode="EventTime"' in code.text


def test_sql_target_renders_the_clauses_databricks_documents() -> None:
    text = generate_code(pattern("match_recognize"), "sql").text
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    assert body.count("(") == body.count(")")
    for clause in ("SELECT *\nFROM `main`.`default`.`events`\nMATCH_RECOGNIZE (",
                   "PARTITION BY `symbol`", "ORDER BY `ts`", "LAST(B.price) AS `bottom`",
                   "ONE ROW PER MATCH", "AFTER MATCH SKIP PAST LAST ROW", "PATTERN (A B+ C+)",
                   "`B` AS price < PREV(price)"):
        assert clause in body
    assert ";" not in body


def test_sql_all_rows_per_match_and_default_define() -> None:
    p = pattern("match_recognize", rows_per_match="ALL", define={}, measures={})
    text = generate_code(p, "sql").text
    assert "ALL ROWS PER MATCH" in text
    assert "`A` AS TRUE" in text


def test_generated_code_reports_file_name_language_header_and_hash() -> None:
    code = generate_code(pattern("absence"), "sss", description="Cart abandoned.\nSecond line.")
    assert isinstance(code, GeneratedCode)
    assert (code.target, code.file_name, code.language) == ("sss", "cart_abandoned_sss.py",
                                                            "python")
    assert code.header == "Cart abandoned.\nSecond line."
    assert code.text.splitlines()[:3] == ["# Databricks notebook source", "# | Cart abandoned.",
                                          "# | Second line."]
    assert code.sha256 == hashlib.sha256(code.text.encode()).hexdigest()
    sql = generate_code(pattern("match_recognize"), "sql")
    assert (sql.file_name, sql.language) == ("v_shape.sql", "sql")
    assert TARGETS == ("sss", "sdp", "sql")


@pytest.mark.parametrize("kind", [k for k in PATTERNS if k != "match_recognize"])
def test_sql_target_refuses_other_kinds_naming_kind_and_target(kind: str) -> None:
    with pytest.raises(UnsupportedFeature, match=rf"kind '{kind}' is not supported by the sql"):
        generate_code(pattern(kind), "sql")


@pytest.mark.parametrize(
    ("changes", "feature"),
    [
        ({"within": "10m"}, "WITHIN"),
        ({"subset": {"U": ["B", "C"]}}, "SUBSET"),
        ({"after_match_skip": "TO NEXT ROW"}, "AFTER MATCH SKIP TO NEXT ROW"),
        ({"pattern": "A B+? C+"}, "reluctant quantifier"),
        ({"pattern": "A {- B+ -} C+"}, "exclusion"),
        ({"pattern": "A? B* C*"}, "can match no rows"),
        ({"pattern": "A ^ B+ C+"}, "anchor"),
        ({"rows_per_match": "ALL", "rows_per_match_option": "WITH UNMATCHED ROWS"},
         "WITH UNMATCHED ROWS"),
    ],
    ids=["within", "subset", "skip", "reluctant", "exclusion", "empty", "anchor", "unmatched"],
)
def test_sql_target_names_what_it_cannot_express(changes: dict[str, object], feature: str) -> None:
    with pytest.raises(UnsupportedFeature, match=re.escape(feature)) as info:
        generate_code(pattern("match_recognize", **changes), "sql")
    assert "sql target" in str(info.value)


def test_sql_target_refuses_aggregates_in_define() -> None:
    p = pattern("match_recognize", define={"B": "price < PREV(price)",
                                           "C": "price > AVG(B.price)"})
    with pytest.raises(UnsupportedFeature, match="aggregate in DEFINE C"):
        generate_code(p, "sql")


def test_unknown_target_is_refused() -> None:
    with pytest.raises(UnsupportedFeature, match="unknown code generation target 'scala'"):
        generate_code(pattern("absence"), "scala")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sink_table": "main.default.x; DROP TABLE y"}, "sink_table"),
        ({"checkpoint": "/tmp/x'\nimport os"}, "checkpoint"),
        ({"wheel_path": "/x.whl; rm -rf /"}, "wheel_path"),
        ({"source": {"kind": "delta", "table": "a.b.c.d"}}, "source.delta.table"),
        ({"source": {"kind": "kafka", "bootstrap_servers": "h:1", "topic": "t",
                     "secret_scope": "s"}}, "secret_scope, username_key and password_key"),
        ({"source_filter": "amount > 1; DROP TABLE x"}, "source_filter"),
        ({"watermark_delay": "soon"}, "watermark_delay"),
        ({"trigger": "sometimes"}, "trigger"),
    ],
    ids=["sink", "checkpoint", "wheel", "table", "kafka-login", "filter", "delay", "trigger"],
)
def test_invalid_options_are_rejected_naming_the_option(options: dict[str, object],
                                                       message: str) -> None:
    with pytest.raises(CepError, match=re.escape(message)):
        generate_code(pattern("absence"), "sss", options)


def test_kafka_source_reads_secrets_and_uses_an_explicit_schema() -> None:
    options = {"source": {"kind": "kafka", "bootstrap_servers": "broker:9092", "topic": "events",
                          "secret_scope": "kafka", "username_key": "user",
                          "password_key": "pass"}}
    text = generate_code(pattern("velocity"), "sss", options).text
    ast.parse(text)
    assert "dbutils.secrets.get(scope='kafka', key='user')" in text
    assert "dbutils.secrets.get(scope='kafka', key='pass')" in text
    assert "'`ts` TIMESTAMP, `card_id` STRING, `amount` DOUBLE'" in text
    given = {"source": {"kind": "kafka", "bootstrap_servers": "b:1", "topic": "t",
                        "schema_fields": {"card_id": "bigint", "amount": "double"}}}
    text = generate_code(pattern("velocity"), "sss", given).text
    assert "'`card_id` BIGINT, `amount` DOUBLE, `ts` TIMESTAMP'" in text
    assert "dbutils" not in text


@pytest.mark.parametrize("source", [{"kind": "rate", "rows_per_second": 5, "keys": 3},
                                    {"kind": "files", "path": "/tmp/events", "format": "json"}],
                         ids=["rate", "files"])
def test_demo_and_file_sources_generate_valid_python(source: dict[str, object]) -> None:
    text = generate_code(pattern("absence"), "sss", {"source": source,
                                                      "trigger": "available_now"}).text
    ast.parse(text)
    assert ".trigger(availableNow=True)" in text


def test_source_filter_is_rendered_from_the_parsed_condition() -> None:
    text = generate_code(pattern("absence"), "sss",
                         {"source_filter": "region IN ('eu','us') and amount>=10"}).text
    assert "SOURCE_FILTER = \"region IN ('eu', 'us') AND amount >= 10\"" in text


def test_column_names_that_are_not_identifiers_are_refused() -> None:
    with pytest.raises(PatternError, match="partition_by\\[0\\]: column 'user id'"):
        generate_code(pattern("absence", partition_by=["user id"]), "sss")


def test_cli_writes_generated_code(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    import json

    path.write_text(json.dumps(PATTERNS["match_recognize"]), encoding="utf-8")
    out = tmp_path / "q.sql"
    done = subprocess.run([sys.executable, "-m", "cep", "codegen", str(path), "--target", "sql",
                           "--source-table", "cat.sch.ticks", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "FROM `cat`.`sch`.`ticks`" in out.read_text(encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "cep", "codegen", str(path), "--target", "sql",
                           "--source-table", "x;y"], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: invalid code generation options: source.delta.table")
