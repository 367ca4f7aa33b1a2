"""Rendering the Gallery: filters, the card grid, and the detail view of one template pack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from cep.explain import describe_pattern
from cep.model import Pattern, dump_pattern
from cep.packs import DEFAULT_SAMPLE_EVENTS, Pack, PlantedIncident
from ui import state
from ui.formatting import format_value
from ui.gallery import (
    SAMPLE_SEED,
    SOURCE_PACK,
    SOURCE_TITLES,
    CardFilter,
    PackCatalogue,
    TemplateCard,
    filter_options,
    pack_sample,
)
from ui.gallery_handoff import PackSample, hand_off
from ui.navigation import TEST_PAGE
from ui.widgets import escape_markdown, message_markdown, report_errors

CARD_WIDTH_PX = 300
MAX_CATEGORY_VALUES = 8
CHART_BINS = 24

DIFFICULTY_COLORS = {"beginner": "green", "intermediate": "orange", "advanced": "red"}
KIND_COLOR = "violet"
INDUSTRY_COLOR = "blue"
TAG_COLOR = "gray"

SCHEMA_HELP = {
    "field": "The event field (column) name.",
    "type": "Its type: string, int, float, bool or datetime.",
    "unit": "The unit of its values, where it has one.",
    "description": "What the field holds.",
    "examples": "Typical values.",
}
INCIDENT_HELP = {
    "incident": "The planted incident (or decoy) and its number.",
    "role": "incident: the pattern must find it; decoy: it looks alike, but must not match.",
    "pattern": "The pattern it is planted for.",
    "key": "The key its events are on.",
    "events": "Ids of its events.",
}


def badge(text: str, color: str) -> str:
    """Return Markdown for one inline badge.

    >>> badge("count_threshold", "violet")
    ':violet-badge[count\\\\_threshold]'
    """
    return f":{color}-badge[{escape_markdown(text)}]"


def english_markdown(text: str) -> str:
    """Return an English description (from ``describe_pattern``, without its first line) as
    Markdown: lines starting with ``- `` stay list items, other lines become paragraphs.

    >>> print(english_markdown("Per key:\\n- an event a (x > 1)\\n- then b\\nAll within 5m."))
    Per key:
    - an event a (x \\> 1)
    - then b
    <BLANKLINE>
    All within 5m.
    """
    lines = []
    for number, line in enumerate(filter(None, (raw.strip() for raw in text.splitlines()))):
        if line.startswith("- "):
            lines.append("- " + escape_markdown(line[2:]))
        else:
            lines.append(("\n" if number else "") + escape_markdown(line))
    return "\n".join(lines)


def card_badges(card: TemplateCard) -> str:
    """Return the card's difficulty and pattern-kind badges as one line of Markdown."""
    parts = []
    if card.difficulty:
        parts.append(badge(card.difficulty, DIFFICULTY_COLORS.get(card.difficulty, "gray")))
    parts.extend(badge(kind, KIND_COLOR) for kind in card.kinds)
    return " ".join(parts)


# ------------------------------------------------------------------------------------------
# Filters and the card grid


def reset_filters() -> None:
    """Clear every filter (the empty state's button)."""
    for key in (state.GALLERY_INDUSTRIES, state.GALLERY_USE_CASES, state.GALLERY_KINDS):
        st.session_state[key] = []
    st.session_state[state.GALLERY_SEARCH] = ""


def render_filters(cards: Sequence[TemplateCard]) -> CardFilter:
    """Render the search box and the three filters; return the filter they set."""
    options = filter_options(cards)
    text = st.text_input(
        "Search",
        key=state.GALLERY_SEARCH,
        placeholder="fraud, login, temperature, card_testing…",
        help="Words to look for in titles, descriptions, tags and pattern names; every word "
        "must appear (in any order). Case does not matter.",
        icon=":material/search:",
        persist_state="session",
    )
    industry_col, use_case_col, kind_col = st.columns(3)
    industries = industry_col.multiselect(
        "Industry",
        options["industries"],
        key=state.GALLERY_INDUSTRIES,
        placeholder="Any industry",
        help="Show templates for any of these industries (none chosen: all).",
        persist_state="session",
    )
    use_cases = use_case_col.multiselect(
        "Use case",
        options["use_cases"],
        key=state.GALLERY_USE_CASES,
        placeholder="Any use case",
        help="Show templates that cover any of these use cases (none chosen: all).",
        persist_state="session",
    )
    kinds = kind_col.multiselect(
        "Pattern kind",
        options["kinds"],
        key=state.GALLERY_KINDS,
        placeholder="Any kind",
        help="Show templates with at least one pattern of any of these kinds (sequence, "
        "match_recognize, absence, count_threshold, ...); none chosen: all.",
        persist_state="session",
    )
    return CardFilter(
        industries=frozenset(industries),
        use_cases=frozenset(use_cases),
        kinds=frozenset(kinds),
        text=text or "",
    )


