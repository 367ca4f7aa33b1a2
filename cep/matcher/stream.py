"""Incremental matching: feed a stream in micro-batches, with event time and a watermark.

``StreamMatcher`` owns event time for every kind; a kind plugs in an ``Engine`` that consumes
*final* events (grouped by key, in time order) and keeps its own per-key state.

* The watermark is the latest event time seen minus the allowed lateness (or a later time given
  to ``advance_watermark``). An event is final once its time is before the watermark: no event
  that sorts before it can still arrive.
* An event that arrives with a time already before the watermark is *late*: it is kept in
  ``late_events`` and counted, never matched and never silently dropped.
* Equal times keep arrival order, as the batch matcher keeps input order.

The batch run ``find_matches(p, df)`` equals ``feed(df)`` followed by ``flush()``; property tests
check that any split of a stream into batches gives the same matches per key, in the same order.

>>> from datetime import datetime, timezone
>>> from cep.matcher import create_matcher
>>> from cep.model import parse_pattern
>>> p = parse_pattern({"kind": "match_recognize", "name": "up", "pattern": "A B",
...                    "define": {"B": "x > PREV(x)"}})
>>> m = create_matcher(p)
>>> t = [datetime(2024, 1, 1, 0, 0, s, tzinfo=timezone.utc) for s in range(3)]
>>> [x.event_ids for x in m.feed(pl.DataFrame({"ts": t[:2], "x": [1, 2]}))]
[]
>>> [x.event_ids for x in m.feed(pl.DataFrame({"ts": t[2:], "x": [1]}))]
[[0, 1]]
>>> m.flush()
[]
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import numpy as np
import polars as pl

from cep.errors import EventDataError, UnsupportedFeature
from cep.model import Pattern, parse_pattern
from cep.results import Match, PartialMatch

__all__ = ["KEY_COL", "SEQ_COL", "Chunk", "Engine", "StreamMatcher", "create_stream_matcher",
           "frame_from_state", "frame_to_state"]

KEY_COL = "__key"
SEQ_COL = "__seq"
_NEVER = -(2**62)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Chunk:
    """Final events handed to an engine.

    Attributes:
        frame: the events plus ``__key`` (key number, in order of first arrival) and ``__seq``
            (arrival number over the whole stream), sorted by ``__key``, time, ``__seq``.
        keys: key number → partition values, for every key seen so far.
        watermark_us: no event earlier than this can still arrive (microseconds).
        id_column: the column that identifies events (None: ``__seq``).
        order_by: the event-time column.
    """

    frame: pl.DataFrame
    keys: dict[int, dict[str, Any]]
    watermark_us: int
    id_column: str | None
    order_by: str


class Engine(Protocol):
    """A kind's incremental matcher over final events."""

    timed_out: list[PartialMatch]

    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events; return the matches that are now certain."""
        ...

    def on_time(self, watermark_us: int) -> list[Match]:
        """Event time reached ``watermark_us``; return matches that time completes."""
        ...

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream; return the remaining matches (``now_us``: time has reached this)."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-serialisable engine state."""
        ...


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of a time (naive times are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def frame_to_state(frame: pl.DataFrame) -> str:
    """A frame as JSON-safe text (Arrow IPC, base64), keeping every dtype."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def frame_from_state(text: str) -> pl.DataFrame:
    """The frame stored by :func:`frame_to_state`."""
    return pl.read_ipc(io.BytesIO(base64.b64decode(text)))


class StreamMatcher:
    """Feeds micro-batches to a kind's engine in event-time order (see the module docstring)."""

    engines: ClassVar[dict[str, Any]] = {}

    def __init__(self, pattern: Pattern, engine: Engine,
                 allowed_lateness: timedelta = timedelta(0)) -> None:
        if allowed_lateness < timedelta(0):
            raise UnsupportedFeature("allowed lateness cannot be negative")
        self.pattern = pattern
        self.engine = engine
        self.lateness_us = allowed_lateness // timedelta(microseconds=1)
        self.watermark_us = _NEVER
        self.max_ts_us = _NEVER
        self.seq = 0
        self.key_numbers: dict[tuple[Any, ...], int] = {}
        self.registry: pl.DataFrame | None = None  # partition values -> key number
        self.keys: dict[int, dict[str, Any]] = {}
        self.pending: pl.DataFrame | None = None
        self.late: list[pl.DataFrame] = []
        self.id_column: str | None = pattern.id_field
        self.finished = False

    # --- public API -------------------------------------------------------------------------
    @property
    def late_events(self) -> pl.DataFrame:
        """Events that arrived behind the watermark (not matched)."""
        return pl.concat(self.late, how="diagonal_relaxed") if self.late else pl.DataFrame()

    @property
    def timed_out(self) -> list[PartialMatch]:
        """Partial matches that expired (near misses)."""
        return list(getattr(self.engine, "timed_out", []))

    def forget_timed_out(self) -> None:
        """Drop the timed-out partial matches recorded so far (they are kept for near misses;
        a long-running job that never reads them calls this to keep its state bounded)."""
        forget = getattr(self.engine, "forget_timed_out", None)
        if forget is not None:
            forget()
        elif isinstance(getattr(self.engine, "timed_out", None), list):
            self.engine.timed_out.clear()

    @property
    def pending_matches(self) -> list[PartialMatch]:
        """Time-driven matches whose deadline event time has not reached yet."""
        return list(getattr(self.engine, "pending", []))

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: events seen, late events, pending events, keys."""
        return {
            "events": self.seq,
            "late_events": sum(f.height for f in self.late),
            "pending_events": 0 if self.pending is None else self.pending.height,
            "keys": len(self.keys),
        }

    def feed(self, batch: pl.DataFrame) -> list[Match]:
        """Add events (any order within the allowed lateness); return newly certain matches."""
        self._check_open()
        if batch.height == 0:
            return []
        batch = self._stamp(batch)
        ts = batch.get_column("__ts_us")
        late = ts < self.watermark_us
        if late.any():
            self.late.append(batch.filter(late).drop("__ts_us", KEY_COL))
            batch = batch.filter(~late)
        if batch.height:
            self.pending = batch if self.pending is None else pl.concat(
                [self.pending, batch], how="diagonal_relaxed"
            )
            self.max_ts_us = max(self.max_ts_us, int(batch.get_column("__ts_us").max()))  # type: ignore[arg-type]
            self.watermark_us = max(self.watermark_us, self.max_ts_us - self.lateness_us)
        return self._release(self.watermark_us)

    def advance_watermark(self, t: datetime) -> list[Match]:
        """Declare that no event before ``t`` will arrive; return what that completes."""
        self._check_open()
        self.watermark_us = max(self.watermark_us, to_us(t))
        return self._release(self.watermark_us) + self.engine.on_time(self.watermark_us)

    def flush(self, now: datetime | None = None) -> list[Match]:
        """End of stream: release everything; ``now`` lets time-driven matches fire up to it."""
        self._check_open()
        out = self._release(None)
        self.finished = True
        return out + self.engine.finish(None if now is None else to_us(now))

    def snapshot(self) -> dict[str, Any]:
        """The whole matcher state as a JSON-serialisable dict."""
        return {
            "version": 1,
            "pattern": self.pattern.model_dump(mode="json"),
            "lateness_us": self.lateness_us,
            "watermark_us": self.watermark_us,
            "max_ts_us": self.max_ts_us,
            "seq": self.seq,
            "keys": [[list(k), n, self.keys[n]] for k, n in self.key_numbers.items()],
            "id_column": self.id_column,
            "pending": None if self.pending is None else frame_to_state(self.pending),
            "late": [frame_to_state(f) for f in self.late],
            "finished": self.finished,
            "engine": self.engine.state(),
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> StreamMatcher:
        """A matcher that continues exactly where ``snapshot`` was taken."""
        from cep.matcher import register_engines

        register_engines()
        pattern = parse_pattern(snapshot["pattern"], source="<snapshot>")
        engine_cls = cls.engines.get(pattern.kind)
        if engine_cls is None:
            raise UnsupportedFeature(f"no incremental matcher for kind {pattern.kind!r}")
        engine = engine_cls.from_state(pattern, snapshot["engine"])
        matcher = cls(pattern, engine, timedelta(microseconds=snapshot["lateness_us"]))
        matcher.watermark_us = snapshot["watermark_us"]
        matcher.max_ts_us = snapshot["max_ts_us"]
        matcher.seq = snapshot["seq"]
        for key, number, values in snapshot["keys"]:
            matcher.key_numbers[tuple(key)] = number
            matcher.keys[number] = values
        cols = list(pattern.partition_by)
        if cols and matcher.key_numbers:
            rows = [dict(zip(cols, k, strict=True)) for k in matcher.key_numbers]
            numbers = list(matcher.key_numbers.values())
            matcher.registry = pl.DataFrame(rows).with_columns(pl.Series(KEY_COL, numbers, dtype=pl.Int64))
        matcher.id_column = snapshot["id_column"]
        if snapshot["pending"] is not None:
            matcher.pending = frame_from_state(snapshot["pending"])
        matcher.late = [frame_from_state(f) for f in snapshot["late"]]
        matcher.finished = snapshot["finished"]
        return matcher

    # --- internals ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.finished:
            raise UnsupportedFeature("the stream was flushed; create a new matcher to match again")

    def _stamp(self, batch: pl.DataFrame) -> pl.DataFrame:
        p = self.pattern
        missing = [c for c in (*p.partition_by, p.order_by) if c not in batch.columns]
        if missing:
            raise EventDataError(f"events have no column {missing[0]!r}; columns found: "
                                 f"{', '.join(batch.columns)}")
        dtype = batch.schema[p.order_by]
        if not isinstance(dtype, pl.Datetime | pl.Date):
            raise EventDataError(f"event-time column {p.order_by!r} has type {dtype}, not a timestamp")
        if self.id_column is None and "id" in batch.columns:
            self.id_column = "id"
        ts = batch.get_column(p.order_by).cast(pl.Datetime("us", "UTC"))
        if ts.null_count():
            raise EventDataError(f"field {p.order_by!r}: an event has no time")
        seq = np.arange(self.seq, self.seq + batch.height, dtype=np.int64)
        self.seq += batch.height
        keys = self._key_numbers(batch)
        return batch.with_columns(
            pl.Series("__ts_us", ts.dt.epoch("us")),
            pl.Series(KEY_COL, keys, dtype=pl.Int64),
            pl.Series(SEQ_COL, seq, dtype=pl.Int64),
        )

    def _key_numbers(self, batch: pl.DataFrame) -> np.ndarray[Any, Any]:
        cols = list(self.pattern.partition_by)
        if not cols:
            if not self.keys:
                self.key_numbers[()] = 0
                self.keys[0] = {}
            return np.zeros(batch.height, dtype=np.int64)
        keys = batch.select(cols)
        if self.registry is not None:
            known = keys.join(self.registry, on=cols, how="left", maintain_order="left",
                              nulls_equal=True).get_column(KEY_COL)
            if known.null_count() == 0:
                return known.to_numpy()
            fresh = keys.filter(known.is_null()).unique(maintain_order=True)
        else:
            fresh = keys.unique(maintain_order=True)
        for row in fresh.iter_rows():  # only keys never seen before
            number = len(self.key_numbers)
            self.key_numbers[row] = number
            self.keys[number] = dict(zip(cols, row, strict=True))
        added = fresh.with_columns(
            pl.int_range(len(self.key_numbers) - fresh.height, len(self.key_numbers),
                         dtype=pl.Int64).alias(KEY_COL)
        )
        self.registry = added if self.registry is None else pl.concat(
            [self.registry, added], how="vertical_relaxed"
        )
        return keys.join(self.registry, on=cols, how="left", maintain_order="left",
                         nulls_equal=True).get_column(KEY_COL).to_numpy()

    def _release(self, watermark_us: int | None) -> list[Match]:
        """Hand final events (all pending events when ``watermark_us`` is None) to the engine."""
        if self.pending is None or self.pending.height == 0:
            return [] if watermark_us is None else self.engine.on_time(watermark_us)
        if watermark_us is None:
            final, self.pending = self.pending, None
            chunk_watermark = self.max_ts_us
        else:
            is_final = self.pending.get_column("__ts_us") < watermark_us
            final = self.pending.filter(is_final)
            self.pending = self.pending.filter(~is_final)
            chunk_watermark = watermark_us
        if final.height == 0:
            return self.engine.on_time(chunk_watermark)
        final = final[pl.Series(_order(final))].drop("__ts_us")
        chunk = Chunk(final, self.keys, chunk_watermark, self.id_column, self.pattern.order_by)
        return list(self.engine.process(chunk))


def _order(frame: pl.DataFrame) -> np.ndarray[Any, Any]:
    """Row order by key, time, arrival: stable sorts (radix for small key numbers)."""
    ts = frame.get_column("__ts_us").to_numpy()
    keys = frame.get_column(KEY_COL).to_numpy()
    seq = frame.get_column(SEQ_COL).to_numpy()
    order = np.argsort(seq, kind="stable")
    if not np.all(np.diff(ts[order]) >= 0):
        order = order[np.argsort(ts[order], kind="stable")]
    small = keys[order].astype(np.uint16) if keys.max(initial=0) < 2**16 else keys[order]
    return order[np.argsort(small, kind="stable")]


def create_stream_matcher(pattern: Pattern, *, allowed_lateness: timedelta = timedelta(0)) -> StreamMatcher:
    """An incremental matcher for ``pattern``.

    Raises:
        UnsupportedFeature: the kind has no incremental matcher yet.
    """
    engine_cls = StreamMatcher.engines.get(pattern.kind)
    if engine_cls is None:
        raise UnsupportedFeature(
            f"incremental matching for kind {pattern.kind!r} is not implemented yet "
            f"(available: {', '.join(sorted(StreamMatcher.engines)) or 'none'})"
        )
    return StreamMatcher(pattern, engine_cls(pattern), allowed_lateness)
