"""History store benchmark (issue 6 §4): 100,000 stored runs, then list and detail latency.

Usage::

    python -m benchmarks.history [--runs N] [--repeat R] [--postgres-url URL] [--no-postgres]

Prints a Markdown section on stdout. For each backend (a SQLite file in a temporary folder,
and the PostgreSQL server at ``LAKESTREAM_TEST_POSTGRES_URL`` or 127.0.0.1:5432 in a fresh
schema that is dropped afterwards):

1. ``N`` runs are inserted with ``HistoryStore.record_runs`` (batches of 2,000): real matcher
   results of a few patterns, reused under 200 pattern names of 3 kinds, 50 owners, created
   one every ~78 s over 90 days (newest last), each with its 6 events stored;
2. ``ANALYZE`` refreshes the planner statistics (as autovacuum / a periodic job would);
3. each query is timed best of ``R`` after one warm-up call, through the store's public API
   (connection from the pool, query, building the frozen records): the newest page of 50
   unfiltered and with each filter, the 100th page reached with a cursor, and a detail fetch
   (``get_run``) of a run in the middle of the table.

Targets (issue 6): list a page of 50 with a filter in under 50 ms, a detail fetch under 20 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from cep.events import load_events
from cep.history import (
    HistorySettings,
    HistoryStore,
    RunFilters,
    RunRecord,
    create_history_engine,
)
from cep.matcher import find_matches
from cep.model import parse_pattern

__all__ = ["main"]

LIST_TARGET_MS = 50.0
DETAIL_TARGET_MS = 20.0
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SPAN = timedelta(days=90)

_EVENTS = b"\n".join(
    [
        b'{"id": 1, "ts": "2024-01-01T00:00:00", "user": "bob", "price": 5}',
        b'{"id": 2, "ts": "2024-01-01T00:00:01", "user": "bob", "price": 3}',
        b'{"id": 3, "ts": "2024-01-01T00:00:02", "user": "bob", "price": 4}',
        b'{"id": 4, "ts": "2024-01-01T00:00:03", "user": "eve", "price": 9}',
        b'{"id": 5, "ts": "2024-01-01T00:00:04", "user": "eve", "price": 8}',
        b'{"id": 6, "ts": "2024-01-01T00:00:05", "user": "eve", "price": 9}',
    ]
)
_PATTERNS: list[dict[str, Any]] = [
    {
        "kind": "match_recognize", "name": "v_shape", "partition_by": ["user"],
        "pattern": "A B+ C", "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
    },
    {
        "kind": "sequence", "name": "drop_then_rise", "partition_by": ["user"],
        "steps": [{"name": "drop", "where": "price < 5"}, {"name": "rise", "where": "price > 8"}],
    },
    {"kind": "heartbeat", "name": "silent_users", "partition_by": ["user"], "interval": "1h"},
]


def _templates() -> list[RunRecord]:
    frame = load_events(_EVENTS, fmt="ndjson")
    records = []
    for data in _PATTERNS:
        pattern = parse_pattern(data)
        result = find_matches(pattern, frame)
        records.append(RunRecord.from_run(pattern, result, owner="x", events=frame))
    return records


def _runs(n: int, start: datetime) -> Iterator[RunRecord]:
    templates = _templates()
    step = SPAN / n
    for i in range(n):
        base = templates[i % len(templates)]
        pattern = base.pattern.model_copy(update={"name": f"{base.pattern.name}_{i % 200:03d}"})
        yield base.model_copy(
            update={
                "pattern": pattern,
                "owner": f"user{i % 50:02d}@example.com",
                "event_source": f"sample_{i % 7}.jsonl",
                "duration_ms": float(i % 40),
                "created_at": start + step * i,
            }
        )


def _best_ms(call: Callable[[], object], repeat: int) -> float:
    call()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _measure(store: HistoryStore, n: int, repeat: int) -> tuple[float, list[tuple[str, float, float]]]:
    start = datetime.now(UTC) - SPAN
    t0 = time.perf_counter()
    ids = store.record_runs(_runs(n, start), batch_size=2_000)
    insert_s = time.perf_counter() - t0
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    assert len(ids) == n

    cursor: str | None = None
    for _ in range(99):
        cursor = store.list_runs(cursor=cursor).next_cursor
    middle = ids[n // 2]
    since = start + SPAN * 0.75
    checks: list[tuple[str, Callable[[], object], float]] = [
        ("newest 50, no filter", lambda: store.list_runs(), LIST_TARGET_MS),
        ("newest 50, kind = sequence", lambda: store.list_runs(RunFilters(kind="sequence")),
         LIST_TARGET_MS),
        ("newest 50, owner = user07@…", lambda: store.list_runs(
            RunFilters(owner="user07@example.com")), LIST_TARGET_MS),
        ("newest 50, name contains `shape_01`", lambda: store.list_runs(
            RunFilters(pattern_name="shape_01")), LIST_TARGET_MS),
        ("newest 50, has matches", lambda: store.list_runs(RunFilters(has_matches=True)),
         LIST_TARGET_MS),
        ("newest 50, last 3 weeks + kind + has matches", lambda: store.list_runs(
            RunFilters(created_from=since, kind="match_recognize", has_matches=True)),
         LIST_TARGET_MS),
        ("100th page of 50 (cursor)", lambda: store.list_runs(cursor=cursor), LIST_TARGET_MS),
        ("detail (`get_run`)", lambda: store.get_run(middle), DETAIL_TARGET_MS),
    ]
    for _, call, _ in checks:
        page = call()
        if hasattr(page, "items"):
            assert len(page.items) == 50, "every benchmark query must fill a page"
    return insert_s, [(name, _best_ms(call, repeat), target) for name, call, target in checks]


def _sqlite(n: int, repeat: int) -> tuple[str, float, list[tuple[str, float, float]]]:
    with tempfile.TemporaryDirectory(prefix="lakestream-bench-") as folder:
        settings = HistorySettings(data_dir=Path(folder))
        engine = create_history_engine(settings)
        try:
            version = sa.__version__
            with engine.connect() as conn:
                version = conn.exec_driver_sql("select sqlite_version()").scalar_one()
            insert_s, rows = _measure(HistoryStore(engine, settings), n, repeat)
        finally:
            engine.dispose()
    return f"SQLite {version} (file, WAL)", insert_s, rows


def _postgres(url: str, n: int, repeat: int) -> tuple[str, float, list[tuple[str, float, float]]]:
    schema = f"lakestream_bench_{secrets.token_hex(4)}"
    settings = HistorySettings(
        database_url=url, db_schema=schema, data_dir=Path(tempfile.gettempdir())
    )
    engine = create_history_engine(settings)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("show server_version").scalar_one()
        insert_s, rows = _measure(HistoryStore(engine, settings), n, repeat)
    finally:
        engine.dispose()
        target = sa.engine.make_url(url)
        with psycopg.connect(
            host=target.host, port=target.port or 5432, user=target.username,
            dbname=target.database, autocommit=True,
        ) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return f"PostgreSQL {str(version).split()[0]} (127.0.0.1, psycopg 3)", insert_s, rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("LAKESTREAM_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)

    results = [_sqlite(args.runs, args.repeat)]
    skipped = None
    if not args.no_postgres:
        try:
            results.append(_postgres(args.postgres_url, args.runs, args.repeat))
        except Exception as exc:  # report, do not hide: the section says PostgreSQL was not run
            skipped = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    out = [
        "## History store (issue 6)",
        "",
        f"{args.runs:,} stored runs per backend, inserted with `HistoryStore.record_runs`; "
        f"each query timed through the store's public API, best of {args.repeat} after a "
        "warm-up (`python -m benchmarks.history`). Targets: a page of 50 with a filter "
        f"< {LIST_TARGET_MS:.0f} ms, a detail fetch < {DETAIL_TARGET_MS:.0f} ms. "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, "
        f"{os.cpu_count()} CPUs.",
        "",
    ]
    header = "| query | " + " | ".join(name for name, _, _ in results) + " | target |"
    out += [header, "|---|" + "---:|" * len(results) + "---:|"]
    inserts = " | ".join(
        f"{s:.1f} s ({args.runs / s:,.0f} runs/s)" for _, s, _ in results
    )
    out.append(f"| bulk insert of {args.runs:,} runs | {inserts} | — |")
    for i, (query, _, target) in enumerate(results[0][2]):
        cells = []
        for _, _, rows in results:
            ms = rows[i][1]
            cells.append(f"{ms:.2f} ms{'' if ms < target else ' **over target**'}")
        out.append(f"| {query} | " + " | ".join(cells) + f" | < {target:.0f} ms |")
    if skipped:
        out += ["", f"PostgreSQL was not measured: {skipped}."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
