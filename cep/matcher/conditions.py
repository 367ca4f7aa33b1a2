"""Compile DEFINE conditions for the VM: vectorised masks where possible, bytecode otherwise.

A condition is *row-local* when it reads only the current row and its physical neighbours
(``price < PREV(price)``, ``type = 'A'``, ``B.price > 10`` inside ``DEFINE B``). Those are
evaluated once for every row with Polars and handed to the VM as a boolean matrix: the fast
path. Any other condition (``B.price > A.price``, ``FIRST(B.price)``, ``SUM(A.x)``,
``CLASSIFIER()``, ``MATCH_NUMBER()``) depends on the labels of the path under test; it is
compiled into stack bytecode whose operands are precomputed per-row columns (every sub-tree
that reads one row is still evaluated by Polars), so the VM only navigates and combines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.errors import UnsupportedFeature
from cep.matcher import vm
from cep.matcher.frame import PART_COL, Prepared

__all__ = ["DEFINE_FEATURES", "CompiledConditions", "compile_conditions"]

DEFINE_FEATURES = E.Features(navigation=True, var_refs=True, aggregates=True, classifier=True)
MAX_VARIABLES = 63

_BINARY = {
    "+": vm.C_ADD, "-": vm.C_SUB, "*": vm.C_MUL, "/": vm.C_DIV, "%": vm.C_MOD,
    "=": vm.C_EQ, "<>": vm.C_NE, "<": vm.C_LT, "<=": vm.C_LE, ">": vm.C_GT, ">=": vm.C_GE,
    "AND": vm.C_AND, "OR": vm.C_OR,
}
_AGG = {"SUM": vm.AGG_SUM, "AVG": vm.AGG_AVG, "COUNT": vm.AGG_COUNT, "MIN": vm.AGG_MIN,
        "MAX": vm.AGG_MAX}


@dataclass
class CompiledConditions:
    """Everything the VM needs to decide whether a row may take a variable."""

    cond: npt.NDArray[np.uint8]
    var_prog: npt.NDArray[np.int32]
    code_start: npt.NDArray[np.int32]
    code_op: npt.NDArray[np.int32]
    code_a: npt.NDArray[np.int32]
    code_b: npt.NDArray[np.int32]
    consts: npt.NDArray[np.float64]
    consts_null: npt.NDArray[np.bool_]
    cols: npt.NDArray[np.float64]
    cols_null: npt.NDArray[np.bool_]
    sel_kind: npt.NDArray[np.int32]
    sel_mask: npt.NDArray[np.int64]
    sel_logical: npt.NDArray[np.int32]
    sel_physical: npt.NDArray[np.int32]
    agg_func: npt.NDArray[np.int32]
    agg_mask: npt.NDArray[np.int64]
    dynamic_variables: list[str] = field(default_factory=list)


def resolve_variable(name: str, known: Mapping[str, Any]) -> str | None:
    """The pattern/subset variable ``name`` refers to (exact, else case-insensitive)."""
    if name in known:
        return name
    upper = name.upper()
    return upper if upper in known else None


def strip_qualifiers(e: E.Expr) -> E.Expr:
    """The expression evaluated on one row: ``A.price * 2`` → ``price * 2``."""
    if isinstance(e, E.Col):
        return E.Col(e.name, None)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(e):  # type: ignore[arg-type]
        value = getattr(e, f.name)
        if isinstance(value, E.Expr.__args__):  # type: ignore[attr-defined]
            changes[f.name] = strip_qualifiers(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
            changes[f.name] = tuple(tuple(strip_qualifiers(x) for x in pair) for pair in value)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(
                strip_qualifiers(x) if isinstance(x, E.Expr.__args__) else x  # type: ignore[attr-defined]
                for x in value
            )
    return dataclasses.replace(e, **changes)  # type: ignore[type-var]


def qualifiers(e: E.Expr) -> set[str | None]:
    return {n.var for n in E.walk(e) if isinstance(n, E.Col)}


def is_strict(e: E.Expr) -> bool:
    """Whether ``e`` is NULL whenever every column it reads is NULL (a missing row)."""
    if isinstance(e, E.Col):
        return True
    if isinstance(e, E.Binary):
        sides = (is_strict(e.left), is_strict(e.right))
        return all(sides) if e.op in ("AND", "OR") else any(sides)
    if isinstance(e, E.Unary | E.Cast):
        return is_strict(e.operand)
    if isinstance(e, E.InList | E.Between):
        return is_strict(e.operand)
    if isinstance(e, E.Like):
        return is_strict(e.operand) or is_strict(e.pattern)
    if isinstance(e, E.Func):
        strict = [is_strict(a) for a in e.args]
        return all(strict) if e.name in ("coalesce", "greatest", "least") else any(strict)
    return False


def desugar(e: E.InList | E.Between) -> E.Expr:
    """``x IN (a, b)`` as ``x = a OR x = b``; ``x BETWEEN a AND b`` as ``x >= a AND x <= b``.

    Both keep SQL's three-valued logic, so bytecode needs no IN or BETWEEN instruction.
    """
    if isinstance(e, E.InList):
        parts: E.Expr = E.Binary("=", e.operand, e.items[0])
        for item in e.items[1:]:
            parts = E.Binary("OR", parts, E.Binary("=", e.operand, item))
    else:
        parts = E.Binary("AND", E.Binary(">=", e.operand, e.low), E.Binary("<=", e.operand, e.high))
    return E.Unary("NOT", parts) if e.negated else parts


def is_plain(e: E.Expr) -> bool:
    """No navigation, aggregate, classifier or match number anywhere inside."""
    return not any(isinstance(n, E.Nav | E.Agg | E.Classifier | E.MatchNumber) for n in E.walk(e))


class _Compiler:
    def __init__(self, prepared: Prepared, var_index: dict[str, int],
                 subsets: dict[str, list[str]], partitioned: bool) -> None:
        self.prepared = prepared
        self.var_index = var_index
        self.known: dict[str, int] = {**var_index, **dict.fromkeys(subsets, -1)}
        self.masks = {name: 1 << i for name, i in var_index.items()}
        for name, members in subsets.items():
            self.masks[name] = 0
            for m in members:
                self.masks[name] |= self.masks[resolve_variable(m, var_index) or m]
        self.all_mask = (1 << len(var_index)) - 1
        self.partition_col = PART_COL if partitioned else None
        self.code: list[tuple[int, int, int]] = []
        self.starts: list[int] = [0]
        self.consts: list[tuple[float, bool]] = []
        self.derived: dict[E.Expr, int] = {}
        self.selectors: dict[tuple[int, int, int, int], int] = {}
        self.aggs: dict[tuple[int, int], int] = {}
        self.string_literals: set[str] = set()
        self.pending_string_consts: list[tuple[int, str]] = []
        self.current_var: str | None = None

    # --- operands -------------------------------------------------------------------------
    def mask_of(self, var: str | None) -> int:
        if var is None:
            return self.all_mask
        resolved = resolve_variable(var, self.known)
        if resolved is None:
            raise UnsupportedFeature(f"unknown pattern variable {var!r}")
        return self.masks[resolved]

    def selector(self, kind: int, mask: int, logical: int, physical: int) -> int:
        key = (kind, mask, logical, physical)
        return self.selectors.setdefault(key, len(self.selectors))

    def agg_slot(self, func: int, mask: int) -> int:
        return self.aggs.setdefault((func, mask), len(self.aggs))

    def column(self, e: E.Expr) -> int:
        return self.derived.setdefault(strip_qualifiers(e), len(self.derived))

    def const(self, value: Any) -> int:
        if isinstance(value, str):
            self.string_literals.add(value)
            self.consts.append((0.0, False))
            self.pending_string_consts.append((len(self.consts) - 1, value))
            return len(self.consts) - 1
        if value is None:
            self.consts.append((0.0, True))
        elif isinstance(value, timedelta):
            self.consts.append((value / timedelta(microseconds=1), False))
        elif isinstance(value, datetime):
            self.consts.append((value.timestamp() * 1e6, False))
        else:
            self.consts.append((float(value), False))
        return len(self.consts) - 1

    def op(self, op: int, a: int = 0, b: int = 0) -> None:
        self.code.append((op, a, b))

    # --- expressions ----------------------------------------------------------------------
    def always_present(self, var: str | None) -> bool:
        """Whether a reference to ``var`` always finds a row (the current row)."""
        return var is None or resolve_variable(var, self.known) == self.current_var

    def row_selector(self, e: E.Expr, physical: int = 0) -> tuple[E.Expr, int]:
        """Resolve navigation down to (per-row expression, selector)."""
        if isinstance(e, E.Nav):
            if e.func in ("PREV", "NEXT"):
                step = -e.offset if e.func == "PREV" else e.offset
                return self.row_selector(e.arg, physical + step)
            inner = e.arg
            quals = qualifiers(inner)
            if len(quals) > 1 or not is_plain(inner):
                raise UnsupportedFeature(f"{e.func}() must read one pattern variable's row")
            var = next(iter(quals), None)
            kind = vm.SEL_FIRST if e.func == "FIRST" else vm.SEL_LAST
            return inner, self.selector(kind, self.mask_of(var), e.offset, physical)
        quals = qualifiers(e)
        if len(quals) > 1 or not is_plain(e):
            raise UnsupportedFeature("navigation must read one pattern variable's row")
        var = next(iter(quals), None)
        if var is None:
            return e, self.selector(vm.SEL_CURRENT, 0, 0, physical)
        return e, self.selector(vm.SEL_LAST, self.mask_of(var), 0, physical)

    def classifier_selector(self, e: E.Expr) -> tuple[E.Classifier, int] | None:
        physical = 0
        while isinstance(e, E.Nav) and e.func in ("PREV", "NEXT"):
            physical += -e.offset if e.func == "PREV" else e.offset
            e = e.arg
        if isinstance(e, E.Classifier):
            # CLASSIFIER(U) is the label of the last row mapped to U (CLASSIFIER(): the current row).
            return e, self.selector(vm.SEL_LAST, self.mask_of(e.var), 0, physical)
        return None

    def emit(self, e: E.Expr) -> None:
        if isinstance(e, E.Lit):
            self.op(vm.C_CONST, self.const(e.value))
        elif is_plain(e) and len(qualifiers(e)) <= 1 and (
            is_strict(e) or self.always_present(next(iter(qualifiers(e))))
        ):
            # One row's sub-expression: Polars computes it for every row, the VM only loads it.
            row_expr, sel = self.row_selector(e)
            self.op(vm.C_LOAD, self.column(row_expr), sel)
        elif (found := self.classifier_selector(e)) is not None:
            _, sel = found
            self.op(vm.C_LABEL, self.agg_slot(vm.AGG_COUNT, self.all_mask), sel)
        elif isinstance(e, E.Nav):
            row_expr, sel = self.row_selector(e)
            self.op(vm.C_LOAD, self.column(row_expr), sel)
        elif isinstance(e, E.Agg):
            self.aggregate(e)
        elif isinstance(e, E.MatchNumber):
            self.op(vm.C_MATCHNUM)
        elif isinstance(e, E.Binary) and e.op in _BINARY:
            self.binary(e)
        elif isinstance(e, E.Unary):
            self.emit(e.operand)
            if e.op == "NOT":
                self.op(vm.C_NOT)
            elif e.op == "-":
                self.op(vm.C_NEG)
        elif isinstance(e, E.IsNull):
            self.emit(e.operand)
            self.op(vm.C_ISNOTNULL if e.negated else vm.C_ISNULL)
        elif isinstance(e, E.InList | E.Between):
            self.emit(desugar(e))
        elif isinstance(e, E.Func) and e.name == "abs" and len(e.args) == 1:
            self.emit(e.args[0])
            self.op(vm.C_ABS)
        elif isinstance(e, E.Func) and e.name == "coalesce":
            self.emit(e.args[0])
            for arg in e.args[1:]:
                self.emit(arg)
                self.op(vm.C_COALESCE)
        else:
            raise UnsupportedFeature(
                f"{type(e).__name__} combining rows of several pattern variables is not supported "
                f"in DEFINE: {E.to_sql(e)}"
            )

    def binary(self, e: E.Binary) -> None:
        left_cls = self.classifier_selector(e.left) is not None
        right_cls = self.classifier_selector(e.right) is not None
        if (left_cls or right_cls) and e.op in ("=", "<>"):
            for side in (e.left, e.right):
                if isinstance(side, E.Lit) and isinstance(side.value, str):
                    resolved = resolve_variable(side.value, self.var_index)
                    index = self.var_index[resolved] if resolved is not None else -1
                    self.op(vm.C_CONST, self.const(index))
                else:
                    self.emit(side)
            self.op(_BINARY[e.op])
            return
        self.emit(e.left)
        self.emit(e.right)
        self.op(_BINARY[e.op])

    def aggregate(self, e: E.Agg) -> None:
        if e.arg is None:
            self.op(vm.C_AGG, -1, self.agg_slot(vm.AGG_COUNT, self.mask_of(e.var)))
            return
        quals = qualifiers(e.arg)
        if len(quals) > 1 or not is_plain(e.arg):
            raise UnsupportedFeature(f"{e.func}() must aggregate one pattern variable's rows")
        var = next(iter(quals), None)
        self.op(vm.C_AGG, self.column(e.arg), self.agg_slot(_AGG[e.func], self.mask_of(var)))

    # --- columns ----------------------------------------------------------------------------
    def evaluate_columns(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], dict[str, float]]:
        n = self.prepared.height
        if not self.derived:
            return np.zeros((0, n)), np.zeros((0, n), dtype=np.bool_), {}
        values = _evaluate(self.prepared, {f"__d{i}": e for e, i in self.derived.items()})
        strings: set[str] = set(self.string_literals)
        for s in values.iter_columns():
            if s.dtype in (pl.String, pl.Categorical, pl.Enum):
                strings.update(s.cast(pl.String).drop_nulls().unique().to_list())
        codes = {v: float(i) for i, v in enumerate(sorted(strings))}
        cols = np.zeros((len(self.derived), n), dtype=np.float64)
        nulls = np.zeros((len(self.derived), n), dtype=np.bool_)
        for i, s in enumerate(values.iter_columns()):
            nulls[i] = s.is_null().to_numpy()
            cols[i] = _as_float(s, codes).fill_null(0.0).to_numpy()
        return cols, nulls, codes


def _evaluate(prepared: Prepared, exprs: Mapping[str, E.Expr], row_var: str | None = None
              ) -> pl.DataFrame:
    """Evaluate row-local expressions for every event, in sorted order.

    Expressions without PREV/NEXT run on the events as given and only their results are
    reordered; the others run on the few columns they read, gathered into sorted order.
    """
    plain: dict[str, pl.Expr] = {}
    navigating: dict[str, pl.Expr] = {}
    columns: set[str] = set()
    for name, e in exprs.items():
        if any(isinstance(n, E.Nav) for n in E.walk(e)):
            columns |= E.referenced_columns(e)
            navigating[name] = E.to_polars(e, partition_col=PART_COL, row_var=row_var,
                                           case_insensitive_vars=True).alias(name)
        else:
            plain[name] = E.to_polars(e, row_var=row_var, case_insensitive_vars=True).alias(name)
    parts = []
    if plain:
        # with_columns broadcasts constant conditions to every row.
        values = prepared.events.with_columns(list(plain.values())).select(list(plain))
        parts.append(values[pl.Series(prepared.order)])
    if navigating:
        frame = prepared.sorted_frame(sorted(columns), with_partition=True)
        parts.append(frame.with_columns(list(navigating.values())).select(list(navigating)))
    combined = pl.concat(parts, how="horizontal") if len(parts) > 1 else parts[0]
    return combined.select(list(exprs))


def _as_float(s: pl.Series, codes: dict[str, float]) -> pl.Series:
    if s.dtype in (pl.String, pl.Categorical, pl.Enum):
        return s.cast(pl.String).replace_strict(codes, default=None, return_dtype=pl.Float64)
    if s.dtype == pl.Date:
        s = s.cast(pl.Datetime("us"))
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.epoch("us").cast(pl.Float64)
    if isinstance(s.dtype, pl.Duration):
        return s.dt.total_microseconds().cast(pl.Float64)
    if s.dtype == pl.Null:
        return s.cast(pl.Float64)
    return s.cast(pl.Float64)


def compile_conditions(
    prepared: Prepared,
    variables: Sequence[str],
    define: Mapping[str, E.Expr],
    subsets: Mapping[str, list[str]],
    *,
    partitioned: bool,
) -> CompiledConditions:
    """Compile every variable's DEFINE against the sorted frame.

    Args:
        prepared: events sorted by ``cep.matcher.frame.prepare_events``.
        variables: the primary pattern variables, in label order.
        define: variable → parsed condition (undefined variables are always true).
        subsets: union variable → member variables.
        partitioned: whether ``__part`` separates partitions (for PREV/NEXT).
    """
    if len(variables) > MAX_VARIABLES:
        raise UnsupportedFeature(f"a pattern may use at most {MAX_VARIABLES} variables")
    var_index = {v: i for i, v in enumerate(variables)}
    compiler = _Compiler(prepared, var_index, dict(subsets), partitioned)
    n = prepared.height
    cond = np.ones((len(variables), n), dtype=np.uint8)
    var_prog = np.full(len(variables), -1, dtype=np.int32)
    static: dict[int, E.Expr] = {}
    dynamic: list[str] = []
    for name, condition in define.items():
        var = resolve_variable(name, var_index)
        if var is None:
            continue
        index = var_index[var]
        if E.is_row_local(condition, row_var=var, case_insensitive_vars=True):
            static[index] = strip_qualifiers(condition)
        else:
            compiler.current_var = var
            compiler.emit(condition)
            compiler.starts.append(len(compiler.code))
            var_prog[index] = len(compiler.starts) - 2
            dynamic.append(var)
    if static:
        masks = _evaluate(prepared, {f"__v{i}": e for i, e in static.items()})
        for i, s in zip(static, masks.iter_columns(), strict=True):
            cond[i] = s.fill_null(False).cast(pl.UInt8).to_numpy()
    cols, cols_null, codes = compiler.evaluate_columns()
    consts = np.array([c[0] for c in compiler.consts] or [0.0], dtype=np.float64)
    consts_null = np.array([c[1] for c in compiler.consts] or [True], dtype=np.bool_)
    for index, text in compiler.pending_string_consts:
        consts[index] = codes[text]
    code = np.array(compiler.code or [(0, 0, 0)], dtype=np.int32).reshape(-1, 3)
    sel = sorted(compiler.selectors.items(), key=lambda kv: kv[1])
    aggs = sorted(compiler.aggs.items(), key=lambda kv: kv[1])
    return CompiledConditions(
        cond=np.ascontiguousarray(cond),
        var_prog=var_prog,
        code_start=np.array(compiler.starts, dtype=np.int32),
        code_op=np.ascontiguousarray(code[:, 0]),
        code_a=np.ascontiguousarray(code[:, 1]),
        code_b=np.ascontiguousarray(code[:, 2]),
        consts=consts,
        consts_null=consts_null,
        cols=np.ascontiguousarray(cols),
        cols_null=np.ascontiguousarray(cols_null),
        sel_kind=np.array([k[0] for k, _ in sel] or [0], dtype=np.int32),
        sel_mask=np.array([k[1] for k, _ in sel] or [0], dtype=np.int64),
        sel_logical=np.array([k[2] for k, _ in sel] or [0], dtype=np.int32),
        sel_physical=np.array([k[3] for k, _ in sel] or [0], dtype=np.int32),
        agg_func=np.array([k[0] for k, _ in aggs] or [0], dtype=np.int32),
        agg_mask=np.array([k[1] for k, _ in aggs] or [0], dtype=np.int64),
        dynamic_variables=dynamic,
    )
