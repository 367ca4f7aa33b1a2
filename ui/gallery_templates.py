"""The Gallery's detail view of one user template: plain English, Open in Test, edit, delete."""

from __future__ import annotations

import json
from collections.abc import Sequence

import streamlit as st

from cep.explain import describe_pattern
from cep.history import UserTemplate
from cep.model import Pattern, dump_pattern, parse_pattern
from ui import state
from ui.confirm import confirm_delete, render_delete_button
from ui.formatting import format_time
from ui.gallery import SOURCE_USER
from ui.gallery_handoff import hand_off_pattern
from ui.gallery_view import KIND_COLOR, TAG_COLOR, badge, close_detail, english_markdown
from ui.history_store import current_owner, get_history_store
from ui.history_templates import (
    DESCRIPTION_HELP,
    MAX_NAME_CHARS,
    TAGS_HELP,
    build_draft,
    tags_text,
)
from ui.navigation import TEST_PAGE
from ui.widgets import escape_markdown, report_errors

PATTERN_HELP = (
    "The pattern as JSON or YAML (the model's form). It is checked before it is saved; an error "
    "says what is wrong and where."
)


def selected_template(templates: Sequence[UserTemplate], selected: object) -> UserTemplate | None:
    """Return the user template whose detail view is open, or None (none open, or deleted)."""
    if not isinstance(selected, tuple) or len(selected) != 2 or selected[0] != SOURCE_USER:
        return None
    return next((t for t in templates if t.id == selected[1]), None)


def template_source(template: UserTemplate) -> str:
    """Return the name the Test page shows for a template's pattern.

    >>> from datetime import UTC, datetime
    >>> now = datetime(2024, 1, 1, tzinfo=UTC)
    >>> template_source(UserTemplate(id="1", owner="a", name="my rule", description="", tags=(),
    ...     pattern={}, kind="trend", created_at=now, updated_at=now))
    'template: my rule.json'
    """
    return f"template: {template.name}.json"


def open_template_in_test(pattern: Pattern, template: UserTemplate) -> None:
    """Load the template's pattern into the Test page (the user picks the events) and go there."""
    hand_off_pattern(dump_pattern(pattern, "json"), template_source(template))
    st.switch_page(TEST_PAGE)


def start_edit(template: UserTemplate) -> None:
    """Open the edit form, filled in from the template."""
    st.session_state[state.GALLERY_TEMPLATE_EDIT] = template.id
    st.session_state[state.GALLERY_TEMPLATE_NAME] = template.name
    st.session_state[state.GALLERY_TEMPLATE_TAGS] = tags_text(template.tags)
    st.session_state[state.GALLERY_TEMPLATE_DESCRIPTION] = template.description
    st.session_state[state.GALLERY_TEMPLATE_PATTERN] = json.dumps(
        template.pattern, indent=2, ensure_ascii=False
    )


