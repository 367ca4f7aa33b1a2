"""The windowed matcher: one entry point, ``find_matches``, dispatching on the pattern kind.

Implemented kinds: ``match_recognize`` (SQL:2016, ``cep.matcher.recognize``) and ``sequence``
(Flink CEP, ``cep.matcher.sequence``). The other kinds
are declared in the model; until their matchers land, ``find_matches`` raises
``UnsupportedFeature`` naming the kind — it never produces a made-up result.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from cep.errors import UnsupportedFeature
from cep.matcher.stream import StreamMatcher, create_stream_matcher
from cep.model import MatchRecognizePattern, Pattern, SequencePattern
from cep.results import MatchResult

__all__ = ["DETECTOR_MODULES", "create_matcher", "find_matches", "implemented_kinds", "register_engines"]

import importlib

# Detector kinds: kind -> module exporting ``find_matches(pattern, events)`` and ``Engine``.
DETECTOR_MODULES = {
    kind: f"cep.matcher.detectors.{kind}"
    for kind in ("absence", "count_threshold", "velocity", "trend", "outlier", "session", "dedup",
                 "geofence", "temporal_correlation", "heartbeat", "state_machine")
}


def _detector(kind: str) -> Any:
    name = DETECTOR_MODULES.get(kind)
    if name is None:
        return None
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise


def implemented_kinds() -> tuple[str, ...]:
    """The kinds that have a matcher."""
    return ("match_recognize", "sequence", *(k for k in DETECTOR_MODULES if _detector(k)))



def find_matches(pattern: Pattern, events: pl.DataFrame, *,
                 max_partial_matches: int | None = None) -> MatchResult:
    """Find every match of ``pattern`` in ``events`` (one-shot batch run).

    Args:
        pattern: a validated pattern of any kind.
        events: events as loaded by ``cep.events.load_events`` (time column parsed).
        max_partial_matches: ``sequence`` only: open partial matches one key may hold (None:
            ``cep.matcher.sequence.MAX_PARTIAL_MATCHES``); other kinds ignore it.

    Raises:
        UnsupportedFeature: the pattern's kind has no matcher yet.
        EventDataError: the events lack a column the pattern needs.
        MatchRuntimeError: the pattern failed while matching, as the semantics require, or a
            ``sequence`` key went past ``max_partial_matches``.
    """
    if isinstance(pattern, MatchRecognizePattern):
        from cep.matcher.recognize import find_recognize_matches

        return find_recognize_matches(pattern, events)
    if isinstance(pattern, SequencePattern):
        from cep.matcher.sequence import MAX_PARTIAL_MATCHES, find_sequence_matches

        limit = MAX_PARTIAL_MATCHES if max_partial_matches is None else max_partial_matches
        return find_sequence_matches(pattern, events, max_partial_matches=limit)
    module = _detector(pattern.kind)
    if module is not None:
        result: MatchResult = module.find_matches(pattern, events)
        return result
    raise UnsupportedFeature(
        f"the matcher for kind {pattern.kind!r} is not implemented yet (pattern {pattern.name!r}); "
        f"implemented kinds: {', '.join(implemented_kinds())}"
    )


def register_engines() -> None:
    """Make every kind's incremental engine known to ``StreamMatcher`` (idempotent)."""
    from cep.matcher.recognize import RecognizeEngine
    from cep.matcher.sequence import SequenceEngine

    StreamMatcher.engines["match_recognize"] = RecognizeEngine
    StreamMatcher.engines["sequence"] = SequenceEngine
    for kind in DETECTOR_MODULES:
        module = _detector(kind)
        if module is not None:
            StreamMatcher.engines[kind] = module.Engine


def create_matcher(pattern: Pattern, *, allowed_lateness: timedelta = timedelta(0),
                   max_partial_matches: int | None = None) -> StreamMatcher:
    """An incremental matcher: ``feed`` micro-batches, ``advance_watermark``, ``flush``.

    See ``cep.matcher.stream``; ``max_partial_matches`` as in :func:`find_matches`. Raises
    ``UnsupportedFeature`` for kinds without one yet.
    """
    register_engines()
    if max_partial_matches is not None and isinstance(pattern, SequencePattern):
        from cep.matcher.sequence import SequenceEngine

        # Any: the Engine protocol's timed_out is a plain attribute, the engine's a property.
        engine: Any = SequenceEngine(pattern, max_partial_matches=max_partial_matches)
        return StreamMatcher(pattern, engine, allowed_lateness)
    return create_stream_matcher(pattern, allowed_lateness=allowed_lateness)
