"""Browser scenario for the History page: run a test, find it in History, open its detail (or its
explanation), re-run it and compare two runs.

The app runs on a history database of its own (``LAKESTREAM_DATA_DIR`` under a temporary
folder), so the scenario starts from an empty history and never touches ``.lakestream/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import save_full_screenshot, serve_app
from playwright.sync_api import Page, expect

from cep.events import load_events
from cep.matcher import find_matches
from cep.model import parse_pattern
from ui.history_view import EXPLAIN_PAGE, explain_page_available

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
RUN_TIMEOUT_MS = 180_000  # a fresh server compiles the matcher's kernels on its first run
SAMPLE_MATCH_COUNT = 4  # the V shape on the sample ticks, worked by hand in samples/README.md
EDITED_ROW_PATTERN = "A B+ C C+"  # the second run: the price must rise for two ticks or more


def edited_sample() -> tuple[str, int, tuple[int, int, int]]:
    """The sample pattern with another PATTERN, as JSON text; its match count on the sample
    ticks; and how its matches compare with the sample's (added, removed, unchanged)."""
    events = load_events(SAMPLES / "stocks.csv", time_field="ts")
    data = json.loads((SAMPLES / "v_shape.json").read_text(encoding="utf-8"))

    def identities(pattern: dict[str, object]) -> list[str]:
        found = find_matches(parse_pattern(pattern), events).matches
        return [json.dumps([m.key, list(m.event_ids)], default=str) for m in found]

    before = identities(data)
    assert len(before) == SAMPLE_MATCH_COUNT
    edited = {**data, "pattern": EDITED_ROW_PATTERN}
    after = identities(edited)
    added = sum(i not in before for i in after)
    removed = sum(i not in after for i in before)
    return json.dumps(edited, indent=2), len(after), (added, removed, len(after) - added)


def run_on_test_page(page: Page, pattern_text: str | None, match_count: int) -> None:
    """On the Test page: load the sample pattern (or type ``pattern_text``), run it on the
    sample ticks, and see the run saved."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()
    if pattern_text is None:
        page.get_by_role("button", name="Load sample").click()
        # Wait for the rerun that loads the sample, or the Run click can be lost in it.
        expect(page.get_by_role("textbox", name="Pattern text")).not_to_have_value("")
    else:
        page.get_by_role("textbox", name="Pattern text").fill(pattern_text)
    page.get_by_role("button", name="Run", exact=True).click()
    noun = "match" if match_count == 1 else "matches"
    expect(page.get_by_text(f"{match_count} {noun} for pattern")).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    expect(page.get_by_text("Saved to History")).to_be_visible()


def open_history(page: Page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()


@pytest.mark.e2e
def test_a_test_run_appears_in_history_with_its_detail_rerun_and_comparison(
    page: Page, history_app_url: str
) -> None:
    page.goto(history_app_url)
    expect(page.get_by_role("heading", name="LakeStream CEP Builder")).to_be_visible()
    open_history(page)
    expect(page.get_by_text("No runs yet — run a test on the Test page")).to_be_visible()

    edited_text, edited_count, (added, removed, unchanged) = edited_sample()
    assert edited_count != SAMPLE_MATCH_COUNT, "the second run must be told from the first"
    run_on_test_page(page, None, SAMPLE_MATCH_COUNT)
    open_history(page)

    main = page.get_by_test_id("stMain")
    runs_table = main.get_by_test_id("stDataFrame").first
    expect(runs_table).to_contain_text("v_shape")
    expect(runs_table).to_contain_text("sample: stocks.csv")
    expect(main.get_by_role("heading", name="v_shape")).to_be_visible()
    matches_metric = main.get_by_test_id("stMetric").filter(has_text="Matches").first
    expect(matches_metric.get_by_test_id("stMetricValue")).to_have_text(str(SAMPLE_MATCH_COUNT))
    expect(main.get_by_text("In plain English")).to_be_visible()
    save_full_screenshot(page, "/tmp/e2e_history_detail.png")

    main.get_by_role("button", name="Re-run").click()
    expect(
        main.get_by_text(f"Same result as stored: the re-run found the same {SAMPLE_MATCH_COUNT}")
    ).to_be_visible(timeout=RUN_TIMEOUT_MS)

    run_on_test_page(page, edited_text, edited_count)
    open_history(page)
    expect(main.get_by_text("Page 1 · 2 shown")).to_be_visible()
    main.get_by_role("tab", name="Compare").click()
    for label, value in (("Added", added), ("Removed", removed), ("Unchanged", unchanged)):
        metric = main.get_by_test_id("stMetric").filter(has_text=label)
        expect(metric.get_by_test_id("stMetricValue")).to_have_text(str(value))
    save_full_screenshot(page, "/tmp/e2e_history_compare.png")

    main.get_by_role("tab", name="Runs").click()
    if explain_page_available():
        main.get_by_role("button", name="Open explanation").click()
        expect(page).to_have_url(f"{history_app_url}/{Path(EXPLAIN_PAGE).stem}")
        expect(page.get_by_role("radio", name="A run from History")).to_be_checked()
        save_full_screenshot(page, "/tmp/e2e_history_explanation.png")
    else:
        expect(main.get_by_role("button", name="Open explanation")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


@pytest.fixture(scope="module")
def history_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with an empty database of its own."""
    with serve_app(tmp_path_factory.mktemp("history_e2e")) as url:
        yield url
