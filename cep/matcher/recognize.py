"""Run a ``match_recognize`` pattern: SQL:2016 row pattern recognition over sorted partitions.

Which path a pattern takes (reported as ``stats["path"]``):

* ``vectorised`` — every DEFINE reads only the current row and its physical neighbours
  (``PREV``/``NEXT``): conditions are one Polars pass, the compiled VM only walks the pattern.
* ``path-dependent`` — some DEFINE reads other rows of the match (``A.price``, ``FIRST``,
  ``LAST``, aggregates, ``CLASSIFIER()``, ``MATCH_NUMBER()``): those conditions run as bytecode
  inside the VM against the labels of the path under test; their per-row operands are still
  computed by Polars.

MEASURES are evaluated per match when results are read, not during matching.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.errors import EventDataError, MatchRuntimeError, PatternError
from cep.events import check_fields
from cep.matcher import vm
from cep.matcher.conditions import DEFINE_FEATURES, compile_conditions, resolve_variable
from cep.matcher.frame import Prepared, prepare_events
from cep.matcher.measures import MatchContext
from cep.matcher.program import compile_pattern
from cep.matcher.stream import KEY_COL, SEQ_COL, Chunk, frame_from_state, frame_to_state
from cep.matcher.syntax import parse_row_pattern, pattern_variables
from cep.model import MatchRecognizePattern
from cep.results import Match, MatchResult

__all__ = ["RecognizeEngine", "find_recognize_matches"]


class _Matches(Sequence[Match]):
    """Matches built on first access from the VM's compact arrays."""

    def __init__(self, build: Any, count: int) -> None:
        self._build = build
        self._count = count
        self._items: list[Match] | None = None

    def _all(self) -> list[Match]:
        if self._items is None:
            self._items = self._build()
        return self._items

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Match: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Match]: ...
    def __getitem__(self, index: int | slice) -> Match | Sequence[Match]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Match]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._count} matches>"


def _parse_defines(pattern: MatchRecognizePattern, variables: list[str]) -> dict[str, E.Expr]:
    known = variables + [s.upper() for s in pattern.subset]
    parsed = {}
    for name, text in pattern.define.items():
        var = resolve_variable(name, dict.fromkeys(variables))
        if var is None:
            raise PatternError(f"DEFINE {name}: {name!r} is not a variable of PATTERN {pattern.pattern!r}")
        parsed[var] = E.parse_condition(
            text, features=DEFINE_FEATURES, variables=known, case_insensitive_vars=True
        )
    return parsed


def _nav_reach(exprs: Sequence[E.Expr], func: str) -> int:
    """An upper bound on how far PREV (or NEXT) reaches from a row."""
    return max((sum(n.offset for n in E.walk(e) if isinstance(n, E.Nav) and n.func == func)
                for e in exprs), default=0)


