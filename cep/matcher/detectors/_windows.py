"""Shared machinery of the window detectors (``count_threshold``, ``velocity``, ``dedup``).

It holds what the three kinds have in common: checking and reading events (times in
microseconds, ids, ``where`` masks, numeric value fields), exact grouping of rows by column
values in order of first appearance (``group_codes``), the stable key-then-time layout of the
qualifying events, the sliding-episode kernel shared by ``count_threshold`` (sliding) and
``velocity``, its incremental engine, and building ``Match`` objects from row ranges.

Layout: the window kernels work on rows sorted by (key number, time, arrival); keys are numbered
in order of first appearance (the batch run numbers them as the stream matcher does), so batch
and stream runs see every key's events in the same order and produce the same matches. Kernel
inputs are contiguous writable arrays, so each kernel compiles (and caches) one signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from cep import expr as E
from cep.errors import EventDataError, UnsupportedFeature
from cep.events import check_fields, require_numeric
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import Pattern
from cep.results import Match, PartialMatch

__all__ = [
    "HASH_SEED",
    "I64",
    "ID",
    "TS",
    "SlidingEngine",
    "SlidingRule",
    "array_of",
    "check_events",
    "check_state_version",
    "counting_order",
    "datetimes",
    "event_ids",
    "find_sliding_matches",
    "group_codes",
    "group_codes_exact",
    "hash_slot",
    "id_column",
    "key_dicts",
    "numeric_values",
    "qualifying",
    "range_lists",
    "same_values",
    "time_order",
    "times_us",
    "where_expression",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

HASH_SEED = 0x5EED
TS = "__ts"
ID = "__id"
VALUE = "__x"
PREFIX = "__p"


# --------------------------------------------------------------------------------------------
# Reading events


def times_us(column: pl.Series) -> I64:
    """Event times as microseconds since the epoch (naive times are UTC, dates are midnight).

    Raises:
        EventDataError: the column is not a date/time or has a missing value.
    """
    dtype = column.dtype
    if dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    elif not isinstance(dtype, pl.Datetime):
        raise EventDataError(
            f"event-time column {column.name!r} has type {dtype}, not a timestamp; "
            "load events with cep.events.load_events to parse times"
        )
    if column.null_count():
        row = int(column.is_null().arg_max() or 0)
        raise EventDataError(f"row {row + 1}, field {column.name!r}: the event time is missing")
    values: I64 = array_of(column.dt.epoch("us"), np.int64)
    return values


def array_of(series: pl.Series, dtype: type[Any]) -> Any:
    """A column as a contiguous, writable NumPy array (one array type per kernel signature)."""
    return np.require(series.to_numpy(), dtype=dtype, requirements=["C", "W"])


def id_column(pattern: Pattern, columns: Sequence[str]) -> str | None:
    """The column identifying events: ``id_field``, else ``id`` when present, else None."""
    if pattern.id_field is not None:
        return pattern.id_field
    return "id" if "id" in columns else None


def check_events(events: pl.DataFrame, pattern: Pattern, used: Mapping[str, str]) -> None:
    """Check that the events have every column the pattern reads (keys, time, id, fields).

    Raises:
        EventDataError: naming the first missing column and where the pattern uses it.
    """
    needed: dict[str, str] = dict.fromkeys(pattern.partition_by, "partition_by")
    needed.setdefault(pattern.order_by, "order_by")
    if pattern.id_field is not None:
        needed.setdefault(pattern.id_field, "id_field")
    for column, where in used.items():
        needed.setdefault(column, where)
    check_fields(events, needed)


def where_expression(where: str | None) -> tuple[pl.Expr | None, dict[str, str]]:
    """The Polars form of a ``where`` condition and the columns it reads (→ ``"where"``)."""
    if where is None:
        return None, {}
    node = E.parse_condition(where)
    used = dict.fromkeys(sorted(E.referenced_columns(node)), "where")
    return E.to_polars(node).fill_null(False), used


def qualifying(frame: pl.DataFrame, condition: pl.Expr | None, pattern_name: str) -> BOOL:
    """Which rows satisfy the ``where`` condition (all rows without one; NULL is false).

    Raises:
        EventDataError: the condition cannot be evaluated on these events (type mismatch).
    """
    if condition is None:
        return np.ones(frame.height, dtype=np.bool_)
    try:
        # with_columns broadcasts a constant condition to every row.
        mask = frame.with_columns(condition.alias("__q")).get_column("__q").cast(pl.Boolean)
    except pl.exceptions.PolarsError as error:
        detail = str(error).strip().splitlines()[0]
        raise EventDataError(
            f"the where condition of pattern {pattern_name!r} cannot be evaluated on these "
            f"events: {detail} (check that compared fields and values have the same type)"
        ) from None
    values: BOOL = mask.fill_null(False).to_numpy().astype(np.bool_, copy=False)
    return values


def numeric_values(frame: pl.DataFrame, field: str, ids: pl.Series) -> F64:
    """The values of a numeric field as floats (NaN where missing or NaN).

    Raises:
        EventDataError: the field is missing, not numeric, or holds an infinite value.
    """
    column = require_numeric(frame, field).get_column(field).cast(pl.Float64)
    values: F64 = column.to_numpy().astype(np.float64, copy=False)
    infinite = np.isinf(values)
    if infinite.any():
        at = int(np.argmax(infinite))
        raise EventDataError(
            f"field {field!r} of event {ids[at]!r} is infinite; a rate needs finite values"
        )
    return values


# --------------------------------------------------------------------------------------------
# Grouping


@njit(cache=True, nogil=True)
def hash_slot(h: Any, mask: int) -> Any:  # pragma: no cover - compiled
    """The slot of 64-bit hash ``h`` in an open-addressing table of ``mask + 1`` slots."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    return np.int64((h ^ (h >> np.uint64(33))) & np.uint64(mask))


