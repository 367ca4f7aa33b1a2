"""Browser scenario for the Gallery: filter to one industry, open a pack, open a pattern in Test."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import save_full_screenshot
from playwright.sync_api import Page, expect

from cep.packs import expected_matches, load_pack
from ui.gallery import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
INDUSTRY = "Financial services"
PACK = "card_fraud"
PATTERN = "card_testing"


@pytest.mark.e2e
def test_filter_open_a_pack_and_run_a_pattern_in_test(page: Page, app_url: str) -> None:
    catalogue = load_catalogue(ROOT / "packs")
    in_industry = sorted(
        p.meta.title for p in catalogue.packs.values() if p.meta.industry == INDUSTRY
    )
    pack = load_pack(PACK, root=ROOT / "packs")
    expected = expected_matches(pack, PATTERN)
    assert expected, "the seed-0 sample holds a planted card-testing incident"
    expected_keys = [m["key"]["card_id"] for m in expected]
    found = f"{len(expected)} {'match' if len(expected) == 1 else 'matches'} for pattern {PATTERN}"

    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Gallery").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Template gallery")).to_be_visible()
    total = len(catalogue.packs)
    expect(main.get_by_text(f"{total} of {total} packs")).to_be_visible()

    main.get_by_test_id("stMultiSelect").filter(has_text="Industry").click()
    page.get_by_role("option", name=INDUSTRY).click()
    page.keyboard.press("Escape")

    expect(main.get_by_text(f"{len(in_industry)} of {total} packs")).to_be_visible()
    details = main.get_by_role("button", name="View details")
    expect(details).to_have_count(len(in_industry))
    expect(main.get_by_text("IoT predictive maintenance")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_gallery_filtered.png")

    card = main.locator(f".st-key-gallery-open-pack-{PACK}")
    card.get_by_role("button", name="View details").click()

    expect(main.get_by_role("heading", name=pack.meta.title)).to_be_visible()
    expect(main.get_by_text("Why it matters")).to_be_visible()
    expect(main.get_by_text(pack.meta.alerts[PATTERN].split(":")[0])).to_be_visible()
    save_full_screenshot(page, "/tmp/e2e_gallery_detail.png")

    main.locator(f".st-key-gallery-open_in_test-{PACK}-{PATTERN}").get_by_role(
        "button", name="Open in Test"
    ).click()

    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()
    expect(page).to_have_url(f"{app_url}/test")
    expect(page.get_by_text(found)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("radio", name="Template pack sample")).to_be_checked()
    matches_metric = page.get_by_test_id("stMetric").filter(has_text="Matches")
    expect(matches_metric.get_by_test_id("stMetricValue")).to_have_text(str(len(expected)))
    events_metric = page.get_by_test_id("stMetric").filter(has_text="Events")
    expect(events_metric.get_by_test_id("stMetricValue")).to_have_text("200")
    for key in expected_keys:
        expect(page.get_by_test_id("stPlotlyChart")).to_contain_text(key)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_gallery_open_in_test.png")
