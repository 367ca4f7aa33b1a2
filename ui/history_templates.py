"""User templates in the UI: building a valid draft from form fields, and the Test page's
"Save as template" form."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st
from pydantic import ValidationError

from cep.errors import PatternError
from cep.history import TemplateDraft, UserTemplate
from cep.model import Pattern
from ui import state
from ui.history_store import current_owner, get_history_store
from ui.widgets import escape_markdown, report_errors

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 5_000

NAME_HELP = (
    "The template's name in the Gallery, unique among your templates "
    f"(at most {MAX_NAME_CHARS} characters). Blank: the pattern's name."
)
TAGS_HELP = "Comma-separated labels the Gallery's search finds, e.g. fraud, payments."
DESCRIPTION_HELP = (
    "What the template detects and when to use it; the Gallery's card shows the first sentence "
    "and search looks in all of it."
)


def tags_from_text(text: str) -> tuple[str, ...]:
    """Return the tags of a comma-separated text, trimmed, without blanks or repeats.

    >>> tags_from_text(" fraud, cards ,, fraud")
    ('fraud', 'cards')
    """
    return tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def tags_text(tags: Sequence[str]) -> str:
    """Return tags as the comma-separated text the tag inputs take.

    >>> tags_text(("fraud", "cards"))
    'fraud, cards'
    """
    return ", ".join(tags)


def build_draft(name: str, tags: str, description: str, pattern: Pattern) -> TemplateDraft:
    """Return the template draft of form fields (a blank name takes the pattern's name).

    Raises:
        PatternError: a field is out of bounds; the message names the field and the bound.

    >>> from cep.model import parse_pattern
    >>> hb = parse_pattern({"kind": "heartbeat", "name": "hb", "interval": "1m"})
    >>> build_draft(" ", "ops, ops", "", hb).name, build_draft("x", "ops, ops", "", hb).tags
    ('hb', ('ops',))
    """
    name = name.strip() or pattern.name
    if len(name) > MAX_NAME_CHARS:
        raise PatternError(
            f"template name is {len(name)} characters long; use at most {MAX_NAME_CHARS}"
        )
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise PatternError(
            f"template description is {len(description):,} characters long; use at most "
            f"{MAX_DESCRIPTION_CHARS:,}"
        )
    try:
        return TemplateDraft(
            name=name, description=description.strip(), tags=tags_from_text(tags), pattern=pattern
        )
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "template"
        raise PatternError(f"template {where}: {first['msg']}") from None


def save_template(draft: TemplateDraft) -> UserTemplate:
    """Save a new template for the current user.

    Raises:
        StoreError: the name is taken, or the database cannot be written.
    """
    return get_history_store().save_template(current_owner(), draft)


def render_save_template(read_pattern: Callable[[], Pattern | None]) -> None:
    """The Test page's "Save as template" form: name, tags, description; saves the pattern
    ``read_pattern`` returns (it shows its own error and returns None when there is none)."""
    with st.expander("Save as template", icon=":material/bookmark_add:"):
        with st.form(state.TEST_TEMPLATE_FORM, border=False):
            name = st.text_input("Template name", key=state.TEST_TEMPLATE_NAME, help=NAME_HELP)
            tags = st.text_input("Tags", key=state.TEST_TEMPLATE_TAGS, help=TAGS_HELP)
            description = st.text_area(
                "Description", key=state.TEST_TEMPLATE_DESCRIPTION, help=DESCRIPTION_HELP
            )
            submitted = st.form_submit_button(
                "Save template",
                key=state.TEST_TEMPLATE_SAVE,
                icon=":material/save:",
                help="Save the current pattern (text or form) as one of your templates; it "
                "appears in the Gallery under Your templates.",
            )
        if not submitted:
            return
        pattern = read_pattern()
        if pattern is None:
            return
        with report_errors("Could not save the template"):
            saved = save_template(build_draft(name, tags, description, pattern))
            st.success(
                f"Saved the template **{escape_markdown(saved.name)}**: find it in the "
                "**Gallery** under *Your templates*.",
                icon=":material/bookmark_added:",
            )
