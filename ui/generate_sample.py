"""The Generate page's "Test on sample": run the generated pattern on its template pack's sample
or on uploaded events, and show the matches as the Test page does."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cep.events import load_events
from cep.matcher import find_matches
from cep.packs import DEFAULT_SAMPLE_EVENTS
from ui import state
from ui.gallery import SAMPLE_SEED, PackCatalogue, pack_sample
from ui.gallery_handoff import PackSample
from ui.generate_flow import Current
from ui.inputs import EVENT_EXTENSIONS
from ui.results_view import render_matches, render_metrics
from ui.settings import get_settings
from ui.widgets import escape_markdown, report_errors

EVENTS_PACK = "Template pack sample"
EVENTS_UPLOAD = "Upload a file"


def sample_of(catalogue: PackCatalogue, pack: str) -> PackSample:
    """The pack's default sample (200 events, seed 0), as the Gallery hands it to the Test page.

    Raises:
        CepError: the pack cannot generate its sample.
    """
    frame, _ = pack_sample(catalogue, pack)
    return PackSample(
        pack=pack,
        title=catalogue.packs[pack].meta.title,
        events=DEFAULT_SAMPLE_EVENTS,
        seed=SAMPLE_SEED,
        frame=frame,
    )


def _run(now: Current, events: Any, label: str) -> None:
    pattern = now.generation.pattern
    assert pattern is not None
    st.session_state.pop(state.GENERATE_TEST_OUTCOME, None)
    settings = get_settings()
    limits: dict[str, Any] = {"max_bytes": settings.max_upload_mb * 1024 * 1024}
    if settings.max_events:
        limits["max_rows"] = settings.max_events
    frame = None
    with report_errors("Could not load the events"):
        frame = load_events(events, time_field=pattern.order_by, source_name=label, **limits)
    if frame is None:
        return
    with report_errors("The pattern could not run"):
        result = find_matches(pattern, frame)
        st.session_state[state.GENERATE_TEST_OUTCOME] = {
            "result": result.to_json_dict(),
            "label": label,
            "pattern_sha256": now.generation.pattern_sha256,
        }


def render_test_on_sample(catalogue: PackCatalogue, now: Current) -> None:
    """Events choice, the "Test on sample" button, and the last run's matches."""
    choices = ([EVENTS_PACK] if now.pack in catalogue.packs else []) + [EVENTS_UPLOAD]
    if st.session_state.get(state.GENERATE_EVENTS_CHOICE) not in choices:
        st.session_state[state.GENERATE_EVENTS_CHOICE] = choices[0]
    choice = st.radio(
        "Events",
        choices,
        key=state.GENERATE_EVENTS_CHOICE,
        horizontal=True,
        captions=[
            f"{DEFAULT_SAMPLE_EVENTS} generated events of {now.pack}, seed {SAMPLE_SEED}"
            if c == EVENTS_PACK else "CSV, JSON, NDJSON or Parquet with the pattern's fields"
            for c in choices
        ],
        help="The template pack's generated sample holds planted incidents for its patterns; "
        "upload your own events to test on real data.",
    )
    upload = None
    if choice == EVENTS_UPLOAD:
        upload = st.file_uploader(
            "Events file",
            type=list(EVENT_EXTENSIONS),
            key=state.GENERATE_EVENTS_FILE,
            help=f"At most {get_settings().max_upload_mb} MB; the time column is the pattern's "
            "order_by field.",
        )
    if st.button("Test on sample", key=state.GENERATE_TEST, icon=":material/play_arrow:",
                 help="Run the generated pattern on the chosen events and show its matches."):
        if choice == EVENTS_PACK and now.pack is not None:
            sample = None
            with report_errors("Could not generate the sample"):
                sample = sample_of(catalogue, now.pack)
            if sample is not None:
                _run(now, sample.frame, sample.label)
        elif upload is None:
            st.warning("Upload an events file first.", icon=":material/upload_file:")
        else:
            _run(now, upload, upload.name)
    render_outcome(now)


def render_outcome(now: Current) -> None:
    """The last test run's match count, metrics and match table."""
    outcome = st.session_state.get(state.GENERATE_TEST_OUTCOME)
    if not outcome:
        return
    result = outcome["result"]
    stats = result.get("stats") or {}
    count = int(stats.get("matches", len(result.get("matches") or [])))
    name = now.generation.pattern.name if now.generation.pattern is not None else ""
    st.markdown(
        f"**{count:,} {'match' if count == 1 else 'matches'}** for pattern "
        f"**{escape_markdown(name)}** in **{escape_markdown(outcome['label'])}**"
    )
    if outcome.get("pattern_sha256") != now.generation.pattern_sha256:
        st.caption(":material/update: The pattern changed since this run; press **Test on "
                   "sample** to update.")
    render_metrics(stats, count)
    render_matches(list(result.get("matches") or []))
