"""Match ``sequence`` patterns with Flink CEP semantics (SEMANTICS.md §2), in batch and streaming.

**Iterative conditions (decision).** A step's ``where`` is evaluated with the current event
*tentatively bound to that step*, as SQL's running semantics and the SQL equivalent in
SEMANTICS.md §2.1 read it (``SUM(middle.price) < 5`` = Flink's "sum of the middle prices so far
plus the current price < 5"):

* unqualified columns are the current event; ``S.col`` inside step ``S``'s own ``where`` is the
  current event too; ``LAST(S.col, 1)`` is the previous event taken for ``S``;
* ``SUM / AVG / MIN / MAX / COUNT(S.x)`` and ``COUNT(S.*)`` inside ``S``'s own ``where`` include
  the current event; ``FIRST(S.x)`` is the first event taken for ``S`` (the current one while
  ``S`` has taken none); unqualified ``FIRST(x)``, ``LAST(x)`` and aggregates cover every event
  the partial match has taken, plus the current one;
* a reference to *another* step (``amount > ok.amount``, ``SUM(fail.amount) > 1000``,
  ``FIRST(fail.ts)``, ``LAST(A.price)``) sees only the events that step has **already accepted**
  in this partial match (Flink's ``ctx.getEventsForPattern``); none taken gives NULL (COUNT 0),
  and a NULL or FALSE condition does not match;
* ``until`` conditions and negated steps bind the current event to no step: there, ``S.col`` and
  ``SUM(S.x)`` see only the events already accepted (Flink's iterative ``until``).

Worked example: step ``fail`` with ``where: "type = 'F' AND SUM(fail.amount) <= 100"`` over
``F(40) F(50) F(30)``: 40 (sum 40) and 50 (sum 90) are taken; 30 would make the sum 120, so the
partial match ``F(40) F(50)`` cannot take it. A later step ``ok`` with
``where: "amount > LAST(fail.amount)"`` compares with 50.

**Emission order.** Per key, matches come out in the order Flink's NFA emits them:

1. Events are processed in (time, arrival) order. Before each event, runs whose window is over
   (``ts - start >= within``) are dropped (a pending trailing ``not_followed_by`` run completes
   instead); then the event is fed to every open run, earliest start first.
2. Runs that reach the final state on one event join the *completed* list, which is ordered by
   start event, then by event sequence (lexicographically, earliest first).
3. Under ``NO_SKIP`` the completed list is emitted at once. Under any other strategy its head
   is emitted only while no open run started before it, and each emitted match prunes open runs
   and completed matches by the strategy (SEMANTICS.md §2.6) before the next head is considered.

Example (the Flink docs' skip table): ``b+`` (consecutive, greedy) then ``c`` (strict) over
``b1 b2 b3 c``: on ``c`` three runs complete, ``b1 b2 b3 c``, ``b2 b3 c``, ``b3 c``, emitted in
that order under ``NO_SKIP``, ``SKIP TO NEXT`` and ``SKIP TO FIRST b``; ``PAST LAST EVENT`` emits
``b1 b2 b3 c`` and prunes the others (they started before ``c``); ``SKIP TO LAST b`` emits
``b1 b2 b3 c``, prunes the runs that started before ``b3``, then emits ``b3 c``. (With the
default relaxed contiguity a loop may also stop early and let ``c`` wait, so ``NO_SKIP`` gives
six matches: ``b1 b2 b3 c``, ``b1 b2 c``, ``b1 c``, ``b2 b3 c``, ``b2 c``, ``b3 c``.)

A held-back match: ``a`` then ``b`` with ``x > a.x`` (PAST LAST EVENT) over
``a(5) a(1) b(3) b(6)``: ``a(1) b(3)`` completes first but waits for the earlier run ``a(5)``;
on ``b(6)`` ``a(5) b(6)`` completes, is emitted first and prunes ``a(1) b(3)`` (it started
before ``b(6)``). See the second doctest below.

**Time.** A run needs ``last_ts - first_ts < within``. Window expiry happens when time passes
``start + within``: at the next event of the key, or at a watermark (``process``'s
``chunk.watermark_us``, ``on_time``). Expired runs are recorded in ``timed_out`` (step reached =
the step of their last event, ``ended = start + within``); a trailing ``not_followed_by`` run
completes then instead. ``finish(None)`` ends the stream at the latest event time seen: runs
still open then, and completed matches held back by an earlier open run, stay unreported, as
in Flink (a held-back match waits until the earlier run completes or expires); trailing
``not_followed_by`` runs still waiting are listed in ``pending`` (reason ``"pending"``,
``ended`` = their deadline), and ``finish(now)`` completes those whose deadline is ``<= now``.
``find_sequence_matches`` equals feeding all events and calling ``finish(None)``. The matches,
and their order per key, do not depend on how the stream is split; ``timed_out`` can (as in
Flink): when a watermark expires an earlier run first, the match it was holding back is emitted
and may prune a later run that, with time advancing only at the key's next event, would have
expired in the same step and been reported as timed out.

**How.** The pattern is compiled into the state graph Flink's ``NFACompiler`` builds (``next``
/ ``followedBy`` / ``followedByAny``, loops with ``consecutive`` / ``allowCombinations``,
``optional``, ``greedy`` = the next step's edges ANDed with NOT(loop condition), ``until``,
``notNext`` / ``notFollowedBy`` as stop states); our own code, checked against Flink's ITCase
examples. Each step condition is an *atom*; the edges a run follows on an event depend only on
the atoms its state can see, so they are tabulated per state for every combination (at most
``_MAX_SEEN_ATOMS`` atoms per state). Atoms that read only the current event are one Polars pass
over the events; iterative ones become bytecode over per-run registers (last / first values,
sums, counts per step), behind their row-local conjuncts as a vectorised guard. The event loop
(runs, shared prefix nodes, windows, skip strategies) is ``cep.matcher.nfa`` (numba).

>>> from datetime import datetime, timedelta, timezone
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> events = pl.DataFrame({"ts": [t0 + timedelta(seconds=s) for s in range(5)],
...                        "type": ["a", "c", "b", "b", "a"]})
>>> p = parse_pattern({"kind": "sequence", "name": "ab", "after_match_skip": "NO_SKIP",
...     "steps": [{"name": "a", "where": "type = 'a'"},
...               {"name": "b", "where": "type = 'b'", "contiguity": "any"}]})
>>> [m.event_ids for m in find_sequence_matches(p, events).matches]
[[0, 2], [0, 3]]
>>> held = parse_pattern({"kind": "sequence", "name": "up", "after_match_skip": "PAST LAST EVENT",
...     "steps": [{"name": "a", "where": "type = 'a'"},
...               {"name": "b", "where": "type = 'b' AND x > a.x"}]})
>>> events = events.head(4).with_columns(type=pl.Series(["a", "a", "b", "b"]),
...                                       x=pl.Series([5, 1, 3, 6]))
>>> [m.event_ids for m in find_sequence_matches(held, events).matches]
[[0, 3]]
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.errors import EventDataError, MatchRuntimeError, UnsupportedFeature
from cep.events import check_fields
from cep.matcher import nfa as K
from cep.matcher.conditions import desugar
from cep.matcher.conditions import is_plain as _is_plain
from cep.matcher.conditions import is_strict as _is_strict
from cep.matcher.conditions import qualifiers as _qualifiers
from cep.matcher.conditions import strip_qualifiers as _strip
from cep.matcher.frame import prepare_events
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.model import SequencePattern, Step
from cep.results import Match, MatchResult, PartialMatch

__all__ = ["MAX_PARTIAL_MATCHES", "SequenceEngine", "find_sequence_matches"]

_FEATURES = E.Features(navigation=True, var_refs=True, aggregates=True)
_MAX_SEEN_ATOMS = 12  # conditions one NFA state's decision depends on (table of 2**n rows)
_STATE_VERSION = 1
# Open runs (live partial matches) one key may hold while an event is processed. Without a
# window, followedByAny and allowCombinations keep every combination of earlier events, so the
# runs, and the time per event, grow without bound; a clear error beats a hang.
MAX_PARTIAL_MATCHES = 100_000

# --------------------------------------------------------------------------------------------
# Transition conditions: boolean trees over atoms (one atom per step condition).

Cond = tuple[Any, ...]
TRUE: Cond = ("T",)
FALSE: Cond = ("F",)


def _atom(index: int) -> Cond:
    return ("A", index)


def _not(c: Cond) -> Cond:
    if c == TRUE:
        return FALSE
    if c == FALSE:
        return TRUE
    if c[0] == "N":
        inner: Cond = c[1]
        return inner
    return ("N", c)


def _and(a: Cond, b: Cond) -> Cond:
    if a == TRUE:
        return b
    if b == TRUE:
        return a
    if FALSE in (a, b):
        return FALSE
    return ("&", a, b)


def _value(c: Cond, values: dict[int, bool]) -> bool:
    kind = c[0]
    if kind == "T":
        return True
    if kind == "F":
        return False
    if kind == "A":
        return values[c[1]]
    if kind == "N":
        return not _value(c[1], values)
    if kind == "&":
        return _value(c[1], values) and _value(c[2], values)
    return _value(c[1], values) or _value(c[2], values)


def _atoms_of(c: Cond) -> set[int]:
    if c[0] == "A":
        return {c[1]}
    return set().union(*(_atoms_of(x) for x in c[1:])) if c[0] in ("N", "&", "|") else set()


# --------------------------------------------------------------------------------------------
# The NFA graph, built as Flink's NFACompiler builds it (no group patterns).


@dataclass(eq=False)
class _State:
    id: int
    kind: int
    step: int
    trans: list[list[Any]] = field(default_factory=list)  # [action, source, target, cond]

    def add(self, action: int, target: _State, cond: Cond) -> None:
        self.trans.append([action, self, target, cond])


@dataclass(frozen=True)
class _Pat:
    """One step in Flink's terms."""

    index: int
    name: str
    strategy: str  # strict | relaxed | any | not_next | not_followed_by
    inner: str  # strict | relaxed | any (inside a loop)
    kind: str  # single | times | looping
    lo: int
    hi: int
    optional: bool
    greedy: bool
    where: Cond
    until: Cond | None

    @property
    def is_not_follow(self) -> bool:
        return self.strategy == "not_followed_by"


