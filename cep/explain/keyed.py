"""The events as explanations read them: sorted by key and time, with ids, keys and positions.

Explanations never touch the matcher's private state: they re-read the events the matcher
read, in the same order (key in order of first appearance, then time, then input order), and
find each bound event by its id with a join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep.errors import EventDataError
from cep.model import Pattern

__all__ = [
    "ID", "KEY", "POS", "ROW", "TS", "KeyedEvents", "key_label", "parse_key", "prepare_keyed",
    "unique_ids",
]

ROW = "__row"  # input row number
ID = "__id"  # event id (the id field's value, or the row number)
KEY = "__key"  # key number, in order of first appearance
POS = "__pos"  # position of the event within its key
TS = "__ts_us"  # event time, microseconds since the epoch


def key_label(key: dict[str, Any]) -> str:
    """``k=v, ...`` (or ``all events`` without partition columns)."""
    return ", ".join(f"{k}={v}" for k, v in key.items()) or "all events"


@dataclass
class KeyedEvents:
    """Events sorted for explaining one pattern (the matcher's own sort, ``prepare_events``).

    Attributes:
        pattern: the pattern.
        events: the events as given.
        order: sorted position → input row number.
        key_starts: first sorted position of each key; ``key_starts[k + 1]`` ends it.
        keys: key number → key dict.
        id_column: the id field (None: the 0-based input row number identifies events).
    """

    pattern: Pattern
    events: pl.DataFrame
    order: npt.NDArray[np.int64]
    key_starts: npt.NDArray[np.int64]
    keys: list[dict[str, Any]]
    id_column: str | None
    _ts: npt.NDArray[np.int64]
    _frame: pl.DataFrame | None = field(default=None, repr=False)
    _part: npt.NDArray[np.int64] | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        """The events' own columns."""
        return self.events.columns

    @property
    def height(self) -> int:
        """Number of events."""
        return int(self.order.shape[0])

    def ts_us(self) -> npt.NDArray[np.int64]:
        """Event time of every sorted row, microseconds."""
        return self._ts

    def part(self) -> npt.NDArray[np.int64]:
        """Key number of every sorted row."""
        if self._part is None:
            sizes = np.diff(self.key_starts)
            self._part = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), sizes)
        return self._part

    def ids(self) -> pl.Series:
        """Event id of every sorted row."""
        if self.id_column is None:
            return pl.Series(ID, self.order)
        return self.events.get_column(self.id_column)[pl.Series(self.order)].alias(ID)

    def sorted_select(self, names: list[str]) -> pl.DataFrame:
        """Some of the events' columns in sorted order, plus ``__key``."""
        frame = self.events.select(names)[pl.Series(self.order)] if names else pl.DataFrame(
            {"__n": np.zeros(self.height, dtype=np.int64)}).drop("__n")
        return frame.with_columns(pl.Series(KEY, self.part()))

    @property
    def frame(self) -> pl.DataFrame:
        """All columns sorted, plus ``__row``, ``__id``, ``__key``, ``__pos`` and ``__ts_us``."""
        if self._frame is None:
            positions = np.arange(self.height, dtype=np.int64) - self.key_starts[:-1][self.part()]
            self._frame = self.events[pl.Series(self.order)].with_columns(
                pl.Series(ROW, self.order), self.ids(), pl.Series(KEY, self.part()),
                pl.Series(POS, positions), pl.Series(TS, self._ts))
        return self._frame

    def key_slice(self, key_number: int) -> tuple[int, int]:
        """Sorted rows ``start, end`` that hold the key."""
        return int(self.key_starts[key_number]), int(self.key_starts[key_number + 1])

    def key_frame(self, key_number: int) -> pl.DataFrame:
        """The key's events, sorted (with the columns of :attr:`frame`)."""
        start, end = self.key_slice(key_number)
        return self.frame.slice(start, end - start)

    def key_number(self, key: Any) -> int:
        """The number of a key given as a dict, or as a value when there is one partition column.

        Raises:
            EventDataError: no event has that key.
        """
        wanted = _as_key(self.pattern, key)
        for number, candidate in enumerate(self.keys):
            if candidate == wanted:
                return number
        if not self.pattern.partition_by:
            raise EventDataError(
                f"pattern {self.pattern.name!r} has no partition_by, so the only key is "
                f"'all events'; got key {key!r}")
        shown = ", ".join(key_label(k) for k in self.keys[:5])
        raise EventDataError(
            f"no events with key {key_label(wanted)} (partition_by "
            f"{', '.join(self.pattern.partition_by)}); keys found: {shown or 'none'}"
            + (" ..." if len(self.keys) > 5 else ""))


