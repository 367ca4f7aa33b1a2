"""Plumbing shared by the PySpark parity tests and ``benchmarks.spark_parity``.

* :func:`spark_session` — one local Spark (``local[2]``, two shuffle partitions, RocksDB state
  store, UTC, the venv's interpreter and this checkout on the workers' path);
* :func:`load_job` — the generated ``sss`` file imported as a module (its processor shipped to
  the workers by value);
* :func:`write_micro_batches` — events as Parquet files, one per micro-batch, out of order
  within the watermark, then one end-of-stream row per key;
* :func:`run_stream` — the generated ``build_matches`` over those files with
  ``trigger(availableNow=True)`` into a memory sink;
* :func:`normalise_spark` / :func:`normalise_matches` — both sides as comparable tuples.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

from cep.codegen import generate_code
from cep.codegen.runtime import END_OF_STREAM_COLUMN
from cep.model import Pattern
from cep.results import Match, format_time, jsonable

ROOT = Path(__file__).resolve().parents[2]
_ATTEMPTS = 3

__all__ = [
    "java_available",
    "load_job",
    "normalise_matches",
    "normalise_spark",
    "run_stream",
    "run_tws_tester",
    "spark_session",
    "write_micro_batches",
]


def java_available() -> bool:
    """Whether a Java runtime is on the PATH (PySpark needs one)."""
    if shutil.which("java") is None:
        return False
    done = subprocess.run(["java", "-version"], capture_output=True, check=False, timeout=60)
    return done.returncode == 0


def spark_session(app_name: str = "lakestream-parity") -> Any:
    """A local SparkSession configured as the parity tests need (see the module docstring)."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    paths = [str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.streaming.stateStore.providerClass",
                "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.streaming.noDataMicroBatches.enabled", "false")
        .config("spark.python.authenticate.socketTimeout", "300s")
        .getOrCreate()
    )


