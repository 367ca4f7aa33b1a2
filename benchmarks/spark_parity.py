"""The generated ``sss`` job on local PySpark beside the Polars matcher: issue 8 §2.

Usage::

    python -m benchmarks.spark_parity [--events N] [--batches B]

Case (d) of the sequence benchmarks (``benchmarks.sequence_cases.PATTERN_D``: ``A`` then ``B``
within 5 minutes, ``PAST LAST EVENT``, 1,000 keys) over ``benchmarks.data.generate_events``.
In the same run:

* the Polars matcher: ``find_matches`` on the frame (one-shot batch run);
* the generated ``sss`` job (``cep.codegen``, files source): the events written as ``B`` Parquet
  files in time order (each shuffled, a few events of each arriving with the next, within the
  one-minute watermark) plus one end-of-stream row per key, read with
  ``trigger(availableNow=True)`` on ``local[2]`` (two shuffle partitions, RocksDB state store),
  one micro-batch per file, into a memory sink.

Prints a Markdown section: wall times (Spark session start apart from the query), events/s, and
whether the two match lists are equal (per key, as sets). Needs Java 17+.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.data import generate_events
from benchmarks.sequence_cases import PATTERN_D
from cep.matcher import find_matches
from cep.model import parse_pattern

DELAY_S = 60


def run(n_events: int, batches: int) -> dict[str, Any]:
    """Measure both sides on the same events; the figures :func:`render` prints."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.codegen.spark_harness import (
        load_job,
        normalise_matches,
        normalise_spark,
        run_stream,
        spark_session,
        write_micro_batches,
    )

    pattern = parse_pattern(PATTERN_D)
    events = generate_events(n_events)
    started = time.perf_counter()
    result = find_matches(pattern, events)
    matches = list(result.matches)  # Match objects built, as the Spark side builds its rows
    polars_s = time.perf_counter() - started
    expected = normalise_matches(matches, pattern.partition_by)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_micro_batches(events, pattern, root / "source", batches=batches, delay_s=DELAY_S)
        job = load_job(pattern, root, {
            "source": {"kind": "files", "path": str(root / "source"),
                       "max_files_per_trigger": 1},
            "watermark_delay": f"{DELAY_S}s"})
        started = time.perf_counter()
        spark = spark_session("lakestream-spark-parity-bench")
        spark.sparkContext.setLogLevel("ERROR")
        session_s = time.perf_counter() - started
        started = time.perf_counter()
        output = run_stream(spark, [(job, pattern.partition_by)], root / "checkpoint")
        query_s = time.perf_counter() - started
        spark.stop()
    got = normalise_spark(output, pattern.partition_by, pattern.name)
    return {"events": n_events, "batches": batches, "keys": events["key"].n_unique(),
            "polars_s": polars_s, "session_s": session_s, "query_s": query_s,
            "matches": len(expected), "spark_matches": len(got), "equal": got == expected}


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds > 0 else "—"


def render(r: dict[str, Any]) -> str:
    """The Markdown section for BENCHMARKS.md."""
    n = r["events"]
    return "\n".join([
        "## Generated Spark job vs the Polars matcher (issue 8 §2)",
        "",
        f"Case (d) of the sequence benchmarks (A then B within 5m, PAST LAST EVENT), {n:,} "
        f"events, {r['keys']:,} keys. The generated `sss` job ran on local PySpark "
        f"(`local[2]`, 2 shuffle partitions, RocksDB state store, `transformWithStateInPandas` "
        f"with event-time timers) over {r['batches']} Parquet micro-batches (out of order within "
        "the 1-minute watermark) plus end-of-stream rows, `trigger(availableNow=True)`; the "
        "Polars matcher ran `find_matches` on the same frame in the same process run.",
        "",
        "| engine | wall time | events/s | matches |",
        "|---|---:|---:|---:|",
        f"| Polars matcher (`find_matches`, Match objects built) | {r['polars_s']:.2f} s | "
        f"{_rate(n, r['polars_s'])} | {r['matches']:,} |",
        f"| generated sss job on local Spark (query) | {r['query_s']:.1f} s | "
        f"{_rate(n, r['query_s'])} | {r['spark_matches']:,} |",
        f"| Spark session start (not in the query time) | {r['session_s']:.1f} s | | |",
        "",
        "The Spark side runs the app's own matcher per key, its state a JSON snapshot in a "
        "`ValueState` (a worker keeps the live matcher while the stored snapshot matches it). "
        "Its cost is mostly per key and micro-batch (Spark's calls into Python, input and "
        "output frames, state reads and writes), not per event. It is the correctness "
        "reference for deployment, not a speed target.",
        "",
        f"Same matches on both sides: **{'yes' if r['equal'] else 'NO'}**.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Run and print the Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark_parity")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)
    result = run(args.events, args.batches)
    sys.stdout.write(render(result))
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