class _NfaBuilder:
    """Builds the automaton as Flink's ``NFACompiler`` does (single patterns, no groups).

    Compiles from the last step back to the first: each step's states point at the states of
    the step after it (the *sink*); negated steps become stop states reached over PROCEED edges.
    """

    def __init__(self, pats: list[_Pat], windowed: bool) -> None:
        self.pats = pats
        self.windowed = windowed
        self.states: list[_State] = []
        self.stop_states: dict[int, _State] = {}
        self.original: dict[int, _State] = {}
        self.cur = len(pats) - 1
        self.following: int | None = None

    @property
    def pat(self) -> _Pat:
        return self.pats[self.cur]

    def state(self, kind: int, step: int) -> _State:
        s = _State(len(self.states), kind, step)
        self.states.append(s)
        return s

    def compile(self) -> _State:
        sink = self.state(K.FINAL, -1)
        while self.cur > 0:
            p = self.pat
            if p.strategy == "not_followed_by":
                if self.windowed and sink.kind == K.FINAL:
                    pending = self.state(K.PENDING, p.index)
                    stop = self.stop_state(p)
                    pending.add(K.PROCEED, stop, p.where)
                    pending.add(K.IGNORE, pending, _not(p.where))
                    sink = pending
            elif p.strategy == "not_next":
                nn = self.state(K.NORMAL, p.index)
                stop = self.stop_state(p)
                if sink.kind == K.FINAL:
                    nn.add(K.IGNORE, sink, _not(p.where))
                else:
                    nn.add(K.PROCEED, sink, _not(p.where))
                nn.add(K.PROCEED, stop, p.where)
                sink = nn
            else:
                sink = self.convert(sink)
            self.following = self.cur
            self.cur -= 1
        start = self.convert(sink)
        start.kind = K.START
        return start

    def stop_state(self, p: _Pat) -> _State:
        stop = self.stop_states.get(p.index)
        if stop is None:
            stop = self.state(K.STOP, p.index)
            stop.add(K.TAKE, stop, p.where)
            self.stop_states[p.index] = stop
        return stop

    def current_nots(self) -> list[_Pat]:
        """Flink's getCurrentNotCondition: NOT patterns reachable backwards over optionals."""
        found = []
        i = self.cur
        while i > 0 and (self.pats[i - 1].optional or self.pats[i - 1].is_not_follow):
            i -= 1
            if self.pats[i].is_not_follow:
                found.append(self.pats[i])
        return found

    def convert(self, sink: _State) -> _State:
        p = self.pat
        if p.kind == "looping":
            looping = self.looping(self.without_transitive_nots(sink))
            last = self.times(looping, sink, p.lo, p.lo)
        elif p.kind == "times":
            last = self.times(sink, sink, p.lo, p.hi)
        else:
            last = self.singleton(sink, sink, p.where, self.ignore_cond(p), p.optional)
        self.add_stop_states(last)
        return last

    def without_transitive_nots(self, sink: _State) -> _State:
        nots = self.current_nots()
        if not nots or not self.pat.optional:
            return sink
        stops = {id(self.stop_states.get(n.index)) for n in nots}
        copy = self.state(sink.kind, sink.step)
        for action, source, target, cond in sink.trans:
            if action == K.PROCEED:
                if target.kind == K.STOP:
                    if id(target) in stops:
                        continue
                else:
                    target = self.without_transitive_nots(target)
                copy.add(action, target, cond)
            else:
                copy.add(action, copy if target is source else target, cond)
        return copy

    def copy(self, state: _State) -> _State:
        out = self.state(state.kind, state.step)
        for action, source, target, cond in state.trans:
            out.add(action, out if target is source else target, cond)
        return out

    def add_stop_states(self, state: _State) -> None:
        for n in self.current_nots():
            state.add(K.PROCEED, self.stop_state(n), n.where)

    def add_stop_state_to_looping(self, state: _State) -> None:
        if self.following is not None and self.pats[self.following].is_not_follow:
            n = self.pats[self.following]
            state.add(K.PROCEED, self.stop_state(n), n.where)

    def take_cond(self, p: _Pat) -> Cond:
        return p.where if p.until is None else _and(_not(p.until), p.where)

    def inner_ignore(self, p: _Pat) -> Cond | None:
        base = {"strict": None, "relaxed": _not(p.where), "any": TRUE}[p.inner]
        if base is None or p.until is None:
            return base
        return _and(_not(p.until), base)

    def ignore_cond(self, p: _Pat) -> Cond | None:
        return {"strict": None, "relaxed": _not(p.where), "any": TRUE}[p.strategy]

    @staticmethod
    def update_greedy(state: _State, take: Cond) -> None:
        for t in state.trans:
            t[3] = _and(t[3], _not(take))

    def times(self, sink: _State, proceed: _State, lo: int, hi: int) -> _State:
        p = self.pat
        last = sink
        inner = self.inner_ignore(p)
        take = self.take_cond(p)
        if p.greedy and lo != hi:
            if p.until is not None:
                self.original[sink.id] = self.copy(sink)
            self.update_greedy(sink, take)
        for _ in range(lo, hi):
            last = self.singleton(last, proceed, take, inner, True)
            self.add_stop_state_to_looping(last)
        for _ in range(lo - 1):
            last = self.singleton(last, None, take, inner, False)
            self.add_stop_state_to_looping(last)
        return self.singleton(last, proceed, take, self.ignore_cond(p), p.optional)

    def singleton(self, sink: _State, proceed: _State | None, take: Cond,
                  ignore: Cond | None, optional: bool) -> _State:
        p = self.pat
        st = self.state(K.NORMAL, p.index)
        target = self.without_transitive_nots(sink)
        st.add(K.TAKE, target, take)
        if optional and proceed is not None:
            if p.greedy and p.until is not None:
                st.add(K.PROCEED, self.original.get(proceed.id, proceed), p.until)
                st.add(K.PROCEED, proceed, _not(p.until))
            else:
                st.add(K.PROCEED, proceed, TRUE)
        if ignore is not None:
            if optional:
                ignore_state = self.state(K.NORMAL, p.index)
                ignore_state.add(K.TAKE, target, take)
                ignore_state.add(K.IGNORE, ignore_state, ignore)
                self.add_stop_states(ignore_state)
            else:
                ignore_state = st
            st.add(K.IGNORE, ignore_state, ignore)
        return st

    def looping(self, sink: _State) -> _State:
        p = self.pat
        ignore = self.inner_ignore(p)
        take = self.take_cond(p)
        looping = self.state(K.NORMAL, p.index)
        if p.greedy:
            if p.until is not None:
                copy = self.copy(sink)
                looping.add(K.PROCEED, copy, p.until)
                self.original[sink.id] = copy
                looping.add(K.PROCEED, sink, _not(p.until))
            else:
                looping.add(K.PROCEED, sink, TRUE)
            self.update_greedy(sink, p.where)
        else:
            looping.add(K.PROCEED, sink, TRUE)
        looping.add(K.TAKE, looping, take)
        self.add_stop_state_to_looping(looping)
        if ignore is not None:
            ignore_state = self.state(K.NORMAL, p.index)
            ignore_state.add(K.TAKE, looping, take)
            ignore_state.add(K.IGNORE, ignore_state, ignore)
            looping.add(K.IGNORE, ignore_state, ignore)
            self.add_stop_state_to_looping(ignore_state)
        return looping


