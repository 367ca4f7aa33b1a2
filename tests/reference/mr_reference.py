"""Reference MATCH_RECOGNIZE matcher: a direct backtracking reading of SEMANTICS.md §1.

It is slow on purpose (plain Python over row dicts, no memoisation, no precomputation) so that
each rule can be checked against the spec by reading the code. The fast matcher
(``cep.matcher.find_matches``) must return exactly what :func:`reference_find_matches` returns;
the property tests in ``tests/matcher/test_mr_property.py`` check that.

Rules (the fast matcher implements the same; where the spec is silent, the SQL-standard /
Trino answer is taken):

Rows and partitions
    * Rows are the events frame's rows as dicts. Partitions are the distinct values of
      ``partition_by`` in order of first appearance in the input (one partition without it).
    * Inside a partition rows are sorted stably by ``order_by``: equal times keep input order.
    * The id of a row is its ``id_field`` value, else its ``id`` column when the frame has one,
      else its 0-based position in the input frame.
    * Variable names are case-insensitive: DEFINE keys, SUBSET names, qualifiers (``a.price``)
      and the variable of ``AFTER MATCH SKIP TO`` are upper-cased unless they name a pattern
      variable exactly (a quoted name keeps its case).

Search (§1.2, §1.4)
    * At each start row the pattern tree is walked by a generator in continuation-passing
      style; the candidates come out in preference order, and the first one that also satisfies
      WITHIN is the match. Alternation tries items left to right; a greedy quantifier tries one
      more iteration before stopping, a reluctant one stops first; ``{n}?`` is ``{n}``;
      ``PERMUTE(a, b, c)`` is the alternation of the permutations in lexicographic order;
      ``^`` holds before the partition's first row, ``$`` after its last row.
    * Empty iterations: when an iteration of a quantified sub-pattern matched no rows, the loop
      ends right there (it is not iterated again, and its minimum counts as met).
    * WITHIN is exclusive: a non-empty candidate needs ``last_ts - first_ts < within``. A
      candidate that is too long is not a match and the search goes on in preference order.
      (Rows are time-sorted, so a path is also dropped as soon as its span reaches ``within``.)

DEFINE (§1.5), evaluated when a row is tentatively labelled V on the path under test
    * Unqualified ``col`` is the current row. ``W.col`` is the last row labelled W so far (the
      current row counts, with its tentative label); a SUBSET name stands for its members. No
      such row gives NULL.
    * ``PREV(e, n)`` / ``NEXT(e, n)`` move n rows within the partition from the row ``e``
      refers to (the current row, or the last row labelled W for ``W.col``); outside the
      partition they give NULL, but they may leave the match. ``PREV(LAST(A.x, 1), 2)`` does the
      logical step first. ``FIRST(e, n)`` / ``LAST(e, n)`` count among the rows of the partial
      match labelled W (all of its rows for an unqualified ``e``).
    * Aggregates run over the rows of the partial match labelled W (all rows when unqualified),
      the current row included when it is tested as W. SUM/AVG/MIN/MAX skip NULLs and give NULL
      over no values; COUNT gives 0; ``COUNT(*)``, ``COUNT(W.*)`` count rows.
    * ``CLASSIFIER()`` is the current row's label, ``CLASSIFIER(U)`` the label of the last row
      labelled with a member of U. A label is visible only for rows of the partial match: a
      label before the match start or past the current row (``NEXT(CLASSIFIER())``) is NULL.
    * ``MATCH_NUMBER()`` is the number the match would get. A NULL or FALSE condition fails; an
      undefined variable always holds.

The loop and AFTER MATCH SKIP (§1.2, §1.8)
    * No match at a row: the row is a candidate for "unmatched", go to the next row. An empty
      match: it takes the next MATCH_NUMBER and the search goes to the next row. A non-empty
      match: numbered, then PAST LAST ROW goes past its last row, TO NEXT ROW to its second row,
      TO FIRST/LAST V to the first/last row labelled V (or a member of union V).
    * Errors (``MatchRuntimeError``): the SKIP target is the match's first row ("AFTER MATCH SKIP
      TO ... failed: cannot skip to first row of match"), or no row of the match is labelled V
      ("AFTER MATCH SKIP TO ... failed: pattern variable V is not present in match").

Output (one ``Match`` per match, partitions in first-appearance order, then match order)
    * ``key``: partition column → value. ``start`` / ``end``: the ``order_by`` time of the first
      and last row of the match (both the start row's time for an empty match).
      ``match_number``: per partition from 1; empty matches use numbers up.
    * ONE ROW PER MATCH: ``event_ids`` / ``classifiers`` hold all rows of the match (exclusion
      does not apply); ``measures`` are evaluated at the last row over the whole match
      (RUNNING = FINAL); ``row_measures`` is None. An empty match has ``event_ids == []``,
      ``classifiers == []``, ``empty_at`` = the start row's id, and its measures are computed
      over no rows (NULLs, COUNT 0, MATCH_NUMBER its number); ``empty_at`` is None otherwise.
    * ALL ROWS PER MATCH: ``event_ids`` / ``classifiers`` leave out the rows matched inside
      ``{- -}``; ``measures`` are the FINAL values (as in ONE ROW); ``row_measures`` has one dict
      per output row holding the RUNNING measures at that row (the match cut after that row;
      ``FINAL`` navigation and aggregates still see the whole match). SHOW EMPTY MATCHES (the
      default) keeps empty matches with ``event_ids == []``, ``empty_at`` set and
      ``row_measures == []``; OMIT EMPTY MATCHES leaves them out (their numbers stay used).
    * ``unmatched_event_ids`` (only with WITH UNMATCHED ROWS, otherwise None): the ids of the
      rows that belong to no non-empty match and start no empty match, partitions in
      first-appearance order and rows in sorted order. A row inside an earlier match (SKIP TO
      NEXT ROW) is therefore not unmatched.
    * ``stats``: ``events``, ``matches`` (``len(matches)``), ``elapsed_ms``, ``path="reference"``.

Example, the V shape of DESIGN.md §5.2 (``A B+ C+``, B falls, C rises):

>>> import polars as pl
>>> from cep.model import parse_pattern
>>> p = parse_pattern({"kind": "match_recognize", "name": "v", "pattern": "A B+ C+",
...                    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"}})
>>> df = pl.DataFrame({"id": [1, 2, 3, 4, 5], "ts": [1, 2, 3, 4, 5], "price": [5, 4, 3, 4, 5]})
>>> [(m.event_ids, m.classifiers) for m in reference_find_matches(p, df).matches]
[([1, 2, 3, 4, 5], ['A', 'B', 'B', 'C', 'C'])]
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import polars as pl

from cep.errors import MatchRuntimeError
from cep.matcher.syntax import (
    Alt,
    Anchor,
    Concat,
    Empty,
    Exclude,
    Node,
    Permute,
    Quant,
    Var,
    parse_row_pattern,
    pattern_variables,
)
from cep.results import Match, MatchResult

__all__ = ["ReferenceTooComplex", "reference_find_matches"]

#: Condition evaluations allowed in one run; beyond it the run gives up (exponential patterns).
MAX_STEPS = 300_000

# A path is a tuple of (label, excluded) for the rows start, start + 1, ...
Path = tuple[tuple[str, bool], ...]
Cont = Callable[[int, Path], Iterator[Path]]


class ReferenceTooComplex(Exception):
    """The backtracking search needed more than MAX_STEPS condition evaluations."""


# ---------------------------------------------------------------------------------------------
# Expressions: cep.expr evaluates plain SQL; the MATCH_RECOGNIZE parts are resolved here.


def _expr_module() -> Any:
    import cep.expr

    return cep.expr


def _node_name(node: Any) -> str:
    return type(node).__name__


def _final_flag(node: Any) -> bool:
    """True when a navigation or aggregate node carries FINAL semantics (MEASURES only)."""
    for attr in ("semantics", "mode"):
        value = getattr(node, attr, None)
        if isinstance(value, str):
            return value.upper() == "FINAL"
    if isinstance(getattr(node, "final", None), bool):
        return bool(node.final)
    if isinstance(getattr(node, "running", None), bool):
        return not node.running
    return False


def _children(node: Any) -> Iterator[Any]:
    if not dataclasses.is_dataclass(node):
        return
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            for item in value:
                if isinstance(item, tuple):
                    yield from (x for x in item if dataclasses.is_dataclass(x))
                elif dataclasses.is_dataclass(item):
                    yield item
        elif dataclasses.is_dataclass(value):
            yield value


def _qualifiers(node: Any) -> set[str]:
    """Qualifiers of the column references in ``node`` (not inside nested aggregates)."""
    found: set[str] = set()

    def visit(n: Any) -> None:
        name = _node_name(n)
        if name == "Col" and n.var is not None:
            found.add(n.var)
        if name == "Agg":
            return
        for child in _children(n):
            visit(child)

    visit(node)
    return found


class _Compiled:
    """The parts of a MatchRecognizePattern the reference needs, names normalised."""

    def __init__(self, pattern: Any) -> None:
        ex = _expr_module()
        self.name: str = pattern.name
        self.tree: Node = parse_row_pattern(pattern.pattern)
        self.variables = pattern_variables(self.tree)
        subset = dict(getattr(pattern, "subset", None) or {})
        self.subset_names = list(subset)
        self.subset: dict[str, frozenset[str]] = {
            self.norm(u): frozenset(self.norm(v) for v in members) for u, members in subset.items()
        }
        features = ex.Features(navigation=True, var_refs=True, aggregates=True, classifier=True)
        self.define: dict[str, Any] = {}
        for key, cond in (pattern.define or {}).items():
            self.define[self.norm(key)] = (
                ex.parse_condition(cond, features=features) if isinstance(cond, str) else cond
            )
        self.measures: dict[str, Any] = {}
        for key, text in (getattr(pattern, "measures", None) or {}).items():
            self.measures[key] = (
                ex.parse_expression(text, features=features) if isinstance(text, str) else text
            )
        self.partition_by: list[str] = list(pattern.partition_by or [])
        order_by = pattern.order_by or "ts"
        self.order_by: list[str] = [order_by] if isinstance(order_by, str) else list(order_by)
        self.id_field: str | None = getattr(pattern, "id_field", None)
        skip = (pattern.after_match_skip or "PAST LAST ROW").strip()
        words = skip.split()
        if words and words[0].upper() == "SKIP":
            words = words[1:]
        upper = [w.upper() for w in words]
        if upper == ["PAST", "LAST", "ROW"]:
            self.skip: tuple[str, str | None] = ("PAST LAST ROW", None)
        elif upper == ["TO", "NEXT", "ROW"]:
            self.skip = ("TO NEXT ROW", None)
        elif len(words) == 3 and upper[0] == "TO" and upper[1] in ("FIRST", "LAST"):
            self.skip = (upper[1], self.norm(words[2]))
        elif len(words) == 2 and upper[0] == "TO":
            self.skip = ("LAST", self.norm(words[1]))
        else:
            raise ValueError(f"unknown AFTER MATCH SKIP {skip!r}")
        self.skip_text = skip
        self.all_rows = (
            (getattr(pattern, "rows_per_match", None) or "ONE").upper().startswith("ALL")
        )
        option = getattr(pattern, "rows_per_match_option", None)
        self.option: str | None = option.upper() if isinstance(option, str) else None
        within = getattr(pattern, "within", None)
        self.within: timedelta | None = (
            None if within is None else timedelta(seconds=float(within.seconds))
        )

    def norm(self, name: str) -> str:
        """The variable or union ``name`` denotes: itself, else its only case-insensitive match."""
        known = [*self.variables, *getattr(self, "subset_names", ())]
        if name in known:
            return name
        same = [v for v in known if v.upper() == name.upper()]
        return same[0] if len(same) == 1 else name.upper()

    def members(self, name: str) -> frozenset[str]:
        key = self.norm(name)
        return self.subset.get(key, frozenset((key,)))


class _Frame:
    """What an expression sees: the partition, the (partial) match and the current row.

    ``labels[k]`` labels row ``start + k``; ``visible`` is how many of them the expression may
    see (RUNNING), and ``cur`` is the current row (None for an empty match).
    """

    def __init__(
        self,
        c: _Compiled,
        rows: list[dict[str, Any]],
        start: int,
        labels: tuple[str, ...],
        visible: int,
        number: int,
        null_row: dict[str, Any],
    ) -> None:
        self.c = c
        self.rows = rows
        self.start = start
        self.labels = labels
        self.visible = visible
        self.number = number
        self.null_row = null_row

    @property
    def cur(self) -> int | None:
        return self.start + self.visible - 1 if self.visible > 0 else None

    def final(self) -> _Frame:
        return _Frame(
            self.c, self.rows, self.start, self.labels, len(self.labels), self.number, self.null_row
        )

    def label(self, row: int) -> str | None:
        k = row - self.start
        return self.labels[k] if 0 <= k < self.visible else None

    def rows_of(self, var: str | None) -> list[int]:
        """Visible match rows labelled with ``var`` (or a member of union ``var``), in order."""
        shown = range(self.start, self.start + self.visible)
        if var is None:
            return list(shown)
        members = self.c.members(var)
        return [r for r in shown if self.labels[r - self.start] in members]

    def value(self, expr: Any, at: int | None = None) -> Any:
        """``expr`` evaluated with every column reference on row ``at`` (default: current)."""
        row_index = self.cur if at is None else at
        row = self.null_row if row_index is None else self.rows[row_index]
        return _expr_module().eval_row(expr, row, resolve=lambda n: self.resolve(n, at))

    def resolve(self, node: Any, at: int | None) -> Any:
        name = _node_name(node)
        if name == "Col":
            if at is not None:
                return self.rows[at].get(node.name)
            rows = self.rows_of(node.var)
            return self.rows[rows[-1]].get(node.name) if rows else None
        if name == "Classifier":
            if at is not None:
                label = self.label(at)
                if label is None or node.var is None or label in self.c.members(node.var):
                    return label
                return None
            rows = self.rows_of(node.var)
            return self.labels[rows[-1] - self.start] if rows else None
        if name == "MatchNumber":
            return self.number
        frame = self.final() if _final_flag(node) else self
        if name == "Nav":
            return frame.navigate(node, at)
        if name == "Agg":
            return frame.aggregate(node)
        raise NotImplementedError(f"reference matcher cannot resolve {name}")

    def logical_row(self, node: Any) -> int | None:
        quals = _qualifiers(node.arg)
        if len(quals) > 1:
            raise NotImplementedError(f"{node.func} over several variables {sorted(quals)}")
        rows = self.rows_of(next(iter(quals)) if quals else None)
        k = node.offset if node.func == "FIRST" else len(rows) - 1 - node.offset
        return rows[k] if 0 <= k < len(rows) else None

    def navigate(self, node: Any, at: int | None) -> Any:
        if node.func in ("FIRST", "LAST"):
            row = self.logical_row(node)
            return None if row is None else self.value(node.arg, row)
        inner = node.arg
        if _node_name(inner) == "Nav" and inner.func in ("FIRST", "LAST"):
            origin = self.logical_row(inner)  # PREV(LAST(A.x, 1), 2): logical step first
            target_expr = inner.arg
        else:
            target_expr = inner
            if at is not None:
                origin = at
            else:
                quals = _qualifiers(inner)
                if len(quals) > 1:
                    raise NotImplementedError(f"{node.func} over several variables")
                if quals:
                    rows = self.rows_of(next(iter(quals)))
                    origin = rows[-1] if rows else None
                else:
                    origin = self.cur
        if origin is None:
            return None
        target = origin - node.offset if node.func == "PREV" else origin + node.offset
        if not 0 <= target < len(self.rows):
            return None
        return self.value(target_expr, target)

    def aggregate(self, node: Any) -> Any:
        var = node.var
        if var is None and node.arg is not None:
            quals = _qualifiers(node.arg)
            if len(quals) > 1:
                raise NotImplementedError(f"{node.func} over several variables")
            var = next(iter(quals)) if quals else None
        rows = self.rows_of(var)
        if node.arg is None:
            return len(rows)
        values = [v for v in (self.value(node.arg, r) for r in rows) if v is not None]
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
        raise NotImplementedError(f"aggregate {node.func}")


def _holds(value: Any) -> bool:
    return value is True


# ---------------------------------------------------------------------------------------------
# The search over one partition.


class _Partition:
    def __init__(
        self, c: _Compiled, rows: list[dict[str, Any]], null_row: dict[str, Any], budget: list[int]
    ) -> None:
        self.c = c
        self.rows = rows
        self.n = len(rows)
        self.null_row = null_row
        self.budget = budget
        time_col = c.order_by[0]
        self.times = [r.get(time_col) for r in rows]

    def too_long(self, start: int, last: int) -> bool:
        w = self.c.within
        return w is not None and self.times[last] - self.times[start] >= w

    def condition(self, var: str, row: int, start: int, path: Path, number: int) -> bool:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise ReferenceTooComplex("too many condition evaluations (exponential backtracking)")
        cond = self.c.define.get(var)
        if cond is None:
            return True
        labels = (*(label for label, _ in path), var)
        frame = _Frame(self.c, self.rows, start, labels, len(labels), number, self.null_row)
        return _holds(frame.value(cond))

    def candidates(self, start: int, number: int) -> Iterator[Path]:
        """Every complete match starting at ``start``, in preference order."""

        def walk(node: Node, i: int, path: Path, excluded: bool, k: Cont) -> Iterator[Path]:
            if isinstance(node, Var):
                if (
                    i < self.n
                    and not self.too_long(start, i)
                    and self.condition(node.name, i, start, path, number)
                ):
                    yield from k(i + 1, (*path, (node.name, excluded)))
            elif isinstance(node, Empty):
                yield from k(i, path)
            elif isinstance(node, Anchor):
                if (node.kind == "start" and i == 0) or (node.kind == "end" and i == self.n):
                    yield from k(i, path)
            elif isinstance(node, Concat):
                yield from concat(node.items, i, path, excluded, k)
            elif isinstance(node, Alt):
                for item in node.items:
                    yield from walk(item, i, path, excluded, k)
            elif isinstance(node, Permute):
                for order in itertools.permutations(node.items):
                    yield from concat(order, i, path, excluded, k)
            elif isinstance(node, Exclude):
                yield from walk(node.node, i, path, True, k)
            elif isinstance(node, Quant):
                yield from repeat(node, 0, i, path, excluded, k)
            else:
                raise NotImplementedError(type(node).__name__)

        def concat(
            items: tuple[Node, ...], i: int, path: Path, excluded: bool, k: Cont
        ) -> Iterator[Path]:
            if not items:
                yield from k(i, path)
                return
            head, rest = items[0], items[1:]
            yield from walk(head, i, path, excluded, lambda j, p: concat(rest, j, p, excluded, k))

        def repeat(
            q: Quant, count: int, i: int, path: Path, excluded: bool, k: Cont
        ) -> Iterator[Path]:
            may_stop = count >= q.min
            may_go_on = q.max is None or count < q.max

            def after_iteration(j: int, p: Path) -> Iterator[Path]:
                if j == i:  # an empty iteration ends the loop; the minimum counts as met
                    return k(j, p)
                return repeat(q, count + 1, j, p, excluded, k)

            if q.greedy:
                if may_go_on:
                    yield from walk(q.node, i, path, excluded, after_iteration)
                if may_stop:
                    yield from k(i, path)
            else:
                if may_stop:
                    yield from k(i, path)
                if may_go_on:
                    yield from walk(q.node, i, path, excluded, after_iteration)

        def done(i: int, path: Path) -> Iterator[Path]:
            if not path or not self.too_long(start, start + len(path) - 1):
                yield path

        yield from walk(self.c.tree, start, (), False, done)

    def run(self) -> tuple[list[tuple[int, int, Path]], list[int]]:
        """The matches (start row, MATCH_NUMBER, path) and the unmatched rows of the partition."""
        c = self.c
        matches: list[tuple[int, int, Path]] = []
        covered = [False] * self.n
        pos, number = 0, 0
        while pos < self.n:
            found = next(self.candidates(pos, number + 1), None)
            if found is None:
                pos += 1
                continue
            number += 1
            matches.append((pos, number, found))
            covered[pos] = True
            if not found:
                pos += 1
                continue
            for k in range(len(found)):
                covered[pos + k] = True
            kind, var = c.skip
            if kind == "PAST LAST ROW":
                pos += len(found)
            elif kind == "TO NEXT ROW":
                pos += 1
            else:
                members = c.members(var or "")
                labelled = [pos + k for k, (label, _) in enumerate(found) if label in members]
                if not labelled:
                    raise MatchRuntimeError(
                        f"AFTER MATCH SKIP {c.skip_text} failed: pattern variable {var} is not "
                        f"present in match {number} (starting at row {pos + 1} of its partition)"
                    )
                target = labelled[0] if kind == "FIRST" else labelled[-1]
                if target == pos:
                    raise MatchRuntimeError(
                        f"AFTER MATCH SKIP {c.skip_text} failed: cannot skip to first row of "
                        f"match {number} (it would match the same rows forever)"
                    )
                pos = target
        unmatched = [r for r in range(self.n) if not covered[r]]
        return matches, unmatched


# ---------------------------------------------------------------------------------------------
# Public entry point.


def _sort_key(values: list[Any]) -> tuple[Any, ...]:
    return tuple((v is None, v) for v in values)


def reference_find_matches(
    pattern: Any, events: pl.DataFrame, *, max_steps: int = MAX_STEPS
) -> MatchResult:
    """Find the matches of a ``match_recognize`` pattern the slow, obvious way.

    Args:
        pattern: a ``cep.model.MatchRecognizePattern``.
        events: the events, one row per event, in any order.
        max_steps: condition evaluations allowed before giving up.

    Raises:
        MatchRuntimeError: AFTER MATCH SKIP lands on the match's first row or on a missing
            variable.
        ReferenceTooComplex: the search would take too long (exponential backtracking).
    """
    began = time.perf_counter()
    c = _Compiled(pattern)
    records = events.to_dicts()
    columns = list(events.columns)
    null_row = dict.fromkeys(columns)
    if c.id_field is not None:
        ids = [r.get(c.id_field) for r in records]
    elif "id" in columns:
        ids = [r.get("id") for r in records]
    else:
        ids = list(range(len(records)))

    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(tuple(record.get(col) for col in c.partition_by), []).append(index)

    budget = [max_steps]
    out: list[Match] = []
    unmatched_ids: list[Any] = []
    for key_values, members in groups.items():
        order = sorted(
            members, key=lambda i: _sort_key([records[i].get(col) for col in c.order_by])
        )
        rows = [records[i] for i in order]
        part = _Partition(c, rows, null_row, budget)
        matches, unmatched = part.run()
        unmatched_ids.extend(ids[order[r]] for r in unmatched)
        key = dict(zip(c.partition_by, key_values, strict=True))
        for start, number, path in matches:
            out.extend(_emit(c, part, order, ids, key, start, number, path))

    return MatchResult(
        matches=out,
        unmatched_event_ids=unmatched_ids if c.option == "WITH UNMATCHED ROWS" else None,
        stats={
            "events": events.height,
            "matches": len(out),
            "elapsed_ms": (time.perf_counter() - began) * 1000.0,
            "path": "reference",
        },
    )


def _emit(
    c: _Compiled,
    part: _Partition,
    order: list[int],
    ids: list[Any],
    key: dict[str, Any],
    start: int,
    number: int,
    path: Path,
) -> list[Match]:
    labels = tuple(label for label, _ in path)
    whole = _Frame(c, part.rows, start, labels, len(labels), number, part.null_row)
    measures = {name: whole.value(expr) for name, expr in c.measures.items()}
    first_time = part.times[start]
    last_time = part.times[start + len(path) - 1] if path else first_time
    if not path:
        if c.all_rows and c.option == "OMIT EMPTY MATCHES":
            return []
        return [
            Match(
                pattern=c.name,
                key=dict(key),
                start=first_time,
                end=last_time,
                event_ids=[],
                classifiers=[],
                measures=measures,
                match_number=number,
                empty_at=ids[order[start]],
                row_measures=[] if c.all_rows else None,
            )
        ]
    shown = [k for k, (_, excluded) in enumerate(path) if not (c.all_rows and excluded)]
    row_measures = None
    if c.all_rows:
        row_measures = []
        for k in shown:
            running = _Frame(c, part.rows, start, labels, k + 1, number, part.null_row)
            row_measures.append({name: running.value(expr) for name, expr in c.measures.items()})
    return [
        Match(
            pattern=c.name,
            key=dict(key),
            start=first_time,
            end=last_time,
            event_ids=[ids[order[start + k]] for k in shown],
            classifiers=[labels[k] for k in shown],
            measures=measures,
            match_number=number,
            empty_at=None,
            row_measures=row_measures,
        )
    ]
