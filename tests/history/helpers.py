"""Helpers of the history tests: real matcher runs on small, readable event lists."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from cep.events import load_events
from cep.history import RunRecord
from cep.matcher import find_matches
from cep.model import parse_pattern

PG_URL = os.environ.get(
    "LAKESTREAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL test server (trust auth, database ``test``)."""

V_SHAPE = {
    "kind": "match_recognize",
    "name": "v_shape",
    "partition_by": ["user"],
    "pattern": "A B+ C",
    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
}

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def events(*rows: tuple[str, float], start_id: int = 1) -> list[dict[str, Any]]:
    """Events from ``(user, price)`` pairs, one second apart, ids counting from ``start_id``."""
    return [
        {"id": start_id + i, "ts": T0 + timedelta(seconds=i), "user": user, "price": price}
        for i, (user, price) in enumerate(rows)
    ]


def make_run(
    rows: list[dict[str, Any]] | None = None,
    *,
    pattern: dict[str, Any] | None = None,
    owner: str = "ana@example.com",
    **fields: Any,
) -> RunRecord:
    """A real run of ``pattern`` (default: V_SHAPE) on ``rows`` (default: one V per user)."""
    rows = rows if rows is not None else events(("bob", 5), ("bob", 3), ("bob", 4))
    p = parse_pattern(pattern or V_SHAPE)
    frame = load_events(_ndjson(rows), fmt="ndjson")
    result = find_matches(p, frame)
    return RunRecord.from_run(p, result, owner=owner, events=frame, **fields)


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(
        json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()})
        for r in rows
    ).encode()
