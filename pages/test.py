"""Test: run a pattern on sample or uploaded events and see every match."""

import hashlib
from typing import Any

import streamlit as st

from cep.events import load_events
from cep.matcher import find_matches
from cep.model import parse_pattern
from ui import state
from ui.charts import MAX_TIMELINE_KEYS, timeline_figure, timeline_keys
from ui.inputs import EVENT_EXTENSIONS, PATTERN_EXTENSIONS, decode_text, guess_pattern_format
from ui.settings import get_settings
from ui.tables import COLUMN_HELP, match_rows
from ui.widgets import empty_state, escape_markdown, report_errors

SAMPLE_PATTERN = "v_shape.json"
SAMPLE_EVENTS = "stocks.csv"
EVENTS_SAMPLE = "Sample stock ticks"
EVENTS_UPLOAD = "Upload a file"
PASTED = "pasted pattern"

settings = get_settings()


def _load_sample_pattern() -> None:
    st.session_state[state.TEST_PATTERN_TEXT] = (settings.samples_dir / SAMPLE_PATTERN).read_text(
        encoding="utf-8"
    )
    st.session_state[state.TEST_PATTERN_SOURCE] = SAMPLE_PATTERN
    st.session_state.pop(state.TEST_PATTERN_NOTICE, None)


def _load_pattern_file() -> None:
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


def _forget_pattern_source() -> None:
    st.session_state[state.TEST_PATTERN_SOURCE] = None


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _run(text: str, source: str | None, events_source: Any, events_label: str, key: str) -> None:
    """Parse, load, match; keep the outcome in session state. Errors are shown where they occur."""
    st.session_state.pop(state.TEST_OUTCOME, None)
    if not text.strip():
        st.warning(
            "Add a pattern first: press **Load sample**, upload a file, or paste one.",
            icon=":material/edit_note:",
        )
        return
    if events_source is None:
        st.warning(
            "Add events first: upload a file, or choose the sample ticks.",
            icon=":material/upload_file:",
        )
        return

    pattern = events = result = None
    with report_errors("Could not read the pattern"):
        pattern = parse_pattern(
            text, source=source or PASTED, fmt=guess_pattern_format(text, source)
        )
    if pattern is None:
        return
    limits = {"max_rows": settings.max_events} if settings.max_events else {}
    if hasattr(events_source, "seek"):
        events_source.seek(0)
    with report_errors("Could not load the events"):
        events = load_events(events_source, time_field=pattern.order_by, **limits)
    if events is None:
        return
    with report_errors("The pattern could not run"):
        result = find_matches(pattern, events)
    if result is None:
        return
    st.session_state[state.TEST_OUTCOME] = {
        "result": result.to_json_dict(),
        "json_text": result.to_json(indent=2),
        "csv_text": result.to_csv(),
        "pattern_name": pattern.name,
        "pattern_kind": pattern.kind,
        "events_label": events_label,
        "events_preview": events.head(100),
        "fingerprint": key,
    }


