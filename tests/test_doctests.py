"""The examples in the core's docstrings run: an example that no longer holds is a failing test,
not a misleading comment."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lineage

MODULES = sorted(info.name for info in pkgutil.walk_packages(lineage.__path__, "lineage."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples fail (see above)"
