"""The sequence form of the Test page: its widget values ↔ a `sequence` pattern's JSON value.

The form keeps every value in session state under the keys of `ui.state` (`TEST_SEQ_*`); a
step's widgets are keyed by a step id, so moving a step moves its values with it. The pure
functions below convert between that flat mapping and the pattern's JSON value (DESIGN.md §5.3);
`render_sequence_form` and `render_pattern_check` draw the form and its inline validation.

>>> values = form_from_pattern({"kind": "sequence", "name": "dip", "steps": [
...     {"name": "A", "where": "price < 100"},
...     {"name": "B", "where": "price > A.price", "contiguity": "strict"}], "within": "5m"})
>>> values[step_key(1, "contiguity")], values[state.TEST_SEQ_WITHIN]
('strict', '5m')
>>> pattern_from_form(values)["steps"][1]
{'name': 'B', 'where': 'price > A.price', 'contiguity': 'strict'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from cep.errors import PatternError
from cep.explain import describe_pattern
from cep.model import (
    MAX_STEPS,
    MAX_TIMES,
    Pattern,
    SequencePattern,
    dump_pattern,
    normalize_sequence_skip,
    parse_pattern,
    pattern_to_dict,
)
from ui import state
from ui.inputs import pattern_format
from ui.widgets import escape_markdown, message_markdown

FORM_SOURCE = "sequence form"
"""How errors name the form's pattern."""
MODE_TEXT = "Text or file"
MODE_FORM = "Build a sequence"
MODES: tuple[str, ...] = (MODE_TEXT, MODE_FORM)
"""How the Test page takes its pattern: text (pasted, uploaded, the sample) or this form."""

QUANTIFIERS: dict[str, str] = {
    "once": "once",
    "times": "n to m times",
    "one_or_more": "one or more",
    "n_or_more": "n or more",
}
CONTIGUITIES: dict[str, str] = {
    "relaxed": "followed by (relaxed)",
    "strict": "next (strict)",
    "any": "followed by any",
}
NEGATIONS: dict[str, str] = {
    "none": "none",
    "not_next": "not next",
    "not_followed_by": "not followed by",
}
LOOP_CONTIGUITIES: dict[str, str] = {
    "relaxed": "relaxed (skip others)",
    "strict": "consecutive (strict)",
    "any": "any combination",
}
SKIPS: tuple[str, ...] = (
    "PAST LAST EVENT",
    "NO_SKIP",
    "SKIP TO NEXT",
    "SKIP TO FIRST",
    "SKIP TO LAST",
)
SKIPS_WITH_STEP = ("SKIP TO FIRST", "SKIP TO LAST")
DEFAULT_SKIP = "PAST LAST EVENT"
DEFAULT_NAME = "my_sequence"
DEFAULT_ORDER_BY = "ts"

STEP_FIELDS: tuple[str, ...] = (
    "name",
    "where",
    "contiguity",
    "negated",
    "quantifier",
    "min",
    "max",
    "optional",
    "greedy",
    "loop_contiguity",
    "until",
)
"""The per-step values the form keeps (the widget key's `field`)."""

# Shown for the counts a quantifier does not use, so switching to it starts somewhere sensible.
_UNUSED_MIN, _UNUSED_MAX = 2, 3

EXAMPLE_PATTERN: dict[str, Any] = {
    "kind": "sequence",
    "name": "dip_then_rise",
    "description": "A tick under 100, then a tick over 101 on the same symbol within 5 minutes.",
    "partition_by": ["symbol"],
    "steps": [
        {"name": "dip", "where": "price < 100"},
        {"name": "rise", "where": "price > 101"},
    ],
    "within": "5m",
}
"""The "Load example" sequence; on the sample ticks it matches ACME events 5 (99) and 19 (102)."""


# --------------------------------------------------------------------------------------------
# Keys


