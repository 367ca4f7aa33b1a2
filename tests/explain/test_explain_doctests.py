"""The worked examples in the explanation modules' docstrings hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["cep.explain.assemble", "cep.explain.english", "cep.explain.jsonform", "cep.explain.matches",
           "cep.explain.rules"]


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
