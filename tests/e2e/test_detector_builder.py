"""Browser scenarios for the detector form of the Test page."""

from __future__ import annotations

import re

import pytest
from e2e_helpers import save_full_screenshot, wait_for_rerun
from playwright.sync_api import Locator, Page, expect

from cep.matcher import implemented_kinds

SCREENSHOT = "/tmp/e2e_kind_form.png"
GRID_HEADER_PX = 37  # st.data_editor's header row, then rows of 35 px
GRID_ROW_PX = 35
GRID_ROW_MARKER_PX = 33  # the row-selection column on the left



def commit_text(page: Page, label: str, text: str) -> None:
    """Type into a text or number input and press Enter, which sends it to the app."""
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_for_rerun(page)


def open_detector_form(page: Page, app_url: str, kind: str) -> None:
    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name="Test a pattern")).to_be_visible()
    page.get_by_role("radio", name="Build a detector").click()
    expect(page.get_by_text("Valid count_threshold pattern")).to_be_visible()
    page.get_by_test_id("stSelectbox").filter(has_text="Detector kind").click()
    page.get_by_role("option", name=re.compile(f"^{kind} — ")).click()
    wait_for_rerun(page)
    expect(page.get_by_text(f"Valid {kind} pattern")).to_be_visible()


def grid_point(
    grid: Locator, row: int, column: int | None, columns: int = 1
) -> tuple[float, float]:
    """Where a cell of a `st.data_editor` grid is (it draws on a canvas: no DOM per cell);
    column None is the row's marker, which selects the row."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    width = (box["width"] - GRID_ROW_MARKER_PX) / columns
    x = box["x"] + (
        GRID_ROW_MARKER_PX / 2 if column is None else GRID_ROW_MARKER_PX + width * (column + 0.5)
    )
    y = box["y"] + GRID_HEADER_PX + GRID_ROW_PX * (row + 0.5)
    return x, y


def type_in_cell(page: Page, grid: Locator, row: int, column: int, columns: int, text: str) -> None:
    """Open a cell's editor (a click, or Enter on a selected cell), type, commit with Enter."""
    page.mouse.click(*grid_point(grid, row, column, columns))
    editor = page.locator("#portal input, #portal textarea").first
    if not editor.is_visible():
        page.keyboard.press("Enter")
    expect(editor).to_be_visible()
    editor.fill(text)
    page.keyboard.press("Enter")
    wait_for_rerun(page)


def delete_row(page: Page, grid: Locator, row: int) -> None:
    """Select a row by its marker and delete it."""
    page.mouse.click(*grid_point(grid, row, None))
    page.keyboard.press("Delete")
    wait_for_rerun(page)


@pytest.mark.e2e
def test_a_count_threshold_built_in_the_form_runs_on_the_sample(page: Page, app_url: str) -> None:
    open_detector_form(page, app_url, "count_threshold")
    commit_text(page, "Pattern name", "four_dips")
    commit_text(page, "Count events where", "price < 100")
    commit_text(page, "Threshold (events)", "4")
    commit_text(page, "Window", "3m")

    expect(page.get_by_text("Valid count_threshold pattern")).to_be_visible()
    json_view = page.get_by_test_id("stCode").filter(has_text='"kind": "count_threshold"')
    expect(json_view).to_contain_text('"threshold": 4')
    expect(json_view).to_contain_text('"window": "3m"')
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)

    page.get_by_role("button", name="Run", exact=True).click()

    if "count_threshold" not in implemented_kinds():
        expect(page.get_by_text("is not implemented yet")).to_be_visible(timeout=60_000)
        return
    # Ticks under 100 within (t - 3m, t], per symbol, four needed. ACME: 5, 7, 9 (09:31:00 to
    # 09:32:00) and 15 (09:33:30) are all in (09:30:30, 09:33:30]. GLOBX is under 100 every
    # 30 s from 09:30:15: four at 8 (09:31:45), and never fewer after: one episode.
    expect(page.get_by_text("2 matches for pattern")).to_be_visible(timeout=60_000)
    matches_metric = page.get_by_test_id("stMetric").filter(has_text="Matches")
    expect(matches_metric.get_by_test_id("stMetricValue")).to_have_text("2")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    page.mouse.move(page.viewport_size["width"] - 10, 10)  # no tooltip in the screenshot
    page.evaluate("document.activeElement && document.activeElement.blur()")
    expect(page.get_by_text("Match the pattern against the events.")).to_have_count(0)
    save_full_screenshot(page, SCREENSHOT)


@pytest.mark.e2e
def test_polygon_vertices_are_edited_in_a_table_and_validated(page: Page, app_url: str) -> None:
    open_detector_form(page, app_url, "geofence")
    page.get_by_text("polygon", exact=True).click()
    wait_for_rerun(page)
    vertices = page.get_by_test_id("stDataFrame").first
    expect(vertices).to_be_visible()
    expect(page.get_by_text("Valid geofence pattern")).to_be_visible()  # a square to start

    delete_row(page, vertices, 3)
    delete_row(page, vertices, 2)

    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("The detector is not valid yet")
    expect(error).to_contain_text("vertices: a polygon needs at least 3 vertices, got 2")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)

    # The edits outlive the table: show the circle, then the polygon again
    page.get_by_text("circle", exact=True).click()
    wait_for_rerun(page)
    expect(page.get_by_text("Valid geofence pattern")).to_be_visible()
    page.get_by_text("polygon", exact=True).click()
    wait_for_rerun(page)
    expect(error).to_contain_text("got 2")

    # A third corner, typed into the empty row at the bottom, makes a triangle
    type_in_cell(page, vertices, 2, 0, 2, "52.525")
    type_in_cell(page, vertices, 2, 1, 2, "13.405")
    expect(page.get_by_text("Valid geofence pattern")).to_be_visible()
    json_view = page.get_by_test_id("stCode").filter(has_text='"kind": "geofence"')
    expect(json_view).to_contain_text('"lat": 52.525')
    expect(json_view).to_contain_text('"lon": 13.405')
