"""Explain matches: the bound events' payloads, a timeline of what each condition saw, and the
engine state at completion (DESIGN.md §5.4).

All matches of a result are explained together: their bound events are found with one join on
the event id, row-local clauses are evaluated once over the whole key-sorted frame, and the state
snapshots are recomputed per kind from the events with sorted-array searches
(``cep.explain.snapshot``). Only conditions that depend on the match path (``A.price``,
aggregates, FIRST/LAST) are evaluated per bound event.

>>> from datetime import UTC, datetime, timedelta
>>> from cep.matcher import find_matches
>>> from cep.model import parse_pattern
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> events = pl.DataFrame({"id": [1, 2, 3], "ts": [t0 + timedelta(seconds=s) for s in (0, 1, 2)],
...                        "price": [10, 8, 12]})
>>> v = parse_pattern({"kind": "match_recognize", "name": "v", "pattern": "A B C",
...                    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"}})
>>> [(t.step, t.fields, [(c.text, c.value) for c in t.clauses])
...  for t in explain_match(v, events, find_matches(v, events).matches[0]).timeline]
[('A', {}, []), ('B', {'price': 8}, [('price < PREV(price)', True)]), \
('C', {'price': 12}, [('price > PREV(price)', True)])]
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from cep import expr as E
from cep.errors import CepError, EventDataError, PatternError
from cep.explain.assemble import Computed, Explanations
from cep.explain.bindings import Bindings
from cep.explain.keyed import ID, KEY, POS, KeyedEvents, key_label, prepare_keyed, unique_ids
from cep.explain.payload import MatchExplanation
from cep.explain.rules import Rule, clause_values, conjuncts, parse, rules_of, truth
from cep.explain.snapshot import MatchTimes, snapshots
from cep.model import GeofencePattern, MatchRecognizePattern, Pattern, StateMachinePattern
from cep.results import Match, MatchResult

__all__ = ["DEFAULT_MAX_EVENTS", "explain_match", "explain_result"]

DEFAULT_MAX_EVENTS = 50
"""Bound events shown per match (payloads and timeline); the rest are counted in ``more_events``."""

_S = "__s"  # position in the sorted events


def explain_match(pattern: Pattern, events: pl.DataFrame, match: Match, *,
                  max_events: int = DEFAULT_MAX_EVENTS) -> MatchExplanation:
    """Explain one match of ``pattern`` found in ``events``.

    Raises:
        PatternError: the match belongs to another pattern.
        EventDataError: a bound event is not in ``events`` (or the key does not fit).
    """
    return explain_result(pattern, events, [match], max_events=max_events)[0]


def explain_result(pattern: Pattern, events: pl.DataFrame,
                   result: MatchResult | Sequence[Match], *,
                   max_events: int = DEFAULT_MAX_EVENTS) -> Explanations:
    """Explain every match of a result, in the result's order (vectorised over matches).

    The work over events is done here, for all matches at once: bound events are found with
    one join on their ids, row-local clauses are evaluated over the whole sorted frame and
    picked at the bound events, keys are checked with array reductions. As the matcher does for
    its ``Match`` objects, the returned sequence builds its ``MatchExplanation`` objects (and
    the per-match state snapshots) when it is first read.

    Args:
        pattern: the pattern that produced the matches.
        events: the events it ran on (as given to ``find_matches``).
        result: a ``MatchResult`` or a list of its matches.
        max_events: bound events shown per match; the rest are counted in ``more_events``.

    Raises:
        PatternError: a match belongs to another pattern.
        EventDataError: a bound event is not in ``events``, or sits under another key.
    """
    if max_events < 1:
        raise EventDataError(f"max_events must be at least 1, got {max_events}")
    matches = list(result.matches if isinstance(result, MatchResult) else result)
    for m in matches:
        if m.pattern != pattern.name:
            raise PatternError(f"match of pattern {m.pattern!r} cannot be explained with pattern "
                               f"{pattern.name!r}: explain a match with the pattern that found it")
    if not matches:
        return Explanations.none(pattern.kind, pattern.order_by)
    keyed = prepare_keyed(pattern, events, check_ids=False)
    bound = _Bound.find(keyed, matches, max_events)
    key_numbers = _check_keys(keyed, matches, bound)
    checks = _clauses(pattern, keyed, matches, bound)
    times = MatchTimes(matches)
    return Explanations(Computed(
        kind=pattern.kind, time_column=pattern.order_by, matches=matches,
        offsets=bound.offsets, events=keyed.events, ids=bound.ids, rows=pl.Series(keyed.order[bound.sorted_pos]),
        labels=bound.labels, rules=checks.rule_names, clause_values=checks.all_values,
        texts=checks.texts, fields=checks.fields,
        snapshots=snapshots(pattern, keyed, matches, key_numbers, times), times=times,
        plain_ids=keyed.id_column is None or _plain(keyed.events.schema[keyed.id_column])))


def _plain(dtype: pl.DataType) -> bool:
    """Whether values of the dtype are their own JSON form (and never NaN)."""
    return dtype.is_integer() or dtype == pl.String


@dataclass
class _Bound:
    """The shown bound events of all matches, in match order.

    Attributes:
        offsets: match i's events are ``offsets[i]:offsets[i + 1]``.
        ids: their ids.
        labels: their classifiers.
        sorted_pos: their positions in the sorted events.
    """

    offsets: list[int]
    ids: list[Any]
    labels: list[str]
    sorted_pos: npt.NDArray[np.int64]

    @classmethod
    def find(cls, keyed: KeyedEvents, matches: list[Match], max_events: int) -> _Bound:
        counts = [len(m.event_ids) for m in matches]
        if max(counts) <= max_events:  # nothing to cut: chain the lists as they are
            ids = list(itertools.chain.from_iterable([m.event_ids for m in matches]))
            labels = list(itertools.chain.from_iterable([m.classifiers for m in matches]))
        else:
            counts = [min(c, max_events) for c in counts]
            ids = list(itertools.chain.from_iterable(m.event_ids[:max_events] for m in matches))
            labels = list(itertools.chain.from_iterable(
                m.classifiers[:max_events] for m in matches))
        positions = _positions(keyed, ids)
        missing = np.flatnonzero(positions < 0)
        if missing.shape[0]:
            n = int(missing[0])
            m = int(np.searchsorted(np.cumsum(counts), n, side="right"))
            raise EventDataError(f"event {ids[n]!r} of match {m + 1} is not in the events: "
                                 "explain a match with the events it was found in")
        return cls(offsets=list(itertools.accumulate(counts, initial=0)), ids=ids, labels=labels,
                   sorted_pos=positions)


def _positions(keyed: KeyedEvents, ids: list[Any]) -> npt.NDArray[np.int64]:
    """Sorted position of each event id (-1: not an event). Integer ids in a compact range are
    looked up in an inverse table; other ids are found with a join."""
    all_ids = keyed.ids()
    try:
        wanted = pl.Series(ID, ids, dtype=all_ids.dtype, strict=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        raise EventDataError(f"match event ids {ids[:5]!r} do not have the events' id type "
                             f"{all_ids.dtype}: explain a match with the events it was found "
                             "in") from None
    n = keyed.height
    if all_ids.dtype.is_integer() and n and not wanted.has_nulls():
        known = all_ids.to_numpy().astype(np.int64, copy=False)
        low, high = int(known.min()), int(known.max())
        if high - low < 4 * n + 1024:
            inverse = np.full(high - low + 1, -1, dtype=np.int64)
            inverse[known - low] = np.arange(n, dtype=np.int64)
            if int(np.count_nonzero(inverse >= 0)) != n:
                _repeated(keyed)
            asked = wanted.to_numpy().astype(np.int64, copy=False) - low
            inside = (asked >= 0) & (asked < inverse.shape[0])
            out = np.full(asked.shape[0], -1, dtype=np.int64)
            out[inside] = inverse[asked[inside]]
            return out
    if not unique_ids(all_ids):
        _repeated(keyed)
    table = pl.DataFrame({ID: all_ids, _S: np.arange(n, dtype=np.int64)})
    found = wanted.to_frame().join(table, on=ID, how="left", maintain_order="left")
    return found.get_column(_S).fill_null(-1).to_numpy()


def _repeated(keyed: KeyedEvents) -> None:
    raise EventDataError(
        f"event ids in {keyed.id_column or 'row numbers'!r} repeat; explanations find bound "
        "events by id: set the pattern's id_field to a unique column")


def _check_keys(keyed: KeyedEvents, matches: list[Match], bound: _Bound) -> list[int]:
    """Key number of each match; every bound event must sit under the match's key."""
    offsets = np.asarray(bound.offsets, dtype=np.int64)
    has = offsets[1:] > offsets[:-1]
    numbers = np.zeros(len(matches), dtype=np.int64)
    if bound.ids:
        parts = keyed.part()[bound.sorted_pos]
        starts = offsets[:-1][has]
        low = np.minimum.reduceat(parts, starts)
        high = np.maximum.reduceat(parts, starts)
        numbers[has] = low
        split = np.flatnonzero(low != high)
        if split.shape[0]:
            i = int(np.flatnonzero(has)[split[0]])
            raise EventDataError(f"match {i + 1} binds events of several keys: explain a match "
                                 "with the events it was found in")
    keys = keyed.keys
    listed = numbers.tolist()
    # Matches of one key usually share its dict: compare each (dict, key number) pair once.
    first: dict[tuple[int, int], int] = {}
    for i, (m, n, h) in enumerate(zip(matches, listed, has.tolist(), strict=True)):
        if h:
            first.setdefault((id(m.key), n), i)
    wrong = sorted(i for i in first.values() if matches[i].key != keys[listed[i]])
    if wrong:
        i = wrong[0]
        raise EventDataError(
            f"match {i + 1} has key {key_label(dict(matches[i].key))} but its events belong to "
            f"{key_label(keys[listed[i]])}: explain a match with the events it was found in")
    if not has.all():
        lookup = {tuple(k.values()): n for n, k in enumerate(keys)}
        columns = keyed.pattern.partition_by
        for i in np.flatnonzero(~has).tolist():
            key = matches[i].key
            number = lookup.get(tuple(key.get(c) for c in columns)) if set(key) == set(
                columns) else None
            if number is None:
                raise EventDataError(f"match {i + 1} has key {key_label(dict(key))}, which no "
                                     "event has")
            listed[i] = number
    return listed


