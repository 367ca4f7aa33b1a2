"""Test: run a pattern on sample or uploaded events and see every match."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from cep.errors import CepError
from cep.events import load_events
from cep.matcher import find_matches
from cep.model import Pattern, dump_pattern, parse_pattern
from ui import state
from ui.gallery_handoff import EVENTS_PACK_SAMPLE, handed_sample, take_autorun
from ui.history_store import record_test_run, render_record_report
from ui.history_templates import render_save_template
from ui.inputs import (
    EVENT_EXTENSIONS,
    PATTERN_EXTENSIONS,
    load_uploaded_pattern,
    pattern_format,
)
from ui.kind_forms import (
    KIND_FORM_SOURCE,
    MODE_KIND,
    check_kind_pattern,
    order_by_of,
    render_kind_check,
    render_kind_form,
)
from ui.replay import (
    DEFAULT_BATCH_SIZE,
    compare_with_batch,
    effective_batch_size,
    key_order,
    lateness,
    render_replay,
    render_replay_summary,
    replay_available,
    replay_result,
)
from ui.results_view import render_result
from ui.sequence_form import (
    FORM_SOURCE,
    MODE_FORM,
    MODE_TEXT,
    MODES,
    check_form_pattern,
    render_pattern_check,
    render_sequence_form,
)
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


def forget_pattern_source() -> None:
    st.session_state[state.TEST_PATTERN_SOURCE] = None


@st.cache_data(show_spinner=False, max_entries=8)
def event_fields(
    events_id: tuple[object, ...], _events: Any, label: str, order_by: str
) -> tuple[list[str], str | None]:
    """The events' fields (for the sequence form's pickers), or why they cannot be read."""
    problem = ""
    for time_field in dict.fromkeys([order_by or "ts", "ts"]):
        try:
            frame = load_events(
                _events,
                time_field=time_field,
                max_bytes=settings.max_upload_mb * 1024 * 1024,
                source_name=label,
                **({"max_rows": settings.max_events} if settings.max_events else {}),
            )
        except CepError as e:
            problem = str(e)
            continue
        return list(frame.columns), None
    return [], f"The events' fields are not listed: {problem}"


def run_replay(pattern: Pattern, frame: Any, batch_size: int, lateness_s: float) -> dict[str, Any]:
    """Feed the events to the incremental matcher in batches, live; return the outcome parts."""
    from cep.matcher import create_matcher  # imported late: it may not exist yet (replay_available)

    matcher = create_matcher(pattern, allowed_lateness=lateness(lateness_s))
    size = effective_batch_size(frame.height, batch_size)
    log = render_replay(matcher, frame, size)
    late_events = int(matcher.late_events.height)
    result = replay_result(
        log,
        keys=key_order(frame, pattern.partition_by),
        events=frame.height,
        batch_size=size,
        timed_out=matcher.timed_out,
        late_events=late_events,
    )
    difference = note = None
    try:
        difference = compare_with_batch(log.matches, find_matches(pattern, frame).matches)
    except CepError as e:
        note = str(e)
    return {
        "result": result,
        "replay": {
            "batch_size": size,
            "requested_batch_size": batch_size,
            "lateness_s": lateness_s,
            "batches": [report.to_row() for report in log.reports],
            "late_events": late_events,
            "timed_out": len(matcher.timed_out),
            "difference": difference,
            "comparison_note": note,
        },
    }


def run_test(
    pattern_input: str | Mapping[str, Any],
    source: str | None,
    events: Any,
    events_label: str,
    inputs: str,
    replay: tuple[int, float] | None = None,
    *,
    event_source: str = "",
    run_settings: Mapping[str, Any] | None = None,
) -> None:
    """Parse, load, match (or replay), record the run in the history, and keep the outcome;
    each step shows its own error.

    Args:
        pattern_input: the pattern text, or the JSON value of a form (sequence or detector).
        source: the file the text came from (None: pasted), or the form.
        events: the events source for `load_events`.
        events_label: the events' name in messages.
        inputs: a digest of everything the run depends on, to say when it is out of date.
        replay: ``(batch size, allowed lateness in seconds)`` to replay the events as a stream.
        event_source: where the events came from, as the history records it.
        run_settings: facts of the run the history keeps (where the pattern came from, ...).
    """
    st.session_state.pop(state.TEST_OUTCOME, None)
    if isinstance(pattern_input, str) and not pattern_input.strip():
        st.warning("Add a pattern first: press **Load sample**, upload a file, or paste one.")
        return
    if events is None:
        st.warning("Add events first: upload a file, or choose the sample ticks.")
        return

    pattern = frame = result = None
    with report_errors("Could not read the pattern"):
        pattern = parse_pattern(pattern_input, source=source or PASTED, fmt=pattern_format(source))
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
    replayed: dict[str, Any] | None = None
    if replay is not None:
        with report_errors("The stream replay failed"):
            replayed = run_replay(pattern, frame, *replay)
        if replayed is None:
            return
        result = replayed["result"]
    else:
        with report_errors("The pattern could not run"):
            result = find_matches(pattern, frame)
    if result is None:
        return
    settings_of_run = {**(run_settings or {}), "time_field": pattern.order_by}
    if replayed:
        settings_of_run["replay"] = {
            k: replayed["replay"][k] for k in ("batch_size", "lateness_s", "late_events")
        }
    report = record_test_run(
        pattern, result, frame, event_source=event_source or events_label,
        run_settings=settings_of_run,
    )  # fmt: skip
    st.session_state[state.TEST_OUTCOME] = {
        "history": report.to_dict(),
        "replay": replayed["replay"] if replayed else None,
        "result": result.to_json_dict(),
        "json_text": result.to_json(indent=2),
        "csv_text": result.to_csv(),
        "pattern_name": pattern.name,
        "pattern_kind": pattern.kind,
        "events_label": events_label,
        "events_preview": frame.head(100),
        "inputs": inputs,
        # The Explain page explains this run even when History could not store it.
        "pattern": json.loads(dump_pattern(pattern)),
        "events": frame,
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
    render_record_report(outcome.get("history"))
    render_result(
        outcome["result"],
        json_text=outcome["json_text"],
        csv_text=outcome["csv_text"],
        file_stem=str(outcome["pattern_name"]) or "pattern",
        download_keys=(state.TEST_DOWNLOAD_JSON, state.TEST_DOWNLOAD_CSV),
    )
    if outcome.get("replay"):
        render_replay_summary(outcome["replay"])
    with st.expander("Events used (first 100 rows)", icon=":material/table_rows:"):
        st.dataframe(outcome["events_preview"], hide_index=True, width="stretch")


st.title("Test a pattern", anchor=False)
st.caption("Pick a pattern and some events, press **Run**, and see every match.")

pattern_col, events_col = st.columns([3, 2], gap="large")
with events_col:
    st.subheader("2 · Events", anchor=False)
    pack_sample = handed_sample()
    events_choice = st.radio(
        "Events source",
        [EVENTS_SAMPLE, EVENTS_UPLOAD, *([EVENTS_PACK_SAMPLE] if pack_sample else [])],
        key=state.TEST_EVENTS_CHOICE,
        horizontal=True,
        help="The sample ticks fit the sample pattern; upload your own to test on real data. "
        "After **Open in Test** in the Gallery, the template pack's generated sample is a "
        "third choice.",
    )
    events: Any = None
    events_label = event_source = ""
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
            event_source = f"file: {uploaded.name}"
            events_id = (events_choice, uploaded.name, uploaded.size)
    elif events_choice == EVENTS_PACK_SAMPLE and pack_sample is not None:
        events, events_label = pack_sample.frame, pack_sample.label
        event_source = f"pack sample: {pack_sample.label}"
        events_id = (events_choice, *pack_sample.ident)
        st.caption(
            f"{pack_sample.events:,} events generated by the **{escape_markdown(pack_sample.title)}"
            f"** template pack (seed {pack_sample.seed}), with columns "
            f"{escape_markdown(', '.join(pack_sample.frame.columns))}."
        )
    else:
        events, events_label = settings.samples_dir / SAMPLE_EVENTS, SAMPLE_EVENTS
        event_source = f"sample: {SAMPLE_EVENTS}"
        st.caption(
            "23 stock ticks for ACME and GLOBX (columns id, symbol, ts, price), 30 seconds "
            "apart. The V-shape sample finds 4 matches in them."
        )

with pattern_col:
    st.subheader("1 · Pattern", anchor=False)
    mode = st.segmented_control(
        "Pattern from",
        (*MODES, MODE_KIND),
        default=MODE_TEXT,
        required=True,
        key=state.TEST_PATTERN_MODE,
        help="Text or file: paste a pattern, upload one, or load the sample. Build a sequence: "
        "fill in a form, step by step, for a pattern of kind sequence (Flink CEP semantics). "
        "Build a detector: pick one of the 11 detector kinds (absence, count threshold, "
        "velocity, trend, outlier, session, dedup, geofence, temporal correlation, heartbeat, "
        "state machine) and fill in its settings.",
        persist_state="session",
    )
    form_data: dict[str, Any] | None = None
    pattern_text, source = "", None
    if mode in (MODE_FORM, MODE_KIND):
        columns: list[str] = []
        columns_note: str | None = "Choose or upload events to pick fields from a list."
        if events is not None:
            order_by = (
                str(st.session_state.get(state.TEST_SEQ_ORDER_BY) or "ts")
                if mode == MODE_FORM
                else order_by_of(st.session_state)
            )
            data = events.getvalue() if hasattr(events, "getvalue") else events
            columns, columns_note = event_fields(events_id, data, events_label, order_by)
        if mode == MODE_FORM:
            form_data = render_sequence_form(columns, columns_note)
        else:
            form_data = render_kind_form(columns, columns_note)
    else:
        st.file_uploader(
            "Pattern file",
            type=[ext.lstrip(".") for ext in PATTERN_EXTENSIONS],
            key=state.TEST_PATTERN_FILE,
            on_change=load_uploaded_pattern,
            kwargs={"file_key": state.TEST_PATTERN_FILE, "text_key": state.TEST_PATTERN_TEXT,
                    "source_key": state.TEST_PATTERN_SOURCE,
                    "notice_key": state.TEST_PATTERN_NOTICE},
            max_upload_size=settings.max_upload_mb,
            help="A pattern as JSON or YAML (the model's form), or a MATCH_RECOGNIZE query as "
            ".sql. Its text appears below, where you can edit it.",
        )
        if notice := st.session_state.get(state.TEST_PATTERN_NOTICE):
            st.error(escape_markdown(notice))
        st.button(
            "Load sample",
            key=state.TEST_LOAD_SAMPLE,
            on_click=load_sample_pattern,
            icon=":material/lightbulb:",
            help="Fill in the V-shape sample: a price that falls for one or more ticks, then "
            "rises, per symbol, within 10 minutes.",
        )
        pattern_text = st.text_area(
            "Pattern text",
            key=state.TEST_PATTERN_TEXT,
            height=320,
            on_change=forget_pattern_source,
            placeholder='{"kind": "match_recognize", "name": "v_shape", "pattern": "A B+ C+", ...}',
            help="Paste JSON, YAML or MATCH_RECOGNIZE SQL: text starting with { is read as "
            "JSON, text with MATCH_RECOGNIZE as SQL, anything else as YAML.",
            persist_state="session",  # kept while the form is shown; the form can load it
        )
        source = st.session_state.get(state.TEST_PATTERN_SOURCE)
        if pattern_text.strip():
            st.caption(f"From **{escape_markdown(source)}**" if source else "Pasted or edited text")

if form_data is not None:
    with events_col:
        st.subheader("Pattern check", anchor=False)
        if mode == MODE_FORM:
            render_pattern_check(*check_form_pattern(form_data))
        else:
            render_kind_check(*check_kind_pattern(form_data))

with st.container(horizontal=True, vertical_alignment="bottom", gap="medium"):
    run_clicked = st.button(
        "Run",
        key=state.TEST_RUN,
        type="primary",
        icon=":material/play_arrow:",
        help="Match the pattern against the events.",
    )
    replay_on = st.toggle(
        "Replay as a stream",
        key=state.TEST_REPLAY,
        help="Feed the events to the incremental (streaming) matcher in batches of N rows, in "
        "file order, and watch matches appear as they are emitted. The result must equal the "
        "one-shot batch run; the page says so, or shows the difference.",
        persist_state="session",
    )
    batch_size = lateness_s = None
    if replay_on:
        batch_size = st.number_input(
            "Batch size (events)",
            min_value=1,
            max_value=1_000_000,
            value=DEFAULT_BATCH_SIZE,
            step=1,
            key=state.TEST_REPLAY_BATCH_SIZE,
            help="Rows per micro-batch, taken in file order. Any size must give the same "
            "matches; small batches exercise the incremental matcher hardest.",
            width=180,
            persist_state="session",
        )
        lateness_s = st.number_input(
            "Allowed lateness (s)",
            min_value=0.0,
            max_value=90 * 86_400.0,
            value=0.0,
            step=1.0,
            key=state.TEST_REPLAY_LATENESS_S,
            help="How far behind the latest event time seen an event may arrive and still be "
            "matched (the watermark is the latest time minus this). Later events are counted "
            "as late, not matched. 0 suits events sorted by time.",
            width=180,
            persist_state="session",
        )

if mode in (MODE_FORM, MODE_KIND):
    pattern_input: str | dict[str, Any] = form_data or {}
    pattern_source: str | None = FORM_SOURCE if mode == MODE_FORM else KIND_FORM_SOURCE
    pattern_key: object = json.dumps(form_data, sort_keys=True)
else:
    pattern_input, pattern_source, pattern_key = pattern_text, source, (pattern_text, source)
replay = (int(batch_size or 1), float(lateness_s or 0.0)) if replay_on else None
inputs = hashlib.sha256(repr((mode, pattern_key, events_id, replay)).encode()).hexdigest()
autorun = take_autorun()  # the Gallery's "Open in Test" runs the pattern once, on arrival
run_facts = {
    "pattern_from": {MODE_FORM: "sequence builder", MODE_KIND: "detector builder"}.get(
        str(mode), "text"
    ),
    "pattern_source": pattern_source or PASTED,
}


def read_current_pattern() -> Pattern | None:
    """The pattern of the text or the form, or None after showing why there is none."""
    if isinstance(pattern_input, str) and not pattern_input.strip():
        st.error("Add a pattern first: press **Load sample**, upload a file, or paste one.")
        return None
    parsed: Pattern | None = None
    with report_errors("Could not read the pattern"):
        parsed = parse_pattern(
            pattern_input, source=pattern_source or PASTED, fmt=pattern_format(pattern_source)
        )
    return parsed


render_save_template(read_current_pattern)
if replay_on and not replay_available():
    st.info(
        "Stream replay is not available yet: the incremental matcher "
        "(`cep.matcher.create_matcher`) has not landed. Turn the toggle off to run in batch.",
        icon=":material/construction:",
    )
elif run_clicked or autorun:
    if replay is not None:
        run_test(
            pattern_input, pattern_source, events, events_label, inputs, replay,
            event_source=event_source, run_settings=run_facts,
        )  # fmt: skip
    else:
        with st.spinner("Matching…"):
            run_test(
                pattern_input, pattern_source, events, events_label, inputs,
                event_source=event_source, run_settings=run_facts,
            )  # fmt: skip
elif state.TEST_OUTCOME not in st.session_state:
    empty_state(
        {
            MODE_FORM: "No results yet. Build a sequence (or press **Load example**), keep the "
            "sample ticks, then press **Run**.",
            MODE_KIND: "No results yet. Pick a detector kind and fill in its settings (each "
            "starts from an example for the sample ticks), then press **Run**.",
        }.get(
            mode,
            "No results yet. Press **Load sample** to fill in a pattern, keep the sample ticks, "
            "then press **Run**.",
        )
    )

if outcome := st.session_state.get(state.TEST_OUTCOME):
    show_outcome(outcome, inputs)
