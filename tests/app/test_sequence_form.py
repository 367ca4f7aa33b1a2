"""The sequence form: widget values ↔ pattern JSON (pure), and the form on the Test page."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import ui.sequence_form
from cep.model import parse_pattern, pattern_to_dict
from ui import state
from ui.sequence_form import (
    EXAMPLE_PATTERN,
    MODE_FORM,
    MODE_TEXT,
    added_step,
    blank_form,
    default_step_name,
    field_options,
    form_from_pattern,
    missing_values,
    moved,
    pattern_from_form,
    readable_error,
    skip_targets,
    step_defaults,
    step_dict,
    step_key,
    step_values,
)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


def seq(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A sequence pattern's JSON value as the form writes it (defaults left out, except
    partition_by, order_by and after_match_skip, which the form always writes)."""
    out: dict[str, Any] = {"kind": "sequence", "name": fields.pop("name", "p")}
    if "description" in fields:
        out["description"] = fields.pop("description")
    out["partition_by"] = fields.pop("partition_by", [])
    out["order_by"] = fields.pop("order_by", "ts")
    if "id_field" in fields:
        out["id_field"] = fields.pop("id_field")
    out["steps"] = list(steps) or [{"name": "A", "where": "price < 100"}]
    if "within" in fields:
        out["within"] = fields.pop("within")
    out["after_match_skip"] = fields.pop("after_match_skip", "PAST LAST EVENT")
    assert not fields, fields
    return out


A = {"name": "A", "where": "price < 100"}

# One case per form field (and per value of each choice), as the form writes it.
ROUND_TRIPS: dict[str, dict[str, Any]] = {
    "minimal": seq(),
    "name": seq(name="a name with spaces"),
    "description": seq(description="Two lines\nof description"),
    "partition_by": seq(partition_by=["symbol", "venue"]),
    "order_by": seq(order_by="event_time"),
    "id_field": seq(id_field="tick_id"),
    "within": seq(within="5m"),
    "within-iso": seq(within="PT90S"),
    "skip-no-skip": seq(after_match_skip="NO_SKIP"),
    "skip-to-next": seq(after_match_skip="SKIP TO NEXT"),
    "skip-to-first": seq(A, {"name": "B"}, after_match_skip="SKIP TO FIRST B"),
    "skip-to-last": seq(A, {"name": "B"}, after_match_skip="SKIP TO LAST A"),
    "step-no-condition": seq({"name": "only"}),
    "step-iterative-condition": seq(A, {"name": "B", "where": "price > A.price + 1"}),
    "contiguity-strict": seq(A, {"name": "B", "contiguity": "strict"}),
    "contiguity-any": seq(A, {"name": "B", "contiguity": "any"}),
    "times-exactly": seq({"name": "A", "times": {"min": 3, "max": 3}}),
    "times-range": seq({"name": "A", "times": {"min": 2, "max": 4}}),
    "one-or-more": seq({"name": "A", "times": {"min": 1, "max": None}}),
    "n-or-more": seq({"name": "A", "times": {"min": 3, "max": None}}),
    "optional": seq(A, {"name": "B", "optional": True}, {"name": "C"}),
    "optional-loop": seq(A, {"name": "B", "times": {"min": 1, "max": None}, "optional": True}),
    "greedy": seq({"name": "A", "times": {"min": 1, "max": None}, "greedy": True}, {"name": "B"}),
    "loop-strict": seq({"name": "A", "times": {"min": 2, "max": 3}, "loop_contiguity": "strict"}),
    "loop-any": seq({"name": "A", "times": {"min": 1, "max": None}, "loop_contiguity": "any"}),
    "until": seq({"name": "A", "times": {"min": 2, "max": None}, "until": "price > 200"}),
    "not-next": seq(A, {"name": "N", "where": "price = 0", "negated": "not_next"}, {"name": "B"}),
    "not-followed-by-last": seq(
        A, {"name": "N", "where": "price > 101", "negated": "not_followed_by"}, within="10m"
    ),
    "design-example": seq(
        {"name": "fail", "where": "event_type = 'login_failed'", "times": {"min": 3, "max": None}},
        {"name": "ok", "where": "event_type = 'login_ok'"},
        {"name": "no_mfa", "where": "event_type = 'mfa'", "negated": "not_followed_by"},
        {"name": "move", "where": "event_type = 'transfer' AND amount > ok.amount"},
        name="account_takeover",
        partition_by=["user_id"],
        within="10m",
    ),
}