@njit(cache=True, nogil=True)
def _hash_groups(h: Any) -> Any:  # pragma: no cover - compiled
    """Number equal hashes 0.. in order of first appearance (open addressing, grows)."""
    n = h.shape[0]
    cap = 1024
    slots = np.full(cap, -1, dtype=np.int64)
    group_hash = np.empty(max(n, 1), dtype=np.uint64)
    first = np.empty(max(n, 1), dtype=np.int64)
    codes = np.empty(n, dtype=np.int64)
    groups = 0
    for i in range(n):
        hv = h[i]
        s = hash_slot(hv, cap - 1)
        while True:
            c = slots[s]
            if c == -1:
                slots[s] = groups
                group_hash[groups] = hv
                first[groups] = i
                codes[i] = groups
                groups += 1
                if 2 * groups > cap:
                    cap *= 2
                    slots = np.full(cap, -1, dtype=np.int64)
                    for g in range(groups):
                        t = hash_slot(group_hash[g], cap - 1)
                        while slots[t] != -1:
                            t = (t + 1) & (cap - 1)
                        slots[t] = g
                break
            if group_hash[c] == hv:
                codes[i] = c
                break
            s = (s + 1) & (cap - 1)
    return codes, first[:groups].copy()


def group_codes(frame: pl.DataFrame, columns: Sequence[str],
                check_rows: I64 | None = None) -> tuple[I64, I64]:
    """Number rows by their values of ``columns``: 0.. in order of first appearance.

    Equal values (NULL equals NULL, NaN equals NaN, -0.0 equals 0.0) get the same number. Rows
    are grouped by a 64-bit hash, then each row is compared with its group's first row, so the
    result is exact; on a hash collision the grouping is redone with Polars' ``group_by``.

    Args:
        frame: the rows.
        columns: the columns to group by (none: every row is in group 0).
        check_rows: compare only these rows with their group's first row (default: all). A
            caller that uses the codes of these rows alone gets exact codes for them.

    Returns:
        (code of each row, first row of each code).
    """
    n = frame.height
    if not columns:
        return np.zeros(n, dtype=np.int64), np.zeros(1 if n else 0, dtype=np.int64)
    values = frame.select(columns)
    codes, first = _hash_groups(array_of(values.hash_rows(seed=HASH_SEED), np.uint64))
    if len(first) == n:
        return codes, first
    if check_rows is None:
        exact = same_values(values, None, first[codes])
    else:
        exact = same_values(values, check_rows, first[codes[check_rows]])
    return (codes, first) if exact else group_codes_exact(values)


