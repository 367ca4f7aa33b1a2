"""What the user does with a generated pattern: accept it, save it as a template, or open it in
the Test page with its pack's sample — each recorded as an ``nl.accept`` audit entry."""

from __future__ import annotations

import streamlit as st

from cep.model import dump_pattern
from ui import state
from ui.gallery import PackCatalogue
from ui.gallery_handoff import hand_off
from ui.generate_flow import Current, accept_current, current
from ui.generate_sample import sample_of
from ui.history_templates import DESCRIPTION_HELP, NAME_HELP, TAGS_HELP, build_draft, save_template
from ui.navigation import TEST_PAGE
from ui.widgets import escape_markdown, report_errors

ACCEPTED_VIA = {
    "accept": "accepted",
    "template": "saved as a template",
    "open_in_test": "opened in Test",
}


def _open_in_test(catalogue: PackCatalogue, now: Current) -> None:
    pattern = now.generation.pattern
    if pattern is None or now.pack is None:
        return
    sample = None
    with report_errors("Could not generate the sample"):
        sample = sample_of(catalogue, now.pack)
    if sample is None:
        return
    accept_current("open_in_test")
    hand_off(dump_pattern(pattern, "json"), f"generated/{pattern.name}.json", sample)
    st.switch_page(TEST_PAGE)


def render_save_template(now: Current) -> None:
    """The "Save as template" form: name, tags, description (blank: the pattern's own)."""
    pattern = now.generation.pattern
    if pattern is None:
        return
    with st.expander("Save as template", icon=":material/bookmark_add:"):
        with st.form(state.GENERATE_TEMPLATE_FORM, border=False):
            name = st.text_input("Template name", key=state.GENERATE_TEMPLATE_NAME,
                                 placeholder=pattern.name, help=NAME_HELP)
            tags = st.text_input("Tags", key=state.GENERATE_TEMPLATE_TAGS, help=TAGS_HELP)
            description = st.text_area("Description", key=state.GENERATE_TEMPLATE_DESCRIPTION,
                                       placeholder=pattern.description, help=DESCRIPTION_HELP)
            submitted = st.form_submit_button(
                "Save template",
                key=state.GENERATE_TEMPLATE_SAVE,
                icon=":material/save:",
                help="Save the generated pattern as one of your templates; it appears in the "
                "Gallery under Your templates.",
            )
        if not submitted:
            return
        with report_errors("Could not save the template"):
            draft = build_draft(name, tags, description.strip() or pattern.description, pattern)
            saved = save_template(draft)
            accept_current("template")
            st.success(
                f"Saved the template **{escape_markdown(saved.name)}**: find it in the "
                "**Gallery** under *Your templates*.",
                icon=":material/bookmark_added:",
            )


def render_actions(catalogue: PackCatalogue, now: Current) -> None:
    """Accept, Open in Test (with the pack's sample) and Save as template."""
    accept_col, open_col, _ = st.columns([1, 1, 3])
    if accept_col.button("Accept", key=state.GENERATE_ACCEPT, icon=":material/check:",
                         type="primary",
                         help="Record that this pattern says what you meant (audit log)."):
        now = accept_current("accept") or now
    has_sample = now.pack in catalogue.packs
    if open_col.button(
        "Open in Test",
        key=state.GENERATE_OPEN_IN_TEST,
        icon=":material/open_in_new:",
        disabled=not has_sample,
        help="Open the pattern on the Test page with its template pack's sample, and run it."
        if has_sample else "Choose an event schema (a template pack) before generating: its "
        "sample goes to the Test page with the pattern.",
    ):
        _open_in_test(catalogue, now)
    render_save_template(now)
    accepted = current()
    if accepted is not None and accepted.accepted_via is not None:
        st.success(f"Pattern **{escape_markdown(accepted.name)}** "
                   f"{ACCEPTED_VIA[accepted.accepted_via]}.", icon=":material/task_alt:")
