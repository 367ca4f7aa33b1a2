"""Harness for the ``sequence`` tests: patterns and events written like SEMANTICS.md §2.

Patterns, in Flink's vocabulary (:func:`seq`)::

    seq("a b")                              # a, then b (contiguity from the keyword, default relaxed)
    seq("a b", contiguity="strict")         # every step after the first is `next`
    seq("a followedByAny b")                # per-step: next / followedBy / followedByAny
    seq("c a+.consecutive b")               # quantifiers + * ? {n} {n,} {n,m}; .consecutive,
    seq("c a*.greedy")                      #   .allowCombinations, .greedy, .optional
    seq("a+.until(b)")                      # until: an event of type b stops the loop
    seq("a b+ notNext c d")                 # negated steps: notNext x / notFollowedBy x

Step ``x`` matches events of type ``x`` (``where = "type = 'x'"``) unless ``where={"x": ...}``
says otherwise (None: every event); ``until(y)`` means ``type = 'y'`` unless
``until={"x": ...}`` gives the condition. The skip strategy defaults to ``NO_SKIP`` (Flink's
default, which the spec's examples assume; the model's default is ``PAST LAST EVENT``).

Events (:func:`ev`): ``ev("a c b1 b2")`` gives one event per token, ``id`` = the token, ``type``
= the token in lower case without its trailing digits, ``ts`` = 0, 1, 2, ... seconds after
2024-01-01 (or ``ts=[...]`` in seconds), plus any other columns given as lists.

Results (:func:`run`): each match as its event ids joined by spaces, an event written ``id=step``
when it is bound to a step other than its type, and ``(key, "...")`` when the pattern has
``partition_by``. :func:`run` also checks the shape of every match (times, labels, no measures).

>>> from tests.reference.seq_reference import reference_find_sequence_matches as ref
>>> run(ref, seq("a b", contiguity="any"), ev("a c b1 b2"))
['a b1', 'a b2']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from cep.results import MatchResult
from tests.matcher.harness import BASE_TIME, events

__all__ = ["SEQ_MATCHERS", "ev", "run", "seq", "seq_matcher", "timeouts", "view"]

SeqMatcher = Callable[[Any, pl.DataFrame], MatchResult]

_CONTIGUITY_WORDS = {"next": "strict", "followedBy": "relaxed", "followedByAny": "any"}
_NEGATION_WORDS = {"notNext": "not_next", "notFollowedBy": "not_followed_by"}
_STEP = re.compile(
    r"(?P<name>[A-Za-z_]\w*)(?P<quant>\+|\*|\?|\{\d+\}|\{\d+,\d*\})?(?P<mods>(?:\.\w+(?:\(\w*\))?)*)"
)
_MOD = re.compile(r"\.(\w+)(?:\((\w*)\))?")


def _quantifier(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    if text == "+":
        return {"times": {"min": 1, "max": None}}
    if text == "*":
        return {"times": {"min": 1, "max": None}, "optional": True}
    if text == "?":
        return {"optional": True}
    low, _, high = text.strip("{}").partition(",")
    if not _:
        return {"times": {"min": int(low), "max": int(low)}}
    return {"times": {"min": int(low), "max": int(high) if high else None}}


def seq(
    text: str,
    *,
    contiguity: str = "relaxed",
    skip: str | None = "NO_SKIP",
    within: str | None = None,
    where: dict[str, str | None] | None = None,
    until: dict[str, str] | None = None,
    partition_by: list[str] | None = None,
    name: str = "t",
) -> Any:
    """A ``SequencePattern`` from the notation of the module docstring."""
    from cep.model import parse_pattern

    where = where or {}
    until = until or {}
    steps: list[dict[str, Any]] = []
    pending_contiguity: str | None = None
    pending_negation: str | None = None
    for token in text.split():
        if token in _CONTIGUITY_WORDS:
            pending_contiguity = _CONTIGUITY_WORDS[token]
            continue
        if token in _NEGATION_WORDS:
            pending_negation = _NEGATION_WORDS[token]
            continue
        m = _STEP.fullmatch(token)
        if m is None:
            raise ValueError(f"cannot read step {token!r}")
        step_name = m["name"]
        step: dict[str, Any] = {
            "name": step_name,
            "where": where.get(step_name, f"type = '{step_name.lower()}'"),
        }
        if pending_negation is not None:
            step["negated"] = pending_negation
        elif steps:
            step["contiguity"] = pending_contiguity or contiguity
        step.update(_quantifier(m["quant"]))
        for mod, arg in _MOD.findall(m["mods"]):
            if mod == "greedy":
                step["greedy"] = True
            elif mod == "optional":
                step["optional"] = True
            elif mod == "consecutive":
                step["loop_contiguity"] = "strict"
            elif mod == "allowCombinations":
                step["loop_contiguity"] = "any"
            elif mod == "until":
                step["until"] = until.get(step_name, f"type = '{arg.lower()}'")
            else:
                raise ValueError(f"unknown modifier .{mod} in {token!r}")
        if step_name in until and "until" not in step:
            step["until"] = until[step_name]
        steps.append(step)
        pending_contiguity = pending_negation = None
    spec: dict[str, Any] = {"kind": "sequence", "name": name, "steps": steps}
    if skip is not None:  # None: the model's default
        spec["after_match_skip"] = skip
    if within is not None:
        spec["within"] = within
    if partition_by:
        spec["partition_by"] = partition_by
    return parse_pattern(spec)


def _type_of(token: Any) -> Any:
    return token.rstrip("0123456789").lower() if isinstance(token, str) else None


def ev(text: str = "", **columns: list[Any]) -> pl.DataFrame:
    """Events from tokens (see the module docstring); extra columns as lists."""
    tokens = text.split()
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"event tokens must be unique (they are the ids): {text!r}")
    df = events(id=tokens, type=[_type_of(t) for t in tokens], **columns)
    return df.cast({"id": pl.String, "type": pl.String})


def view(result: MatchResult) -> list[Any]:
    """The matches in the compact form of the module docstring."""
    out: list[Any] = []
    for m in result.matches:
        shown = " ".join(
            str(i) if _type_of(i) == step.lower() else f"{i}={step}"
            for i, step in zip(m.event_ids, m.classifiers, strict=True)
        )
        if m.key:
            values = tuple(m.key.values())
            out.append((values[0] if len(values) == 1 else values, shown))
        else:
            out.append(shown)
    return out


def timeouts(result: MatchResult) -> list[tuple[str, str, float]]:
    """Timed-out partial matches as ``("a b1", step_reached, ended in seconds)``, sorted."""
    return sorted(
        (
            " ".join(str(i) for i in p.event_ids),
            p.step_reached,
            (p.ended - BASE_TIME).total_seconds() if p.ended is not None else float("nan"),
        )
        for p in result.timed_out
    )


def _check_shape(pattern: Any, df: pl.DataFrame, result: MatchResult) -> None:
    """Every match must have the shape the fast engine and the reference agree on."""
    time_of = dict(zip(df["id"].to_list(), df[pattern.order_by].to_list(), strict=True))
    names = {s.name for s in pattern.steps if s.negated is None}
    for m in result.matches:
        assert m.pattern == pattern.name
        assert m.event_ids, "a sequence match has at least one event"
        assert len(m.classifiers) == len(m.event_ids)
        assert set(m.classifiers) <= names, m.classifiers
        assert m.start == time_of[m.event_ids[0]]
        assert m.end == time_of[m.event_ids[-1]]
        assert m.measures == {}
        assert m.match_number is None
        assert set(m.key) == set(pattern.partition_by)
    for p in result.timed_out:
        assert p.reason == "window expired"
        assert p.step_reached == p.classifiers[-1]
        assert p.started == time_of[p.event_ids[0]]
        assert pattern.within is not None
        assert p.ended is not None
        assert (p.ended - p.started).total_seconds() == pattern.within.seconds


def run(matcher: SeqMatcher, pattern: Any, df: pl.DataFrame) -> list[Any]:
    """Run ``matcher`` and return :func:`view` of the result (after checking its shape)."""
    result = matcher(pattern, df)
    _check_shape(pattern, df, result)
    return view(result)


# ---------------------------------------------------------------------------------------------
# The fixture: every example runs on the fast engine and on the reference.


def _fast(pattern: Any, df: pl.DataFrame) -> MatchResult:
    try:
        import cep.matcher.sequence  # noqa: F401
    except ImportError as exc:  # the fast engine is written in parallel with these tests
        pytest.skip(f"fast sequence engine not available yet (cep.matcher.sequence: {exc})")
    from cep.matcher import find_matches

    return find_matches(pattern, df)


def _reference(pattern: Any, df: pl.DataFrame) -> MatchResult:
    from tests.reference.seq_reference import reference_find_sequence_matches

    return reference_find_sequence_matches(pattern, df)


SEQ_MATCHERS: dict[str, SeqMatcher] = {"fast": _fast, "reference": _reference}


@pytest.fixture(params=list(SEQ_MATCHERS), ids=list(SEQ_MATCHERS))
def seq_matcher(request: pytest.FixtureRequest) -> SeqMatcher:
    """A callable ``(pattern, events) -> MatchResult``: the fast engine or the reference."""
    return SEQ_MATCHERS[request.param]
