"""Reference ``sequence`` matcher: Flink CEP's NFA (SEMANTICS.md §2), simulated event by event.

It is slow on purpose: plain Python over row dicts, one explicit object per partial match, no
precomputation. The fast engine (``cep.matcher.sequence``) must return exactly what
:func:`reference_find_sequence_matches` returns; ``tests/matcher/test_seq_property.py`` checks it.

The steps are compiled the way Flink's ``NFACompiler`` builds its automaton, described here in
our own words (no Flink code is copied). A *state* has edges ``take`` (consume the event and
move), ``ignore`` (skip the event and move) and ``proceed`` (an ε-move, tried on the same event),
each guarded by a condition. Compiling from the last step back to the first:

* A single step S waits in one state: ``take`` on S's condition, ``ignore`` per its contiguity
  to the previous step (``strict``: none; ``relaxed``: NOT S; ``any``: always). The first step
  never ignores (a match starts at the event that the first step takes; its contiguity is
  ignored). ``optional`` adds ``proceed`` to the next step, and the skipping is then done in a
  separate ignore-state, so that each ``proceed`` exists once.
* ``times {n, m}`` chains n mandatory states and m - n optional ones (each of the optional ones
  may ``proceed`` to the next step). ``times {n, null}`` chains n states, the n-th event moving
  the run into a *looping* state (``take`` back to itself, ``proceed`` to the next step).
  Between two events of the step the ``loop_contiguity`` applies (``strict``/consecutive: no
  ignore; ``relaxed``: ignore NOT S; ``any``/allowCombinations: ignore always), the step's own
  ``contiguity`` only before its first event.
* ``until U`` (loops only): the loop takes, and skips between its events, only events that
  fail U, so an event that satisfies U ends the loop; the next step may still take it (§2.3).
  Before the first event the step's own contiguity applies unchanged: an until event that
  satisfies S cannot be taken nor skipped, so the loop ends at 0 iterations (only an optional
  loop survives that), while one that fails S is skipped like any other event.
* ``greedy`` (Flink's own meaning, §1.10.1 / §2.3): every edge of the state after the loop is
  ANDed with NOT (loop condition), so the next step cannot take, skip or pass an event the loop
  accepts. A loop at the end has nothing after it, so every prefix is still emitted.
* ``not_next N``: a state that fails the run if the very next event satisfies N and otherwise
  passes that event on (to the next step, or, at the end, completes the match on it without
  taking it).
* ``not_followed_by N``: the states of the next positive step, and of a loop (or repeated step)
  right before N, fail the run on an event satisfying N, so N is forbidden until the next
  positive step takes an event, and a loop may not skip an N event (§2.2). Taking an event in
  an optional step lifts the NOTs before it (Flink's ``copyWithoutTransitiveNots``). At the end
  of the pattern (``within`` required), N is a *pending* state: the run fails on N, and becomes
  a match when its window expires.

Running (per key; Flink's ``NFA.process`` / ``advanceTime`` and ``CepOperator.onEventTime``)
    * Events are sorted by time, equal times in input order. Before the events of each distinct
      time ``t``, time advances to ``t``: a run with ``t - start >= within`` is removed (the bound
      is exclusive). A pending ``not_followed_by`` run becomes a match; any other run is recorded
      in ``MatchResult.timed_out`` with ``ended = start + within``, ``reason = "window expired"``
      and ``step_reached`` = the step of its last event. Every branch is reported (for example
      ``{a}`` alone under ``any``; two branches holding the same events are two records).
    * On an event, each run follows every edge whose condition holds (through ``proceed``
      chains): ``take`` extends a copy, ``ignore`` keeps a copy waiting. A run that reaches the
      end of the pattern is a completed match (on the event it takes, so optional parts and loop
      prefixes do not wait: §2.4). A run reaching a NOT failure drops every non-final successor
      of that run. Then a new run starts if the first step takes the event.
    * End of the batch: time advances once more to the time of the last event of the whole input
      (the final watermark of a stream; the same instant for every key), so windows that have not
      expired by then are neither timed out nor, for a trailing ``not_followed_by``, matches.
      Runs still open are then dropped unreported, and so are completed matches that a skip
      strategy was holding back for an earlier open run: the spec's "a completed match waits
      until no partial match that started earlier is still pending", as in Flink, where such a
      match is emitted only if the earlier run completes or expires.

Emission and AFTER MATCH SKIP (§2.4, §2.6)
    * Completed matches are taken in order of their start event; equal starts in lexicographic
      order of their event positions (the earliest event sequence first).
    * ``NO_SKIP``: all completed matches are emitted at once, in that order.
    * Any other strategy: a completed match waits while a run that started before it is open.
      Each emitted match M discards the open runs and waiting matches that started
      ``SKIP TO NEXT``: at or before M's first event; ``PAST LAST EVENT``: at or before M's last
      event; ``SKIP TO FIRST s`` / ``SKIP TO LAST s``: before the first / last event of M bound
      to step s. When M has no event for s nothing is discarded (Flink's default; not an
      error), and skipping to M's own first event discards nothing either.

Conditions (Flink iterative conditions over the run's accepted events)
    * ``where`` of step S is evaluated for the current event tentatively bound to S, with SQL
      running semantics (SEMANTICS.md §1.5, §2.1 "the SQL equivalent"): unqualified columns and
      ``S.col`` read the current event; ``T.col`` (T another step) reads the last event the run
      accepted for T (NULL if none); ``FIRST/LAST(S.x[, n])`` and ``SUM/AVG/MIN/MAX/COUNT`` over S
      see S's accepted events plus the current one, over T only T's accepted events; unqualified
      ``FIRST(x)``/``SUM(x)`` see all accepted events plus the current one. So Flink's docs
      example "sum of the prices taken so far + current price < 5" is ``SUM(middle.price) < 5``.
      (``SELF_SEES_CURRENT = False`` switches to Flink's literal ``getEventsForPattern``: only
      accepted events, for every step.)
    * ``until`` of S and the condition of a negated step are not tentative bindings: they see the
      accepted events only (so ``S.col`` there is S's last accepted event).
    * A condition that is NULL or FALSE does not hold; aggregates skip NULLs; COUNT of nothing
      is 0; the others give NULL over no values.

Output: one ``Match`` per match (keys in order of first appearance, then emission order):
``start``/``end`` = time of the first/last bound event, ``event_ids`` = the ``id_field`` values
(else the ``id`` column, else the 0-based input row), ``classifiers`` = the step of each event,
``measures = {}``, ``match_number = None``; ``timed_out`` in the same key order; ``stats`` with
``path = "reference"``.

>>> from cep.model import parse_pattern
>>> p = parse_pattern({"kind": "sequence", "name": "ab", "after_match_skip": "NO_SKIP",
...                    "steps": [{"name": "a", "where": "type = 'a'"},
...                              {"name": "b", "where": "type = 'b'", "contiguity": "any"}]})
>>> df = pl.DataFrame({"id": ["a", "c", "b1", "b2"], "ts": [0, 1, 2, 3],
...                    "type": ["a", "c", "b", "b"]})
>>> [m.event_ids for m in reference_find_sequence_matches(p, df).matches]
[['a', 'b1'], ['a', 'b2']]
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import polars as pl

from cep.results import Match, MatchResult, PartialMatch

__all__ = ["SELF_SEES_CURRENT", "ReferenceTooComplex", "reference_find_sequence_matches"]

#: A step's ``where`` sees the current event as one of its own (SQL running semantics).
SELF_SEES_CURRENT = True

#: Condition evaluations allowed in one run; beyond it the run gives up (allowCombinations).
MAX_STEPS = 2_000_000

TAKE, IGNORE, PROCEED = "take", "ignore", "proceed"
NORMAL, FINAL, STOP, PENDING = "normal", "final", "stop", "pending"


class ReferenceTooComplex(Exception):
    """The simulation needed more than its budget of condition evaluations."""


# ---------------------------------------------------------------------------------------------
# Conditions on edges


@dataclasses.dataclass(frozen=True)
class _True:
    def holds(self, ctx: _Context) -> bool:
        return True


@dataclasses.dataclass(frozen=True)
class _Where:
    """Step ``index``'s condition (``where``), as a take condition."""

    index: int

    def holds(self, ctx: _Context) -> bool:
        return ctx.where(self.index)


