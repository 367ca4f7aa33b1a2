"""Sort events into partitions once, the layout every matcher kind works on.

Partitions appear in the order of their first event in the input; inside a partition rows are
ordered by event time, and rows with equal times keep their input order. The matcher reads
partitions as contiguous row ranges of one sorted frame, which avoids repeated ``over()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep.errors import EventDataError

__all__ = ["PART_COL", "ROW_COL", "Prepared", "prepare_events"]

ROW_COL = "__row"
PART_COL = "__part"


@dataclass(frozen=True)
class Prepared:
    """Events sorted for matching.

    Attributes:
        frame: the sorted events with ``__row`` (input position) and ``__part`` (partition
            number in order of first appearance) added.
        part_start: first sorted row of each partition.
        part_end: one past the last sorted row of each partition.
        ts_us: event time of each sorted row, microseconds since the epoch.
        id_column: the column whose values identify events in results.
        partition_by: the partition columns.
        order_by: the event-time column.
    """

    frame: pl.DataFrame
    part_start: npt.NDArray[np.int64]
    part_end: npt.NDArray[np.int64]
    ts_us: npt.NDArray[np.int64]
    id_column: str
    partition_by: tuple[str, ...]
    order_by: str

    def key_of(self, part: int) -> dict[str, Any]:
        """The partition-column values of partition ``part``."""
        if not self.partition_by:
            return {}
        row = self.frame.row(int(self.part_start[part]), named=True)
        return {col: row[col] for col in self.partition_by}

    def ids(self) -> npt.NDArray[Any]:
        """Event ids of the sorted rows."""
        return self.frame.get_column(self.id_column).to_numpy()


def _check_columns(events: pl.DataFrame, partition_by: tuple[str, ...], order_by: str) -> None:
    missing = [c for c in (*partition_by, order_by) if c not in events.columns]
    if missing:
        raise EventDataError(
            f"events have no column {missing[0]!r} (the pattern's "
            f"{'order_by' if missing[0] == order_by else 'partition_by'}); "
            f"columns found: {', '.join(events.columns) or 'none'}"
        )
    dtype = events.schema[order_by]
    if not dtype.is_temporal() or isinstance(dtype, pl.Duration | pl.Time):
        raise EventDataError(
            f"event-time column {order_by!r} has type {dtype}, not a timestamp; "
            "load events with cep.events.load_events to parse times"
        )
    nulls = events.get_column(order_by).null_count()
    if nulls:
        first = events.with_row_index().filter(pl.col(order_by).is_null()).item(0, "index")
        raise EventDataError(f"row {first + 1}, field {order_by!r}: the event time is missing")


def prepare_events(
    events: pl.DataFrame,
    partition_by: tuple[str, ...] | list[str],
    order_by: str,
    id_field: str | None = None,
) -> Prepared:
    """Sort events by partition (first appearance) and time, and find partition boundaries.

    Raises:
        EventDataError: a partition or time column is missing or not a timestamp.
    """
    partition_by = tuple(partition_by)
    _check_columns(events, partition_by, order_by)
    if id_field is not None and id_field not in events.columns:
        raise EventDataError(f"events have no id column {id_field!r} (the pattern's id_field)")
    frame = events.with_row_index(ROW_COL)
    if partition_by:
        first = pl.col(ROW_COL).min().over(list(partition_by))
        frame = frame.with_columns(first.alias(PART_COL)).sort([PART_COL, order_by, ROW_COL])
        firsts = frame.get_column(PART_COL).to_numpy()
        starts = np.flatnonzero(np.diff(firsts, prepend=-1))
        part_number = np.cumsum(np.diff(firsts, prepend=-1) != 0) - 1
        frame = frame.with_columns(pl.Series(PART_COL, part_number, dtype=pl.Int64))
    else:
        frame = frame.sort([order_by, ROW_COL]).with_columns(pl.lit(0, pl.Int64).alias(PART_COL))
        starts = np.zeros(1 if frame.height else 0, dtype=np.int64)
    ends = np.append(starts[1:], frame.height).astype(np.int64)
    ts = frame.get_column(order_by)
    if ts.dtype == pl.Date:
        ts = ts.cast(pl.Datetime("us"))
    ts_us = ts.dt.epoch("us").to_numpy().astype(np.int64, copy=False)
    if id_field is None:
        id_field = "id" if "id" in events.columns else ROW_COL
    return Prepared(
        frame=frame,
        part_start=starts.astype(np.int64),
        part_end=ends,
        ts_us=np.ascontiguousarray(ts_us),
        id_column=id_field,
        partition_by=partition_by,
        order_by=order_by,
    )