class _Compiled:
    """Everything about a pattern that does not depend on the events."""

    def __init__(self, pattern: MatchRecognizePattern) -> None:
        self.pattern = pattern
        self.tree = parse_row_pattern(pattern.pattern)
        self.variables = pattern_variables(self.tree)
        self.var_index = {v: i for i, v in enumerate(self.variables)}
        self.subsets = {name.upper(): list(members) for name, members in pattern.subset.items()}
        self.defines = _parse_defines(pattern, self.variables)
        self.used = {col: f"DEFINE {var}" for var, e in self.defines.items()
                     for col in E.referenced_columns(e)}
        self.program = compile_pattern(self.tree, self.var_index)
        self.skip_mode, self.skip_mask = _skip(pattern.after_match_skip, self.var_index, self.subsets)
        self.within_us = -1 if pattern.within is None else round(pattern.within.seconds * 1e6)
        measures = [E.parse_expression(t, features=DEFINE_FEATURES) for t in pattern.measures.values()]
        self.history = _nav_reach([*self.defines.values(), *measures], "PREV")
        self.lookahead = _nav_reach([*self.defines.values(), *measures], "NEXT")

    def run(self, prepared: Prepared, state: Any, *, open_end: bool, watermark_us: int) -> Any:
        """Run the VM; ``state`` = (resume, numbers, covered, anchor) arrays, updated in place."""
        try:
            c = compile_conditions(prepared, self.variables, self.defines, self.subsets,
                                   partitioned=bool(self.pattern.partition_by))
        except pl.exceptions.PolarsError as error:
            detail = str(error).strip().splitlines()[0]
            raise EventDataError(
                f"DEFINE of pattern {self.pattern.name!r} cannot be evaluated on these events: "
                f"{detail} (check that compared fields and values have the same type)"
            ) from None
        p = self.program
        saved = [a.copy() for a in state]
        stack_cap, output_cap = 1024, max(prepared.height, 1024)
        while True:
            out = vm.run_program(  # type: ignore[call-arg]  # numba's Dispatcher stub
                p.ops, p.op_a, p.op_b, p.n_regs,
                prepared.part_start, prepared.part_end, prepared.ts_us, self.within_us,
                c.cond, c.var_prog, c.code_start, c.code_op, c.code_a, c.code_b, c.consts,
                c.consts_null, c.cols, c.cols_null, c.sel_kind, c.sel_mask, c.sel_logical,
                c.sel_physical, c.agg_func, c.agg_mask, self.skip_mode, self.skip_mask,
                *state, open_end, self.lookahead, watermark_us, stack_cap, output_cap,
            )
            if out[7] not in (vm.ERR_STACK_FULL, vm.ERR_OUTPUT_FULL):
                break
            # Rare: a buffer was too small. Start again from the same state with more room.
            for array, copy in zip(state, saved, strict=True):
                array[:] = copy
            if out[7] == vm.ERR_STACK_FULL:
                stack_cap *= 8
            else:
                output_cap *= 4
        if out[7] != vm.OK:
            raise _runtime_error(out[7], int(out[8]), self.pattern, prepared)
        return out, bool(c.dynamic_variables)

    def builder(self, prepared: Prepared, out: Any) -> _Builder:
        m_start, m_end, m_number, m_offset, labels, excluded = out[:6]
        keep = np.ones(len(m_start), dtype=bool)
        if self.pattern.rows_per_match == "ALL" and self.pattern.rows_per_match_option == "OMIT EMPTY MATCHES":
            keep = m_end > m_start
        return _Builder(self.pattern, prepared, self.variables, self.subsets, m_start, m_end,
                        m_number, m_offset, labels, excluded, keep)


def _fresh_state(prepared: Prepared) -> tuple[Any, Any, Any, Any]:
    starts = prepared.part_start
    return starts.copy(), np.ones(len(starts), dtype=np.int64), starts.copy(), starts.copy()


def find_recognize_matches(pattern: MatchRecognizePattern, events: pl.DataFrame) -> MatchResult:
    """Find the matches of a ``match_recognize`` pattern (SEMANTICS.md §1).

    Raises:
        MatchRuntimeError: AFTER MATCH SKIP lands on the match's first row or on a variable
            absent from the match.
    """
    started = time.perf_counter()
    compiled = _Compiled(pattern)
    check_fields(events, compiled.used)
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    out, dynamic = compiled.run(prepared, _fresh_state(prepared), open_end=False, watermark_us=0)
    builder = compiled.builder(prepared, out)
    unmatched = None
    if pattern.rows_per_match_option == "WITH UNMATCHED ROWS":
        unmatched = _ids_list(prepared.ids()[out[6].astype(bool)])
    count = int(builder.arrays[-1].sum())
    stats = {
        "events": events.height,
        "matches": count,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "path": "path-dependent" if dynamic else "vectorised",
    }
    return MatchResult(matches=_Matches(builder.build, count), unmatched_event_ids=unmatched, stats=stats)