def render_template_detail(template: UserTemplate) -> None:
    """Render one user template: what it detects, its pattern, and its actions."""
    st.button(
        "All templates",
        key=state.GALLERY_BACK,
        on_click=close_detail,
        icon=":material/arrow_back:",
        help="Back to the cards, with the filters as you left them.",
    )
    st.header(template.name, anchor=False)
    st.markdown(
        " ".join(
            [badge(template.kind, KIND_COLOR), *(badge(f"#{t}", TAG_COLOR) for t in template.tags)]
        )
    )
    st.caption(
        f"Saved by {escape_markdown(template.owner)} · updated "
        f"{format_time(template.updated_at)} UTC"
    )
    if template.description:
        st.markdown(escape_markdown(template.description))
    pattern: Pattern | None = None
    with report_errors("The saved pattern is no longer valid"):
        pattern = template.parsed_pattern()
    if pattern is not None:
        with report_errors("Could not describe the pattern"):
            english = describe_pattern(pattern)
            _, _, body = english.partition("\n")
            st.markdown("**In plain English** — " + english_markdown(body or english))
        with st.expander("Pattern as YAML and JSON", icon=":material/code:"):
            yaml_tab, json_tab = st.tabs(["YAML", "JSON"])
            yaml_tab.code(dump_pattern(pattern, "yaml"), language="yaml")
            json_tab.code(dump_pattern(pattern, "json"), language="json")
    can_change = template.owner == current_owner()
    with st.container(horizontal=True):
        if st.button(
            "Open in Test",
            key=state.GALLERY_TEMPLATE_OPEN_IN_TEST,
            type="primary",
            icon=":material/play_circle:",
            disabled=pattern is None,
            help="Load this pattern into the Test page; pick the events there and press Run.",
        ):
            assert pattern is not None
            open_template_in_test(pattern, template)
        st.button(
            "Edit",
            key=state.GALLERY_TEMPLATE_EDIT + ".open",
            icon=":material/edit:",
            disabled=not can_change,
            on_click=start_edit,
            args=(template,),
            help="Change the name, tags, description or pattern."
            + ("" if can_change else " Only the user who saved it can."),
        )
        render_delete_button(
            state.GALLERY_TEMPLATE_DELETE,
            template.id,
            disabled=not can_change,
            help="Delete this template (asks for confirmation first)."
            + ("" if can_change else " Only the user who saved it can."),
        )
    if can_change:
        render_delete_confirmation(template)
        if st.session_state.get(state.GALLERY_TEMPLATE_EDIT) == template.id:
            render_edit_form(template)


def render_delete_confirmation(template: UserTemplate) -> None:
    """Ask before a template is deleted; delete it on "Yes"."""

    def delete() -> None:
        get_history_store().delete_template(template.id)
        close_detail()
        st.session_state[state.GALLERY_NOTICE] = f"Deleted the template {template.name!r}."

    confirm_delete(
        state.GALLERY_TEMPLATE_DELETE,
        template.id,
        question=f"Delete the template **{escape_markdown(template.name)}**?",
        what="template",
        on_confirm=delete,
    )


def render_edit_form(template: UserTemplate) -> None:
    """The edit form: name, tags, description and pattern text, checked before saving."""
    with st.form(state.GALLERY_TEMPLATE_EDIT_FORM):
        st.markdown("**Edit the template**")
        name = st.text_input(
            "Template name",
            key=state.GALLERY_TEMPLATE_NAME,
            help=f"Unique among your templates (at most {MAX_NAME_CHARS} characters).",
        )
        tags = st.text_input("Tags", key=state.GALLERY_TEMPLATE_TAGS, help=TAGS_HELP)
        description = st.text_area(
            "Description", key=state.GALLERY_TEMPLATE_DESCRIPTION, help=DESCRIPTION_HELP
        )
        text = st.text_area(
            "Pattern (JSON or YAML)", key=state.GALLERY_TEMPLATE_PATTERN, height=300,
            help=PATTERN_HELP,
        )  # fmt: skip
        with st.container(horizontal=True):
            saved = st.form_submit_button(
                "Save changes",
                key=state.GALLERY_TEMPLATE_SAVE,
                type="primary",
                icon=":material/save:",
                help="Check the pattern and save the template.",
            )
            cancelled = st.form_submit_button(
                "Cancel", key=state.GALLERY_TEMPLATE_SAVE + ".cancel", help="Discard the changes."
            )
    if cancelled:
        st.session_state.pop(state.GALLERY_TEMPLATE_EDIT, None)
        st.rerun()
    if not saved:
        return
    if not (name or "").strip():
        st.error("**Could not save the template** — give it a name.", icon=":material/error:")
        return
    with report_errors("Could not save the template"):
        pattern = parse_pattern(text or "", source=f"template {name.strip()!r}")
        updated = get_history_store().update_template(
            template.id, build_draft(name, tags or "", description or "", pattern)
        )
        st.session_state.pop(state.GALLERY_TEMPLATE_EDIT, None)
        st.session_state[state.GALLERY_NOTICE] = f"Saved the template {updated.name!r}."
        st.rerun()
