"""AppTest checks of the Explain page: the Test page's last run or a stored run, per-match cards
(timeline chart, bindings, state snapshot, payloads) and the near-miss view.

Every test points the app at a history database of its own (SQLite under ``tmp_path``, through
``LAKESTREAM_DATA_DIR`` or ``LAKESTREAM_DATABASE_URL``). The expected values are the V-shape
sample on the sample ticks, worked by hand in ``samples/README.md``: match 1 is ACME events
3 5 7 9 11 (A B B C C, prices 101 99 97 98 100, 09:30:30 to 09:32:30, WITHIN 10 minutes).
"""

from __future__ import annotations

import datetime as dt
import doctest
import json
import os
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import ui.explain_cards
import ui.explain_data
import ui.explain_near
import ui.explain_source
from cep.events import load_events
from cep.explain import explain_result
from cep.history import HistorySettings, HistoryStore, RunRecord, create_history_engine
from cep.matcher import find_matches
from cep.model import KINDS, Pattern, load_pattern, parse_pattern
from cep.packs import generate_sample, list_packs
from cep.results import MatchResult
from ui import state
from ui.history_view import explain_page_available

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
TIMEOUT_S = 60
EXPLAIN = "pages/explain.py"
HISTORY_ENV = (
    "LAKESTREAM_DATABASE_URL", "LAKESTREAM_DATABASE_SCHEMA", "LAKESTREAM_REDACT_FIELDS",
    "LAKESTREAM_RETENTION_DAYS", "LAKESTREAM_STORE_EVENTS", "LAKESTREAM_MAX_STORED_BYTES",
    "PGHOST", "PGUSER", "PGDATABASE", "PGPORT", "PGSSLMODE",
)  # fmt: skip
MATCH_1_BINDINGS = [
    {"event": "3", "time": "2024-01-02 09:30:30", "step": "A", "price": "",
     "price < PREV(price)": "", "price > PREV(price)": ""},
    {"event": "5", "time": "2024-01-02 09:31:00", "step": "B", "price": "99",
     "price < PREV(price)": "✓", "price > PREV(price)": ""},
    {"event": "7", "time": "2024-01-02 09:31:30", "step": "B", "price": "97",
     "price < PREV(price)": "✓", "price > PREV(price)": ""},
    {"event": "9", "time": "2024-01-02 09:32:00", "step": "C", "price": "98",
     "price < PREV(price)": "", "price > PREV(price)": "✓"},
    {"event": "11", "time": "2024-01-02 09:32:30", "step": "C", "price": "100",
     "price < PREV(price)": "", "price > PREV(price)": "✓"},
]  # fmt: skip
CARD_TITLES = [
    "Match 1 · ACME · 2024-01-02 09:30:30 → 2024-01-02 09:32:30",
    "Match 2 · ACME · 2024-01-02 09:33:00 → 2024-01-02 09:34:30",
    "Match 3 · ACME · 2024-01-02 09:35:00 → 2024-01-02 09:36:00",
    "Match 4 · GLOBX · 2024-01-02 09:30:15 → 2024-01-02 09:33:45",
]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A history database of this test's own (SQLite under tmp_path), used by the app."""
    for name in HISTORY_ENV:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "lakestream"
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def store(data_dir: Path) -> HistoryStore:
    """The real store on the app's database, to put runs in."""
    settings = HistorySettings.from_env(os.environ)
    return HistoryStore(create_history_engine(settings), settings)


@pytest.fixture(scope="module")
def v_shape() -> tuple[Pattern, Any, MatchResult]:
    """The sample pattern, the sample ticks and its result (4 matches)."""
    pattern = load_pattern(SAMPLES / "v_shape.json")
    events = load_events(SAMPLES / "stocks.csv", time_field=pattern.order_by)
    return pattern, events, find_matches(pattern, events)


def first_pattern_of_each_kind() -> dict[str, tuple[str, str]]:
    """kind → (pack, pattern) of the first template pattern of that kind with sample matches."""
    found: dict[str, tuple[str, str]] = {}
    for pack in list_packs():
        frame, _ = generate_sample(pack, events=200, seed=0)
        for name, pattern in pack.patterns.items():
            if pattern.kind not in found and find_matches(pattern, frame).matches:
                found[pattern.kind] = (pack.name, name)
    return found


KIND_SAMPLES = first_pattern_of_each_kind()


