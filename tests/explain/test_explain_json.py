"""The column-wise JSON forms of explanations equal the objects' own JSON forms.

``Explanations.to_json_dicts`` builds every explanation's JSON form without building the
objects (``cep.explain.assemble``); ``MatchExplanation.to_json_dict`` is the reference. They are
compared on every pattern of every template pack (all 13 kinds) on a 2,000-event sample, and
``json_records`` (the column-wise snapshot conversion) against ``json_tree`` on generated
records.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.explain import MatchExplanation, explain_result
from cep.explain.jsonform import json_records, json_tree
from cep.matcher import find_matches
from cep.model import parse_pattern
from cep.packs import generate_sample, list_packs

CASES = [(pack, name) for pack in list_packs() for name in pack.patterns]


@pytest.fixture(scope="module")
def samples() -> dict[str, pl.DataFrame]:
    return {pack.name: generate_sample(pack, events=2_000, seed=1)[0] for pack in list_packs()}


def test_every_kind_is_covered() -> None:
    kinds = {pack.patterns[name].kind for pack, name in CASES}
    assert len(kinds) == 13


@pytest.mark.parametrize(("pack", "name"), CASES, ids=[f"{p.name}-{n}" for p, n in CASES])
def test_json_forms_equal_each_explanations_own(pack, name, samples) -> None:
    pattern = pack.patterns[name]
    events = samples[pack.name]
    result = find_matches(pattern, events)
    explained = explain_result(pattern, events, result, max_events=5)
    forms = explained.to_json_dicts()
    assert len(forms) == len(result.matches)
    assert forms == [e.to_json_dict() for e in explained]
    # JSON text and back: the same values, and the objects read back equal to the JSON form.
    assert json.loads(json.dumps(forms)) == forms
    assert [MatchExplanation.from_json_dict(f).to_json_dict() for f in forms] == forms


def test_each_call_gives_new_json_forms_the_caller_may_change() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = pl.DataFrame({"id": [1, 2], "ts": [t0, t0 + timedelta(seconds=1)],
                           "type": ["A", "B"], "price": [float("inf"), 2.5]})
    pattern = parse_pattern({"kind": "sequence", "name": "ab", "within": "1m", "steps": [
        {"name": "a", "where": "type = 'A'"}, {"name": "b", "where": "type = 'B'"}]})
    explained = explain_result(pattern, events, find_matches(pattern, events))
    [first] = explained.to_json_dicts()
    assert first["matched_event_payloads"] == [
        {"id": 1, "ts": "2024-01-01T00:00:00", "type": "A", "price": None},
        {"id": 2, "ts": "2024-01-01T00:00:01", "type": "B", "price": 2.5}]
    assert first["state_snapshot"] == {
        "steps_total": 2,
        "steps": [{"step": "a", "events": 1, "times_min": 1, "times_max": 1},
                  {"step": "b", "events": 1, "times_min": 1, "times_max": 1}],
        "step_index_per_event": [1, 2], "after_match_skip": "PAST LAST EVENT", "span_s": 1.0,
        "within_s": 60.0, "window_left_s": 59.0, "window_end": "2024-01-01T00:01:00"}
    first["timeline"][0]["fields"]["type"] = "changed"
    first["state_snapshot"]["steps"][0]["events"] = 99
    [second] = explained.to_json_dicts()
    assert second["timeline"][0]["fields"] == {"type": "A"}
    assert second["state_snapshot"]["steps"][0]["events"] == 1


def test_no_matches_give_no_json_forms() -> None:
    pattern = parse_pattern({"kind": "count_threshold", "name": "c", "where": "x > 1",
                             "threshold": 2, "window": "1m"})
    explained = explain_result(pattern, pl.DataFrame({"ts": [], "x": []}), [])
    assert len(explained) == 0
    assert explained.to_json_dicts() == []


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                 timezones=st.sampled_from([UTC])),
    st.timedeltas(max_value=timedelta(days=3), min_value=timedelta(0)),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)),
    max_leaves=6)


@st.composite
def _records(draw: st.DrawFn) -> list[dict[object, object]]:
    """Records that mostly share their fields (as snapshots do), sometimes not."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", 1]), unique=True, max_size=4))
    shared = draw(st.booleans())
    count = draw(st.integers(0, 6))
    out = []
    for _ in range(count):
        own = names if shared else draw(st.lists(st.sampled_from(["a", "b", "c", 1]),
                                                 unique=True, max_size=4))
        out.append({n: draw(_VALUES) for n in own})
    return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(_records())
def test_json_records_equal_json_tree_of_each_record(records) -> None:
    expected = [json_tree(r) for r in records]
    assert _same(json_records(records), expected)


def test_empty_match_recognize_matches_have_json_forms_too() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = pl.DataFrame({"id": [1, 2, 3], "ts": [t0 + timedelta(seconds=s) for s in range(3)],
                           "price": [1, 5, 2]})
    pattern = parse_pattern({"kind": "match_recognize", "name": "e", "pattern": "A*",
                             "define": {"A": "price > 3"}, "within": "1m"})
    explained = explain_result(pattern, events, find_matches(pattern, events))
    forms = explained.to_json_dicts()
    assert [(f["event_ids"], f["state_snapshot"]["variables"]) for f in forms] == [
        ([], {"A": 0}), ([2], {"A": 1}), ([], {"A": 0})]
    assert forms[0]["state_snapshot"]["window_end"] == "2024-01-01T00:01:00"
    assert forms == [e.to_json_dict() for e in explained]
