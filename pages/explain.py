"""Explain: why each match of a run happened, and why near misses did not."""

import streamlit as st

from cep.explain import describe_pattern
from cep.history import HistoryStore
from ui import state
from ui.explain_cards import render_match_card
from ui.explain_data import available_explanations, context_events, explanations
from ui.explain_near import render_near_misses
from ui.explain_source import (
    ExplainSubject,
    current_subject,
    outcome_ident,
    recent_runs,
    stored_subject,
)
from ui.gallery_view import english_markdown
from ui.history_store import get_history_store
from ui.widgets import empty_state, escape_markdown, report_errors

SOURCE_CURRENT = "The Test page's last run"
SOURCE_HISTORY = "A run from History"
PAGE_SIZE = 10  # match cards added per "Show more"


def choose_history() -> None:
    st.session_state[state.EXPLAIN_RUN_ID] = st.session_state.get(state.EXPLAIN_RUN)
    st.session_state[state.EXPLAIN_RUN_APPLIED] = st.session_state[state.EXPLAIN_RUN_ID]


def choose_source() -> None:
    if st.session_state.get(state.EXPLAIN_SOURCE) == SOURCE_CURRENT:
        st.session_state.pop(state.EXPLAIN_RUN_ID, None)
        st.session_state.pop(state.EXPLAIN_RUN_APPLIED, None)


def show_more(ident: str, shown: int) -> None:
    st.session_state[state.EXPLAIN_SHOWN] = (ident, shown + PAGE_SIZE)


st.title("Explain matches", anchor=False)
st.caption(
    "Why each match happened — the events it bound, what every condition saw, the engine's state "
    "when it completed — and why near misses did not complete."
)

store: HistoryStore | None = None
with report_errors("Could not open the history database"):
    store = get_history_store()

outcome = st.session_state.get(state.TEST_OUTCOME)
outcome_mark = outcome_ident(outcome) if outcome else None
if outcome_mark and outcome_mark != st.session_state.get(state.EXPLAIN_OUTCOME_SEEN):
    # a new run on the Test page: explain it
    st.session_state[state.EXPLAIN_SOURCE] = SOURCE_CURRENT
    st.session_state[state.EXPLAIN_OUTCOME_SEEN] = outcome_mark
requested = st.session_state.get(state.EXPLAIN_RUN_ID)
if requested and requested != st.session_state.get(state.EXPLAIN_RUN_APPLIED):
    # "Open explanation" on the History page: show that run
    st.session_state[state.EXPLAIN_SOURCE] = SOURCE_HISTORY
    st.session_state[state.EXPLAIN_RUN] = requested
    st.session_state[state.EXPLAIN_RUN_APPLIED] = requested
st.session_state.setdefault(
    state.EXPLAIN_SOURCE, SOURCE_HISTORY if requested or not outcome else SOURCE_CURRENT
)
source = st.radio(
    "Run to explain",
    [SOURCE_CURRENT, SOURCE_HISTORY],
    key=state.EXPLAIN_SOURCE,
    on_change=choose_source,
    horizontal=True,
    help="The run you just made on the Test page (in this browser session), or any run saved "
    "in History. **Open explanation** on the History page picks a stored run here.",
    persist_state="session",
)

subject: ExplainSubject | None = None
if source == SOURCE_CURRENT:
    if not outcome:
        empty_state(
            "No test run yet in this session. Run a pattern on the **Test** page, then come back "
            "here; or choose **A run from History**."
        )
        st.page_link("pages/test.py", label="Go to the Test page", icon=":material/play_circle:")
    else:
        with report_errors("Could not open the Test page's last run"):
            subject = current_subject(outcome, store)
elif store is not None:
    runs: dict[str, str] | None = None
    with report_errors("Could not list the stored runs"):
        runs = recent_runs(store, requested)
    if runs is not None and not runs:
        empty_state("No runs in History yet — run a test on the **Test** page; every run is saved.")
        st.page_link("pages/test.py", label="Go to the Test page", icon=":material/play_circle:")
    elif runs:
        if st.session_state.get(state.EXPLAIN_RUN) not in runs:
            st.session_state.pop(state.EXPLAIN_RUN, None)
            if requested in runs:  # the picker was not shown for a while: keep the last choice
                st.session_state[state.EXPLAIN_RUN] = requested
        run_id = st.selectbox(
            "Stored run",
            list(runs),
            format_func=runs.__getitem__,
            key=state.EXPLAIN_RUN,
            on_change=choose_history,
            help=f"The newest {len(runs):,} runs saved in History (time UTC · pattern · matches "
            "· events). Filter older runs on the History page and press **Open explanation**.",
        )
        if run_id is not None:
            with report_errors("Could not open the stored run"):
                subject = stored_subject(store, str(run_id))

if subject is not None:
    st.subheader(subject.title, anchor=False)
    st.caption(
        f"{subject.pattern.kind} · {subject.event_count:,} events · {subject.match_count:,} "
        f"{'match' if subject.match_count == 1 else 'matches'}"
        + (f" · run {subject.run_id}" if subject.run_id else "")
    )
    with (
        st.expander("The pattern in plain English", icon=":material/translate:"),
        report_errors("Could not describe the pattern"),
    ):
        english = describe_pattern(subject.pattern)
        _, _, body = english.partition("\n")
        st.markdown(english_markdown(body or english))
    for note in subject.notes:
        st.info(escape_markdown(note), icon=":material/info:")

    matches_tab, near_tab = st.tabs(["Matches", "Near misses"])
    with matches_tab:
        total = available_explanations(subject)
        remembered = st.session_state.get(state.EXPLAIN_SHOWN)
        shown = remembered[1] if remembered and remembered[0] == subject.ident else PAGE_SIZE
        shown = min(shown, total)
        if not subject.matches:
            empty_state(
                "This run found no matches. The **Near misses** tab shows what almost matched."
            )
        elif total == 0:
            empty_state(
                "No explanations to show: the events of this run are not at hand and none were "
                "stored with it."
            )
        else:
            explained = None
            with report_errors("Could not explain the matches"):
                explained = explanations(subject, shown)
                contexts = context_events(subject, explained)
            if explained is not None:
                st.caption(f"Showing {len(explained):,} of {total:,} explained matches.")
                for number, (explanation, context) in enumerate(
                    zip(explained, contexts, strict=True), start=1
                ):
                    render_match_card(
                        number, explanation, context, state.EXPLAIN_CARD_CHART.format(n=number)
                    )
                if shown < total:
                    st.button(
                        f"Show {min(PAGE_SIZE, total - shown):,} more",
                        key=state.EXPLAIN_SHOW_MORE,
                        icon=":material/expand_more:",
                        on_click=show_more,
                        args=(subject.ident, shown),
                        help=f"{total - shown:,} more matches can be explained.",
                    )
    with near_tab:
        render_near_misses(subject)
