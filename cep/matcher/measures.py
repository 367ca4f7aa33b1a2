"""Evaluate MEASURES (and other match-context expressions) on one finished match.

MEASURES run once per match (ONE ROW PER MATCH) or once per output row (ALL ROWS PER MATCH),
after the match is known, so a plain evaluator over the match's rows is enough here.
``RUNNING`` navigation and aggregates see the match up to the row being output; ``FINAL``
ones see the whole match (SEMANTICS.md §1.6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cep import expr as E
from cep.matcher.conditions import resolve_variable, strip_qualifiers

__all__ = ["MatchContext"]


@dataclass(frozen=True)
class MatchContext:
    """One match inside its partition.

    Attributes:
        rows: the partition's rows in matching order, as dicts.
        start: index in ``rows`` of the match's first row.
        labels: the variable of each match row, in order.
        match_number: MATCH_NUMBER() of the match.
        members: variable or union name → the primary variables it stands for.
    """

    rows: Sequence[Mapping[str, Any]]
    start: int
    labels: Sequence[str]
    match_number: int
    members: Mapping[str, frozenset[str]]

    def evaluate(self, e: E.Expr, current: int | None) -> Any:
        """Value of ``e`` with the match running up to row ``current`` (None: empty match)."""
        if current is None:
            nulls = dict.fromkeys(self.rows[0] if self.rows else (), None)
            return E.eval_row(e, nulls, resolve=lambda node: self._resolve_empty(node))
        return E.eval_row(e, self.rows[current], resolve=lambda node: self._resolve(node, current))

    def _resolve_empty(self, node: E.Expr) -> Any:
        if isinstance(node, E.MatchNumber):
            return self.match_number
        if isinstance(node, E.Agg) and node.func == "COUNT":
            return 0
        return None

    def _in(self, var: str | None, row: int) -> bool:
        if var is None:
            return True
        name = resolve_variable(var, self.members)
        return name is not None and self.labels[row - self.start] in self.members[name]

    def _last_of(self, var: str | None, current: int, skip: int = 0) -> int | None:
        for row in range(current, self.start - 1, -1):
            if self._in(var, row):
                if skip == 0:
                    return row
                skip -= 1
        return None

    def _row_of(self, e: E.Expr, current: int) -> tuple[E.Expr, int | None]:
        """Follow navigation to (per-row expression, row index or None)."""
        if isinstance(e, E.Nav):
            upto = self._upto(e, current)
            if e.func in ("PREV", "NEXT"):
                inner, row = self._row_of(e.arg, upto)
                if row is None:
                    return inner, None
                row += -e.offset if e.func == "PREV" else e.offset
                return inner, row if 0 <= row < len(self.rows) else None
            var = next(iter({n.var for n in E.walk(e.arg) if isinstance(n, E.Col)}), None)
            candidates = [r for r in range(self.start, upto + 1) if self._in(var, r)]
            index = e.offset if e.func == "FIRST" else len(candidates) - 1 - e.offset
            return e.arg, candidates[index] if 0 <= index < len(candidates) else None
        var = next(iter({n.var for n in E.walk(e) if isinstance(n, E.Col)}), None)
        return e, (current if var is None else self._last_of(var, current))

    def _upto(self, node: E.Nav | E.Agg, current: int) -> int:
        if getattr(node, "semantics", "RUNNING") == "FINAL":
            return self.start + len(self.labels) - 1
        return current

    def _resolve(self, node: E.Expr, current: int) -> Any:
        if isinstance(node, E.MatchNumber):
            return self.match_number
        if isinstance(node, E.Classifier):
            row = self._last_of(node.var, current)
            return None if row is None else self.labels[row - self.start]
        if isinstance(node, E.Col | E.Nav):
            if isinstance(node, E.Nav) and isinstance(node.arg, E.Classifier):
                _, row = self._row_of(E.Nav(node.func, E.Col("__classifier", None), node.offset), current)
                last = self.start + len(self.labels) - 1
                if row is None or not self.start <= row <= min(current, last):
                    return None
                return self._resolve(node.arg, row)
            inner, row = self._row_of(node, current)
            if row is None:
                return None
            return E.eval_row(strip_qualifiers(inner), self.rows[row],
                              resolve=lambda n: self._resolve(n, row))
        if isinstance(node, E.Agg):
            upto = self._upto(node, current)
            var = node.var
            if node.arg is not None:
                var = next(iter({n.var for n in E.walk(node.arg) if isinstance(n, E.Col)}), None)
            rows = [r for r in range(self.start, upto + 1) if self._in(var, r)]
            if node.arg is None:
                return len(rows)
            arg = strip_qualifiers(node.arg)
            values = [v for r in rows if (v := E.eval_row(arg, self.rows[r])) is not None]
            if node.func == "COUNT":
                return len(values)
            if not values:
                return None
            if node.func == "SUM":
                return sum(values)
            if node.func == "AVG":
                return sum(values) / len(values)
            return min(values) if node.func == "MIN" else max(values)
        raise TypeError(f"cannot resolve {node!r}")
