"""Browser scenarios for the sequence form and the stream replay of the Test page."""

from __future__ import annotations

import re

import pytest
from e2e_helpers import save_full_screenshot, wait_for_rerun
from playwright.sync_api import Page, expect

SAMPLE_MATCH_COUNT = 4  # the V-shape sample on the sample ticks (samples/README.md)


def open_test_page(page: Page, app_url: str) -> None:
    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()



def commit_text(page: Page, label: str, text: str, nth: int = 0) -> None:
    """Type into a text input and press Enter, which sends it to the app."""
    box = page.get_by_role("textbox", name=label, exact=True).nth(nth)
    box.fill(text)
    box.press("Enter")
    wait_for_rerun(page)


def choose(page: Page, label: str, option: str, nth: int = 0) -> None:
    """Pick an option of the nth select box labelled ``label``."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).nth(nth).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_rerun(page)


def build_a_then_b(page: Page) -> None:
    """Through the form: A (price < 100) then B (price > 101), per symbol, within 5m."""
    page.get_by_role("radio", name="Build a sequence").click()
    expect(page.get_by_text("Valid sequence pattern with 1 step")).to_be_visible()
    commit_text(page, "Pattern name", "a_then_b")
    page.get_by_test_id("stMultiSelect").filter(has_text="Partition by").click()
    page.get_by_role("option", name="symbol", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_rerun(page)
    commit_text(page, "Within", "5m")
    commit_text(page, "Condition (where)", "price < 100")
    page.get_by_role("button", name="Add step").click()
    expect(page.get_by_role("textbox", name="Condition (where)")).to_have_count(2)
    commit_text(page, "Condition (where)", "price > 101", nth=1)
    expect(page.get_by_text("Valid sequence pattern with 2 steps")).to_be_visible()


@pytest.mark.e2e
def test_a_sequence_built_in_the_form_validates_and_runs(page: Page, app_url: str) -> None:
    open_test_page(page, app_url)
    build_a_then_b(page)

    page.get_by_role("tab", name="JSON").click()
    json_view = page.get_by_test_id("stCode").filter(has_text='"kind": "sequence"')
    expect(json_view).to_contain_text('"where": "price > 101"')
    expect(json_view).to_contain_text('"within": "5m"')
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_sequence_form.png")

    page.get_by_role("button", name="Run", exact=True).click()

    # ACME 5 (99) then ACME 19 (102), 3.5 minutes apart; GLOBX never goes over 101.
    expect(page.get_by_text("1 match for pattern")).to_be_visible(timeout=60_000)
    matches_metric = page.get_by_test_id("stMetric").filter(has_text="Matches")
    expect(matches_metric.get_by_test_id("stMetricValue")).to_have_text("1")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_sequence_run.png")


@pytest.mark.e2e
def test_an_invalid_sequence_shows_the_error_beside_the_form(page: Page, app_url: str) -> None:
    open_test_page(page, app_url)
    build_a_then_b(page)

    choose(page, "Negation", "not followed by", nth=1)
    commit_text(page, "Within", "")

    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("The sequence is not valid yet")
    expect(error).to_contain_text("step 2 (B), negated")
    expect(error).to_contain_text("only when 'within' is set")
    expect(page.get_by_test_id("stCode")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_sequence_error.png")

    commit_text(page, "Within", "10m")
    expect(page.get_by_text("Valid sequence pattern with 2 steps")).to_be_visible()


@pytest.mark.e2e
def test_stream_replay_of_the_sample_shows_the_batch_matches(page: Page, app_url: str) -> None:
    open_test_page(page, app_url)
    page.get_by_role("button", name="Load sample").click()
    expect(page.get_by_role("textbox", name="Pattern text")).to_have_value(
        re.compile(r'"pattern": "A B\+ C\+"')
    )
    page.get_by_text("Replay as a stream").click()
    batch_size = page.get_by_role("spinbutton", name="Batch size (events)")
    expect(batch_size).to_have_value("5")
    batch_size.fill("3")
    batch_size.press("Enter")

    page.get_by_role("button", name="Run", exact=True).click()

    expect(page.get_by_text(f"{SAMPLE_MATCH_COUNT} matches for pattern")).to_be_visible(
        timeout=60_000
    )
    batches_metric = page.get_by_test_id("stMetric").filter(has_text="Batches")
    expect(batches_metric.get_by_test_id("stMetricValue")).to_have_text("8")  # 23 rows / 3
    late_metric = page.get_by_test_id("stMetric").filter(has_text="Late events")
    expect(late_metric.get_by_test_id("stMetricValue")).to_have_text("0")
    expect(page.get_by_text("The streamed matches equal the batch run's")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    page.get_by_text("Matches emitted per batch").click()
    save_full_screenshot(page, "/tmp/e2e_sequence_replay.png")
