"""Unit tests of the pure helpers behind the pages (formatting, table rows, the timeline)."""

from __future__ import annotations

import doctest

import pytest

import ui.formatting
import ui.inputs
import ui.tables
import ui.widgets
from ui.charts import timeline_figure, timeline_keys
from ui.inputs import decode_text
from ui.tables import match_rows
from ui.widgets import escape_markdown, message_markdown

V_MATCHES = [
    {"pattern": "v_shape", "key": {"symbol": "ACME"}, "start": "2024-01-02T09:30:30",
     "end": "2024-01-02T09:32:30", "event_ids": [3, 5, 7, 9, 11],
     "classifiers": ["A", "B", "B", "C", "C"], "measures": {"bottom": 97.0}, "match_number": 1},
    {"pattern": "v_shape", "key": {"symbol": "GLOBX"}, "start": "2024-01-02T09:30:15",
     "end": "2024-01-02T09:33:45", "event_ids": [2, 4, 6, 8, 10, 12, 14, 16],
     "classifiers": list("ABBBBCCC"), "measures": {"bottom": 46.0}, "match_number": 1},
]  # fmt: skip


@pytest.mark.parametrize(
    "module", [ui.formatting, ui.inputs, ui.tables, ui.widgets], ids=lambda m: m.__name__
)
def test_doctests_pass(module) -> None:
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0


def test_match_rows_have_the_table_columns_in_order() -> None:
    rows = match_rows(V_MATCHES)
    assert list(rows[0]) == [
        "match_number", "key", "start", "end", "events", "classifiers", "measures"
    ]  # fmt: skip
    assert rows[1] == {
        "match_number": 1, "key": "GLOBX", "start": "2024-01-02 09:30:15",
        "end": "2024-01-02 09:33:45", "events": "2 4 6 8 10 12 14 16",
        "classifiers": "A B B B B C C C", "measures": "bottom=46",
    }  # fmt: skip


def test_match_rows_show_empty_matches_and_omit_match_number_when_absent() -> None:
    empty = {"key": {}, "start": "2024-01-02T09:30:00", "end": None, "event_ids": [],
             "classifiers": [], "measures": {}, "empty_at": 4}  # fmt: skip
    (row,) = match_rows([empty])
    assert "match_number" not in row
    assert row["key"] == "(all events)"
    assert row["events"] == "(empty match at 4)"
    assert row["end"] == ""


def test_timeline_has_one_bar_per_match_on_its_key() -> None:
    figure = timeline_figure(V_MATCHES)
    assert figure is not None
    bars = figure.data[0]
    assert list(bars.y) == ["ACME", "GLOBX"]
    assert list(bars.x) == [120_000.0, 210_000.0]  # 2 min and 3.5 min, in ms
    assert bars.base[0].startswith("2024-01-02T09:30:30")
    assert "classifiers: A B B C C" in bars.hovertext[0]
    assert figure.layout.xaxis.type == "date"


def test_timeline_keeps_zero_length_matches_visible_and_limits_keys() -> None:
    single = [{"key": {"k": i}, "start": "2024-01-01T00:00:00", "end": "2024-01-01T00:00:00",
               "event_ids": [i], "classifiers": ["A"], "measures": {}} for i in range(5)]  # fmt: skip
    figure = timeline_figure(single, max_keys=3)
    assert figure is not None
    assert list(figure.data[0].x) == [0.0, 0.0, 0.0]
    assert list(figure.data[1].y) == ["0", "1", "2"]  # end markers show what bars cannot
    assert len(timeline_keys(single)) == 5


def test_timeline_is_none_without_times() -> None:
    assert timeline_figure([]) is None
    assert timeline_figure([{"key": {}, "start": None, "end": None}]) is None


def test_decode_text_names_the_file_when_not_utf8() -> None:
    assert decode_text("\ufeffkind: x".encode(), "p.yaml") == "kind: x"
    with pytest.raises(ValueError, match=r"p\.json is not UTF-8 text"):
        decode_text(b"\xff\xfe\x00", "p.json")


def test_error_markdown_escapes_formatting_and_keeps_detail_lines_verbatim() -> None:
    text = message_markdown(
        "Could not read the pattern", "PATTERN (A B* C): unexpected ')' at 10\n  A B* C)\n       ^"
    )
    assert text.startswith("**Could not read the pattern** — PATTERN (A B\\* C)")
    assert text.endswith("```text\n  A B* C)\n       ^\n```")
    assert escape_markdown(":red[x] $y$") == ":red\\[x\\] \\$y\\$"


def _upload_script(data: bytes) -> None:
    import io

    import streamlit as st

    from ui.inputs import load_uploaded_pattern

    upload = io.BytesIO(data)
    upload.name = "p.yaml"  # type: ignore[attr-defined]
    st.session_state["file"] = upload
    st.session_state["notice"] = "an earlier notice"
    load_uploaded_pattern("file", "text", "source", "notice")


def test_an_uploaded_pattern_fills_the_text_and_names_its_source() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_upload_script, args=(b"kind: heartbeat\n",)).run()
    assert at.session_state["text"] == "kind: heartbeat\n"
    assert at.session_state["source"] == "p.yaml"
    assert "notice" not in at.session_state


def test_an_upload_that_is_not_utf8_leaves_a_notice_and_no_text() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_upload_script, args=(b"\xff\xfe\x00bad",)).run()
    assert "text" not in at.session_state
    assert at.session_state["notice"].startswith("p.yaml is not UTF-8 text")