def _render_outcome(outcome: dict[str, Any], current_key: str) -> None:
    result = outcome["result"]
    matches = result.get("matches") or []
    stats = result.get("stats") or {}
    match_count = int(stats.get("matches", len(matches)))
    noun = "match" if match_count == 1 else "matches"

    st.subheader("Results", anchor=False)
    st.markdown(
        f"**{match_count:,} {noun}** for pattern **{escape_markdown(str(outcome['pattern_name']))}** "
        f"({outcome['pattern_kind']}) in **{escape_markdown(outcome['events_label'])}**"
    )
    if outcome["fingerprint"] != current_key:
        st.caption(":material/update: The pattern or the events changed since this run; press **Run** to update.")

    events_col, matches_col, elapsed_col = st.columns(3)
    events_col.metric(
        "Events", f"{int(stats.get('events', 0)):,}", help="Events loaded and searched.",
        border=True,
    )
    matches_col.metric("Matches", f"{match_count:,}", help="Matches found.", border=True)
    elapsed_col.metric(
        "Elapsed",
        f"{float(stats.get('elapsed_ms', 0.0)):,.1f} ms",
        help="Time spent matching (loading the events is not included).",
        border=True,
    )

    if not matches:
        empty_state(
            "No matches — no run of events satisfied the pattern. Check the DEFINE / where "
            "conditions and the partition and time columns against the events below, or try "
            "the sample pattern on the sample ticks."
        )
    else:
        rows = match_rows(matches)
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_config={
                name: st.column_config.Column(name, help=COLUMN_HELP[name]) for name in rows[0]
            },
        )
        figure = timeline_figure(matches)
        if figure is not None:
            st.markdown("**Timeline** — one bar per match, from its first to its last event.")
            st.plotly_chart(figure, width="stretch", config={"displaylogo": False})
            key_count = len(timeline_keys(matches))
            if key_count > MAX_TIMELINE_KEYS:
                st.caption(f"Showing the first {MAX_TIMELINE_KEYS} of {key_count:,} keys.")

    unmatched = result.get("unmatched_event_ids")
    if unmatched:
        st.caption(f"{len(unmatched):,} events were not part of any match (WITH UNMATCHED ROWS).")

    base_name = str(outcome["pattern_name"]) or "pattern"
    json_col, csv_col, _ = st.columns([1, 1, 4])
    json_col.download_button(
        "Download JSON",
        data=outcome["json_text"],
        file_name=f"{base_name}_matches.json",
        mime="application/json",
        key=state.TEST_DOWNLOAD_JSON,
        help="Matches and stats in the same JSON as `python -m cep match --format json`.",
        icon=":material/download:",
        on_click="ignore",
    )
    csv_col.download_button(
        "Download CSV",
        data=outcome["csv_text"],
        file_name=f"{base_name}_matches.csv",
        mime="text/csv",
        key=state.TEST_DOWNLOAD_CSV,
        help="One row per match: pattern, key, start, end, event ids, classifiers, measures, "
        "match number — as `python -m cep match --format csv`.",
        icon=":material/download:",
        on_click="ignore",
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
        on_change=_load_pattern_file,
        max_upload_size=settings.max_upload_mb,
        help="A pattern as JSON or YAML (the model's form), or a MATCH_RECOGNIZE query as .sql. "
        "Its text appears below, where you can edit it.",
    )
    notice = st.session_state.get(state.TEST_PATTERN_NOTICE)
    if notice:
        st.error(escape_markdown(notice), icon=":material/error:")
    st.button(
        "Load sample",
        key=state.TEST_LOAD_SAMPLE,
        on_click=_load_sample_pattern,
        icon=":material/lightbulb:",
        help="Fill in the V-shape sample: a price that falls for one or more ticks, then rises, "
        "per symbol, within 10 minutes.",
    )
    pattern_text = st.text_area(
        "Pattern text",
        key=state.TEST_PATTERN_TEXT,
        height=320,
        on_change=_forget_pattern_source,
        placeholder='{"kind": "match_recognize", "name": "v_shape", "pattern": "A B+ C+", ...}',
        help="Paste JSON, YAML or MATCH_RECOGNIZE SQL; the format is recognised automatically.",
    )
    source = st.session_state.get(state.TEST_PATTERN_SOURCE)
    if pattern_text.strip():
        st.caption(
            f"From **{escape_markdown(source)}**" if source else "Pasted or edited text",
        )

with events_col:
    st.subheader("2 · Events", anchor=False)
    events_choice = st.radio(
        "Events source",
        [EVENTS_SAMPLE, EVENTS_UPLOAD],
        key=state.TEST_EVENTS_CHOICE,
        horizontal=True,
        help="The sample ticks fit the sample pattern; upload your own to test on real data.",
    )
    events_source: Any = None
    events_label = ""
    events_key: tuple[object, ...] = (events_choice,)
    if events_choice == EVENTS_UPLOAD:
        uploaded_events = st.file_uploader(
            "Events file",
            type=list(EVENT_EXTENSIONS),
            key=state.TEST_EVENTS_FILE,
            max_upload_size=settings.max_upload_mb,
            help="CSV, JSON (an array or {\"events\": [...]}), NDJSON or Parquet, with the "
            "pattern's time column (order_by, usually ts). Times may be ISO-8601 or epoch "
            f"seconds/milliseconds. Up to {settings.max_upload_mb} MB.",
        )
        if uploaded_events is not None:
            events_source = uploaded_events
            events_label = uploaded_events.name
            events_key = (events_choice, uploaded_events.name, uploaded_events.size)
    else:
        events_source = settings.samples_dir / SAMPLE_EVENTS
        events_label = SAMPLE_EVENTS
        st.caption(
            "23 stock ticks for ACME and GLOBX (columns id, symbol, ts, price), "
            "30 seconds apart. The V-shape sample finds 4 matches in them."
        )

current_key = _fingerprint(pattern_text, source, events_key)
run_clicked = st.button(
    "Run",
    key=state.TEST_RUN,
    type="primary",
    icon=":material/play_arrow:",
    help="Match the pattern against the events.",
)
if run_clicked:
    with st.spinner("Matching…"):
        _run(pattern_text, source, events_source, events_label, current_key)

outcome = st.session_state.get(state.TEST_OUTCOME)
if outcome is not None:
    _render_outcome(outcome, current_key)
elif not run_clicked:
    empty_state(
        "No results yet. Press **Load sample** to fill in a pattern, keep the sample ticks, "
        "then press **Run**."
    )