def _reachable(start: _State) -> list[_State]:
    seen: dict[int, _State] = {}
    todo = [start]
    while todo:
        s = todo.pop()
        if s.id in seen:
            continue
        seen[s.id] = s
        todo.extend(t[2] for t in s.trans)
    return sorted(seen.values(), key=lambda s: s.id)


def _proceed_closure(state: _State) -> list[_State]:
    out: dict[int, _State] = {}
    todo = [state]
    while todo:
        s = todo.pop()
        if s.id not in out:
            out[s.id] = s
            todo.extend(t[2] for t in s.trans if t[0] == K.PROCEED)
    return list(out.values())


def _seen_atoms(state: _State) -> list[int]:
    """The atoms Flink's decision graph from ``state`` can evaluate, in index order."""
    found: set[int] = set()
    for s in _proceed_closure(state):
        for action, _, target, cond in s.trans:
            found |= _atoms_of(cond)
            if action == K.TAKE:
                for s2 in _proceed_closure(target):
                    for t in s2.trans:
                        if t[0] == K.PROCEED:
                            found |= _atoms_of(t[3])
    return sorted(found)


def _reaches_final(state: _State, values: dict[int, bool]) -> bool:
    """Flink's findFinalStateAfterProceed."""
    todo = [state]
    while todo:
        s = todo.pop()
        for action, _, target, cond in s.trans:
            if action == K.PROCEED and _value(cond, values):
                if target.kind == K.FINAL:
                    return True
                todo.append(target)
    return False


def _decide(state: _State, values: dict[int, bool]) -> list[tuple[int, _State, _State, bool]]:
    """Flink's createDecisionGraph: (action, source, target, TAKE reaches final) per edge."""
    edges: list[list[Any]] = []
    todo = [state]
    while todo:
        s = todo.pop()
        for t in s.trans:
            if _value(t[3], values):
                if t[0] == K.PROCEED:
                    todo.append(t[2])
                else:
                    edges.append(t)
    return [(t[0], t[1], t[2], t[0] == K.TAKE and _reaches_final(t[2], values)) for t in edges]


# --------------------------------------------------------------------------------------------
# Step conditions: atoms evaluated with Polars (row-local) or as bytecode (iterative).

_BINARY = {
    "+": K.B_ADD, "-": K.B_SUB, "*": K.B_MUL, "/": K.B_DIV, "%": K.B_MOD,
    "=": K.B_EQ, "<>": K.B_NE, "<": K.B_LT, "<=": K.B_LE, ">": K.B_GT, ">=": K.B_GE,
    "AND": K.B_AND, "OR": K.B_OR,
}
_AGG = {"SUM": K.AGG_SUM, "AVG": K.AGG_AVG, "COUNT": K.AGG_COUNT, "MIN": K.AGG_MIN,
        "MAX": K.AGG_MAX}


def _conjuncts(e: E.Expr) -> list[E.Expr]:
    if isinstance(e, E.Binary) and e.op == "AND":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _conjunction(parts: list[E.Expr]) -> E.Expr:
    out = parts[0]
    for part in parts[1:]:
        out = E.Binary("AND", out, part)
    return out


RegKey = tuple[Any, ...]