def record(
    store: HistoryStore,
    run: tuple[Pattern, Any, MatchResult],
    *,
    with_events: bool = True,
    with_explanations: bool = False,
    max_events: int = 50,
) -> str:
    pattern, events, result = run
    explanations = (
        [e.to_json_dict() for e in explain_result(pattern, events, result, max_events=max_events)]
        if with_explanations
        else None
    )
    outcome = store.record_run(
        RunRecord.from_run(
            pattern,
            result,
            owner="ana@example.com",
            events=events if with_events else None,
            event_source="sample: stocks.csv",
            explanations=explanations,
        )
    )
    assert outcome.status == "stored"
    return outcome.id


def open_app() -> AppTest:
    return AppTest.from_file(ROOT / "app.py", default_timeout=TIMEOUT_S).run()


def open_explain(at: AppTest | None = None) -> AppTest:
    at = at or open_app()
    at.switch_page(EXPLAIN).run()
    assert not at.exception
    return at


def run_on_test_page(at: AppTest, pattern_text: str | None = None) -> AppTest:
    at.switch_page("pages/test.py").run()
    if pattern_text is None:
        at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    else:
        at.text_area(key=state.TEST_PATTERN_TEXT).set_value(pattern_text).run()
    at.button(key=state.TEST_RUN).click().run()
    assert not at.exception
    assert not at.error
    return at


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def card_titles(at: AppTest) -> list[str]:
    return [
        plain(m.value).strip("*") for m in at.markdown if "Match " in m.value and " · " in m.value
    ]


def charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def records(at: AppTest, index: int) -> list[dict[str, Any]]:
    return [dict(r) for r in at.dataframe[index].value.to_dict("records")]


def near_table(at: AppTest) -> list[dict[str, Any]]:
    """The near-miss table (the only table with a "reason" column)."""
    found = [d for d in at.dataframe if "reason" in d.value.columns]
    assert len(found) == 1
    return [dict(r) for r in found[0].value.to_dict("records")]


def metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def check_first_card(at: AppTest) -> None:
    """The first card of the V-shape sample: bindings, snapshot and chart, worked by hand."""
    assert card_titles(at) == CARD_TITLES
    assert records(at, 0) == MATCH_1_BINDINGS
    # the first card's snapshot: 4 numbers, then the rest as a table
    assert metrics(at)[:4] == [
        ("match number", "1"), ("span (s)", "120"), ("within (s)", "600"),
        ("window left (s)", "480"),
    ]  # fmt: skip
    assert records(at, 1) == [
        {"name": "variables · A", "value": "1"},
        {"name": "variables · B", "value": "2"},
        {"name": "variables · C", "value": "2"},
        {"name": "after match skip", "value": "PAST LAST ROW"},
        {"name": "window end", "value": "2024-01-02 09:40:30"},
    ]
    figure = charts(at)[0]
    steps = {t["name"]: (t["x"], t["text"]) for t in figure["data"] if t["name"].startswith("step")}
    assert steps == {
        "step A": (["2024-01-02T09:30:30+00:00"], ["3"]),
        "step B": (["2024-01-02T09:31:00+00:00", "2024-01-02T09:31:30+00:00"], ["5", "7"]),
        "step C": (["2024-01-02T09:32:00+00:00", "2024-01-02T09:32:30+00:00"], ["9", "11"]),
    }
    assert {t["y"][0] for t in figure["data"]} == {"ACME"}
    (window,) = figure["layout"]["shapes"]
    assert (window["x0"], window["x1"]) == (
        "2024-01-02T09:30:30+00:00",
        "2024-01-02T09:40:30+00:00",
    )
    assert figure["layout"]["annotations"][0]["text"] == "window (WITHIN 600 s)"


# ------------------------------------------------------------------------------------------
# No run yet


@pytest.mark.usefixtures("data_dir")
def test_without_any_run_the_page_points_to_the_test_page() -> None:
    at = open_explain()

    assert at.title[0].value == "Explain matches"
    assert at.radio(key=state.EXPLAIN_SOURCE).value == "A run from History"
    assert "No runs in History yet — run a test on the **Test** page" in texts(at.info)
    at.radio(key=state.EXPLAIN_SOURCE).set_value("The Test page's last run").run()
    assert "No test run yet in this session. Run a pattern on the **Test** page" in texts(at.info)
    assert not at.error
    assert not at.dataframe
    assert not at.get("plotly_chart")


# ------------------------------------------------------------------------------------------
# The Test page's last run


