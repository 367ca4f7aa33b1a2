"""AppTest checks of every page, and of the Test page driven through its widgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import state
from ui.navigation import PAGES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"

# Worked by hand in samples/README.md: V shape (A B+ C+) over samples/stocks.csv.
SAMPLE_MATCHES = [
    ("ACME", "3 5 7 9 11", "A B B C C"),
    ("ACME", "13 15 17 19", "A B C C"),
    ("ACME", "21 22 23", "A B C"),
    ("GLOBX", "2 4 6 8 10 12 14 16", "A B B B B C C C"),
]
TIMEOUT_S = 120


def open_script(script: str) -> AppTest:
    return AppTest.from_file(ROOT / script, default_timeout=TIMEOUT_S)


def open_test_page() -> AppTest:
    at = open_script("pages/test.py").run()
    assert not at.exception
    return at


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def messages(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def assert_sample_matches(at: AppTest) -> None:
    assert not at.exception
    assert not at.error, messages(at.error)
    assert metric_values(at)["Matches"] == str(len(SAMPLE_MATCHES))
    assert metric_values(at)["Events"] == "23"
    table = at.dataframe[0].value
    found = list(zip(table["key"], table["events"], table["classifiers"], strict=True))
    assert found == SAMPLE_MATCHES


def test_app_opens_on_home_with_navigation_and_sidebar() -> None:
    at = open_script("app.py").run()
    assert not at.exception
    assert at.title[0].value == "LakeStream CEP Builder"
    assert any(c.value.startswith("Version ") for c in at.sidebar.caption)


@pytest.mark.parametrize("spec", PAGES, ids=[spec.title for spec in PAGES])
def test_every_page_renders_without_exception(spec) -> None:
    at = open_script("app.py").run()
    at.switch_page(spec.path).run()
    assert not at.exception
    assert not at.error
    assert at.title, f"{spec.path} has no title"


def test_every_page_file_is_in_the_navigation() -> None:
    on_disk = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")}
    assert on_disk == {spec.path for spec in PAGES}
    assert sum(spec.is_default for spec in PAGES) == 1


def test_test_page_shows_how_to_start_before_a_run() -> None:
    at = open_test_page()
    assert not at.error
    assert "Load sample" in messages(at.info)
    assert not at.metric


def test_every_test_page_input_has_help_text() -> None:
    at = open_test_page()
    inputs = [*at.file_uploader, *at.text_area, *at.radio, *at.button]
    assert inputs
    assert all(w.help for w in inputs), [w.label for w in inputs if not w.help]


def test_sample_pattern_on_sample_events_finds_the_hand_computed_matches() -> None:
    at = open_test_page()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    assert '"pattern": "A B+ C+"' in at.text_area(key=state.TEST_PATTERN_TEXT).value
    assert at.radio(key=state.TEST_EVENTS_CHOICE).value == "Sample stock ticks"

    at.button(key=state.TEST_RUN).click().run()

    assert_sample_matches(at)
    assert "4 matches" in messages(at.markdown)
    assert len(at.get("plotly_chart")) == 1
    assert {b.label for b in at.download_button} == {"Download JSON", "Download CSV"}


def test_results_survive_a_rerun_and_say_when_inputs_changed() -> None:
    at = open_test_page()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    at.button(key=state.TEST_RUN).click().run()
    at.run()
    assert_sample_matches(at)

    text = at.text_area(key=state.TEST_PATTERN_TEXT)
    text.set_value(text.value.replace('"10m"', '"9m"')).run()
    assert "changed since this run" in messages(at.caption)


def test_uploaded_sql_pattern_and_csv_events_find_the_same_matches() -> None:
    at = open_test_page()
    at.file_uploader(key=state.TEST_PATTERN_FILE).set_value(
        ("v_shape.sql", (SAMPLES / "v_shape.sql").read_bytes(), "application/sql")
    ).run()
    assert "MATCH_RECOGNIZE" in at.text_area(key=state.TEST_PATTERN_TEXT).value
    at.radio(key=state.TEST_EVENTS_CHOICE).set_value("Upload a file").run()
    at.file_uploader(key=state.TEST_EVENTS_FILE).set_value(
        ("ticks.csv", (SAMPLES / "stocks.csv").read_bytes(), "text/csv")
    ).run()

    at.button(key=state.TEST_RUN).click().run()

    assert_sample_matches(at)
    assert "ticks.csv" in messages(at.markdown)


@pytest.mark.parametrize(
    "text",
    [
        "this is { not a pattern",
        '{"kind": "match_recognize", "name": "x", "pattern": "A B+ (", "define": {}}',
        '{"kind": "no_such_kind", "name": "x"}',
        '{"kind": "match_recognize", "name": "x", "pattern": "A B",'
        ' "define": {"B": "__import__(\'os\').system(\'x\')"}}',
    ],
    ids=["garbage", "bad-PATTERN", "unknown-kind", "injection"],
)
def test_bad_pattern_text_shows_an_error_not_a_traceback(text: str) -> None:
    at = open_test_page()
    at.text_area(key=state.TEST_PATTERN_TEXT).set_value(text).run()
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith("**Could not read the pattern** — ")
    assert len(message) > len("**Could not read the pattern** — ") + 10
    assert "Traceback" not in message
    assert not at.metric


def test_events_without_the_time_column_show_an_error() -> None:
    at = open_test_page()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    at.radio(key=state.TEST_EVENTS_CHOICE).set_value("Upload a file").run()
    at.file_uploader(key=state.TEST_EVENTS_FILE).set_value(
        ("no_time.csv", b"id,symbol,price\n1,ACME,10\n2,ACME,9\n", "text/csv")
    ).run()
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith("**Could not load the events** — ")
    assert not at.metric


def test_run_without_a_pattern_says_what_to_do() -> None:
    at = open_test_page()
    at.button(key=state.TEST_RUN).click().run()
    assert not at.exception
    assert not at.error
    assert "Add a pattern first" in messages(at.warning)


def test_run_with_upload_chosen_but_no_file_says_what_to_do() -> None:
    at = open_test_page()
    at.button(key=state.TEST_LOAD_SAMPLE).click().run()
    at.radio(key=state.TEST_EVENTS_CHOICE).set_value("Upload a file").run()
    at.button(key=state.TEST_RUN).click().run()
    assert not at.exception
    assert "Add events first" in messages(at.warning)


def test_a_pattern_file_that_is_not_utf8_is_reported() -> None:
    at = open_test_page()
    at.file_uploader(key=state.TEST_PATTERN_FILE).set_value(
        ("p.json", b"\xff\xfe\x00garbage", "application/json")
    ).run()
    assert not at.exception
    assert "p.json is not UTF-8 text" in messages(at.error).replace("\\", "")


def test_a_kind_without_a_matcher_says_so_and_shows_no_result(monkeypatch) -> None:
    import cep.matcher

    # Every kind has a matcher by now; simulate one without, as a new kind would start.
    monkeypatch.setattr(cep.matcher, "_detector", lambda kind: None)
    at = open_test_page()
    at.text_area(key=state.TEST_PATTERN_TEXT).set_value(
        '{"kind": "trend", "name": "rising", "partition_by": ["symbol"],'
        ' "value_field": "price", "direction": "up", "count": 3}'
    ).run()
    at.button(key=state.TEST_RUN).click().run()

    assert not at.exception
    assert not at.error
    assert "not implemented yet" in messages(at.warning)
    assert not at.metric
    assert not at.dataframe