@dataclasses.dataclass(frozen=True)
class _Until:
    index: int

    def holds(self, ctx: _Context) -> bool:
        return ctx.until(self.index)


@dataclasses.dataclass(frozen=True)
class _Not:
    inner: Any

    def holds(self, ctx: _Context) -> bool:
        return not self.inner.holds(ctx)


@dataclasses.dataclass(frozen=True)
class _And:
    left: Any
    right: Any

    def holds(self, ctx: _Context) -> bool:
        return bool(self.left.holds(ctx) and self.right.holds(ctx))


# ---------------------------------------------------------------------------------------------
# The automaton


@dataclasses.dataclass(eq=False)
class _Edge:
    action: str
    target: _State
    cond: Any


@dataclasses.dataclass(eq=False)
class _State:
    name: str  # the step it belongs to ("$end" for the final state)
    kind: str = NORMAL
    is_start: bool = False
    edges: list[_Edge] = dataclasses.field(default_factory=list)

    def add(self, action: str, target: _State | None, cond: Any) -> None:
        self.edges.append(_Edge(action, self if target is None else target, cond))


class _Compiler:
    """Builds the states of a sequence pattern, last step first (see the module docstring)."""

    def __init__(self, steps: tuple[Any, ...], has_window: bool) -> None:
        self.steps = steps
        self.has_window = has_window
        self.stop_states: dict[int, _State] = {}
        self.loop_exit_copies: dict[int, _State] = {}
        self.following: int | None = None

    def compile(self) -> _State:
        sink = _State("$end", FINAL)
        for i in range(len(self.steps) - 1, 0, -1):
            step = self.steps[i]
            if step.negated == "not_followed_by":
                if self.has_window and sink.kind == FINAL:
                    pending = _State(step.name, PENDING)
                    pending.add(PROCEED, self.stop_state(i), _Where(i))
                    pending.add(IGNORE, None, _Not(_Where(i)))
                    sink = pending
                # otherwise it lives on as failure edges of the states around it
            elif step.negated == "not_next":
                state = _State(step.name)
                if sink.kind == FINAL:  # pass the event on without proceeding into the end
                    state.add(IGNORE, sink, _Not(_Where(i)))
                else:
                    state.add(PROCEED, sink, _Not(_Where(i)))
                state.add(PROCEED, self.stop_state(i), _Where(i))
                sink = state
            else:
                sink = self.convert(i, sink)
            self.following = i
        start = self.convert(0, sink)
        start.is_start = True
        return start

    # -- conditions ---------------------------------------------------------------------------
    def ignore_condition(self, i: int) -> Any:
        contiguity = "strict" if i == 0 else self.steps[i].contiguity
        return {"strict": None, "relaxed": _Not(_Where(i)), "any": _True()}[contiguity]

    def inner_ignore_condition(self, i: int) -> Any:
        return {"strict": None, "relaxed": _Not(_Where(i)), "any": _True()}[
            self.steps[i].loop_contiguity
        ]

    def with_until(self, i: int, cond: Any, is_take: bool) -> Any:
        if self.steps[i].until is None:
            return cond
        if cond is not None:
            return _And(_Not(_Until(i)), cond)
        return _Not(_Until(i)) if is_take else None

    # -- NOT handling -------------------------------------------------------------------------
    def nots_before(self, i: int) -> list[int]:
        """not_followed_by steps that still apply at step i (through optional steps)."""
        found = []
        j = i
        while j > 0 and (
            self.steps[j - 1].optional or self.steps[j - 1].negated == "not_followed_by"
        ):
            j -= 1
            if self.steps[j].negated == "not_followed_by":
                found.append(j)
        return found

    def stop_state(self, i: int) -> _State:
        if i not in self.stop_states:
            stop = _State(self.steps[i].name, STOP)
            stop.add(TAKE, None, _Where(i))
            self.stop_states[i] = stop
        return self.stop_states[i]

    def add_stops(self, i: int, state: _State) -> None:
        for j in self.nots_before(i):
            state.add(PROCEED, self.stop_state(j), _Where(j))

    def add_stop_to_loop(self, state: _State) -> None:
        f = self.following
        if f is not None and self.steps[f].negated == "not_followed_by":
            state.add(PROCEED, self.stop_state(f), _Where(f))

    def without_nots(self, i: int, sink: _State) -> _State:
        """A copy of ``sink`` without the failure edges of the NOTs before optional step i."""
        nots = self.nots_before(i)
        if not nots or not self.steps[i].optional:
            return sink
        lifted = {id(self.stop_states.get(j)) for j in nots}
        copy = _State(sink.name, sink.kind)
        for e in sink.edges:
            if e.action == PROCEED:
                if e.target.kind == STOP:
                    if id(e.target) in lifted:
                        continue
                    copy.add(PROCEED, e.target, e.cond)
                else:
                    copy.add(PROCEED, self.without_nots(i, e.target), e.cond)
            else:
                copy.add(e.action, copy if e.target is sink else e.target, e.cond)
        return copy

    # -- steps ----------------------------------------------------------------------------------
    def convert(self, i: int, sink: _State) -> _State:
        step = self.steps[i]
        if step.times.max is None:
            loop = self.looping(i, self.without_nots(i, sink))
            first = self.times(i, loop, sink, step.times.min, step.times.min)
        elif not step.times.is_single:
            first = self.times(i, sink, sink, step.times.min, step.times.max)
        else:
            first = self.single(i, sink, sink, _Where(i), self.ignore_condition(i), step.optional)
        self.add_stops(i, first)
        return first

    def times(self, i: int, sink: _State, proceed: _State, low: int, high: int) -> _State:
        step = self.steps[i]
        inner_ignore = self.with_until(i, self.inner_ignore_condition(i), is_take=False)
        take = self.with_until(i, _Where(i), is_take=True)
        if step.greedy and low != high:
            self.make_greedy(sink, take)
        last = sink
        for _ in range(low, high):
            last = self.single(i, last, proceed, take, inner_ignore, True)
            self.add_stop_to_loop(last)
        for _ in range(low - 1):
            last = self.single(i, last, None, take, inner_ignore, False)
            self.add_stop_to_loop(last)
        return self.single(i, last, proceed, take, self.ignore_condition(i), step.optional)

    def single(
        self,
        i: int,
        sink: _State,
        proceed: _State | None,
        take: Any,
        ignore: Any,
        optional: bool,
    ) -> _State:
        step = self.steps[i]
        state = _State(step.name)
        target = self.without_nots(i, sink)
        state.add(TAKE, target, take)
        if optional:
            assert proceed is not None
            if step.greedy and step.until is not None:
                exit_copy = self.loop_exit_copies.get(i, proceed)
                state.add(PROCEED, exit_copy, _Until(i))
                state.add(PROCEED, proceed, _Not(_Until(i)))
            else:
                state.add(PROCEED, proceed, _True())
        if ignore is not None:
            if optional:
                skipper = _State(step.name)
                skipper.add(TAKE, target, take)
                skipper.add(IGNORE, None, ignore)
                self.add_stops(i, skipper)
            else:
                skipper = state
            state.add(IGNORE, skipper, ignore)
        return state

    def looping(self, i: int, sink: _State) -> _State:
        step = self.steps[i]
        ignore = self.with_until(i, self.inner_ignore_condition(i), is_take=False)
        take = self.with_until(i, _Where(i), is_take=True)
        loop = _State(step.name)
        if step.greedy:
            if step.until is not None:
                # an until event leaves the loop into a copy of the next step without the
                # greedy guard (the loop did not accept that event)
                exit_copy = _State(sink.name, sink.kind)
                exit_copy.edges = [
                    _Edge(e.action, exit_copy if e.target is sink else e.target, e.cond)
                    for e in sink.edges
                ]
                loop.add(PROCEED, exit_copy, _Until(i))
                self.loop_exit_copies[i] = exit_copy
                loop.add(PROCEED, sink, _Not(_Until(i)))
            else:
                loop.add(PROCEED, sink, _True())
            self.make_greedy(sink, _Where(i))
        else:
            loop.add(PROCEED, sink, _True())
        loop.add(TAKE, None, take)
        self.add_stop_to_loop(loop)
        if ignore is not None:
            skipper = _State(step.name)
            skipper.add(TAKE, loop, take)
            skipper.add(IGNORE, None, ignore)
            loop.add(IGNORE, skipper, ignore)
            self.add_stop_to_loop(skipper)
        return loop

    @staticmethod
    def make_greedy(state: _State, take: Any) -> None:
        for e in state.edges:
            e.cond = _And(e.cond, _Not(take))


