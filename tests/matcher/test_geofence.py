"""The ``geofence`` kind: inside tests (boundary included), enter / exit / dwell per key, the
time-driven dwell, stream/batch equivalence and agreement with the pure-Python benchmark.

Events are written as ``(id, second, key, lat, lon)`` rows; the shapes are a 1°×1° square
(lat, lon in [0, 1]), a right triangle with a slanted edge, and circles on the equator.
"""

from __future__ import annotations

import doctest
import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.kinds import geofence as bench
from cep.errors import EventDataError, PatternError
from cep.matcher import create_matcher, find_matches
from cep.matcher.detectors import _geo, geofence
from cep.matcher.stream import StreamMatcher
from cep.model import Circle, Polygon, parse_pattern
from cep.results import Match
from tests.matcher.test_stream_property import _disorder, _per_key, _timed_out

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SQUARE = {"type": "polygon", "vertices": [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1},
                                          {"lat": 1, "lon": 1}, {"lat": 1, "lon": 0}]}
TRIANGLE = {"type": "polygon", "vertices": [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 2},
                                            {"lat": 2, "lon": 0}]}  # slanted edge lat + lon = 2
L_SHAPE = {"type": "polygon", "vertices": [
    {"lat": 0, "lon": 0}, {"lat": 0, "lon": 2}, {"lat": 1, "lon": 2}, {"lat": 1, "lon": 1},
    {"lat": 2, "lon": 1}, {"lat": 2, "lon": 0}]}
DEGREE_M = 6_371_008.8 * math.pi / 180  # one degree of a great circle: 111,195.0802 m


def circle(radius_m: float, lat: float = 0.0, lon: float = 0.0) -> dict[str, Any]:
    return {"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": radius_m}


def fence(trigger: str, shape: dict[str, Any] | None = None, **fields: Any) -> Any:
    spec = {"kind": "geofence", "name": "fence", "partition_by": ["key"],
            "shape": shape or SQUARE, "trigger": trigger}
    spec.update(fields)
    return parse_pattern(spec)


