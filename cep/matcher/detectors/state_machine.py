"""Run ``state_machine`` patterns: per-key states with guarded transitions and state timeouts.

Semantics, per key (``partition_by``), events in time order (equal times in input order):

* a key's machine starts at ``initial`` with its first event (the state is *entered* then);
* each event takes the **first listed** transition whose ``from`` is the current state or
  ``"*"`` and whose ``when`` holds (no ``when``: always; NULL is false). Taking a transition
  enters its ``to`` state, also when it is the same state (a self-loop restarts the state's
  timer). An event no transition takes leaves the state (and its timer) as it is;
* a terminal state ends the machine; the key's next event restarts it at ``initial`` and is
  then tried against the transitions from ``initial``;
* timeouts: ``timeout`` is one duration for every state, or state → duration. A state held
  longer than its timeout (no transition taken for more than the timeout; an event exactly at
  the deadline is still in time) moves to ``timeout_state`` at the deadline, before any later
  event. Terminal states and ``timeout_state`` itself never time out (a global timeout does not
  apply to them, and a timeout listed for ``timeout_state`` is ignored), so at most one timeout
  follows each entered state. The time rule of ``cep.matcher.detectors._timers`` applies: while
  streaming, a deadline fires when the watermark passes it; at the end of the stream when it is
  not after the last event time (or ``flush(now)``); otherwise it is reported in ``pending``
  (``step_reached`` = the state, ``event_ids`` = the event that entered it);
* ``emit: transition``: one match per transition taken: ``event_ids = [the event]``,
  ``classifiers = [the state it entered]``, ``start = end`` = its time. A timeout transition
  gives ``event_ids = [the event that entered the timed-out state]``, ``classifiers`` = that
  state, ``start`` = its time, ``end`` = the deadline and ``timeout_s`` in ``measures``;
* ``emit: terminal``: one match per *run* that reaches a terminal state (by an event or a
  timeout): ``event_ids`` = the event that started the run and every event that took a
  transition in it, ``classifiers`` = the state after each of them, ``start`` = the first of
  them, ``end`` = when the terminal state was entered, ``measures`` with ``from`` = ``initial``,
  ``to`` = the terminal state, ``transitions`` (count, timeouts included) and ``duration_s``;
* ``emit: all``: both (the transition into a terminal state comes just before its run);
* ``on_unmatched: flag`` also emits, whatever ``emit`` says, one match per event that no
  transition takes: ``classifiers = ["unmatched"]``, ``from = to`` = the current state;
* every match has ``from``, ``to`` and ``timed_out`` (whether a timeout made it) in
  ``measures``.

Per key, matches are ordered by the time they happen at (events in order; a timeout at its
deadline, before the first later event). The event loop is compiled with numba; the ``when``
conditions are evaluated for every event at once with Polars.

>>> from datetime import datetime, timedelta, timezone
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> orders = parse_pattern({"kind": "state_machine", "name": "orders",
...     "partition_by": ["order"], "states": ["new", "paid", "shipped", "done", "cancelled"],
...     "initial": "new", "terminal": ["done", "cancelled"],
...     "transitions": [{"from": "new", "to": "paid", "when": "type = 'pay'"},
...                     {"from": "paid", "to": "shipped", "when": "type = 'ship'"},
...                     {"from": "shipped", "to": "done", "when": "type = 'deliver'"},
...                     {"from": "*", "to": "cancelled", "when": "type = 'cancel'"}],
...     "timeout": {"paid": "10s"}, "timeout_state": "cancelled",
...     "emit": "all", "on_unmatched": "flag"})
>>> events = pl.DataFrame({"id": range(1, 8),
...     "ts": [t0 + timedelta(seconds=s) for s in (0, 1, 5, 6, 9, 20, 25)],
...     "order": ["A", "B", "A", "A", "A", "B", "A"],
...     "type": ["pay", "pay", "ship", "ping", "deliver", "pay", "ping"]})
>>> result = find_matches(orders, events)
>>> for m in result.matches:
...     print(m.key["order"], m.event_ids, m.classifiers, m.measures["from"], m.measures["to"],
...           m.end.second)
A [1] ['paid'] new paid 0
A [3] ['shipped'] paid shipped 5
A [4] ['unmatched'] shipped shipped 6
A [5] ['done'] shipped done 9
A [1, 3, 5] ['paid', 'shipped', 'done'] new done 9
A [7] ['unmatched'] new new 25
B [2] ['paid'] new paid 1
B [2] ['paid'] paid cancelled 11
B [2] ['paid'] new cancelled 11
B [6] ['paid'] new paid 20

A's ping at 6 s takes no transition (flagged); deliver ends A's run (the transition, then the
run); A's ping at 25 s restarts A at ``new`` and is flagged there. B is paid at 1 s, held
``paid`` past 11 s, so it moved to ``cancelled`` at 11 s (a terminal state: its run ends
there), and its event at 20 s starts a new run. B's new ``paid`` state would time out at 30 s,
after the last event (25 s): pending.

>>> [(p.key["order"], p.step_reached, p.event_ids, p.ended.second) for p in result.pending]
[('B', 'paid', [6], 30)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from cep.matcher.detectors._timers import (
    END,
    ID,
    IDS,
    LABEL,
    LABELS,
    NEVER_US,
    START,
    STEP,
    Conditions,
    TimerEngine,
    chunk_ids,
    concat,
    frame_or_none,
    frame_state,
    is_naive,
    run_batch,
    times_us,
)
from cep.matcher.stream import KEY_COL, Chunk
from cep.model import StateMachinePattern
from cep.results import MatchResult, PartialMatch

__all__ = ["Engine", "find_matches"]

NO_DEADLINE = np.iinfo(np.int64).max

# Record types written by the event loop.
R_TRANSITION = 0  # an event took a transition
R_TIMEOUT = 1  # a state timed out (a transition to timeout_state)
R_UNMATCHED = 2  # an event took no transition
R_START = 3  # an event (re)started the machine and took no transition: a run member
R_END = 4  # the machine entered a terminal state: its run is complete
_RECORD_FIELDS = 8  # type, key, row, from, to, start, end, run

_ORDER, _TYPE, _FROM, _TO, _RUN, _ROW, _TIMED = (
    "__order", "__type", "__from", "__to", "__run", "__row", "__timed"
)


@njit(cache=True, nogil=True)
def _emit(out: Any, n_out: int, kind: int, k: int, row: int, s_from: int, s_to: int,
          start: int, end: int, run: int) -> int:  # pragma: no cover - numba
    out[n_out, 0] = kind
    out[n_out, 1] = k
    out[n_out, 2] = row
    out[n_out, 3] = s_from
    out[n_out, 4] = s_to
    out[n_out, 5] = start
    out[n_out, 6] = end
    out[n_out, 7] = run
    return n_out + 1


@njit(cache=True, nogil=True)
def _timeout(out: Any, n_out: int, k: int, row: int, cur: Any, entered_us: Any, deadline: Any,
             run_id: Any, timeout_state: int, terminal: Any) -> int:  # pragma: no cover - numba
    """Move key ``k`` to ``timeout_state`` at its deadline (ending the run when terminal)."""
    d = deadline[k]
    n_out = _emit(out, n_out, R_TIMEOUT, k, row, cur[k], timeout_state, entered_us[k], d,
                  run_id[k])
    cur[k] = timeout_state
    entered_us[k] = d
    deadline[k] = NO_DEADLINE
    if terminal[timeout_state]:
        n_out = _emit(out, n_out, R_END, k, -1, timeout_state, timeout_state, d, d, run_id[k])
        cur[k] = -1
    return n_out


@njit(cache=True, nogil=True)
def _run_events(key: Any, ts: Any, cond: Any, candidates: Any, to_state: Any, timeout_us: Any,
                terminal: Any, initial: int, timeout_state: int, flag: bool, first: int,
                cur: Any, entered_us: Any, deadline: Any, run_id: Any, runs: Any,
                entered_row: Any, out: Any) -> Any:  # pragma: no cover - numba
    """Run the machines over sorted events from row ``first`` until ``out`` is nearly full.

    Per-key state (``cur`` = -1: not running) is updated in place; ``entered_row`` gets the row
    of the event that entered each key's current state (-1: an earlier chunk). Returns
    (rows done, records written).
    """
    n = key.shape[0]
    cap = out.shape[0]
    n_out = 0
    i = first
    while i < n:
        if n_out + 4 > cap:
            break
        k = key[i]
        t = ts[i]
        if cur[k] >= 0 and deadline[k] < t:
            n_out = _timeout(out, n_out, k, entered_row[k], cur, entered_us, deadline, run_id,
                             timeout_state, terminal)
        started = False
        if cur[k] < 0:
            run_id[k] = runs[0]
            runs[0] += 1
            cur[k] = initial
            entered_us[k] = t
            entered_row[k] = i
            deadline[k] = t + timeout_us[initial] if timeout_us[initial] >= 0 else NO_DEADLINE
            started = True
        s = cur[k]
        take = -1
        for c in candidates[s]:
            if c < 0:
                break
            if cond[i, c]:
                take = c
                break
        if take >= 0:
            to = to_state[take]
            n_out = _emit(out, n_out, R_TRANSITION, k, i, s, to, t, t, run_id[k])
            cur[k] = to
            entered_us[k] = t
            entered_row[k] = i
            deadline[k] = t + timeout_us[to] if timeout_us[to] >= 0 else NO_DEADLINE
            if terminal[to]:
                n_out = _emit(out, n_out, R_END, k, i, to, to, t, t, run_id[k])
                cur[k] = -1
                deadline[k] = NO_DEADLINE
        else:
            if started:
                n_out = _emit(out, n_out, R_START, k, i, s, s, t, t, run_id[k])
            if flag:
                n_out = _emit(out, n_out, R_UNMATCHED, k, i, s, s, t, t, run_id[k])
        i += 1
    return i, n_out


@njit(cache=True, nogil=True)
def _run_deadlines(limit_us: int, cur: Any, entered_us: Any, deadline: Any, run_id: Any,
                   timeout_state: int, terminal: Any) -> Any:  # pragma: no cover - numba
    """Fire every deadline at or before ``limit_us`` (keys in order); return the records."""
    due = 0
    for k in range(cur.shape[0]):
        if cur[k] >= 0 and deadline[k] <= limit_us:
            due += 1
    out = np.empty((2 * due, _RECORD_FIELDS), dtype=np.int64)
    n_out = 0
    for k in range(cur.shape[0]):
        if cur[k] >= 0 and deadline[k] <= limit_us:
            n_out = _timeout(out, n_out, k, -1, cur, entered_us, deadline, run_id,
                             timeout_state, terminal)
    return out[:n_out]


def find_matches(pattern: StateMachinePattern, events: pl.DataFrame) -> MatchResult:
    """Run the state machine of ``pattern`` over every key's events (batch run).

    Equals feeding every event to :class:`Engine` and calling ``finish(None)``; ``pending``
    holds the state timeouts that lie beyond the last event.

    Raises:
        EventDataError: a field a condition uses is missing, or a condition cannot be evaluated.
    """
    engine = Engine(pattern)
    return run_batch(pattern, events, engine, engine.conditions.used, "numba")


class Engine(TimerEngine):
    """Incremental state machines: per key number, the state, when it was entered and its run."""

    def __init__(self, pattern: StateMachinePattern) -> None:
        self.pattern = pattern
        states = list(pattern.states)
        self.state_names = pl.Series("state", states, dtype=pl.String)
        index = {s: i for i, s in enumerate(states)}
        self.initial = index[pattern.initial]
        self.terminal = np.array([s in pattern.terminal for s in states], dtype=np.bool_)
        self.timeout_state = -1 if pattern.timeout_state is None else index[pattern.timeout_state]
        self.timeout_us = np.full(len(states), -1, dtype=np.int64)
        if isinstance(pattern.timeout, dict):
            for name, duration in pattern.timeout.items():
                self.timeout_us[index[name]] = duration.microseconds
        elif pattern.timeout is not None:
            self.timeout_us[:] = pattern.timeout.microseconds
        self.timeout_us[self.terminal] = -1
        if self.timeout_state >= 0:
            self.timeout_us[self.timeout_state] = -1
        transitions = pattern.transitions
        self.to_state = np.array([index[t.to] for t in transitions], dtype=np.int64)
        lists = [[j for j, t in enumerate(transitions) if t.from_ in (s, "*")] for s in states]
        width = max(1, *(len(c) for c in lists))
        self.candidates = np.full((len(states), width), -1, dtype=np.int64)
        for s, c in enumerate(lists):
            self.candidates[s, : len(c)] = c
        self.conditions = Conditions(
            pattern.name, [(f"transitions[{j}].when", t.when) for j, t in enumerate(transitions)]
        )
        self.flag = pattern.on_unmatched == "flag"
        self.emit_transitions = pattern.emit in ("transition", "all")
        self.emit_runs = pattern.emit in ("terminal", "all")
        # Per key number: current state (-1: not running), entered at, deadline, run number.
        self.cur = np.zeros(0, dtype=np.int64)
        self.entered_us = np.zeros(0, dtype=np.int64)
        self.deadline = np.zeros(0, dtype=np.int64)
        self.run_id = np.zeros(0, dtype=np.int64)
        self.entered_ids: list[Any] = []
        self.runs = np.zeros(1, dtype=np.int64)  # runs started so far
        # Members of unfinished runs: __run, __id, __label, __start, __timed (timeouts).
        self.open_runs: pl.DataFrame | None = None
        self.keys: dict[int, dict[str, Any]] = {}
        self.last_us = NEVER_US
        self.naive = False
        self.timed_out: list[PartialMatch] = []

    # --- the stream Engine protocol (the rest comes from TimerEngine) ---------------------
    def _latest_us(self) -> int:
        return self.last_us

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        running = np.flatnonzero(self.cur >= 0)
        table = None
        if running.shape[0]:
            table = pl.DataFrame({
                KEY_COL: running, "cur": self.cur[running],
                "entered_us": self.entered_us[running], "deadline": self.deadline[running],
                "run": self.run_id[running],
            }).with_columns(pl.Series(ID, [self.entered_ids[k] for k in running.tolist()]))
        return {
            "keys": {str(k): self.keys[k] for k in running.tolist()},
            "table": frame_state(table),
            "runs": int(self.runs[0]),
            "open_runs": frame_state(self.open_runs),
            "last_us": self.last_us,
            "naive": self.naive,
        }

    @classmethod
    def from_state(cls, pattern: StateMachinePattern, state: dict[str, Any]) -> Engine:
        """The engine saved by :meth:`state`."""
        engine = cls(pattern)
        engine.keys = {int(k): v for k, v in state["keys"].items()}
        engine.runs[0] = state["runs"]
        engine.open_runs = frame_or_none(state["open_runs"])
        engine.last_us = state["last_us"]
        engine.naive = state["naive"]
        table = frame_or_none(state["table"])
        if table is not None:
            numbers = table.get_column(KEY_COL).to_numpy()
            engine._grow(int(numbers.max()) + 1)
            engine.cur[numbers] = table.get_column("cur").to_numpy()
            engine.entered_us[numbers] = table.get_column("entered_us").to_numpy()
            engine.deadline[numbers] = table.get_column("deadline").to_numpy()
            engine.run_id[numbers] = table.get_column("run").to_numpy()
            for k, value in zip(numbers.tolist(), table.get_column(ID).to_list(), strict=True):
                engine.entered_ids[k] = value
        return engine

    # --- internals ----------------------------------------------------------------------------
    def _grow(self, n_keys: int) -> None:
        extra = n_keys - self.cur.shape[0]
        if extra > 0:
            self.cur = np.concatenate([self.cur, np.full(extra, -1, np.int64)])
            self.entered_us = np.concatenate([self.entered_us, np.zeros(extra, np.int64)])
            self.deadline = np.concatenate([self.deadline, np.full(extra, NO_DEADLINE, np.int64)])
            self.run_id = np.concatenate([self.run_id, np.zeros(extra, np.int64)])
            self.entered_ids.extend([None] * extra)

    def _process(self, chunk: Chunk) -> pl.DataFrame | None:
        frame = chunk.frame
        self.keys = chunk.keys
        n = frame.height
        if n == 0:
            return self._fire(chunk.watermark_us - 1)
        self.naive = is_naive(frame, chunk.order_by)
        masks = self.conditions.masks(frame)
        cond = np.empty((n, len(masks)), dtype=np.bool_)
        for j, mask in enumerate(masks):
            cond[:, j] = mask
        ts = np.ascontiguousarray(times_us(frame, chunk.order_by))
        self.last_us = max(self.last_us, int(ts.max()))
        key = np.ascontiguousarray(frame.get_column(KEY_COL).to_numpy().astype(np.int64))
        ids = chunk_ids(chunk)
        self._grow(int(key.max()) + 1)
        entered_row = np.full(self.cur.shape[0], -1, dtype=np.int64)
        parts: list[npt.NDArray[np.int64]] = []
        done = 0
        out = np.empty((min(n, 1 << 18) + 64, _RECORD_FIELDS), dtype=np.int64)
        while done < n:
            done, written = _run_events(
                key, ts, cond, self.candidates, self.to_state, self.timeout_us, self.terminal,
                self.initial, self.timeout_state, self.flag, done, self.cur, self.entered_us,
                self.deadline, self.run_id, self.runs, entered_row, out,
            )
            parts.append(out[:written].copy())
        records = np.concatenate(parts) if len(parts) > 1 else parts[0]
        table = self._records(records, ids)
        moved = np.flatnonzero(entered_row >= 0)
        for k, value in zip(moved.tolist(), ids.gather(entered_row[moved]).to_list(),
                            strict=True):
            self.entered_ids[k] = value
        fired = self._deadline_records(chunk.watermark_us - 1)
        return self._emissions(concat([table, fired]))

    def _fire(self, limit_us: int) -> pl.DataFrame | None:
        return self._emissions(self._deadline_records(limit_us))

    def _deadline_records(self, limit_us: int) -> pl.DataFrame | None:
        if self.cur.shape[0] == 0:
            return None
        records = _run_deadlines(limit_us, self.cur, self.entered_us, self.deadline, self.run_id,
                                 self.timeout_state, self.terminal)
        return self._records(records, None) if records.shape[0] else None

    def _records(self, records: npt.NDArray[np.int64], ids: pl.Series | None) -> pl.DataFrame:
        """Records as a frame with state names and event ids (row -1: the id held in state)."""
        rows = records[:, 2]
        table = pl.DataFrame({
            _TYPE: records[:, 0], KEY_COL: records[:, 1], _ROW: rows,
            _FROM: self.state_names.gather(records[:, 3]),
            _TO: self.state_names.gather(records[:, 4]),
            START: records[:, 5], END: records[:, 6], _RUN: records[:, 7],
        })
        from_state = np.flatnonzero(rows < 0)
        if ids is None:
            event_ids = pl.Series(ID, [self.entered_ids[k] for k in records[:, 1].tolist()])
        else:
            event_ids = ids.gather(np.maximum(rows, 0)).alias(ID)
            if from_state.shape[0]:
                values = [self.entered_ids[k] for k in records[from_state, 1].tolist()]
                event_ids = event_ids.scatter(from_state, pl.Series(values, dtype=ids.dtype))
        return table.with_columns(event_ids)

    def _emissions(self, records: pl.DataFrame | None) -> pl.DataFrame | None:
        """The emission table of a call's records (in order), tracking runs across calls."""
        if records is None:
            return None
        records = records.with_row_index(_ORDER)
        kind = pl.col(_TYPE)
        parts: list[pl.DataFrame] = []
        wanted = []
        if self.emit_transitions:
            wanted += [R_TRANSITION, R_TIMEOUT]
        if self.flag:
            wanted.append(R_UNMATCHED)
        if wanted:
            single = records.filter(kind.is_in(wanted))
            if single.height:
                parts.append(single.select(
                    KEY_COL, _ORDER, START, END,
                    pl.concat_list(ID).alias(IDS),
                    pl.concat_list(
                        pl.when(kind == R_UNMATCHED).then(pl.lit("unmatched"))
                        .when(kind == R_TIMEOUT).then(pl.col(_FROM))
                        .otherwise(pl.col(_TO))
                    ).alias(LABELS),
                    pl.col(_FROM).alias("from"), pl.col(_TO).alias("to"),
                    (kind == R_TIMEOUT).alias("timed_out"),
                    pl.when(kind == R_TIMEOUT).then((pl.col(END) - pl.col(START)) / 1e6)
                    .otherwise(None).alias("timeout_s"),
                ))
        if self.emit_runs:
            runs = self._runs(records)
            if runs is not None:
                parts.append(runs)
        emitted = concat(parts)
        if emitted is None:
            return None
        return emitted.sort(KEY_COL, _ORDER).drop(_ORDER)

    def _runs(self, records: pl.DataFrame) -> pl.DataFrame | None:
        """Run matches for the runs that ``records`` complete; keep the others' members."""
        kind = pl.col(_TYPE)
        members = records.filter(kind.is_in([R_TRANSITION, R_START, R_TIMEOUT])).select(
            _RUN,
            pl.when(kind == R_TIMEOUT).then(None).otherwise(pl.col(ID)).alias(ID),
            pl.when(kind == R_TIMEOUT).then(None).otherwise(pl.col(_TO)).alias(LABEL),
            START,
            (kind == R_TIMEOUT).alias(_TIMED),
            (kind != R_START).alias("__moved"),
        )
        members_all = concat([self.open_runs, members])
        ends = records.filter(kind == R_END)
        if ends.height == 0 or members_all is None:
            self.open_runs = members_all
            return None
        done = pl.col(_RUN).is_in(ends.get_column(_RUN).implode())
        finished = members_all.filter(done)
        rest = members_all.filter(~done)
        self.open_runs = rest if rest.height else None
        is_event = ~pl.col(_TIMED)
        summary = finished.group_by(_RUN, maintain_order=True).agg(
            pl.col(ID).filter(is_event).alias(IDS),
            pl.col(LABEL).filter(is_event).alias(LABELS),
            pl.col(START).filter(is_event).first().alias("__first"),
            pl.col("__moved").sum().alias("transitions"),
        )
        return ends.join(summary, on=_RUN, how="left").select(
            KEY_COL, _ORDER, pl.col("__first").alias(START), END, IDS, LABELS,
            pl.lit(self.pattern.initial).alias("from"), pl.col(_TO).alias("to"),
            (pl.col(_ROW) < 0).alias("timed_out"),
            pl.col("transitions").cast(pl.Int64),
            ((pl.col(END) - pl.col("__first")) / 1e6).alias("duration_s"),
        )

    def _pending_table(self) -> pl.DataFrame | None:
        due = np.flatnonzero((self.cur >= 0) & (self.deadline != NO_DEADLINE))
        if due.shape[0] == 0:
            return None
        return pl.DataFrame({
            KEY_COL: due, START: self.entered_us[due], END: self.deadline[due],
        }).with_columns(
            pl.Series(ID, [self.entered_ids[k] for k in due.tolist()]),
            self.state_names.gather(self.cur[due]).alias(LABEL),
        ).with_columns(pl.col(LABEL).alias(STEP))