# ---------------------------------------------------------------------------------------------
# Expressions


def _qualifiers(node: Any) -> set[str]:
    from cep import expr as cx

    return {n.var for n in cx.walk(node) if isinstance(n, cx.Col) and n.var is not None}


@dataclasses.dataclass
class _Run:
    """A partial match (Flink's ComputationState with its path in the shared buffer)."""

    state: _State
    events: tuple[tuple[int, str], ...] = ()  # (position in the key, step name)

    @property
    def start(self) -> int | None:
        return self.events[0][0] if self.events else None

    def order(self) -> tuple[int, tuple[int, ...]]:
        return (self.events[0][0], tuple(p for p, _ in self.events))


class _Context:
    """What a condition sees: the run's accepted events and the current event."""

    def __init__(self, key: _Key, run: _Run, pos: int) -> None:
        self.key = key
        self.run = run
        self.pos = pos

    def charge(self) -> None:
        self.key.budget[0] -= 1
        if self.key.budget[0] < 0:
            raise ReferenceTooComplex("too many condition evaluations")

    def where(self, i: int) -> bool:
        step = self.key.steps[i]
        expr = self.key.where[i]
        if expr is None:
            return True
        self.charge()
        tentative = SELF_SEES_CURRENT and step.negated is None
        return self.evaluate(expr, step.name if tentative else None)

    def until(self, i: int) -> bool:
        self.charge()
        return self.evaluate(self.key.until[i], None)

    def evaluate(self, expr: Any, tentative: str | None) -> bool:
        from cep import expr as cx

        row = self.key.rows[self.pos]
        value = cx.eval_row(
            expr, row, resolve=lambda n: self.resolve(n, tentative), row_var=tentative
        )
        return value is True

    def positions(self, var: str | None, tentative: str | None) -> list[int]:
        taken = [p for p, s in self.run.events if var is None or s == var]
        if tentative is not None and (var is None or var == tentative):
            taken.append(self.pos)
        return taken

    def value_at(self, expr: Any, pos: int, var: str | None) -> Any:
        from cep import expr as cx

        return cx.eval_row(expr, self.key.rows[pos], row_var=var)

    def resolve(self, node: Any, tentative: str | None) -> Any:
        from cep import expr as cx

        if isinstance(node, cx.Col):
            rows = self.positions(node.var, tentative)
            return self.key.rows[rows[-1]].get(node.name) if rows else None
        if isinstance(node, cx.Nav) and node.func in ("FIRST", "LAST"):
            quals = _qualifiers(node.arg)
            if len(quals) > 1:
                raise NotImplementedError(f"{node.func} over several steps {sorted(quals)}")
            var = next(iter(quals), None)
            rows = self.positions(var, tentative)
            k = node.offset if node.func == "FIRST" else len(rows) - 1 - node.offset
            return self.value_at(node.arg, rows[k], var) if 0 <= k < len(rows) else None
        if isinstance(node, cx.Agg):
            var = node.var
            if var is None and node.arg is not None:
                quals = _qualifiers(node.arg)
                if len(quals) > 1:
                    raise NotImplementedError(f"{node.func} over several steps {sorted(quals)}")
                var = next(iter(quals), None)
            rows = self.positions(var, tentative)
            if node.arg is None:
                return len(rows)
            values = [v for v in (self.value_at(node.arg, r, var) for r in rows) if v is not None]
            if node.func == "COUNT":
                return len(values)
            if not values:
                return None
            if node.func == "SUM":
                return sum(values)
            if node.func == "AVG":
                return sum(values) / len(values)
            if node.func == "MIN":
                return min(values)
            if node.func == "MAX":
                return max(values)
        raise NotImplementedError(f"the reference cannot resolve {node!r} in a step condition")