def load_job(pattern: Pattern, directory: Path, options: dict[str, Any]) -> ModuleType:
    """Generate the ``sss`` code for ``pattern`` and import it as a module."""
    from pyspark import cloudpickle

    code = generate_code(pattern, "sss", options)
    name = f"cep_job_{uuid.uuid4().hex[:12]}"
    path = directory / f"{name}.py"
    path.write_text(code.text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


def write_micro_batches(events: pl.DataFrame, pattern: Pattern, directory: Path, *,
                        batches: int = 3, delay_s: float = 60.0, seed: int = 0,
                        separate_end: bool = False) -> int:
    """Write ``events`` as ``batches`` Parquet files in time order, shuffled, with some events
    moved into the next file (no earlier than the watermark allows), and one end-of-stream row
    per key in the last file (or, with ``separate_end``, in a file of its own).

    Returns the number of files written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    order_by = pattern.order_by
    frame = events.with_columns(pl.lit(False).alias(END_OF_STREAM_COLUMN))
    frame = frame.with_row_index("__pos").sort(order_by, "__pos", maintain_order=True)
    ts = frame.get_column(order_by).cast(pl.Datetime("us", "UTC")).dt.epoch("us").to_list()
    n = frame.height
    bounds = [round(i * n / batches) for i in range(batches + 1)]
    assigned = [0] * n
    for b in range(batches):
        for i in range(bounds[b], bounds[b + 1]):
            assigned[i] = b
    delay_us = int(delay_s * 1_000_000)
    for b in range(batches - 1):
        last = bounds[b + 1] - 1
        if last < bounds[b]:
            continue
        # a few events just before batch b's last one arrive one batch late (out of order: the
        # batch's latest event came first); the watermark after batch b is that latest time
        # minus the delay, so they are still in time.
        for i in range(last - 1, max(bounds[b], last - 4), -1):
            if ts[i] >= ts[last] - delay_us // 2:
                assigned[i] = b + 1
    frame = frame.with_columns(pl.Series("__batch", assigned))
    parts = [
        frame.filter(pl.col("__batch") == b).sample(fraction=1.0, shuffle=True, seed=seed + b)
        .drop("__pos", "__batch")
        for b in range(batches)
    ]
    keys = list(pattern.partition_by)
    last_ts = events.get_column(order_by).max()
    if keys:
        ends = events.select(keys).unique(maintain_order=True)
    else:
        ends = pl.DataFrame({"__one": [0]})
    ends = ends.with_columns(pl.lit(last_ts).cast(events.schema[order_by]).alias(order_by),
                             pl.lit(True).alias(END_OF_STREAM_COLUMN))
    if not keys:
        ends = ends.drop("__one")
    template = frame.drop("__pos", "__batch").clear()
    ends = pl.concat([template, ends], how="diagonal_relaxed").select(template.columns)
    if separate_end:
        parts.append(ends)
    else:
        parts[-1] = pl.concat([parts[-1], ends], how="vertical_relaxed")
    for b, part in enumerate(parts):
        path = directory / f"part-{b:03d}.parquet"
        part.write_parquet(path)
        # Spark's file source takes files in modification-time order: make it the file order
        os.utime(path, (1_700_000_000 + b * 10, 1_700_000_000 + b * 10))
    return len(parts)


def run_stream(spark: Any, jobs: Sequence[tuple[ModuleType, Sequence[str]]],
               checkpoint: Path) -> Any:
    """Run generated jobs to the end of their files, one streaming query per job, in turn.

    Each job reads its own files (one file per micro-batch) with ``trigger(availableNow=True)``
    into a memory sink; the key columns become one JSON text column ``key`` so that the outputs
    can be stacked. (One query per job: a union of sources would share one watermark across
    unrelated event-time ranges.) Returns the outputs as one pandas frame.
    """
    import pandas as pd
    from pyspark.sql import functions as F

    frames = []

    def start(i: int, job: ModuleType, keys: Sequence[str], attempt: int) -> tuple[str, Any]:
        matches = job.build_matches(job.read_events(spark))
        key = F.to_json(F.struct(*keys)) if keys else F.lit("{}")
        shaped = matches.select("pattern", key.alias("key"), "start", "end", "event_ids",
                                "classifiers", "measures")
        table = f"matches_{uuid.uuid4().hex[:10]}"
        query = (
            shaped.writeStream.format("memory")
            .queryName(table)
            .outputMode("append")
            .option("checkpointLocation", str(checkpoint / f"{i}-{attempt}"))
            .trigger(availableNow=True)
            .start()
        )
        return table, query

    def finish(i: int, job: ModuleType, keys: Sequence[str]) -> None:
        for attempt in range(_ATTEMPTS):
            table, query = start(i, job, keys, attempt)
            try:
                query.awaitTermination()
            except Exception as exc:  # the query's own failure, re-raised below
                error = str(exc)
            else:
                error = "" if query.exception() is None else str(query.exception())
            if not error:
                frames.append(spark.sql(f"SELECT * FROM {table}").toPandas())
                spark.catalog.dropTempView(table)
                return
            # A Python worker that starts slower than Spark's fixed connect-back timeout (on a
            # loaded machine) fails the query before any data is processed: run it again.
            if "failed to connect back" not in error or attempt == _ATTEMPTS - 1:
                raise AssertionError(f"streaming query failed: {error}")

    for i, (job, keys) in enumerate(jobs):
        finish(i, job, keys)
    present = [f for f in frames if len(f)]
    return pd.concat(present, ignore_index=True) if present else frames[0]


Row = tuple[Any, ...]


def _row(pattern: str, key: Sequence[Any], start: str | None, end: str | None,
         ids: Sequence[Any], classifiers: Sequence[str], measures: Any) -> Row:
    return (pattern, tuple(str(k) for k in key), start, end, tuple(str(i) for i in ids),
            tuple(classifiers), json.dumps(measures, sort_keys=True, default=str))


def normalise_matches(matches: Sequence[Match], keys: Sequence[str]) -> list[Row]:
    """Batch matches as sorted comparable rows."""
    return sorted(
        (_row(m.pattern, [m.key.get(k) for k in keys], format_time(m.start), format_time(m.end),
              jsonable(m.event_ids), m.classifiers, jsonable(m.measures)) for m in matches),
        key=repr,
    )


def _iso(value: Any) -> str | None:
    if value is None or (hasattr(value, "isoformat") is False) or str(value) == "NaT":
        return None
    return value.to_pydatetime().replace(tzinfo=None).isoformat() if hasattr(
        value, "to_pydatetime") else value.replace(tzinfo=None).isoformat()


def normalise_spark(frame: Any, keys: Sequence[str], pattern: str | None = None) -> list[Row]:
    """Rows of the Spark output frame (pandas, from :func:`run_stream`) as sorted comparable
    rows (only those of ``pattern`` when given)."""
    rows = []
    for record in frame.to_dict("records"):
        if pattern is not None and record["pattern"] != pattern:
            continue
        key = json.loads(record["key"])
        rows.append(_row(record["pattern"], [key.get(k) for k in keys], _iso(record["start"]),
                         _iso(record["end"]), list(record["event_ids"]),
                         list(record["classifiers"]), json.loads(record["measures"])))
    return sorted(rows, key=repr)


def run_tws_tester(job: ModuleType, pattern: Pattern, directory: Path, delay_s: float) -> list[Row]:
    """Run the generated processor with PySpark's ``TwsTester`` (no JVM) over the files written
    by :func:`write_micro_batches`: per file, every key's rows, then the watermark Spark would
    set after that micro-batch (latest event time so far minus the delay)."""
    import pandas as pd
    from pyspark.sql.streaming.tws_tester import TwsTester

    order_by = pattern.order_by
    keys = list(pattern.partition_by)

    def event_ms(row: Any) -> int:
        return int(pd.Timestamp(row[order_by]).value // 1_000_000)

    import pyarrow.parquet as pq

    files = sorted(directory.glob("part-*.parquet"))
    schema = pq.read_schema(files[0])
    int_columns = [f.name for f in schema if str(f.type).startswith(("int", "uint"))]
    processor = job.CepProcessor(int_columns)
    tester = TwsTester(processor, timeMode="EventTime", outputMode="Append",
                       eventTimeExtractor=event_ms)
    outputs = []
    latest_ms: int | None = None
    watermark_ms = 0
    for path in files:
        frame = pd.read_parquet(path)
        frame[order_by] = pd.to_datetime(frame[order_by], utc=True).dt.tz_localize(None)
        groups = frame.groupby(keys, sort=False, dropna=False) if keys else [((0,), frame)]
        for key, rows in groups:
            outputs.append(tester.testInPandas(key, rows.reset_index(drop=True)))
        batch_ms = int(frame[order_by].max().value // 1_000_000)
        latest_ms = batch_ms if latest_ms is None else max(latest_ms, batch_ms)
        new_watermark = latest_ms - int(delay_s * 1000)
        if new_watermark > watermark_ms:
            watermark_ms = new_watermark
            outputs.append(tester.setWatermark(watermark_ms))
    out = pd.concat([o for o in outputs if len(o)], ignore_index=True) if any(
        len(o) for o in outputs) else pd.DataFrame(columns=["pattern"])
    rows = []
    for record in out.to_dict("records"):
        rows.append(_row(record["pattern"], [record[k] for k in keys], _iso(record["start"]),
                         _iso(record["end"]), list(record["event_ids"]),
                         list(record["classifiers"]), json.loads(record["measures"])))
    return sorted(rows, key=repr)
