"""Test: run a pattern on sample or uploaded events and see every match."""

import hashlib
from typing import Any

import streamlit as st

from cep.events import load_events
from cep.matcher import find_matches
from cep.model import parse_pattern
from ui import state
from ui.inputs import EVENT_EXTENSIONS, PATTERN_EXTENSIONS, decode_text, pattern_format
from ui.results_view import render_result
from ui.settings import get_settings
from ui.widgets import empty_state, escape_markdown, report_errors

SAMPLE_PATTERN = "v_shape.json"
SAMPLE_EVENTS = "stocks.csv"
EVENTS_SAMPLE = "Sample stock ticks"
EVENTS_UPLOAD = "Upload a file"
PASTED = "pasted pattern"

settings = get_settings()


def load_sample_pattern() -> None:
    sample = settings.samples_dir / SAMPLE_PATTERN
    st.session_state[state.TEST_PATTERN_TEXT] = sample.read_text(encoding="utf-8")
    st.session_state[state.TEST_PATTERN_SOURCE] = SAMPLE_PATTERN
    st.session_state.pop(state.TEST_PATTERN_NOTICE, None)


def load_pattern_file() -> None:
    uploaded = st.session_state.get(state.TEST_PATTERN_FILE)
    if uploaded is None:
        return
    try:
        text = decode_text(uploaded.getvalue(), uploaded.name)
    except ValueError as e:
        st.session_state[state.TEST_PATTERN_NOTICE] = str(e)
        return
    st.session_state[state.TEST_PATTERN_TEXT] = text
    st.session_state[state.TEST_PATTERN_SOURCE] = uploaded.name
    st.session_state.pop(state.TEST_PATTERN_NOTICE, None)


def forget_pattern_source() -> None:
    st.session_state[state.TEST_PATTERN_SOURCE] = None


def run_test(text: str, source: str | None, events: Any, events_label: str, inputs: str) -> None:
    """Parse, load, match, and keep the outcome; each step shows its own error and stops."""
    st.session_state.pop(state.TEST_OUTCOME, None)
    if not text.strip():
        st.warning("Add a pattern first: press **Load sample**, upload a file, or paste one.")
        return
    if events is None:
        st.warning("Add events first: upload a file, or choose the sample ticks.")
        return

    pattern = frame = result = None
    with report_errors("Could not read the pattern"):
        pattern = parse_pattern(text, source=source or PASTED, fmt=pattern_format(source))
    if pattern is None:
        return
    with report_errors("Could not load the events"):
        frame = load_events(
            events,
            time_field=pattern.order_by,
            max_bytes=settings.max_upload_mb * 1024 * 1024,
            source_name=events_label,
            **({"max_rows": settings.max_events} if settings.max_events else {}),
        )
    if frame is None:
        return
    with report_errors("The pattern could not run"):
        result = find_matches(pattern, frame)
    if result is None:
        return
    st.session_state[state.TEST_OUTCOME] = {
        "result": result.to_json_dict(),
        "json_text": result.to_json(indent=2),
        "csv_text": result.to_csv(),
        "pattern_name": pattern.name,
        "pattern_kind": pattern.kind,
        "events_label": events_label,
        "events_preview": frame.head(100),
        "inputs": inputs,
    }


def show_outcome(outcome: dict[str, Any], inputs: str) -> None:
    count = int(outcome["result"].get("stats", {}).get("matches", 0))
    st.subheader("Results", anchor=False)
    st.markdown(
        f"**{count:,} {'match' if count == 1 else 'matches'}** for pattern "
        f"**{escape_markdown(str(outcome['pattern_name']))}** ({outcome['pattern_kind']}) "
        f"in **{escape_markdown(outcome['events_label'])}**"
    )
    if outcome["inputs"] != inputs:
        st.caption(
            ":material/update: The pattern or the events changed since this run; "
            "press **Run** to update."
        )
    render_result(
        outcome["result"],
        json_text=outcome["json_text"],
        csv_text=outcome["csv_text"],
        file_stem=str(outcome["pattern_name"]) or "pattern",
        download_keys=(state.TEST_DOWNLOAD_JSON, state.TEST_DOWNLOAD_CSV),
    )
    with st.expander("Events used (first 100 rows)", icon=":material/table_rows:"):
        st.dataframe(outcome["events_preview"], hide_index=True, width="stretch")


