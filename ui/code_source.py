"""Where the Code page's pattern comes from: the Test page's current pattern, or pasted or uploaded
text, read into a validated pattern."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cep.model import Pattern, parse_pattern
from ui import kind_forms, sequence_form, state
from ui.inputs import PATTERN_EXTENSIONS, load_uploaded_pattern, pattern_format
from ui.settings import get_settings
from ui.widgets import empty_state, escape_markdown, report_errors

FROM_TEST = "Test page"
"""Pattern source: what the Test page holds now (its text, or its form)."""
FROM_PASTE = "Paste or upload"
"""Pattern source: JSON, YAML or MATCH_RECOGNIZE SQL given on this page."""
PASTED = "pasted pattern"


@dataclass(frozen=True)
class PatternInput:
    """A pattern as given, before validation.

    Attributes:
        value: the pattern text (JSON, YAML or SQL), or a form's JSON value.
        source: the file name the text came from, or the form's name (``None``: pasted text).
        origin: where it comes from, for people ("the Test page's sequence form").
    """

    value: str | dict[str, Any]
    source: str | None
    origin: str


def _kind_form_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The detector form's values with edits still pending in its tables applied (the Test page
    applies them only when it draws the tables again)."""
    out = dict(values)
    kind = kind_forms.selected_kind(values)
    for field in kind_forms.table_fields(kind):
        pending = values.get(kind_forms.edits_key(kind, field))
        if pending:
            rows = list(values.get(kind_forms.kind_key(kind, field)) or [])
            out[kind_forms.kind_key(kind, field)] = kind_forms.apply_table_edits(
                field, rows, pending
            )
    return out


def pattern_on_test_page(values: Mapping[str, Any]) -> PatternInput | None:
    """Return the Test page's current pattern (as its mode shows it), or None when it has none.

    Args:
        values: session state (or any mapping of the Test page's keys).

    >>> pattern_on_test_page({}) is None
    True
    >>> pattern_on_test_page({"test.pattern_text": '{"kind": "dedup"}'}).origin
    "the Test page's pattern text"
    """
    mode = values.get(state.TEST_PATTERN_MODE) or sequence_form.MODE_TEXT
    if mode == sequence_form.MODE_FORM and state.TEST_SEQ_STEP_IDS in values:
        return PatternInput(
            sequence_form.pattern_from_form(values),
            sequence_form.FORM_SOURCE,
            "the Test page's sequence form",
        )
    if mode == kind_forms.MODE_KIND and state.TEST_KIND in values:
        return PatternInput(
            kind_forms.pattern_from_form(_kind_form_values(values)),
            kind_forms.KIND_FORM_SOURCE,
            "the Test page's detector form",
        )
    text = str(values.get(state.TEST_PATTERN_TEXT) or "")
    if not text.strip():
        return None
    source = values.get(state.TEST_PATTERN_SOURCE)
    origin = f"the Test page ({source})" if source else "the Test page's pattern text"
    return PatternInput(text, str(source) if source else None, origin)


def _forget_source() -> None:
    st.session_state[state.CODE_PATTERN_SOURCE] = None


def render_pasted_input() -> PatternInput | None:
    """Draw the uploader and the text area; return their pattern, or None when empty."""
    settings = get_settings()
    st.file_uploader(
        "Pattern file",
        type=[ext.lstrip(".") for ext in PATTERN_EXTENSIONS],
        key=state.CODE_PATTERN_FILE,
        on_change=load_uploaded_pattern,
        kwargs={"file_key": state.CODE_PATTERN_FILE, "text_key": state.CODE_PATTERN_TEXT,
                "source_key": state.CODE_PATTERN_SOURCE, "notice_key": state.CODE_PATTERN_NOTICE},
        max_upload_size=settings.max_upload_mb,
        help="A pattern as JSON or YAML (the model's form), or a MATCH_RECOGNIZE query as .sql. "
        "Its text appears below, where you can edit it.",
    )
    if notice := st.session_state.get(state.CODE_PATTERN_NOTICE):
        st.error(escape_markdown(str(notice)))
    text = st.text_area(
        "Pattern text",
        key=state.CODE_PATTERN_TEXT,
        height=220,
        on_change=_forget_source,
        placeholder='{"kind": "match_recognize", "name": "v_shape", "pattern": "A B+ C+", ...}',
        help="Paste JSON, YAML or MATCH_RECOGNIZE SQL: text starting with { is read as JSON, "
        "text with MATCH_RECOGNIZE as SQL, anything else as YAML.",
        persist_state="session",
    )
    if not text.strip():
        return None
    source = st.session_state.get(state.CODE_PATTERN_SOURCE)
    return PatternInput(text, source, str(source) if source else "pasted text")


def render_pattern_input() -> Pattern | None:
    """Draw the pattern source picker; return the validated pattern, or None after showing an
    empty state or the validation error."""
    held = pattern_on_test_page(st.session_state.to_dict())
    choice = st.segmented_control(
        "Pattern from",
        (FROM_TEST, FROM_PASTE),
        default=FROM_TEST if held is not None else FROM_PASTE,
        required=True,
        key=state.CODE_PATTERN_FROM,
        help="Test page: the pattern the Test page holds now — its text, or the sequence or "
        "detector it builds. Paste or upload: JSON, YAML or MATCH_RECOGNIZE SQL given here.",
    )
    given = held if choice == FROM_TEST else render_pasted_input()
    if given is None:
        empty_state(
            "No pattern yet. Open **Test** and load, paste or build a pattern (or open one from "
            "the **Gallery**), then come back; or choose **Paste or upload** and give one here."
            if choice == FROM_TEST
            else "No pattern yet. Upload a .json, .yaml or .sql file or paste a pattern above; "
            "or open **Test** (or the **Gallery**) and load, paste or build one there."
        )
        return None
    pattern: Pattern | None = None
    with report_errors("Could not read the pattern"):
        pattern = parse_pattern(
            given.value, source=given.source or PASTED, fmt=pattern_format(given.source)
        )
    if pattern is not None:
        st.caption(
            f"**{escape_markdown(pattern.name)}** ({pattern.kind}), from "
            f"{escape_markdown(given.origin)}."
        )
    return pattern
