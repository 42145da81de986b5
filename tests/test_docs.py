"""Every docstring example in the package runs (sqlglot's test_docs, httpx's doctests)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lacuna

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(lacuna.__path__, "lacuna.")
    if not m.name.startswith(("lacuna.cli", "lacuna.demo"))
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, governed):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