# ---------------------------------------------------------------------------------------------
# Running one key


class _Key:
    def __init__(
        self,
        pattern: Any,
        start: _State,
        parsed: tuple[list[Any], list[Any]],
        rows: list[dict[str, Any]],
        times: list[Any],
        budget: list[int],
    ) -> None:
        self.steps = pattern.steps
        self.where, self.until = parsed
        self.rows = rows
        self.times = times
        self.budget = budget
        self.within = (
            None if pattern.within is None else timedelta(seconds=float(pattern.within.seconds))
        )
        self.skip = pattern.after_match_skip
        self.runs: list[_Run] = [_Run(start)]
        self.waiting: list[_Run] = []
        self.emitted: list[_Run] = []
        self.timed_out: list[_Run] = []

    # -- time ---------------------------------------------------------------------------------
    def advance_time(self, t: Any) -> None:
        if self.within is None:
            return
        kept, completed, expired = [], [], []
        for run in self.runs:
            start = run.start
            if start is not None and t - self.times[start] >= self.within:
                (completed if run.state.kind == PENDING else expired).append(run)
            else:
                kept.append(run)
        self.runs = kept
        self.timed_out.extend(sorted(expired, key=_Run.order))
        self.release(completed)

    # -- events -------------------------------------------------------------------------------
    def process(self, pos: int) -> None:
        kept: list[_Run] = []
        completed: list[_Run] = []
        for run in self.runs:
            retained: list[_Run] = []
            failed = False
            for nxt in self.successors(run, pos):
                if nxt.state.kind == FINAL:
                    completed.append(nxt)  # a completed match survives a NOT on the same event
                elif nxt.state.kind == STOP:
                    failed = True
                else:
                    retained.append(nxt)
            if not failed:
                kept.extend(retained)
        self.runs = kept
        self.release(completed)

    def edges(self, run: _Run, ctx: _Context) -> Iterator[tuple[_Edge, _State]]:
        """The take and ignore edges open to ``run`` on this event, through proceed chains."""
        stack = [run.state]
        while stack:
            state = stack.pop()
            for e in state.edges:
                if e.cond.holds(ctx):
                    if e.action == PROCEED:
                        stack.append(e.target)
                    else:
                        yield e, state

    def successors(self, run: _Run, pos: int) -> list[_Run]:
        ctx = _Context(self, run, pos)
        out: list[_Run] = []
        for edge, source in list(self.edges(run, ctx)):
            if edge.action == IGNORE:
                if not run.state.is_start:  # a match starts with an event
                    out.append(_Run(edge.target, run.events))
            else:
                taken = (*run.events, (pos, source.name))
                out.append(_Run(edge.target, taken))
                if self.reaches_end(edge.target, ctx):
                    out.append(_Run(_END, taken))
        if run.state.is_start:
            out.append(run)
        return out

    @staticmethod
    def reaches_end(state: _State, ctx: _Context) -> bool:
        stack = [state]
        while stack:
            s = stack.pop()
            for e in s.edges:
                if e.action == PROCEED and e.cond.holds(ctx):
                    if e.target.kind == FINAL:
                        return True
                    stack.append(e.target)
        return False

    # -- emission -----------------------------------------------------------------------------
    def pruning_bound(self, match: _Run) -> tuple[int, bool] | None:
        """(position, inclusive): runs that started before (or at) it are discarded."""
        positions = [p for p, _ in match.events]
        if self.skip == "SKIP TO NEXT":
            return positions[0], True
        if self.skip == "PAST LAST EVENT":
            return positions[-1], True
        if self.skip.startswith("SKIP TO "):
            _, _, which, step = self.skip.split(" ", 3)
            bound = [p for p, s in match.events if s == step]
            if not bound:
                return None  # the step is not in the match: nothing is discarded
            return (bound[0] if which == "FIRST" else bound[-1]), False
        return None

    def release(self, completed: list[_Run]) -> None:
        self.waiting.extend(completed)
        while self.waiting:
            match = min(self.waiting, key=_Run.order)
            if self.skip != "NO_SKIP":
                open_starts = [r.start for r in self.runs if r.start is not None]
                if open_starts and min(open_starts) < match.order()[0]:
                    break
            self.waiting.remove(match)
            bound = self.pruning_bound(match)
            if bound is not None:
                limit, inclusive = bound

                def pruned(run: _Run, limit: int = limit, inclusive: bool = inclusive) -> bool:
                    s = run.start
                    return s is not None and (s <= limit if inclusive else s < limit)

                self.runs = [r for r in self.runs if not pruned(r)]
                self.waiting = [r for r in self.waiting if not pruned(r)]
            self.emitted.append(match)

    def finish(self, last_time: Any) -> None:
        self.advance_time(last_time)
        # Open runs, and the matches held back for them, stay unreported (see the docstring).
        self.runs = []
        self.waiting = []


