"""The detector form of the Test page: widget values ↔ the JSON value of any of the 11 detector kinds.

The inputs are read off the pattern model (`cep.model`): each field of the kind's class becomes
an input chosen by its annotation (a condition or duration as text, a number, a choice for a
`Literal`, event fields for columns), with its bounds in the help text; the nested parts are
tables (a polygon's vertices, a state machine's states and transitions) or a few numbers (a
circle). Values live in session state under `ui.state.TEST_KIND_FIELD`, one set per kind, so
switching kinds keeps what was typed. The pure functions convert between those values and the
pattern's JSON value; `render_kind_form` and `render_kind_check` draw the form and its inline
validation (`cep.model.parse_pattern`).

>>> values = form_from_pattern({"kind": "count_threshold", "name": "dips", "threshold": 3,
...                             "window": "PT2M", "where": "price < 100"})
>>> values[state.TEST_KIND], values[kind_key("count_threshold", "window")]
('count_threshold', 'PT2M')
>>> pattern_from_form(values)
... # doctest: +NORMALIZE_WHITESPACE
{'kind': 'count_threshold', 'name': 'dips', 'partition_by': [], 'order_by': 'ts',
 'where': 'price < 100', 'threshold': 3, 'window': 'PT2M', 'window_type': 'sliding'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import streamlit as st

from cep.errors import PatternError
from cep.model import (
    KINDS,
    PATTERN_CLASSES,
    Column,
    Condition,
    Duration,
    Pattern,
    PatternBase,
    dump_pattern,
    parse_pattern,
    pattern_to_dict,
)
from ui import state
from ui.inputs import pattern_format
from ui.sequence_form import CODE_HEIGHT_PX, MODE_TEXT, field_options
from ui.widgets import escape_markdown, message_markdown

MODE_KIND = "Build a detector"
"""The Test page's "Pattern from" choice that shows this form."""
KIND_FORM_SOURCE = "detector form"
"""How errors name the form's pattern."""
DETECTOR_KINDS: tuple[str, ...] = tuple(
    k for k in KINDS if k not in ("sequence", "match_recognize")
)
"""The kinds this form builds, in the order of DESIGN.md §4."""
DEFAULT_KIND = "count_threshold"
DEFAULT_ORDER_BY = "ts"

KIND_SUMMARIES: dict[str, str] = {
    "absence": "a trigger event not followed by an expected event within a timeout",
    "count_threshold": "at least N matching events per key within a time window",
    "velocity": "a rate (events, or a field's sum, per second / minute / hour) over a threshold",
    "trend": "N values in a row that rise, fall or stay flat",
    "outlier": "a value far from its key's recent baseline (z-score, IQR or MAD)",
    "session": "bursts of activity split by a quiet gap, kept when a condition on them holds",
    "dedup": "repeated events: equal fields within a window of the first (kept) one",
    "geofence": "a position entering, leaving or staying in a circle or polygon",
    "temporal_correlation": "an A event and a B event within a maximum gap of each other",
    "heartbeat": "a key that falls silent for longer than its interval (plus grace)",
    "state_machine": "states and guarded transitions per key, with terminal states and timeouts",
}
"""One line per kind: what a match means."""

EXAMPLE_NOTES: dict[str, str] = {
    "absence": "An ACME tick under 98 not followed by a tick over 100 within 2 minutes.",
    "count_threshold": "Three ticks under 100 on one symbol within 2 minutes.",
    "velocity": "Two or more ticks a minute on one symbol, over 2 minutes.",
    "trend": "Three falling prices in a row on one symbol.",
    "outlier": "A price more than 2 standard deviations from the last 5 minutes' mean.",
    "session": "Runs of ticks with no pause over a minute, of at least 5 ticks.",
    "dedup": "The same price again on one symbol within 2 minutes.",
    "geofence": "A device entering 500 m around a site (needs lat / lon fields).",
    "temporal_correlation": "An ACME tick under 100 and a GLOBX tick under 48 within a minute.",
    "heartbeat": "A symbol with no tick for 30 seconds (15 seconds' grace).",
    "state_machine": "Watching → dipped (price under 100) → recovered (price over 100).",
}
"""What each example finds (the "Load example" help)."""

EXAMPLES: dict[str, dict[str, Any]] = {
    "absence": {
        "kind": "absence",
        "name": "no_recovery",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "trigger": "symbol = 'ACME' AND price < 98",
        "expected": "price > 100",
        "timeout": "2m",
        "correlate_on": [],
    },
    "count_threshold": {
        "kind": "count_threshold",
        "name": "three_dips",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "where": "price < 100",
        "threshold": 3,
        "window": "2m",
        "window_type": "sliding",
    },
    "velocity": {
        "kind": "velocity",
        "name": "busy_ticker",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "threshold": 2.0,
        "per": "minute",
        "window": "2m",
    },
    "trend": {
        "kind": "trend",
        "name": "three_falls",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "value_field": "price",
        "direction": "down",
        "count": 3,
        "tolerance_pct": 0.0,
    },
    "outlier": {
        "kind": "outlier",
        "name": "price_jump",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "value_field": "price",
        "method": "zscore",
        "threshold": 2.0,
        "baseline": "5m",
        "min_samples": 5,
    },
    "session": {
        "kind": "session",
        "name": "trading_bursts",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "gap": "1m",
        "having": "event_count >= 5",
    },
    "dedup": {
        "kind": "dedup",
        "name": "repeated_price",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "fields": ["price"],
        "window": "2m",
    },
    "geofence": {
        "kind": "geofence",
        "name": "enters_site",
        "partition_by": ["device"],
        "order_by": "ts",
        "lat_field": "lat",
        "lon_field": "lon",
        "shape": {"type": "circle", "center": {"lat": 52.52, "lon": 13.405}, "radius_m": 500.0},
        "trigger": "enter",
    },
    "temporal_correlation": {
        "kind": "temporal_correlation",
        "name": "both_dip",
        "partition_by": [],
        "order_by": "ts",
        "a": "symbol = 'ACME' AND price < 100",
        "b": "symbol = 'GLOBX' AND price < 48",
        "correlate_on": [],
        "max_gap": "1m",
        "order": "any",
    },
    "heartbeat": {
        "kind": "heartbeat",
        "name": "ticker_silent",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "interval": "30s",
        "grace": "15s",
        "emit": "dead",
    },
    "state_machine": {
        "kind": "state_machine",
        "name": "dip_and_recovery",
        "partition_by": ["symbol"],
        "order_by": "ts",
        "states": ["watching", "dipped", "recovered"],
        "initial": "watching",
        "transitions": [
            {"from": "watching", "to": "dipped", "when": "price < 100"},
            {"from": "dipped", "to": "recovered", "when": "price > 100"},
        ],
        "terminal": ["recovered"],
        "emit": "transition",
        "on_unmatched": "ignore",
    },
}
"""Each kind's example (a fresh form, and "Load example"), written as the form writes it.
All but geofence suit the sample ticks (id, symbol, ts, price); the ticks have no position."""