@pytest.mark.usefixtures("data_dir")
def test_current_run_shows_cards_with_timeline_bindings_snapshot_and_payloads() -> None:
    at = open_explain(run_on_test_page(open_app()))

    assert at.radio(key=state.EXPLAIN_SOURCE).value == "The Test page's last run"
    assert not at.error
    assert at.subheader[0].value == "v_shape on stocks.csv"
    assert "match_recognize · 23 events · 4 matches" in texts(at.caption)
    assert "Showing 4 of 4 explained matches." in texts(at.caption)
    check_first_card(at)
    # the key's other events in the shaded window are drawn in grey
    context = next(t for t in charts(at)[0]["data"] if t["name"] == "other events of the key")
    assert context["x"][0] == "2024-01-02T09:33:00+00:00"
    assert len(context["x"]) == 7  # ACME events 13 15 17 19 21 22 23
    # the matched payloads, every field as given
    payloads = next(
        d for d in at.dataframe if list(d.value.columns) == ["id", "symbol", "ts", "price"]
    )
    assert payloads.value["price"].tolist() == ["101", "99", "97", "98", "100"]


@pytest.mark.usefixtures("data_dir")
def test_a_new_test_run_is_explained_instead_of_the_one_seen_before() -> None:
    at = open_explain(run_on_test_page(open_app()))
    assert len(card_titles(at)) == 4

    every_row = json.dumps(
        {"kind": "match_recognize", "name": "every_tick", "partition_by": ["symbol"],
         "pattern": "A", "define": {"A": "price > 0"}}
    )  # fmt: skip
    open_explain(run_on_test_page(at, every_row))

    assert at.subheader[0].value == "every_tick on stocks.csv"
    assert len(card_titles(at)) == 10, "cards come 10 at a time"
    assert "Showing 10 of 23 explained matches." in texts(at.caption)
    at.button(key=state.EXPLAIN_SHOW_MORE).click().run()
    assert len(card_titles(at)) == 20
    at.button(key=state.EXPLAIN_SHOW_MORE).click().run()
    assert len(card_titles(at)) == 23
    assert not any(b.key == state.EXPLAIN_SHOW_MORE for b in at.button)
    assert not at.exception


# ------------------------------------------------------------------------------------------
# A stored run


def test_stored_run_requested_by_id_is_explained_from_its_stored_events(
    store: HistoryStore, v_shape: tuple[Pattern, Any, MatchResult]
) -> None:
    run_id = record(store, v_shape)
    at = open_app()
    at.session_state[state.EXPLAIN_RUN_ID] = run_id
    open_explain(at)

    assert at.radio(key=state.EXPLAIN_SOURCE).value == "A run from History"
    assert at.selectbox(key=state.EXPLAIN_RUN).value == run_id
    assert at.subheader[0].value == "v_shape on sample: stocks.csv"
    assert f"match_recognize · 23 events · 4 matches · run {run_id}" in texts(at.caption)
    assert not at.info, "the events were stored: nothing is missing"
    check_first_card(at)


def test_stored_run_on_a_database_url_is_picked_from_the_recent_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    v_shape: tuple[Pattern, Any, MatchResult],
) -> None:
    for name in HISTORY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKESTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LAKESTREAM_DATABASE_URL", f"sqlite:///{tmp_path / 'runs.db'}")
    settings = HistorySettings.from_env(os.environ)
    store = HistoryStore(create_history_engine(settings), settings)
    older = record(store, v_shape)
    _, events, _ = v_shape
    ups = parse_pattern(
        {"kind": "match_recognize", "name": "ups", "partition_by": ["symbol"], "pattern": "A B",
         "define": {"B": "price > PREV(price)"}}
    )  # fmt: skip
    newer = record(store, (ups, events, find_matches(ups, events)))

    at = open_explain()
    picker = at.selectbox(key=state.EXPLAIN_RUN)
    # ups: ACME 1-3 7-9 15-17 22-23, GLOBX 10-12 14-16 18-20
    assert picker.options[0].split(" · ")[1:3] == ["ups", "7 matches"]
    assert picker.value == newer
    assert at.subheader[0].value == "ups on sample: stocks.csv"

    picker.set_value(older).run()
    assert at.subheader[0].value == "v_shape on sample: stocks.csv"
    assert at.session_state[state.EXPLAIN_RUN_ID] == older
    check_first_card(at)