@pytest.mark.parametrize("data", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_pattern_to_form_to_pattern_gives_the_same_dict(data: dict[str, Any]) -> None:
    parse_pattern(data)  # every case is a valid pattern
    assert pattern_from_form(form_from_pattern(data)) == data


@pytest.mark.parametrize("data", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_a_validated_pattern_survives_the_form(data: dict[str, Any]) -> None:
    pattern = parse_pattern(data)
    again = parse_pattern(pattern_from_form(form_from_pattern(pattern_to_dict(pattern))))
    assert again == pattern


def test_form_values_hold_every_field_under_its_key() -> None:
    data = seq(
        {"name": "fail", "where": "x = 1", "times": {"min": 3, "max": None}, "greedy": True,
         "loop_contiguity": "strict", "until": "x = 9", "optional": True},
        {"name": "ok", "where": "x = 2", "contiguity": "any", "times": {"min": 2, "max": 5}},
        {"name": "no", "where": "x = 3", "negated": "not_followed_by"},
        name="takeover", description="d", partition_by=["user"], order_by="t", id_field="eid",
        within="10m", after_match_skip="SKIP TO LAST fail",
    )  # fmt: skip
    values = form_from_pattern(data)
    assert {k: v for k, v in values.items() if not k.startswith(state.TEST_SEQ_STEP_PREFIX)} == {
        state.TEST_SEQ_NAME: "takeover",
        state.TEST_SEQ_DESCRIPTION: "d",
        state.TEST_SEQ_PARTITION_BY: ["user"],
        state.TEST_SEQ_ORDER_BY: "t",
        state.TEST_SEQ_ID_FIELD: "eid",
        state.TEST_SEQ_WITHIN: "10m",
        state.TEST_SEQ_SKIP: "SKIP TO LAST",
        state.TEST_SEQ_SKIP_STEP: "fail",
        state.TEST_SEQ_STEP_IDS: [0, 1, 2],
        state.TEST_SEQ_NEXT_ID: 3,
    }
    assert {f: values[step_key(0, f)] for f in step_defaults("")} == {
        "name": "fail", "where": "x = 1", "contiguity": "relaxed", "negated": "none",
        "quantifier": "n_or_more", "min": 3, "max": 3, "optional": True, "greedy": True,
        "loop_contiguity": "strict", "until": "x = 9",
    }  # fmt: skip
    assert values[step_key(1, "quantifier")] == "times"
    assert (values[step_key(1, "min")], values[step_key(1, "max")]) == (2, 5)
    assert values[step_key(1, "contiguity")] == "any"
    assert values[step_key(2, "negated")] == "not_followed_by"


def test_form_reads_flink_skip_spellings_and_the_times_shorthand() -> None:
    values = form_from_pattern(
        {"name": "p", "steps": [{"name": "b", "times": 3}], "after_match_skip": "skip_to_first[b]"}
    )
    assert (values[state.TEST_SEQ_SKIP], values[state.TEST_SEQ_SKIP_STEP]) == ("SKIP TO FIRST", "b")
    assert (values[step_key(0, "quantifier")], values[step_key(0, "min")]) == ("times", 3)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"name": "B"}),
        ({"where": "  x > 1  "}, {"name": "B", "where": "x > 1"}),
        ({"contiguity": "strict"}, {"name": "B", "contiguity": "strict"}),
        ({"quantifier": "times", "min": 2, "max": 2}, {"name": "B", "times": {"min": 2, "max": 2}}),
        ({"quantifier": "one_or_more", "min": 7}, {"name": "B", "times": {"min": 1, "max": None}}),
        # loop settings and `until` only where they apply
        ({"greedy": True, "loop_contiguity": "any", "until": "x = 1"}, {"name": "B"}),
        ({"quantifier": "times", "min": 1, "max": 3, "until": "x = 1"},
         {"name": "B", "times": {"min": 1, "max": 3}}),
        # a negated step writes only its name, condition and negation
        ({"negated": "not_next", "where": "x = 0", "contiguity": "strict",
          "quantifier": "n_or_more", "optional": True, "greedy": True},
         {"name": "B", "where": "x = 0", "negated": "not_next"}),
    ],
    ids=["defaults", "where-trimmed", "strict", "exactly-2", "one-or-more-ignores-n",
         "loop-settings-need-a-loop", "until-needs-unbounded", "negated"],
)  # fmt: skip
def test_step_dict_writes_only_what_applies(changes: dict[str, Any], expected: dict) -> None:
    assert step_dict({**step_defaults("B"), **changes}) == expected


