"""The worked examples in the cep.nl docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["cep.nl.offline", "cep.nl.phrases", "cep.nl.settings", "cep.nl.answers"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