def select_card(key: tuple[str, str]) -> None:
    """Open a card's detail view."""
    st.session_state[state.GALLERY_SELECTED] = key


def close_detail() -> None:
    """Go back from the detail view to the cards."""
    st.session_state.pop(state.GALLERY_SELECTED, None)


def card_button_key(card: TemplateCard) -> str:
    """Return the widget key of a card's "View details" button."""
    return state.GALLERY_OPEN.format(source=card.source, ident=card.ident)


def card_caption(card: TemplateCard) -> str:
    """Return the line under a card's title: the industry (or who saved it) and the patterns.

    >>> card = TemplateCard("user", "1", "Mine", "", (), ("trend",), (), None, "", ("t",), "",
    ...                     owner="ana@example.com")
    >>> card_caption(card)
    'saved by ana@example.com · 1 pattern'
    """
    where = escape_markdown(card.industry or (f"saved by {card.owner}" if card.owner else ""))
    count = len(card.pattern_names)
    return f"{where} · {count} pattern{'s' if count != 1 else ''}"


def render_card(card: TemplateCard) -> None:
    """Render one card: title, industry, badges, a summary, tags and its button."""
    with st.container(border=True, width=CARD_WIDTH_PX, height="stretch"):
        st.markdown(f"**{escape_markdown(card.title)}**")
        st.caption(card_caption(card))
        st.markdown(card_badges(card))
        if card.summary:
            st.markdown(escape_markdown(card.summary))
        if card.tags:
            st.markdown(" ".join(badge(f"#{tag}", TAG_COLOR) for tag in card.tags))
        st.button(
            "View details",
            key=card_button_key(card),
            on_click=select_card,
            args=(card.key,),
            icon=":material/open_in_full:",
            help="Why it matters, each pattern in plain English, the event schema and a "
            "generated sample; open any pattern in Test from there."
            if card.source == SOURCE_PACK
            else "The template in plain English and as YAML / JSON; open it in Test, edit it "
            "or delete it from there.",
        )


def render_card_grid(cards: Sequence[TemplateCard]) -> None:
    """Render the cards grouped by source, each group a grid that wraps to the page width."""
    by_source: dict[str, list[TemplateCard]] = {}
    for card in cards:
        by_source.setdefault(card.source, []).append(card)
    sources = [s for s in SOURCE_TITLES if s in by_source]
    sources += [s for s in by_source if s not in SOURCE_TITLES]
    for source in sources:
        if len(sources) > 1:
            st.subheader(SOURCE_TITLES.get(source, source), anchor=False)
        with st.container(horizontal=True, gap="medium"):
            for card in by_source[source]:
                render_card(card)


def render_no_match(total: int) -> None:
    """The empty state when the filters hide every card."""
    st.info(
        f"**No pack matches these filters.** None of the {total} templates passes all of "
        "them: remove a filter or a search word, or reset them all.",
        icon=":material/filter_alt_off:",
    )
    st.button(
        "Reset filters",
        key=state.GALLERY_RESET,
        on_click=reset_filters,
        icon=":material/restart_alt:",
        help="Clear the search and every filter, and show all templates again.",
    )


def render_problems(catalogue: PackCatalogue) -> None:
    """Show one error per pack folder that could not be loaded."""
    for name, problem in catalogue.problems.items():
        st.error(
            message_markdown(f"Could not load the pack {name!r}", problem),
            icon=":material/error:",
        )