@dataclass
class _Checks:
    """Per shown bound event: the rule it was tested by and its clause values."""

    rule_names: list[str | None]
    values: list[tuple[bool | None, ...] | None]
    texts: dict[str, tuple[str, ...]]
    fields: dict[str, tuple[str, ...]]
    store: dict[str, list[list[Any]]] = dataclasses.field(default_factory=dict)
    slot: npt.NDArray[np.int64] | None = None

    def all_values(self) -> list[tuple[bool | None, ...] | None]:
        """The clause values of every shown bound event (None: it was not tested)."""
        values = list(self.values)
        if self.slot is None:
            return values
        tuples = {name: list(zip(*([truth(v) for v in column] for column in columns),
                                 strict=True))
                  for name, columns in self.store.items()}
        for j, k in enumerate(self.slot.tolist()):
            name = self.rule_names[j]
            if k >= 0 and values[j] is None and name is not None:
                values[j] = tuples[name][k]
        return values


def _clauses(pattern: Pattern, keyed: KeyedEvents, matches: list[Match], bound: _Bound
             ) -> _Checks:
    rules = rules_of(pattern)
    n = len(bound.ids)
    mapping = {c: _rule_for(pattern, rules, c) for c in set(bound.labels)}
    names: list[str | None] = (list(map(mapping.__getitem__, bound.labels)) if rules
                               else [None] * n)
    values: list[tuple[bool | None, ...] | None] = [None] * n
    store: dict[str, list[list[Any]]] = {}
    slot = np.full(n, -1, dtype=np.int64)
    local = {k: r for k, r in rules.items() if r.row_local and r.clauses}
    if local:
        needed = [c for c in keyed.columns if c in {f for r in local.values() for f in r.fields}]
        neighbours = any(isinstance(x, E.Nav) for r in local.values() for c in r.clauses
                         for x in E.walk(c))
        if neighbours:  # PREV / NEXT read the rows around each event: evaluate on all rows
            source = keyed.sorted_select(needed)
        else:  # the bound rows alone suffice
            source = keyed.events.select(needed)[pl.Series(keyed.order[bound.sorted_pos])]
            source = source.with_columns(pl.lit(0, pl.Int64).alias(KEY))
        frame, columns = clause_values(source, local, KEY)
        number: dict[str | None, int] = {name: k for k, name in enumerate(columns)}
        named = np.fromiter((number.get(c, -1) for c in names), dtype=np.int64, count=n)
        for name, cols in columns.items():
            if not cols:
                continue
            found = np.flatnonzero(named == number[name])
            if not found.shape[0]:
                continue
            at = bound.sorted_pos[found] if neighbours else found
            taken = frame.select(cols)[pl.Series(at)]
            store[name] = [taken.get_column(c).to_list() for c in cols]
            slot[found] = np.arange(found.shape[0], dtype=np.int64)
    slow = {k for k, r in rules.items() if not r.row_local and r.clauses}
    for name in [k for k in slow if _refs_only(rules[k], pattern)]:
        _ref_clauses(pattern, keyed, bound, name, rules[name], names, values)
        slow.discard(name)
    if slow:
        _path_clauses(pattern, keyed, matches, bound, rules, names, values, slow)
    if isinstance(pattern, GeofencePattern):
        return _geofence_checks(pattern, keyed, bound, names)
    if isinstance(pattern, StateMachinePattern):
        return _state_machine_checks(pattern, keyed, matches, bound)
    return _Checks(rule_names=names, values=values,
                   texts={k: r.texts for k, r in rules.items()},
                   fields={k: r.fields for k, r in rules.items()}, store=store, slot=slot)


