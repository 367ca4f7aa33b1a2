"""Code generation: a validated pattern as Spark code that finds the same matches on Databricks.

Targets (:func:`generate_code`):

* ``sss`` — a Databricks notebook (also a plain Python file) running Spark Structured Streaming:
  source → event-time watermark → ``groupBy(keys).transformWithStateInPandas(...)`` → Delta sink,
  with the RocksDB state store, a checkpoint and a trigger;
* ``sdp`` — a Lakeflow Spark Declarative Pipelines source (``from pyspark import pipelines as
  dp``): a source view, a streaming table fed by an append flow running the same processor, and
  an optional table of rejected events;
* ``sql`` — a Databricks SQL ``MATCH_RECOGNIZE`` query (``match_recognize`` patterns only, the
  features Databricks documents; anything else raises ``UnsupportedFeature`` naming it).

Design decision — one engine. The generated jobs run *the same matcher as the app*: the ``cep``
package, installed on the cluster from a wheel of this project (``make wheel``); the notebook's
first cell ``%pip install``s it from ``CodegenOptions.wheel_path`` (e.g. a Unity Catalog volume).
Inside ``transformWithStateInPandas`` a ``StatefulProcessor`` keeps, per key, the snapshot of a
``cep.matcher.create_matcher(pattern)`` stream matcher in a ``ValueState``, feeds it each
micro-batch's rows of the key, passes Spark's watermark on, and registers ``TimeMode.EventTime``
timers for the matcher's deadlines (absence, heartbeat, session close, timeouts, ``within``
expiry); see :mod:`cep.codegen.runtime`. There is no second implementation of the semantics to
drift: the parity tests run the generated code on local PySpark and compare its output with
``cep.matcher.find_matches``.

Safety. The pattern goes into the code only as its validated JSON inside one Python literal;
every literal passes through :func:`cep.codegen.escape.py_literal`, identifiers are validated and
back-quoted, conditions appear only as Spark SQL rendered by ``cep.expr.to_sql`` from a parsed,
validated expression, free text (name, description) only as inert comment lines, and secrets
only as ``dbutils.secrets.get(scope, key)``. Templates live in this package and accept only
escaped values (:mod:`cep.codegen.render`).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TARGETS",
    "CodegenOptions",
    "DeltaSource",
    "FilesSource",
    "GeneratedCode",
    "KafkaSource",
    "RateSource",
    "Target",
    "generate_code",
    "parse_options",
]

# Spark workers import cep.codegen.runtime only; loading the generator (jinja2, the expression
# parser) there would slow every Python worker's start, so the public names load on first use.
_HOMES = {"TARGETS": "generate", "GeneratedCode": "generate", "Target": "generate",
          "generate_code": "generate", "CodegenOptions": "options", "DeltaSource": "options",
          "FilesSource": "options", "KafkaSource": "options", "RateSource": "options",
          "parse_options": "options"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cep.codegen' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cep.codegen.{home}"), name)
