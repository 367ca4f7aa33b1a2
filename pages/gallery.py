"""Gallery: browse the template packs and your saved templates, read one in detail, and open its
patterns in Test."""

import streamlit as st

from cep.history import UserTemplate
from ui import state
from ui.gallery import (
    PackCatalogue,
    count_text,
    filter_cards,
    load_catalogue,
    load_user_templates,
    template_card,
)
from ui.gallery_templates import render_template_detail, selected_template
from ui.gallery_view import (
    render_card_grid,
    render_filters,
    render_no_match,
    render_pack_detail,
    render_problems,
    selected_pack,
)
from ui.widgets import empty_state, escape_markdown, report_errors

st.title("Template gallery", anchor=False)
st.caption(
    "Start from an industry scenario: every pack's patterns are proven on its own generated "
    "sample events. Open a pack to read its patterns in plain English, then **Open in Test**. "
    "Patterns you save from the Test page appear under **Your templates**."
)

catalogue: PackCatalogue | None = None
with report_errors("Could not read the template packs"):
    catalogue = load_catalogue()
if catalogue is None:
    st.stop()
templates: list[UserTemplate] = []
with report_errors("Could not read your saved templates"):
    templates = load_user_templates()
if notice := st.session_state.pop(state.GALLERY_NOTICE, None):
    st.success(notice, icon=":material/check_circle:")

render_problems(catalogue)
cards = catalogue.cards() + [template_card(t) for t in templates]
selected = st.session_state.get(state.GALLERY_SELECTED)
pack = selected_pack(catalogue, selected)
template = selected_template(templates, selected)
if pack is not None:
    render_pack_detail(catalogue, pack)
elif template is not None:
    render_template_detail(template)
elif not cards:
    empty_state(
        f"No template packs in **{escape_markdown(str(catalogue.root))}**. Each pack is a folder "
        "with a pack.yaml (see packs/README.md); set LAKESTREAM_PACKS_DIR to use another folder."
    )
else:
    card_filter = render_filters(cards)
    shown = filter_cards(cards, card_filter)
    st.markdown(f"**{count_text(shown, cards)}**")
    if shown:
        render_card_grid(shown)
    else:
        render_no_match(len(cards))
