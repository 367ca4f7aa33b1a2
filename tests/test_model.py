"""The pattern model: common fields, match_recognize, sequence, files, messages and the schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cep.errors import PatternError
from cep.model import (
    KINDS,
    MAX_PATTERN_BYTES,
    PATTERN_CLASSES,
    Duration,
    MatchRecognizePattern,
    SequencePattern,
    Step,
    Times,
    dump_pattern,
    load_pattern,
    parse_pattern,
    pattern_json_schema,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

V_SHAPE: dict[str, Any] = {
    "kind": "match_recognize",
    "name": "v_shape",
    "partition_by": ["symbol"],
    "order_by": "ts",
    "pattern": "A B+ C+",
    "define": {"B": "price < PREV(price)", "C": "price > PREV(price)"},
    "measures": {"bottom": "LAST(B.price)"},
    "after_match_skip": "PAST LAST ROW",
    "within": "10m",
    "rows_per_match": "ONE",
}

ACCOUNT_TAKEOVER: dict[str, Any] = {
    "kind": "sequence",
    "name": "account_takeover",
    "partition_by": ["user_id"],
    "steps": [
        {"name": "fail", "where": "event_type = 'login_failed'", "times": {"min": 3, "max": None}},
        {"name": "ok", "where": "event_type = 'login_ok'", "contiguity": "relaxed"},
        {"name": "no_mfa", "where": "event_type = 'mfa'", "negated": "not_followed_by"},
        {
            "name": "move",
            "where": "event_type = 'transfer' AND amount > ok.amount",
            "contiguity": "relaxed",
        },
    ],
    "within": "10m",
    "after_match_skip": "PAST LAST EVENT",
}


def mr(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(V_SHAPE), **changes}


def seq(steps: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {"kind": "sequence", "name": "s", "steps": steps, **changes}


def error_of(data: Any, **kwargs: Any) -> str:
    with pytest.raises(PatternError) as info:
        parse_pattern(data, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# Kinds and common fields


def test_kinds_are_the_thirteen_of_the_design() -> None:
    assert KINDS == (
        "sequence",
        "match_recognize",
        "absence",
        "count_threshold",
        "velocity",
        "trend",
        "outlier",
        "session",
        "dedup",
        "geofence",
        "temporal_correlation",
        "heartbeat",
        "state_machine",
    )
    assert tuple(PATTERN_CLASSES) == KINDS


def test_common_fields_have_the_documented_defaults() -> None:
    p = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "1m"})
    assert (p.description, p.partition_by, p.order_by, p.id_field) == ("", (), "ts", None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name: must not be empty"),
        ("   ", "name: must not be empty"),
        ("a\x00b", "name: must not contain the control character '\\x00'"),
        ("tab\there", "name: must not contain the control character '\\t'"),
        ("x" * 201, "name: String should have at most 200 characters"),
        (42, "name: Input should be a valid string"),
    ],
    ids=["empty", "blank", "nul", "tab", "too-long", "number"],
)
def test_name_must_be_short_visible_text(name: object, message: str) -> None:
    assert message in error_of(mr(name=name))


def test_name_need_not_be_an_identifier() -> None:
    assert parse_pattern(mr(name="V shape – per symbol (€)")).name == "V shape – per symbol (€)"


def test_description_keeps_line_breaks_and_is_limited() -> None:
    assert parse_pattern(mr(description="line 1\nline 2\ttab")).description == "line 1\nline 2\ttab"
    assert "at most 5000 characters" in error_of(mr(description="x" * 5001))
    assert "control character '\\x07'" in error_of(mr(description="bell\x07"))


def test_partition_by_rejects_a_repeated_column() -> None:
    assert "partition_by: column 'symbol' is listed twice" in error_of(
        mr(partition_by=["symbol", "symbol"])
    )


def test_patterns_are_frozen() -> None:
    p = parse_pattern(V_SHAPE)
    with pytest.raises(ValidationError):
        p.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# match_recognize


def test_v_shape_from_the_design_is_valid() -> None:
    p = parse_pattern(V_SHAPE)
    assert isinstance(p, MatchRecognizePattern)
    assert p.pattern == "A B+ C+"
    assert p.define == {"B": "price < PREV(price)", "C": "price > PREV(price)"}
    assert p.partition_by == ("symbol",)
    assert p.within == Duration("10m")
    assert (p.after_match_skip, p.rows_per_match, p.rows_per_match_option) == (
        "PAST LAST ROW",
        "ONE",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("PAST LAST ROW", "PAST LAST ROW"),
        ("past  last row", "PAST LAST ROW"),
        ("SKIP PAST LAST ROW", "PAST LAST ROW"),
        ("AFTER MATCH SKIP TO NEXT ROW", "TO NEXT ROW"),
        ("to next row", "TO NEXT ROW"),
        ("TO FIRST B", "TO FIRST B"),
        ("skip to first c", "TO FIRST C"),
        ("TO LAST B", "TO LAST B"),
        ("TO B", "TO LAST B"),
        ("skip to c", "TO LAST C"),
    ],
    ids=str,
)
def test_after_match_skip_is_normalised(raw: str, normalised: str) -> None:
    assert parse_pattern(mr(after_match_skip=raw)).after_match_skip == normalised


@pytest.mark.parametrize(
    ("skip", "message"),
    [
        ("TO FIRST X", "after_match_skip: 'TO FIRST X': 'X' is not a PATTERN variable or SUBSET"),
        ("TO X", "'TO LAST X': 'X' is not a PATTERN variable"),
        ("TO NEXT", "'TO LAST NEXT': 'NEXT' is not a PATTERN variable"),
        ("PAST LAST EVENT", "after_match_skip 'PAST LAST EVENT' is not understood"),
        ("NO_SKIP", "after_match_skip 'NO_SKIP' is not understood; use PAST LAST ROW"),
    ],
    ids=str,
)
def test_after_match_skip_must_be_sql_and_name_a_variable(skip: str, message: str) -> None:
    assert message in error_of(mr(after_match_skip=skip))


@pytest.mark.parametrize(
    ("raw", "rows", "option"),
    [
        ({"rows_per_match": "one"}, "ONE", None),
        ({"rows_per_match": "ONE ROW PER MATCH"}, "ONE", None),
        ({"rows_per_match": "ALL"}, "ALL", "SHOW EMPTY MATCHES"),
        ({"rows_per_match": "all rows per match"}, "ALL", "SHOW EMPTY MATCHES"),
        (
            {"rows_per_match": "ALL", "rows_per_match_option": "omit empty matches"},
            "ALL",
            "OMIT EMPTY MATCHES",
        ),
        (
            {"rows_per_match": "ALL", "rows_per_match_option": "SHOW EMPTY"},
            "ALL",
            "SHOW EMPTY MATCHES",
        ),
        (
            {"rows_per_match": "ALL", "rows_per_match_option": "with  unmatched rows"},
            "ALL",
            "WITH UNMATCHED ROWS",
        ),
    ],
    ids=["one", "one-sql", "all", "all-sql", "omit", "show-short", "unmatched"],
)
def test_rows_per_match_and_option_are_normalised(
    raw: dict[str, str], rows: str, option: str | None
) -> None:
    p = parse_pattern(mr(**raw))
    assert (p.rows_per_match, p.rows_per_match_option) == (rows, option)


def test_rows_per_match_option_needs_all_rows() -> None:
    message = error_of(mr(rows_per_match_option="WITH UNMATCHED ROWS"))
    assert "rows_per_match_option: 'WITH UNMATCHED ROWS' needs rows_per_match ALL" in message


def test_unmatched_rows_cannot_be_combined_with_exclusion() -> None:
    message = error_of(
        mr(
            pattern="A {- B+ -} C+",
            rows_per_match="ALL",
            rows_per_match_option="WITH UNMATCHED ROWS",
        )
    )
    assert (
        "rows_per_match_option: WITH UNMATCHED ROWS cannot be combined with an exclusion" in message
    )
    assert (
        parse_pattern(mr(pattern="A {- B+ -} C+", rows_per_match="ALL")).pattern == "A {- B+ -} C+"
    )


def test_rows_per_match_rejects_other_values() -> None:
    assert "rows_per_match: Input should be 'ONE' or 'ALL', got 'SOME'" in error_of(
        mr(rows_per_match="SOME")
    )


def test_define_keys_take_the_pattern_spelling() -> None:
    p = parse_pattern(mr(pattern="a b+ c+", define={"b": "price < PREV(price)", "C": "TRUE"}))
    assert p.define == {"B": "price < PREV(price)", "C": "TRUE"}


def test_quoted_pattern_variables_keep_their_case() -> None:
    p = parse_pattern(mr(pattern='"up" B', define={"up": "price > 1", "b": "up.price < 3"}))
    assert p.define == {"up": "price > 1", "B": "up.price < 3"}


def test_unknown_define_variable_is_named() -> None:
    message = error_of(mr(define={"B": "price < 1", "X": "price > 1"}), source="v.json")
    assert message.startswith("v.json: define.X: 'X' is not a variable of PATTERN 'A B+ C+'")
    assert "(variables: A, B, C)" in message


def test_variable_defined_twice_in_two_spellings_is_rejected() -> None:
    assert "variable 'B' is defined twice" in error_of(mr(define={"B": "TRUE", "b": "TRUE"}))


def test_define_may_use_navigation_references_aggregates_and_classifier() -> None:
    define = {
        "B": "B.price < PREV(B.price) AND B.price > A.price",
        "C": "AVG(B.price) < 15 AND COUNT(b.*) >= 1 AND CLASSIFIER() = 'C'"
        " AND price > LAST(B.price, 1) AND MATCH_NUMBER() > 0",
    }
    assert parse_pattern(mr(define=define)).define == define


def test_define_rejects_an_unknown_qualifier() -> None:
    message = error_of(mr(define={"B": "price < PREV(price) AND D.price > 1"}))
    assert "define.B: unknown variable 'D' at position 24" in message


def test_a_broken_pattern_text_is_reported_with_its_position() -> None:
    message = error_of(mr(pattern="A (B+ C+"))
    assert "pattern: PATTERN 'A (B+ C+'" in message
    assert "position" in message


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("__import__('os').system('x')", "'__import__' is not allowed"),
        ("1; DROP TABLE t", "';' is not allowed"),
        ("(SELECT 1)", "subqueries are not allowed"),
        (
            "reflect('java.lang.Runtime','exec','x')",
            "function 'reflect' is not allowed at position 0",
        ),
        ("price > 1 -- comment", "comment"),
        ("price >", "position"),
    ],
    ids=["import", "drop-table", "subquery", "reflect", "comment", "syntax"],
)
def test_define_injection_attempts_are_refused_naming_the_field(
    condition: str, fragment: str
) -> None:
    message = error_of(mr(define={"B": condition}), source="p.json")
    assert message.startswith("p.json: define.B: ")
    assert fragment in message


def test_measures_accept_running_and_final() -> None:
    measures = {
        "bottom": "FINAL LAST(B.price)",
        "so_far": "RUNNING COUNT(*)",
        "n": "MATCH_NUMBER()",
    }
    assert parse_pattern(mr(measures=measures)).measures == measures


def test_measures_reject_an_unknown_variable() -> None:
    assert "measures.top: unknown variable 'Z'" in error_of(mr(measures={"top": "LAST(Z.price)"}))


def test_subset_members_take_the_pattern_spelling_and_may_be_referenced() -> None:
    p = parse_pattern(
        mr(
            pattern="A B+ C+ D",
            subset={"U": ["c", "D"]},
            define={"D": "price > LAST(u.price)"},
            measures={"top": "LAST(U.price)"},
            after_match_skip="TO LAST U",
        )
    )
    assert p.subset == {"U": ("C", "D")}
    assert p.after_match_skip == "TO LAST U"


@pytest.mark.parametrize(
    ("subset", "message"),
    [
        ({"U": ["X"]}, "subset.U: 'X' is not a PATTERN variable"),
        ({"B": ["C"]}, "subset.B: 'B' is already a PATTERN variable"),
        ({"U": []}, "subset.U: a SUBSET needs at least one variable"),
        ({"U": ["B", "b"]}, "subset.U: 'B' is listed twice"),
    ],
    ids=["unknown-member", "collision", "empty", "duplicate"],
)
def test_subset_is_validated(subset: dict[str, list[str]], message: str) -> None:
    assert message in error_of(mr(subset=subset))


def test_within_is_optional_and_a_duration() -> None:
    assert parse_pattern(mr(within=None)).within is None
    assert parse_pattern(mr(within={"value": 2, "unit": "hours"})).within == Duration("2h")


# --------------------------------------------------------------------------------------------
# sequence


def test_account_takeover_from_the_design_is_valid() -> None:
    p = parse_pattern(ACCOUNT_TAKEOVER)
    assert isinstance(p, SequencePattern)
    assert [s.name for s in p.steps] == ["fail", "ok", "no_mfa", "move"]
    assert p.steps[0].times == Times(min=3, max=None)
    assert p.steps[2].negated == "not_followed_by"
    assert p.after_match_skip == "PAST LAST EVENT"
    assert p.within == Duration("10m")


def test_step_defaults_follow_flink() -> None:
    step = Step(name="a")
    assert step.where is None
    assert (step.contiguity, step.loop_contiguity) == ("relaxed", "relaxed")
    assert step.times == Times(min=1, max=1)
    assert step.times.is_single
    assert (step.optional, step.greedy, step.until, step.negated) == (False, False, None, None)
    assert parse_pattern(seq([{"name": "a"}])).after_match_skip == "PAST LAST EVENT"


def test_times_may_be_written_as_a_number() -> None:
    p = parse_pattern(seq([{"name": "a", "times": 3}]))
    assert isinstance(p, SequencePattern)
    assert p.steps[0].times == Times(min=3, max=3)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("NO_SKIP", "NO_SKIP"),
        ("no skip", "NO_SKIP"),
        ("SKIP TO NEXT", "SKIP TO NEXT"),
        ("skip_to_next", "SKIP TO NEXT"),
        ("PAST LAST EVENT", "PAST LAST EVENT"),
        ("SKIP_PAST_LAST_EVENT", "PAST LAST EVENT"),
        ("SKIP TO FIRST a", "SKIP TO FIRST a"),
        ("skip_to_first[a]", "SKIP TO FIRST a"),
        ("skip to last b_2", "SKIP TO LAST b_2"),
    ],
    ids=str,
)
def test_sequence_skip_strategies_are_normalised(raw: str, normalised: str) -> None:
    p = parse_pattern(seq([{"name": "a"}, {"name": "b_2"}], after_match_skip=raw))
    assert p.after_match_skip == normalised


def test_iterative_conditions_may_read_earlier_steps_and_the_step_itself() -> None:
    steps = [
        {
            "name": "fail",
            "where": "SUM(fail.amount) + amount < 1000",
            "times": {"min": 1, "max": None},
        },
        {"name": "ok", "where": "amount > LAST(fail.amount) AND ts > FIRST(fail.ts)"},
        {"name": "move", "where": "amount > ok.amount AND AVG(fail.amount) < 10"},
    ]
    assert len(parse_pattern(seq(steps)).steps) == 3


def _loop(**extra: Any) -> dict[str, Any]:
    return {"name": "b", "times": {"min": 1, "max": None}, **extra}


@pytest.mark.parametrize(
    ("steps", "extra", "message"),
    [
        ([], {}, "steps: Tuple should have at least 1 item"),
        ([{"name": "a"}, {"name": "a"}], {}, "steps[1].name: step name 'a' is used twice"),
        (
            [{"name": "a", "negated": "not_next"}, {"name": "b"}],
            {},
            "steps[0].negated: the first step cannot be negated",
        ),
        (
            [{"name": "a"}, {"name": "b", "negated": "not_followed_by"}],
            {},
            "steps[1].negated: a sequence can end with not_followed_by only when 'within' is set",
        ),
        (
            [{"name": "a"}, {"name": "b", "optional": True}, {"name": "c", "negated": "not_next"}],
            {},
            "steps[2].negated: a negated step cannot follow the optional step 'b'",
        ),
        (
            [{"name": "a"}, {"name": "b", "negated": "not_next", "times": {"min": 2, "max": 2}}],
            {},
            "steps[1]: a negated step (not_next) matches no events, so it cannot have times",
        ),
        (
            [{"name": "a"}, {"name": "b", "negated": "not_next", "optional": True}, {"name": "c"}],
            {},
            "so it cannot have optional",
        ),
        (
            [
                {"name": "a"},
                {"name": "b", "negated": "not_next", "contiguity": "any"},
                {"name": "c"},
            ],
            {},
            "steps[1]: contiguity does not apply to a negated step",
        ),
        (
            [{"name": "a", "greedy": True}],
            {},
            "steps[0]: greedy applies only to a step that repeats",
        ),
        (
            [{"name": "a", "loop_contiguity": "strict"}],
            {},
            "steps[0]: loop_contiguity applies only to a step that repeats",
        ),
        (
            [{"name": "a", "times": {"min": 2, "max": 4}, "until": "x > 1"}],
            {},
            "steps[0]: until applies only to a step without an upper bound",
        ),
        (
            [{"name": "a", "times": {"min": 3, "max": 2}}],
            {},
            "steps[0].times: max (2) is below min (3)",
        ),
        (
            [{"name": "a", "times": {"min": 0, "max": 2}}],
            {},
            "steps[0].times.min: Input should be greater than or equal to 1",
        ),
        ([{"name": "two words"}], {}, "steps[0].name: 'two words' is not a valid step name"),
        ([{"name": "a", "contiguity": "loose"}], {}, "steps[0].contiguity: Input should be"),
        (
            [{"name": "a", "where": "amount > b.amount"}, {"name": "b"}],
            {},
            "steps[0].where: unknown variable 'b'",
        ),
        (
            [{"name": "ok"}, {"name": "b", "where": "amount > OK.amount"}],
            {},
            "steps[1].where: unknown variable 'OK'",
        ),
        (
            [
                {"name": "a"},
                {"name": "n", "negated": "not_next"},
                {"name": "b", "where": "n.x > 1"},
            ],
            {},
            "steps[2].where: unknown variable 'n'",
        ),
        (
            [{"name": "a"}, {"name": "b", "where": "price > PREV(price)"}],
            {},
            "steps[1].where: PREV() is not allowed in a step condition at position 8",
        ),
        (
            [{"name": "a"}, _loop(until="CLASSIFIER() = 'b'")],
            {},
            "steps[1].until: CLASSIFIER is not allowed",
        ),
        (
            [{"name": "a"}, {"name": "b"}],
            {"after_match_skip": "SKIP TO FIRST z"},
            "after_match_skip: 'SKIP TO FIRST z': 'z' is not a (non-negated) step",
        ),
        (
            [{"name": "a"}, {"name": "n", "negated": "not_next"}, {"name": "b"}],
            {"after_match_skip": "SKIP TO LAST n"},
            "'n' is not a (non-negated) step (steps: a, b)",
        ),
        (
            [{"name": "a"}],
            {"after_match_skip": "PAST LAST ROW"},
            "after_match_skip 'PAST LAST ROW' is not understood; use NO_SKIP",
        ),
        (
            [{"name": "a", "nmae": "x"}],
            {},
            "unknown field 'nmae' in steps[0] (did you mean 'name'?",
        ),
    ],
    ids=[
        "no-steps",
        "duplicate-name",
        "first-negated",
        "trailing-not-followed-by-without-within",
        "negated-after-optional",
        "negated-with-times",
        "negated-optional",
        "negated-contiguity",
        "greedy-single",
        "loop-contiguity-single",
        "until-bounded",
        "times-reversed",
        "times-zero",
        "bad-step-name",
        "bad-contiguity",
        "later-step-reference",
        "case-sensitive-reference",
        "negated-step-reference",
        "prev-in-step",
        "classifier-in-until",
        "skip-unknown-step",
        "skip-negated-step",
        "skip-sql-spelling",
        "unknown-step-field",
    ],
)
def test_sequence_rejects_typical_mistakes(
    steps: list[dict[str, Any]], extra: dict[str, Any], message: str
) -> None:
    assert message in error_of(seq(steps, **extra))


def test_not_followed_by_may_end_a_sequence_with_a_window() -> None:
    p = parse_pattern(
        seq([{"name": "a"}, {"name": "b", "negated": "not_followed_by"}], within="5m")
    )
    assert isinstance(p, SequencePattern)
    assert p.steps[-1].negated == "not_followed_by"


def test_loops_accept_greedy_until_and_loop_contiguity() -> None:
    steps = [_loop(greedy=True, until="x > 5", loop_contiguity="any", optional=True), {"name": "c"}]
    p = parse_pattern(seq(steps))
    assert isinstance(p, SequencePattern)
    assert p.steps[0].greedy
    assert p.steps[0].loop_contiguity == "any"


# --------------------------------------------------------------------------------------------
# Reading text and files


def test_parse_pattern_detects_json_yaml_and_sql() -> None:
    as_json = json.dumps(V_SHAPE)
    as_yaml = dump_pattern(parse_pattern(V_SHAPE), "yaml")
    as_sql = (
        "SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY symbol ORDER BY ts "
        "MEASURES LAST(B.price) AS bottom PATTERN (A B+ C+) WITHIN INTERVAL '10' MINUTE "
        "DEFINE B AS price < PREV(price), C AS price > PREV(price)) AS v_shape"
    )
    results = [parse_pattern(text) for text in (as_json, "  \n" + as_json, as_yaml, as_sql)]
    results.append(parse_pattern(as_json.encode("utf-8")))
    results.append(parse_pattern("\ufeff" + as_yaml))
    dumps = [r.model_dump(exclude={"description"}) for r in results]
    assert all(d == dumps[0] for d in dumps)


def test_yaml_mentioning_match_recognize_is_still_yaml() -> None:
    text = "kind: heartbeat\nname: hb\ndescription: not a MATCH_RECOGNIZE query\ninterval: 5m\n"
    assert parse_pattern(text).kind == "heartbeat"


def test_explicit_format_wins_over_detection() -> None:
    yaml_text = "kind: heartbeat\nname: hb\ninterval: 5m\n"
    assert "malformed JSON at line 1, column 1" in error_of(yaml_text, fmt="json")
    assert parse_pattern(yaml_text, fmt="yaml").kind == "heartbeat"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "kind": "sequence",\n  "name": \n}', "<input>: malformed JSON at line 4, column 1"),
        ('{"kind": "heartbeat", "kind": "dedup"}', "malformed JSON: duplicate key 'kind'"),
        ("{'kind': 'heartbeat'}", "malformed JSON at line 1, column 2"),
        ("kind: heartbeat\nname: [hb\n", "<input>: malformed YAML at line 3, column 1"),
        ("kind: heartbeat\n\tname: hb\n", "malformed YAML at line 2"),
        (
            "kind: heartbeat\nname: a\nname: b\n",
            "malformed YAML at line 3, column 1: duplicate key",
        ),
        (
            "x: &a [1]\ny: *a\n",
            "malformed YAML at line 2, column 4: aliases (*name) are not allowed",
        ),
        (
            "- kind: heartbeat\n",
            "a pattern must be a mapping (JSON object) with a 'kind' field, got a list",
        ),
        ("[1, 2]", "a pattern must be a mapping"),
        ("just text", "a pattern must be a mapping (JSON object) with a 'kind' field, got str"),
        ("", "the pattern is empty"),
        ("  \n", "the pattern is empty"),
        ("# only a comment\n", "the pattern is empty"),
    ],
    ids=[
        "json-missing-value",
        "json-duplicate-key",
        "json-single-quotes",
        "yaml-unclosed-list",
        "yaml-tab",
        "yaml-duplicate-key",
        "yaml-alias",
        "yaml-list",
        "json-list",
        "scalar",
        "empty",
        "blank",
        "comment-only",
    ],
)
def test_malformed_text_is_reported_with_line_and_column(text: str, message: str) -> None:
    assert message in error_of(text)


def test_non_utf8_bytes_are_reported() -> None:
    assert "not UTF-8 text (bad byte at offset 10)" in error_of(b'{"kind": "\xff"}')


def test_oversized_text_is_refused_before_parsing() -> None:
    assert f"larger than {MAX_PATTERN_BYTES} bytes" in error_of(b" " * (MAX_PATTERN_BYTES + 1))
    assert "longer than" in error_of("#" * (MAX_PATTERN_BYTES + 1))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "regex", "name": "x"}, "<input>: unknown kind 'regex'; known kinds: sequence, "),
        ({"name": "x"}, "missing field 'kind'; one of: sequence, match_recognize"),
        ({"kind": 5, "name": "x"}, "unknown kind"),
        (
            {**V_SHAPE, "colour": "red"},
            "unknown field 'colour' (allowed: kind, name, description, partition_by, order_by,",
        ),
        ({**V_SHAPE, "patern": "A"}, "unknown field 'patern' (did you mean 'pattern'?"),
        (
            {"kind": "sequence", "name": "s", "steps": [{"name": "a"}, {"name": "b", "foo": 1}]},
            "unknown field 'foo' in steps[1]",
        ),
        (
            {
                "kind": "sequence",
                "name": "s",
                "steps": [{"name": "a", "times": {"min": 1, "mx": 2}}],
            },
            "unknown field 'mx' in steps[0].times (did you mean 'max'?",
        ),
        ({"kind": "sequence", "name": "s"}, "missing required field 'steps'"),
        (
            {"kind": "sequence", "name": "s", "steps": [{}]},
            "missing required field 'name' in steps[0]",
        ),
    ],
    ids=[
        "unknown-kind",
        "missing-kind",
        "kind-not-text",
        "unknown-field",
        "misspelt-field",
        "nested-unknown-field",
        "deep-unknown-field",
        "missing-field",
        "nested-missing-field",
    ],
)
def test_structural_mistakes_get_one_readable_message(data: dict[str, Any], message: str) -> None:
    assert message in error_of(data)


def test_several_errors_are_joined_and_counted() -> None:
    data = {
        "kind": "count_threshold",
        "name": "",
        "threshold": 0,
        "window": "x",
        "where": 1,
        "a": 1,
    }
    message = error_of(data, source="c.json")
    assert message.startswith("c.json: ")
    assert message.count("; ") == 2
    assert message.endswith("(and 2 more)")


def test_no_pydantic_error_escapes_parse_pattern() -> None:
    bad_inputs: list[Any] = [
        {"kind": "match_recognize"},
        {"kind": "sequence", "name": "x", "steps": "a,b"},
        {"kind": "geofence", "name": "g", "shape": [1, 2], "trigger": "enter"},
        {"kind": "state_machine", "name": "m", "states": None, "initial": 1, "transitions": {}},
        {"kind": "match_recognize", "name": "m", "pattern": 5, "define": {"A": 1}},
        {"kind": "match_recognize", "name": "m", "pattern": "A", "define": ["A"]},
    ]
    for data in bad_inputs:
        with pytest.raises(PatternError) as info:
            parse_pattern(data)
        assert not isinstance(info.value, ValidationError)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_load_pattern_reads_json_and_yaml_files(tmp_path: Path, suffix: str) -> None:
    original = parse_pattern(ACCOUNT_TAKEOVER)
    path = tmp_path / f"takeover{suffix}"
    path.write_text(dump_pattern(original, "json" if suffix == ".json" else "yaml"))
    assert load_pattern(path) == original
    assert load_pattern(str(path)) == original


def test_load_pattern_reads_sql_files_named_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "falling_prices.sql"
    path.write_text(
        "-- prices that fall twice\nSELECT * FROM ticks MATCH_RECOGNIZE (ORDER BY ts\n"
        "  PATTERN (A B{2}) DEFINE B AS price < PREV(price)) AS m;\n"
    )
    p = load_pattern(path)
    assert isinstance(p, MatchRecognizePattern)
    assert (p.name, p.pattern) == ("falling_prices", "A B{2}")


def test_the_sample_json_and_sql_files_are_the_same_pattern() -> None:
    from_json = load_pattern(SAMPLES / "v_shape.json")
    from_sql = load_pattern(SAMPLES / "v_shape.sql")
    assert from_json.model_dump(exclude={"description"}) == from_sql.model_dump(
        exclude={"description"}
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "p.txt",
            "kind: heartbeat",
            "unknown pattern file type '.txt'; use .json, .yaml, .yml or .sql",
        ),
        ("p", "kind: heartbeat", "unknown pattern file type '(none)'"),
        ("p.json", "{oops", "p.json: malformed JSON at line 1, column 2"),
        ("p.yaml", "kind: [", "p.yaml: malformed YAML at line 1"),
        ("p.sql", "", "p.sql: the pattern is empty"),
        ("p.sql", "SELECT 1", "p.sql: MATCH_RECOGNIZE: no MATCH_RECOGNIZE clause found"),
    ],
    ids=["txt", "no-suffix", "bad-json", "bad-yaml", "empty-sql", "sql-without-mr"],
)
def test_load_pattern_reports_the_file(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PatternError) as info:
        load_pattern(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_load_pattern_reports_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(PatternError, match="no such file"):
        load_pattern(tmp_path / "missing.json")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    with pytest.raises(PatternError, match="is a directory"):
        load_pattern(folder)


def test_load_pattern_refuses_oversized_files(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (MAX_PATTERN_BYTES + 1))
    with pytest.raises(PatternError, match="larger than"):
        load_pattern(path)


# --------------------------------------------------------------------------------------------
# Writing


def test_dump_pattern_writes_kind_first_and_every_field() -> None:
    text = dump_pattern(parse_pattern(V_SHAPE))
    data = json.loads(text)
    assert next(iter(data)) == "kind"
    assert data["within"] == "10m"
    assert set(data) == set(MatchRecognizePattern.model_fields)
    assert text.endswith("\n")


def test_dump_pattern_writes_readable_yaml() -> None:
    text = dump_pattern(parse_pattern(ACCOUNT_TAKEOVER), "yaml")
    assert text.startswith("kind: sequence\nname: account_takeover\n")
    assert "within: 10m\n" in text


def test_dump_pattern_rejects_unknown_formats() -> None:
    with pytest.raises(PatternError, match="unknown pattern format 'xml'"):
        dump_pattern(parse_pattern(V_SHAPE), "xml")  # type: ignore[arg-type]


def test_model_dump_round_trips_through_validation() -> None:
    p = parse_pattern(ACCOUNT_TAKEOVER)
    assert parse_pattern(p.model_dump()) == p
    assert parse_pattern(p.model_dump(mode="json")) == p


# --------------------------------------------------------------------------------------------
# JSON Schema


def test_json_schema_is_generated_with_one_entry_per_kind() -> None:
    schema = pattern_json_schema()
    assert schema["title"] == "Pattern"
    assert len(schema["oneOf"]) == len(KINDS)
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) == set(KINDS)
    for kind, ref in schema["discriminator"]["mapping"].items():
        definition = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert definition["properties"]["kind"]["const"] == kind
        assert definition["required"][0] == "kind"
        assert definition["additionalProperties"] is False
    json.dumps(schema)


def test_json_schema_describes_durations_once() -> None:
    schema = pattern_json_schema()
    duration = schema["$defs"]["Duration"]
    assert {alt["type"] for alt in duration["anyOf"]} == {"string", "object"}
    within = schema["$defs"]["MatchRecognizePattern"]["properties"]["within"]
    assert {"$ref": "#/$defs/Duration"} in within["anyOf"]


def test_json_schema_accepts_the_design_examples_and_rejects_mistakes() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(pattern_json_schema())
    validator.check_schema(validator.schema)
    for example in (V_SHAPE, ACCOUNT_TAKEOVER, parse_pattern(V_SHAPE).model_dump(mode="json")):
        assert not list(validator.iter_errors(example))
    assert list(validator.iter_errors({**V_SHAPE, "colour": "red"}))
    assert list(validator.iter_errors({**V_SHAPE, "kind": "regex"}))
    assert list(validator.iter_errors({**V_SHAPE, "within": 10}))


# --------------------------------------------------------------------------------------------
# Round trip (property)

_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
_NAMES = _TEXT.filter(lambda s: s.strip() != "").map(lambda s: s[:200])
_DESCRIPTIONS = st.text(
    st.one_of(st.characters(exclude_categories=("Cc", "Cs")), st.sampled_from("\n\t\r")),
    max_size=80,
)
_COLUMNS = st.lists(
    st.sampled_from(["symbol", "user_id", "Device ID", "région"]), unique=True, max_size=2
)
DURATIONS = st.one_of(
    st.integers(min_value=1, max_value=90 * 86_400).map(lambda s: Duration.from_seconds(s)),
    st.integers(min_value=1, max_value=10**6).map(lambda ms: Duration({"value": ms, "unit": "ms"})),
)
_ROW_CONDITIONS = [
    "price > PREV(price)",
    "price < FIRST(price) * 0.9",
    "type = 'it''s' OR amount BETWEEN 1 AND 5",
    "COUNT(*) < 5 AND lower(kind) LIKE 'a%'",
    "CLASSIFIER() = 'A' AND \"Device ID\" IS NOT NULL",
    "price > LAST(A.price)",
]


@st.composite
def match_recognize_patterns(draw: st.DrawFn) -> MatchRecognizePattern:
    variables = ["A", "B", "C", "D"][: draw(st.integers(1, 4))]
    quantifiers = ["", "+", "*", "?", "{2}", "{1,3}", "+?", "{2,}"]
    pattern = " ".join(v + draw(st.sampled_from(quantifiers)) for v in variables)
    if draw(st.booleans()):
        pattern = f"({pattern}) | A"
    defined = draw(st.lists(st.sampled_from(variables), unique=True))
    define = {v: draw(st.sampled_from(_ROW_CONDITIONS)) for v in defined}
    measures = draw(
        st.dictionaries(
            st.sampled_from(["bottom", "n", "label", "Start Price"]),
            st.sampled_from(["FINAL LAST(A.price)", "COUNT(*)", "MATCH_NUMBER()", "CLASSIFIER()"]),
            max_size=3,
        )
    )
    skip = draw(
        st.sampled_from(
            ["PAST LAST ROW", "TO NEXT ROW"]
            + [f"TO {end} {v}" for v in variables for end in ("FIRST", "LAST")]
        )
    )
    rows = draw(st.sampled_from(["ONE", "ALL"]))
    option = None
    if rows == "ALL":
        option = draw(
            st.sampled_from(
                [None, "SHOW EMPTY MATCHES", "OMIT EMPTY MATCHES", "WITH UNMATCHED ROWS"]
            )
        )
    subset = {"U": variables[:2]} if draw(st.booleans()) else {}
    return MatchRecognizePattern.model_validate(
        {
            "name": draw(_NAMES),
            "description": draw(_DESCRIPTIONS),
            "partition_by": draw(_COLUMNS),
            "order_by": draw(st.sampled_from(["ts", "event time"])),
            "id_field": draw(st.sampled_from([None, "id"])),
            "pattern": pattern,
            "subset": subset,
            "define": define,
            "measures": measures,
            "after_match_skip": skip,
            "rows_per_match": rows,
            "rows_per_match_option": option,
            "within": draw(st.none() | DURATIONS),
        }
    )


@st.composite
def sequence_patterns(draw: st.DrawFn) -> SequencePattern:
    names = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    steps: list[dict[str, Any]] = []
    taken: list[str] = []
    for i, name in enumerate(names):
        can_negate = i > 0 and not steps[-1].get("optional", False)
        negated = (
            draw(st.sampled_from([None, None, "not_next", "not_followed_by"]))
            if can_negate
            else None
        )
        conditions = ["amount > 10", f"SUM({name}.amount) < 100", "type IN ('a', 'b')"]
        conditions += [f"amount > {t}.amount AND ts > FIRST({t}.ts)" for t in taken]
        step: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            step["where"] = draw(st.sampled_from(conditions[:1] if negated else conditions))
        if negated:
            step["negated"] = negated
        else:
            low, high = draw(st.sampled_from([(1, 1), (2, 2), (1, None), (2, 5), (3, None)]))
            step["times"] = {"min": low, "max": high}
            step["contiguity"] = draw(st.sampled_from(["strict", "relaxed", "any"]))
            step["optional"] = draw(st.booleans())
            if (low, high) != (1, 1):
                step["greedy"] = draw(st.booleans())
                step["loop_contiguity"] = draw(st.sampled_from(["strict", "relaxed", "any"]))
            if high is None and draw(st.booleans()):
                step["until"] = "amount < 0"
            taken.append(name)
        steps.append(step)
    needs_window = steps[-1].get("negated") == "not_followed_by"
    skip = draw(
        st.sampled_from(
            ["NO_SKIP", "SKIP TO NEXT", "PAST LAST EVENT"]
            + [f"SKIP TO {end} {t}" for t in taken for end in ("FIRST", "LAST")]
        )
    )
    return SequencePattern.model_validate(
        {
            "name": draw(_NAMES),
            "description": draw(_DESCRIPTIONS),
            "partition_by": draw(_COLUMNS),
            "steps": steps,
            "within": draw(DURATIONS if needs_window else st.none() | DURATIONS),
            "after_match_skip": skip,
        }
    )


@settings(max_examples=60, deadline=None)
@given(match_recognize_patterns(), st.sampled_from(["json", "yaml"]))
def test_match_recognize_round_trips_through_json_and_yaml(
    pattern: MatchRecognizePattern, fmt: str
) -> None:
    text = dump_pattern(pattern, fmt)  # type: ignore[arg-type]
    assert parse_pattern(text, fmt=fmt) == pattern  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(sequence_patterns(), st.sampled_from(["json", "yaml"]))
def test_sequence_round_trips_through_json_and_yaml(pattern: SequencePattern, fmt: str) -> None:
    text = dump_pattern(pattern, fmt)  # type: ignore[arg-type]
    assert parse_pattern(text, fmt=fmt) == pattern  # type: ignore[arg-type]
