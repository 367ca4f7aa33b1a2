"""Sort events into partitions once, the layout every matcher kind works on.

Partitions appear in the order of their first event in the input; inside a partition rows are
ordered by event time, and rows with equal times keep their input order. The sort is a
permutation (``order``) computed with integer partition codes and a stable radix/merge sort,
and columns are gathered into that order only when a step needs them, which is far cheaper than
sorting the whole frame by a string key and a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep.errors import EventDataError

__all__ = ["PART_COL", "ROW_COL", "Prepared", "prepare_events"]

ROW_COL = "__row"
PART_COL = "__part"


@dataclass
class Prepared:
    """Events and the permutation that sorts them for matching.

    Attributes:
        events: the events as given (never modified).
        order: sorted position → input row number.
        part_start: first sorted position of each partition.
        part_end: one past the last sorted position of each partition.
        ts_us: event time of each sorted row, microseconds since the epoch.
        id_column: the column whose values identify events (None: the input row number).
        partition_by: the partition columns.
        order_by: the event-time column.
    """

    events: pl.DataFrame
    order: npt.NDArray[np.int64]
    part_start: npt.NDArray[np.int64]
    part_end: npt.NDArray[np.int64]
    ts_us: npt.NDArray[np.int64]
    id_column: str | None
    partition_by: tuple[str, ...]
    order_by: str
    _part_of_row: npt.NDArray[np.int64] | None = field(default=None, repr=False)

    @property
    def height(self) -> int:
        """Number of events."""
        return int(self.order.shape[0])

    def part_numbers(self) -> npt.NDArray[np.int64]:
        """Partition number of each sorted row."""
        if self._part_of_row is None:
            sizes = self.part_end - self.part_start
            self._part_of_row = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        return self._part_of_row

    def sorted_frame(self, columns: Iterable[str], *, with_partition: bool = False) -> pl.DataFrame:
        """The given columns in sorted order (plus ``__part`` if asked)."""
        names = list(dict.fromkeys(columns))
        frame = self.events.select(names)[pl.Series(self.order)] if names else pl.DataFrame()
        if with_partition:
            frame = frame.with_columns(pl.Series(PART_COL, self.part_numbers()))
        return frame

    def to_sorted(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Reorder per-input-row values into sorted order."""
        return values[self.order]

    def ids(self) -> npt.NDArray[Any]:
        """Event ids of the sorted rows."""
        if self.id_column is None:
            return self.order
        return self.to_sorted(self.events.get_column(self.id_column).to_numpy())

    def times(self) -> list[Any]:
        """Event times of the sorted rows, as Python datetimes."""
        return self.events.get_column(self.order_by)[pl.Series(self.order)].to_list()

    def key_of(self, part: int) -> dict[str, Any]:
        """The partition-column values of partition ``part``."""
        if not self.partition_by:
            return {}
        row = self.events.row(int(self.order[self.part_start[part]]), named=True)
        return {col: row[col] for col in self.partition_by}

    def rows(self, start: int, end: int) -> list[dict[str, Any]]:
        """Sorted rows ``start``..``end`` (exclusive) as dicts."""
        return self.events[pl.Series(self.order[start:end])].to_dicts()

    def event_id(self, position: int) -> Any:
        """The id of the event at a sorted position."""
        row = int(self.order[position])
        return row if self.id_column is None else self.events.item(row, self.id_column)


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
    if events.get_column(order_by).null_count():
        first = events.with_row_index().filter(pl.col(order_by).is_null()).item(0, "index")
        raise EventDataError(f"row {first + 1}, field {order_by!r}: the event time is missing")


def _first_appearance(codes: npt.NDArray[Any], n: int) -> npt.NDArray[np.int64]:
    """Renumber arbitrary non-negative codes 0.. in order of first appearance."""
    first = np.full(int(codes.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n, dtype=np.int64))
    rank = np.empty(first.shape[0], dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.shape[0], dtype=np.int64)
    result: npt.NDArray[np.int64] = rank[codes]
    return result


def _partition_codes(events: pl.DataFrame, partition_by: tuple[str, ...]) -> npt.NDArray[np.int64]:
    n = events.height
    if len(partition_by) == 1:
        column = events.get_column(partition_by[0])
        if column.dtype == pl.String:
            codes = column.cast(pl.Categorical).to_physical().fill_null(-1).to_numpy()
            codes = codes.astype(np.int64) + 1  # nulls form their own partition
            return _first_appearance(codes, n)
    rows = (
        events.select(partition_by)
        .with_row_index(ROW_COL)
        .group_by(list(partition_by), maintain_order=True)
        .agg(pl.col(ROW_COL))
        .get_column(ROW_COL)
    )
    codes = np.empty(n, dtype=np.int64)
    codes[rows.explode().to_numpy()] = np.repeat(
        np.arange(rows.len(), dtype=np.int64), rows.list.len().to_numpy()
    )
    return codes


def _stable_argsort(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    top = int(codes.max()) if codes.shape[0] else 0
    small = codes.astype(np.uint16) if top < 2**16 else codes  # numpy radix-sorts 16-bit ints
    return np.argsort(small, kind="stable").astype(np.int64, copy=False)


def prepare_events(
    events: pl.DataFrame,
    partition_by: tuple[str, ...] | list[str],
    order_by: str,
    id_field: str | None = None,
) -> Prepared:
    """Sort events by partition (first appearance) and time, and find partition boundaries.

    Raises:
        EventDataError: a partition, time or id column is missing, or times are not timestamps.
    """
    partition_by = tuple(partition_by)
    _check_columns(events, partition_by, order_by)
    if id_field is not None and id_field not in events.columns:
        raise EventDataError(f"events have no id column {id_field!r} (the pattern's id_field)")
    if id_field is None and "id" in events.columns:
        id_field = "id"
    n = events.height
    ts_col = events.get_column(order_by)
    if ts_col.dtype == pl.Date:
        ts_col = ts_col.cast(pl.Datetime("us"))
    ts = ts_col.dt.epoch("us").to_numpy().astype(np.int64, copy=False)
    time_sorted = n < 2 or bool(np.all(ts[1:] >= ts[:-1]))
    order = np.arange(n, dtype=np.int64) if time_sorted else np.argsort(ts, kind="stable")
    if partition_by and n:
        codes = _partition_codes(events, partition_by)
        by_part = _stable_argsort(codes[order])
        order = order[by_part]
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.diff(sorted_codes, prepend=-1)).astype(np.int64)
    else:
        starts = np.zeros(1 if n else 0, dtype=np.int64)
    ends = np.append(starts[1:], n).astype(np.int64)
    return Prepared(
        events=events,
        order=np.ascontiguousarray(order),
        part_start=starts,
        part_end=ends,
        ts_us=np.ascontiguousarray(ts[order]),
        id_column=id_field,
        partition_by=partition_by,
        order_by=order_by,
    )