def same_values(values: pl.DataFrame, rows: I64 | None, other_rows: I64) -> bool:
    """Whether every row of ``values[rows]`` (all rows: None) equals ``values[other_rows]``."""
    if len(other_rows) == 0:
        return True
    other = pl.Series(other_rows)
    mine = None if rows is None else pl.Series(rows)
    for column in values.iter_columns():
        left = column if mine is None else column.gather(mine)
        if not bool(left.eq_missing(column.gather(other)).all()):
            return False
    return True


def group_codes_exact(values: pl.DataFrame) -> tuple[I64, I64]:
    """Exact group codes of every row by all columns of ``values`` (Polars ``group_by``)."""
    rows = (
        values.with_row_index("__row")
        .group_by(values.columns, maintain_order=True)
        .agg(pl.col("__row"))
        .get_column("__row")
    )
    codes = np.empty(values.height, dtype=np.int64)
    codes[rows.explode().to_numpy()] = np.repeat(
        np.arange(rows.len(), dtype=np.int64), rows.list.len().to_numpy()
    )
    first = rows.list.first().to_numpy().astype(np.int64)
    return codes, first


@njit(cache=True, nogil=True)
def _counting_order(keys: Any, n_keys: int) -> Any:  # pragma: no cover - compiled
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for k in keys:
        start[k + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        order[start[k]] = i
        start[k] += 1
    return order


def counting_order(keys: I64, n_keys: int | None = None) -> I64:
    """The stable permutation that sorts small non-negative ``keys`` (a counting sort)."""
    if keys.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    top = int(keys.max()) + 1 if n_keys is None else n_keys
    order: I64 = _counting_order(np.require(keys, np.int64, ["C", "W"]), top)
    return order


def time_order(ts: I64) -> I64 | None:
    """The stable permutation that sorts ``ts`` (None when already sorted)."""
    if ts.shape[0] < 2 or bool(np.all(ts[1:] >= ts[:-1])):
        return None
    order: I64 = np.argsort(ts, kind="stable").astype(np.int64, copy=False)
    return order


def key_dicts(events: pl.DataFrame, partition_by: Sequence[str], first_rows: I64,
              wanted: I64) -> dict[int, dict[str, Any]]:
    """Key number → partition values, for the ``wanted`` key numbers."""
    numbers = np.unique(wanted)
    if not partition_by:
        return {int(k): {} for k in numbers}
    rows = events.select(list(partition_by))[pl.Series(first_rows[numbers])].to_dicts()
    return dict(zip(numbers.tolist(), rows, strict=True))


# --------------------------------------------------------------------------------------------
# Building matches


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetimes(us: I64) -> list[datetime]:
    """UTC datetimes (``tzinfo=datetime.UTC``) of microsecond times."""
    return list(map(_EPOCH.__add__, map(partial(timedelta, 0, 0), us.tolist())))


def range_lists(values: pl.Series, lo: I64, hi: I64, rows: I64 | None = None) -> list[list[Any]]:
    """``values[rows[lo[i]:hi[i]]]`` (``rows`` default: identity) as lists, gathered at once."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return [[] for _ in range(len(lo))]
    starts = np.cumsum(lengths) - lengths
    index = np.arange(total, dtype=np.int64) - np.repeat(starts - lo, lengths)
    if rows is not None:
        index = rows[index]
    flat = values.gather(pl.Series(index)).to_list()
    out: list[list[Any]] = []
    pos = 0
    for length in lengths.tolist():
        out.append(flat[pos : pos + length])
        pos += length
    return out


def event_ids(frame: pl.DataFrame, column: str | None, order: I64 | None = None) -> pl.Series:
    """The id of each row (the row number when ``column`` is None), optionally reordered."""
    if column is None:
        ids = pl.Series(ID, np.arange(frame.height, dtype=np.int64))
    else:
        ids = frame.get_column(column).alias(ID)
    return ids if order is None else ids.gather(pl.Series(order))


# --------------------------------------------------------------------------------------------
# Sliding episodes (count_threshold sliding, velocity)


@dataclass(frozen=True)
class SlidingRule:
    """When a sliding window is "above": ``total / per_window >= threshold``.

    Attributes:
        window_us: window length; the window at time T is (T - window, T].
        threshold: compared with the rate.
        per_window: the window length in rate units (1.0 for a plain count).
        use_sum: total = sum of the values (else the number of events).
    """

    window_us: int
    threshold: float
    per_window: float
    use_sum: bool


@njit(cache=True, nogil=True)
def _fold_prefix(keys: Any, x: Any, totals: Any) -> Any:  # pragma: no cover - compiled
    """Running total of each key before each row, continuing from ``totals`` (updated)."""
    before = np.empty(x.shape[0], dtype=np.float64)
    for i in range(x.shape[0]):
        k = keys[i]
        before[i] = totals[k]
        totals[k] = totals[k] + x[i]
    return before


@njit(cache=True, nogil=True)
def _sliding(keys: Any, ts: Any, x: Any, before: Any, is_new: Any, window_us: int,
             per_window: float, threshold: float, use_sum: bool,
             prev_above: Any) -> Any:  # pragma: no cover - compiled
    """Episode starts over rows sorted by (key, time, arrival); see ``find_sliding_matches``."""
    n = ts.shape[0]
    out_first = np.empty(n, dtype=np.int64)
    out_lo = np.empty(n, dtype=np.int64)
    out_hi = np.empty(n, dtype=np.int64)
    out_total = np.empty(n, dtype=np.float64)
    m = 0
    i = 0
    lo = 0
    lob = 0
    while i < n:
        k = keys[i]
        if i == 0 or keys[i - 1] != k:
            lo = i
            lob = i
        t = ts[i]
        j = i + 1
        while j < n and keys[j] == k and ts[j] == t:
            j += 1
        if is_new[i]:
            edge = t - window_us
            while ts[lo] <= edge:
                lo += 1
            while ts[lob] < edge:
                lob += 1
            if use_sum:
                total = (before[j - 1] + x[j - 1]) - before[lo]
                earlier = before[i] - before[lob] if i > lob else 0.0
            else:
                total = float(j - lo)
                earlier = float(i - lob)
            above = total / per_window >= threshold
            if above and (earlier / per_window < threshold or prev_above[k] == 0):
                out_first[m] = i
                out_lo[m] = lo
                out_hi[m] = j
                out_total[m] = total
                m += 1
            prev_above[k] = 1 if above else 0
        i = j
    return out_first[:m].copy(), out_lo[:m].copy(), out_hi[:m].copy(), out_total[:m].copy()


@dataclass
class SlidingHits:
    """Episode starts: rows ``[lo, hi)`` of the table are in the window at row ``first``'s time."""

    first: I64
    lo: I64
    hi: I64
    total: F64


def run_sliding(keys: I64, ts: I64, x: F64 | None, before: F64 | None, is_new: npt.NDArray[np.uint8],
                rule: SlidingRule, prev_above: npt.NDArray[np.uint8]) -> SlidingHits:
    """Run the sliding kernel (``prev_above`` is updated in place)."""
    n = ts.shape[0]
    zeros = np.zeros(n, dtype=np.float64)
    first, lo, hi, total = _sliding(
        keys, ts, zeros if x is None else x, zeros if before is None else before, is_new,
        rule.window_us, rule.per_window, rule.threshold, rule.use_sum, prev_above,
    )
    return SlidingHits(first, lo, hi, total)


MeasureFn = Callable[[float, int], dict[str, Any]]


def sliding_matches(name: str, hits: SlidingHits, keys: I64, ts: I64, ids: pl.Series,
                    key_of: Callable[[int], dict[str, Any]], measures: MeasureFn,
                    rows: I64 | None = None) -> list[Match]:
    """One ``Match`` per episode start (classifier ``event`` for every event in the window);
    the id of table row i is ``ids[rows[i]]`` (``ids[i]`` without ``rows``)."""
    if hits.first.shape[0] == 0:
        return []
    id_lists = range_lists(ids, hits.lo, hits.hi, rows)
    starts = datetimes(ts[hits.lo])
    ends = datetimes(ts[hits.first])
    counts = (hits.hi - hits.lo).tolist()
    out = []
    for k, start, end, event_list, total, count in zip(
        keys[hits.first].tolist(), starts, ends, id_lists, hits.total.tolist(), counts, strict=True
    ):
        out.append(Match(pattern=name, key=key_of(k), start=start, end=end, event_ids=event_list,
                         classifiers=["event"] * count, measures=measures(total, count)))
    return out


def find_sliding_matches(events: pl.DataFrame, pattern: Pattern, condition: pl.Expr | None,
                         used: Mapping[str, str], value_field: str | None, rule: SlidingRule,
                         measures: MeasureFn) -> list[Match]:
    """Batch run of a sliding-episode kind over all events.

    At each distinct time T of a key's qualifying events, the window is (T - window, T] and the
    earlier window [T - window, T) is the one of the instant just before T. A match starts an
    episode at T when the window is above the threshold and either the earlier window or the
    window at the key's previous qualifying time was not.
    """
    check_events(events, pattern, used)
    ts_all = times_us(events.get_column(pattern.order_by))
    mask = qualifying(events, condition, pattern.name)
    ids_all = event_ids(events, id_column(pattern, events.columns))
    x_all = None
    if value_field is not None:
        x_all = numeric_values(events, value_field, ids_all)
        mask = mask & ~np.isnan(x_all)
    key_codes, first_rows = group_codes(events, pattern.partition_by)
    rows = np.flatnonzero(mask)
    order = time_order(ts_all[rows])
    if order is not None:
        rows = rows[order]
    rows = rows[counting_order(key_codes[rows], len(first_rows))]
    keys = np.ascontiguousarray(key_codes[rows])
    ts = np.ascontiguousarray(ts_all[rows])
    x = before = None
    if x_all is not None:
        x = np.ascontiguousarray(x_all[rows])
        before = _fold_prefix(keys, x, np.zeros(max(len(first_rows), 1), dtype=np.float64))
    is_new = np.ones(rows.shape[0], dtype=np.uint8)
    prev_above = np.zeros(max(len(first_rows), 1), dtype=np.uint8)
    hits = run_sliding(keys, ts, x, before, is_new, rule, prev_above)
    if hits.first.shape[0] == 0:
        return []
    key_map = key_dicts(events, pattern.partition_by, first_rows, keys[hits.first])
    return sliding_matches(pattern.name, hits, keys, ts, ids_all, key_map.__getitem__, measures,
                           rows)


_STATE_VERSION = 1


def check_state_version(state: Mapping[str, Any], version: int) -> None:
    """Refuse engine state saved by another version of the engine."""
    if state.get("version") != version:
        raise UnsupportedFeature(
            f"engine state version {state.get('version')!r} is not supported (expected {version})"
        )


class SlidingEngine:
    """Incremental sliding episodes; implements ``cep.matcher.stream.Engine``.

    State: the qualifying events that a later window can still reach (time >= watermark -
    window), each with its key's running total before it, and per key the running total and
    whether the window at its last qualifying time was above the threshold.
    """

    def __init__(self, pattern: Pattern, condition: pl.Expr | None, used: Mapping[str, str],
                 value_field: str | None, rule: SlidingRule, measures: MeasureFn) -> None:
        self.pattern = pattern
        self.condition = condition
        self.used = dict(used)
        self.value_field = value_field
        self.rule = rule
        self.measures = measures
        self.buffer: pl.DataFrame | None = None
        self.totals = np.zeros(16, dtype=np.float64)
        self.prev_above = np.zeros(16, dtype=np.uint8)
        self.keys: dict[int, dict[str, Any]] = {}
        self.timed_out: list[PartialMatch] = []
        self.pending: list[PartialMatch] = []

    def _grow(self, n_keys: int) -> None:
        if n_keys > self.totals.shape[0]:
            size = max(n_keys, 2 * self.totals.shape[0])
            self.totals = np.concatenate([self.totals, np.zeros(size - self.totals.shape[0])])
            self.prev_above = np.concatenate(
                [self.prev_above, np.zeros(size - self.prev_above.shape[0], dtype=np.uint8)]
            )

    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return the episodes they start."""
        frame = chunk.frame
        self.keys = chunk.keys  # the stream matcher's own map (read only), not a copy
        if frame.height == 0:
            return []
        check_events(frame, self.pattern, self.used)
        mask = qualifying(frame, self.condition, self.pattern.name)
        ids = event_ids(frame, chunk.id_column or SEQ_COL)
        columns: dict[str, Any] = {
            KEY_COL: frame.get_column(KEY_COL).cast(pl.Int64),
            TS: times_us(frame.get_column(chunk.order_by)),
            ID: ids,
        }
        if self.value_field is not None:
            values = numeric_values(frame, self.value_field, ids)
            mask = mask & ~np.isnan(values)
            columns[VALUE] = values
        new = pl.DataFrame(columns).filter(pl.Series(mask))
        self._grow(max(chunk.keys, default=0) + 1)
        if self.value_field is not None:
            before = _fold_prefix(array_of(new.get_column(KEY_COL), np.int64),
                                  array_of(new.get_column(VALUE), np.float64), self.totals)
            new = new.with_columns(pl.Series(PREFIX, before))
        new = new.with_columns(pl.lit(1, dtype=pl.UInt8).alias("__new"))
        if self.buffer is not None and self.buffer.height:
            old = self.buffer.with_columns(pl.lit(0, dtype=pl.UInt8).alias("__new"))
            table = pl.concat([old, new], how="vertical_relaxed")
            table = table[pl.Series(counting_order(table.get_column(KEY_COL).to_numpy()))]
        else:
            table = new
        keys = array_of(table.get_column(KEY_COL), np.int64)
        ts = array_of(table.get_column(TS), np.int64)
        x = before_all = None
        if self.value_field is not None:
            x = array_of(table.get_column(VALUE), np.float64)
            before_all = array_of(table.get_column(PREFIX), np.float64)
        is_new = array_of(table.get_column("__new"), np.uint8)
        hits = run_sliding(keys, ts, x, before_all, is_new, self.rule, self.prev_above)
        matches = sliding_matches(self.pattern.name, hits, keys, ts, table.get_column(ID),
                                  self.keys.__getitem__, self.measures)
        keep = ts >= chunk.watermark_us - self.rule.window_us
        self.buffer = table.filter(pl.Series(keep)).drop("__new")
        return matches

    def on_time(self, watermark_us: int) -> list[Match]:
        """Sliding episodes start only at events: time alone emits nothing."""
        return []

    def finish(self, now_us: int | None) -> list[Match]:
        """Nothing is waiting on time."""
        return []

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "version": _STATE_VERSION,
            "buffer": None if self.buffer is None else frame_to_state(self.buffer),
            "totals": self.totals.tolist(),
            "above": self.prev_above.tolist(),
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Load what :meth:`state` saved."""
        check_state_version(state, _STATE_VERSION)
        self.buffer = None if state["buffer"] is None else frame_from_state(state["buffer"])
        n = len(state["totals"])
        self._grow(n)
        self.totals[:n] = np.array(state["totals"], dtype=np.float64)
        self.prev_above[:n] = np.array(state["above"], dtype=np.uint8)