def test_the_chosen_stored_run_and_time_range_survive_leaving_the_page_or_changing_run(
    store: HistoryStore, v_shape: tuple[Pattern, Any, MatchResult]
) -> None:
    older = record(store, v_shape)
    pack = next(p for p in list_packs() if p.name == KIND_SAMPLES["heartbeat"][0])
    heartbeat = pack.patterns[KIND_SAMPLES["heartbeat"][1]]
    frame, _ = generate_sample(pack, events=200, seed=0)
    newer = record(store, (heartbeat, frame, find_matches(heartbeat, frame)))
    at = open_explain()
    assert at.selectbox(key=state.EXPLAIN_RUN).value == newer

    at.selectbox(key=state.EXPLAIN_RUN).set_value(older).run()
    at.switch_page("pages/history.py").run()
    open_explain(at)
    assert at.selectbox(key=state.EXPLAIN_RUN).value == older
    at.toggle(key=state.EXPLAIN_USE_RANGE).set_value(True).run()
    at.slider(key=state.EXPLAIN_RANGE).set_value(
        (dt.datetime(2024, 1, 2, 9, 31), dt.datetime(2024, 1, 2, 9, 33))
    ).run()

    at.selectbox(key=state.EXPLAIN_RUN).set_value(newer).run()
    assert not at.exception
    assert at.subheader[0].value.startswith(heartbeat.name)
    first, last = at.slider(key=state.EXPLAIN_RANGE).value
    assert first.year == last.year == 2024
    assert (first.month, first.day) != (1, 2), "the heartbeat sample is not on the ticks' day"


def test_stored_run_without_events_shows_its_stored_explanations_and_no_near_misses(
    store: HistoryStore, v_shape: tuple[Pattern, Any, MatchResult]
) -> None:
    run_id = record(store, v_shape, with_events=False, with_explanations=True, max_events=3)
    at = open_app()
    at.session_state[state.EXPLAIN_RUN_ID] = run_id
    open_explain(at)

    notes = plain(texts(at.info))
    assert "The events of this run were not stored" in notes
    assert "only the explanations stored with it are shown; near misses need the events" in notes
    assert "Near misses need the events, and this run's events are not at hand" in notes
    assert card_titles(at) == CARD_TITLES
    # 3 bound events were stored per match: steps A, B, B (no C clause column)
    assert records(at, 0) == [
        {k: v for k, v in row.items() if k != "price > PREV(price)"} for row in MATCH_1_BINDINGS[:3]
    ]
    assert "Showing 3 bound events, and 2 more not shown." in texts(at.caption)
    assert "Showing 3 bound events, and 5 more not shown." in texts(at.caption)  # GLOBX: 8
    assert metrics(at)[3] == ("window left (s)", "480")
    steps = [t["name"] for t in charts(at)[0]["data"]]
    assert steps == ["step A", "step B"], "only the stored bound events, no other events"
    assert not at.error


@pytest.mark.skipif(not explain_page_available(), reason="the History page has no button yet")
def test_open_explanation_on_the_history_page_shows_that_run(
    store: HistoryStore, v_shape: tuple[Pattern, Any, MatchResult]
) -> None:
    run_id = record(store, v_shape)
    at = open_app()
    at.switch_page("pages/history.py").run()
    at.button(key=state.HISTORY_OPEN_EXPLANATION).click().run()

    assert not at.exception
    assert at.title[0].value == "Explain matches"
    assert at.selectbox(key=state.EXPLAIN_RUN).value == run_id
    check_first_card(at)


def test_the_template_packs_give_a_matching_pattern_of_every_kind() -> None:
    assert sorted(KIND_SAMPLES) == sorted(KINDS)


@pytest.mark.parametrize("kind", sorted(KIND_SAMPLES))
def test_a_stored_run_of_every_kind_renders_its_cards_and_near_misses(
    store: HistoryStore, kind: str
) -> None:
    pack_name, name = KIND_SAMPLES[kind]
    pack = next(p for p in list_packs() if p.name == pack_name)
    pattern = pack.patterns[name]
    frame, _ = generate_sample(pack, events=200, seed=0)
    result = find_matches(pattern, frame)
    at = open_app()
    at.session_state[state.EXPLAIN_RUN_ID] = record(store, (pattern, frame, result))
    open_explain(at)

    assert not at.error, texts(at.error)
    assert len(card_titles(at)) == min(len(result.matches), 10)
    assert card_titles(at)[0].startswith("Match 1 · ")
    assert len(charts(at)) >= len(card_titles(at)), "every card has its timeline"
    near_shown = any("reason" in d.value.columns for d in at.dataframe)
    assert near_shown or "No near misses for this key" in plain(texts(at.info))


