"""Browser scenario for the Test page: run the sample pattern on the sample events."""

from __future__ import annotations

import re

import pytest
from e2e_helpers import save_full_screenshot
from playwright.sync_api import Page, expect

# Worked by hand in samples/README.md.
SAMPLE_MATCH_COUNT = 4
SCREENSHOT = "/tmp/e2e_test_page.png"


@pytest.mark.e2e
def test_test_page_runs_the_sample_and_shows_its_matches(page: Page, app_url: str) -> None:
    page.goto(app_url)
    expect(page.get_by_role("heading", name="LakeStream CEP Builder")).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()

    page.get_by_role("button", name="Load sample").click()
    expect(page.get_by_role("textbox", name="Pattern text")).to_have_value(
        re.compile(r'"pattern": "A B\+ C\+"')
    )
    expect(page.get_by_role("radio", name="Sample stock ticks")).to_be_checked()

    page.get_by_role("button", name="Run", exact=True).click()

    expect(page.get_by_text(f"{SAMPLE_MATCH_COUNT} matches for pattern")).to_be_visible(
        timeout=60_000
    )
    matches_metric = page.get_by_test_id("stMetric").filter(has_text="Matches")
    expect(matches_metric.get_by_test_id("stMetricValue")).to_have_text(str(SAMPLE_MATCH_COUNT))
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)

    save_full_screenshot(page, SCREENSHOT)


@pytest.mark.e2e
def test_test_page_shows_a_readable_error_for_a_bad_pattern(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/test")
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()

    page.get_by_role("textbox", name="Pattern text").fill("this is { not a pattern")
    page.get_by_role("button", name="Run", exact=True).click()

    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("Could not read the pattern")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_test_page_error.png")


@pytest.mark.e2e
def test_home_page_links_to_the_test_page(page: Page, app_url: str) -> None:
    page.goto(app_url)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="LakeStream CEP Builder")).to_be_visible()
    save_full_screenshot(page, "/tmp/e2e_home.png")

    main.get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()
