"""Small Streamlit helpers shared by the pages: the sidebar, error reporting, empty states."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from cep.errors import CepError, UnsupportedFeature
from ui.settings import Settings

logger = logging.getLogger(__name__)

PRODUCT_NAME = "LakeStream CEP Builder"

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_$~\[\]#<>|])")


def escape_markdown(text: str) -> str:
    r"""Escape the characters Streamlit's Markdown would turn into formatting, math or links.

    >>> escape_markdown("A B* C where price > $5")
    'A B\\* C where price \\> \\$5'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def message_markdown(title: str, message: str) -> str:
    """Return an error message as Markdown: a bold title, the first line as prose, and any
    further lines (a caret under a position, a list of problems) verbatim in a code block."""
    first, _, rest = message.strip().partition("\n")
    body = f"**{title}** — {escape_markdown(first)}"
    rest = rest.strip("\n")
    if rest:
        body += "\n\n```text\n" + rest.replace("```", "'''") + "\n```"
    return body


@contextmanager
def report_errors(title: str) -> Iterator[None]:
    """Show what goes wrong in the block instead of a traceback, and skip the rest of the block.

    `CepError` is the normal path (bad input): its message is shown with `st.error`, or with
    `st.warning` for a feature that is not implemented yet. Anything else is a bug: it is logged
    with its traceback and the user sees a short generic message.

    Args:
        title: what was being done, shown in bold before the message ("Could not read the pattern").
    """
    try:
        yield
    except UnsupportedFeature as e:
        st.warning(message_markdown(title, str(e)), icon=":material/construction:")
    except CepError as e:
        st.error(message_markdown(title, str(e)), icon=":material/error:")
    except Exception:
        logger.exception("Unexpected error: %s", title)
        st.error(
            f"**{title}** — an unexpected error happened. It has been logged for the "
            "developers; please try again, or try different input.",
            icon=":material/error:",
        )


def render_sidebar(settings: Settings) -> None:
    """Render the shared sidebar below the page menu: product, version and a short how-to."""
    with st.sidebar:
        st.markdown(f"**{PRODUCT_NAME}**")
        st.caption(f"Version {settings.version}")
        with st.expander("How to use", expanded=False, icon=":material/help:"):
            st.markdown(
                "1. Open **Test**.\n"
                "2. Load the sample pattern, upload a `.json` / `.yaml` / `.sql` pattern, "
                "or paste one.\n"
                "3. Use the sample ticks or upload events (CSV, JSON, NDJSON, Parquet).\n"
                "4. Press **Run** and read the matches, their timeline and the downloads.\n"
                "5. Every run is saved: open **History** to filter, re-run, compare or export "
                "runs. **Save as template** on the Test page keeps a pattern in the **Gallery**.\n"
                "6. Or start elsewhere: **Gallery** (industry packs, *Open in Test*) or "
                "**Generate** (describe the pattern in English).\n"
                "7. **Explain** says why each match happened and why near misses did not; "
                "**Code** turns the pattern into Spark code and deploys it (dry run first)."
            )


def empty_state(message: str) -> None:
    """Show what to do when there is nothing to show yet."""
    st.info(message, icon=":material/info:")
