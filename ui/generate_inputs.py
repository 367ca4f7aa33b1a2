"""The Generate page's inputs: example prompts by industry, the event schema and the model choice."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cep.nl import MAX_TEXT_CHARS, NlSettings, list_example_prompts, load_eval_set
from cep.nl import pack_vocabulary as _pack_vocabulary
from ui import state
from ui.gallery import PackCatalogue

OFFLINE = "offline"
"""The embedded rule-based generator (no network)."""
MODELS = (OFFLINE, "sonnet", "opus")
"""The generator choices, in display order."""
MODEL_TITLES = {OFFLINE: "Offline", "sonnet": "Sonnet", "opus": "Opus"}
NO_WORKSPACE = (
    "no Databricks workspace is configured (set DATABRICKS_HOST with its authentication or "
    "DATABRICKS_CONFIG_PROFILE, or run as a Databricks App)"
)
TEXT_HELP = (
    "Say what to detect, on which key, and in what time: counts ('5 or more ... within 10 "
    "minutes'), orders ('A then B'), missing events, silences, trends, outliers, geofences, "
    f"duplicates, sessions or states. At most {MAX_TEXT_CHARS:,} characters."
)


@dataclass(frozen=True)
class ModelOption:
    """One generator the user may pick.

    Attributes:
        model: ``offline``, ``sonnet`` or ``opus``.
        available: whether it can be called now.
        note: what it is (the endpoint), or why it is not available.
    """

    model: str
    available: bool
    note: str

    @property
    def caption(self) -> str:
        """The line under the option."""
        return self.note if self.available else f"Not available: {self.note}"


def model_options(settings: NlSettings) -> list[ModelOption]:
    """The three generators with their availability under ``settings``.

    >>> [o.available for o in model_options(NlSettings(workspace_configured=False))]
    [True, False, False]
    >>> model_options(NlSettings(workspace_configured=True))[2].note
    'serving endpoint databricks-claude-opus-4-7'
    """
    options = [ModelOption(OFFLINE, True, "rules in the app, no network")]
    for model in MODELS[1:]:
        endpoint = settings.endpoints.get(model, "")  # type: ignore[call-overload]
        if not settings.workspace_configured:
            options.append(ModelOption(model, False, "no Databricks workspace is configured"))
        elif not endpoint:
            var = f"LAKESTREAM_{model.upper()}_ENDPOINT"
            options.append(ModelOption(model, False, f"no serving endpoint is set ({var})"))
        else:
            options.append(ModelOption(model, True, f"serving endpoint {endpoint}"))
    return options


def read_nl_settings() -> NlSettings:
    """The generation settings from the environment (read at this edge, on every render, so a
    changed variable is seen without a restart).

    Raises:
        CepError: a timeout variable holds an unusable value.
    """
    return NlSettings.from_env(os.environ)


@functools.cache
def example_packs() -> dict[str, str | None]:
    """Example prompt → the template pack whose schema it is written for (None: no pack)."""
    return {
        str(case["text"]): (str(case["pack"]) if case.get("pack") else None)
        for case in load_eval_set()
        if case.get("example") and not case.get("refuse")
    }


@functools.cache
def examples_by_industry() -> dict[str, list[str]]:
    """Industry → example prompts that the offline generator turns into a pattern."""
    return list_example_prompts()


def pack_vocabulary(catalogue: PackCatalogue, name: str | None) -> dict[str, Any]:
    """``schema``/``examples``/``units`` for a generator from a loaded pack (empty for None)."""
    if name is None or name not in catalogue.packs:
        return {}
    return _pack_vocabulary(catalogue.packs[name])


def _use_example(key: str, catalogue_packs: Mapping[str, Any]) -> None:
    text = st.session_state.get(key)
    if not text:
        return
    st.session_state[state.GENERATE_TEXT] = text
    pack = example_packs().get(text)
    st.session_state[state.GENERATE_PACK] = pack if pack in catalogue_packs else None


def render_examples(catalogue: PackCatalogue) -> None:
    """An industry picker and its example prompts; picking one fills the text box and sets the
    event schema to the example's pack."""
    examples = examples_by_industry()
    if not examples:
        return
    industries = list(examples)
    industry_col, example_col = st.columns([1, 3])
    industry = industry_col.selectbox(
        "Industry",
        industries,
        key=state.GENERATE_INDUSTRY,
        format_func=str.capitalize,
        help="Example prompts are grouped by industry.",
    )
    key = state.GENERATE_EXAMPLE.format(industry=industry)
    example_col.selectbox(
        "Example prompt",
        examples.get(industry or industries[0], []),
        index=None,
        key=key,
        placeholder="Pick an example to fill the text box…",
        on_change=_use_example,
        args=(key, catalogue.packs),
        help="Fills the text box and picks the template pack whose events the example is "
        "written for.",
    )


def render_pack_choice(catalogue: PackCatalogue) -> str | None:
    """The event-schema picker: a template pack's schema or none; returns the pack's name."""
    names: list[str | None] = [None, *catalogue.packs]
    if st.session_state.get(state.GENERATE_PACK) not in names:
        st.session_state[state.GENERATE_PACK] = None
    name: str | None = st.selectbox(
        "Event schema",
        names,
        key=state.GENERATE_PACK,
        format_func=lambda n: "None — assume field names" if n is None else
        f"{catalogue.packs[n].meta.title} ({n})",
        help="The fields and values the words are grounded in. With a schema, 'declined' "
        "becomes status = 'declined' only if the events have such a value (otherwise you get "
        "a question). Without one, the generator assumes field names and says so.",
    )
    if name is not None:
        fields = catalogue.packs[name].schema.fields
        with st.expander(f"Fields of {name}", icon=":material/table_chart:"):
            st.dataframe(
                [
                    {"field": f, "type": info.type, "unit": info.unit or "",
                     "examples": ", ".join(str(e) for e in info.examples)}
                    for f, info in fields.items()
                ],
                hide_index=True,
                width="stretch",
            )
    return name


def render_model_choice(settings: NlSettings) -> ModelOption:
    """The generator picker (Offline / Sonnet / Opus, each with what it is or why it is not
    available); returns the chosen option."""
    options = {o.model: o for o in model_options(settings)}
    any_model = any(o.available for o in options.values() if o.model != OFFLINE)
    if not any_model:
        st.session_state[state.GENERATE_MODEL] = OFFLINE
    model = st.radio(
        "Model",
        list(MODELS),
        key=state.GENERATE_MODEL,
        format_func=MODEL_TITLES.__getitem__,
        captions=[options[m].caption for m in MODELS],
        horizontal=True,
        disabled=not any_model,
        help="Offline rules answer instantly and never leave the app. Sonnet and Opus are "
        "Claude models on Databricks model serving, called with the app's own identity; if "
        "they fail, the offline generator answers and says so.",
    )
    chosen = options[model or OFFLINE]
    if not any_model:
        st.caption(f":material/info: Sonnet and Opus are not available: {NO_WORKSPACE}.")
    elif not chosen.available:
        st.warning(f"**{MODEL_TITLES[chosen.model]}** is not available: {chosen.note}.",
                   icon=":material/block:")
    return chosen
