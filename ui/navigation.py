"""The app's pages, kept as data, and the st.Page objects built from them."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

TEST_PAGE = "pages/test.py"
"""The Test page's script (other pages switch to it)."""


@dataclass(frozen=True)
class PageSpec:
    """One page of the app.

    Attributes:
        path: the page script, relative to `app.py`.
        title: the name in the navigation menu and the browser tab.
        icon: a Material icon (`:material/name:`) or an emoji.
        summary: one line for the home page and the menu tooltip.
        is_default: whether this page opens at the app's root URL.
    """

    path: str
    title: str
    icon: str
    summary: str
    is_default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        path="pages/home.py",
        title="Home",
        icon=":material/home:",
        summary="What LakeStream CEP Builder does and where to start.",
        is_default=True,
    ),
    PageSpec(
        path=TEST_PAGE,
        title="Test",
        icon=":material/play_circle:",
        summary="Run a pattern on sample or uploaded events and see every match.",
    ),
    PageSpec(
        path="pages/generate.py",
        title="Generate",
        icon=":material/auto_awesome:",
        summary="Describe a pattern in plain English and get a validated pattern to read back, "
        "test on sample events, refine, save as a template or open in Test.",
    ),
    PageSpec(
        path="pages/gallery.py",
        title="Gallery",
        icon=":material/grid_view:",
        summary="Start from an industry template pack: read its patterns, see its sample "
        "events, and open any pattern in Test.",
    ),
    PageSpec(
        path="pages/history.py",
        title="History",
        icon=":material/history:",
        summary="Every test run, saved: filter, open, re-run, compare, export or delete runs, "
        "and read the audit log.",
    ),
    PageSpec(
        path="pages/explain.py",
        title="Explain",
        icon=":material/lightbulb:",
        summary="Why each match of a run happened, step by step, and why near misses did not.",
    ),
    PageSpec(
        path="pages/code.py",
        title="Code",
        icon=":material/code:",
        summary="Turn a pattern into Spark code (Structured Streaming, Declarative Pipelines or "
        "Databricks SQL): read, download, compare targets, and deploy to Databricks.",
    ),
)


def build_pages() -> list[st.Page]:
    """Return the `st.Page` objects for `st.navigation`, in menu order."""
    return [
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.is_default)
        for spec in PAGES
    ]


def feature_pages() -> tuple[PageSpec, ...]:
    """Return the pages a user works in (every page but the default landing page)."""
    return tuple(spec for spec in PAGES if not spec.is_default)
