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
from cep.matcher.syntax import parse_row_pattern, pattern_variables
from cep.model import MatchRecognizePattern
from cep.results import Match, MatchResult

__all__ = ["find_recognize_matches"]


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


def find_recognize_matches(pattern: MatchRecognizePattern, events: pl.DataFrame) -> MatchResult:
    """Find the matches of a ``match_recognize`` pattern (SEMANTICS.md §1).

    Raises:
        MatchRuntimeError: AFTER MATCH SKIP lands on the match's first row or on a variable
            absent from the match.
    """
    started = time.perf_counter()
    tree = parse_row_pattern(pattern.pattern)
    variables = pattern_variables(tree)
    var_index = {v: i for i, v in enumerate(variables)}
    subsets = {name.upper(): list(members) for name, members in pattern.subset.items()}
    defines = _parse_defines(pattern, variables)
    used = {col: f"DEFINE {var}" for var, e in defines.items() for col in E.referenced_columns(e)}
    check_fields(events, used)
    prepared = prepare_events(events, pattern.partition_by, pattern.order_by, pattern.id_field)
    program = compile_pattern(tree, var_index)
    try:
        conditions = compile_conditions(
            prepared, variables, defines, subsets, partitioned=bool(pattern.partition_by)
        )
    except pl.exceptions.PolarsError as error:
        detail = str(error).strip().splitlines()[0]
        raise EventDataError(
            f"DEFINE of pattern {pattern.name!r} cannot be evaluated on these events: {detail} "
            "(check that compared fields and values have the same type)"
        ) from None
    skip_mode, skip_mask = _skip(pattern.after_match_skip, var_index, subsets)
    within_us = -1 if pattern.within is None else round(pattern.within.seconds * 1e6)
    c = conditions
    m_start, m_end, m_number, m_offset, labels, excluded, _, status, at = vm.run_program(
        program.ops, program.op_a, program.op_b, program.n_regs,
        prepared.part_start, prepared.part_end, prepared.ts_us, within_us,
        c.cond, c.var_prog, c.code_start, c.code_op, c.code_a, c.code_b, c.consts, c.consts_null,
        c.cols, c.cols_null, c.sel_kind, c.sel_mask, c.sel_logical, c.sel_physical,
        c.agg_func, c.agg_mask, skip_mode, skip_mask,
    )
    if status != vm.OK:
        raise _runtime_error(status, int(at), pattern, prepared)
    omit_empty = pattern.rows_per_match == "ALL" and pattern.rows_per_match_option == "OMIT EMPTY MATCHES"
    keep = np.ones(len(m_start), dtype=bool)
    if omit_empty:
        keep = m_end > m_start
    elapsed_ms = (time.perf_counter() - started) * 1000
    unmatched = None
    if pattern.rows_per_match_option == "WITH UNMATCHED ROWS":
        unmatched = _unmatched_ids(prepared, m_start, m_end)
    builder = _Builder(pattern, prepared, variables, subsets, m_start, m_end, m_number, m_offset,
                       labels, excluded, keep)
    count = int(keep.sum())
    stats = {
        "events": events.height,
        "matches": count,
        "elapsed_ms": round(elapsed_ms, 3),
        "path": "path-dependent" if c.dynamic_variables else "vectorised",
    }
    return MatchResult(matches=_Matches(builder.build, count), unmatched_event_ids=unmatched, stats=stats)


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


def _unmatched_ids(prepared: Prepared, m_start: npt.NDArray[np.int64], m_end: npt.NDArray[np.int64]) -> list[Any]:
    n = prepared.height
    covered = np.zeros(n + 1, dtype=np.int64)
    np.add.at(covered, m_start, 1)
    np.add.at(covered, m_end, -1)
    inside = np.cumsum(covered)[:n] > 0
    empty_starts = m_start[m_end == m_start]
    inside[empty_starts] = True
    ids = prepared.ids()
    return [v.item() if hasattr(v, "item") else v for v in ids[~inside]]


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
        m_start, m_end, m_number, m_offset, labels, excluded, keep = self.arrays
        prepared = self.prepared
        ids = prepared.ids().tolist()
        times = prepared.times()
        part_of = np.searchsorted(prepared.part_end, m_start, side="right")
        all_rows = self.pattern.rows_per_match == "ALL"
        rows_cache: dict[int, list[dict[str, Any]]] = {}
        keys: dict[int, dict[str, Any]] = {}
        out: list[Match] = []
        for i in np.flatnonzero(keep):
            start, end = int(m_start[i]), int(m_end[i])
            part = int(part_of[i])
            if part not in keys:
                keys[part] = prepared.key_of(part)
            names = [self.variables[x] for x in labels[m_offset[i]: m_offset[i + 1]]]
            shown = list(range(start, end))
            if all_rows:
                flags = excluded[m_offset[i]: m_offset[i + 1]]
                shown = [r for r, flag in zip(range(start, end), flags, strict=True) if not flag]
            measures: dict[str, Any] = {}
            row_measures = None
            if self.measures or all_rows:
                measures, row_measures = self._measures(part, start, end, names, int(m_number[i]),
                                                        shown, rows_cache, all_rows)
            out.append(Match(
                pattern=self.pattern.name,
                key=keys[part],
                start=times[start],
                end=times[max(end - 1, start)],
                event_ids=[ids[r] for r in shown],
                classifiers=[names[r - start] for r in shown],
                measures=measures,
                match_number=int(m_number[i]),
                empty_at=ids[start] if end == start else None,
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
