"""Stream replay: splitting and accumulating (pure), the real incremental matcher against the
batch run, and the replay mode of the Test page."""

from __future__ import annotations

import doctest
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import cep.matcher
import ui.replay
from cep.events import load_events
from cep.matcher import find_matches
from cep.model import load_pattern
from cep.results import Match
from ui import state
from ui.replay import (
    BatchReport,
    batch_bounds,
    compare_with_batch,
    effective_batch_size,
    key_id,
    key_order,
    order_like_batch,
    replay_events,
    replay_result,
    split_batches,
)
from ui.sequence_form import MODE_FORM

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TIMEOUT_S = 120

# Worked by hand in samples/README.md: V shape (A B+ C+) over samples/stocks.csv.
SAMPLE_MATCHES = [
    ("ACME", "3 5 7 9 11", "A B B C C"),
    ("ACME", "13 15 17 19", "A B C C"),
    ("ACME", "21 22 23", "A B C"),
    ("GLOBX", "2 4 6 8 10 12 14 16", "A B B B B C C C"),
]

T0 = datetime(2024, 1, 1)


def match(key: str, *ids: int) -> Match:
    return Match(
        pattern="p",
        key={"k": key},
        start=T0 + timedelta(seconds=ids[0]),
        end=T0 + timedelta(seconds=ids[-1]),
        event_ids=list(ids),
        classifiers=["A"] * len(ids),
    )


@dataclass
class RowsFrame:
    """Enough of a DataFrame for the replay: rows, height and slice."""

    rows: list[int]

    @property
    def height(self) -> int:
        return len(self.rows)

    def slice(self, offset: int, length: int | None = None) -> RowsFrame:
        end = None if length is None else offset + length
        return RowsFrame(self.rows[offset:end])


@dataclass
class ScriptedMatcher:
    """Emits a given match after a given row has been fed, and records the batches."""

    emit_after_row: dict[int, Match]
    at_flush: list[Match] = field(default_factory=list)
    fed: list[list[int]] = field(default_factory=list)
    flushed: bool = False

    def feed(self, batch: RowsFrame) -> list[Match]:
        assert not self.flushed
        self.fed.append(batch.rows)
        return [self.emit_after_row[r] for r in batch.rows if r in self.emit_after_row]

    def flush(self) -> list[Match]:
        self.flushed = True
        return self.at_flush

    @property
    def late_events(self) -> Any:
        return None

    @property
    def timed_out(self) -> list[Any]:
        return []


def test_doctests_pass() -> None:
    failed, _ = doctest.testmod(ui.replay, optionflags=doctest.ELLIPSIS)
    assert failed == 0


@pytest.mark.parametrize(
    ("rows", "size", "expected"),
    [
        (23, 5, [(0, 5), (5, 5), (10, 5), (15, 5), (20, 3)]),
        (23, 23, [(0, 23)]),
        (23, 100, [(0, 23)]),
        (3, 1, [(0, 1), (1, 1), (2, 1)]),
        (0, 5, []),
    ],
    ids=["uneven", "one-batch", "larger-than-input", "single-rows", "empty"],
)
def test_batches_cover_every_row_once_in_file_order(rows, size, expected) -> None:
    assert batch_bounds(rows, size) == expected
    assert [r for b in split_batches(RowsFrame(list(range(rows))), size) for r in b.rows] == list(
        range(rows)
    )


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batch_bounds(10, 0)


def test_tiny_batches_of_a_big_input_are_raised_to_bound_the_batch_count() -> None:
    assert effective_batch_size(1_000_000, 1) == 1_000_000 // ui.replay.MAX_BATCHES
    assert effective_batch_size(1_000_000, 5_000) == 5_000
    assert effective_batch_size(25, 1, max_batches=10) == 3
    assert len(batch_bounds(25, effective_batch_size(25, 1, max_batches=10))) <= 10


