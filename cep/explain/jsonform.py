"""JSON forms of explanation values, fast: per value for the common scalars, per column for frames.

An explanation's JSON form holds a value per field of every shown event. ``cep.results.jsonable``
is the reference (times as ISO text without a zone, dates as ISO text, durations in seconds,
NaN and infinities as None); these give the same values with a type test per scalar instead of a
chain of ``isinstance`` calls, and :func:`json_rows` converts whole columns with Polars (times
formatted, non-finite floats nulled) before the rows are built.

>>> from datetime import UTC, datetime
>>> frame = pl.DataFrame({"ts": [datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)],
...                       "x": [float("nan")]})
>>> json_rows(frame)
[{'ts': '2024-01-01T00:00:01', 'x': None}]
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl

from cep.results import format_time, jsonable

__all__ = [
    "json_records", "json_row", "json_rows", "json_series", "json_tree", "json_value", "json_values",
]

_PLAIN = frozenset({str, int, bool, type(None)})
_NOT_FINITE = (math.inf, -math.inf)


def json_value(value: Any) -> Any:
    """``jsonable(value)``, with text, numbers and times done inline."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return None if value != value or value in _NOT_FINITE else value
    if kind is datetime:
        text: str = value.isoformat()
        if text.endswith("+00:00"):  # format_time: the wall time without its zone
            return text[:-6]
        return format_time(value)
    return jsonable(value)


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """``jsonable(row)`` for a flat dict of field values."""
    return {k if type(k) is str else str(k): json_value(v) for k, v in row.items()}


def json_tree(value: Any) -> Any:
    """``jsonable(value)`` for nested dicts and lists (a state snapshot, a key)."""
    kind = type(value)
    if kind is dict:
        return {k if type(k) is str else str(k): json_tree(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [json_tree(v) for v in value]
    return json_value(value)


def json_series(series: pl.Series) -> list[Any]:
    """``[json_tree(v) for v in series.to_list()]``, converted by Polars where the dtype allows
    (struct fields each by their own dtype), else per value."""
    dtype = series.dtype
    if isinstance(dtype, pl.Struct):
        fields = series.struct.unnest()
        rows = json_rows(fields) if fields.width else [{} for _ in range(series.len())]
        return [None if missing else row
                for row, missing in zip(rows, series.is_null().to_list(), strict=True)]
    if dtype.is_integer() or dtype in (pl.String, pl.Boolean, pl.Null):
        return series.to_list()
    c = pl.col(series.name)
    expr: pl.Expr | None = None
    if dtype.is_float():
        expr = pl.when(c.is_finite()).then(c)
    elif isinstance(dtype, pl.Datetime):
        text = c.dt.to_string("%Y-%m-%dT%H:%M:%S")
        micro = c.dt.microsecond()
        expr = pl.when(micro == 0).then(text).otherwise(
            text + "." + micro.cast(pl.String).str.zfill(6))
    elif dtype == pl.Date:
        expr = c.dt.to_string("%Y-%m-%d")
    if expr is None:
        return [jsonable(v) for v in series.to_list()]
    return series.to_frame().select(expr).to_series().to_list()


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """``[jsonable(row) for row in frame.to_dicts()]``, converted column by column."""
    names = frame.columns
    if not frame.height:
        return []
    return [dict(zip(names, values, strict=True))
            for values in zip(*(json_series(frame.get_column(c)) for c in names), strict=True)]


def json_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[json_tree(r) for r in records]``, converted field by field when the records have the
    same fields in the same order (state snapshots do), else record by record."""
    if not records:
        return []
    names = tuple(records[0])
    if not names or any(type(r) is not dict or tuple(r) != names for r in records):
        return [json_tree(r) for r in records]
    columns = [json_values([r[n] for r in records]) for n in names]
    keys = [n if type(n) is str else str(n) for n in names]
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]


def json_values(values: list[Any]) -> list[Any]:
    """``[json_tree(v) for v in values]``: as is when plain, nested records field by field."""
    kinds = set(map(type, values))
    if kinds <= _PLAIN:
        return values
    if kinds == {dict}:
        return json_records(values)
    return [json_tree(v) for v in values]