def ev(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Events from ``(id, second, key, lat, lon)`` rows, in the order given."""
    return pl.DataFrame({
        "id": [r[0] for r in rows],
        "ts": [T0 + timedelta(seconds=r[1]) for r in rows],
        "key": [r[2] for r in rows],
        "lat": [float(r[3]) for r in rows],
        "lon": [float(r[4]) for r in rows],
    })


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def brief(matches: Any) -> list[tuple[Any, ...]]:
    return [(m.key["key"], m.event_ids, m.classifiers) for m in matches]


# --- docstrings -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", [geofence, _geo, bench], ids=lambda m: m.__name__)
def test_docstring_examples_pass(module: Any) -> None:
    failed, tried = doctest.testmod(module)
    assert tried
    assert not failed


# --- inside tests ---------------------------------------------------------------------------


@pytest.mark.parametrize(("lat", "lon"), [
    (0, 0), (0, 1), (1, 1), (1, 0),  # vertices
    (0, 0.5), (0.5, 1), (1, 0.25), (0.75, 0), (1, 0.1), (0.3, 0),  # edges (0.1, 0.3: decimals)
])
def test_points_exactly_on_a_square_outline_are_inside(lat: float, lon: float) -> None:
    square = Polygon.model_validate(SQUARE)
    assert _geo.polygon_inside(square, np.array([lat], float), np.array([lon], float)).tolist() \
        == [True]


@pytest.mark.parametrize(("lat", "lon"), [
    (1, 1), (0.5, 1.5), (1.5, 0.5), (0.3, 1.7), (1.9, 0.1), (0.7, 1.3), (2, 0), (0, 2),
])
def test_points_on_a_slanted_edge_or_its_vertices_are_inside(lat: float, lon: float) -> None:
    triangle = Polygon.model_validate(TRIANGLE)
    assert _geo.polygon_inside(triangle, np.array([lat], float), np.array([lon], float)).tolist() \
        == [True]


@pytest.mark.parametrize(("lat", "lon", "inside"), [
    (0.5, 0.5, True), (-0.000001, 0.5, False), (0.5, 1.000001, False), (1.0000001, 1, False),
    (1.5, 0.5, False), (0.5, -3, False), (1.2, 0.9, False),
])
def test_points_just_outside_a_square_are_outside(lat: float, lon: float, inside: bool) -> None:
    square = Polygon.model_validate(SQUARE)
    got = _geo.polygon_inside(square, np.array([lat]), np.array([lon])).tolist()
    assert got == [inside]


def test_a_concave_polygon_leaves_its_notch_outside() -> None:
    shape = Polygon.model_validate(L_SHAPE)
    lat = np.array([0.5, 1.5, 1.5, 1.0, 1.0, 0.5, 1.5])
    lon = np.array([1.5, 1.5, 0.5, 1.5, 1.0, 0.5, 1.0])
    # arm, notch, arm, notch edge, reflex vertex, corner area, notch edge
    assert _geo.polygon_inside(shape, lat, lon).tolist() == [True, False, True, True, True,
                                                             True, True]


def test_haversine_uses_the_mean_earth_radius() -> None:
    # One degree along the equator or a meridian is R·π/180 with R = 6,371,008.8 m.
    d = _geo.haversine_m(0.0, 0.0, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 180.0]))
    assert d.tolist() == pytest.approx([111_195.0802, 111_195.0802, 20_015_114.442], abs=1e-3)


@pytest.mark.parametrize(("lon", "inside"), [(1.0, True), (0.999, True), (1.0001, False)])
def test_a_point_at_exactly_the_radius_is_inside_the_circle(lon: float, inside: bool) -> None:
    shape = Circle.model_validate(circle(DEGREE_M))
    got, distance = _geo.circle_inside(shape, np.array([0.0]), np.array([lon]))
    assert got.tolist() == [inside]
    assert distance[0] == pytest.approx(DEGREE_M * lon, rel=1e-12)


# --- enter / exit ---------------------------------------------------------------------------


def test_the_first_event_of_a_key_only_sets_its_state() -> None:
    df = ev((1, 0, "a", 0.5, 0.5), (2, 1, "b", 5, 5), (3, 2, "a", 5, 5), (4, 3, "b", 0.5, 0.5))
    assert brief(find_matches(fence("enter"), df).matches) == [("b", [2, 4], ["outside", "inside"])]
    assert brief(find_matches(fence("exit"), df).matches) == [("a", [1, 3], ["inside", "outside"])]


def test_enter_and_exit_carry_both_events_times_and_the_crossing_position() -> None:
    df = ev((1, 0, "a", 2, 2), (2, 10, "a", 1, 0.5), (3, 20, "a", 0.5, 0.5), (4, 30, "a", 0, 3))
    [enter] = find_matches(fence("enter"), df).matches
    assert (enter.start, enter.end, enter.event_ids) == (at(0), at(10), [1, 2])
    assert enter.measures == {"lat": 1.0, "lon": 0.5}
    [exit_] = find_matches(fence("exit"), df).matches
    assert (exit_.start, exit_.end, exit_.event_ids) == (at(20), at(30), [3, 4])
    assert exit_.measures == {"lat": 0.0, "lon": 3.0}


def test_circle_matches_report_the_distance_from_the_centre() -> None:
    df = ev((1, 0, "a", 0, 2), (2, 1, "a", 0, 1))
    [m] = find_matches(fence("enter", circle(DEGREE_M)), df).matches
    assert m.event_ids == [1, 2]
    assert m.measures["distance_m"] == pytest.approx(DEGREE_M, rel=1e-12)


def test_every_crossing_matches_and_keys_come_in_order_of_first_appearance() -> None:
    df = ev((1, 0, "b", 5, 5), (2, 1, "a", 5, 5), (3, 2, "a", 0.5, 0.5), (4, 3, "b", 0.5, 0.5),
            (5, 4, "a", 5, 5), (6, 5, "a", 0, 0), (7, 6, "b", 0.2, 0.2))
    assert brief(find_matches(fence("enter"), df).matches) == [
        ("b", [1, 4], ["outside", "inside"]),
        ("a", [2, 3], ["outside", "inside"]), ("a", [5, 6], ["outside", "inside"]),
    ]


def test_events_are_taken_in_time_order_and_equal_times_in_input_order() -> None:
    # Input order is not time order; ids 2 (outside) and 3 (inside) share a time and keep
    # their input order: 1 in, 2 out, 3 in, 4 in.
    df = ev((4, 6, "a", 0.5, 0.5), (1, 0, "a", 0.5, 0.5), (2, 5, "a", 9, 9), (3, 5, "a", 1, 1))
    assert brief(find_matches(fence("enter"), df).matches) == [("a", [2, 3], ["outside", "inside"])]
    assert brief(find_matches(fence("exit"), df).matches) == [("a", [1, 2], ["inside", "outside"])]
    # The same rows with 3 given before 2: 1 in, 3 in, 2 out, 4 in.
    swapped = ev((4, 6, "a", 0.5, 0.5), (1, 0, "a", 0.5, 0.5), (3, 5, "a", 1, 1),
                 (2, 5, "a", 9, 9))
    assert brief(find_matches(fence("enter"), swapped).matches) == [
        ("a", [2, 4], ["outside", "inside"])]


def test_staying_on_one_side_matches_nothing() -> None:
    df = ev((1, 0, "a", 0.5, 0.5), (2, 1, "a", 0, 0), (3, 2, "a", 1, 1), (4, 3, "a", 0.2, 0.9))
    for trigger in ("enter", "exit"):
        assert find_matches(fence(trigger), df).matches == []


# --- dwell ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("exit_after_s", "matched"), [(9.999999, False), (10, True), (11, True)])
def test_dwell_needs_the_key_inside_for_at_least_the_duration(exit_after_s: float,
                                                              matched: bool) -> None:
    df = ev((1, 0, "a", 5, 5), (2, 100, "a", 0.5, 0.5), (3, 105, "a", 0.5, 0.5),
            (4, 100 + exit_after_s, "a", 5, 5))
    result = find_matches(fence("dwell", dwell="10s"), df)
    assert brief(result.matches) == ([("a", [2], ["enter"])] if matched else [])
    if matched:
        [m] = result.matches
        assert (m.start, m.end, m.measures["dwell_s"]) == (at(100), at(110), 10.0)


def test_leaving_at_the_deadline_with_the_last_event_matches_in_a_stream_too() -> None:
    df = ev((1, 21, "a", 0, 0), (2, 22, "a", -0.5, -0.5))
    assert brief(find_matches(fence("dwell", dwell="1s"), df).matches) == [("a", [1], ["inside"])]
    matcher = create_matcher(fence("dwell", dwell="1s"))
    assert matcher.feed(df) == []  # event 2, at the watermark, is final only at the end
    assert brief(matcher.flush()) == [("a", [1], ["inside"])]


def test_dwell_matches_once_per_visit_and_again_after_a_new_entry() -> None:
    df = ev((1, 0, "a", 5, 5), *((i, i, "a", 0.5, 0.5) for i in range(2, 30)),
            (30, 30, "a", 5, 5), (31, 31, "a", 0.5, 0.5), (32, 45, "a", 0.5, 0.5))
    assert brief(find_matches(fence("dwell", dwell="5s"), df).matches) == [
        ("a", [2], ["enter"]), ("a", [31], ["enter"])]


def test_a_visit_that_starts_at_the_first_event_counts_from_it_labelled_inside() -> None:
    df = ev((1, 0, "a", 0.5, 0.5), (2, 20, "a", 0.5, 0.5))
    [m] = find_matches(fence("dwell", dwell="15s"), df).matches
    assert (m.event_ids, m.classifiers, m.end) == ([1], ["inside"], at(15))


def test_dwell_is_time_driven_a_silent_key_matches_when_event_time_passes_the_deadline() -> None:
    # a enters at 10 and falls silent; b's events move event time past 10 + 30 = 40.
    df = ev((1, 0, "a", 5, 5), (2, 10, "a", 0.5, 0.5), (3, 20, "b", 5, 5), (4, 40, "b", 5, 5))
    result = find_matches(fence("dwell", dwell="30s"), df)
    assert brief(result.matches) == [("a", [2], ["enter"])]
    assert result.pending == []
    matcher = create_matcher(fence("dwell", dwell="30s"))
    assert matcher.feed(df.head(3)) == []
    assert matcher.feed(ev((4, 40, "b", 5, 5))) == []  # 40 is not before the watermark (40)
    assert brief(matcher.feed(ev((5, 40.000001, "b", 5, 5)))) == [("a", [2], ["enter"])]
    assert matcher.flush() == []


def test_a_deadline_beyond_the_last_event_is_pending_not_a_match() -> None:
    df = ev((1, 0, "a", 5, 5), (2, 10, "a", 0.5, 0.5), (3, 39, "b", 5, 5))
    result = find_matches(fence("dwell", dwell="30s"), df)
    assert result.matches == []
    [p] = result.pending
    assert (p.key, p.event_ids, p.classifiers, p.started, p.ended, p.reason) == (
        {"key": "a"}, [2], ["enter"], at(10), at(40), "pending")
    assert json.loads(result.to_json())["pending"][0]["ended"] == "2024-01-01T00:00:40"


def test_flush_with_now_fires_the_pending_deadlines_up_to_now() -> None:
    df = ev((1, 0, "a", 5, 5), (2, 10, "a", 0.5, 0.5), (3, 12, "b", 0.5, 0.5))
    for now, expected in ((at(41), ["a"]), (at(42), ["a", "b"]), (at(30), [])):
        matcher = create_matcher(fence("dwell", dwell="30s"))
        matcher.feed(df)
        assert [m.key["key"] for m in matcher.flush(now)] == expected
        assert len(matcher.engine.pending) == 2 - len(expected)


def test_advance_watermark_fires_dwells_whose_deadline_is_before_it() -> None:
    matcher = create_matcher(fence("dwell", dwell="30s"))
    matcher.feed(ev((1, 0, "a", 5, 5), (2, 10, "a", 0.5, 0.5)))
    assert matcher.advance_watermark(at(40)) == []
    assert brief(matcher.advance_watermark(at(40.5))) == [("a", [2], ["enter"])]
    assert matcher.flush() == []


# --- streaming ------------------------------------------------------------------------------


def test_late_events_within_the_allowed_lateness_are_reordered() -> None:
    matcher = create_matcher(fence("enter"), allowed_lateness=timedelta(seconds=5))
    got = matcher.feed(ev((1, 0, "a", 5, 5), (3, 10, "a", 0.5, 0.5)))
    got += matcher.feed(ev((2, 6, "a", 0.5, 0.5)))  # behind 10 but within 5 s: not late
    got += matcher.feed(ev((4, 20, "a", 5, 5), (5, 1, "a", 0.5, 0.5)))  # 5 is late: 1 < 5, the watermark
    got += matcher.flush()
    assert brief(got) == [("a", [1, 2], ["outside", "inside"])]
    assert matcher.late_events.get_column("id").to_list() == [5]


def test_snapshot_and_restore_continue_an_open_visit() -> None:
    matcher = create_matcher(fence("dwell", dwell="30s"))
    matcher.feed(ev((1, 0, "a", 5, 5), (2, 10, "a", 0.5, 0.5), (3, 11, "a", 0.5, 0.5)))
    restored = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
    assert [p.event_ids for p in restored.engine.pending] == [[2]]
    assert brief(restored.feed(ev((4, 50, "a", 0.5, 0.5)))) == [("a", [2], ["enter"])]
    assert restored.flush() == []


# --- errors and validation ------------------------------------------------------------------


def test_missing_coordinate_field_is_named() -> None:
    df = ev((1, 0, "a", 0, 0)).drop("lon")
    with pytest.raises(EventDataError, match="'lon'"):
        find_matches(fence("enter"), df)


@pytest.mark.parametrize(("lat", "message"), [(None, "'lat' of event 2 has no value"),
                                              (91.0, "'lat' of event 2 is 91.0")])
def test_missing_or_impossible_coordinates_name_the_event(lat: float | None,
                                                          message: str) -> None:
    df = pl.DataFrame({"id": [1, 2], "ts": [at(0), at(1)], "key": ["a", "a"],
                       "lat": [0.5, lat], "lon": [0.5, 0.5]})
    with pytest.raises(EventDataError, match=message):
        find_matches(fence("enter"), df)


def test_text_coordinates_are_read_as_numbers() -> None:
    df = ev((1, 0, "a", 5, 5), (2, 1, "a", 0.5, 0.5)).with_columns(pl.col("lat").cast(pl.String))
    assert brief(find_matches(fence("enter"), df).matches) == [("a", [1, 2], ["outside", "inside"])]


@pytest.mark.parametrize(("fields", "message"), [
    ({"shape": {"type": "polygon", "vertices": [{"lat": 0, "lon": 0}, {"lat": 1, "lon": 1}]}},
     "at least 3 vertices"),
    ({"shape": {"type": "polygon", "vertices": [{"lat": 0, "lon": 0}, {"lat": 1, "lon": 1},
                                                {"lat": 0, "lon": 1}, {"lat": 1, "lon": 0}]}},
     "intersects itself"),
    ({"trigger": "dwell"}, "dwell"),
    ({"shape": circle(-5)}, "radius_m"),
])
def test_bad_geofences_are_rejected(fields: dict[str, Any], message: str) -> None:
    spec = {"kind": "geofence", "name": "f", "shape": SQUARE, "trigger": "enter", **fields}
    with pytest.raises(PatternError, match=message):
        parse_pattern(spec)


# --- properties -----------------------------------------------------------------------------

SHAPES = [SQUARE, TRIANGLE, L_SHAPE, circle(DEGREE_M, 0.5, 0.5), circle(DEGREE_M / 2, 1, 1)]
GRID = [x / 2 for x in range(-1, 5)]  # -0.5 .. 2: many points land on outlines


@st.composite
def cases(draw: Any) -> tuple[Any, pl.DataFrame]:
    trigger = draw(st.sampled_from(["enter", "exit", "dwell"]))
    extra = {"dwell": f"{draw(st.integers(1, 8))}s"} if trigger == "dwell" else {}
    partition_by = draw(st.sampled_from([["key"], []]))
    pattern = fence(trigger, draw(st.sampled_from(SHAPES)), partition_by=partition_by, **extra)
    n = draw(st.integers(0, 24))
    rows = [(i, draw(st.integers(0, 25)), draw(st.sampled_from("abc")),
             draw(st.sampled_from(GRID)), draw(st.sampled_from(GRID))) for i in range(n)]
    return pattern, ev(*rows) if rows else ev((0, 0, "a", 0, 0)).clear()


def _pending(partials: Any) -> list[str]:
    return sorted(json.dumps(p.to_json_dict(), sort_keys=True) for p in partials)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), data=st.data())
def test_any_split_into_batches_gives_the_batch_matches(case: Any, data: Any) -> None:
    pattern, df = case
    expected = find_matches(pattern, df)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, df.height), max_size=6))))
    snapshot_at = data.draw(st.one_of(st.none(), st.integers(0, len(cuts) + 1)))
    matcher = create_matcher(pattern, allowed_lateness=_disorder(df))
    emitted: list[Match] = []
    for i, (a, b) in enumerate(itertools.pairwise([0, *cuts, df.height])):
        if i == snapshot_at:
            matcher = StreamMatcher.restore(json.loads(json.dumps(matcher.snapshot())))
        emitted += matcher.feed(df.slice(a, b - a))
    emitted += matcher.flush()
    assert matcher.late_events.height == 0
    assert _per_key(emitted) == _per_key(list(expected.matches))
    assert _pending(matcher.engine.pending) == _pending(expected.pending)
    assert _timed_out(matcher.timed_out) == _timed_out(expected.timed_out) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_pure_python_benchmark_agrees_with_find_matches(case: Any) -> None:
    pattern, df = case
    result = find_matches(pattern, df)
    assert bench.python_matches(pattern, df) == [(m.key, m.event_ids, m.classifiers)
                                                 for m in result.matches]


def test_the_benchmark_generator_is_deterministic_and_crosses_the_fence() -> None:
    df = bench.generate_events(20_000, n_keys=50, seed=3)
    assert df.equals(bench.generate_events(20_000, n_keys=50, seed=3))
    pattern = parse_pattern(bench.PATTERNS["enter circle 1 km"])
    result = find_matches(pattern, df)
    assert len(result.matches) > 100
    assert bench.python_matches(pattern, df) == [(m.key, m.event_ids, m.classifiers)
                                                 for m in result.matches]