_END = _State("$end", FINAL)


# ---------------------------------------------------------------------------------------------
# Public entry point


def _parse(pattern: Any) -> tuple[list[Any], list[Any]]:
    from cep import expr as cx

    features = cx.Features(navigation=True, var_refs=True, aggregates=True)
    where = [None if s.where is None else cx.parse_condition(s.where, features=features)
             for s in pattern.steps]
    until = [None if s.until is None else cx.parse_condition(s.until, features=features)
             for s in pattern.steps]
    return where, until


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, value)


def reference_find_sequence_matches(
    pattern: Any, events: pl.DataFrame, *, max_steps: int = MAX_STEPS
) -> MatchResult:
    """Find the matches of a ``sequence`` pattern by simulating Flink's NFA.

    Args:
        pattern: a ``cep.model.SequencePattern``.
        events: the events, one row per event, in any order.
        max_steps: condition evaluations allowed before giving up.

    Raises:
        ReferenceTooComplex: the simulation would take too long (combinatorial runs).
    """
    began = time.perf_counter()
    parsed = _parse(pattern)
    start_state = _Compiler(tuple(pattern.steps), pattern.within is not None).compile()
    records = events.to_dicts()
    columns = list(events.columns)
    if pattern.id_field is not None:
        ids = [r.get(pattern.id_field) for r in records]
    elif "id" in columns:
        ids = [r.get("id") for r in records]
    else:
        ids = list(range(len(records)))
    time_col = pattern.order_by
    partition_by = list(pattern.partition_by)

    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(tuple(record.get(c) for c in partition_by), []).append(index)
    all_times = [r.get(time_col) for r in records if r.get(time_col) is not None]
    last_time = max(all_times) if all_times else None

    budget = [max_steps]
    matches: list[Match] = []
    timed_out: list[PartialMatch] = []
    for key_values, members in groups.items():
        order = sorted(members, key=lambda i: _sort_key(records[i].get(time_col)))
        rows = [records[i] for i in order]
        times = [r.get(time_col) for r in rows]
        run = _Key(pattern, start_state, parsed, rows, times, budget)
        pos = 0
        while pos < len(rows):
            t = times[pos]
            run.advance_time(t)
            while pos < len(rows) and times[pos] == t:
                run.process(pos)
                pos += 1
        if last_time is not None:
            run.finish(last_time)
        key = dict(zip(partition_by, key_values, strict=True))
        for m in run.emitted:
            positions = [p for p, _ in m.events]
            matches.append(
                Match(
                    pattern=pattern.name,
                    key=dict(key),
                    start=times[positions[0]],
                    end=times[positions[-1]],
                    event_ids=[ids[order[p]] for p in positions],
                    classifiers=[s for _, s in m.events],
                    measures={},
                    match_number=None,
                )
            )
        assert run.within is not None or not run.timed_out
        for r in run.timed_out:
            positions = [p for p, _ in r.events]
            started = times[positions[0]]
            timed_out.append(
                PartialMatch(
                    pattern=pattern.name,
                    key=dict(key),
                    step_reached=r.events[-1][1],
                    event_ids=[ids[order[p]] for p in positions],
                    classifiers=[s for _, s in r.events],
                    started=started,
                    ended=started + run.within if run.within is not None else None,
                    reason="window expired",
                )
            )

    return MatchResult(
        matches=matches,
        stats={
            "events": events.height,
            "matches": len(matches),
            "elapsed_ms": (time.perf_counter() - began) * 1000.0,
            "path": "reference",
        },
        timed_out=timed_out,
    )