# ------------------------------------------------------------------------------------------
# The detail view of one pack


def schema_rows(pack: Pack) -> list[dict[str, str]]:
    """Return the pack's event schema as table rows: field, type, unit, description, examples."""
    return [
        {
            "field": name,
            "type": info.type,
            "unit": info.unit or "",
            "description": info.description,
            "examples": ", ".join(format_value(v) for v in info.examples),
        }
        for name, info in pack.schema.fields.items()
    ]


def incident_rows(planted: Sequence[PlantedIncident]) -> list[dict[str, str]]:
    """Return the planted incidents and decoys as table rows."""
    return [
        {
            "incident": inc.id,
            "role": inc.role,
            "pattern": inc.pattern,
            "key": inc.key,
            "events": " ".join(str(i) for i in inc.event_ids),
        }
        for inc in planted
    ]


def category_field(pack: Pack) -> str | None:
    """Return the field to colour the sample chart by: the first generated field drawn from at
    most a few named choices (an event type, a status), or None when there is none."""
    for name, spec in pack.generator.fields.items():
        if spec.choices is not None and 2 <= len(spec.choices) <= MAX_CATEGORY_VALUES:
            return name
    return None


def sample_figure(frame: Any, time_field: str, category: str | None) -> go.Figure:
    """Return a stacked histogram of the sample's events over time, one colour per category."""
    figure = go.Figure()
    if category is None:
        figure.add_trace(
            go.Histogram(x=frame[time_field].to_list(), nbinsx=CHART_BINS, name="events")
        )
    else:
        for value in frame[category].unique(maintain_order=True).sort().to_list():
            times = frame.filter(frame[category] == value)[time_field].to_list()
            figure.add_trace(go.Histogram(x=times, nbinsx=CHART_BINS, name=format_value(value)))
    figure.update_layout(
        barmode="stack",
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"type": "date", "title": {"text": "event time (UTC)"}},
        yaxis={"title": {"text": "events"}},
        legend={"title": {"text": category or ""}, "orientation": "h", "y": 1.15},
        showlegend=category is not None,
    )
    return figure


def open_in_test(pack: Pack, name: str, pattern: Pattern, frame: Any) -> None:
    """Hand one pattern and the pack's sample to the Test page, and go there to run it."""
    sample = PackSample(
        pack=pack.name,
        title=pack.meta.title,
        events=DEFAULT_SAMPLE_EVENTS,
        seed=SAMPLE_SEED,
        frame=frame,
    )
    hand_off(dump_pattern(pattern, "json"), f"{pack.name}/{name}.json", sample)
    st.switch_page(TEST_PAGE)


def open_in_test_key(pack: Pack, name: str) -> str:
    """Return the widget key of a pattern's "Open in Test" button."""
    return state.GALLERY_OPEN_IN_TEST.format(pack=pack.name, pattern=name)


def render_pattern(
    pack: Pack, name: str, pattern: Pattern, expected: int | None, frame: Any
) -> None:
    """Render one pattern: kind, plain English, what its alert means, its text, Open in Test."""
    with st.container(border=True):
        st.markdown(f"**{escape_markdown(name)}** {badge(pattern.kind, KIND_COLOR)}")
        english: str | None = None
        with report_errors(f"Could not describe the pattern {name!r}"):
            english = describe_pattern(pattern)
        if english:
            _, _, body = english.partition("\n")
            if pattern.description:
                st.markdown(escape_markdown(pattern.description))
            if body.strip():
                st.markdown("**In plain English** — " + english_markdown(body))
        alert = pack.meta.alerts.get(name)
        if alert:
            st.markdown("**What the alert means** — " + escape_markdown(alert))
        if expected is not None:
            st.caption(
                f"Finds {expected} {'match' if expected == 1 else 'matches'} in the sample "
                f"({DEFAULT_SAMPLE_EVENTS} events, seed {SAMPLE_SEED}), as stored with the pack."
            )
        with st.expander("Pattern as YAML and JSON", icon=":material/code:"):
            yaml_tab, json_tab = st.tabs(["YAML", "JSON"])
            yaml_tab.code(dump_pattern(pattern, "yaml"), language="yaml")
            json_tab.code(dump_pattern(pattern, "json"), language="json")
        if st.button(
            "Open in Test",
            key=open_in_test_key(pack, name),
            type="primary",
            icon=":material/play_circle:",
            disabled=frame is None,
            help="Load this pattern and the pack's generated sample "
            f"({DEFAULT_SAMPLE_EVENTS} events, seed {SAMPLE_SEED}) into the Test page and run it "
            "there; edit either afterwards.",
        ):
            open_in_test(pack, name, pattern, frame)


