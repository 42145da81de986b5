"""A package name that is both a function and a submodule (``lacuna.classify``, the verb, and
``lacuna/classify/``): ``import lacuna.classify.rollup as r`` gives the module, ``from lacuna
import classify`` and ``lacuna.classify`` the function (``lacuna._shadow``)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
import types
from pathlib import Path

import pytest

import lacuna

SRC = Path(lacuna.__file__).parent


def _bound(init: Path, package: str) -> set[str]:
    """The names a package's ``__init__.py`` binds at its top level to something other than
    its own submodules (``from lacuna.sql import hook`` binds the module), with those it binds
    on first use (the root's ``_LAZY``), read without importing it."""
    names: set[str] = set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom) and node.module not in ("__future__", package):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
            if isinstance(node.value, ast.Dict) and any(
                    isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
                names.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    return names


def _shadowed() -> list[tuple[str, str]]:
    """Every (package, name) of ``lacuna`` where the package binds a name its own submodule
    has: read from the source, so a new one is found (and tested) without listing it here."""
    found = []
    for init in sorted(SRC.rglob("__init__.py")):
        folder = init.parent
        package = ".".join(("lacuna", *folder.relative_to(SRC).parts))
        subs = {m.name for m in pkgutil.iter_modules([str(folder)])}
        found += [(package, name) for name in sorted(subs & _bound(init, package))]
    return found


SHADOWED = _shadowed()


def test_the_source_has_names_shadowing_submodules():
    # what the tests below cover: the root's verbs among them (not an empty parametrization)
    assert {("lacuna", "classify"), ("lacuna", "anonymize")} <= set(SHADOWED)


@pytest.mark.parametrize(("package", "name"), SHADOWED)
def test_import_as_gives_the_module_and_from_import_the_function(package, name):
    space: dict[str, object] = {}
    exec(f"import {package}.{name} as module\nfrom {package} import {name} as function", space)
    module = importlib.import_module(f"{package}.{name}")
    assert space["module"] is module
    function = space["function"]
    assert not isinstance(function, types.ModuleType)
    assert callable(function)
    assert function is getattr(sys.modules[package], name)  # the attribute: the function too


def test_a_submodule_of_a_verb_imports_as_a_module_in_a_function():
    space: dict[str, object] = {}
    exec("def f():\n    import lacuna.classify.rollup as r\n    return r\n", space)
    assert space["f"]() is sys.modules["lacuna.classify.rollup"]  # type: ignore[operator]
    assert lacuna.classify is sys.modules["lacuna.classify"].classify


def test_the_import_is_read_past_a_wide_argument():
    # over 256 names before it: the IMPORT_NAME's argument takes an EXTENDED_ARG prefix
    source = "".join(f"n{i} = {i}\n" for i in range(300))
    space: dict[str, object] = {}
    exec(source + "import lacuna.classify.rollup as r\nfrom lacuna import classify\n", space)
    assert space["r"] is sys.modules["lacuna.classify.rollup"]
    assert space["classify"] is lacuna.classify


def test_other_look_ups_give_the_function():
    space: dict[str, object] = {}
    exec("from lacuna import *\nimport lacuna.classify\nverb = lacuna.classify", space)
    assert space["classify"] is space["verb"] is lacuna.classify
    assert getattr(lacuna, "classify") is lacuna.classify  # noqa: B009
    assert not isinstance(lacuna.classify, types.ModuleType)
    assert importlib.import_module("lacuna.classify") is sys.modules["lacuna.classify"]


def test_binding_the_submodule_keeps_the_function_and_deleting_unbinds(monkeypatch):
    sql = sys.modules["lacuna.sql"]
    govern = sql.govern
    module = importlib.import_module("lacuna.sql.govern")
    monkeypatch.setattr(sql, "govern", module)  # as the import system binds it
    assert sql.govern is govern
    monkeypatch.delattr(sql, "govern")
    assert not hasattr(sql, "govern")
    with pytest.raises(AttributeError, match=r"'lacuna\.sql' has no attribute 'govern'"):
        sql.govern  # noqa: B018
    sql.govern = module  # no function bound (monkeypatch binds it back): not the module either
    assert "govern" not in vars(sql)


def test_a_look_up_from_c_with_no_python_frame_gives_the_function():
    # a thread whose callable is C all the way down: the look-up has no Python caller
    import _thread
    import time

    found: list[object] = []
    _thread.start_new_thread(found.extend, (map(getattr, [lacuna], ["classify"]),))
    deadline = time.monotonic() + 5
    while not found and time.monotonic() < deadline:
        time.sleep(0.005)
    assert found == [lacuna.classify]


def test_a_python_without_the_opcodes_gives_the_function(monkeypatch):
    import opcode

    monkeypatch.delitem(opcode.opmap, "IMPORT_FROM")
    monkeypatch.setattr(lacuna, "_OPCODES", None)  # read again, without IMPORT_FROM
    space: dict[str, object] = {}
    exec("from lacuna import classify\nimport lacuna.classify as module", space)
    assert space["classify"] is space["module"] is lacuna.classify  # as before: the function