# ------------------------------------------------------------------------------------------
# Near misses


@pytest.mark.usefixtures("data_dir")
def test_near_misses_for_a_key_give_the_step_reached_breaking_event_and_reason() -> None:
    at = open_explain(run_on_test_page(open_app()))
    picker = at.selectbox(key=state.EXPLAIN_KEY)
    assert picker.options == ["ACME", "GLOBX"]
    assert picker.value == "ACME", "the first key with a match"

    picker.set_value("GLOBX").run()
    rows = near_table(at)
    assert rows[0] == {
        "step reached": "C+ (3 of 3)",
        "events bound": "4 6 8 10 12 14 16",
        "broken by": "16",
        "reason": "skip_strategy_discarded",
        "why": "It could complete all 3 steps, but the skip strategy (PAST LAST ROW) dropped it "
        "for the overlapping match ending at event 16.",
        "started": "2024-01-02 09:30:45",
        "ended": "2024-01-02 09:33:45",
    }
    assert [r["reason"] for r in rows] == ["skip_strategy_discarded"] * 3 + [
        "strict_contiguity_broken"
    ] * 5 + ["data_ended"]
    assert rows[3]["events bound"] == "10"
    assert rows[3]["broken by"] == "12"
    assert rows[-1]["broken by"] == ""
    summary = plain(texts(at.markdown))
    assert "**9 near misses** for **GLOBX**, closest calls first" in summary
    chart = charts(at)[-1]
    assert {t["name"]: len(t["x"]) for t in chart["data"]} == {
        "strict_contiguity_broken": 5, "skip_strategy_discarded": 3, "data_ended": 1,
    }  # fmt: skip


@pytest.mark.usefixtures("data_dir")
def test_near_misses_in_a_time_range_and_the_empty_state() -> None:
    at = open_explain(run_on_test_page(open_app()))
    at.selectbox(key=state.EXPLAIN_KEY).set_value("GLOBX").run()
    at.toggle(key=state.EXPLAIN_USE_RANGE).set_value(True).run()
    window = at.slider(key=state.EXPLAIN_RANGE)
    assert window.value == (dt.datetime(2024, 1, 2, 9, 30), dt.datetime(2024, 1, 2, 9, 36))

    window.set_value((dt.datetime(2024, 1, 2, 9, 34, 30), dt.datetime(2024, 1, 2, 9, 36))).run()
    rows = near_table(at)
    assert [(r["events bound"], r["reason"]) for r in rows] == [("20", "data_ended")]

    at.slider(key=state.EXPLAIN_RANGE).set_value(
        (dt.datetime(2024, 1, 2, 9, 35), dt.datetime(2024, 1, 2, 9, 36))
    ).run()
    assert "No near misses for this key (GLOBX)" in texts(at.info)
    assert not at.error


@pytest.mark.usefixtures("data_dir")
def test_a_typed_key_that_no_event_has_is_an_error_not_a_traceback() -> None:
    at = open_explain(run_on_test_page(open_app()))
    at.text_input(key=state.EXPLAIN_KEY_TEXT).set_value("NOPE").run()

    assert not at.exception
    message = plain(texts(at.error))
    assert "Could not find near misses" in message
    assert "no events with key 'NOPE' (partition_by symbol)" in message
    assert "keys found: symbol=ACME, symbol=GLOBX" in message

    at.text_input(key=state.EXPLAIN_KEY_TEXT).set_value("symbol=GLOBX").run()
    assert not at.error
    assert near_table(at)[0]["events bound"] == "4 6 8 10 12 14 16"


@pytest.mark.usefixtures("data_dir")
def test_every_input_of_the_explain_page_has_help_text() -> None:
    at = open_explain(run_on_test_page(open_app()))
    at.toggle(key=state.EXPLAIN_USE_RANGE).set_value(True).run()
    inputs = [*at.radio, *at.selectbox, *at.text_input, *at.toggle, *at.slider, *at.number_input]
    explain_inputs = [w for w in inputs if str(w.key).startswith("explain.")]
    assert len(explain_inputs) == 6
    assert all(w.help for w in explain_inputs), [w.key for w in explain_inputs if not w.help]


@pytest.mark.parametrize(
    "module",
    [ui.explain_cards, ui.explain_data, ui.explain_near, ui.explain_source],
    ids=lambda m: m.__name__,
)
def test_explain_helper_examples_hold(module: object) -> None:
    failed, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert attempted > 0
    assert failed == 0
