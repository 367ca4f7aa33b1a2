"""Browser scenario for the Explain page: run a test, open it in History, open its explanation,
read the first match card, then the near misses of a key.

The app runs on a history database of its own (``LAKESTREAM_DATA_DIR`` under a temporary
folder), so the scenario starts from an empty history and never touches ``.lakestream/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_helpers import serve_app
from playwright.sync_api import Page, expect

from ui.history_view import explain_page_available

SAMPLE_MATCH_COUNT = 4  # the V shape on the sample ticks, worked by hand in samples/README.md
FIRST_CARD = "Match 1 · ACME · 2024-01-02 09:30:30 → 2024-01-02 09:32:30"


def open_page(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()


def run_sample(page: Page) -> None:
    """On the Test page: load the sample pattern, run it on the sample ticks, see it saved."""
    open_page(page, "Test")
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()
    page.get_by_role("button", name="Load sample").click()
    # Run only once the sample is in the text area (a click during the rerun would be lost)
    expect(page.get_by_role("textbox", name="Pattern text")).to_contain_text('"name": "v_shape"')
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text(f"{SAMPLE_MATCH_COUNT} matches for pattern")).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_text("Saved to History")).to_be_visible()


@pytest.mark.e2e
def test_a_test_run_opened_from_history_explains_its_matches_and_near_misses(
    page: Page, explain_app_url: str
) -> None:
    page.goto(explain_app_url)
    expect(page.get_by_role("heading", name="LakeStream CEP Builder")).to_be_visible()
    run_sample(page)
    main = page.get_by_test_id("stMain")

    if explain_page_available():
        open_page(page, "History")
        expect(main.get_by_role("heading", name="v_shape")).to_be_visible()
        main.get_by_role("button", name="Open explanation").click()
        expect(page).to_have_url(f"{explain_app_url}/explain")
        source = "A run from History"
    else:  # the History page has no "Open explanation" yet: go to the Explain page directly
        open_page(page, "Explain")
        source = "The Test page's last run"

    expect(page.get_by_role("heading", name="Explain matches")).to_be_visible()
    expect(main.get_by_role("radio", name=source)).to_be_checked()
    expect(main.get_by_text("v_shape on", exact=False).first).to_be_visible()
    expect(main.get_by_text(FIRST_CARD, exact=True)).to_be_visible(timeout=60_000)
    # the innermost block holding the card's title is the card (its container)
    card = main.get_by_test_id("stVerticalBlock").filter(has_text=FIRST_CARD).last
    expect(card.get_by_test_id("stPlotlyChart")).to_be_visible()
    expect(card.get_by_text("Events 3 5 7 9 11 bound to A B B C C")).to_be_visible()
    bindings = card.get_by_test_id("stDataFrame").first
    expect(bindings).to_contain_text("price < PREV(price)")
    left = card.get_by_test_id("stMetric").filter(has_text="window left (s)")
    expect(left.get_by_test_id("stMetricValue")).to_have_text("480")
    page.screenshot(path="/tmp/e2e_explain_card.png")

    main.get_by_role("tab", name="Near misses").click()
    key_picker = main.get_by_test_id("stSelectbox").filter(has_text="Key")
    key_picker.click()
    page.get_by_role("option", name="GLOBX").click()
    expect(main.get_by_text("9 near misses")).to_be_visible(timeout=60_000)
    near_table = main.get_by_test_id("stDataFrame").filter(has_text="reason").last
    expect(near_table).to_contain_text("skip_strategy_discarded")
    page.screenshot(path="/tmp/e2e_explain_near.png")

    main.get_by_role("textbox", name="Or type a key").fill("NOPE")
    main.get_by_role("textbox", name="Or type a key").press("Enter")
    expect(main.get_by_text("no events with key 'NOPE'")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.fixture(scope="module")
def explain_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with an empty database of its own."""
    with serve_app(tmp_path_factory.mktemp("explain_e2e")) as url:
        yield url
