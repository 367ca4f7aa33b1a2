"""Fixtures for the matcher tests: every example runs on the fast matcher and the reference."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the checkout
    sys.path.insert(0, _ROOT)


def _fast(pattern: Any, df: Any) -> Any:
    from cep.matcher import find_matches

    return find_matches(pattern, df)


def _reference(pattern: Any, df: Any) -> Any:
    from tests.reference.mr_reference import reference_find_matches

    return reference_find_matches(pattern, df)


MATCHERS = {"fast": _fast, "reference": _reference}


@pytest.fixture(params=list(MATCHERS), ids=list(MATCHERS))
def matcher(request: pytest.FixtureRequest) -> Any:
    """A callable ``(pattern, events) -> MatchResult``: the fast matcher or the reference."""
    return MATCHERS[request.param]