# --------------------------------------------------------------------------------------------
# The fields of a kind, read off the model

Widget = Literal[
    "condition", "duration", "int", "float", "choice", "column", "columns",
    "shape", "states", "timeouts", "state", "transitions",
]  # fmt: skip


@dataclass(frozen=True)
class FieldSpec:
    """How one field of a pattern class is edited.

    Attributes:
        name: the pattern field.
        widget: the kind of input (`condition`: SQL text, `duration`: text such as "5m",
            `columns`: event fields, `states` / `transitions`: tables, ...).
        required: whether the model requires a value.
        nullable: whether the value may be left out as none (``X | None``).
        default: the model's default when the field is not required.
        choices: the values of a `Literal` field.
        bounds: the model's numeric bounds, in words ("at least 2").
    """

    name: str
    widget: Widget
    required: bool
    nullable: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    bounds: str = ""


# Fields whose input is not one per annotation: nested shapes and the state machine's tables.
# A state machine's `terminal` and per-state `timeout` are columns of its states table.
_CUSTOM_WIDGETS: dict[tuple[str, str], Widget] = {
    ("geofence", "shape"): "shape",
    ("state_machine", "states"): "states",
    ("state_machine", "terminal"): "states",
    ("state_machine", "timeout"): "timeouts",
    ("state_machine", "initial"): "state",
    ("state_machine", "timeout_state"): "state",
    ("state_machine", "transitions"): "transitions",
}
BASE_FIELDS: tuple[str, ...] = tuple(f for f in PatternBase.model_fields if f != "kind")
"""The fields every pattern has: name, description, partition_by, order_by, id_field."""


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _bounds(metadata: Sequence[Any]) -> str:
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    parts = [
        f"{words[attr]} {value:,}"
        for item in metadata
        for attr in words
        if (value := getattr(item, attr, None)) is not None
    ]
    parts.extend(
        f"at least {n} {'entry' if n == 1 else 'entries'}"
        for item in metadata
        if (n := getattr(item, "min_length", None))
        and not hasattr(item, "max_length")  # StringConstraints: a text's length
    )
    return ", ".join(parts)


def _widget(kind: str, name: str, annotation: Any) -> tuple[Widget, tuple[str, ...]]:
    custom = _CUSTOM_WIDGETS.get((kind, name))
    if custom is not None:
        return custom, ()
    inner = _strip_optional(annotation)
    if inner == Condition:
        return "condition", ()
    if inner == Column:
        return "column", ()
    bare = _bare(inner)
    if bare is Duration:
        return "duration", ()
    if get_origin(bare) is Literal:
        return "choice", tuple(str(a) for a in get_args(bare))
    if get_origin(bare) is tuple and get_args(bare)[:1] == (Column,):
        return "columns", ()
    if bare is int:
        return "int", ()
    if bare is float:
        return "float", ()
    raise TypeError(f"the detector form has no input for {kind}.{name} ({annotation!r})")


def kind_fields(kind: str) -> tuple[FieldSpec, ...]:
    """The kind's own fields (beyond `BASE_FIELDS`), in model order, with their inputs.

    >>> [(f.name, f.widget, f.choices) for f in kind_fields("count_threshold")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('where', 'condition', ()), ('threshold', 'int', ()), ('window', 'duration', ()),
     ('window_type', 'choice', ('sliding', 'tumbling'))]
    >>> kind_fields("trend")[2].bounds
    'at least 2, at most 100,000'

    Raises:
        TypeError: a field type the form does not know (a new model field needs an input).
    """
    cls = PATTERN_CLASSES[kind]
    specs = []
    for name, info in cls.model_fields.items():
        if name == "kind" or name in BASE_FIELDS:
            continue
        # pydantic keeps a field's own Annotated metadata apart; put it back to compare types
        annotation = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        widget, choices = _widget(kind, name, annotation)
        required = info.is_required()
        specs.append(
            FieldSpec(
                name,
                widget,
                required,
                nullable=_strip_optional(info.annotation) is not info.annotation,
                default=None if required else info.get_default(call_default_factory=True),
                choices=choices,
                bounds=_bounds(info.metadata),
            )
        )
    return tuple(specs)


# --------------------------------------------------------------------------------------------
# Labels and help

_DURATION_HELP = (
    'Write a duration such as "30s", "5m", "2h", "7d", "1w", "500ms" or ISO-8601 "PT5M".'
)
_CONDITION_HELP = (
    "A SQL condition on the event's fields: comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, "
    "IS NULL, CASE and functions such as abs() and lower(). Nothing you type is run as code."
)


@dataclass(frozen=True)
class FieldText:
    """What an input says: its label, help (meaning, units, an example) and placeholder."""

    label: str
    help: str
    placeholder: str = ""


_WHERE = FieldText(
    "Events where",
    "Which events take part, e.g. price < 100 or status = 'failed'. Blank: every event. "
    + _CONDITION_HELP,
    "e.g. price < 100   (blank: every event)",
)
_CORRELATE_ON = FieldText(
    "Correlate on",
    "Fields whose values must be equal between the two events, on top of the key (e.g. "
    "order_id). None: any two events of the key may pair. Pick from the events' fields or "
    "type a name.",
)

