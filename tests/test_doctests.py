"""The examples in the docstrings of the core and the Airflow plugin run: an example that no longer
holds is a failing test, not a misleading comment."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import airflow_plugin
import lineage

MODULES = sorted(info.name for package in (lineage, airflow_plugin) for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples fail (see above)"
