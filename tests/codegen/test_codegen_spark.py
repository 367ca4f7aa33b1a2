"""Parity on real Spark: the generated ``sss`` job, run on local PySpark Structured Streaming,
finds exactly the matches of ``cep.matcher.find_matches`` — one pattern of every kind.

Each pattern's pack sample (200 events, seed 0) is written as Parquet files: two micro-batches in
time order, each shuffled, some events of the first arriving with the second (out of order,
within the one-minute watermark), and one end-of-stream row per key. The generated
``read_events`` + ``build_matches`` run with ``trigger(availableNow=True)`` on ``local[2]``
(two shuffle partitions, RocksDB state store, event-time timers) in one shared SparkSession.

Without Java the test skips, unless ``LAKESTREAM_REQUIRE_SPARK=1`` (CI), where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cep.matcher import find_matches
from cep.packs import generate_sample, list_packs
from tests.codegen.spark_harness import (
    java_available,
    load_job,
    normalise_matches,
    normalise_spark,
    run_stream,
    spark_session,
    write_micro_batches,
)

pytestmark = [pytest.mark.spark, pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]

DELAY_S = 60


def _one_pattern_per_kind() -> list[tuple[Any, Any]]:
    chosen: dict[str, tuple[Any, Any]] = {}
    for pack in list_packs():
        for pattern in pack.patterns.values():
            chosen.setdefault(pattern.kind, (pack, pattern))
    return [chosen[k] for k in sorted(chosen)]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    if not java_available():
        if os.environ.get("LAKESTREAM_REQUIRE_SPARK") == "1":
            pytest.fail("LAKESTREAM_REQUIRE_SPARK=1 but no Java runtime was found")
        pytest.skip("PySpark needs a Java runtime (17+); none found on the PATH")
    session = spark_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def streamed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every kind's job run on Spark; kind -> (pattern, spark rows, expected rows)."""
    root = tmp_path_factory.mktemp("spark_parity")
    jobs, expected = [], {}
    for pack, pattern in _one_pattern_per_kind():
        events, _ = generate_sample(pack, events=200, seed=0)
        source = root / pattern.kind
        write_micro_batches(events, pattern, source, batches=2, delay_s=DELAY_S)
        job = load_job(pattern, root, {
            "source": {"kind": "files", "path": str(source), "max_files_per_trigger": 1},
            "watermark_delay": f"{DELAY_S}s"})
        jobs.append((job, pattern.partition_by))
        expected[pattern.kind] = (pattern, normalise_matches(
            find_matches(pattern, events).matches, pattern.partition_by))
    output = run_stream(spark, jobs, root / "checkpoints")
    return {kind: (p, normalise_spark(output, p.partition_by, p.name), want)
            for kind, (p, want) in expected.items()}


KINDS = sorted(p.kind for _, p in _one_pattern_per_kind())


@pytest.mark.parametrize("kind", KINDS)
def test_generated_sss_job_on_spark_equals_the_matcher(kind: str, streamed: dict[str, Any]) -> None:
    pattern, got, expected = streamed[kind]
    assert expected, f"{pattern.name}: the sample should give the pattern something to find"
    assert got == expected


def test_every_kind_runs_on_spark() -> None:
    assert len(KINDS) == 13


def test_micro_batches_hold_out_of_order_events(tmp_path: Path) -> None:
    import polars as pl

    pack, pattern = _one_pattern_per_kind()[0]
    events, _ = generate_sample(pack, events=200, seed=0)
    write_micro_batches(events, pattern, tmp_path, batches=2, delay_s=DELAY_S)
    first, second = (pl.read_parquet(tmp_path / f"part-00{i}.parquet") for i in (0, 1))
    assert first.height + second.height == events.height + len(
        events.select(pattern.partition_by).unique())
    late = second.filter(pl.col(pattern.order_by) < first.get_column(pattern.order_by).max())
    assert late.height >= 1
    ts = second.get_column(pattern.order_by)
    assert not ts.is_sorted(), "a micro-batch should arrive out of order"
