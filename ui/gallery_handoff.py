"""The hand-off from the Gallery to the Test page: a pattern and its pack's sample, run on arrival.

The Gallery calls :func:`hand_off` and switches to the Test page; the Test page offers the sample
as an events source (:func:`handed_sample`) and runs once (:func:`take_autorun`). A user template
has no sample: :func:`hand_off_pattern` loads only its pattern, and the user picks the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from ui import state
from ui.sequence_form import MODE_TEXT

EVENTS_PACK_SAMPLE = "Template pack sample"
"""The Test page's events choice for a sample handed over by the Gallery."""


@dataclass(frozen=True)
class PackSample:
    """A template pack's generated sample, handed to the Test page.

    Attributes:
        pack: the pack's name (its folder).
        title: the pack's title.
        events: how many events were generated.
        seed: the generator's seed.
        frame: the events (a Polars frame, time column ``Datetime("us", "UTC")``).
    """

    pack: str
    title: str
    events: int
    seed: int
    frame: Any

    @property
    def label(self) -> str:
        """The sample's name in the Test page's messages."""
        return f"{self.pack} sample ({self.events:,} events, seed {self.seed})"

    @property
    def ident(self) -> tuple[object, ...]:
        """What identifies the sample (the Test page says when a run's inputs changed)."""
        return ("pack", self.pack, self.events, self.seed)


def hand_off(pattern_text: str, source: str, sample: PackSample) -> None:
    """Put a pattern and a pack sample into the Test page's state, to run when it opens next.

    Args:
        pattern_text: the pattern as JSON text.
        source: where the pattern comes from, ending in ``.json`` (``card_fraud/card_testing.json``).
        sample: the events to run it on.
    """
    st.session_state[state.TEST_PATTERN_MODE] = MODE_TEXT
    st.session_state[state.TEST_PATTERN_TEXT] = pattern_text
    st.session_state[state.TEST_PATTERN_SOURCE] = source
    st.session_state.pop(state.TEST_PATTERN_NOTICE, None)
    st.session_state[state.TEST_PACK_SAMPLE] = sample
    st.session_state[state.TEST_EVENTS_CHOICE] = EVENTS_PACK_SAMPLE
    st.session_state.pop(state.TEST_OUTCOME, None)
    st.session_state[state.TEST_AUTORUN] = True


def handed_sample() -> PackSample | None:
    """Return the pack sample the Gallery handed over, if any (it stays until the next one)."""
    sample = st.session_state.get(state.TEST_PACK_SAMPLE)
    return sample if isinstance(sample, PackSample) else None


def take_autorun() -> bool:
    """Return whether the Gallery asked for a run, and clear the request (it runs once)."""
    return bool(st.session_state.pop(state.TEST_AUTORUN, False))


def hand_off_pattern(pattern_text: str, source: str) -> None:
    """Put a pattern (without events) into the Test page's state; the user picks the events and
    presses Run.

    Args:
        pattern_text: the pattern as JSON text.
        source: where the pattern comes from, ending in ``.json`` (``template: my_rule.json``).
    """
    st.session_state[state.TEST_PATTERN_MODE] = MODE_TEXT
    st.session_state[state.TEST_PATTERN_TEXT] = pattern_text
    st.session_state[state.TEST_PATTERN_SOURCE] = source
    for key in (
        state.TEST_PATTERN_NOTICE,
        state.TEST_PACK_SAMPLE,
        state.TEST_EVENTS_CHOICE,
        state.TEST_OUTCOME,
        state.TEST_AUTORUN,
    ):
        st.session_state.pop(key, None)
