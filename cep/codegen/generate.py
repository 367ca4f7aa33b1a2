"""``generate_code``: one validated pattern + options → the text of a Spark job or query.

Targets: ``sss`` (a Databricks notebook running Spark Structured Streaming), ``sdp`` (a Lakeflow
Spark Declarative Pipelines source file) and ``sql`` (a Databricks SQL ``MATCH_RECOGNIZE``
query, ``match_recognize`` patterns only). See the package docstring for the design.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from cep import expr as E
from cep.codegen.escape import (
    Code,
    check_identifier,
    comment_lines,
    py_literal,
    sql_identifier,
    sql_table,
)
from cep.codegen.fields import pattern_fields
from cep.codegen.options import CodegenOptions, parse_options
from cep.codegen.render import render_template
from cep.codegen.sql import render_match_recognize_sql
from cep.errors import UnsupportedFeature
from cep.model import MatchRecognizePattern, Pattern, pattern_to_dict

__all__ = ["TARGETS", "GeneratedCode", "Target", "generate_code"]

Target = Literal["sss", "sdp", "sql"]
TARGETS: tuple[Target, ...] = ("sss", "sdp", "sql")
_LANGUAGE = {"sss": "python", "sdp": "python", "sql": "sql"}
_SUFFIX = {"sss": "_sss.py", "sdp": "_sdp.py", "sql": ".sql"}


@dataclass(frozen=True)
class GeneratedCode:
    """Generated code and what a page or a deploy step needs to show, save or ship it.

    Attributes:
        target: ``sss``, ``sdp`` or ``sql``.
        text: the file's contents.
        file_name: a safe file name (``<pattern>_sss.py``, ``<pattern>_sdp.py``, ``<pattern>.sql``).
        language: ``python`` or ``sql`` (for syntax highlighting).
        header: the English description placed at the top of the file as comments (plain text).
        sha256: hex digest of ``text`` (what was deployed).
    """

    target: Target
    text: str
    file_name: str
    language: str
    header: str
    sha256: str


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:60]
    return slug or "pattern"


def _spark_interval(us: int) -> Code:
    if us % 1_000_000 == 0:
        return py_literal(f"{us // 1_000_000} seconds")
    return py_literal(f"{max(1, us // 1000)} milliseconds")


def _kafka_schema(fields: dict[str, str]) -> Code:
    parts = [f"{sql_identifier(name, f'schema field {name!r}')} {kind.upper()}"
             for name, kind in fields.items()]
    return py_literal(", ".join(parts))


def _filter_sql(text: str | None) -> Code | None:
    if text is None:
        return None
    node = E.parse_condition(text)
    for name in E.referenced_columns(node):
        check_identifier(name, "source_filter")
    return py_literal(E.to_sql(node))


def _python_context(pattern: Pattern, options: CodegenOptions, header: Code,
                    target: Target) -> dict[str, Any]:
    check_identifier(pattern.order_by, "order_by")
    for i, column in enumerate(pattern.partition_by):
        check_identifier(column, f"partition_by[{i}]")
    if pattern.id_field is not None:
        check_identifier(pattern.id_field, "id_field")
    slug = _slug(pattern.name)
    source = options.source
    delay_us = options.watermark_delay.microseconds
    context: dict[str, Any] = {
        "header": header,
        "pattern_json": py_literal(json.dumps(pattern_to_dict(pattern), sort_keys=True,
                                              ensure_ascii=True)),
        "pattern_name": py_literal(pattern.name),
        "key_columns": [py_literal(c) for c in pattern.partition_by],
        "event_time": py_literal(pattern.order_by),
        "watermark_delay": _spark_interval(delay_us),
        "lateness_ms": py_literal(delay_us // 1000),
        "filter_sql": _filter_sql(options.source_filter),
        "source_kind": Code(source.kind),
        "wheel_path": Code(options.wheel_path),
        "sink_table": py_literal(str(sql_table(options.sink_table, "sink_table"))),
        "checkpoint": py_literal(options.checkpoint or f"/Volumes/main/default/checkpoints/{slug}"),
        "trigger": Code(options.trigger),
        "trigger_interval": _spark_interval(options.trigger_interval.microseconds),
        "expectations_table": options.expectations_table,
        "rejected_table": py_literal(str(sql_table(options.sink_table + "_rejected",
                                                   "sink_table"))),
        "sink_comment": py_literal(f"Matches of the CEP pattern {pattern.name}"),
    }
    if source.kind == "delta":
        context["source_table"] = py_literal(str(sql_table(source.table, "source.table")))
    elif source.kind == "files":
        context.update(files_path=py_literal(source.path), files_format=py_literal(source.format),
                       max_files=None if source.max_files_per_trigger is None
                       else py_literal(source.max_files_per_trigger))
    elif source.kind == "kafka":
        fields = dict(source.schema_fields) or pattern_fields(pattern)
        fields[pattern.order_by] = "timestamp"
        context.update(
            kafka_servers=py_literal(source.bootstrap_servers),
            kafka_topic=py_literal(source.topic),
            kafka_offsets=py_literal(source.starting_offsets),
            kafka_schema=_kafka_schema(fields),
            kafka_login=source.secret_scope is not None,
            secret_scope=py_literal(source.secret_scope),
            username_key=py_literal(source.username_key),
            password_key=py_literal(source.password_key),
        )
    elif source.kind == "rate":
        context.update(rate_rows=py_literal(source.rows_per_second),
                       rate_keys=py_literal(source.keys),
                       id_column=py_literal(pattern.id_field or "id"),
                       rate_fields=[
                           (py_literal(name), py_literal(kind))
                           for name, kind in pattern_fields(pattern).items()
                           if name not in (pattern.order_by, *pattern.partition_by,
                                           pattern.id_field or "id")])
    return context


def generate_code(pattern: Pattern, target: str,
                  options: CodegenOptions | dict[str, Any] | None = None, *,
                  description: str | None = None) -> GeneratedCode:
    """The code that runs ``pattern`` on Databricks as ``target``.

    Args:
        pattern: a validated pattern of any kind.
        target: ``sss``, ``sdp`` or ``sql``.
        options: :class:`~cep.codegen.options.CodegenOptions` or its JSON form (defaults: a
            Delta source table ``main.default.events``, sink ``main.default.cep_matches``).
        description: the English description for the header comment (e.g.
            ``cep.explain.describe_pattern(pattern)``); default: the pattern's name, kind and
            description.

    Raises:
        UnsupportedFeature: the target cannot express the pattern (named: kind or feature).
        PatternError: a column name cannot be written as a Spark identifier.
        CepError: an option is invalid.
    """
    if target not in TARGETS:
        raise UnsupportedFeature(
            f"unknown code generation target {target!r}; choose one of {', '.join(TARGETS)}")
    opts = parse_options(options)
    english = description if description is not None else (
        f"{pattern.name} ({pattern.kind})" + (f": {pattern.description}"
                                             if pattern.description else ""))
    if target == "sql":
        if not isinstance(pattern, MatchRecognizePattern):
            raise UnsupportedFeature(
                f"pattern {pattern.name!r}: kind {pattern.kind!r} is not supported by the sql "
                "target (Databricks SQL MATCH_RECOGNIZE takes match_recognize patterns only); "
                "use the sss or sdp target")
        if opts.source.kind != "delta":
            raise UnsupportedFeature(
                f"the sql target reads a table; source kind {opts.source.kind!r} is not "
                "supported by the sql target (give a delta source table)")
        text = render_match_recognize_sql(pattern, opts.source.table, comment_lines(english, "--"))
    else:
        context = _python_context(pattern, opts, comment_lines(english, "#"), target)
        text = render_template(f"{target}.py.j2", context)
    return GeneratedCode(
        target=target,  # type: ignore[arg-type]
        text=text,
        file_name=_slug(pattern.name) + _SUFFIX[target],
        language=_LANGUAGE[target],
        header=english,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