FIELD_TEXTS: dict[str, dict[str, FieldText]] = {
    "absence": {
        "trigger": FieldText(
            "Trigger (condition)",
            "The event that starts a wait, e.g. type = 'alert'. Every trigger event opens its "
            "own wait. " + _CONDITION_HELP,
            "e.g. type = 'alert'",
        ),
        "expected": FieldText(
            "Expected (condition)",
            "The event that must follow, e.g. type = 'ack'. One at a time in (trigger, trigger "
            "+ timeout] closes every open wait of its key (with equal correlate-on values). An "
            "event satisfying both conditions counts as expected for earlier triggers only.",
            "e.g. type = 'ack'",
        ),
        "timeout": FieldText(
            "Timeout",
            "How long a trigger waits. An unclosed wait is a match at trigger time + timeout; "
            "a deadline after the last event is reported as pending, not as a match. "
            + _DURATION_HELP,
            "e.g. 15m",
        ),
        "correlate_on": _CORRELATE_ON,
    },
    "count_threshold": {
        "where": FieldText(
            "Count events where", _WHERE.help, "e.g. status = 'failed'   (blank: every event)"
        ),
        "threshold": FieldText(
            "Threshold (events)",
            "N: a match when at least this many counted events fall in one window, e.g. 5.",
        ),
        "window": FieldText(
            "Window",
            "The window's length. Sliding: the window (t − window, t] ending at each counted "
            "event. Tumbling: fixed windows aligned to the epoch (every whole 5 minutes for "
            '"5m"). ' + _DURATION_HELP,
            "e.g. 5m",
        ),
        "window_type": FieldText(
            "Window type",
            "sliding: a match when the count first reaches N, and none again until it drops "
            "below N (one per episode). tumbling: one match per fixed window whose count reaches "
            "N, reported when the window closes.",
        ),
    },
    "velocity": {
        "where": _WHERE,
        "value_field": FieldText(
            "Sum of field",
            "Blank: the rate counts events. A numeric field (e.g. amount): the rate sums it "
            "instead. Pick from the events' fields or type a name.",
        ),
        "threshold": FieldText(
            "Threshold (rate)",
            "A match when the rate reaches this, in events (or units of the summed field) per "
            "the unit below; e.g. 100 with per minute is 100 events a minute.",
        ),
        "per": FieldText(
            "Per",
            "The time unit of the rate: rate = count (or sum) in the window ÷ the window's "
            "length in this unit.",
        ),
        "window": FieldText(
            "Window",
            "The rate is measured over (t − window, t] at each event; one match per episode "
            "over the threshold. " + _DURATION_HELP,
            "e.g. 5m",
        ),
    },
    "trend": {
        "value_field": FieldText(
            "Value field",
            "The numeric field whose consecutive values (per key, in time order) form the run, "
            "e.g. price.",
        ),
        "direction": FieldText(
            "Direction",
            "up: each value above the previous one (within the tolerance) and the run's last "
            "above its first. down: the mirror image. flat: each value within the tolerance of "
            "the previous one.",
        ),
        "count": FieldText(
            "Values in a row (N)",
            "How many consecutive values make a trend, e.g. 5. One match when a run reaches N "
            "values; a new one only after the run breaks.",
        ),
        "tolerance_pct": FieldText(
            "Tolerance (%)",
            "Percent of the previous value a step may go against the direction (up, down) or "
            "differ by (flat). 0: strictly rising or falling, exactly flat; 1: up allows a dip "
            "of up to 1%.",
        ),
    },
    "outlier": {
        "value_field": FieldText(
            "Value field", "The numeric field to watch, e.g. price or latency_ms."
        ),
        "method": FieldText(
            "Method",
            "zscore: |x − mean| / std > k. iqr: x outside [Q1 − k·IQR, Q3 + k·IQR]. mad: "
            "|x − median| / (1.4826·MAD) > k, robust to earlier outliers.",
        ),
        "threshold": FieldText(
            "Threshold (k)",
            "How far out a value must be, in the method's units: standard deviations (zscore), "
            "IQRs (iqr) or scaled MADs (mad); 3 is a common choice.",
        ),
        "baseline": FieldText(
            "Baseline window",
            "The key's events in (t − baseline, t), the current one left out, are the "
            "baseline; e.g. 1h. " + _DURATION_HELP,
            "e.g. 1h",
        ),
        "min_samples": FieldText(
            "Minimum samples",
            "No decision until the baseline holds this many events, e.g. 10.",
        ),
    },
    "session": {
        "gap": FieldText(
            "Gap",
            "A pause longer than this closes the session: the next event starts a new one; "
            "e.g. 30m. " + _DURATION_HELP,
            "e.g. 30m",
        ),
        "max_duration": FieldText(
            "Max duration",
            "A session this long closes even without a pause; the next event starts a new "
            "one. Blank: no limit. " + _DURATION_HELP,
            "blank: no limit",
        ),
        "where": FieldText(
            "Events where",
            "Which events belong to sessions; the others are ignored. Blank: every event. "
            + _CONDITION_HELP,
            "e.g. type = 'click'   (blank: every event)",
        ),
        "having": FieldText(
            "Having",
            "A condition on each closed session, which is a match when it holds: event_count, "
            "duration_s (seconds) and aggregates of fields, e.g. event_count >= 5 AND "
            "SUM(amount) > 100. Blank: every session.",
            "e.g. event_count >= 5   (blank: every session)",
        ),
    },
    "dedup": {
        "where": FieldText(
            "Events where",
            "Which events are deduplicated, e.g. event = 'paid'; the others are ignored: they "
            "are never kept or duplicates and open no window. Blank: every event. "
            + _CONDITION_HELP,
            "e.g. event = 'paid'   (blank: every event)",
        ),
        "fields": FieldText(
            "Duplicate when equal",
            "Fields whose equal values make an event a duplicate of an earlier kept one, e.g. "
            "message_id, or price. Each key is deduplicated on its own, so the key fields need "
            "not be repeated here. Pick from the events' fields or type a name.",
        ),
        "window": FieldText(
            "Window",
            "A duplicate comes within this after the kept event; an event after the window is "
            "kept and starts a new one. One match per duplicate: [kept, duplicate]. "
            + _DURATION_HELP,
            "e.g. 10m",
        ),
    },
    "geofence": {
        "lat_field": FieldText(
            "Latitude field", "The field with the latitude in degrees (WGS-84, −90 to 90)."
        ),
        "lon_field": FieldText(
            "Longitude field", "The field with the longitude in degrees (WGS-84, −180 to 180)."
        ),
        "shape": FieldText(
            "Shape",
            "circle: a centre and a radius in metres (great-circle distance). polygon: at "
            "least 3 lat/lon vertices in order, edges not crossing. Points on the boundary "
            "count as inside.",
        ),
        "trigger": FieldText(
            "Trigger",
            "enter: outside → inside. exit: inside → outside. dwell: inside for at least the "
            "dwell time (one match per visit). A key's first event sets its state without a "
            "match.",
        ),
        "dwell": FieldText(
            "Dwell",
            "How long a key must stay inside for a dwell match, e.g. 10m. " + _DURATION_HELP,
            "e.g. 10m",
        ),
    },
    "temporal_correlation": {
        "a": FieldText(
            "A (condition)",
            "The first kind of event, e.g. type = 'payment'. " + _CONDITION_HELP,
            "e.g. type = 'payment'",
        ),
        "b": FieldText(
            "B (condition)",
            "The second kind of event, e.g. type = 'refund'. Events pair one-to-one in time "
            "order; an event never pairs with itself.",
            "e.g. type = 'refund'",
        ),
        "correlate_on": _CORRELATE_ON,
        "max_gap": FieldText(
            "Max gap",
            "The most time between an A and its B, e.g. 10m. " + _DURATION_HELP,
            "e.g. 10m",
        ),
        "order": FieldText(
            "Order",
            "any: A and B in either order. a_then_b: only an A before its B.",
        ),
    },
    "heartbeat": {
        "interval": FieldText(
            "Interval",
            "The expected time between a key's events, e.g. 1m. " + _DURATION_HELP,
            "e.g. 1m",
        ),
        "grace": FieldText(
            "Grace",
            "Slack before a silent key counts as dead: dead once event time passes its last "
            "event + interval + grace. Blank: none. " + _DURATION_HELP,
            "blank: none",
        ),
        "emit": FieldText(
            "Emit",
            "dead: one match per silence. status_change: also a match (classifier alive) when "
            "the key comes back.",
        ),
    },
    "state_machine": {
        "states": FieldText(
            "States",
            "One row per state: its name, whether it is terminal (the machine ends there; the "
            "key's next event restarts at the initial state) and its own timeout (blank: the "
            "timeout for every state below, or none). Add rows at the bottom; select rows to "
            "delete them.",
        ),
        "initial": FieldText("Initial state", "Where each key's machine starts."),
        "transitions": FieldText(
            "Transitions",
            "Each event takes the first listed transition from the current state whose "
            "condition holds (blank condition: any event). From * means from any state. "
            "Matches carry the from and to states.",
        ),
        "timeout": FieldText(
            "Timeout (every state)",
            "A state held longer than this moves to the timeout state at the deadline. A "
            "state's own timeout in the table overrides it. Blank: only the states with their "
            "own timeout time out. " + _DURATION_HELP,
            "blank: no timeout",
        ),
        "timeout_state": FieldText(
            "On timeout, move to",
            "The state a timed-out state moves to; needed with any timeout.",
        ),
        "emit": FieldText(
            "Emit",
            "transition: a match per transition taken. terminal: a match when a key reaches a "
            "terminal state. all: both.",
        ),
        "on_unmatched": FieldText(
            "Events no transition takes",
            "ignore: skip them. flag: report each as a match.",
        ),
    },
}
"""Label, help and placeholder of every kind's fields."""

