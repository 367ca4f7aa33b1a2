"""Browser scenario for the Code page: a Gallery pattern opened in Test, then its Spark code, the
other target and the diff, and a dry-run deployment listing its API calls."""

from __future__ import annotations

import pytest
from e2e_helpers import save_full_screenshot, wait_for_rerun
from playwright.sync_api import Page, expect

from cep.codegen import generate_code
from cep.explain import describe_pattern
from cep.packs import load_pack

PACK = "card_fraud"
PATTERN = "card_testing"
FOLDER = "/Users/ana@example.com/lakestream/card_testing"
RUN_TIMEOUT_MS = 60_000



def commit_text(page: Page, label: str, text: str) -> None:
    """Type into a text input and press Enter, which sends it to the app."""
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_for_rerun(page)


@pytest.mark.e2e
def test_gallery_pattern_becomes_code_switches_target_diffs_and_dry_runs(
    page: Page, app_url: str
) -> None:
    pattern = load_pack(PACK).patterns[PATTERN]
    header = describe_pattern(pattern).splitlines()[0]
    sdp = generate_code(pattern, "sdp", None, description=describe_pattern(pattern))

    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Gallery").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Template gallery")).to_be_visible()
    main.locator(f".st-key-gallery-open-pack-{PACK}").get_by_role(
        "button", name="View details"
    ).click()
    main.locator(f".st-key-gallery-open_in_test-{PACK}-{PATTERN}").get_by_role(
        "button", name="Open in Test"
    ).click()
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()
    expect(page.get_by_text(f"for pattern {PATTERN}")).to_be_visible(timeout=RUN_TIMEOUT_MS)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Code").click()
    expect(page).to_have_url(f"{app_url}/code")
    expect(main.get_by_role("heading", name="Code", exact=True)).to_be_visible()
    code_blocks = main.get_by_test_id("stCode")
    expect(code_blocks.first).to_contain_text(f"# | {header}")
    expect(code_blocks.first).to_contain_text("transformWithStateInPandas")
    expect(
        main.get_by_text("kind 'count_threshold' is not supported by the sql target")
    ).to_be_visible()
    expect(main.get_by_role("button", name=f"Download {PATTERN}_sss.py")).to_be_visible()
    # the diff is shown from the start, against the other target
    expect(code_blocks.nth(1)).to_contain_text(f"--- {PATTERN}_sss.py")
    expect(code_blocks.nth(1)).to_contain_text(f"+++ {PATTERN}_sdp.py")
    save_full_screenshot(page, "/tmp/e2e_code_sss.png")

    main.get_by_role("radio", name="Declarative Pipeline (sdp)").click()
    wait_for_rerun(page)
    expect(code_blocks.first).to_contain_text("from pyspark import pipelines as dp")
    expect(main.get_by_role("button", name=f"Download {sdp.file_name}")).to_be_visible()
    expect(code_blocks.nth(1)).to_contain_text(f"--- {PATTERN}_sdp.py")
    expect(code_blocks.nth(1)).to_contain_text(f"+++ {PATTERN}_sss.py")
    expect(code_blocks.nth(1)).to_contain_text("-from pyspark import pipelines as dp")

    main.get_by_test_id("stExpander").filter(has_text="Deploy to Databricks").locator(
        "summary"
    ).click()
    expect(main.get_by_text("A pipeline needs the Unity Catalog catalog")).to_be_visible()
    dry_run = main.get_by_role("button", name="Dry run", exact=True)
    expect(dry_run).to_be_disabled()
    commit_text(page, "Workspace folder", FOLDER)
    commit_text(page, "Catalog", "main")
    commit_text(page, "Schema", "fraud")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(dry_run).to_be_enabled()
    dry_run.click()

    expect(main.get_by_text("Dry run — nothing was sent")).to_be_visible()
    calls = main.get_by_test_id("stTable")
    expect(calls).to_contain_text("/api/2.0/workspace/mkdirs")
    expect(calls).to_contain_text("/api/2.0/workspace/import")
    expect(calls).to_contain_text(
        "/api/2.0/pipelines?filter=name+LIKE+%27lakestream-card_testing-sdp%27"
    )
    expect(calls).to_contain_text("if_missing")
    # a header row, then mkdirs, import, list, get each candidate, create, update
    expect(calls.get_by_role("row")).to_have_count(1 + 6)
    expect(main.get_by_text("Written to the audit log")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    save_full_screenshot(page, "/tmp/e2e_code_dry_run.png")