def test_replay_feeds_every_batch_then_flushes_and_keeps_what_each_emitted() -> None:
    first, second, last = match("x", 2), match("y", 7), match("x", 9)
    matcher = ScriptedMatcher({2: first, 7: second}, at_flush=[last])
    seen: list[int] = []

    log = replay_events(
        matcher, RowsFrame(list(range(10))), 4, on_step=lambda lg: seen.append(len(lg.matches))
    )

    assert matcher.fed == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert matcher.flushed
    assert log.matches == [first, second, last]
    assert seen == [1, 2, 2, 3]
    assert log.is_done
    assert (log.batch_count, log.events_fed) == (3, 10)
    assert log.reports == [
        BatchReport(number=1, first_row=1, rows=4, new_matches=1, total_matches=1),
        BatchReport(number=2, first_row=5, rows=4, new_matches=1, total_matches=2),
        BatchReport(number=3, first_row=9, rows=2, new_matches=0, total_matches=2),
        BatchReport(number=None, first_row=None, rows=0, new_matches=1, total_matches=3),
    ]
    assert [r.to_row() for r in log.reports][::3] == [
        {"step": "batch 1", "rows": "1–4", "new matches": 1, "matches so far": 1},
        {"step": "flush (end of stream)", "rows": "", "new matches": 1, "matches so far": 3},
    ]


def test_streamed_matches_are_listed_in_batch_order_by_key_keeping_order_within_a_key() -> None:
    emitted = [match("b", 1), match("a", 2), match("b", 3), match("c", 4), match("a", 5)]
    keys = [key_id({"k": "a"}), key_id({"k": "b"})]
    ordered = order_like_batch(emitted, keys)
    assert [(m.key["k"], m.event_ids[0]) for m in ordered] == [
        ("a", 2), ("a", 5), ("b", 1), ("b", 3), ("c", 4)
    ]  # fmt: skip


def test_comparison_ignores_the_interleaving_of_keys_but_not_order_within_a_key() -> None:
    batch = [match("a", 1), match("a", 2), match("b", 3)]
    assert compare_with_batch([match("b", 3), match("a", 1), match("a", 2)], batch) is None
    assert compare_with_batch([match("a", 2), match("a", 1), match("b", 3)], batch) == (
        "key k=a, match 1: streamed events 2, batch events 1"
    )
    assert compare_with_batch([match("a", 1), match("b", 3)], batch) == (
        "2 streamed, 3 in the batch run; key k=a, match 2: streamed nothing, batch events 2"
    )
    assert "key k=z, match 1: streamed events 9, batch nothing" in str(
        compare_with_batch([*batch, match("z", 9)], batch)
    )


# --------------------------------------------------------------------------------------------
# The real incremental matcher (cep.matcher.create_matcher)


def v_shape_inputs() -> tuple[Any, Any]:
    pattern = load_pattern(SAMPLES / "v_shape.json")
    return pattern, load_events(SAMPLES / "stocks.csv", time_field=pattern.order_by)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 7, 23, 100])
def test_replaying_the_sample_gives_the_batch_matches_for_any_batch_size(batch_size: int) -> None:
    pattern, frame = v_shape_inputs()
    matcher = cep.matcher.create_matcher(pattern, allowed_lateness=timedelta(0))

    log = replay_events(matcher, frame, batch_size)
    batch = find_matches(pattern, frame).matches

    assert compare_with_batch(log.matches, batch) is None
    ordered = order_like_batch(log.matches, key_order(frame, pattern.partition_by))
    assert [m.to_json_dict() for m in ordered] == [m.to_json_dict() for m in batch]
    result = replay_result(
        log,
        keys=key_order(frame, pattern.partition_by),
        events=frame.height,
        batch_size=batch_size,
        timed_out=matcher.timed_out,
        late_events=matcher.late_events.height,
    )
    assert result.stats["matches"] == len(SAMPLE_MATCHES)
    assert result.stats["late_events"] == 0


def test_key_order_is_first_appearance_in_the_events() -> None:
    _, frame = v_shape_inputs()
    assert key_order(frame, ["symbol"]) == [key_id({"symbol": "ACME"}), key_id({"symbol": "GLOBX"})]
    assert key_order(frame, []) == [key_id({})]


# --------------------------------------------------------------------------------------------
# The Test page in replay mode (AppTest)