BASE_TEXTS: dict[str, FieldText] = {
    "name": FieldText("Pattern name", "Shown in results and downloads; any non-empty text."),
    "description": FieldText("Description", "Free text saved with the pattern (optional)."),
    "partition_by": FieldText(
        "Partition by",
        "Key fields: the detector runs separately for each combination of their values (e.g. "
        "per symbol or per user). Pick from the events' fields or type a name.",
    ),
    "order_by": FieldText(
        "Order by (time field)",
        "The event-time field: ISO-8601 times or epoch seconds / milliseconds. Events are "
        "processed in this order.",
    ),
    "id_field": FieldText(
        "Event id field",
        "The field that identifies an event in the results.",
        "blank: id when present, else the row number",
    ),
}


def field_text(kind: str, name: str) -> FieldText:
    """The label, help and placeholder of one field of ``kind`` (a base field or its own)."""
    return BASE_TEXTS.get(name) or FIELD_TEXTS[kind][name]


def help_text(kind: str, spec: FieldSpec) -> str:
    """The field's help with the model's bounds added.

    >>> help_text("trend", kind_fields("trend")[2]).endswith("At least 2, at most 100,000.")
    True
    """
    text = field_text(kind, spec.name).help
    if spec.bounds:
        text += f" {spec.bounds[0].upper()}{spec.bounds[1:]}."
    if spec.nullable and spec.widget in ("condition", "duration", "column", "state"):
        text += "" if "Blank" in text else " Optional."
    elif spec.default not in (None, (), ""):
        text += f" Default: {spec.default}."
    return text


# --------------------------------------------------------------------------------------------
# Tables: rows as dicts, columns as data

TableColumnKind = Literal["text", "number", "check"]


@dataclass(frozen=True)
class TableColumn:
    """One column of a table input: its key in a row, what it holds and its header text."""

    name: str
    kind: TableColumnKind
    label: str
    help: str


TABLES: dict[str, tuple[TableColumn, ...]] = {
    "vertices": (
        TableColumn("lat", "number", "Latitude", "Degrees, −90 to 90, e.g. 52.5200."),
        TableColumn("lon", "number", "Longitude", "Degrees, −180 to 180, e.g. 13.4050."),
    ),
    "states": (
        TableColumn("state", "text", "State", "A unique name, e.g. pending; not *."),
        TableColumn("terminal", "check", "Terminal", "The machine ends in this state."),
        TableColumn(
            "timeout", "text", "Own timeout", 'A duration such as "10m"; blank: the common one.'
        ),
    ),
    "transitions": (
        TableColumn("from", "text", "From", "The current state, or * for any state."),
        TableColumn("to", "text", "To", "The next state."),
        TableColumn("when", "text", "When", "A SQL condition on the event; blank: any event."),
    ),
}
"""The table inputs (a row per vertex, state or transition) and their columns."""


def _blank_cell(column: TableColumn) -> Any:
    return {"text": "", "number": None, "check": False}[column.kind]


