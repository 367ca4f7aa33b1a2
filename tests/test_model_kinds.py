"""The eleven detector kinds of issue 4: a valid example each, and the typical mistakes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.errors import PatternError
from cep.model import (
    KINDS,
    PATTERN_CLASSES,
    AbsencePattern,
    Circle,
    CountThresholdPattern,
    Duration,
    GeofencePattern,
    GeoPoint,
    HeartbeatPattern,
    OutlierPattern,
    Polygon,
    SessionPattern,
    StateMachinePattern,
    TemporalCorrelationPattern,
    Transition,
    TrendPattern,
    VelocityPattern,
    dump_pattern,
    parse_pattern,
)

SQUARE = [
    {"lat": 52.50, "lon": 13.30},
    {"lat": 52.50, "lon": 13.40},
    {"lat": 52.60, "lon": 13.40},
    {"lat": 52.60, "lon": 13.30},
]

EXAMPLES: dict[str, dict[str, Any]] = {
    "sequence": {
        "kind": "sequence",
        "name": "a_then_b",
        "steps": [{"name": "a", "where": "type = 'A'"}, {"name": "b", "where": "type = 'B'"}],
        "within": "5m",
    },
    "match_recognize": {
        "kind": "match_recognize",
        "name": "v_shape",
        "pattern": "A B+ C+",
        "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
    },
    "absence": {
        "kind": "absence",
        "name": "order_not_shipped",
        "partition_by": ["order_id"],
        "trigger": "event_type = 'order_placed'",
        "expected": "event_type = 'shipped'",
        "timeout": "2d",
        "correlate_on": ["warehouse"],
    },
    "count_threshold": {
        "kind": "count_threshold",
        "name": "failed_logins",
        "partition_by": ["user_id"],
        "where": "event_type = 'login_failed'",
        "threshold": 5,
        "window": "10m",
        "window_type": "tumbling",
    },
    "velocity": {
        "kind": "velocity",
        "name": "spend_rate",
        "partition_by": ["card"],
        "where": "amount > 0",
        "value_field": "amount",
        "threshold": 500.0,
        "per": "hour",
        "window": "1h",
    },
    "trend": {
        "kind": "trend",
        "name": "rising_temperature",
        "partition_by": ["sensor"],
        "value_field": "temperature",
        "direction": "up",
        "count": 4,
        "tolerance_pct": 0.5,
    },
    "outlier": {
        "kind": "outlier",
        "name": "odd_amount",
        "value_field": "amount",
        "method": "mad",
        "threshold": 3.5,
        "baseline": "7d",
        "min_samples": 20,
    },
    "session": {
        "kind": "session",
        "name": "long_sessions",
        "partition_by": ["user_id"],
        "gap": "30m",
        "max_duration": "8h",
        "where": "event_type <> 'heartbeat'",
        "having": "event_count >= 10 AND duration_s > 600 AND SUM(amount) > 100",
    },
    "dedup": {
        "kind": "dedup",
        "name": "duplicate_payments",
        "fields": ["card", "amount", "merchant"],
        "window": "2m",
    },
    "geofence": {
        "kind": "geofence",
        "name": "left_the_depot",
        "partition_by": ["truck"],
        "lat_field": "latitude",
        "lon_field": "longitude",
        "shape": {"type": "polygon", "vertices": SQUARE},
        "trigger": "exit",
    },
    "temporal_correlation": {
        "kind": "temporal_correlation",
        "name": "alarm_with_door",
        "a": "event_type = 'alarm'",
        "b": "event_type = 'door_open'",
        "correlate_on": ["building"],
        "max_gap": "90s",
        "order": "a_then_b",
    },
    "heartbeat": {
        "kind": "heartbeat",
        "name": "silent_device",
        "partition_by": ["device"],
        "interval": "1m",
        "grace": "30s",
        "emit": "status_change",
    },
    "state_machine": {
        "kind": "state_machine",
        "name": "order_lifecycle",
        "partition_by": ["order_id"],
        "states": ["new", "paid", "shipped", "cancelled"],
        "initial": "new",
        "transitions": [
            {"from": "new", "to": "paid", "when": "event_type = 'payment'"},
            {"from": "paid", "to": "shipped", "when": "event_type = 'shipment'"},
            {"from": "*", "to": "cancelled", "when": "event_type = 'cancel'"},
        ],
        "terminal": ["shipped", "cancelled"],
        "timeout": {"new": "1h", "paid": "2d"},
        "timeout_state": "cancelled",
        "emit": "all",
        "on_unmatched": "flag",
    },
}

DETECTORS = [k for k in KINDS if k not in ("sequence", "match_recognize")]


def example(kind: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLES[kind])
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


_DROP = object()


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(PatternError) as info:
        parse_pattern(data, source="p.json")
    return str(info.value)


def test_there_is_an_example_for_every_kind() -> None:
    assert set(EXAMPLES) == set(KINDS)
    assert len(DETECTORS) == 11


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_accepts_its_example(kind: str) -> None:
    p = parse_pattern(EXAMPLES[kind])
    assert type(p) is PATTERN_CLASSES[kind]
    assert p.kind == kind


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_every_kind_round_trips_through_its_text(kind: str, fmt: str) -> None:
    p = parse_pattern(EXAMPLES[kind])
    assert parse_pattern(dump_pattern(p, fmt), fmt=fmt) == p  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", DETECTORS)
def test_every_detector_rejects_an_unknown_field(kind: str) -> None:
    assert "p.json: unknown field 'windw'" in error_of(example(kind, windw="5m"))


def test_detector_examples_hold_the_given_values() -> None:
    absence = parse_pattern(EXAMPLES["absence"])
    assert isinstance(absence, AbsencePattern)
    assert absence.timeout == Duration("48h")
    assert absence.correlate_on == ("warehouse",)
    velocity = parse_pattern(EXAMPLES["velocity"])
    assert isinstance(velocity, VelocityPattern)
    assert (velocity.value_field, velocity.per, velocity.threshold) == ("amount", "hour", 500.0)
    geofence = parse_pattern(EXAMPLES["geofence"])
    assert isinstance(geofence, GeofencePattern)
    assert isinstance(geofence.shape, Polygon)
    assert geofence.shape.vertices[0] == GeoPoint(lat=52.5, lon=13.3)


def test_detector_defaults() -> None:
    count = parse_pattern({"kind": "count_threshold", "name": "c", "threshold": 3, "window": "1m"})
    assert isinstance(count, CountThresholdPattern)
    assert (count.where, count.window_type) == (None, "sliding")
    velocity = parse_pattern({"kind": "velocity", "name": "v", "threshold": 2, "window": "1m"})
    assert isinstance(velocity, VelocityPattern)
    assert (velocity.where, velocity.value_field, velocity.per) == (None, None, "minute")
    trend = parse_pattern(
        {"kind": "trend", "name": "t", "value_field": "v", "direction": "flat", "count": 3}
    )
    assert isinstance(trend, TrendPattern)
    assert trend.tolerance_pct == 0.0
    outlier = parse_pattern(
        {"kind": "outlier", "name": "o", "value_field": "v", "threshold": 3, "baseline": "1h"}
    )
    assert isinstance(outlier, OutlierPattern)
    assert (outlier.method, outlier.min_samples) == ("zscore", 10)
    session = parse_pattern({"kind": "session", "name": "s", "gap": "5m"})
    assert isinstance(session, SessionPattern)
    assert (session.max_duration, session.where, session.having) == (None, None, None)
    heartbeat = parse_pattern({"kind": "heartbeat", "name": "h", "interval": "5m"})
    assert isinstance(heartbeat, HeartbeatPattern)
    assert (heartbeat.grace, heartbeat.emit) == (None, "dead")
    geofence = parse_pattern(
        {
            "kind": "geofence",
            "name": "g",
            "shape": {"type": "circle", "center": {"lat": 0, "lon": 0}, "radius_m": 100},
            "trigger": "enter",
        }
    )
    assert isinstance(geofence, GeofencePattern)
    assert (geofence.lat_field, geofence.lon_field, geofence.dwell) == ("lat", "lon", None)
    assert geofence.shape == Circle(center=GeoPoint(lat=0, lon=0), radius_m=100)
    temporal = parse_pattern(
        {"kind": "temporal_correlation", "name": "t", "a": "x = 1", "b": "x = 2", "max_gap": "1m"}
    )
    assert isinstance(temporal, TemporalCorrelationPattern)
    assert (temporal.correlate_on, temporal.order) == ((), "any")


INVALID: list[tuple[str, dict[str, Any], str]] = [
    # absence
    ("absence", {"timeout": _DROP}, "missing required field 'timeout'"),
    ("absence", {"trigger": "reflect('x')"}, "trigger: function 'reflect' is not allowed"),
    ("absence", {"expected": "PREV(x) = 1"}, "expected: PREV is not allowed in this condition"),
    ("absence", {"expected": "A.x = 1"}, "expected: variable reference 'A.x' is not allowed"),
    ("absence", {"trigger": ""}, "trigger: must not be empty"),
    ("absence", {"timeout": "0s"}, "timeout: invalid duration '0s': durations must be positive"),
    ("absence", {"correlate_on": ["w", "w"]}, "correlate_on: column 'w' is listed twice"),
    # count_threshold
    ("count_threshold", {"threshold": 0}, "threshold: Input should be greater than or equal to 1"),
    ("count_threshold", {"threshold": 2.5}, "threshold: Input should be a valid integer"),
    ("count_threshold", {"window": "-5m"}, "window: invalid duration '-5m': durations must be"),
    (
        "count_threshold",
        {"window": 600},
        "window: invalid duration 600: a bare number is ambiguous",
    ),
    (
        "count_threshold",
        {"window_type": "hopping"},
        "window_type: Input should be 'sliding' or 'tumbling', got 'hopping'",
    ),
    ("count_threshold", {"where": "COUNT(*) > 5"}, "where: COUNT is not allowed in this condition"),
    ("count_threshold", {"where": "1; DROP TABLE t"}, "where: ';' is not allowed"),
    # velocity
    ("velocity", {"threshold": 0}, "threshold: Input should be greater than 0"),
    ("velocity", {"threshold": float("inf")}, "threshold: Input should be a finite number"),
    ("velocity", {"per": "day"}, "per: Input should be 'second', 'minute' or 'hour', got 'day'"),
    ("velocity", {"value_field": ""}, "value_field: must not be empty"),
    ("velocity", {"window": _DROP}, "missing required field 'window'"),
    # trend
    ("trend", {"count": 1}, "count: Input should be greater than or equal to 2"),
    ("trend", {"tolerance_pct": 150}, "tolerance_pct: Input should be less than or equal to 100"),
    ("trend", {"tolerance_pct": -1}, "tolerance_pct: Input should be greater than or equal to 0"),
    ("trend", {"direction": "sideways"}, "direction: Input should be 'up', 'down' or 'flat'"),
    ("trend", {"value_field": _DROP}, "missing required field 'value_field'"),
    ("trend", {"where": "x > 1"}, "unknown field 'where'"),
    # outlier
    ("outlier", {"method": "ewma"}, "method: Input should be 'zscore', 'iqr' or 'mad', got 'ewma'"),
    ("outlier", {"threshold": -2}, "threshold: Input should be greater than 0"),
    ("outlier", {"min_samples": 1}, "min_samples: Input should be greater than or equal to 2"),
    ("outlier", {"baseline": _DROP}, "missing required field 'baseline'"),
    ("outlier", {"baseline": "P1M"}, "baseline: invalid duration 'P1M': ISO-8601 years and months"),
    # session
    ("session", {"gap": "5"}, "gap: invalid duration '5': a number without a unit is ambiguous"),
    ("session", {"max_duration": "100d"}, "max_duration: invalid duration '100d': longer than"),
    (
        "session",
        {"having": "amount > 100"},
        "having: column 'amount' must be inside an aggregate (SUM, AVG, COUNT, MIN, MAX)",
    ),
    ("session", {"having": "exec('x') > 1"}, "having: SQL keyword 'exec' is not allowed"),
    ("session", {"where": "SUM(amount) > 1"}, "where: SUM is not allowed in this condition"),
    # dedup
    ("dedup", {"fields": []}, "fields: Tuple should have at least 1 item"),
    ("dedup", {"fields": ["card", "card"]}, "fields: field 'card' is listed twice"),
    ("dedup", {"window": _DROP}, "missing required field 'window'"),
    # geofence
    (
        "geofence",
        {"shape": {"type": "polygon", "vertices": SQUARE[:2]}},
        "shape.vertices: a polygon needs at least 3 vertices, got 2",
    ),
    (
        "geofence",
        {"shape": {"type": "polygon", "vertices": [SQUARE[0], SQUARE[2], SQUARE[1], SQUARE[3]]}},
        "shape.vertices: the polygon intersects itself: edge 0",
    ),
    (
        "geofence",
        {"shape": {"type": "polygon", "vertices": [SQUARE[0], SQUARE[1], SQUARE[1], SQUARE[2]]}},
        "shape.vertices[2]: repeats the previous vertex",
    ),
    (
        "geofence",
        {"shape": {"type": "polygon", "vertices": [{"lat": 0, "lon": i} for i in range(3)]}},
        "shape.vertices: edges 0 and 2 overlap",
    ),
    (
        "geofence",
        {"shape": {"type": "polygon", "vertices": [*SQUARE[:3], {"lat": 91, "lon": 13.3}]}},
        "shape.vertices[3].lat: Input should be less than or equal to 90",
    ),
    (
        "geofence",
        {"shape": {"type": "circle", "center": {"lat": 0, "lon": 181}, "radius_m": 5}},
        "shape.center.lon: Input should be less than or equal to 180",
    ),
    (
        "geofence",
        {"shape": {"type": "circle", "center": {"lat": 0, "lon": 0}, "radius_m": 0}},
        "shape.radius_m: Input should be greater than 0",
    ),
    (
        "geofence",
        {"shape": {"type": "square", "side_m": 5}},
        "shape: Input tag 'square' found using 'type' does not match any of the expected tags",
    ),
    (
        "geofence",
        {"shape": {"type": "circle", "centre": {"lat": 0, "lon": 0}, "radius_m": 5}},
        "unknown field 'centre' in shape (did you mean 'center'?",
    ),
    ("geofence", {"trigger": "dwell"}, "dwell: trigger 'dwell' needs a dwell duration"),
    ("geofence", {"dwell": "5m"}, "dwell: dwell applies only to trigger 'dwell', not 'exit'"),
    ("geofence", {"trigger": "inside"}, "trigger: Input should be 'enter', 'exit' or 'dwell'"),
    ("geofence", {"lon_field": "latitude"}, "lon_field: lat_field and lon_field must be different"),
    # temporal_correlation
    ("temporal_correlation", {"order": "b_then_a"}, "order: Input should be 'any' or 'a_then_b'"),
    ("temporal_correlation", {"max_gap": _DROP}, "missing required field 'max_gap'"),
    ("temporal_correlation", {"a": "x = "}, "a: unexpected end of condition"),
    # heartbeat
    ("heartbeat", {"interval": "5"}, "interval: invalid duration '5': a number without a unit"),
    ("heartbeat", {"grace": "-1s"}, "grace: invalid duration '-1s': durations must be positive"),
    (
        "heartbeat",
        {"emit": "alive"},
        "emit: Input should be 'dead' or 'status_change', got 'alive'",
    ),
    # state_machine
    (
        "state_machine",
        {"transitions": [{"from": "new", "to": "lost"}]},
        "transitions[0].to: unknown state 'lost' (states: new, paid, shipped, cancelled)",
    ),
    ("state_machine", {"initial": "draft"}, "initial: unknown state 'draft'"),
    ("state_machine", {"initial": "shipped"}, "initial: the initial state cannot be terminal"),
    ("state_machine", {"terminal": ["gone"]}, "terminal[0]: unknown state 'gone'"),
    (
        "state_machine",
        {"transitions": [{"from": "shipped", "to": "new"}]},
        "transitions[0].from: 'shipped' is terminal: the machine ends there, so this never fires",
    ),
    (
        "state_machine",
        {"transitions": [{"from": "new", "to": "paid", "when": "__import__('os')"}]},
        "transitions[0].when: identifier '__import__' is not allowed",
    ),
    (
        "state_machine",
        {"transitions": [{"from_state": "new", "to": "paid"}]},
        "unknown field 'from_state' in transitions[0]",
    ),
    ("state_machine", {"transitions": []}, "transitions: Tuple should have at least 1 item"),
    ("state_machine", {"states": ["new", "new"]}, "states: state 'new' is listed twice"),
    ("state_machine", {"states": ["new", "*"]}, "states[1]: '*' means 'any state' in transitions"),
    ("state_machine", {"timeout_state": _DROP}, "timeout_state: a timeout needs timeout_state"),
    ("state_machine", {"timeout": _DROP}, "timeout_state: timeout_state needs a timeout"),
    ("state_machine", {"timeout": {"lost": "1h"}}, "timeout.lost: unknown state 'lost'"),
    ("state_machine", {"timeout": {"new": "soon"}}, "timeout.new: invalid duration 'soon'"),
    ("state_machine", {"timeout": {"shipped": "1h"}}, "timeout.shipped: 'shipped' is terminal"),
    ("state_machine", {"timeout": {}}, "timeout: give one duration, or at least one state"),
    ("state_machine", {"timeout": 60}, "timeout: invalid duration 60: a bare number is ambiguous"),
    ("state_machine", {"timeout_state": "lost"}, "timeout_state: unknown state 'lost'"),
    (
        "state_machine",
        {"terminal": [], "emit": "terminal", "transitions": [{"from": "new", "to": "paid"}]},
        "emit: emit 'terminal' needs at least one terminal state",
    ),
    ("state_machine", {"on_unmatched": "drop"}, "on_unmatched: Input should be 'ignore' or 'flag'"),
]


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    INVALID,
    ids=[f"{kind}-{i}" for i, (kind, _, _) in enumerate(INVALID)],
)
def test_detectors_reject_typical_mistakes(
    kind: str, changes: dict[str, Any], message: str
) -> None:
    text = error_of(example(kind, **changes))
    assert text.startswith("p.json: ")
    assert message in text


def test_polygon_may_repeat_its_first_vertex_at_the_end() -> None:
    closed = parse_pattern(
        example("geofence", shape={"type": "polygon", "vertices": [*SQUARE, SQUARE[0]]})
    )
    assert isinstance(closed, GeofencePattern)
    assert isinstance(closed.shape, Polygon)
    assert len(closed.shape.vertices) == 4


def test_concave_polygons_and_dwell_are_accepted() -> None:
    l_shape = [(0, 0), (0, 2), (1, 2), (1, 1), (2, 1), (2, 0)]
    p = parse_pattern(
        example(
            "geofence",
            shape={"type": "polygon", "vertices": [{"lat": a, "lon": b} for a, b in l_shape]},
            trigger="dwell",
            dwell="15m",
        )
    )
    assert isinstance(p, GeofencePattern)
    assert p.dwell == Duration("15m")


def test_polygon_edges_touching_at_a_point_count_as_intersecting() -> None:
    # a "bow" whose fourth vertex lies on the first edge
    vertices = [(0, 0), (0, 4), (2, 4), (0, 2), (-2, 4)]
    message = error_of(
        example(
            "geofence",
            shape={"type": "polygon", "vertices": [{"lat": a, "lon": b} for a, b in vertices]},
        )
    )
    assert "the polygon intersects itself" in message


def test_state_machine_timeout_is_global_or_per_state() -> None:
    per_state = parse_pattern(EXAMPLES["state_machine"])
    assert isinstance(per_state, StateMachinePattern)
    assert per_state.timeout == {"new": Duration("1h"), "paid": Duration("2d")}
    for raw in ("30m", {"value": 30, "unit": "minutes"}, "PT30M"):
        global_ = parse_pattern(example("state_machine", timeout=raw))
        assert isinstance(global_, StateMachinePattern)
        assert global_.timeout == Duration("30m")


def test_transition_is_written_with_from() -> None:
    p = parse_pattern(EXAMPLES["state_machine"])
    assert isinstance(p, StateMachinePattern)
    assert p.transitions[2] == Transition(from_="*", to="cancelled", when="event_type = 'cancel'")
    dumped = p.model_dump(mode="json")["transitions"][0]
    assert dumped == {"from": "new", "to": "paid", "when": "event_type = 'payment'"}
    assert "from:" in dump_pattern(p, "yaml")


def test_session_having_may_use_measures_and_aggregates_only() -> None:
    p = parse_pattern(example("session", having="COUNT(*) > 3 OR MAX(amount) - MIN(amount) > 5"))
    assert isinstance(p, SessionPattern)


# --------------------------------------------------------------------------------------------
# Round trip (property) for a few detector kinds

_NAMES = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
    lambda s: s.strip() != ""
)
_SECONDS = st.integers(min_value=1, max_value=90 * 86_400).map(lambda s: f"{s}s")
_CONDITIONS = st.sampled_from(["amount > 10", "type = 'x'", "lower(kind) IN ('a', 'b')", "flag"])
_FIELDS = st.lists(
    st.sampled_from(["user", "card", "amount", "Merchant Name"]), min_size=1, unique=True
)


def _detector_data(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    base: dict[str, Any] = {"kind": kind, "name": draw(_NAMES), "partition_by": draw(_FIELDS)}
    if kind == "count_threshold":
        return base | {
            "where": draw(st.none() | _CONDITIONS),
            "threshold": draw(st.integers(1, 10**6)),
            "window": draw(_SECONDS),
            "window_type": draw(st.sampled_from(["sliding", "tumbling"])),
        }
    if kind == "trend":
        return base | {
            "value_field": "value",
            "direction": draw(st.sampled_from(["up", "down", "flat"])),
            "count": draw(st.integers(2, 1000)),
            "tolerance_pct": draw(st.floats(0, 100, allow_nan=False)),
        }
    if kind == "velocity":
        return base | {
            "threshold": draw(st.floats(min_value=1e-9, max_value=1e12)),
            "per": draw(st.sampled_from(["second", "minute", "hour"])),
            "window": draw(_SECONDS),
            "value_field": draw(st.none() | st.just("amount")),
        }
    if kind == "geofence":
        lat = draw(st.floats(-90, 90, allow_nan=False))
        lon = draw(st.floats(-180, 180, allow_nan=False))
        trigger = draw(st.sampled_from(["enter", "exit", "dwell"]))
        return base | {
            "shape": {
                "type": "circle",
                "center": {"lat": lat, "lon": lon},
                "radius_m": draw(st.floats(0.001, 20_000_000)),
            },
            "trigger": trigger,
            "dwell": draw(_SECONDS) if trigger == "dwell" else None,
        }
    states = ["s0", "s1", "s2", "s3"]
    transitions = [
        {"from": draw(st.sampled_from(["*", "s0", "s1"])), "to": draw(st.sampled_from(states))}
        for _ in range(draw(st.integers(1, 4)))
    ]
    timeout: Any = draw(st.sampled_from([None, "global", "per_state"]))
    if timeout == "global":
        timeout = draw(_SECONDS)
    elif timeout == "per_state":
        timeout = {"s0": draw(_SECONDS), "s1": draw(_SECONDS)}
    return base | {
        "states": states,
        "initial": "s0",
        "transitions": transitions,
        "terminal": ["s3"],
        "timeout": timeout,
        "timeout_state": "s2" if timeout else None,
        "emit": draw(st.sampled_from(["transition", "terminal", "all"])),
    }


@st.composite
def detector_patterns(draw: st.DrawFn) -> Any:
    kind = draw(
        st.sampled_from(["count_threshold", "trend", "velocity", "geofence", "state_machine"])
    )
    return parse_pattern(_detector_data(draw, kind))


@settings(max_examples=80, deadline=None)
@given(detector_patterns(), st.sampled_from(["json", "yaml"]))
def test_detectors_round_trip_through_json_and_yaml(pattern: Any, fmt: str) -> None:
    assert parse_pattern(dump_pattern(pattern, fmt), fmt=fmt) == pattern  # type: ignore[arg-type]


def test_a_polygon_across_the_antimeridian_is_rejected_with_advice():
    from cep.errors import PatternError
    from cep.model import parse_pattern

    vertices = [{"lat": 0, "lon": 179}, {"lat": 1, "lon": -179}, {"lat": -1, "lon": -179}]
    with pytest.raises(PatternError, match="antimeridian"):
        parse_pattern({"kind": "geofence", "name": "g", "trigger": "enter",
                       "shape": {"type": "polygon", "vertices": vertices}})
