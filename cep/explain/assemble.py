"""Explanations assembled from what ``explain_result`` computed: as objects, or straight to JSON.

``explain_result`` does the work over events for all matches at once (``cep.explain.matches``)
and hands the results here as columns: per shown bound event its row, rule and clause values,
per match its state snapshot. :class:`Explanations` turns them into the two forms a caller may
want, each built on its own, column by column where it can:

* the :class:`~cep.explain.payload.MatchExplanation` objects (on first access);
* their JSON forms (:meth:`Explanations.to_json_dicts`), converted by Polars column by column
  without building the objects first — the form the Explain page, the history, the CLI and
  MCP read.

>>> from datetime import UTC, datetime, timedelta
>>> from cep.explain import explain_result
>>> from cep.matcher import find_matches
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> events = pl.DataFrame({"id": [7, 8], "ts": [t0, t0 + timedelta(seconds=30)],
...                        "type": ["A", "B"]})
>>> ab = parse_pattern({"kind": "sequence", "name": "ab", "within": "1m",
...                     "steps": [{"name": "a", "where": "type = 'A'"},
...                               {"name": "b", "where": "type = 'B'"}]})
>>> explained = explain_result(ab, events, find_matches(ab, events))
>>> [form] = explained.to_json_dicts()
>>> form["timeline"][1]
{'event_id': 8, 'time': '2024-01-01T00:00:30', 'step': 'b', 'fields': {'type': 'B'}, \
'clauses': [{'text': "type = 'B'", 'value': True}]}
>>> form == explained[0].to_json_dict()
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, overload

import polars as pl

from cep.explain.jsonform import json_row, json_rows, json_value
from cep.explain.payload import ClauseCheck, MatchExplanation, TimelineEntry
from cep.explain.snapshot import MatchTimes, Snapshots, no_gc
from cep.results import Match, format_time

__all__ = ["Computed", "Explanations"]


@dataclass
class Computed:
    """What ``explain_result`` computed, as columns.

    Attributes:
        kind: the pattern's kind.
        time_column: the pattern's event-time field.
        matches: the matches explained, in order.
        offsets: match i's shown bound events are ``offsets[i]:offsets[i + 1]``.
        events: the events explained.
        ids: the ids of the shown bound events, in match order.
        rows: their input rows (see :attr:`shown`).
        labels: their classifiers.
        rules: the rule each was tested by (None: it was not tested).
        clause_values: gives, per shown bound event, the values of its rule's clauses (None:
            not evaluated); see :attr:`values`.
        texts: rule → its clauses as SQL.
        fields: rule → the fields it reads.
        snapshots: the matches' state snapshots.
        times: the matches' starts and ends.
        plain_ids: whether every event id is an integer or text (its own JSON form).
    """

    kind: str
    time_column: str
    matches: list[Match]
    offsets: list[int]
    events: pl.DataFrame
    ids: list[Any]
    rows: pl.Series
    labels: list[str]
    rules: list[str | None]
    clause_values: Callable[[], list[tuple[bool | None, ...] | None]]
    texts: dict[str, tuple[str, ...]]
    fields: dict[str, tuple[str, ...]]
    snapshots: Snapshots
    times: MatchTimes
    plain_ids: bool = False

    @cached_property
    def shown(self) -> pl.DataFrame:
        """The shown bound events (all their fields), in order."""
        return self.events[self.rows]

    @cached_property
    def values(self) -> list[tuple[bool | None, ...] | None]:
        """Per shown bound event, the values of its rule's clauses (None: not evaluated)."""
        return self.clause_values()

    def read_fields(self) -> dict[str, tuple[str, ...]]:
        """Rule → the fields it reads that the events have (in the rule's order)."""
        present = set(self.shown.columns)
        return {name: tuple(f for f in names if f in present)
                for name, names in self.fields.items()}


class Explanations(Sequence[MatchExplanation]):
    """The explanations of a result, in its order.

    The objects are built on first access (as the matcher builds its ``Match`` objects);
    :meth:`to_json_dicts` gives every explanation's JSON form without building them.
    """

    def __init__(self, computed: Computed) -> None:
        self._computed = computed
        self._items: list[MatchExplanation] | None = None

    def _all(self) -> list[MatchExplanation]:
        if self._items is None:
            with no_gc():
                self._items = _objects(self._computed)
        return self._items

    @classmethod
    def none(cls, kind: str, time_column: str) -> Explanations:
        """The explanations of no matches."""
        return cls(Computed(kind=kind, time_column=time_column, matches=[], offsets=[0],
                            events=pl.DataFrame(), ids=[], rows=pl.Series([], dtype=pl.Int64),
                            labels=[], rules=[], clause_values=list, texts={},
                            fields={}, snapshots=Snapshots.of_records(list),
                            times=MatchTimes([])))

    def __len__(self) -> int:
        return len(self._computed.matches)

    @overload
    def __getitem__(self, index: int) -> MatchExplanation: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[MatchExplanation]: ...
    def __getitem__(self, index: int | slice) -> MatchExplanation | Sequence[MatchExplanation]:
        return self._all()[index]

    def __iter__(self) -> Iterator[MatchExplanation]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} explanations>"

    def to_json_dicts(self) -> list[dict[str, Any]]:
        """Every explanation's JSON form (``MatchExplanation.to_json_dict``), new on each call."""
        with no_gc():
            return _json_forms(self._computed)


