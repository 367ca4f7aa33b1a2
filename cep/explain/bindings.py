"""Evaluate path-dependent conditions against one (partial) match's bindings, in plain Python.

``A.price``, ``FIRST``/``LAST``, aggregates, ``PREV`` of another variable's row and
``CLASSIFIER()`` read the events a match has bound so far (running semantics: the element under
test included, labelled with its own step). This is the slow, obvious reading of SEMANTICS.md
§1.5, used per bound event only for conditions that are not row-local.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cep import expr as E
from cep.errors import CepError

__all__ = ["Bindings"]


@dataclass
class Bindings:
    """A match's bound events, and the key's events around them.

    Attributes:
        rows: the bound events' fields, in match order.
        positions: their positions within the key (indexes into ``key_rows``).
        classifiers: their steps / variables.
        key_rows: every event of the key, sorted (for PREV / NEXT).
        case_insensitive: compare variable names ignoring case (MATCH_RECOGNIZE).
        subsets: union variable → its variables (MATCH_RECOGNIZE ``SUBSET``).
        match_number: MATCH_NUMBER() of the match, if any.
    """

    rows: Sequence[dict[str, Any]]
    positions: Sequence[int]
    classifiers: Sequence[str]
    key_rows: Sequence[dict[str, Any]]
    case_insensitive: bool = False
    subsets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    match_number: int | None = None

    def _norm(self, name: str) -> str:
        return name.upper() if self.case_insensitive else name

    def _members(self, var: str) -> set[str]:
        for union, members in self.subsets.items():
            if self._norm(union) == self._norm(var):
                return {self._norm(m) for m in members}
        return {self._norm(var)}

    def _labelled(self, var: str | None, upto: int) -> list[int]:
        if var is None:
            return list(range(upto + 1))
        members = self._members(var)
        return [i for i in range(upto + 1) if self._norm(self.classifiers[i]) in members]

    def evaluate(self, e: E.Expr, upto: int, row_var: str | None) -> Any:
        """Value of ``e`` for bound element ``upto`` tested as ``row_var``.

        Returns None (SQL NULL) where the condition cannot be evaluated on these values.
        """
        try:
            return E.eval_row(e, self.rows[upto], resolve=self._resolver(upto, row_var),
                              row_var=row_var, case_insensitive_vars=self.case_insensitive)
        except CepError:
            return None

    def _var_of(self, e: E.Expr) -> str | None:
        for node in E.walk(e):
            if isinstance(node, E.Col) and node.var is not None:
                return node.var
            if isinstance(node, E.Agg) and node.var is not None:
                return node.var
        return None

    def _resolver(self, upto: int, row_var: str | None) -> Any:
        def on_row(arg: E.Expr, row: dict[str, Any], var: str | None) -> Any:
            return E.eval_row(arg, row, resolve=resolve, row_var=var,
                              case_insensitive_vars=self.case_insensitive)

        def resolve(node: E.Expr) -> Any:
            if isinstance(node, E.Col) and node.var is not None:
                found = self._labelled(node.var, upto)
                return self.rows[found[-1]].get(node.name) if found else None
            if isinstance(node, E.Nav) and node.func in ("FIRST", "LAST"):
                var = self._var_of(node.arg)
                found = self._labelled(var, upto)
                index = node.offset if node.func == "FIRST" else len(found) - 1 - node.offset
                if not 0 <= index < len(found):
                    return None
                return on_row(node.arg, dict(self.rows[found[index]]), var)
            if isinstance(node, E.Nav):
                var = self._var_of(node.arg)
                if var is None or (row_var is not None
                                   and self._norm(var) == self._norm(row_var)):
                    base, var = self.positions[upto], row_var
                else:
                    found = self._labelled(var, upto)
                    if not found:
                        return None
                    base = self.positions[found[-1]]
                target = base - node.offset if node.func == "PREV" else base + node.offset
                if not 0 <= target < len(self.key_rows):
                    return None
                return on_row(node.arg, dict(self.key_rows[target]), var)
            if isinstance(node, E.Agg):
                found = self._labelled(node.var or self._var_of(node.arg or E.Lit(None)), upto)
                if node.arg is None:
                    return len(found)
                var = node.var or self._var_of(node.arg)
                values = [on_row(node.arg, dict(self.rows[i]), var) for i in found]
                values = [v for v in values if v is not None]
                if node.func == "COUNT":
                    return len(values)
                if not values:
                    return None
                if node.func == "SUM":
                    return sum(values)
                if node.func == "AVG":
                    return sum(values) / len(values)
                return min(values) if node.func == "MIN" else max(values)
            if isinstance(node, E.Classifier):
                return self.classifiers[upto]
            if isinstance(node, E.MatchNumber):
                return self.match_number
            return None

        return resolve