def _ids_list(ids: npt.NDArray[Any]) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in ids]


def _skip(text: str, var_index: dict[str, int], subsets: dict[str, list[str]]) -> tuple[int, int]:
    if text == "PAST LAST ROW":
        return vm.SKIP_PAST_LAST, 0
    if text == "TO NEXT ROW":
        return vm.SKIP_NEXT_ROW, 0
    mode, _, name = text.partition(" ")[2].partition(" ")
    target = name.strip()
    members = subsets.get(target.upper()) if target.upper() in subsets else [target]
    mask = 0
    for member in members or []:
        var = resolve_variable(member, var_index)
        if var is not None:
            mask |= 1 << var_index[var]
    return (vm.SKIP_TO_FIRST if mode == "FIRST" else vm.SKIP_TO_LAST), mask


def _runtime_error(status: int, row: int, pattern: MatchRecognizePattern, prepared: Prepared) -> MatchRuntimeError:
    event = prepared.event_id(row)
    where = f"in the match starting at event {event!r}"
    if status == vm.ERR_SKIP_FIRST_ROW:
        return MatchRuntimeError(
            f"AFTER MATCH SKIP {pattern.after_match_skip}: cannot skip to first row of match "
            f"({where}); skip to a later variable or use PAST LAST ROW"
        )
    if status == vm.ERR_SKIP_MISSING:
        return MatchRuntimeError(
            f"AFTER MATCH SKIP {pattern.after_match_skip}: pattern variable is not present in match "
            f"({where}); use a SUBSET union that is always present"
        )
    return MatchRuntimeError(
        f"pattern {pattern.pattern!r} needs more than {vm.STEP_BUDGET:,} backtracking steps "
        f"{where}; simplify nested quantifiers or add WITHIN"
    )