def _is_blank(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def clean_rows(table: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows with exactly the table's columns (missing cells blank, NaN as None), blank rows out.

    >>> clean_rows("vertices", [{"lat": 1.0, "lon": float("nan")}, {"lat": None}, {"x": 1}])
    [{'lat': 1.0, 'lon': None}]
    """
    out = []
    for row in rows:
        cells: dict[str, Any] = {}
        for column in TABLES[table]:
            value = row.get(column.name, _blank_cell(column))
            if column.kind == "number":
                value = None if _is_blank(value) else value
            elif column.kind == "check":
                value = bool(value)
            else:
                value = "" if value is None else str(value)
            cells[column.name] = value
        if not all(_is_blank(v) for v in cells.values()):
            out.append(cells)
    return out


def apply_table_edits(
    table: str, rows: Sequence[Mapping[str, Any]], edits: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Apply a `st.data_editor` edit state (as Streamlit does: cells, deletions, additions).

    >>> rows = [{"lat": 1.0, "lon": 2.0}, {"lat": 3.0, "lon": 4.0}]
    >>> apply_table_edits("vertices", rows, {"edited_rows": {"0": {"lat": 9.0}},
    ...     "deleted_rows": [1], "added_rows": [{"lon": 5.0}]})
    [{'lat': 9.0, 'lon': 2.0}, {'lat': None, 'lon': 5.0}]
    """
    columns = TABLES[table]
    names = {c.name for c in columns}
    out = [dict(row) for row in rows]
    for position, changes in (edits.get("edited_rows") or {}).items():
        i = int(position)
        if 0 <= i < len(out):
            out[i].update({k: v for k, v in changes.items() if k in names})
    deleted = {int(i) for i in edits.get("deleted_rows") or ()}
    out = [row for i, row in enumerate(out) if i not in deleted]
    for added in edits.get("added_rows") or ():
        out.append({c.name: added.get(c.name, _blank_cell(c)) for c in columns})
    return out


def blank_row(table: str) -> dict[str, Any]:
    """An empty row of ``table``: what a table with no rows shows, to type in (an empty column
    has no type for `st.data_editor` to edit with)."""
    return {c.name: _blank_cell(c) for c in TABLES[table]}


def table_data(table: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows as the column → values mapping `st.data_editor` edits.

    >>> table_data("vertices", [{"lat": 1.0, "lon": 2.0}, {"lat": 3.0}])
    {'lat': [1.0, 3.0], 'lon': [2.0, None]}
    """
    return {c.name: [row.get(c.name, _blank_cell(c)) for row in rows] for c in TABLES[table]}


def table_rows(table: str, data: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The column → values mapping `st.data_editor` returns, as rows (blank rows dropped)."""
    cells = {c.name: list(data.get(c.name) or ()) for c in TABLES[table]}
    count = max((len(values) for values in cells.values()), default=0)
    rows = [{c: v[i] if i < len(v) else None for c, v in cells.items()} for i in range(count)]
    return clean_rows(table, rows)


# --------------------------------------------------------------------------------------------
# Keys


def kind_key(kind: str, field: str) -> str:
    """The session-state key of one form value of ``kind``.

    >>> kind_key("trend", "count")
    'test.kind.trend.count'
    """
    return state.TEST_KIND_FIELD.format(kind=kind, field=field)


def editor_key(kind: str, field: str) -> str:
    """The key of the `st.data_editor` of one table field (its edits to the field's rows)."""
    return state.TEST_KIND_TABLE_EDITOR.format(kind=kind, field=field)


def edits_key(kind: str, field: str) -> str:
    """The key of the copy of a table's edits that outlives its editor."""
    return state.TEST_KIND_TABLE_EDITS.format(kind=kind, field=field)


_SHAPE_VALUES = ("shape_type", "center_lat", "center_lon", "radius_m", "vertices")


def value_names(kind: str) -> tuple[str, ...]:
    """The names of the kind's form values (the `field` of `kind_key`), base fields first.

    >>> value_names("geofence")[5:]
    ... # doctest: +NORMALIZE_WHITESPACE
    ('lat_field', 'lon_field', 'shape_type', 'center_lat', 'center_lon', 'radius_m', 'vertices',
     'trigger', 'dwell')
    """
    names = list(BASE_FIELDS)
    for spec in kind_fields(kind):
        if spec.widget == "shape":
            names.extend(_SHAPE_VALUES)
        elif spec.name != "terminal":  # a column of the states table
            names.append(spec.name)
    return tuple(names)


def table_fields(kind: str) -> tuple[str, ...]:
    """The kind's form values that are tables (edited with `st.data_editor`)."""
    return tuple(name for name in value_names(kind) if name in TABLES)


# --------------------------------------------------------------------------------------------
# JSON value → form values


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _duration_text(value: Any) -> str:
    """A duration as the form shows it: text as written, other forms in short notation."""
    if value is None or isinstance(value, str):
        return _text(value)
    try:
        return str(Duration(value))
    except PatternError:
        return str(value)


EXAMPLE_VERTICES: tuple[dict[str, float], ...] = (
    {"lat": 52.515, "lon": 13.395},
    {"lat": 52.515, "lon": 13.415},
    {"lat": 52.525, "lon": 13.415},
    {"lat": 52.525, "lon": 13.395},
)
"""The polygon a circle's form starts with when switched to polygon: a square around its centre."""


def _shape_values(shape: Mapping[str, Any] | None) -> dict[str, Any]:
    circle = EXAMPLES["geofence"]["shape"]
    values = {
        "shape_type": "circle",
        "center_lat": float(circle["center"]["lat"]),
        "center_lon": float(circle["center"]["lon"]),
        "radius_m": float(circle["radius_m"]),
        "vertices": [dict(v) for v in EXAMPLE_VERTICES],
    }
    shape = shape or {}
    if shape.get("type") == "polygon":
        values["shape_type"] = "polygon"
        values["vertices"] = clean_rows("vertices", list(shape.get("vertices") or ()))
    elif shape:
        center = shape.get("center") or {}
        values["center_lat"] = center.get("lat")
        values["center_lon"] = center.get("lon")
        values["radius_m"] = shape.get("radius_m")
    return values


def _state_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    terminal = set(data.get("terminal") or ())
    timeout = data.get("timeout")
    own = timeout if isinstance(timeout, Mapping) and set(timeout) - {"value", "unit"} else {}
    return [
        {"state": str(s), "terminal": s in terminal, "timeout": _duration_text(own.get(s))}
        for s in data.get("states") or ()
    ]


def _common_timeout(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) - {"value", "unit"}:
        return ""  # per-state timeouts: in the states table
    return _duration_text(value)


def _transition_rows(transitions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"from": _text(t.get("from", t.get("from_"))), "to": _text(t.get("to")),
         "when": _text(t.get("when"))}
        for t in transitions
    ]  # fmt: skip


def kind_values(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A pattern's JSON value (of ``kind``) as form values: value name → value."""
    values: dict[str, Any] = {
        "name": _text(data.get("name")),
        "description": _text(data.get("description")),
        "partition_by": [str(f) for f in data.get("partition_by") or ()],
        "order_by": _text(data.get("order_by") or DEFAULT_ORDER_BY),
        "id_field": _text(data.get("id_field")),
    }
    for spec in kind_fields(kind):
        value = data.get(spec.name)
        if value is None:
            value = spec.default
        if spec.widget == "shape":
            values.update(_shape_values(value))
        elif spec.widget == "states" and spec.name == "states":
            values["states"] = _state_rows(data)
        elif spec.widget == "timeouts":
            values["timeout"] = _common_timeout(value)
        elif spec.widget == "transitions":
            values["transitions"] = _transition_rows(list(value or ()))
        elif spec.widget == "duration":
            values[spec.name] = _duration_text(value)
        elif spec.widget == "columns":
            values[spec.name] = [str(f) for f in value or ()]
        elif spec.widget == "int":
            values[spec.name] = value
        elif spec.widget == "float":
            values[spec.name] = None if value is None else float(value)
        elif spec.widget == "choice":
            values[spec.name] = _text(value) or spec.choices[0]
        elif spec.widget != "states":
            values[spec.name] = _text(value)
    return values


def form_from_pattern(data: Mapping[str, Any]) -> dict[str, Any]:
    """A detector pattern's JSON value as form values: session-state key → value.

    Raises:
        ValueError: the value is not of a detector kind.
    """
    kind = str(data.get("kind") or "")
    if kind not in DETECTOR_KINDS:
        raise ValueError(f"{kind or 'no kind'!r} is not a detector kind")
    values: dict[str, Any] = {state.TEST_KIND: kind}
    for name, value in kind_values(kind, data).items():
        values[kind_key(kind, name)] = value
    return values


# --------------------------------------------------------------------------------------------
# Form values → JSON value


def _stripped(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def field_applies(kind: str, name: str, values: Mapping[str, Any]) -> bool:
    """Whether a field is shown and written: a geofence's dwell only with the dwell trigger."""
    if (kind, name) == ("geofence", "dwell"):
        return values.get("trigger") == "dwell"
    return True


def _shape_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    if values.get("shape_type") == "polygon":
        vertices = clean_rows("vertices", list(values.get("vertices") or ()))
        return {"type": "polygon", "vertices": vertices}
    return {
        "type": "circle",
        "center": {
            "lat": _number(values.get("center_lat")),
            "lon": _number(values.get("center_lon")),
        },
        "radius_m": _number(values.get("radius_m")),
    }


def _timeout_value(values: Mapping[str, Any]) -> str | dict[str, str] | None:
    common = _stripped(values.get("timeout"))
    rows = clean_rows("states", list(values.get("states") or ()))
    own = {row["state"].strip(): row["timeout"].strip() for row in rows if row["timeout"].strip()}
    if not own:
        return common or None
    timeouts: dict[str, str] = {}
    for row in rows:
        name = row["state"].strip()
        if name in own:
            timeouts[name] = own[name]
        elif common and not row["terminal"]:
            timeouts[name] = common
    return timeouts


def kind_dict(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values (value name → value) as the JSON value of a ``kind`` pattern.

    Blank optional text is left out, and so is what does not apply (a dwell without the dwell
    trigger); the rest is checked by the model, so a mistake surfaces as a `PatternError`
    naming the field.
    """
    out: dict[str, Any] = {"kind": kind, "name": _text(values.get("name"))}
    description = _stripped(values.get("description"))
    if description:
        out["description"] = description
    out["partition_by"] = [_stripped(f) for f in values.get("partition_by") or () if _stripped(f)]
    out["order_by"] = _stripped(values.get("order_by"))
    id_field = _stripped(values.get("id_field"))
    if id_field:
        out["id_field"] = id_field
    for spec in kind_fields(kind):
        name = spec.name
        if not field_applies(kind, name, values):
            continue
        if spec.widget == "shape":
            out[name] = _shape_dict(values)
        elif spec.widget == "states":
            rows = clean_rows("states", list(values.get("states") or ()))
            if name == "states":
                out[name] = [row["state"].strip() for row in rows]
            elif any(row["terminal"] for row in rows):
                out[name] = [row["state"].strip() for row in rows if row["terminal"]]
        elif spec.widget == "timeouts":
            timeout = _timeout_value(values)
            if timeout is not None:
                out[name] = timeout
        elif spec.widget == "transitions":
            out[name] = [
                {"from": row["from"].strip(), "to": row["to"].strip()}
                | ({"when": row["when"].strip()} if row["when"].strip() else {})
                for row in clean_rows("transitions", list(values.get(name) or ()))
            ]
        elif spec.widget == "columns":
            out[name] = [_stripped(f) for f in values.get(name) or () if _stripped(f)]
        elif spec.widget in ("int", "float"):
            number = _number(values.get(name))
            if number is not None or spec.required:
                out[name] = number
        else:
            text = _stripped(values.get(name))
            if text or (spec.widget == "choice" and spec.required):
                out[name] = text
    return out


def selected_kind(values: Mapping[str, Any]) -> str:
    """The kind the form builds (the default kind when none is chosen yet)."""
    kind = values.get(state.TEST_KIND)
    return kind if kind in DETECTOR_KINDS else DEFAULT_KIND


def order_by_of(values: Mapping[str, Any]) -> str:
    """The selected kind's time field (to read the events with before the form is drawn)."""
    return _stripped(values.get(kind_key(selected_kind(values), "order_by"))) or DEFAULT_ORDER_BY


def pattern_from_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """The selected kind's form values (session-state key → value) as its pattern's JSON value."""
    kind = selected_kind(values)
    return kind_dict(kind, {name: values.get(kind_key(kind, name)) for name in value_names(kind)})


def missing_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The example's value for every value of the selected kind not in ``values``."""
    kind = selected_kind(values)
    out: dict[str, Any] = {} if state.TEST_KIND in values else {state.TEST_KIND: kind}
    for key, value in form_from_pattern(EXAMPLES[kind]).items():
        if key not in values:
            out[key] = value
    return out


def unknown_fields(kind: str, data: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    """The event fields the pattern names that the events do not have (none when unknown).

    >>> unknown_fields("trend", {"value_field": "amount", "partition_by": ["symbol"]},
    ...                ["id", "symbol", "ts", "price"])
    ['amount']
    """
    if not columns:
        return []
    named = [*(data.get("partition_by") or ()), data.get("order_by"), data.get("id_field")]
    for spec in kind_fields(kind):
        value = data.get(spec.name)
        if spec.widget == "column":
            named.append(value if value is not None else spec.default)
        elif spec.widget == "columns":
            named.extend(value or ())
    return [str(f) for f in dict.fromkeys(named) if f and f not in columns]


_ROWS = (
    (re.compile(r"\btransitions\[(\d+)\]\.?"), "transition {n}"),
    (re.compile(r"\bshape\.vertices\[(\d+)\]\.?"), "vertex {n}"),
    (re.compile(r"\bstates\[(\d+)\]\.?"), "state {n}"),
    (re.compile(r"\bterminal\[(\d+)\]\.?"), "terminal state {n}"),
)
_PARTS = {
    "shape.vertices": "vertices",
    "shape.center.lat": "centre latitude",
    "shape.center.lon": "centre longitude",
    "shape.radius_m": "radius",
}


def readable_error(message: str) -> str:
    """Name fields as the form shows them: "transition 2, from" for "transitions[1].from".

    >>> readable_error("f: transitions[1].from: unknown state 'x'; shape.vertices[0]: bad")
    "f: transition 2, from: unknown state 'x'; vertex 1: bad"
    >>> readable_error("f: shape.radius_m: Input should be greater than 0")
    'f: radius: Input should be greater than 0'
    """

    def row(words: str) -> Any:
        def name(m: re.Match[str]) -> str:
            dotted = m.group(0).endswith(".")
            return words.format(n=int(m.group(1)) + 1) + (", " if dotted else "")

        return name

    for pattern, words in _ROWS:
        message = pattern.sub(row(words), message)
    for path, words in _PARTS.items():
        message = re.sub(rf"\b{re.escape(path)}\b(?!\[)", words, message)
    return message


def check_kind_pattern(data: Mapping[str, Any]) -> tuple[Pattern | None, str | None]:
    """Validate the form's pattern: the pattern, or the model's message (rows numbered as shown)."""
    try:
        return parse_pattern(data, source=KIND_FORM_SOURCE), None
    except PatternError as e:
        return None, readable_error(str(e))


# --------------------------------------------------------------------------------------------
# Rendering

_PERSIST = "session"  # keep the form while another pattern mode is shown, and across pages


def init_form_state() -> None:
    """Put any missing value of the selected kind into session state (before drawing)."""
    for key, value in missing_values(st.session_state).items():
        st.session_state[key] = value


def _load_form(values: Mapping[str, Any]) -> None:
    kind = selected_kind(values)
    for field in table_fields(kind):
        st.session_state.pop(editor_key(kind, field), None)
        st.session_state.pop(edits_key(kind, field), None)
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state.pop(state.TEST_KIND_NOTICE, None)


def load_example() -> None:
    """Fill the form with the selected kind's example."""
    _load_form(form_from_pattern(EXAMPLES[selected_kind(st.session_state)]))


def load_from_text() -> None:
    """Fill the form from the pattern text, when it is a valid detector pattern."""
    text = str(st.session_state.get(state.TEST_PATTERN_TEXT) or "")
    if not text.strip():
        st.session_state[state.TEST_KIND_NOTICE] = (
            "The pattern text is empty: choose **Text or file** and paste, upload or load a "
            "detector pattern first."
        )
        return
    try:
        source = st.session_state.get(state.TEST_PATTERN_SOURCE) or "pattern text"
        pattern = parse_pattern(text, source=source, fmt=pattern_format(source))
    except PatternError as e:
        st.session_state[state.TEST_KIND_NOTICE] = message_markdown(
            "The pattern text is not a valid pattern", str(e)
        )
        return
    if pattern.kind not in DETECTOR_KINDS:
        st.session_state[state.TEST_KIND_NOTICE] = (
            f"The pattern text is a **{pattern.kind}** pattern; this form builds the detector "
            "kinds (sequences have their own form)."
        )
        return
    _load_form(form_from_pattern(pattern_to_dict(pattern)))


def copy_to_text() -> None:
    """Put the form's pattern, as JSON, in the pattern text and show the text."""
    pattern, _ = check_kind_pattern(pattern_from_form(st.session_state))
    if pattern is None:
        return
    st.session_state[state.TEST_PATTERN_TEXT] = dump_pattern(pattern, "json")
    st.session_state[state.TEST_PATTERN_SOURCE] = None
    st.session_state[state.TEST_PATTERN_MODE] = MODE_TEXT


def _keep_table_edits(kind: str, field: str) -> None:
    """Copy the editor's edits: Streamlit drops them once the editor is not drawn."""
    st.session_state[edits_key(kind, field)] = dict(
        st.session_state.get(editor_key(kind, field)) or {}
    )


def _column_config(column: TableColumn) -> Any:
    if column.kind == "number":
        return st.column_config.NumberColumn(column.label, help=column.help, format="%.6f")
    if column.kind == "check":
        return st.column_config.CheckboxColumn(column.label, help=column.help, default=False)
    return st.column_config.TextColumn(column.label, help=column.help, default="")


def _table(kind: str, field: str, label: str, tooltip: str) -> list[dict[str, Any]]:
    """Draw one table input; return its rows as edited.

    The editor edits the rows held in the field. Its data stays the same while it is shown, so
    it is not redrawn from scratch after each edit (which would lose the cell being edited);
    once it has been hidden (another kind, mode or page), its copied edits are applied to the
    rows before it is drawn again.
    """
    st.markdown(f"**{label}**", help=tooltip)
    rows = list(st.session_state.get(kind_key(kind, field)) or [blank_row(field)])
    pending = st.session_state.get(edits_key(kind, field))
    if editor_key(kind, field) not in st.session_state and pending:
        rows = apply_table_edits(field, rows, pending)
        st.session_state[kind_key(kind, field)] = rows
        del st.session_state[edits_key(kind, field)]
    edited = st.data_editor(
        table_data(field, rows),
        key=editor_key(kind, field),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={c.name: _column_config(c) for c in TABLES[field]},
        on_change=_keep_table_edits,
        args=(kind, field),
    )
    return table_rows(field, edited)


def _select(kind: str, name: str, options: Sequence[str], tooltip: str, **kwargs: Any) -> Any:
    key = kind_key(kind, name)
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    return st.selectbox(
        field_text(kind, name).label,
        list(options),
        key=key,
        help=tooltip,
        persist_state=_PERSIST,
        **kwargs,
    )


def _column_input(kind: str, spec: FieldSpec, columns: Sequence[str]) -> None:
    key = kind_key(kind, spec.name)
    chosen = _text(st.session_state.get(key))
    options = field_options(columns, [chosen] if chosen else [])
    if spec.nullable or not options:
        options = ["", *options]
    none_label = "(none: count events)" if spec.name == "value_field" else "(none)"
    _select(
        kind,
        spec.name,
        options,
        help_text(kind, spec),
        accept_new_options=True,
        format_func=lambda v: v or none_label,
    )


_FLOAT_STEPS: dict[str, float] = {"center_lat": 0.001, "center_lon": 0.001, "radius_m": 50.0}
"""How far the +/- buttons move a number (whole numbers move by 1; other numbers by 0.5)."""


def _number_input(kind: str, name: str, label: str, tooltip: str, *, whole: bool) -> None:
    key = kind_key(kind, name)
    value = _number(st.session_state.get(key))
    if not isinstance(value, int | float) or isinstance(value, bool):
        value = 0
    # number_input takes its type from the value: whole fields hold ints, the others floats
    st.session_state[key] = int(value) if whole and float(value).is_integer() else float(value)
    st.number_input(
        label,
        key=key,
        step=1 if whole else _FLOAT_STEPS.get(name, 0.5),
        format="%d" if isinstance(st.session_state[key], int) else "%g",
        help=tooltip,
        persist_state=_PERSIST,
    )


def _text_input(kind: str, spec: FieldSpec) -> None:
    text = field_text(kind, spec.name)
    st.text_input(
        text.label,
        key=kind_key(kind, spec.name),
        placeholder=text.placeholder or None,
        help=help_text(kind, spec),
        persist_state=_PERSIST,
    )


def _render_shape(kind: str) -> list[dict[str, Any]] | None:
    """Draw the geofence shape inputs; return the polygon's vertices as edited (None: a circle)."""
    text = field_text(kind, "shape")
    shape = st.segmented_control(
        text.label,
        ("circle", "polygon"),
        key=kind_key(kind, "shape_type"),
        required=True,
        help=text.help,
        persist_state=_PERSIST,
    )
    if shape == "polygon":
        return _table(
            kind,
            "vertices",
            "Vertices",
            "The polygon's corners in order, in degrees (treated as a plane; it must not cross "
            "the antimeridian): at least 3, edges not crossing; the last joins the first. Add "
            "rows at the bottom; select rows to delete them.",
        )
    lat_col, lon_col, radius_col = st.columns(3)
    with lat_col:
        _number_input(
            kind, "center_lat", "Centre latitude", "Degrees, −90 to 90, e.g. 52.52.", whole=False
        )
    with lon_col:
        _number_input(
            kind, "center_lon", "Centre longitude", "Degrees, −180 to 180, e.g. 13.405.",
            whole=False,
        )  # fmt: skip
    with radius_col:
        _number_input(
            kind, "radius_m", "Radius (m)",
            "Metres from the centre (great-circle distance), more than 0, e.g. 500.",
            whole=False,
        )  # fmt: skip
    return None


def _state_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [row["state"].strip() for row in clean_rows("states", rows) if row["state"].strip()]


def _render_field(kind: str, spec: FieldSpec, columns: Sequence[str], states: list[str]) -> None:
    if spec.widget in ("condition", "duration", "timeouts"):
        _text_input(kind, spec)
    elif spec.widget == "choice":
        _select(kind, spec.name, spec.choices, help_text(kind, spec))
    elif spec.widget == "column":
        _column_input(kind, spec, columns)
    elif spec.widget in ("int", "float"):
        text = field_text(kind, spec.name)
        _number_input(
            kind, spec.name, text.label, help_text(kind, spec), whole=spec.widget == "int"
        )
    elif spec.widget == "columns":
        key = kind_key(kind, spec.name)
        chosen = list(st.session_state.get(key) or [])
        st.multiselect(
            field_text(kind, spec.name).label,
            field_options(columns, chosen),
            key=key,
            accept_new_options=True,
            placeholder="Pick or type field names",
            help=help_text(kind, spec),
            persist_state=_PERSIST,
        )
    elif spec.widget == "state":
        key = kind_key(kind, spec.name)
        chosen = _text(st.session_state.get(key))
        options = field_options(states, [chosen] if chosen else [])
        if spec.nullable:
            options = ["", *options]
        _select(
            kind,
            spec.name,
            options or [""],
            help_text(kind, spec),
            accept_new_options=True,
            format_func=lambda v: v or "(none)",
        )


_WIDE: frozenset[str] = frozenset({"condition", "columns", "shape", "states", "transitions"})


def _rows_of(specs: Sequence[FieldSpec]) -> list[list[FieldSpec]]:
    """Group the fields into rows: a wide input alone, short ones side by side (up to 3)."""
    rows: list[list[FieldSpec]] = []
    run: list[FieldSpec] = []

    def flush() -> None:
        if run:
            per_row = math.ceil(len(run) / math.ceil(len(run) / 3))
            rows.extend(run[i : i + per_row] for i in range(0, len(run), per_row))
            run.clear()

    for spec in specs:
        if spec.widget in _WIDE:
            flush()
            rows.append([spec])
        else:
            run.append(spec)
    flush()
    return rows


def _render_kind_fields(kind: str, columns: Sequence[str]) -> dict[str, Any]:
    """Draw the kind's own inputs; return the table rows as edited in this run."""
    values = {name: st.session_state.get(kind_key(kind, name)) for name in value_names(kind)}
    specs = [
        s for s in kind_fields(kind) if s.name != "terminal" and field_applies(kind, s.name, values)
    ]
    tables: dict[str, Any] = {}
    states = _state_names(values.get("states") or [])
    for row in _rows_of(specs):
        if len(row) == 1 and row[0].widget in ("shape", "states", "transitions"):
            spec = row[0]
            text = field_text(kind, spec.name)
            if spec.widget == "shape":
                vertices = _render_shape(kind)
                if vertices is not None:
                    tables["vertices"] = vertices
            elif spec.widget == "states":
                tables["states"] = _table(kind, "states", text.label, text.help)
                states = _state_names(tables["states"])
            else:
                tables["transitions"] = _table(kind, "transitions", text.label, text.help)
            continue
        for spec, column in zip(
            row, st.columns(len(row), vertical_alignment="bottom"), strict=True
        ):
            with column:
                _render_field(kind, spec, columns, states)
    return tables


def _kind_label(kind: str) -> str:
    return f"{kind} — {KIND_SUMMARIES[kind]}"


def render_kind_form(columns: Sequence[str], columns_note: str | None = None) -> dict[str, Any]:
    """Draw the form (kind, pattern settings, the kind's fields, actions); return its pattern.

    Args:
        columns: the loaded events' fields, offered wherever a field name is asked for.
        columns_note: why there are no fields to offer, if there are none.
    """
    init_form_state()
    st.selectbox(
        "Detector kind",
        DETECTOR_KINDS,
        key=state.TEST_KIND,
        format_func=_kind_label,
        help="What the pattern looks for. Each kind has its own settings below; each keeps "
        "what you typed while you look at another.",
        persist_state=_PERSIST,
    )
    kind = selected_kind(st.session_state)
    with st.container(horizontal=True, gap="small"):
        st.button(
            "Load example",
            key=state.TEST_KIND_LOAD_EXAMPLE,
            on_click=load_example,
            icon=":material/lightbulb:",
            help=f"Fill in the {kind} example: {EXAMPLE_NOTES[kind]}",
        )
        st.button(
            "Edit the pattern text here",
            key=state.TEST_KIND_FROM_TEXT,
            on_click=load_from_text,
            icon=":material/edit_note:",
            help="Fill this form from the detector pattern in the pattern text (Text or file), "
            "replacing what the form holds for its kind.",
        )
    if notice := st.session_state.get(state.TEST_KIND_NOTICE):
        st.warning(notice, icon=":material/warning:")

    name_col, order_col = st.columns([3, 2])
    name_col.text_input(
        "Pattern name",
        key=kind_key(kind, "name"),
        help=BASE_TEXTS["name"].help,
        persist_state=_PERSIST,
    )
    order_by = _text(st.session_state.get(kind_key(kind, "order_by"))) or DEFAULT_ORDER_BY
    order_col.selectbox(
        BASE_TEXTS["order_by"].label,
        field_options(columns, [order_by]),
        key=kind_key(kind, "order_by"),
        accept_new_options=True,
        help=BASE_TEXTS["order_by"].help,
        persist_state=_PERSIST,
    )
    chosen = list(st.session_state.get(kind_key(kind, "partition_by")) or [])
    st.multiselect(
        BASE_TEXTS["partition_by"].label,
        field_options(columns, chosen),
        key=kind_key(kind, "partition_by"),
        accept_new_options=True,
        placeholder="Each key on its own, e.g. symbol   (none: all events together)",
        help=BASE_TEXTS["partition_by"].help,
        persist_state=_PERSIST,
    )
    if columns_note:
        st.caption(columns_note)

    st.markdown(f"**{kind.replace('_', ' ').capitalize()} settings**")
    tables = _render_kind_fields(kind, columns)
    # The widgets below hold their values in session state already; read them all at once.
    values = {name: st.session_state.get(kind_key(kind, name)) for name in value_names(kind)}
    values.update(tables)
    data = kind_dict(kind, values)
    if missing := unknown_fields(kind, data, columns):
        st.caption(
            ":material/warning: Not fields of these events: "
            + ", ".join(escape_markdown(f) for f in missing)
            + ". Running on them fails; pick other fields, or events that have them."
        )

    with st.expander("More settings", icon=":material/tune:"):
        st.text_area(
            BASE_TEXTS["description"].label,
            key=kind_key(kind, "description"),
            height=68,
            help=BASE_TEXTS["description"].help,
            persist_state=_PERSIST,
        )
        st.text_input(
            BASE_TEXTS["id_field"].label,
            key=kind_key(kind, "id_field"),
            placeholder=BASE_TEXTS["id_field"].placeholder,
            help=BASE_TEXTS["id_field"].help,
            persist_state=_PERSIST,
        )
    return data


def render_kind_check(pattern: Pattern | None, error: str | None) -> None:
    """Show the form's validation: the error, or the pattern as JSON and YAML."""
    if error is not None or pattern is None:
        st.error(
            message_markdown("The detector is not valid yet", error or "unknown error"),
            icon=":material/error:",
        )
        return
    st.success(
        f"Valid **{pattern.kind}** pattern — {escape_markdown(KIND_SUMMARIES[pattern.kind])}; "
        "**Run** uses it.",
        icon=":material/check_circle:",
    )
    json_tab, yaml_tab = st.tabs(["JSON", "YAML"])
    json_tab.code(dump_pattern(pattern, "json"), language="json", height=CODE_HEIGHT_PX)
    yaml_tab.code(dump_pattern(pattern, "yaml"), language="yaml", height=CODE_HEIGHT_PX)
    st.button(
        "Copy to pattern text",
        key=state.TEST_KIND_TO_TEXT,
        on_click=copy_to_text,
        icon=":material/content_copy:",
        help="Put this pattern, as JSON, in the pattern text area (Text or file) to edit it "
        "as text or keep a copy.",
    )