def test_the_first_step_has_no_contiguity_to_write() -> None:
    values = {**step_defaults("A"), "contiguity": "strict"}
    assert step_dict(values, first=True) == {"name": "A"}
    assert step_values({"name": "A"})["contiguity"] == "relaxed"


def test_blank_optional_text_is_left_out() -> None:
    values = form_from_pattern(seq(description="x", id_field="y", within="5m"))
    values.update(
        {state.TEST_SEQ_DESCRIPTION: " ", state.TEST_SEQ_ID_FIELD: "", state.TEST_SEQ_WITHIN: "  "}
    )
    out = pattern_from_form(values)
    assert not {"description", "id_field", "within"} & set(out)


def test_a_fresh_form_is_one_step_that_takes_any_event() -> None:
    values = missing_values({})
    assert values == blank_form()
    assert pattern_from_form(values)["steps"] == [{"name": "A"}]
    parse_pattern(pattern_from_form(values))


def test_missing_values_fill_in_only_what_is_missing() -> None:
    values = form_from_pattern(seq(A, {"name": "B"}))
    del values[step_key(1, "quantifier")]
    values[state.TEST_SEQ_STEP_IDS] = [0, 1, 5]
    assert missing_values(values) == {
        step_key(1, "quantifier"): "once",
        **{step_key(5, f): v for f, v in step_defaults("C").items()},
        state.TEST_SEQ_NEXT_ID: 6,
    }


def test_adding_a_step_appends_it_with_a_fresh_id_and_an_unused_name() -> None:
    values = form_from_pattern(seq({"name": "B"}, {"name": "A"}))
    update = added_step(values)
    assert update[state.TEST_SEQ_STEP_IDS] == [0, 1, 2]
    assert update[state.TEST_SEQ_NEXT_ID] == 3
    assert update[step_key(2, "name")] == "C"
    values.update(update)
    assert [s["name"] for s in pattern_from_form(values)["steps"]] == ["B", "A", "C"]


def test_step_names_run_through_the_alphabet_then_number() -> None:
    assert default_step_name(0) == "A"
    assert default_step_name(1, ["A", "B"]) == "C"
    assert default_step_name(25) == "Z"
    assert default_step_name(26, list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) == "step27"


def test_moving_a_step_moves_its_values_with_it() -> None:
    values = form_from_pattern(seq(A, {"name": "B", "where": "price > 101"}))
    values[state.TEST_SEQ_STEP_IDS] = moved(values[state.TEST_SEQ_STEP_IDS], 1, -1)
    assert pattern_from_form(values)["steps"] == [{"name": "B", "where": "price > 101"}, A]
    assert moved([0, 1, 2], 1, 1) == [0, 2, 1]
    assert moved([0, 1, 2], 2, 1) == [0, 1, 2]
    assert moved([0, 1], 9, 1) == [0, 1]


def test_skip_targets_are_the_named_steps_that_take_events() -> None:
    values = form_from_pattern(
        seq(A, {"name": "N", "negated": "not_next"}, {"name": "B"}, {"name": "A2"})
    )
    values[step_key(3, "name")] = ""
    assert skip_targets(values) == ["A", "B"]