def render_schema(pack: Pack) -> None:
    """Render the event schema as a table."""
    st.dataframe(
        schema_rows(pack),
        hide_index=True,
        width="stretch",
        column_config={
            name: st.column_config.Column(name, help=h) for name, h in SCHEMA_HELP.items()
        },
    )


def render_sample(pack: Pack, frame: Any, planted: Sequence[PlantedIncident]) -> None:
    """Render the generated sample: what it holds, a chart over time, the events, the incidents."""
    incidents = sum(inc.role == "incident" for inc in planted)
    key_field = pack.generator.keys.field
    decoys = len(planted) - incidents
    st.caption(
        f"{frame.height:,} events generated with seed {SAMPLE_SEED} over "
        f"{frame[key_field].n_unique():,} {escape_markdown(key_field)} keys: background traffic "
        f"with {incidents} planted {'incident' if incidents == 1 else 'incidents'} the patterns "
        f"must find and {decoys} {'decoy' if decoys == 1 else 'decoys'} they must not."
    )
    category = category_field(pack)
    st.markdown("**Events over time**" + (f" by {escape_markdown(category)}" if category else ""))
    st.plotly_chart(
        sample_figure(frame, pack.generator.time.field, category),
        width="stretch",
        config={"displaylogo": False},
    )
    st.dataframe(frame, hide_index=True, width="stretch", height=320)
    with st.expander("Planted incidents and decoys", icon=":material/flag:"):
        rows = incident_rows(planted)
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_config={n: st.column_config.Column(n, help=h) for n, h in INCIDENT_HELP.items()},
        )


def render_pack_detail(catalogue: PackCatalogue, pack: Pack) -> None:
    """Render the detail view of one pack."""
    st.button(
        "All templates",
        key=state.GALLERY_BACK,
        on_click=close_detail,
        icon=":material/arrow_back:",
        help="Back to the cards, with the filters as you left them.",
    )
    meta = pack.meta
    st.header(meta.title, anchor=False)
    kinds = dict.fromkeys(p.kind for p in pack.patterns.values())
    st.markdown(
        " ".join(
            [
                badge(meta.industry, INDUSTRY_COLOR),
                badge(meta.difficulty, DIFFICULTY_COLORS.get(meta.difficulty, "gray")),
                *(badge(kind, KIND_COLOR) for kind in kinds),
            ]
        )
    )
    st.caption(
        "Use cases: "
        + escape_markdown(", ".join(meta.use_cases))
        + (" · Tags: " + escape_markdown(", ".join(meta.tags)) if meta.tags else "")
    )
    st.subheader("Why it matters", anchor=False)
    st.markdown(escape_markdown(meta.why_it_matters))

    frame: Any = None
    planted: list[PlantedIncident] = []
    with report_errors(f"Could not generate the sample of the pack {pack.name!r}"):
        frame, planted = pack_sample(catalogue, pack.name)

    expected = catalogue.expected_counts.get(pack.name, {})
    patterns_tab, schema_tab, sample_tab = st.tabs(
        [f"Patterns ({len(pack.patterns)})", "Event schema", "Sample events"]
    )
    with patterns_tab:
        for name, pattern in pack.patterns.items():
            render_pattern(pack, name, pattern, expected.get(name), frame)
    with schema_tab:
        render_schema(pack)
    with sample_tab:
        if frame is not None:
            render_sample(pack, frame, planted)


def selected_pack(catalogue: PackCatalogue, selected: object) -> Pack | None:
    """Return the pack whose detail view is open, or None (none open, or its folder is gone)."""
    if not isinstance(selected, tuple) or len(selected) != 2:
        return None
    source, ident = selected
    return catalogue.packs.get(ident) if source == SOURCE_PACK else None
