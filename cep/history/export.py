"""Export of stored runs as JSON or CSV bytes (what the History page offers for download).

JSON: ``{"runs": [<StoredRun as JSON>, ...]}``, UTF-8. CSV: one row per run with the summary
columns and the pattern and matches as JSON text. Text cells that a spreadsheet would take for
a formula (starting with ``=``, ``+``, ``-``, ``@``) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Literal

from cep.errors import StoreError
from cep.history.records import StoredRun

__all__ = ["CSV_COLUMNS", "ExportFormat", "render_runs"]

ExportFormat = Literal["json", "csv"]

CSV_COLUMNS = (
    "id", "created_at", "owner", "pattern_name", "kind", "event_source", "event_count",
    "match_count", "duration_ms", "has_events", "matches_truncated", "pattern", "matches",
)


def _cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render_runs(runs: Sequence[StoredRun], fmt: ExportFormat) -> bytes:
    """The runs as JSON or CSV bytes (UTF-8).

    Raises:
        StoreError: ``fmt`` is neither ``json`` nor ``csv``.
    """
    if fmt == "json":
        data = {"runs": [run.model_dump(mode="json") for run in runs]}
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for run in runs:
            writer.writerow(
                [
                    run.id,
                    run.created_at.isoformat(),
                    _cell(run.owner),
                    _cell(run.pattern_name),
                    run.kind,
                    _cell(run.event_source),
                    run.event_count,
                    run.match_count,
                    run.duration_ms,
                    run.has_events,
                    run.matches_truncated,
                    json.dumps(run.pattern, ensure_ascii=False),
                    json.dumps(run.matches, ensure_ascii=False),
                ]
            )
        return buffer.getvalue().encode("utf-8")
    raise StoreError(f"unknown export format {fmt!r}; use 'json' or 'csv'")
