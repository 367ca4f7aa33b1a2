"""The Generate page's conversation: generate, refine and accept a pattern, each recorded in the
audit log (``nl.generate`` / ``nl.accept``), kept in session state between reruns."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cep.errors import CepError
from cep.nl import (
    ACCEPT_ACTION,
    GENERATE_ACTION,
    Generation,
    NlSettings,
    audit_details,
    audit_prompts_enabled,
)
from cep.nl.audit import AcceptedVia
from ui import state
from ui.generate_model import run_generator
from ui.history_store import current_owner, get_history_store

AUDIT_FAILED = "This generation was not written to the audit log"
MAX_TURNS = 40
"""The longest conversation kept on screen (the oldest turns drop off)."""


@dataclass(frozen=True)
class Current:
    """The generated pattern the page shows and works on.

    Attributes:
        generation: what the generator returned (``pattern`` is set).
        prompt: the text that produced it (kept in the session only, for the audit's opt-in).
        pack: the template pack whose schema grounded the words, if any.
        audit_id: its ``nl.generate`` audit entry, or ``None`` when it could not be written.
        accepted_via: how the user accepted it (``accept``, ``template``, ``open_in_test``).
    """

    generation: Generation
    prompt: str
    pack: str | None
    audit_id: str | None = None
    accepted_via: AcceptedVia | None = None

    @property
    def name(self) -> str:
        """The pattern's name."""
        return self.generation.pattern.name if self.generation.pattern is not None else ""


def current() -> Current | None:
    """The current generated pattern, if any."""
    value = st.session_state.get(state.GENERATE_CURRENT)
    return value if isinstance(value, Current) else None


def pending_question() -> Generation | None:
    """The last generation that asked a question instead of giving a pattern, if any."""
    value = st.session_state.get(state.GENERATE_QUESTION)
    return value if isinstance(value, Generation) else None


def turns() -> list[tuple[str, str]]:
    """The conversation so far, as (who, text) pairs."""
    return list(st.session_state.get(state.GENERATE_TURNS) or [])


def _say(who: str, text: str) -> None:
    st.session_state[state.GENERATE_TURNS] = [*turns(), (who, text)][-MAX_TURNS:]


def _details(generation: Generation, prompt: str, **extra: Any) -> dict[str, Any]:
    keep = audit_prompts_enabled(os.environ)
    return audit_details(generation, store_prompt_text=keep, prompt=prompt, **extra)


def _audit(action: str, subject: str, details_of: Any) -> tuple[str | None, str | None]:
    """Append an audit entry; (its id, None) or (None, why it failed). Never raises."""
    try:
        entry = get_history_store().append_audit(
            actor=current_owner(), action=action, subject=subject, details=details_of())
    except CepError as e:
        return None, f"{AUDIT_FAILED}: {e}"
    return entry.id, None


def _outcome_text(generation: Generation) -> str:
    if generation.pattern is None:
        return generation.question or "No pattern."
    return f"{generation.pattern.name} ({generation.pattern.kind})"


def run_generation(
    text: str,
    *,
    model: str,
    settings: NlSettings,
    vocabulary: dict[str, Any],
    pack: str | None,
    refine: bool,
) -> Generation:
    """Generate a pattern from ``text`` (or edit the current one when ``refine``), record it in
    the audit log, and make it current when it has a pattern.

    A new prompt starts a new conversation; a refinement that asks a question keeps the
    current pattern.

    Raises:
        CepError: the model name or its endpoint is not usable.
    """
    base = current() if refine else None
    generation = run_generator(
        text, model=model, settings=settings, vocabulary=vocabulary,
        current=base.generation.pattern if base is not None else None,
    )
    if not refine:
        for key in (state.GENERATE_CURRENT, state.GENERATE_TURNS, state.GENERATE_TEST_OUTCOME):
            st.session_state.pop(key, None)
    st.session_state.pop(state.GENERATE_QUESTION, None)
    subject = generation.pattern.name if generation.pattern is not None else ""
    audit_id, problem = _audit(GENERATE_ACTION, subject, lambda: _details(
        generation, text, accepted=False, schema_source=pack, refined=refine))
    st.session_state[state.GENERATE_NOTICE] = problem
    _say("user", text)
    _say("assistant", _outcome_text(generation))
    if generation.pattern is None:
        st.session_state[state.GENERATE_QUESTION] = generation
    else:
        st.session_state[state.GENERATE_CURRENT] = Current(
            generation=generation, prompt=text, pack=pack, audit_id=audit_id)
    return generation


def accept_current(via: AcceptedVia) -> Current | None:
    """Record that the user accepted the current pattern (once per generated pattern).

    Returns:
        The current pattern, marked accepted; ``None`` when there is none.
    """
    now = current()
    if now is None:
        return None
    if now.accepted_via is not None:
        return now
    _, problem = _audit(ACCEPT_ACTION, now.name, lambda: _details(
        now.generation, now.prompt, accepted=True, schema_source=now.pack,
        generation_id=now.audit_id, accepted_via=via))
    st.session_state[state.GENERATE_NOTICE] = problem
    accepted = dataclasses.replace(now, accepted_via=via)
    st.session_state[state.GENERATE_CURRENT] = accepted
    return accepted