def messages(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def open_with_sample() -> AppTest:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    at.toggle(key=state.TEST_REPLAY).set_value(True).run()
    assert not at.exception
    return at


def table_rows(at: AppTest) -> list[tuple[str, str, str]]:
    table = at.dataframe[0].value
    return list(zip(table["key"], table["events"], table["classifiers"], strict=True))


def test_replay_controls_appear_with_the_toggle_and_have_help() -> None:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    assert not at.number_input
    at.toggle(key=state.TEST_REPLAY).set_value(True).run()
    assert at.number_input(key=state.TEST_REPLAY_BATCH_SIZE).value == 5
    assert at.number_input(key=state.TEST_REPLAY_LATENESS_S).value == 0.0
    assert all(w.help for w in [*at.number_input, *at.toggle])


@pytest.mark.parametrize("batch_size", [1, 5, 100])
def test_replay_of_the_v_shape_sample_gives_the_same_four_matches_as_batch(batch_size) -> None:
    at = open_with_sample()
    at.number_input(key=state.TEST_REPLAY_BATCH_SIZE).set_value(batch_size)
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert not at.error, messages(at.error)
    assert not at.warning, messages(at.warning)
    assert table_rows(at) == SAMPLE_MATCHES
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Matches"] == "4"
    assert metrics["Events"] == "23"
    assert metrics["Batches"] == str(len(batch_bounds(23, batch_size)))
    assert metrics["Late events"] == "0"
    assert "The streamed matches equal the batch run's" in messages(at.caption)
    assert not at.get("progress")  # the live view is cleared once the result is shown

    per_batch = at.dataframe[1].value
    assert per_batch["step"].iloc[-1] == "flush (end of stream)"
    assert per_batch["matches so far"].iloc[-1] == 4


def test_replay_and_batch_runs_agree_on_the_page() -> None:
    at = open_with_sample()
    at.button(key=state.TEST_RUN).click().run()
    streamed = table_rows(at)
    at.toggle(key=state.TEST_REPLAY).set_value(False).run()
    assert "changed since this run" in messages(at.caption)
    at.button(key=state.TEST_RUN).click().run()
    assert table_rows(at) == streamed == SAMPLE_MATCHES
    assert "Batches" not in {m.label for m in at.metric}


def test_replay_of_a_sequence_built_in_the_form_equals_the_batch_run() -> None:
    at = AppTest.from_file(ROOT / "pages/test.py", default_timeout=TIMEOUT_S).run()
    at.button_group(key=state.TEST_PATTERN_MODE).set_value(MODE_FORM).run()
    at.button(key=state.TEST_SEQ_LOAD_EXAMPLE).click().run()
    at.toggle(key=state.TEST_REPLAY).set_value(True).run()
    at.number_input(key=state.TEST_REPLAY_BATCH_SIZE).set_value(1)
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert not at.error, messages(at.error)
    assert table_rows(at) == [("ACME", "5 19", "dip rise")]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Batches"], metrics["Late events"]) == ("23", "0")
    # GLOBX never rises over 101: its starts at ticks 2 and 4 have windows that end (09:35:15,
    # 09:35:45) before the last event time, 09:36:00; later starts are still open at the end.
    assert metrics["Window expired"] == "2"
    assert "The streamed matches equal the batch run's" in messages(at.caption)


def shuffled_ticks() -> bytes:
    """The sample ticks with tick 3 (ACME 101 at 09:30:30) moved to the end of the file."""
    lines = (SAMPLES / "stocks.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    late = rows.pop(2)
    assert late.startswith("3,ACME,")
    return "\n".join([header, *rows, late, ""]).encode()


def test_an_event_later_than_the_allowed_lateness_is_reported_with_the_difference() -> None:
    at = open_with_sample()
    at.radio(key=state.TEST_EVENTS_CHOICE).set_value("Upload a file").run()
    at.file_uploader(key=state.TEST_EVENTS_FILE).set_value(
        ("late.csv", shuffled_ticks(), "text/csv")
    ).run()
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Late events"] == "1"
    warning = messages(at.warning)
    assert "The streamed result differs from the batch run" in warning
    assert (
        "key symbol=ACME, match 1: streamed events 1 5 7 9 11, batch events 3 5 7 9 11" in warning
    )
    assert "1 late events were not matched" in warning

    # Ten minutes of allowed lateness covers the 5.5 minutes tick 3 is late by.
    at.number_input(key=state.TEST_REPLAY_LATENESS_S).set_value(600.0)
    at.button(key=state.TEST_RUN).click().run()
    assert {m.label: m.value for m in at.metric}["Late events"] == "0"
    assert not at.warning
    assert table_rows(at) == SAMPLE_MATCHES


def test_without_the_incremental_matcher_replay_says_it_is_not_available(monkeypatch) -> None:
    monkeypatch.delattr(cep.matcher, "create_matcher", raising=False)
    at = open_with_sample()
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert not at.error
    assert "Stream replay is not available yet" in messages(at.info)
    assert not at.metric
    assert not at.dataframe