def test_errors_name_steps_as_the_form_numbers_them() -> None:
    message = "sequence form: steps[1].where: unknown column; steps[0]: greedy applies only ..."
    assert readable_error(message, ["A", "B"]) == (
        "sequence form: step 2 (B), where: unknown column; step 1 (A): greedy applies only ..."
    )
    assert readable_error("steps[4].name: bad", ["A"]) == "step 5, name: bad"


def test_field_options_keep_typed_names() -> None:
    assert field_options([], ["user"]) == ["user"]
    assert field_options(["a", "b"], ["b"]) == ["a", "b"]


def test_the_example_is_a_valid_pattern() -> None:
    pattern = parse_pattern(EXAMPLE_PATTERN)
    assert pattern_from_form(form_from_pattern(EXAMPLE_PATTERN)) == {
        **EXAMPLE_PATTERN, "order_by": "ts", "after_match_skip": "PAST LAST EVENT"
    }  # fmt: skip
    assert pattern.kind == "sequence"


def test_doctests_pass() -> None:
    failed, _ = doctest.testmod(ui.sequence_form, optionflags=doctest.ELLIPSIS)
    assert failed == 0


# --------------------------------------------------------------------------------------------
# The form on the Test page (AppTest)


def messages(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def open_form() -> AppTest:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    at.button_group(key=state.TEST_PATTERN_MODE).set_value(MODE_FORM).run()
    assert not at.exception
    return at


def shown_pattern(at: AppTest) -> dict[str, Any]:
    """The pattern the JSON tab shows."""
    (code,) = [c for c in at.code if c.language == "json"]
    return json.loads(code.value)


def build_a_then_b(at: AppTest) -> AppTest:
    """Through the widgets: A (price < 100) then B (price > 101), per symbol, within 5m."""
    at.text_input(key=state.TEST_SEQ_NAME).set_value("a_then_b")
    at.multiselect(key=state.TEST_SEQ_PARTITION_BY).set_value(["symbol"])
    at.text_input(key=step_key(0, "where")).set_value("price < 100")
    at.text_input(key=state.TEST_SEQ_WITHIN).set_value("5m").run()
    at.button(key=state.TEST_SEQ_ADD_STEP).click().run()
    at.text_input(key=step_key(1, "where")).set_value("price > 101").run()
    assert not at.exception
    return at


def test_the_form_offers_the_events_fields_and_starts_valid() -> None:
    at = open_form()
    assert at.multiselect(key=state.TEST_SEQ_PARTITION_BY).options == [
        "id",
        "symbol",
        "ts",
        "price",
    ]
    assert at.selectbox(key=state.TEST_SEQ_ORDER_BY).value == "ts"
    assert not at.error
    assert "Valid **sequence** pattern with 1 step" in messages(at.success)
    assert "Build a sequence" in messages(at.info)


def test_every_form_input_has_help_text() -> None:
    at = build_a_then_b(open_form())
    at.selectbox(key=step_key(1, "quantifier")).set_value("n_or_more").run()
    at.selectbox(key=state.TEST_SEQ_SKIP).set_value("SKIP TO FIRST").run()
    inputs = [
        *at.text_input, *at.text_area, *at.selectbox, *at.multiselect, *at.number_input,
        *at.checkbox, *at.button, *at.toggle, *at.button_group,
    ]  # fmt: skip
    assert len(inputs) > 20
    assert all(w.help for w in inputs), [w.key for w in inputs if not w.help]


def test_a_two_step_sequence_built_in_the_form_validates_and_shows_json_yaml_and_english() -> None:
    at = build_a_then_b(open_form())

    assert not at.error
    assert "Valid **sequence** pattern with 2 steps" in messages(at.success)
    shown = shown_pattern(at)
    assert shown["partition_by"] == ["symbol"]
    assert shown["within"] == "5m"
    assert [(s["name"], s["where"], s["contiguity"]) for s in shown["steps"]] == [
        ("A", "price < 100", "relaxed"),
        ("B", "price > 101", "relaxed"),
    ]
    (yaml_code,) = [c for c in at.code if c.language == "yaml"]
    assert "where: price > 101" in yaml_code.value
    assert "a\\_then\\_b (sequence)" in messages(at.markdown)


def test_running_the_form_pattern_finds_its_matches() -> None:
    at = build_a_then_b(open_form())
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert not at.error
    assert not at.warning
    # ACME: the first tick under 100 is 5 (99 at 09:31:00), the first later tick over 101 is 19
    # (102 at 09:34:30): 3.5 min apart. PAST LAST EVENT drops the runs from 7, 9 and 15. GLOBX
    # never goes over 101.
    assert {m.label: m.value for m in at.metric}["Matches"] == "1"
    table = at.dataframe[0].value
    assert list(zip(table["key"], table["events"], table["classifiers"], strict=True)) == [
        ("ACME", "5 19", "A B")
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda at: at.text_input(key=step_key(1, "where")).set_value("price >"),
         "step 2 (B), where: unexpected end of condition"),
        (lambda at: (at.selectbox(key=step_key(1, "negated")).set_value("not_followed_by"),
                     at.text_input(key=state.TEST_SEQ_WITHIN).set_value("")),
         "step 2 (B), negated: a sequence can end with not\\_followed\\_by only when 'within' is set"),
        (lambda at: at.text_input(key=step_key(1, "name")).set_value("A"),
         "step name 'A' is used twice"),
        (lambda at: at.text_input(key=state.TEST_SEQ_WITHIN).set_value("5 parsecs"),
         "within"),
        (lambda at: at.text_input(key=step_key(0, "where")).set_value("price < B.price"),
         "step 1 (A), where: unknown variable 'B'"),
    ],
    ids=["bad-condition", "not-followed-by-last-without-within", "duplicate-name", "bad-window",
         "reads-a-later-step"],
)  # fmt: skip
def test_an_invalid_form_shows_the_model_error_inline(edit: Any, expected: str) -> None:
    at = build_a_then_b(open_form())
    edit(at)
    at.run()

    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith("**The sequence is not valid yet** — sequence form: ")
    assert expected in message
    assert "Traceback" not in message
    assert not at.code  # no JSON / YAML for an invalid pattern

    at.button(key=state.TEST_RUN).click().run()
    assert not at.metric
    assert "Could not read the pattern" in messages(at.error)


