"""A compact event notation and result view, so matcher tests read like SEMANTICS.md.

Events are written column by column, or as a small table::

    events("price: 19 17 13 20 26 20 25")
    events("symbol: X X Y Y", "price: 1 2 3 null")
    events('''
        symbol price
        ACME   12
        ACME   11
    ''')

Every frame gets ``id`` 1..n and ``ts`` one second apart from 2024-01-01T00:00:00Z
(``Datetime("us", "UTC")``) unless the spec gives them; a ``ts`` column given as numbers is read
as seconds after that instant (so ``"ts: 0 1 1 2"`` makes a tie). Tokens that look like
integers or decimals become numbers, ``null`` / ``NULL`` / ``-`` become NULL, anything else
stays text.

>>> df = events("price: 3 null 4.5", "type: a b c")
>>> df.columns, df["price"].to_list(), df["id"].to_list()
(['id', 'ts', 'price', 'type'], [3.0, None, 4.5], [1, 2, 3])

:func:`run` turns a result into tuples ``(key, event_ids, "A B B")`` (without ``key`` when the
pattern has no ``partition_by``; an empty match shows as ``([], "")``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from cep.results import MatchResult

__all__ = ["BASE_TIME", "Matcher", "at", "compact", "events", "find", "make_pattern", "run"]

BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
Matcher = Callable[[Any, pl.DataFrame], MatchResult]
_NULLS = {"null", "NULL", "-"}


def at(seconds: float) -> datetime:
    """The harness time ``seconds`` after 2024-01-01T00:00:00Z."""
    return BASE_TIME + timedelta(seconds=seconds)


def _token(text: str) -> Any:
    if text in _NULLS:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _columns_from_table(text: str) -> dict[str, list[Any]]:
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    for number, cells in enumerate(body, start=2):
        if len(cells) != len(header):
            raise ValueError(
                f"table line {number} has {len(cells)} cells, header has {len(header)}"
            )
    return {name: [_token(cells[k]) for cells in body] for k, name in enumerate(header)}


def _columns_from_specs(specs: tuple[str, ...]) -> dict[str, list[Any]]:
    if len(specs) == 1 and "\n" in specs[0].strip():
        return _columns_from_table(specs[0])
    columns: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition(":")
        if not sep:
            raise ValueError(f"column spec {spec!r} needs 'name: v1 v2 ...'")
        columns[name.strip()] = [_token(v) for v in values.split()]
    return columns


def _dtype(values: list[Any]) -> pl.DataType:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) for v in present):
        return pl.Int64()
    if present and all(isinstance(v, int | float) for v in present):
        return pl.Float64()
    if not present:
        return pl.Int64()
    return pl.String()


def events(*specs: str, **lists: list[Any]) -> pl.DataFrame:
    """Build an events frame from the compact notation (see the module docstring)."""
    columns = _columns_from_specs(specs) if specs else {}
    columns.update(lists)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns of different lengths: {lengths}")
    n = next(iter(lengths.values()), 0)
    data: dict[str, pl.Series] = {}
    ids = columns.pop("id", list(range(1, n + 1)))
    data["id"] = pl.Series("id", ids, dtype=_dtype(ids))
    offsets = columns.pop("ts", list(range(n)))
    data["ts"] = pl.Series(
        "ts",
        [at(float(s)) if isinstance(s, int | float) else s for s in offsets],
        dtype=pl.Datetime("us", "UTC"),
    )
    for name, values in columns.items():
        data[name] = pl.Series(name, values, dtype=_dtype(values))
    return pl.DataFrame(data)


def make_pattern(spec: Any = None, **fields: Any) -> Any:
    """A ``MatchRecognizePattern`` from PATTERN text, a dict of fields, or keyword fields."""
    from cep.model import parse_pattern

    if spec is not None and not isinstance(spec, str | dict):
        return spec  # already a pattern value
    value: dict[str, Any] = {"kind": "match_recognize", "name": "t"}
    if isinstance(spec, str):
        value["pattern"] = spec
    elif isinstance(spec, dict):
        value.update(spec)
    value.update(fields)
    return parse_pattern(value)


def find(matcher: Matcher, spec: Any, df: pl.DataFrame, **fields: Any) -> MatchResult:
    """Run ``matcher`` on ``df`` with the pattern given as in :func:`make_pattern`."""
    return matcher(make_pattern(spec, **fields), df)


def compact(result: MatchResult) -> list[tuple[Any, ...]]:
    """Each match as ``(key, event_ids, "A B B")`` (``key`` only with ``partition_by``)."""
    out: list[tuple[Any, ...]] = []
    for m in result.matches:
        labels = " ".join(m.classifiers)
        if not m.key:
            out.append((list(m.event_ids), labels))
        else:
            values = tuple(m.key.values())
            key = values[0] if len(values) == 1 else values
            out.append((key, list(m.event_ids), labels))
    return out


def run(matcher: Matcher, spec: Any, df: pl.DataFrame, **fields: Any) -> list[tuple[Any, ...]]:
    """Run ``matcher`` and return the compact view of :func:`compact`."""
    return compact(find(matcher, spec, df, **fields))