def _objects(c: Computed) -> list[MatchExplanation]:
    """The explanation objects."""
    if not c.matches:
        return []
    names = c.shown.columns
    rows = [dict(zip(names, values, strict=True)) for values in zip(
        *(c.shown.get_column(n).to_list() for n in names), strict=True)]
    times = [row[c.time_column] for row in rows]
    ids = c.ids
    read = c.read_fields()
    checks: dict[tuple[str, tuple[bool | None, ...]], tuple[ClauseCheck, ...]] = {}
    timeline = []
    for j, (row, name, vals) in enumerate(zip(rows, c.rules, c.values, strict=True)):
        clauses: tuple[ClauseCheck, ...] = ()
        fields: dict[str, Any] = {}
        if name is not None:
            if vals is not None:
                found = checks.get((name, vals))
                if found is None:
                    found = checks[(name, vals)] = tuple(
                        map(ClauseCheck, c.texts.get(name, ()), vals))
                clauses = found
            fields = {f: row[f] for f in read.get(name, ())}
        timeline.append(TimelineEntry(ids[j], times[j], c.labels[j], fields, clauses))
    out = []
    offsets, kind = c.offsets, c.kind
    for i, m in enumerate(c.matches):
        a, b = offsets[i], offsets[i + 1]
        out.append(MatchExplanation(
            pattern=m.pattern, kind=kind, key=dict(m.key), start=m.start, end=m.end,
            event_ids=tuple(m.event_ids), classifiers=tuple(m.classifiers),
            matched_event_payloads=tuple(rows[a:b]), more_events=len(m.event_ids) - (b - a),
            timeline=tuple(timeline[a:b]), state_snapshot=c.snapshots(i)))
    return out


def _json_forms(c: Computed) -> list[dict[str, Any]]:
    """The JSON forms, converted column by column (``MatchExplanation.to_json_dict``'s values)."""
    if not c.matches:
        return []
    payloads = json_rows(c.shown)
    if isinstance(c.shown.schema.get(c.time_column), pl.Datetime):
        times = [row[c.time_column] for row in payloads]
    else:
        times = [format_time(v) for v in c.shown.get_column(c.time_column).to_list()]
    def json_ids(ids: Sequence[Any]) -> list[Any]:  # a new list: the caller may change it
        return list(ids) if c.plain_ids else [json_value(v) for v in ids]

    read, texts = c.read_fields(), c.texts
    fields: list[dict[str, Any]] = []
    clauses: list[list[dict[str, Any]]] = []
    for row, name, vals in zip(payloads, c.rules, c.values, strict=True):
        if name is None:  # an event no condition tested (e.g. a match_recognize X*?)
            fields.append({})
            clauses.append([])
            continue
        fields.append({f: row[f] for f in read.get(name, ())})
        clauses.append([] if vals is None else [
            {"text": t, "value": v} for t, v in zip(texts.get(name, ()), vals, strict=True)])
    timeline = [{"event_id": i, "time": t, "step": s, "fields": f, "clauses": k}
                for i, t, s, f, k in zip(json_ids(c.ids), times, c.labels, fields, clauses,
                                         strict=True)]
    matches = c.matches
    snapshots = c.snapshots.json_forms()
    starts, ends = c.times.json_starts(), c.times.json_ends()
    out = []
    offsets, kind = c.offsets, c.kind
    for i, m in enumerate(matches):
        a, b = offsets[i], offsets[i + 1]
        out.append({
            "pattern": m.pattern, "kind": kind, "key": json_row(m.key),
            "start": starts[i], "end": ends[i], "event_ids": json_ids(m.event_ids),
            "classifiers": list(m.classifiers), "matched_event_payloads": payloads[a:b],
            "more_events": len(m.event_ids) - (b - a), "timeline": timeline[a:b],
            "state_snapshot": snapshots[i],
        })
    return out