def step_key(uid: int, field: str) -> str:
    """The session-state key of one step's value (or button).

    >>> step_key(3, "where")
    'test.seq.step.3.where'
    """
    return state.TEST_SEQ_STEP.format(uid=uid, field=field)


def step_keys(uid: int) -> list[str]:
    """Every value key of one step."""
    return [step_key(uid, field) for field in STEP_FIELDS]


# --------------------------------------------------------------------------------------------
# One step: JSON value ↔ field values


def step_defaults(name: str) -> dict[str, Any]:
    """A new step's values: every event, once, followed by the previous step (relaxed)."""
    return {
        "name": name,
        "where": "",
        "contiguity": "relaxed",
        "negated": "none",
        "quantifier": "once",
        "min": _UNUSED_MIN,
        "max": _UNUSED_MAX,
        "optional": False,
        "greedy": False,
        "loop_contiguity": "relaxed",
        "until": "",
    }


def _times(value: object) -> tuple[int, int | None]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, Mapping):
        low = value.get("min", 1)
        high = value.get("max", 1)
        return int(low), None if high is None else int(high)
    return 1, 1


def quantifier_of(low: int, high: int | None) -> str:
    """Name the quantifier of ``times {min, max}``.

    >>> quantifier_of(1, 1), quantifier_of(2, 5), quantifier_of(1, None), quantifier_of(3, None)
    ('once', 'times', 'one_or_more', 'n_or_more')
    """
    if high is None:
        return "one_or_more" if low == 1 else "n_or_more"
    return "once" if low == high == 1 else "times"


def step_values(step: Mapping[str, Any]) -> dict[str, Any]:
    """A step's JSON value (DESIGN.md §5.3) as form values (`STEP_FIELDS`)."""
    low, high = _times(step.get("times"))
    quantifier = quantifier_of(low, high)
    return {
        "name": str(step.get("name") or ""),
        "where": step.get("where") or "",
        "contiguity": step.get("contiguity") or "relaxed",
        "negated": step.get("negated") or "none",
        "quantifier": quantifier,
        "min": low if quantifier in ("times", "n_or_more") else _UNUSED_MIN,
        "max": high if quantifier == "times" else _UNUSED_MAX,
        "optional": bool(step.get("optional", False)),
        "greedy": bool(step.get("greedy", False)),
        "loop_contiguity": step.get("loop_contiguity") or "relaxed",
        "until": step.get("until") or "",
    }


def step_dict(values: Mapping[str, Any], *, first: bool = False) -> dict[str, Any]:
    """Form values (`STEP_FIELDS`) as a step's JSON value, leaving out what is at its default.

    A negated step takes no events, so only its name, condition and negation are written.
    The first step has no previous step, so its contiguity is not written.

    >>> step_dict({**step_defaults("B"), "where": "x > 1", "quantifier": "n_or_more", "min": 3,
    ...            "greedy": True})
    {'name': 'B', 'where': 'x > 1', 'times': {'min': 3, 'max': None}, 'greedy': True}
    """
    out: dict[str, Any] = {"name": str(values.get("name") or "").strip()}
    where = str(values.get("where") or "").strip()
    if where:
        out["where"] = where
    negated = values.get("negated") or "none"
    if negated != "none":
        out["negated"] = negated
        return out
    contiguity = values.get("contiguity") or "relaxed"
    if not first and contiguity != "relaxed":
        out["contiguity"] = contiguity
    quantifier = values.get("quantifier") or "once"
    low = int(values.get("min") or 1)
    high = int(values.get("max") or 1)
    times = {
        "once": None,
        "times": {"min": low, "max": high},
        "one_or_more": {"min": 1, "max": None},
        "n_or_more": {"min": low, "max": None},
    }[quantifier]
    if times is not None:
        out["times"] = times
    if values.get("optional"):
        out["optional"] = True
    if quantifier != "once":
        if values.get("greedy"):
            out["greedy"] = True
        loop = values.get("loop_contiguity") or "relaxed"
        if loop != "relaxed":
            out["loop_contiguity"] = loop
    until = str(values.get("until") or "").strip()
    if until and quantifier in ("one_or_more", "n_or_more"):
        out["until"] = until
    return out


