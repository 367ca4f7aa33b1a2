"""The ``sdp`` target, checked statically: PySpark 4.3 ships ``pyspark.pipelines`` but running a
pipeline needs the Spark Connect pipeline server (``spark-pipelines run``), which is not started
here. So the test parses the generated file and checks that every ``dp.*`` name it uses exists in
the installed ``pyspark.pipelines`` and that each call's keyword arguments bind to the real
signature (no stubs)."""

from __future__ import annotations

import ast
import inspect

import pytest

from cep.codegen import generate_code
from tests.codegen.kinds import PATTERNS, pattern

dp = pytest.importorskip("pyspark.pipelines")


def dp_calls(tree: ast.Module) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
            and n.func.value.id == "dp"]


@pytest.mark.parametrize("kind", list(PATTERNS))
@pytest.mark.parametrize("expectations", [True, False], ids=["rejected-table", "plain"])
def test_sdp_code_uses_only_real_pipelines_api(kind: str, expectations: bool) -> None:
    text = generate_code(pattern(kind), "sdp", {"expectations_table": expectations}).text
    tree = ast.parse(text)
    assert "from pyspark import pipelines as dp" in text
    calls = dp_calls(tree)
    used = {c.func.attr for c in calls}  # type: ignore[attr-defined]
    expected = {"temporary_view", "create_streaming_table", "append_flow"} | (
        {"table"} if expectations else set())
    assert used == expected
    for call in calls:
        function = getattr(dp, call.func.attr)  # type: ignore[attr-defined]
        kwargs = {k.arg: None for k in call.keywords if k.arg is not None}
        args = [None] * len(call.args)
        inspect.signature(function).bind(*args, **kwargs)
    flows = [c for c in calls if c.func.attr == "append_flow"]  # type: ignore[attr-defined]
    targets = {ast.unparse(k.value) for c in flows for k in c.keywords if k.arg == "target"}
    assert targets == {"SINK_TABLE"}
    assert "transformWithStateInPandas" in text
    assert "TODO" not in text


def test_sdp_declares_the_streaming_table_the_flow_appends_to() -> None:
    text = generate_code(pattern("absence"), "sdp", {"sink_table": "cat.sch.alerts"}).text
    assert "SINK_TABLE = '`cat`.`sch`.`alerts`'" in text
    assert "dp.create_streaming_table(name=SINK_TABLE" in text
    assert "REJECTED_TABLE = '`cat`.`sch`.`alerts_rejected`'" in text