def _ranges(starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The concatenation of ``range(s, e)`` for each pair, without a Python loop.

    >>> _ranges(np.array([2, 7]), np.array([4, 10])).tolist()
    [2, 3, 7, 8, 9]
    """
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    result: npt.NDArray[np.int64] = shift + np.arange(total, dtype=np.int64)
    return result


class _Builder:
    """Turns the VM's arrays into Match objects (with MEASURES) on demand."""

    def __init__(self, pattern: MatchRecognizePattern, prepared: Prepared, variables: list[str],
                 subsets: dict[str, list[str]], m_start: Any, m_end: Any, m_number: Any,
                 m_offset: Any, labels: Any, excluded: Any, keep: Any) -> None:
        self.pattern = pattern
        self.prepared = prepared
        self.variables = variables
        self.members: dict[str, frozenset[str]] = {v: frozenset([v]) for v in variables}
        for name, group in subsets.items():
            self.members[name] = frozenset(
                resolve_variable(m, self.members) or m for m in group
            )
        self.arrays = (m_start, m_end, m_number, m_offset, labels, excluded, keep)
        self.measures = {
            name: E.parse_expression(text, features=DEFINE_FEATURES,
                                     variables=list(self.members), case_insensitive_vars=True)
            for name, text in pattern.measures.items()
        }

    def build(self) -> list[Match]:
        gc_was_enabled = gc.isenabled()
        gc.disable()  # building many small objects: the collector would rescan them repeatedly
        try:
            return self._build()
        finally:
            if gc_was_enabled:
                gc.enable()

    def _build(self) -> list[Match]:
        m_start, m_end, m_number, m_offset, labels, excluded, keep = self.arrays
        prepared = self.prepared
        chosen = np.flatnonzero(keep)
        starts, ends = m_start[chosen], m_end[chosen]
        # Only the rows matches need: their ids, labels and the times of first and last rows.
        rows = _ranges(starts, ends)
        label_rows = _ranges(m_offset[chosen], m_offset[chosen + 1])
        all_ids = prepared.ids()
        row_ids = all_ids[rows].tolist()
        row_names = np.array(self.variables, dtype=object)[labels[label_rows]].tolist()
        row_excluded = excluded[label_rows].tolist()
        ts = prepared.events.get_column(prepared.order_by)
        first_rows = prepared.order[starts]
        last_rows = prepared.order[np.maximum(ends - 1, starts)]
        first_times = ts.gather(pl.Series(first_rows)).to_list() if len(chosen) else []
        last_times = ts.gather(pl.Series(last_rows)).to_list() if len(chosen) else []
        empty_ids = all_ids[starts].tolist()
        part_of = np.searchsorted(prepared.part_end, starts, side="right").tolist()
        numbers = m_number[chosen].tolist()
        all_rows = self.pattern.rows_per_match == "ALL"
        rows_cache: dict[int, list[dict[str, Any]]] = {}
        keys: dict[int, dict[str, Any]] = {}
        out: list[Match] = []
        at = 0
        for j, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            part = part_of[j]
            if part not in keys:
                keys[part] = prepared.key_of(part)
            length = end - start
            ids = row_ids[at: at + length]
            names = row_names[at: at + length]
            if all_rows:
                flags = row_excluded[at: at + length]
                shown = [start + k for k in range(length) if not flags[k]]
                event_ids = [ids[r - start] for r in shown]
                classifiers = [names[r - start] for r in shown]
            else:
                shown = list(range(start, end))
                event_ids, classifiers = ids, names
            at += length
            measures: dict[str, Any] = {}
            row_measures = None
            if self.measures or all_rows:
                measures, row_measures = self._measures(part, start, end, names, numbers[j],
                                                        shown, rows_cache, all_rows)
            out.append(Match(
                pattern=self.pattern.name,
                key=keys[part],
                start=first_times[j],
                end=last_times[j],
                event_ids=event_ids,
                classifiers=classifiers,
                measures=measures,
                match_number=numbers[j],
                empty_at=empty_ids[j] if length == 0 else None,
                row_measures=row_measures,
            ))
        return out

    def _measures(self, part: int, start: int, end: int, names: list[str], number: int,
                  shown: list[int], cache: dict[int, list[dict[str, Any]]], all_rows: bool
                  ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        if not self.measures:
            return {}, ([{} for _ in shown] if all_rows else None)
        p0 = int(self.prepared.part_start[part])
        if part not in cache:
            cache[part] = self.prepared.rows(p0, int(self.prepared.part_end[part]))
        ctx = MatchContext(cache[part], start - p0, names, number, self.members)
        last = end - 1 - p0 if end > start else None
        final = {name: ctx.evaluate(e, last) for name, e in self.measures.items()}
        if not all_rows:
            return final, None
        running = [{name: ctx.evaluate(e, r - p0) for name, e in self.measures.items()} for r in shown]
        return final, running


class RecognizeEngine:
    """Incremental ``match_recognize``: keeps, per key, the rows a pending search may still need.

    Each call runs the VM from every key's resume row over the held rows. A search whose answer
    could change with more rows (it reached the newest rows, or its WITHIN window is still open)
    stops its key there; everything before is decided and emitted. Rows before the resume row
    are dropped except the few that PREV can reach.
    """

    def __init__(self, pattern: MatchRecognizePattern) -> None:
        self.pattern = pattern
        self.compiled = _Compiled(pattern)
        self.buffer: pl.DataFrame | None = None
        # key number -> [rows dropped, resume row, next MATCH_NUMBER, covered-until row],
        # rows counted from the key's first event.
        self.progress: dict[int, list[int]] = {}
        self.id_column: str | None = None
        self.unmatched: list[Any] = []
        self.timed_out: list[Any] = []

    def process(self, chunk: Chunk) -> list[Match]:
        """Take final events and return the matches they decide."""
        if self.buffer is None:
            check_fields(chunk.frame, self.compiled.used)
        self.id_column = chunk.id_column
        frame = chunk.frame
        self.buffer = frame if self.buffer is None else pl.concat(
            [self.buffer, frame], how="diagonal_relaxed"
        ).sort(KEY_COL, maintain_order=True)
        return self._run(open_end=True, watermark_us=chunk.watermark_us)

    def on_time(self, watermark_us: int) -> list[Match]:
        """A later watermark can close WITHIN windows and so decide searches."""
        if self.buffer is None or self.compiled.within_us < 0:
            return []
        return self._run(open_end=True, watermark_us=watermark_us)

    def finish(self, now_us: int | None) -> list[Match]:
        """End of stream: decide every remaining search."""
        if self.buffer is None:
            return []
        return self._run(open_end=False, watermark_us=0)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "buffer": None if self.buffer is None else frame_to_state(self.buffer),
            "progress": {str(k): v for k, v in self.progress.items()},
            "id_column": self.id_column,
            "unmatched": self.unmatched,
        }

    @classmethod
    def from_state(cls, pattern: MatchRecognizePattern, state: dict[str, Any]) -> RecognizeEngine:
        """The engine saved by :meth:`state`."""
        engine = cls(pattern)
        engine.buffer = None if state["buffer"] is None else frame_from_state(state["buffer"])
        engine.progress = {int(k): list(v) for k, v in state["progress"].items()}
        engine.id_column = state["id_column"]
        engine.unmatched = list(state["unmatched"])
        return engine

    def _run(self, *, open_end: bool, watermark_us: int) -> list[Match]:
        buffer = self.buffer
        if buffer is None or buffer.height == 0:
            return []
        keys = buffer.get_column(KEY_COL).to_numpy()
        starts = np.flatnonzero(np.diff(keys, prepend=-1)).astype(np.int64)
        ends = np.append(starts[1:], buffer.height).astype(np.int64)
        ts = buffer.get_column(self.pattern.order_by).cast(pl.Datetime("us", "UTC")).dt.epoch("us")
        prepared = Prepared(
            events=buffer, order=np.arange(buffer.height, dtype=np.int64), part_start=starts,
            part_end=ends, ts_us=ts.to_numpy().astype(np.int64), id_column=self.id_column or SEQ_COL,
            partition_by=tuple(self.pattern.partition_by), order_by=self.pattern.order_by,
        )
        part_keys = [int(k) for k in keys[starts]]
        progress = [self.progress.setdefault(k, [0, 0, 1, 0]) for k in part_keys]
        resume = np.array([s + p[1] - p[0] for s, p in zip(starts, progress, strict=True)], dtype=np.int64)
        numbers = np.array([p[2] for p in progress], dtype=np.int64)
        covered = np.array([s + max(p[3] - p[0], 0) for s, p in zip(starts, progress, strict=True)],
                           dtype=np.int64)
        anchor = np.array([s if p[0] == 0 else -1 for s, p in zip(starts, progress, strict=True)],
                          dtype=np.int64)
        out, _ = self.compiled.run(prepared, (resume, numbers, covered, anchor),
                                   open_end=open_end, watermark_us=watermark_us)
        matches = list(self.compiled.builder(prepared, out).build())
        if self.pattern.rows_per_match_option == "WITH UNMATCHED ROWS":
            self.unmatched += _ids_list(prepared.ids()[out[6].astype(bool)])
        keep_from = np.empty(len(starts), dtype=np.int64)
        for i, p in enumerate(progress):
            local_resume = int(resume[i] - starts[i])
            p[1] = p[0] + local_resume
            p[2] = int(numbers[i])
            p[3] = p[0] + int(covered[i] - starts[i])
            keep_from[i] = max(local_resume - self.compiled.history, 0)
            p[0] += int(keep_from[i])
        local = np.arange(buffer.height, dtype=np.int64) - np.repeat(starts, ends - starts)
        keep = local >= np.repeat(keep_from, ends - starts)
        self.buffer = buffer.filter(pl.Series(keep))
        return matches