def test_steps_move_up_and_down_and_are_removed_with_their_values() -> None:
    at = build_a_then_b(open_form())
    at.button(key=state.TEST_SEQ_ADD_STEP).click().run()
    at.text_input(key=step_key(2, "where")).set_value("price = 100").run()

    at.button(key=step_key(2, "up")).click().run()
    assert [s["name"] for s in shown_pattern(at)["steps"]] == ["A", "C", "B"]
    at.button(key=step_key(0, "down")).click().run()
    assert [(s["name"], s["where"]) for s in shown_pattern(at)["steps"]] == [
        ("C", "price = 100"), ("A", "price < 100"), ("B", "price > 101")
    ]  # fmt: skip
    assert at.button(key=step_key(2, "up")).disabled  # C is first now
    assert at.button(key=step_key(1, "down")).disabled  # B is last

    at.button(key=step_key(0, "remove")).click().run()
    assert [(s["name"], s["where"]) for s in shown_pattern(at)["steps"]] == [
        ("C", "price = 100"), ("B", "price > 101")
    ]  # fmt: skip
    assert not any(k.startswith(state.TEST_SEQ_STEP_PREFIX + "0.") for k in at.session_state)
    at.button(key=step_key(2, "remove")).click().run()
    assert at.button(key=step_key(1, "remove")).disabled  # the last step cannot go