class _CondCompiler:
    """Compiles iterative conditions into ``cep.matcher.nfa`` bytecode and register updates."""

    def __init__(self, step_index: dict[str, int], n_steps: int) -> None:
        self.step_index = step_index
        self.all = n_steps  # pseudo step: every event of the partial match
        self.derived: dict[E.Expr, int] = {}
        self.code: list[list[Any]] = []
        self.starts: list[int] = [0]
        self.consts: list[tuple[float, bool]] = []
        self.string_consts: list[tuple[int, str]] = []
        self.ring_len: dict[tuple[int, int], int] = {}
        self.first_len: dict[tuple[int, int], int] = {}
        self.aggs: set[tuple[int, int]] = set()
        self.counts: set[int] = set()
        self.tentative: int | None = None

    # --- operands -----------------------------------------------------------------------
    def column(self, e: E.Expr) -> int:
        return self.derived.setdefault(_strip(e), len(self.derived))

    def const(self, value: Any) -> int:
        if isinstance(value, str):
            self.consts.append((0.0, False))
            self.string_consts.append((len(self.consts) - 1, value))
        elif value is None:
            self.consts.append((0.0, True))
        elif isinstance(value, timedelta):
            self.consts.append((value / timedelta(microseconds=1), False))
        elif isinstance(value, datetime):
            self.consts.append((value.timestamp() * 1e6, False))
        else:
            self.consts.append((float(value), False))
        return len(self.consts) - 1

    def step_of(self, var: str | None) -> int:
        if var is None:
            return self.all
        if var not in self.step_index:
            raise UnsupportedFeature(f"a step condition refers to {var!r}, which is not a step "
                                     "that takes events before it")
        return self.step_index[var]

    def is_tentative(self, step: int) -> bool:
        return self.tentative is not None and step in (self.tentative, self.all)

    def op(self, *args: Any) -> None:
        self.code.append(list(args) + [0] * (5 - len(args)))

    # --- programs -------------------------------------------------------------------------
    def program(self, e: E.Expr, tentative: int | None) -> int:
        self.tentative = tentative
        self.emit(e)
        self.starts.append(len(self.code))
        return len(self.starts) - 2

    def emit(self, e: E.Expr) -> None:
        if isinstance(e, E.Lit):
            self.op(K.B_CONST, self.const(e.value))
            return
        quals = _qualifiers(e)
        if _is_plain(e) and len(quals) <= 1:
            step = self.step_of(next(iter(quals), None)) if quals else self.all
            if not quals or next(iter(quals)) is None or (
                self.tentative is not None and step == self.tentative
            ):
                self.op(K.B_COL, self.column(e))
                return
            if _is_strict(e):
                self.last(e, step, 0)
                return
        if isinstance(e, E.Nav):
            self.navigation(e)
        elif isinstance(e, E.Agg):
            self.aggregate(e)
        elif isinstance(e, E.Binary) and e.op in _BINARY:
            self.emit(e.left)
            self.emit(e.right)
            self.op(_BINARY[e.op])
        elif isinstance(e, E.Unary):
            self.emit(e.operand)
            if e.op == "NOT":
                self.op(K.B_NOT)
            elif e.op == "-":
                self.op(K.B_NEG)
        elif isinstance(e, E.IsNull):
            self.emit(e.operand)
            self.op(K.B_ISNOTNULL if e.negated else K.B_ISNULL)
        elif isinstance(e, E.InList | E.Between):
            self.emit(desugar(e))
        elif isinstance(e, E.Func) and e.name == "abs" and len(e.args) == 1:
            self.emit(e.args[0])
            self.op(K.B_ABS)
        elif isinstance(e, E.Func) and e.name == "coalesce":
            self.emit(e.args[0])
            for arg in e.args[1:]:
                self.emit(arg)
                self.op(K.B_COALESCE)
        else:
            raise UnsupportedFeature(
                f"{type(e).__name__} over events of other steps is not supported in a step "
                f"condition: {E.to_sql(e)}; compute it from one step's fields"
            )

    def single_step_arg(self, arg: E.Expr, what: str) -> int:
        quals = _qualifiers(arg)
        if len(quals) > 1 or not _is_plain(arg):
            raise UnsupportedFeature(f"{what} must read the fields of one step: {E.to_sql(arg)}")
        return self.step_of(next(iter(quals), None))

    def last(self, arg: E.Expr, step: int, k: int) -> None:
        d = self.column(arg)
        if self.is_tentative(step):
            if k == 0:
                self.op(K.B_COL, d)
                return
            k -= 1
        key = (d, step)
        self.ring_len[key] = max(self.ring_len.get(key, 0), k + 1)
        self.counts.add(step)
        self.op(K.B_LAST, ("ring", d, step), k, ("cnt", step))

    def navigation(self, e: E.Nav) -> None:
        if e.func not in ("FIRST", "LAST"):
            raise UnsupportedFeature(f"{e.func}() is not available in a step condition; a step "
                                     "sees the events its partial match has taken")
        step = self.single_step_arg(e.arg, f"{e.func}()")
        if e.func == "LAST":
            self.last(e.arg, step, e.offset)
            return
        d = self.column(e.arg)
        key = (d, step)
        self.first_len[key] = max(self.first_len.get(key, 0), e.offset + 1)
        self.counts.add(step)
        op = K.B_FIRSTSELF if self.is_tentative(step) else K.B_FIRST
        self.op(op, ("first", d, step), e.offset, ("cnt", step), d)

    def aggregate(self, e: E.Agg) -> None:
        if e.arg is None:
            step = self.step_of(e.var)
            self.counts.add(step)
            self.op(K.B_COUNTSTAR, ("cnt", step), 0, 0, 1 if self.is_tentative(step) else 0)
            return
        step = self.single_step_arg(e.arg, f"{e.func}()")
        d = self.column(e.arg)
        self.aggs.add((d, step))
        self.op(K.B_AGG, _AGG[e.func], ("agg", d, step), d, 1 if self.is_tentative(step) else 0)

    # --- registers ----------------------------------------------------------------------
    def layout(self) -> tuple[dict[RegKey, int], list[int], list[list[list[int]]], int]:
        """Allocate registers; returns (slots, register → column, updates per step, count)."""
        slots: dict[RegKey, int] = {}
        reg_col: list[int] = []

        def alloc(key: RegKey, size: int, col: int) -> None:
            slots[key] = len(reg_col)
            reg_col.extend([col] * size)

        for step in sorted(self.counts):
            alloc(("cnt", step), 1, -1)
        for (d, step), size in sorted(self.ring_len.items()):
            alloc(("ring", d, step), size, d)
        for (d, step), size in sorted(self.first_len.items()):
            alloc(("first", d, step), size, d)
        for d, step in sorted(self.aggs):
            alloc(("agg", d, step), 4, d)
            reg_col[slots[("agg", d, step)] + 1] = -1
        updates: list[list[list[int]]] = []
        for step in range(self.all + 1):
            ops: list[list[int]] = []
            for (d, s), size in sorted(self.first_len.items()):
                if s == step:
                    ops.append([K.U_FIRST, slots[("first", d, s)], size, d, slots[("cnt", s)]])
            for (d, s), size in sorted(self.ring_len.items()):
                if s == step:
                    ops.append([K.U_RING, slots[("ring", d, s)], size, d, 0])
            for d, s in sorted(self.aggs):
                if s == step:
                    ops.append([K.U_AGG, slots[("agg", d, s)], 0, d, 0])
            if step in self.counts:
                ops.append([K.U_CNT, slots[("cnt", step)], 0, 0, 0])
            updates.append(ops)
        return slots, reg_col, updates, len(reg_col)


def _as_float(s: pl.Series, codes: dict[str, int]) -> pl.Series:
    if s.dtype in (pl.String, pl.Categorical, pl.Enum):
        return s.cast(pl.String).replace_strict(codes, default=None, return_dtype=pl.Float64)
    if s.dtype == pl.Date:
        s = s.cast(pl.Datetime("us"))
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.epoch("us").cast(pl.Float64)
    if isinstance(s.dtype, pl.Duration):
        return s.dt.total_microseconds().cast(pl.Float64)
    return s.cast(pl.Float64)


