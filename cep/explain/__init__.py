"""Explanations: patterns in plain English, why each match happened, and why near misses did not.

* :func:`describe_pattern` — a pattern in plain English (``cep.explain.english``);
* :func:`explain_match` / :func:`explain_result` — per match: the bound events' payloads, a
  timeline of what each condition saw, and the engine state at completion
  (``cep.explain.matches``, ``cep.explain.snapshot``), as objects or, for all matches at once,
  as JSON (:meth:`Explanations.to_json_dicts`, ``cep.explain.assemble``);
* :func:`find_near_misses` — partial matches of one key that did not complete, how far they got
  and why (``cep.explain.near_misses``).

Explanations read the pattern, the events and the matcher's result; they never reach into the
matcher's state.
"""

from cep.explain.assemble import Explanations
from cep.explain.english import describe_pattern, describe_row_pattern
from cep.explain.keyed import parse_key
from cep.explain.matches import DEFAULT_MAX_EVENTS, explain_match, explain_result
from cep.explain.near_misses import (
    DEFAULT_LIMIT,
    MAX_KEY_EVENTS,
    find_near_misses,
    find_near_misses_by_key,
)
from cep.explain.payload import REASONS, ClauseCheck, MatchExplanation, NearMiss, TimelineEntry

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_EVENTS",
    "MAX_KEY_EVENTS",
    "REASONS",
    "ClauseCheck",
    "Explanations",
    "MatchExplanation",
    "NearMiss",
    "TimelineEntry",
    "describe_pattern",
    "describe_row_pattern",
    "explain_match",
    "explain_result",
    "find_near_misses",
    "find_near_misses_by_key",
    "parse_key",
]
