"""Iterative conditions: a step's condition reads the events its run has taken (§2.1).

References to an *earlier* step see the events the run accepted for it (Flink's
``ctx.getEventsForPattern``). A step's condition that refers to *itself* sees its accepted events
plus the current one (SQL running semantics, SEMANTICS.md §2.1 "the SQL equivalent is
SUM(middle.price) < 5"); see the module docstring of ``tests/reference/seq_reference.py``.
"""

from __future__ import annotations

from tests.matcher import seq_harness
from tests.matcher.seq_harness import ev, run, seq

seq_matcher = seq_harness.seq_matcher  # the fixture: every test runs on fast and reference


def test_condition_on_a_field_of_an_earlier_step(seq_matcher):
    # DESIGN.md §5.3: a transfer larger than the login's amount; m1 (50) is skipped.
    pattern = seq("ok move", where={"move": "type = 'm' AND amount > ok.amount"})
    assert run(seq_matcher, pattern, ev("ok m1 m2", amount=[100, 50, 150])) == ["ok m2=move"]


def test_sum_over_an_earlier_loop_step(seq_matcher):
    # big must exceed the sum of the f's its run took: {f1} 10 < 25, {f2} 20 < 25, and
    # {f1 f2} 30 waits (skipping big1) until big2 (35).
    pattern = seq("f+ big", where={"big": "type = 'big' AND amount > SUM(f.amount)"})
    events = ev("f1 f2 big1 big2", amount=[10, 20, 25, 35])
    assert run(seq_matcher, pattern, events) == ["f1 big1", "f2 big1", "f1 f2 big2"]


def test_count_and_sum_threshold_like_account_takeover(seq_matcher):
    # fail{3,} then ok with SUM(fail.amount) > 1000 (DESIGN.md §5.3 / issue 3).
    pattern = seq(
        "fail{3,}.consecutive next ok",
        where={"ok": "type = 'ok' AND SUM(fail.amount) > 1000 AND COUNT(fail.*) >= 3"},
    )
    events = ev("fail1 fail2 fail3 fail4 ok", amount=[100, 500, 300, 400, 0])
    # Only runs that end right before ok (next) can take it: {fail1..fail4} sums 1300 and
    # {fail2..fail4} 1200; {fail3 fail4} never reaches three fails.
    assert run(seq_matcher, pattern, events) == ["fail1 fail2 fail3 fail4 ok", "fail2 fail3 fail4 ok"]


def test_first_and_last_of_an_earlier_step(seq_matcher):
    # b lies strictly between the first and the last price of the run of a's before it.
    pattern = seq(
        "a+.consecutive next b",
        where={"b": "type = 'b' AND price > FIRST(a.price) AND price < LAST(a.price)"},
    )
    assert run(seq_matcher, pattern, ev("a1 a2 b", price=[1, 5, 3])) == ["a1 a2 b"]
    assert run(seq_matcher, pattern, ev("a1 a2 b", price=[5, 1, 3])) == []


def test_last_with_offset_and_null_when_missing(seq_matcher):
    # LAST(a.price, 1) is the a before the last one: NULL for a run of one a.
    pattern = seq(
        "a+ next b",
        where={"b": "type = 'b' AND COALESCE(LAST(a.price, 1), 0) < price"},
    )
    assert run(seq_matcher, pattern, ev("a1 a2 b", price=[9, 1, 5])) == ["a2 b"]


def test_reference_to_an_optional_step_that_was_skipped_is_null(seq_matcher):
    pattern = seq("a b? c", where={"c": "type = 'c' AND b.price IS NULL"})
    assert run(seq_matcher, pattern, ev("a b c", price=[1, 2, 3])) == ["a c"]


def test_docs_example_sum_of_prices_so_far_plus_current(seq_matcher):
    # Flink docs: middle takes an event while (sum of the middle prices taken so far) + its own
    # price < 5; written in SQL as SUM(middle.price) < 5. m3 (3 + 3 = 6) is skipped by the
    # relaxed loop, m4 (3 + 1) is taken.
    pattern = seq("start middle+", where={"middle": "type = 'm' AND SUM(middle.price) < 5",
                                          "start": "type = 's'"})
    events = ev("s m1 m2 m3 m4", price=[0, 1, 2, 3, 1])
    assert run(seq_matcher, pattern, events) == [
        "s=start m1=middle",
        "s=start m1=middle m2=middle",
        "s=start m1=middle m2=middle m4=middle",
    ]


def test_self_reference_reads_the_current_event(seq_matcher):
    # a.price inside a's own condition is the event being tested (SQL running semantics), and
    # LAST(a.price, 1) the a taken before it: a run of strictly falling prices.
    pattern = seq(
        "a+.consecutive",
        where={"a": "a.price < 10 AND (LAST(a.price, 1) IS NULL OR a.price < LAST(a.price, 1))"},
    )
    assert run(seq_matcher, pattern, ev("a1 a2 a3 a4", price=[9, 7, 8, 3])) == [
        "a1",
        "a1 a2",
        "a2",
        "a3",
        "a3 a4",
        "a4",
    ]
