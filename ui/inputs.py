"""Reading what the user gave a page: pattern files, their format, and the uploader callback."""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal

import streamlit as st

PatternFormat = Literal["json", "yaml", "sql"]

PATTERN_EXTENSIONS: dict[str, PatternFormat] = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".sql": "sql",
}
EVENT_EXTENSIONS = ("csv", "json", "jsonl", "ndjson", "parquet")


def pattern_format(source: str | None) -> PatternFormat | None:
    """Return the pattern format a file name implies, or None to let `parse_pattern` decide
    from the text (pasted or edited text has no file name).

    >>> pattern_format("v_shape.SQL"), pattern_format("p.yml"), pattern_format(None)
    ('sql', 'yaml', None)
    >>> pattern_format("notes.txt") is None
    True
    """
    if not source:
        return None
    return PATTERN_EXTENSIONS.get(PurePath(source).suffix.lower())


def decode_text(data: bytes, name: str) -> str:
    """Decode an uploaded text file as UTF-8 (a BOM is dropped).

    Raises:
        ValueError: the file is not UTF-8 text; the message names the file.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{name} is not UTF-8 text (byte {e.start} cannot be decoded). "
            "Save the pattern as UTF-8 JSON, YAML or SQL and upload it again."
        ) from e


def load_uploaded_pattern(file_key: str, text_key: str, source_key: str, notice_key: str) -> None:
    """``on_change`` of a pattern uploader: put the file's text in the text area's state key and
    its name in ``source_key``, or a notice in ``notice_key`` when it is not UTF-8 text."""
    uploaded = st.session_state.get(file_key)
    if uploaded is None:
        return
    try:
        text = decode_text(uploaded.getvalue(), uploaded.name)
    except ValueError as e:
        st.session_state[notice_key] = str(e)
        return
    st.session_state[text_key] = text
    st.session_state[source_key] = uploaded.name
    st.session_state.pop(notice_key, None)