# --------------------------------------------------------------------------------------------
# The whole form: JSON value ↔ flat session-state mapping


def _split_skip(value: str) -> tuple[str, str]:
    skip = normalize_sequence_skip(value)
    for prefix in SKIPS_WITH_STEP:
        if skip.startswith(prefix + " "):
            return prefix, skip[len(prefix) + 1 :]
    return skip, ""


def form_from_pattern(data: Mapping[str, Any]) -> dict[str, Any]:
    """A sequence pattern's JSON value as form values: session-state key → value.

    Steps get ids 0, 1, ... in order. Raises `ValueError` for a skip strategy that is not a
    sequence one (a validated pattern never has one).
    """
    steps = list(data.get("steps") or [])
    skip, skip_step = _split_skip(str(data.get("after_match_skip") or DEFAULT_SKIP))
    within = data.get("within")
    values: dict[str, Any] = {
        state.TEST_SEQ_NAME: str(data.get("name") or ""),
        state.TEST_SEQ_DESCRIPTION: str(data.get("description") or ""),
        state.TEST_SEQ_PARTITION_BY: [str(f) for f in data.get("partition_by") or ()],
        state.TEST_SEQ_ORDER_BY: str(data.get("order_by") or DEFAULT_ORDER_BY),
        state.TEST_SEQ_ID_FIELD: str(data.get("id_field") or ""),
        state.TEST_SEQ_WITHIN: "" if within is None else str(within),
        state.TEST_SEQ_SKIP: skip,
        state.TEST_SEQ_SKIP_STEP: skip_step,
        state.TEST_SEQ_STEP_IDS: list(range(len(steps))),
        state.TEST_SEQ_NEXT_ID: len(steps),
    }
    for uid, step in enumerate(steps):
        for field, value in step_values(step).items():
            values[step_key(uid, field)] = value
    return values


def step_ids(values: Mapping[str, Any]) -> list[int]:
    """The step ids in step order."""
    return list(values.get(state.TEST_SEQ_STEP_IDS) or [])


def step_field_values(values: Mapping[str, Any], uid: int) -> dict[str, Any]:
    """One step's values (defaults where a value is missing)."""
    defaults = step_defaults("")
    return {field: values.get(step_key(uid, field), defaults[field]) for field in STEP_FIELDS}


def pattern_from_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as a sequence pattern's JSON value, ready for `cep.model.parse_pattern`.

    Blank optional text (description, id field, window, conditions) is left out; what is left
    is checked by the model, so a mistake surfaces as a `PatternError` naming the field.
    """
    out: dict[str, Any] = {"kind": "sequence", "name": str(values.get(state.TEST_SEQ_NAME) or "")}
    description = str(values.get(state.TEST_SEQ_DESCRIPTION) or "").strip()
    if description:
        out["description"] = description
    out["partition_by"] = [str(f) for f in values.get(state.TEST_SEQ_PARTITION_BY) or ()]
    out["order_by"] = str(values.get(state.TEST_SEQ_ORDER_BY) or "").strip()
    id_field = str(values.get(state.TEST_SEQ_ID_FIELD) or "").strip()
    if id_field:
        out["id_field"] = id_field
    out["steps"] = [
        step_dict(step_field_values(values, uid), first=i == 0)
        for i, uid in enumerate(step_ids(values))
    ]
    within = str(values.get(state.TEST_SEQ_WITHIN) or "").strip()
    if within:
        out["within"] = within
    skip = str(values.get(state.TEST_SEQ_SKIP) or DEFAULT_SKIP)
    if skip in SKIPS_WITH_STEP:
        skip = f"{skip} {values.get(state.TEST_SEQ_SKIP_STEP) or ''}".strip()
    out["after_match_skip"] = skip
    return out


def blank_form() -> dict[str, Any]:
    """A fresh form: one step `A` that takes any event."""
    return form_from_pattern({"kind": "sequence", "name": DEFAULT_NAME, "steps": [{"name": "A"}]})


def missing_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults for every form value not in ``values`` (a fresh session, or a new step)."""
    fresh = blank_form()
    if state.TEST_SEQ_STEP_IDS not in values:
        return fresh
    out = {
        key: value
        for key, value in fresh.items()
        if key not in values and not key.startswith(state.TEST_SEQ_STEP_PREFIX)
    }
    ids = step_ids(values)
    if state.TEST_SEQ_NEXT_ID not in values or int(values[state.TEST_SEQ_NEXT_ID]) <= max(
        ids, default=-1
    ):
        out[state.TEST_SEQ_NEXT_ID] = max(ids, default=-1) + 1
    for position, uid in enumerate(ids):
        defaults = step_defaults(default_step_name(position))
        for field in STEP_FIELDS:
            if step_key(uid, field) not in values:
                out[step_key(uid, field)] = defaults[field]
    return out


