"""Generate: describe a pattern in plain English, read it back, test it, refine it, keep it."""

import streamlit as st

from cep.nl import MAX_TEXT_CHARS, NlSettings
from ui import state
from ui.gallery import PackCatalogue, load_catalogue
from ui.generate_actions import render_actions
from ui.generate_flow import current, pending_question, run_generation, turns
from ui.generate_inputs import (
    TEXT_HELP,
    pack_vocabulary,
    read_nl_settings,
    render_examples,
    render_model_choice,
    render_pack_choice,
)
from ui.generate_sample import render_test_on_sample
from ui.generate_view import render_conversation, render_pattern, render_question
from ui.widgets import report_errors

st.title("Generate a pattern", anchor=False)
st.caption(
    "Describe what to detect in plain English. You get a validated pattern, read back in plain "
    "English with every assumption listed — or a question when the text is ambiguous. Test it "
    "on sample events, refine it in words, then accept it, save it as a template or open it in "
    "**Test**."
)

catalogue: PackCatalogue | None = None
nl_settings: NlSettings | None = None
with report_errors("Could not read the template packs"):
    catalogue = load_catalogue()
with report_errors("Could not read the model settings"):
    nl_settings = read_nl_settings()
if catalogue is None or nl_settings is None:
    st.stop()

render_examples(catalogue)
pack = render_pack_choice(catalogue)
option = render_model_choice(nl_settings)
text = st.text_area(
    "Describe the pattern",
    key=state.GENERATE_TEXT,
    max_chars=MAX_TEXT_CHARS,
    placeholder="e.g. flag a card with more than 5 transactions over $500 in 10 minutes",
    help=TEXT_HELP,
)
if st.button(
    "Generate",
    key=state.GENERATE_RUN,
    type="primary",
    icon=":material/auto_awesome:",
    disabled=not option.available,
    help="Turn the text into a pattern (a new conversation: the current pattern is replaced).",
):
    if not text.strip():
        st.warning("Describe the pattern first, or pick an example.", icon=":material/edit:")
    else:
        with report_errors("Could not generate the pattern"), st.spinner("Generating…"):
            run_generation(text, model=option.model, settings=nl_settings,
                           vocabulary=pack_vocabulary(catalogue, pack), pack=pack, refine=False)

notice = st.session_state.get(state.GENERATE_NOTICE)
if notice:
    st.warning(notice, icon=":material/cloud_off:")
now = current()
question = pending_question()
if question is not None and now is None:
    render_question(question, keeps_current=False)
if now is None:
    st.stop()

st.divider()
st.subheader(f"Pattern: {now.name}", anchor=False)
render_pattern(now.generation)

st.subheader("Refine", anchor=False)
refine_text = st.text_input(
    "Change the pattern",
    key=state.GENERATE_REFINE_TEXT,
    max_chars=MAX_TEXT_CHARS,
    placeholder="e.g. make it 10 minutes · only for amounts over 1000 · per device instead",
    help="Edits the current pattern (window, key, threshold, an extra condition, its name) "
    "instead of starting over.",
)
if st.button("Refine", key=state.GENERATE_REFINE, icon=":material/edit_note:",
             disabled=not option.available):
    if not refine_text.strip():
        st.warning("Say how to change the pattern first.", icon=":material/edit:")
    else:
        with report_errors("Could not refine the pattern"), st.spinner("Refining…"):
            run_generation(refine_text, model=option.model, settings=nl_settings,
                           vocabulary=pack_vocabulary(catalogue, now.pack), pack=now.pack,
                           refine=True)
        st.rerun()
if question is not None:
    render_question(question, keeps_current=True)
render_conversation(turns())

st.subheader("Test on sample", anchor=False)
render_test_on_sample(catalogue, now)

st.subheader("Keep it", anchor=False)
render_actions(catalogue, now)