def _as_key(pattern: Pattern, key: Any) -> dict[str, Any]:
    columns = pattern.partition_by
    if isinstance(key, dict):
        if set(key) != set(columns):
            raise EventDataError(
                f"key {key!r} must name exactly the partition columns "
                f"({', '.join(columns) or 'none'})")
        return {c: key[c] for c in columns}
    if len(columns) == 1:
        return {columns[0]: key}
    raise EventDataError(
        f"give the key as a dict of {', '.join(columns) or 'no columns'}, got {key!r}")


def id_column_of(pattern: Pattern, events: pl.DataFrame) -> str | None:
    """The column that identifies events: ``id_field``, else ``id`` when present, else none."""
    if pattern.id_field is not None:
        if pattern.id_field not in events.columns:
            raise EventDataError(f"events have no id column {pattern.id_field!r} (the pattern's "
                                 "id_field)")
        return pattern.id_field
    return "id" if "id" in events.columns else None


def unique_ids(ids: pl.Series) -> bool:
    """Whether no id repeats."""
    return bool(ids.n_unique() == ids.len())


def prepare_keyed(pattern: Pattern, events: pl.DataFrame, *, check_ids: bool = True
                  ) -> KeyedEvents:
    """Sort the events as the matcher does (``cep.matcher.frame.prepare_events``).

    ``check_ids=False`` leaves the uniqueness check of the ids to the caller.

    Raises:
        EventDataError: a partition or time column is missing, or event ids repeat (an
            explanation finds bound events by id).
    """
    from cep.matcher.frame import prepare_events

    id_column = id_column_of(pattern, events)
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, id_column)
    if check_ids and id_column is not None and not unique_ids(events.get_column(id_column)):
        raise EventDataError(
            f"event ids in {id_column!r} repeat; explanations find bound events by id: set the "
            "pattern's id_field to a unique column")
    starts = np.append(prepared.part_start, prepared.height).astype(np.int64)
    keys: list[dict[str, Any]] = []
    if pattern.partition_by and prepared.height:
        firsts = pl.Series(prepared.order[prepared.part_start])
        keys = events.select(list(pattern.partition_by))[firsts].to_dicts()
    elif prepared.height:
        keys = [{}]
    return KeyedEvents(pattern=pattern, events=events, order=prepared.order, key_starts=starts,
                       keys=keys, id_column=id_column, _ts=prepared.ts_us)


def parse_key(pattern: Pattern, events: pl.DataFrame, text: str) -> dict[str, Any]:
    """The key named by command-line text: a value (one partition column) or ``col=v,col2=w``.

    Values are compared as text, so ``--key 42`` finds the integer key 42.

    Raises:
        EventDataError: the pattern has no partition columns, or no event has that key.
    """
    if not pattern.partition_by:
        raise EventDataError(f"pattern {pattern.name!r} has no partition_by: leave out the key "
                             f"(got {text!r})")
    if "=" in text:
        pairs = [part.partition("=") for part in text.split(",")]
        wanted = {name.strip(): value.strip() for name, _, value in pairs}
    elif len(pattern.partition_by) == 1:
        wanted = {pattern.partition_by[0]: text}
    else:
        raise EventDataError(f"give the key as {'=...,'.join(pattern.partition_by)}=..., got "
                             f"{text!r}")
    if set(wanted) != set(pattern.partition_by):
        raise EventDataError(f"key {text!r} must name the partition columns "
                             f"{', '.join(pattern.partition_by)}")
    keys = events.select(list(pattern.partition_by)).unique(maintain_order=True)
    for row in keys.iter_rows(named=True):
        if all(str(row[c]) == wanted[c] for c in pattern.partition_by):
            return dict(row)
    shown = ", ".join(key_label(k) for k in keys.head(5).to_dicts())
    raise EventDataError(f"no events with key {text!r} (partition_by "
                         f"{', '.join(pattern.partition_by)}); keys found: {shown or 'none'}")