def test_loop_negation_and_skip_controls_write_their_fields() -> None:
    at = build_a_then_b(open_form())
    at.selectbox(key=step_key(0, "quantifier")).set_value("n_or_more").run()
    at.number_input(key=step_key(0, "min")).set_value(2)
    at.checkbox(key=step_key(0, "greedy")).check()
    at.selectbox(key=step_key(0, "loop_contiguity")).set_value("strict")
    at.text_input(key=step_key(0, "until")).set_value("price > 200")
    at.selectbox(key=step_key(1, "contiguity")).set_value("any")
    at.checkbox(key=step_key(1, "optional")).check()
    at.selectbox(key=state.TEST_SEQ_SKIP).set_value("SKIP TO LAST").run()
    at.selectbox(key=state.TEST_SEQ_SKIP_STEP).set_value("B").run()

    assert not at.error, messages(at.error)
    shown = shown_pattern(at)
    assert shown["steps"][0] | {"where": None} == {
        "name": "A", "where": None, "contiguity": "relaxed", "times": {"min": 2, "max": None},
        "optional": False, "greedy": True, "loop_contiguity": "strict", "until": "price > 200",
        "negated": None,
    }  # fmt: skip
    assert (shown["steps"][1]["contiguity"], shown["steps"][1]["optional"]) == ("any", True)
    assert shown["after_match_skip"] == "SKIP TO LAST B"

    at.selectbox(key=step_key(1, "negated")).set_value("not_next").run()
    assert at.selectbox(key=state.TEST_SEQ_SKIP_STEP).options == ["A"]  # negated B is no target
    assert "no quantifier or contiguity" in messages(at.caption)


def test_the_form_keeps_its_values_while_the_text_mode_is_shown() -> None:
    at = build_a_then_b(open_form())
    at.button_group(key=state.TEST_PATTERN_MODE).set_value(MODE_TEXT).run()
    assert at.text_area(key=state.TEST_PATTERN_TEXT)
    at.button_group(key=state.TEST_PATTERN_MODE).set_value(MODE_FORM).run()
    assert at.text_input(key=step_key(1, "where")).value == "price > 101"
    assert len(shown_pattern(at)["steps"]) == 2


def test_a_sequence_in_the_pattern_text_can_be_edited_in_the_form_and_copied_back() -> None:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    text = json.dumps(ROUND_TRIPS["design-example"])
    at.text_area(key=state.TEST_PATTERN_TEXT).set_value(text).run()
    at.button_group(key=state.TEST_PATTERN_MODE).set_value(MODE_FORM).run()
    at.button(key=state.TEST_SEQ_FROM_TEXT).click().run()

    assert not at.warning
    assert at.text_input(key=state.TEST_SEQ_NAME).value == "account_takeover"
    assert at.text_input(key=step_key(3, "where")).value == (
        "event_type = 'transfer' AND amount > ok.amount"
    )
    assert parse_pattern(shown_pattern(at)) == parse_pattern(text)

    at.text_input(key=step_key(3, "where")).set_value("amount > 10000").run()
    at.button(key=state.TEST_SEQ_TO_TEXT).click().run()
    assert at.button_group(key=state.TEST_PATTERN_MODE).value == MODE_TEXT
    copied = json.loads(at.text_area(key=state.TEST_PATTERN_TEXT).value)
    assert copied["steps"][3]["where"] == "amount > 10000"


def test_a_pattern_text_of_another_kind_is_not_loaded_into_the_form() -> None:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    at.button_group(key=state.TEST_PATTERN_MODE).set_value(MODE_FORM).run()
    at.button(key=state.TEST_SEQ_FROM_TEXT).click().run()

    assert not at.exception
    assert "match_recognize" in messages(at.warning)
    assert "only **sequence** patterns can be edited" in messages(at.warning)
    assert at.text_input(key=state.TEST_SEQ_NAME).value == "my_sequence"


def test_load_example_fills_the_form() -> None:
    at = open_form()
    at.button(key=state.TEST_SEQ_LOAD_EXAMPLE).click().run()
    assert parse_pattern(shown_pattern(at)) == parse_pattern(EXAMPLE_PATTERN)


def test_no_skip_reports_every_start_that_reaches_b() -> None:
    at = build_a_then_b(open_form())
    at.selectbox(key=state.TEST_SEQ_SKIP).set_value("NO_SKIP").run()
    at.button(key=state.TEST_RUN).click().run()

    # Each ACME tick under 100 before 19 (5, 7, 9, 15) is a start; followed by (relaxed) takes
    # the first tick over 101 after it, 19, and all are within 5 minutes of it.
    table = at.dataframe[0].value
    assert list(table["events"]) == ["5 19", "7 19", "9 19", "15 19"]