# --------------------------------------------------------------------------------------------
# Editing the step list


def default_step_name(position: int, taken: Sequence[str] = ()) -> str:
    """A name for a new step at ``position`` (0-based): its letter (A for the first step, B for
    the second, ...) or the next unused letter after it; past Z, ``step<n>``.

    >>> default_step_name(0), default_step_name(2, ["A", "C"]), default_step_name(26)
    ('A', 'D', 'step27')
    """
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[position:]:
        if letter not in taken:
            return letter
    n = position + 1
    while f"step{n}" in taken:
        n += 1
    return f"step{n}"


def added_step(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that append a new step (as a session-state update)."""
    ids = step_ids(values)
    uid = int(values.get(state.TEST_SEQ_NEXT_ID, max(ids, default=-1) + 1))
    taken = [str(values.get(step_key(i, "name")) or "") for i in ids]
    update: dict[str, Any] = {
        step_key(uid, field): value
        for field, value in step_defaults(default_step_name(len(ids), taken)).items()
    }
    update[state.TEST_SEQ_STEP_IDS] = [*ids, uid]
    update[state.TEST_SEQ_NEXT_ID] = uid + 1
    return update


def moved(ids: Sequence[int], uid: int, offset: int) -> list[int]:
    """The step order after moving step ``uid`` by ``offset`` (clamped to the ends).

    >>> moved([0, 1, 2], 2, -1), moved([0, 1, 2], 0, -1), moved([0, 1, 2], 0, 5)
    ([0, 2, 1], [0, 1, 2], [1, 2, 0])
    """
    order = list(ids)
    if uid not in order:
        return order
    i = order.index(uid)
    j = min(max(i + offset, 0), len(order) - 1)
    order.insert(j, order.pop(i))
    return order


def skip_targets(values: Mapping[str, Any]) -> list[str]:
    """Names of the steps SKIP TO FIRST/LAST may name: the non-negated ones, in order."""
    names = []
    for uid in step_ids(values):
        step = step_field_values(values, uid)
        name = str(step["name"]).strip()
        if step["negated"] == "none" and name and name not in names:
            names.append(name)
    return names


_STEP_PATH = re.compile(r"\bsteps\[(\d+)\](?:\.(\w+))?")


def readable_error(message: str, names: Sequence[str]) -> str:
    """Say "step 2 (B), where" instead of the model's "steps[1].where", as the form numbers steps.

    >>> readable_error("f: steps[1].negated: needs within", ["A", "B"])
    'f: step 2 (B), negated: needs within'
    """

    def replace(m: re.Match[str]) -> str:
        i = int(m.group(1))
        name = f" ({names[i]})" if i < len(names) and names[i] else ""
        return f"step {i + 1}{name}" + (f", {m.group(2)}" if m.group(2) else "")

    return _STEP_PATH.sub(replace, message)


def field_options(columns: Sequence[str], chosen: Sequence[str]) -> list[str]:
    """Options of a field picker: the event's columns, then chosen names not among them.

    >>> field_options(["id", "ts"], ["user", "id"])
    ['id', 'ts', 'user']
    """
    return [*columns, *(c for c in chosen if c not in columns)]


# --------------------------------------------------------------------------------------------
# Rendering

CODE_HEIGHT_PX = 360
"""Height of the JSON / YAML views (they scroll), so they do not push the Run button down."""
_PERSIST = "session"  # keep the form while the other pattern mode is shown, and across pages


def init_form_state() -> None:
    """Put any missing form value into session state (before the widgets are drawn)."""
    for key, value in missing_values(st.session_state).items():
        st.session_state[key] = value


def _load_form(values: Mapping[str, Any]) -> None:
    for key in [k for k in st.session_state if str(k).startswith(state.TEST_SEQ_STEP_PREFIX)]:
        del st.session_state[key]
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state.pop(state.TEST_SEQ_NOTICE, None)


def load_example() -> None:
    """Fill the form with the example sequence."""
    _load_form(form_from_pattern(EXAMPLE_PATTERN))


def load_from_text() -> None:
    """Fill the form from the pattern text, when it is a valid sequence pattern."""
    text = str(st.session_state.get(state.TEST_PATTERN_TEXT) or "")
    if not text.strip():
        st.session_state[state.TEST_SEQ_NOTICE] = (
            "The pattern text is empty: choose **Text or file** and paste, upload or load a "
            "sequence pattern first."
        )
        return
    try:
        source = st.session_state.get(state.TEST_PATTERN_SOURCE) or "pattern text"
        pattern = parse_pattern(text, source=source, fmt=pattern_format(source))
    except PatternError as e:
        st.session_state[state.TEST_SEQ_NOTICE] = message_markdown(
            "The pattern text is not a valid pattern", str(e)
        )
        return
    if not isinstance(pattern, SequencePattern):
        st.session_state[state.TEST_SEQ_NOTICE] = (
            f"The pattern text is a **{pattern.kind}** pattern; only **sequence** patterns can "
            "be edited in this form."
        )
        return
    _load_form(form_from_pattern(pattern_to_dict(pattern)))


def copy_to_text() -> None:
    """Put the form's pattern, as JSON, in the pattern text and show the text."""
    pattern, _ = check_form_pattern(pattern_from_form(st.session_state))
    if pattern is None:
        return
    st.session_state[state.TEST_PATTERN_TEXT] = dump_pattern(pattern, "json")
    st.session_state[state.TEST_PATTERN_SOURCE] = None
    st.session_state[state.TEST_PATTERN_MODE] = MODE_TEXT


def _add_step() -> None:
    if len(step_ids(st.session_state)) >= MAX_STEPS:
        return
    for key, value in added_step(st.session_state).items():
        st.session_state[key] = value


def _move_step(uid: int, offset: int) -> None:
    st.session_state[state.TEST_SEQ_STEP_IDS] = moved(step_ids(st.session_state), uid, offset)


def _remove_step(uid: int) -> None:
    st.session_state[state.TEST_SEQ_STEP_IDS] = [i for i in step_ids(st.session_state) if i != uid]
    for key in step_keys(uid):
        st.session_state.pop(key, None)


def _select(
    label: str,
    options: Mapping[str, str],
    key: str,
    help_text: str,
    **kwargs: Any,
) -> Any:
    if st.session_state.get(key) not in options:
        st.session_state[key] = next(iter(options))
    return st.selectbox(
        label,
        list(options),
        format_func=options.__getitem__,
        key=key,
        help=help_text,
        persist_state=_PERSIST,
        **kwargs,
    )


def _render_step(uid: int, position: int, count: int) -> None:
    values = step_field_values(st.session_state, uid)
    first = position == 0
    with st.container(border=True, key=f"test-seq-step-{uid}"):
        head, buttons = st.columns([3, 2], vertical_alignment="center")
        name = str(values["name"]).strip() or "(unnamed)"
        head.markdown(f"**Step {position + 1}** · `{escape_markdown(name)}`")
        with buttons.container(horizontal=True, horizontal_alignment="right", gap="small"):
            st.button(
                "",
                key=step_key(uid, "up"),
                icon=":material/arrow_upward:",
                help="Move this step up (earlier in the sequence).",
                disabled=first,
                on_click=_move_step,
                args=(uid, -1),
                type="tertiary",
            )
            st.button(
                "",
                key=step_key(uid, "down"),
                icon=":material/arrow_downward:",
                help="Move this step down (later in the sequence).",
                disabled=position == count - 1,
                on_click=_move_step,
                args=(uid, 1),
                type="tertiary",
            )
            st.button(
                "",
                key=step_key(uid, "remove"),
                icon=":material/delete:",
                help="Remove this step.",
                disabled=count == 1,
                on_click=_remove_step,
                args=(uid,),
                type="tertiary",
            )

        name_col, relation_col, negation_col = st.columns([2, 3, 2])
        name_col.text_input(
            "Step name",
            key=step_key(uid, "name"),
            help="Letters, digits and _, starting with a letter; unique in the pattern. Later "
            "conditions refer to this step's events as name.field (e.g. A.price).",
            persist_state=_PERSIST,
        )
        with relation_col:
            if first:
                st.caption("The first step starts the match (there is no previous step).")
            elif values["negated"] != "none":
                st.caption(
                    "The negation sets the relation: not next is strict, not followed by relaxed."
                )
            else:
                _select(
                    "Relation to previous step",
                    CONTIGUITIES,
                    step_key(uid, "contiguity"),
                    "How this step follows the previous one. next (strict): the very next event "
                    "must match. followed by (relaxed): events that do not match are skipped and "
                    "the first match is taken. followed by any: every later matching event "
                    "starts its own branch.",
                )
        with negation_col:
            _select(
                "Negation",
                NEGATIONS,
                step_key(uid, "negated"),
                "A negated step forbids events instead of taking one. not next: the event right "
                "after the previous step must not match. not followed by: no matching event may "
                "come before the next step (as the last step, within the window; that needs "
                "Within).",
            )
        st.text_input(
            "Condition (where)",
            key=step_key(uid, "where"),
            placeholder="e.g. price < 100 AND symbol = 'ACME'   (blank: any event)",
            help="A SQL condition on the event: fields, literals, AND/OR/NOT, comparisons, "
            "IN, BETWEEN, LIKE, IS NULL, CASE, functions such as abs() and lower(). It may "
            "read earlier steps: price > A.price, SUM(A.amount) > 1000, LAST(A.price). Blank "
            "takes any event. Nothing you type is run as code.",
            persist_state=_PERSIST,
        )
        if values["negated"] != "none":
            st.caption("A negated step takes no events, so it has no quantifier or contiguity.")
            return

        quantifier_col, min_col, max_col, optional_col = st.columns(
            [3, 2, 2, 2], vertical_alignment="bottom"
        )
        with quantifier_col:
            quantifier = _select(
                "How many events",
                QUANTIFIERS,
                step_key(uid, "quantifier"),
                "once: one event. n to m times: between n and m events (n = m for exactly n). "
                "one or more / n or more: a loop with no upper bound.",
            )
        if quantifier in ("times", "n_or_more"):
            min_col.number_input(
                "n (at least)",
                min_value=1,
                max_value=MAX_TIMES,
                step=1,
                key=step_key(uid, "min"),
                help="The fewest events this step takes.",
                persist_state=_PERSIST,
            )
        if quantifier == "times":
            max_col.number_input(
                "m (at most)",
                min_value=1,
                max_value=MAX_TIMES,
                step=1,
                key=step_key(uid, "max"),
                help="The most events this step takes (at least n).",
                persist_state=_PERSIST,
            )
        optional_col.checkbox(
            "Optional",
            key=step_key(uid, "optional"),
            help="The step may also take no events at all (Flink optional()); with one or more "
            "this means zero or more.",
            persist_state=_PERSIST,
        )
        if quantifier == "once":
            return
        loop_col, greedy_col = st.columns([3, 2], vertical_alignment="bottom")
        with loop_col:
            _select(
                "Between the loop's events",
                LOOP_CONTIGUITIES,
                step_key(uid, "loop_contiguity"),
                "Contiguity inside the loop. relaxed: events that do not match are skipped "
                "(Flink's default). consecutive (strict): the loop's events must follow each "
                "other directly. any combination: every combination of matching events "
                "(allowCombinations).",
            )
        greedy_col.checkbox(
            "Greedy",
            key=step_key(uid, "greedy"),
            help="Keep taking events while they match, instead of also trying to move on to "
            "the next step with each of them (Flink greedy()).",
            persist_state=_PERSIST,
        )
        if quantifier in ("one_or_more", "n_or_more"):
            st.text_input(
                "Until",
                key=step_key(uid, "until"),
                placeholder="e.g. status = 'closed'   (blank: no stop condition)",
                help="Stop condition of the loop: once an event satisfies it, the loop takes "
                "no more events (that event is not taken; the next step may take it).",
                persist_state=_PERSIST,
            )


def render_sequence_form(columns: Sequence[str], columns_note: str | None = None) -> dict[str, Any]:
    """Draw the form (pattern settings, steps, actions) and return its pattern's JSON value.

    Args:
        columns: the loaded events' fields, offered for partition_by and order_by.
        columns_note: why there are no fields to offer, if there are none.
    """
    init_form_state()
    with st.container(horizontal=True, gap="small"):
        st.button(
            "Load example",
            key=state.TEST_SEQ_LOAD_EXAMPLE,
            on_click=load_example,
            icon=":material/lightbulb:",
            help="Fill in a two-step example for the sample ticks: a tick under 100, then a "
            "tick over 101 on the same symbol within 5 minutes.",
        )
        st.button(
            "Edit the pattern text here",
            key=state.TEST_SEQ_FROM_TEXT,
            on_click=load_from_text,
            icon=":material/edit_note:",
            help="Fill this form from the sequence pattern in the pattern text (Text or file), "
            "replacing what the form holds.",
        )
    if notice := st.session_state.get(state.TEST_SEQ_NOTICE):
        st.warning(notice, icon=":material/warning:")
    name_col, within_col = st.columns([3, 2])
    name_col.text_input(
        "Pattern name",
        key=state.TEST_SEQ_NAME,
        help="Shown in results and downloads; any non-empty text.",
        persist_state=_PERSIST,
    )
    within_col.text_input(
        "Within",
        key=state.TEST_SEQ_WITHIN,
        placeholder="e.g. 5m   (blank: no window)",
        help='The whole match must span less than this, first to last event: "30s", "5m", '
        '"2h", "7d", "1w" or ISO-8601 ("PT5M"). Required when the last step is not followed by.',
        persist_state=_PERSIST,
    )
    partition_col, order_col = st.columns([3, 2])
    chosen = list(st.session_state.get(state.TEST_SEQ_PARTITION_BY) or [])
    partition_col.multiselect(
        "Partition by",
        field_options(columns, chosen),
        key=state.TEST_SEQ_PARTITION_BY,
        accept_new_options=True,
        placeholder="Each key on its own, e.g. symbol   (none: all events together)",
        help="Key fields: the sequence is matched separately for each combination of their "
        "values (e.g. per symbol or per user). Pick from the events' fields or type a name.",
        persist_state=_PERSIST,
    )
    order_by = str(st.session_state.get(state.TEST_SEQ_ORDER_BY) or DEFAULT_ORDER_BY)
    order_col.selectbox(
        "Order by (time field)",
        field_options(columns, [order_by]),
        key=state.TEST_SEQ_ORDER_BY,
        accept_new_options=True,
        help="The event-time field: ISO-8601 times or epoch seconds / milliseconds. Events are "
        "matched in this order.",
        persist_state=_PERSIST,
    )
    if columns_note:
        st.caption(columns_note)

    st.markdown("**Steps**")
    ids = step_ids(st.session_state)
    for position, uid in enumerate(ids):
        _render_step(uid, position, len(ids))
    st.button(
        "Add step",
        key=state.TEST_SEQ_ADD_STEP,
        on_click=_add_step,
        icon=":material/add:",
        disabled=len(ids) >= MAX_STEPS,
        help=f"Append a step at the end (at most {MAX_STEPS}); move it with the arrows.",
    )

    skip_col, target_col = st.columns([3, 2])
    with skip_col:
        skip = _select(
            "After a match",
            {s: s for s in SKIPS},
            state.TEST_SEQ_SKIP,
            "Which other matches may use the same events. PAST LAST EVENT (default): the next "
            "match starts after this one ends. NO_SKIP: every match is reported. SKIP TO NEXT: "
            "drops other matches starting at the same event. SKIP TO FIRST/LAST <step>: drops "
            "matches that start before that step's first/last event.",
        )
    if skip in SKIPS_WITH_STEP:
        targets = skip_targets(st.session_state)
        if targets:
            with target_col:
                _select(
                    "Skip to step",
                    {t: t for t in targets},
                    state.TEST_SEQ_SKIP_STEP,
                    "The step whose first (or last) event the search resumes from.",
                )
        else:
            target_col.caption("Add a step that is not negated to skip to.")

    with st.expander("More settings", icon=":material/tune:"):
        st.text_area(
            "Description",
            key=state.TEST_SEQ_DESCRIPTION,
            height=68,
            help="Free text saved with the pattern (optional).",
            persist_state=_PERSIST,
        )
        st.text_input(
            "Event id field",
            key=state.TEST_SEQ_ID_FIELD,
            placeholder="blank: id when present, else the row number",
            help="The field that identifies an event in the results.",
            persist_state=_PERSIST,
        )
    return pattern_from_form(st.session_state)


def check_form_pattern(data: Mapping[str, Any]) -> tuple[Pattern | None, str | None]:
    """Validate the form's pattern: the pattern, or the error message (steps numbered as shown)."""
    try:
        return parse_pattern(data, source=FORM_SOURCE), None
    except PatternError as e:
        names = [str(step.get("name") or "") for step in data.get("steps") or []]
        return None, readable_error(str(e), names)


def render_pattern_check(pattern: Pattern | None, error: str | None) -> None:
    """Show the form's validation: the error, or the pattern in English, JSON and YAML."""
    if error is not None or pattern is None:
        st.error(
            message_markdown("The sequence is not valid yet", error or "unknown error"),
            icon=":material/error:",
        )
        return
    steps = len(getattr(pattern, "steps", ()))
    st.success(
        f"Valid **sequence** pattern with {steps} {'step' if steps == 1 else 'steps'}; "
        "**Run** uses it.",
        icon=":material/check_circle:",
    )
    english, json_tab, yaml_tab = st.tabs(["In plain English", "JSON", "YAML"])
    english.markdown(
        "\n\n".join(escape_markdown(line) for line in describe_pattern(pattern).splitlines())
    )
    json_tab.code(dump_pattern(pattern, "json"), language="json", height=CODE_HEIGHT_PX)
    yaml_tab.code(dump_pattern(pattern, "yaml"), language="yaml", height=CODE_HEIGHT_PX)
    st.button(
        "Copy to pattern text",
        key=state.TEST_SEQ_TO_TEXT,
        on_click=copy_to_text,
        icon=":material/content_copy:",
        help="Put this pattern, as JSON, in the pattern text area (Text or file) to edit it "
        "as text or keep a copy.",
    )