def _norm(pattern: Pattern, var: str) -> str:
    return var.upper() if isinstance(pattern, MatchRecognizePattern) else var


def _refs_only(rule: Rule, pattern: Pattern) -> bool:
    """Whether the rule reads other steps only as ``X.field`` (the last event bound to X)."""
    own = _norm(pattern, rule.row_var or "")
    for clause in rule.clauses:
        for node in E.walk(clause):
            if isinstance(node, E.Nav | E.Agg | E.Classifier | E.MatchNumber):
                return False
            if isinstance(node, E.Col) and node.var is not None and (
                    isinstance(pattern, MatchRecognizePattern) and pattern.subset
                    and _norm(pattern, node.var) != own):
                return False
    return True


def _substitute(e: E.Expr, columns: dict[tuple[str, str], str], pattern: Pattern,
                own: str) -> E.Expr:
    """``X.field`` → the column holding the last X event's field; ``own.field`` → ``field``."""
    if isinstance(e, E.Col) and e.var is not None:
        var = _norm(pattern, e.var)
        return E.Col(e.name, None) if var == own else E.Col(columns[(var, e.name)], None)
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(e):  # type: ignore[arg-type]
        value = getattr(e, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(
                tuple(_substitute(x, columns, pattern, own) if _is_expr(x) else x for x in v)
                if isinstance(v, tuple) else (_substitute(v, columns, pattern, own)
                                              if _is_expr(v) else v)
                for v in value)
        elif _is_expr(value):
            changes[f.name] = _substitute(value, columns, pattern, own)
    return dataclasses.replace(e, **changes) if changes else e  # type: ignore[type-var]


def _is_expr(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _ref_clauses(pattern: Pattern, keyed: KeyedEvents, bound: _Bound, name: str, rule: Rule,
                 names: list[str | None], values: list[tuple[bool | None, ...] | None]) -> None:
    """Clauses reading ``X.field`` of earlier steps, vectorised: the last X event of each match
    is found in one pass over the bound events, its fields gathered, the clause run by Polars."""
    own = _norm(pattern, rule.row_var or "")
    refs = sorted({(_norm(pattern, n.var), n.name) for c in rule.clauses for n in E.walk(c)
                   if isinstance(n, E.Col) and n.var is not None
                   and _norm(pattern, n.var) != own})
    columns = {ref: f"__ref_{i}" for i, ref in enumerate(refs)}
    picked: list[int] = []
    ref_pos: dict[tuple[str, str], list[int | None]] = {ref: [] for ref in refs}
    offsets = bound.offsets
    labels = [_norm(pattern, c) for c in bound.labels]
    for i in range(len(offsets) - 1):
        last: dict[str, int] = {}
        for j in range(offsets[i], offsets[i + 1]):
            if names[j] == name:
                picked.append(j)
                for ref in refs:
                    ref_pos[ref].append(last.get(ref[0]))
            last[labels[j]] = int(bound.sorted_pos[j])
    if not picked:
        return
    own_fields = [c for c in keyed.columns
                  if c in {n.name for cl in rule.clauses for n in E.walk(cl)
                           if isinstance(n, E.Col) and (n.var is None
                                                        or _norm(pattern, n.var) == own)}]
    frame = keyed.sorted_select(own_fields)[pl.Series(bound.sorted_pos[picked])]
    extra = []
    for ref, column in columns.items():
        positions = pl.Series(ref_pos[ref], dtype=pl.Int64)
        source = keyed.events.get_column(ref[1])[pl.Series(keyed.order)]
        extra.append(source.gather(positions).alias(column))
    frame = frame.with_columns(extra)
    exprs = [E.to_polars(_substitute(c, columns, pattern, own)).cast(pl.Boolean).alias(f"__c{k}")
             for k, c in enumerate(rule.clauses)]
    result = frame.select(exprs)
    for j, vals in zip(picked, zip(*(result.get_column(f"__c{k}").to_list()
                                     for k in range(len(exprs))), strict=True), strict=True):
        values[j] = vals


def _path_clauses(pattern: Pattern, keyed: KeyedEvents, matches: list[Match], bound: _Bound,
                  rules: dict[str, Rule], names: list[str | None],
                  values: list[tuple[bool | None, ...] | None], slow: set[str]) -> None:
    """Clauses that read the match path, evaluated per bound event with the match's bindings."""
    frame = keyed.frame
    columns = keyed.columns
    positions = frame.get_column(POS).to_numpy()
    key_rows: dict[int, list[dict[str, Any]]] = {}
    for i, m in enumerate(matches):
        a, b = bound.offsets[i], bound.offsets[i + 1]
        if not any(names[j] in slow for j in range(a, b)):
            continue
        sorted_pos = bound.sorted_pos[a:b]
        k = int(keyed.part()[sorted_pos[0]])
        if k not in key_rows:
            key_rows[k] = keyed.key_frame(k).select(columns).to_dicts()
        start = keyed.key_slice(k)[0]
        rows = [key_rows[k][int(p) - start] for p in sorted_pos]
        bindings = Bindings(rows=rows, positions=[int(positions[p]) for p in sorted_pos],
                            classifiers=bound.labels[a:b], key_rows=key_rows[k],
                            case_insensitive=isinstance(pattern, MatchRecognizePattern),
                            subsets=dict(pattern.subset)
                            if isinstance(pattern, MatchRecognizePattern) else {},
                            match_number=m.match_number)
        for j in range(a, b):
            name = names[j]
            if name is not None and name in slow:
                rule = rules[name]
                values[j] = tuple(truth(bindings.evaluate(c, j - a, rule.row_var))
                                  for c in rule.clauses)


def _rule_for(pattern: Pattern, rules: dict[str, Rule], classifier: str) -> str | None:
    if classifier in rules:
        return classifier
    if isinstance(pattern, MatchRecognizePattern):
        upper = classifier.upper()
        for name in rules:
            if name.upper() == upper:
                return name
    return None


def _geofence_checks(pattern: GeofencePattern, keyed: KeyedEvents, bound: _Bound,
                     names: list[str | None]) -> _Checks:
    """One clause per bound event: is it inside the shape (the matcher's own geometry)."""
    from cep.matcher.detectors import _geo

    rows = pl.Series(keyed.order[bound.sorted_pos])
    points = keyed.events.select(pl.col(pattern.lat_field).cast(pl.Float64),
                                 pl.col(pattern.lon_field).cast(pl.Float64))[rows]
    lat = points.to_series(0).to_numpy()
    lon = points.to_series(1).to_numpy()
    if pattern.shape.type == "circle":
        inside, _ = _geo.circle_inside(pattern.shape, lat, lon)
        text = (f"distance from ({pattern.shape.center.lat}, {pattern.shape.center.lon}) "
                f"<= {pattern.shape.radius_m:g} m")
    else:
        inside = _geo.polygon_inside(pattern.shape, lat, lon)
        text = f"inside the polygon of {len(pattern.shape.vertices)} vertices"
    fields = (pattern.lat_field, pattern.lon_field)
    return _Checks(rule_names=["inside"] * len(names),
                   values=[(bool(v),) for v in inside.tolist()],
                   texts={"inside": (text,)}, fields={"inside": fields})


def _state_machine_checks(pattern: StateMachinePattern, keyed: KeyedEvents,
                          matches: list[Match], bound: _Bound) -> _Checks:
    """Per bound event, the clauses of the transition it took (the first listed that fits)."""
    conditions = [parse(t.when) if t.when else None for t in pattern.transitions]
    texts = {f"#{n}": tuple(E.to_sql(c) for c in conjuncts(cond)) if cond is not None else ()
             for n, cond in enumerate(conditions)}
    read: list[str] = []
    for cond in conditions:
        if cond is not None:
            read += [x.name for x in E.walk(cond) if isinstance(x, E.Col)]
    fields = tuple(dict.fromkeys(read))
    rows = (keyed.events[pl.Series(keyed.order[bound.sorted_pos])].to_dicts()
            if bound.ids else [])
    names: list[str | None] = [None] * len(rows)
    values: list[tuple[bool | None, ...] | None] = [None] * len(rows)
    for i, m in enumerate(matches):
        a, b = bound.offsets[i], bound.offsets[i + 1]
        before = m.measures.get("from", pattern.initial) if len(m.event_ids) == 1 else (
            pattern.initial)
        for j in range(a, b):
            state = bound.labels[j]
            if state == "unmatched":
                continue
            for n, (t, cond) in enumerate(zip(pattern.transitions, conditions, strict=True)):
                if t.from_ not in (before, "*") or t.to != state:
                    continue
                vals = tuple(truth(_safe_eval(c, rows[j])) for c in conjuncts(cond)) if (
                    cond is not None) else ()
                if all(vals):
                    names[j], values[j] = f"#{n}", vals
                    break
            before = state
    return _Checks(rule_names=names, values=values, texts=texts,
                   fields=dict.fromkeys(texts, fields))


def _safe_eval(e: E.Expr, row: dict[str, Any]) -> Any:
    try:
        return E.eval_row(e, row)
    except CepError:  # a clause that cannot be evaluated on this event shows as NULL
        return None
