"""Stream replay on the Test page: the loaded events fed to the incremental matcher in batches.

The pure helpers split the events into batches, keep what each batch emitted, put the streamed
matches in the batch run's order and say how the two results differ (they should not: every
matcher kind promises stream/batch equivalence, CONTRIBUTING.md "Streaming").
`render_replay` draws the progress bar and the matches as they are emitted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import streamlit as st

from cep.results import Match, MatchResult, PartialMatch, jsonable
from ui.tables import match_rows

DEFAULT_BATCH_SIZE = 5
MAX_BATCHES = 2_000
"""Most batches one replay feeds; a smaller batch size is raised to stay under it (each feed
has a fixed cost, about 10 ms today, so this bounds a replay's overhead to tens of seconds)."""
LIVE_ROWS = 200
"""Most recent matches the live table shows while the replay runs."""
LIVE_REFRESH_S = 0.1
"""Least time between two redraws of the live view (the last batch is always drawn)."""


class Frame(Protocol):
    """The part of a Polars DataFrame the replay uses (ui does not import Polars)."""

    @property
    def height(self) -> int: ...

    def slice(self, offset: int, length: int | None = None) -> Any: ...


class StreamMatcher(Protocol):
    """The incremental matcher of `cep.matcher.create_matcher` (CONTRIBUTING.md, Streaming)."""

    def feed(self, batch: Any) -> list[Match]: ...

    def flush(self) -> list[Match]: ...

    @property
    def late_events(self) -> Any: ...

    @property
    def timed_out(self) -> list[PartialMatch]: ...


def replay_available() -> bool:
    """Whether the incremental matcher (`cep.matcher.create_matcher`) is there to replay with."""
    import cep.matcher

    return callable(getattr(cep.matcher, "create_matcher", None))


def effective_batch_size(total_rows: int, requested: int, max_batches: int = MAX_BATCHES) -> int:
    """The batch size to use: ``requested``, raised so the replay has at most ``max_batches``.

    >>> effective_batch_size(23, 5), effective_batch_size(1_000_000, 1), effective_batch_size(0, 0)
    (5, 500, 1)
    """
    floor = -(-total_rows // max_batches) if total_rows else 1
    return max(requested, floor, 1)


def batch_bounds(total_rows: int, batch_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each batch: consecutive rows in file order, the last one shorter.

    >>> batch_bounds(23, 10)
    [(0, 10), (10, 10), (20, 3)]
    >>> batch_bounds(0, 10)
    []
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    return [
        (start, min(batch_size, total_rows - start)) for start in range(0, total_rows, batch_size)
    ]


def split_batches(frame: Frame, batch_size: int) -> Iterator[Any]:
    """The frame's rows in batches of ``batch_size``, in file order (slices, not copies)."""
    for offset, length in batch_bounds(frame.height, batch_size):
        yield frame.slice(offset, length)


@dataclass(frozen=True)
class BatchReport:
    """What one step of the replay did.

    Attributes:
        number: 1-based batch number; the final flush is reported as batch ``None``.
        first_row: 1-based number of the batch's first row (``None`` for the flush).
        rows: events in the batch.
        new_matches: matches the step emitted.
        total_matches: matches emitted so far.
    """

    number: int | None
    first_row: int | None
    rows: int
    new_matches: int
    total_matches: int

    def to_row(self) -> dict[str, Any]:
        """The report as a table row."""
        if self.number is None:
            step, rows = "flush (end of stream)", ""
        else:
            step = f"batch {self.number}"
            rows = f"{self.first_row}–{(self.first_row or 0) + self.rows - 1}"
        return {
            "step": step,
            "rows": rows,
            "new matches": self.new_matches,
            "matches so far": self.total_matches,
        }


@dataclass
class ReplayLog:
    """The replay so far: every match in emission order and a report per batch."""

    batch_count: int = 0
    events_fed: int = 0
    matches: list[Match] = field(default_factory=list)
    reports: list[BatchReport] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def record(self, offset: int | None, rows: int, new: Sequence[Match]) -> BatchReport:
        """Add one batch (``offset`` None: the final flush) and what it emitted."""
        self.matches.extend(new)
        self.events_fed += rows
        number = None if offset is None else len([r for r in self.reports if r.number]) + 1
        report = BatchReport(
            number=number,
            first_row=None if offset is None else offset + 1,
            rows=rows,
            new_matches=len(new),
            total_matches=len(self.matches),
        )
        self.reports.append(report)
        return report

    @property
    def is_done(self) -> bool:
        """Whether the flush has been recorded."""
        return bool(self.reports) and self.reports[-1].number is None


def replay_events(
    matcher: StreamMatcher,
    frame: Frame,
    batch_size: int,
    on_step: Callable[[ReplayLog], None] | None = None,
) -> ReplayLog:
    """Feed ``frame`` to ``matcher`` in batches of ``batch_size`` rows, then flush.

    Args:
        matcher: a fresh incremental matcher.
        frame: the events, in file order.
        batch_size: rows per batch (at least 1).
        on_step: called after each batch and after the flush, e.g. to redraw a live view; the
            time it takes is not counted in ``elapsed_ms``.
    """
    bounds = batch_bounds(frame.height, batch_size)
    log = ReplayLog(batch_count=len(bounds))
    for offset, length in bounds:
        started = time.perf_counter()
        new = matcher.feed(frame.slice(offset, length))
        log.elapsed_ms += (time.perf_counter() - started) * 1000
        log.record(offset, length, new)
        if on_step is not None:
            on_step(log)
    started = time.perf_counter()
    new = matcher.flush()
    log.elapsed_ms += (time.perf_counter() - started) * 1000
    log.record(None, 0, new)
    if on_step is not None:
        on_step(log)
    return log


def key_id(key: Mapping[str, Any]) -> str:
    """A hashable, order-insensitive identity of a match key.

    >>> key_id({"symbol": "ACME"}) == key_id({"symbol": "ACME"}), key_id({})
    (True, '{}')
    """
    return json.dumps(jsonable(dict(key)), sort_keys=True, default=str)


def key_order(frame: Any, partition_by: Sequence[str]) -> list[str]:
    """Key identities in order of first appearance in the events (the batch result's order)."""
    if not partition_by:
        return [key_id({})]
    keys = frame.select(list(partition_by)).unique(maintain_order=True).to_dicts()
    return [key_id(k) for k in keys]


def order_like_batch(matches: Sequence[Match], keys: Sequence[str]) -> list[Match]:
    """Matches grouped by key in ``keys`` order (unknown keys last), emission order kept within
    a key: the order of a batch run's result."""
    rank = {k: i for i, k in enumerate(keys)}
    return sorted(matches, key=lambda m: rank.get(key_id(m.key), len(rank)))


def _by_key(matches: Sequence[Match]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in matches:
        out.setdefault(key_id(m.key), []).append(m.to_json_dict())
    return out


def _key_text(key: str) -> str:
    value = json.loads(key)
    return ", ".join(f"{k}={v}" for k, v in value.items()) or "(all events)"


def compare_with_batch(streamed: Sequence[Match], batched: Sequence[Match]) -> str | None:
    """Say how the streamed matches differ from the batch run's, per key; None when equal.

    Matches of different keys may be emitted in any order; within a key the order must match.
    """
    mine, theirs = _by_key(streamed), _by_key(batched)
    problems = []
    if len(streamed) != len(batched):
        problems.append(f"{len(streamed)} streamed, {len(batched)} in the batch run")
    for key in [*theirs, *(k for k in mine if k not in theirs)]:
        a, b = mine.get(key, []), theirs.get(key, [])
        if a == b:
            continue
        where = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        shown = " ".join(str(e) for e in (a[where]["event_ids"] if where < len(a) else []))
        expected = " ".join(str(e) for e in (b[where]["event_ids"] if where < len(b) else []))
        problems.append(
            f"key {_key_text(key)}, match {where + 1}: streamed "
            f"{'events ' + shown if shown else 'nothing'}, batch "
            f"{'events ' + expected if expected else 'nothing'}"
        )
        if len(problems) >= 4:
            break
    return "; ".join(problems) or None


# --------------------------------------------------------------------------------------------
# Rendering


def replay_result(
    log: ReplayLog,
    *,
    keys: Sequence[str],
    events: int,
    batch_size: int,
    timed_out: Sequence[PartialMatch],
    late_events: int,
) -> MatchResult:
    """The replay as a `MatchResult` in batch order, with stream details in its stats."""
    matches = order_like_batch(log.matches, keys)
    return MatchResult(
        matches=matches,
        stats={
            "events": events,
            "matches": len(matches),
            "elapsed_ms": round(log.elapsed_ms, 3),
            "path": f"stream replay, {log.batch_count} batches of up to {batch_size} events",
            "late_events": late_events,
        },
        timed_out=tuple(timed_out),
    )


def render_replay(matcher: StreamMatcher, frame: Frame, batch_size: int) -> ReplayLog:
    """Run the replay with a progress bar and the matches as they are emitted; the live view
    is cleared at the end (the page then shows the result)."""
    live = st.empty()
    with live.container(border=True):
        st.markdown("**Stream replay** — matches appear as the matcher emits them.")
        progress = st.progress(0.0, text="Starting…")
        counter = st.empty()
        table = st.empty()
    last_drawn = 0.0

    def draw(log: ReplayLog) -> None:
        nonlocal last_drawn
        now = time.monotonic()
        if not log.is_done and now - last_drawn < LIVE_REFRESH_S:
            return
        last_drawn = now
        done = len(log.reports) - (1 if log.is_done else 0)
        fraction = 1.0 if log.is_done else done / max(log.batch_count, 1)
        text = (
            "Flushed: end of stream"
            if log.is_done
            else f"Batch {done:,} of {log.batch_count:,} · {log.events_fed:,} events fed"
        )
        progress.progress(fraction, text=text)
        count = len(log.matches)
        counter.markdown(f"**{count:,} {'match' if count == 1 else 'matches'}** emitted so far")
        if log.matches:
            recent = [m.to_json_dict() for m in reversed(log.matches[-LIVE_ROWS:])]
            with table.container():
                st.caption(
                    "Newest first"
                    + (f"; the latest {LIVE_ROWS} of {count:,}." if count > LIVE_ROWS else ".")
                )
                st.dataframe(match_rows(recent), hide_index=True, width="stretch")

    log = replay_events(matcher, frame, batch_size, on_step=draw)
    live.empty()
    return log


def lateness(seconds: float) -> timedelta:
    """The allowed lateness as a `timedelta` (negative input counts as zero).

    >>> lateness(90)
    datetime.timedelta(seconds=90)
    """
    return timedelta(seconds=max(float(seconds), 0.0))


def render_replay_summary(info: Mapping[str, Any]) -> None:
    """Show how the replay went: batches, late events, near misses, and the batch comparison.

    Args:
        info: what `pages/test.py` kept of the replay: ``batch_size``, ``requested_batch_size``,
            ``lateness_s``, ``batches`` (table rows), ``late_events``, ``timed_out``,
            ``difference`` (None when equal) and ``comparison_note`` (why it was not compared).
    """
    st.markdown("**Stream replay**")
    batches = list(info.get("batches") or [])
    fed = len([row for row in batches if str(row.get("step", "")).startswith("batch")])
    batches_col, late_col, timed_out_col = st.columns(3)
    batches_col.metric(
        "Batches",
        f"{fed:,}",
        help=f"Micro-batches of up to {info.get('batch_size')} events fed in file order, then a "
        "flush at the end of the stream.",
        border=True,
    )
    late_col.metric(
        "Late events",
        f"{int(info.get('late_events', 0)):,}",
        help="Events that arrived behind the watermark (latest event time seen minus the "
        f"allowed lateness of {info.get('lateness_s', 0):g} s). They are kept aside and not "
        "matched, never dropped silently.",
        border=True,
    )
    timed_out_col.metric(
        "Window expired",
        f"{int(info.get('timed_out', 0)):,}",
        help="Partial matches that the pattern's window ended before they completed (near "
        "misses); they are not matches.",
        border=True,
    )
    if info.get("requested_batch_size") != info.get("batch_size"):
        st.caption(
            f"The batch size was raised from {info.get('requested_batch_size')} to "
            f"{info.get('batch_size')} to keep the replay under {MAX_BATCHES:,} batches."
        )
    difference = info.get("difference")
    note = info.get("comparison_note")
    if note:
        st.caption(f":material/info: Not compared with a batch run: {note}")
    elif difference:
        late = int(info.get("late_events", 0))
        why = (
            f" {late:,} late events were not matched; a larger allowed lateness may fix this."
            if late
            else ""
        )
        st.warning(
            f"**The streamed result differs from the batch run** — {difference}.{why}",
            icon=":material/difference:",
        )
    else:
        st.caption(
            ":material/check: The streamed matches equal the batch run's. The table lists them "
            "in batch order (by key, then time); during the replay they appeared in the order "
            "they were emitted."
        )
    with st.expander("Matches emitted per batch", icon=":material/view_stream:"):
        st.dataframe(batches, hide_index=True, width="stretch")
