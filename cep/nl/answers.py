"""Checking a model's answer: pull the JSON out of prose or fences, enforce bounds (reporting
every clamp), and validate it against the pattern model and the expression allowlist.

>>> extract_json('Here it is:\\n```json\\n{"kind": "heartbeat"}\\n```\\nDone.')
{'kind': 'heartbeat'}
"""

from __future__ import annotations

import json
import re
from typing import Any

from cep.errors import CepError, PatternError
from cep.model import (
    MAX_RADIUS_M,
    MAX_TIMES,
    Duration,
    Pattern,
    max_duration_s,
    validate_pattern,
)
from cep.nl.phrases import format_duration

__all__ = ["AnswerError", "check_answer", "clamp_bounds", "extract_json"]

_FENCE = re.compile(r"```(?:json|JSON|yaml)?\s*\n?(.*?)```", re.DOTALL)
_DURATION_FIELDS = ("window", "within", "timeout", "max_gap", "interval", "grace", "gap",
                    "max_duration", "baseline", "dwell")
# field -> (low, high) of the model's documented ranges (cep.model)
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "count_threshold": {"threshold": (1, 1_000_000_000)},
    "trend": {"count": (2, 100_000), "tolerance_pct": (0, 100)},
    "outlier": {"min_samples": (2, 1_000_000)},
}


class AnswerError(CepError):
    """The model's answer is not a usable pattern; ``errors`` go back to the model once."""


def extract_json(text: str) -> Any:
    """The first JSON object in ``text``: the whole text, a fenced block, or the outermost
    ``{...}`` inside prose.

    Raises:
        AnswerError: no JSON object could be read.
    """
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = text.find("{")
    if start >= 0:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            c = text[i]
            if in_str:
                esc = (c == "\\") and not esc
                if c == '"' and not esc:
                    in_str = False
                continue
            if c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    candidates.append(text[start:i + 1])
                    break
    last_error = "no JSON object found"
    for cand in candidates:
        if not cand.startswith("{"):
            continue
        try:
            value = json.loads(cand)
        except json.JSONDecodeError as exc:
            last_error = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            continue
        except RecursionError:
            last_error = "JSON nested too deeply"
            continue
        if isinstance(value, dict):
            return value
    raise AnswerError(f"the answer is not a JSON pattern object ({last_error})")


def _clamp_duration(value: Any, path: str, warnings: list[str]) -> Any:
    try:
        Duration(value)
    except PatternError as exc:
        if "longer than the maximum" in str(exc):
            limit = format_duration(max_duration_s())
            warnings.append(f"{path} {value!r} was longer than the maximum; clamped to {limit}")
            return limit
    return value


def clamp_bounds(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of a pattern's JSON value with windows above the maximum duration and numbers
    outside the model's documented ranges clamped; one warning per clamp."""
    warnings: list[str] = []
    out = dict(data)
    kind = out.get("kind")
    for name in _DURATION_FIELDS:
        if name in out and out[name] is not None:
            if name == "timeout" and isinstance(out[name], dict) and set(out[name]) - {
                "value", "unit"
            }:
                out[name] = {k: _clamp_duration(v, f"timeout.{k}", warnings)
                             for k, v in out[name].items()}
            else:
                out[name] = _clamp_duration(out[name], name, warnings)
    for name, (low, high) in _RANGES.get(str(kind), {}).items():
        value = out.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            clamped = min(max(value, low), high)
            if clamped != value:
                warnings.append(f"{name} {value} is outside [{low:g}, {high:g}]; clamped to "
                                f"{clamped:g}")
                out[name] = type(value)(clamped)
    if kind == "sequence" and isinstance(out.get("steps"), list):
        steps = []
        for i, step in enumerate(out["steps"]):
            times = step.get("times") if isinstance(step, dict) else None
            if isinstance(times, dict):
                times = dict(times)
                for k in ("min", "max"):
                    v = times.get(k)
                    if isinstance(v, int) and not isinstance(v, bool) and v > MAX_TIMES:
                        warnings.append(f"steps[{i}].times.{k} {v} clamped to {MAX_TIMES}")
                        times[k] = MAX_TIMES
                step = {**step, "times": times}
            steps.append(step)
        out["steps"] = steps
    shape = out.get("shape")
    if kind == "geofence" and isinstance(shape, dict):
        radius = shape.get("radius_m")
        if isinstance(radius, int | float) and radius > MAX_RADIUS_M:
            warnings.append(f"shape.radius_m {radius} clamped to {MAX_RADIUS_M:g}")
            out["shape"] = {**shape, "radius_m": MAX_RADIUS_M}
    return out, warnings


def check_answer(text: str) -> tuple[Pattern, list[str]]:
    """Read, clamp and validate a model answer.

    Every condition is parsed by :mod:`cep.expr` during validation, so subqueries, unknown
    functions and non-SQL text (``__import__``) are rejected.

    Returns:
        The pattern and the clamp warnings.

    Raises:
        AnswerError: the answer is not JSON, or not a valid pattern (message lists the errors).
    """
    data = extract_json(text)
    if isinstance(data.get("pattern"), dict) and "kind" not in data:
        data = data["pattern"]
    clamped, warnings = clamp_bounds(data)
    try:
        return validate_pattern(clamped, source="model answer"), warnings
    except PatternError as exc:
        raise AnswerError(str(exc)) from None