st.title("Test a pattern", anchor=False)
st.caption("Pick a pattern and some events, press **Run**, and see every match.")

pattern_col, events_col = st.columns([3, 2], gap="large")
with pattern_col:
    st.subheader("1 · Pattern", anchor=False)
    st.file_uploader(
        "Pattern file",
        type=[ext.lstrip(".") for ext in PATTERN_EXTENSIONS],
        key=state.TEST_PATTERN_FILE,
        on_change=load_pattern_file,
        max_upload_size=settings.max_upload_mb,
        help="A pattern as JSON or YAML (the model's form), or a MATCH_RECOGNIZE query as .sql. "
        "Its text appears below, where you can edit it.",
    )
    if notice := st.session_state.get(state.TEST_PATTERN_NOTICE):
        st.error(escape_markdown(notice))
    st.button(
        "Load sample",
        key=state.TEST_LOAD_SAMPLE,
        on_click=load_sample_pattern,
        icon=":material/lightbulb:",
        help="Fill in the V-shape sample: a price that falls for one or more ticks, then rises, "
        "per symbol, within 10 minutes.",
    )
    pattern_text = st.text_area(
        "Pattern text",
        key=state.TEST_PATTERN_TEXT,
        height=320,
        on_change=forget_pattern_source,
        placeholder='{"kind": "match_recognize", "name": "v_shape", "pattern": "A B+ C+", ...}',
        help="Paste JSON, YAML or MATCH_RECOGNIZE SQL: text starting with { is read as JSON, "
        "text with MATCH_RECOGNIZE as SQL, anything else as YAML.",
    )
    source = st.session_state.get(state.TEST_PATTERN_SOURCE)
    if pattern_text.strip():
        st.caption(f"From **{escape_markdown(source)}**" if source else "Pasted or edited text")

with events_col:
    st.subheader("2 · Events", anchor=False)
    events_choice = st.radio(
        "Events source",
        [EVENTS_SAMPLE, EVENTS_UPLOAD],
        key=state.TEST_EVENTS_CHOICE,
        horizontal=True,
        help="The sample ticks fit the sample pattern; upload your own to test on real data.",
    )
    events: Any = None
    events_label = ""
    events_id: tuple[object, ...] = (events_choice,)
    if events_choice == EVENTS_UPLOAD:
        uploaded = st.file_uploader(
            "Events file",
            type=list(EVENT_EXTENSIONS),
            key=state.TEST_EVENTS_FILE,
            max_upload_size=settings.max_upload_mb,
            help='CSV, JSON (an array or {"events": [...]}), NDJSON or Parquet with the '
            "pattern's time column (order_by, usually ts): ISO-8601 times or epoch seconds / "
            f"milliseconds. Up to {settings.max_upload_mb} MB.",
        )
        if uploaded is not None:
            uploaded.seek(0)
            events, events_label = uploaded, uploaded.name
            events_id = (events_choice, uploaded.name, uploaded.size)
    else:
        events, events_label = settings.samples_dir / SAMPLE_EVENTS, SAMPLE_EVENTS
        st.caption(
            "23 stock ticks for ACME and GLOBX (columns id, symbol, ts, price), 30 seconds "
            "apart. The V-shape sample finds 4 matches in them."
        )

inputs = hashlib.sha256(repr((pattern_text, source, events_id)).encode()).hexdigest()
if st.button(
    "Run",
    key=state.TEST_RUN,
    type="primary",
    icon=":material/play_arrow:",
    help="Match the pattern against the events.",
):
    with st.spinner("Matching…"):
        run_test(pattern_text, source, events, events_label, inputs)
elif state.TEST_OUTCOME not in st.session_state:
    empty_state(
        "No results yet. Press **Load sample** to fill in a pattern, keep the sample ticks, "
        "then press **Run**."
    )

if outcome := st.session_state.get(state.TEST_OUTCOME):
    show_outcome(outcome, inputs)