class _Strings:
    """Order-preserving codes for the text values iterative conditions compare."""

    def __init__(self, values: Sequence[str] = ()) -> None:
        self.values: list[str] = sorted(set(values))
        self.codes = {v: i for i, v in enumerate(self.values)}

    def extend(self, found: set[str]) -> npt.NDArray[np.float64] | None:
        """Add values; returns old code → new code when existing codes moved."""
        missing = found.difference(self.codes)
        if not missing:
            return None
        merged = sorted(self.codes.keys() | missing)
        old = self.values
        self.values = merged
        self.codes = {v: i for i, v in enumerate(merged)}
        if not old:
            return None
        return np.array([self.codes[v] for v in old], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# The compiled pattern


class _Compiled:
    """Everything about a sequence pattern that does not depend on the events."""

    def __init__(self, pattern: SequencePattern) -> None:
        self.pattern = pattern
        self.steps = list(pattern.steps)
        self.names = [s.name for s in self.steps]
        n = len(self.steps)
        self.within_us = -1 if pattern.within is None else pattern.within.microseconds
        self.used: dict[str, str] = {}
        self.static_exprs: list[pl.Expr] = []
        self.atom_kind: list[int] = []
        self.atom_arg: list[int] = []
        self.atom_guard: list[int] = []
        positive: dict[str, int] = {}
        self.cc = _CondCompiler(positive, n)
        atoms: dict[tuple[str, int], Cond] = {}
        for i, step in enumerate(self.steps):
            scope = dict(positive)
            if step.negated is None:
                scope[step.name] = i
            self.cc.step_index = scope
            if step.where is not None:
                atoms[("where", i)] = self.atom(step, "where", step.where, scope,
                                                i if step.negated is None else None)
            if step.until is not None:
                atoms[("until", i)] = self.atom(step, "until", step.until, scope, None)
            if step.negated is None:
                positive[step.name] = i
        self.cc.step_index = positive
        pats = [self.pat(i, s, atoms) for i, s in enumerate(self.steps)]
        start = _NfaBuilder(pats, pattern.within is not None).compile()
        self.graph(start)
        self.skip_mode, self.skip_step = self.skip()
        slots, self.reg_col, updates, self.n_regs = self.cc.layout()
        self.code = self.resolve(slots)
        self.upd_start = np.cumsum([0] + [len(u) for u in updates]).astype(np.int64)
        flat = [op for ops in updates for op in ops] or [[0, 0, 0, 0, 0]]
        self.upd = np.array(flat, dtype=np.int64).reshape(-1, 5)
        self.dynamic = any(k == K.A_DYNAMIC for k in self.atom_kind)

    def atom(self, step: Step, field_name: str, text: str, scope: dict[str, int],
             tentative: int | None) -> Cond:
        e = E.parse_condition(text, features=_FEATURES, variables=list(scope))
        for col in E.referenced_columns(e):
            self.used.setdefault(col, f"step {step.name!r} {field_name}")
        row_var = step.name if tentative is not None else None
        index = len(self.atom_kind)
        local: list[E.Expr] = []
        rest: list[E.Expr] = []
        for part in _conjuncts(e):
            row_local = E.is_row_local(part, row_var=row_var) and not any(
                isinstance(n, E.Nav) for n in E.walk(part))
            (local if row_local else rest).append(part)
        guard = -1
        if local:
            guard = len(self.static_exprs)
            self.static_exprs.append(E.to_polars(_conjunction(local), row_var=row_var)
                                     .fill_null(False))
        if not rest:
            self.atom_kind.append(K.A_STATIC)
            self.atom_arg.append(guard)
        else:
            # Row-local conjuncts are a vectorised guard: the bytecode runs only where it holds.
            self.atom_kind.append(K.A_DYNAMIC)
            self.atom_arg.append(self.cc.program(_conjunction(rest), tentative))
        self.atom_guard.append(guard)
        return _atom(index)

    @staticmethod
    def pat(i: int, s: Step, atoms: dict[tuple[str, int], Cond]) -> _Pat:
        strategy: str
        if s.negated is not None:
            strategy = s.negated
        elif i == 0:
            strategy = "strict"  # Flink's begin(); a run always starts at an event anyway
        else:
            strategy = s.contiguity
        if s.times.max is None:
            kind = "looping"
        elif not s.times.is_single:
            kind = "times"
        else:
            kind = "single"
        return _Pat(
            index=i, name=s.name, strategy=strategy, inner=s.loop_contiguity, kind=kind,
            lo=s.times.min, hi=s.times.max if s.times.max is not None else s.times.min,
            optional=s.optional, greedy=s.greedy and kind != "single",
            where=atoms.get(("where", i), TRUE), until=atoms.get(("until", i)),
        )

    def graph(self, start: _State) -> None:
        states = _reachable(start)
        index = {s.id: k for k, s in enumerate(states)}
        rel_start = [0]
        rel_atoms: list[int] = []
        tab_base: list[int] = []
        dec_off = [0]
        dec: list[tuple[int, int, int, int]] = []
        for s in states:
            seen = _seen_atoms(s)
            if len(seen) > _MAX_SEEN_ATOMS:
                raise UnsupportedFeature(
                    f"pattern {self.pattern.name!r} is too complex for the sequence matcher: one "
                    f"step sees {len(seen)} conditions at once (at most {_MAX_SEEN_ATOMS}); "
                    "reduce the number of consecutive optional steps"
                )
            rel_atoms.extend(seen)
            rel_start.append(len(rel_atoms))
            tab_base.append(len(dec_off) - 1)
            for mask in range(1 << len(seen)):
                values = {atom: bool(mask >> b & 1) for b, atom in enumerate(seen)}
                for action, source, target, final in _decide(s, values):
                    dec.append((action, index[target.id], source.step, int(final)))
                dec_off.append(len(dec))
        self.n_states = len(states)
        self.start_state = index[start.id]
        table = np.array(dec or [(0, 0, 0, 0)], dtype=np.int64).reshape(-1, 4)
        self.state_kind = np.array([s.kind for s in states], dtype=np.int64)
        self.nfa = (
            self.state_kind,
            np.array([s.step for s in states], dtype=np.int64),
            np.array(rel_start, dtype=np.int64), np.array(rel_atoms or [0], dtype=np.int64),
            np.array(tab_base, dtype=np.int64), np.array(dec_off, dtype=np.int64),
            *(np.ascontiguousarray(table[:, k]) for k in range(4)),
            self.start_state,
        )

    def skip(self) -> tuple[int, int]:
        text = self.pattern.after_match_skip
        if text == "NO_SKIP":
            return K.SKIP_NO, -1
        if text == "SKIP TO NEXT":
            return K.SKIP_NEXT, -1
        if text == "PAST LAST EVENT":
            return K.SKIP_PAST, -1
        mode, name = text.split(" ")[2:4]
        return (K.SKIP_FIRST if mode == "FIRST" else K.SKIP_LAST), self.names.index(name)

    def resolve(self, slots: dict[RegKey, int]) -> npt.NDArray[np.int64]:
        rows = [[slots[x] if isinstance(x, tuple) else x for x in row] for row in self.cc.code]
        return np.array(rows or [[0, 0, 0, 0, 0]], dtype=np.int64).reshape(-1, 5)

    # --- per-event inputs -------------------------------------------------------------------
    def evaluate(self, frame: pl.DataFrame, order: npt.NDArray[np.int64] | None,
                 strings: _Strings) -> tuple[Any, npt.NDArray[np.float64] | None, set[int]]:
        """The kernel's condition inputs, the string-code remap (if codes moved), text columns."""
        n = frame.height if order is None else order.shape[0]
        n_static = len(self.static_exprs)
        width = max(n, 1)
        static = np.zeros((width, max(n_static, 1)), dtype=np.uint8)
        cols = np.zeros((width, max(len(self.cc.derived), 1)), dtype=np.float64)
        nulls = np.zeros((width, max(len(self.cc.derived), 1)), dtype=np.bool_)
        string_cols: set[int] = set()
        found = {text for _, text in self.cc.string_consts}
        try:
            exprs = [x.alias(f"__a{i}") for i, x in enumerate(self.static_exprs)]
            exprs += [E.to_polars(e).alias(f"__d{i}") for e, i in self.cc.derived.items()]
            # One pass for every atom and column; a constant comes back as a single row.
            values = frame.select(exprs) if exprs and frame.height else pl.DataFrame()
            series = [s if s.len() == frame.height else s.extend_constant(s[0], frame.height - 1)
                      for s in values.iter_columns()]
            for i, s in enumerate(series[:n_static]):
                flags = s.cast(pl.UInt8).to_numpy()
                static[:n, i] = flags if order is None else flags[order]
            derived = series[n_static:]
            for i, s in enumerate(derived):
                if s.dtype in (pl.String, pl.Categorical, pl.Enum):
                    string_cols.add(i)
                    found.update(s.cast(pl.String).drop_nulls().unique().to_list())
            remap = strings.extend(found)
            for i, s in enumerate(derived):
                column = _as_float(s, strings.codes)
                null = column.is_null().to_numpy()
                data = column.fill_null(0.0).to_numpy()
                if order is not None:
                    null = null[order]
                    data = data[order]
                nulls[:n, i] = null
                cols[:n, i] = data
        except pl.exceptions.PolarsError as error:
            detail = str(error).strip().splitlines()[0]
            raise EventDataError(
                f"a step condition of pattern {self.pattern.name!r} cannot be evaluated on these "
                f"events: {detail} (check that compared fields and values have the same type)"
            ) from None
        consts = np.array([c[0] for c in self.cc.consts] or [0.0], dtype=np.float64)
        consts_null = np.array([c[1] for c in self.cc.consts] or [True], dtype=np.bool_)
        for index, text in self.cc.string_consts:
            consts[index] = strings.codes[text]
        cond = (
            np.array(self.atom_kind or [0], dtype=np.int64),
            np.array(self.atom_arg or [0], dtype=np.int64),
            static,
            np.array(self.cc.starts, dtype=np.int64),
            np.ascontiguousarray(self.code[:, 0]), np.ascontiguousarray(self.code[:, 1]),
            np.ascontiguousarray(self.code[:, 2]), np.ascontiguousarray(self.code[:, 3]),
            np.ascontiguousarray(self.code[:, 4]),
            consts, consts_null, cols, nulls,
            self.upd_start, np.ascontiguousarray(self.upd[:, 0]),
            np.ascontiguousarray(self.upd[:, 1]), np.ascontiguousarray(self.upd[:, 2]),
            np.ascontiguousarray(self.upd[:, 3]), np.ascontiguousarray(self.upd[:, 4]),
            self.n_regs, np.array(self.atom_guard or [-1], dtype=np.int64),
        )
        return cond, remap, string_cols


# --------------------------------------------------------------------------------------------
# Results


class _Lazy(Sequence[Any]):
    """A list built on first access (Match / PartialMatch objects are the slow part)."""

    def __init__(self, parts: list[tuple[int, Callable[[], list[Any]]]] | None = None) -> None:
        self._parts: list[tuple[int, Callable[[], list[Any]]]] = parts or []
        self._items: list[Any] = []

    def add(self, count: int, build: Callable[[], list[Any]]) -> None:
        if count:
            self._parts.append((count, build))

    def extend(self, items: list[Any]) -> None:
        self._flush()
        self._items.extend(items)

    def items(self) -> list[Any]:
        """Everything, built now; later additions are appended to this same list."""
        return self._flush()

    def _flush(self) -> list[Any]:
        if self._parts:
            for _, build in self._parts:
                self._items.extend(build())
            self._parts = []
        return self._items

    def __len__(self) -> int:
        return len(self._items) + sum(count for count, _ in self._parts)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._flush()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._flush())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


@dataclass
class _Chains:
    """Event chains ended by tip nodes: key per chain, offsets, table rows and steps."""

    keys: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    steps: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.keys.shape[0])


def _chains(nodes: Any, pairs: Any) -> _Chains:
    offsets, rows, steps = K.materialize(nodes, np.ascontiguousarray(pairs[:, 1]))
    return _Chains(pairs[:, 0].copy(), offsets, rows, steps)


# --------------------------------------------------------------------------------------------
# The engine


class SequenceEngine:
    """Incremental ``sequence`` matching: per-key open runs of Flink's NFA, kept as arrays.

    Implements ``cep.matcher.stream.Engine``. Between calls the engine holds the open runs
    (state, start, registers), completed matches held back by the skip strategy, the node pool
    their event chains share, and the id and time of every event those chains still reference.

    A key may hold at most ``max_partial_matches`` open runs, counted while an event is
    processed (before the skip strategy prunes); one more raises ``MatchRuntimeError`` naming
    the pattern and the key. Below the limit it changes nothing.
    """

    def __init__(self, pattern: SequencePattern, *,
                 max_partial_matches: int = MAX_PARTIAL_MATCHES) -> None:
        self.pattern = pattern
        self.max_partial_matches = _checked_limit(max_partial_matches)
        self.compiled = _compiled(pattern)
        width = max(self.compiled.n_regs, 1)
        self.keys: dict[int, dict[str, Any]] = {}
        self.key_ord = np.zeros(0, dtype=np.int64)
        self.runs = np.zeros((0, 5), dtype=np.int64)
        self.regs = np.zeros((0, width), dtype=np.float64)
        self.regn = np.zeros((0, width), dtype=np.uint8)
        self.comp = np.zeros((0, 6), dtype=np.int64)
        self.nodes = np.zeros((16, 4), dtype=np.int64)
        self.n_nodes = 0
        self.table: pl.DataFrame | None = None  # id, time of the events nodes refer to
        self.strings = _Strings()
        self.max_ts: int | None = None
        self._timeouts = _Lazy()
        self.string_cols: set[int] = set()
        self._idle: Any = None
        self._caps = [256, 256, 256, 256, 1024, 256]
        self._collect_at = 8192

    @property
    def timed_out(self) -> list[PartialMatch]:
        """Runs the window killed, in the order they expired (built when first read)."""
        return self._timeouts.items()

    def forget_timed_out(self) -> None:
        """Drop the runs the window killed so far (see ``StreamMatcher.forget_timed_out``)."""
        self._timeouts = _Lazy()

    # --- Engine protocol -------------------------------------------------------------------
    def process(self, chunk: Chunk) -> list[Match]:
        """Consume final events (sorted by key, time, arrival); return the matches now certain."""
        frame = chunk.frame
        for number, values in chunk.keys.items():
            self.keys.setdefault(number, values)
        if frame.height == 0:
            return self.on_time(chunk.watermark_us)
        if self.table is None:
            check_fields(frame, self.compiled.used)
        order_by = chunk.order_by
        ts = _epoch_us(frame.get_column(order_by))
        ev_key = frame.get_column(KEY_COL).to_numpy().astype(np.int64)
        ids = frame.get_column(chunk.id_column or SEQ_COL)
        part = pl.DataFrame({"id": ids, "time": frame.get_column(order_by)})
        base = 0 if self.table is None else self.table.height
        table = (part if self.table is None
                 else pl.concat([self.table, part], how="vertical_relaxed"))
        ev_ref = np.arange(base, base + frame.height, dtype=np.int64)
        em, to = self._run(frame, None, ev_key, ts, ev_ref, chunk.watermark_us,
                           self.keys.__getitem__)
        matches = _build_matches(self.pattern.name, _chains(self.nodes, em), table,
                                 self.keys.__getitem__, self.compiled.names)
        self._record_timeouts(to, table, self.keys.__getitem__)
        self.table = table
        self._collect()
        return matches

    def on_time(self, watermark_us: int) -> list[Match]:
        """Event time reached ``watermark_us``: expire windows, complete pending runs."""
        if self.compiled.within_us < 0 or self.runs.shape[0] == 0 or self.table is None:
            return []
        empty = np.zeros(0, dtype=np.int64)
        em, to = self._run(None, None, empty, empty, empty, watermark_us, self.keys.__getitem__)
        matches = _build_matches(self.pattern.name, _chains(self.nodes, em), self.table,
                                 self.keys.__getitem__, self.compiled.names)
        self._record_timeouts(to, self.table, self.keys.__getitem__)
        self._collect()
        return matches

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream at the latest event time (or at ``now_us``); see the module docstring."""
        if now_us is None:
            return [] if self.max_ts is None else self.on_time(self.max_ts)
        return self.on_time(now_us)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state (lists, dicts, str, int, float, None)."""
        self._collect(force=True)
        return {
            "version": _STATE_VERSION,
            "max_partial_matches": self.max_partial_matches,
            "keys": [[k, v] for k, v in self.keys.items()],
            "key_ord": self.key_ord.tolist(),
            "runs": self.runs.tolist(),
            "regs": [[_float_out(x) for x in row] for row in self.regs.tolist()],
            "regn": self.regn.tolist(),
            "completed": self.comp.tolist(),
            "nodes": self.nodes[: self.n_nodes].tolist(),
            "table": None if self.table is None else frame_to_state(self.table),
            "strings": list(self.strings.values),
            "string_cols": sorted(self.string_cols),
            "max_ts": self.max_ts,
            "timed_out": [_partial_out(p) for p in self.timed_out],
        }

    @classmethod
    def from_state(cls, pattern: SequencePattern, state: dict[str, Any]) -> SequenceEngine:
        """The engine saved by :meth:`state`."""
        if state.get("version") != _STATE_VERSION:
            raise UnsupportedFeature(f"sequence engine state version {state.get('version')!r} "
                                     f"is not supported (expected {_STATE_VERSION})")
        engine = cls(pattern, max_partial_matches=state.get("max_partial_matches",
                                                            MAX_PARTIAL_MATCHES))
        width = max(engine.compiled.n_regs, 1)
        engine.keys = {int(k): dict(v) for k, v in state["keys"]}
        engine.key_ord = np.array(state["key_ord"], dtype=np.int64).reshape(-1)
        engine.runs = np.array(state["runs"], dtype=np.int64).reshape(-1, 5)
        engine.regs = np.array([[float(x) for x in row] for row in state["regs"]],
                               dtype=np.float64).reshape(-1, width)
        engine.regn = np.array(state["regn"], dtype=np.uint8).reshape(-1, width)
        engine.comp = np.array(state["completed"], dtype=np.int64).reshape(-1, 6)
        nodes = np.array(state["nodes"], dtype=np.int64).reshape(-1, 4)
        engine.n_nodes = nodes.shape[0]
        engine.nodes = np.zeros((max(16, nodes.shape[0]), 4), dtype=np.int64)
        engine.nodes[: nodes.shape[0]] = nodes
        engine.table = None if state["table"] is None else frame_from_state(state["table"])
        engine.strings = _Strings(state["strings"])
        engine.string_cols = set(state["string_cols"])
        engine.max_ts = state["max_ts"]
        engine._timeouts.extend([_partial_in(pattern.name, d) for d in state["timed_out"]])
        return engine

    # --- internals ------------------------------------------------------------------------------
    def _run(self, frame: pl.DataFrame | None, order: npt.NDArray[np.int64] | None,
             ev_key: npt.NDArray[np.int64], ts: npt.NDArray[np.int64],
             ev_ref: npt.NDArray[np.int64], watermark_us: int,
             key_of: Callable[[int], dict[str, Any]]) -> tuple[Any, Any]:
        """Run the kernel over sorted events, then advance time to ``watermark_us``.

        Raises:
            MatchRuntimeError: a key would hold more than ``max_partial_matches`` open runs.
        """
        c = self.compiled
        if frame is not None:
            cond, remap, string_cols = c.evaluate(frame, order, self.strings)
            self.string_cols |= string_cols
            if remap is not None:
                self._remap_strings(remap)
        else:
            cond = self._idle_cond()
        if ev_key.shape[0]:
            latest = int(ts.max())
            self.max_ts = latest if self.max_ts is None else max(self.max_ts, latest)
        cfg = (c.within_us, c.skip_mode, c.skip_step, int(watermark_us), 1)
        caps = self._size_buffers(ev_key.shape[0])
        while True:
            out = K.run_chunk(c.nfa, cond, cfg, ev_key, ts, ev_ref, self.runs, self.regs,
                              self.regn, self.comp, self.nodes, self.n_nodes, self.key_ord,
                              tuple(caps))
            status = int(out[0])
            if status == K.OK:
                break
            if status == K.FULL_NODES:
                self._grow_nodes(2 * self.nodes.shape[0])
            elif status == K.FULL_RUNS:
                # The kernel counts one key's open runs against this capacity as it goes, so
                # the limit costs nothing per event and a blow-up stops early.
                if caps[0] >= self.max_partial_matches:
                    raise self._limit_error(out[-1], ev_key, key_of)
                caps[0] = min(2 * caps[0], self.max_partial_matches)
            else:
                slot = {K.FULL_Q: 1, K.FULL_EMITTED: 2, K.FULL_TIMED_OUT: 3,
                        K.FULL_OUT_RUNS: 4, K.FULL_OUT_COMP: 5}[status]
                caps[slot] *= 2
        _, self.runs, self.regs, self.regn, self.comp, self.n_nodes, em, to, self.key_ord = out
        return em, to

    def _limit_error(self, ords: npt.NDArray[np.int64], ev_key: npt.NDArray[np.int64],
                     key_of: Callable[[int], dict[str, Any]]) -> MatchRuntimeError:
        """The error for a key whose open runs went past ``max_partial_matches``.

        The kernel stopped inside that key: keys are processed in order and each one's next
        ordinal (``ords``) is stored when it is done, so it is the first key of the chunk with
        events whose ordinal did not move.
        """
        keys = np.unique(ev_key)
        before = np.zeros(keys.shape[0], dtype=np.int64)
        known = keys < self.key_ord.shape[0]
        before[known] = self.key_ord[keys[known]]
        stuck = keys[ords[keys] == before]
        if stuck.shape[0]:
            values = key_of(int(stuck[0]))
            where = (f"key {', '.join(f'{k}={v!r}' for k, v in values.items())}" if values
                     else "the whole stream (no partition_by)")
        else:
            where = "one key"
        limit = self.max_partial_matches
        return MatchRuntimeError(
            f"sequence pattern {self.pattern.name!r}: more than {limit:,} partial matches are "
            f"open at once for {where} (the limit, max_partial_matches={limit}). They grow "
            "without bound when a step branches on every matching event (followedByAny, "
            "contiguity 'any', or allowCombinations) and no window ends them. Add a `within`, "
            "or use followedBy / next instead of followedByAny (contiguity 'relaxed' / "
            "'strict'), or a narrower `where`."
        )

    def _size_buffers(self, n: int) -> list[int]:
        """Kernel buffer capacities for ``n`` events (enlarged on demand when they fall short)."""
        caps = self._caps
        caps[0] = min(caps[0], self.max_partial_matches)  # it doubles up to the limit
        caps[2] = max(caps[2], n // 2 + 256)
        caps[3] = max(caps[3], n // 4 + 256)
        caps[4] = max(caps[4], self.runs.shape[0] + n // 16 + 1024)
        caps[5] = max(caps[5], self.comp.shape[0] + 256)
        need = self.n_nodes + n + 1024
        if self.nodes.shape[0] < need:
            self._grow_nodes(need)
        return caps

    def _grow_nodes(self, size: int) -> None:
        grown = np.empty((size, 4), dtype=np.int64)
        grown[: self.n_nodes] = self.nodes[: self.n_nodes]
        self.nodes = grown

    def _idle_cond(self) -> Any:
        if self._idle is None:
            c = self.compiled
            n_cols = max(len(c.cc.derived), 1)
            self._idle = (
                np.array(c.atom_kind or [0], dtype=np.int64),
                np.array(c.atom_arg or [0], dtype=np.int64),
                np.zeros((1, max(len(c.static_exprs), 1)), dtype=np.uint8),
                np.array(c.cc.starts, dtype=np.int64),
                *(np.ascontiguousarray(c.code[:, k]) for k in range(5)),
                np.zeros(max(len(c.cc.consts), 1), dtype=np.float64),
                np.ones(max(len(c.cc.consts), 1), dtype=np.bool_),
                np.zeros((1, n_cols), dtype=np.float64), np.ones((1, n_cols), dtype=np.bool_),
                c.upd_start, *(np.ascontiguousarray(c.upd[:, k]) for k in range(5)),
                c.n_regs, np.array(c.atom_guard or [-1], dtype=np.int64),
            )
        return self._idle

    def _remap_strings(self, remap: npt.NDArray[np.float64]) -> None:
        regs = [r for r, col in enumerate(self.compiled.reg_col) if col in self.string_cols]
        for r in regs:
            live = self.regn[:, r] == 0
            values = self.regs[live, r].astype(np.int64)
            self.regs[live, r] = remap[values]

    def _record_timeouts(self, to: Any, table: pl.DataFrame,
                         key_of: Callable[[int], dict[str, Any]]) -> None:
        if to.shape[0]:
            pairs = np.ascontiguousarray(to[:, :2])
            self._timeouts.add(to.shape[0], self._partials(pairs, table, key_of, "window expired"))

    @property
    def pending(self) -> list[PartialMatch]:
        """Runs of a trailing ``not_followed_by`` still waiting for their window to close.

        Reason ``"pending"``, ``ended`` = the deadline (start + within); they become matches
        only when event time (``on_time`` / ``finish(now)``) passes it.
        """
        return list(self._pending_parts(self.table, self.keys.__getitem__))

    def _pending_parts(self, table: pl.DataFrame | None,
                       key_of: Callable[[int], dict[str, Any]]) -> _Lazy:
        out = _Lazy()
        if table is None or self.runs.shape[0] == 0:
            return out
        kinds = self.compiled.state_kind
        waiting = self.runs[kinds[self.runs[:, 1]] == K.PENDING]
        if waiting.shape[0]:
            pairs = np.ascontiguousarray(waiting[:, [0, 2]])
            out.add(waiting.shape[0], self._partials(pairs, table, key_of, "pending"))
        return out

    def _partials(self, pairs: Any, table: pl.DataFrame, key_of: Callable[[int], dict[str, Any]],
                  reason: str) -> Callable[[], list[PartialMatch]]:
        """A builder of PartialMatch objects for chains (key, tip node), ending at start+within."""
        chains = _chains(self.nodes, pairs)
        picked = table[pl.Series(chains.rows)]
        ids = picked.get_column("id")
        times = picked.get_column("time")
        name = self.pattern.name
        names = self.compiled.names
        within = timedelta(microseconds=max(self.compiled.within_us, 0))

        def build() -> list[PartialMatch]:
            with _no_gc():
                id_list = ids.to_list()
                time_list = times.to_list()
                steps = np.array(names, dtype=object)[chains.steps].tolist()
                offsets = chains.offsets.tolist()
                out = []
                for m, key in enumerate(chains.keys.tolist()):
                    a, b = offsets[m], offsets[m + 1]
                    started = time_list[a]
                    out.append(PartialMatch(
                        pattern=name, key=key_of(key), step_reached=steps[b - 1],
                        event_ids=id_list[a:b], classifiers=steps[a:b], started=started,
                        ended=_plus(started, within), reason=reason,
                    ))
            return out

        return build

    def _collect(self, force: bool = False) -> None:
        """Drop nodes and events no open run or held-back match refers to."""
        if self.table is None:
            return
        if not force and max(self.n_nodes, self.table.height) < self._collect_at:
            return
        roots = np.concatenate([self.runs[:, 2], self.comp[:, 1]]).astype(np.int64)
        nodes, remap = K.compact_nodes(self.nodes, self.n_nodes, roots)
        if self.runs.shape[0]:
            self.runs[:, 2] = np.where(self.runs[:, 2] >= 0, remap[self.runs[:, 2]], -1)
        if self.comp.shape[0]:
            self.comp[:, 1] = remap[self.comp[:, 1]]
        refs = np.unique(nodes[:, 2])
        nodes[:, 2] = np.searchsorted(refs, nodes[:, 2])
        self.table = self.table[pl.Series(refs)]
        self.n_nodes = nodes.shape[0]
        self.nodes = np.zeros((max(16, 2 * self.n_nodes), 4), dtype=np.int64)
        self.nodes[: self.n_nodes] = nodes
        # Amortised: collect again once the pool has grown well past what is live now.
        self._collect_at = 2 * max(self.n_nodes, self.table.height) + 8192


@dataclass
class _CompiledCache:
    items: dict[str, _Compiled] = field(default_factory=dict)


_CACHE = _CompiledCache()


def _compiled(pattern: SequencePattern) -> _Compiled:
    key = pattern.model_dump_json()
    found = _CACHE.items.get(key)
    if found is None:
        found = _Compiled(pattern)
        if len(_CACHE.items) > 64:
            _CACHE.items.clear()
        _CACHE.items[key] = found
    return found


def _checked_limit(max_partial_matches: int) -> int:
    if max_partial_matches < 1:
        raise ValueError(f"max_partial_matches must be at least 1, not {max_partial_matches}")
    return max_partial_matches


def _epoch_us(column: pl.Series) -> npt.NDArray[np.int64]:
    if column.dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    return column.dt.epoch("us").to_numpy().astype(np.int64)


def _plus(value: Any, delta: timedelta) -> Any:
    return value + delta if isinstance(value, datetime) else value


def _float_out(x: float) -> float | str:
    return x if np.isfinite(x) else str(x)


def _jsonable_id(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _partial_out(p: PartialMatch) -> dict[str, Any]:
    return {
        "key": p.key, "step": p.step_reached, "ids": [_jsonable_id(i) for i in p.event_ids],
        "steps": list(p.classifiers),
        "started": None if p.started is None else p.started.isoformat(),
        "ended": None if p.ended is None else p.ended.isoformat(), "reason": p.reason,
    }


def _partial_in(name: str, d: dict[str, Any]) -> PartialMatch:
    return PartialMatch(
        pattern=name, key=dict(d["key"]), step_reached=d["step"], event_ids=list(d["ids"]),
        classifiers=list(d["steps"]),
        started=None if d["started"] is None else datetime.fromisoformat(d["started"]),
        ended=None if d["ended"] is None else datetime.fromisoformat(d["ended"]),
        reason=d["reason"],
    )


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many result objects.

    Building a hundred thousand Match objects otherwise triggers repeated collections that
    scan everything already built (3-5x slower); none of these objects form cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_matches(name: str, chains: _Chains, table: pl.DataFrame,
                   key_of: Callable[[int], dict[str, Any]], names: list[str]) -> list[Match]:
    if not len(chains):
        return []
    picked = table[pl.Series(chains.rows)]
    with _no_gc():
        ids = picked.get_column("id").to_list()
        times = picked.get_column("time").to_list()
        labels = np.array(names, dtype=object)[chains.steps].tolist()
        offsets = chains.offsets.tolist()
        keys: dict[int, dict[str, Any]] = {}
        out = []
        for m, k in enumerate(chains.keys.tolist()):
            a = offsets[m]
            b = offsets[m + 1]
            key = keys.get(k)
            if key is None:
                key = keys[k] = key_of(k)
            out.append(Match(name, key, times[a], times[b - 1], ids[a:b], labels[a:b], {}, None))
    return out


def find_sequence_matches(pattern: SequencePattern, events: pl.DataFrame, *,
                          max_partial_matches: int = MAX_PARTIAL_MATCHES) -> MatchResult:
    """Find the matches of a ``sequence`` pattern (Flink CEP semantics, SEMANTICS.md §2).

    Equals feeding every event to a :class:`SequenceEngine` and calling ``finish(None)``;
    ``timed_out`` lists the partial matches the window killed, ``pending`` the trailing
    ``not_followed_by`` runs whose window is still open at the last event time. Matches and
    partial matches are built when first read.

    Args:
        pattern: the pattern.
        events: the events (time column parsed).
        max_partial_matches: open runs one key may hold while an event is processed.

    Raises:
        EventDataError: a field the pattern uses is missing, or a condition cannot be evaluated.
        MatchRuntimeError: a key would hold more than ``max_partial_matches`` open runs.
    """
    started = time.perf_counter()
    engine = SequenceEngine(pattern, max_partial_matches=max_partial_matches)
    compiled = engine.compiled
    check_fields(events, compiled.used)
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    n = prepared.height
    ev_key = prepared.part_numbers() if n else np.zeros(0, dtype=np.int64)
    watermark = int(prepared.ts_us.max()) if n else 0
    keys: dict[int, dict[str, Any]] = {}

    def key_of(part: int) -> dict[str, Any]:
        if part not in keys:
            keys[part] = prepared.key_of(part)
        return keys[part]

    em, to = engine._run(events, prepared.order, ev_key, prepared.ts_us, prepared.order, watermark,
                         key_of)
    id_expr = (pl.col(prepared.id_column) if prepared.id_column is not None
               else pl.int_range(pl.len(), dtype=pl.Int64))
    table = events.select(id_expr.alias("id"), pl.col(pattern.order_by).alias("time"))
    chains = _chains(engine.nodes, em)
    matches = _Lazy()
    matches.add(len(chains),
                lambda: _build_matches(pattern.name, chains, table, key_of, compiled.names))
    engine._record_timeouts(to, table, key_of)
    pending = engine._pending_parts(table, key_of)
    stats = {
        "events": events.height,
        "matches": len(chains),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "path": "iterative" if compiled.dynamic else "vectorised",
    }
    return MatchResult(matches=matches, stats=stats, timed_out=engine._timeouts, pending=pending)
