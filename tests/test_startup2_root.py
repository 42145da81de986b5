"""The package root is lazy: ``import lacuna`` loads the errors and the data model, and each
other public name is imported from its module when first used (``lacuna/__init__.py``)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

import lacuna

LIGHT = {"lacuna", "lacuna.errors", "lacuna.model"}


def _lacuna(name: str) -> bool:
    return name == "lacuna" or name.startswith("lacuna.")


@pytest.fixture
def fresh_root() -> Iterator[tuple[types.ModuleType, set[str], dict[str, types.ModuleType]]]:
    """A new ``lacuna`` root imported with no ``lacuna`` module loaded; the ``lacuna`` modules
    its import loaded, and the session's modules. Afterwards ``sys.modules`` holds exactly the
    session's ``lacuna`` modules again: a module first imported under the new root (a new
    ``lacuna.governor``, holding a new ``Config`` class) left behind made every later test's
    ``enable(config)`` fail (``isinstance`` against the other class)."""
    session = {n: m for n, m in sys.modules.items() if _lacuna(n)}
    for name in session:
        del sys.modules[name]
    try:
        fresh = importlib.import_module("lacuna")
        loaded = {n for n in sys.modules if _lacuna(n)}
        yield fresh, loaded, session
    finally:
        for name in [n for n in sys.modules if _lacuna(n)]:
            del sys.modules[name]
        sys.modules.update(session)


def test_root_import_loads_the_errors_and_the_model_only(fresh_root):
    fresh, loaded, _ = fresh_root
    assert loaded <= LIGHT, sorted(loaded - LIGHT)
    assert fresh.Tier is sys.modules["lacuna.model"].Tier
    assert issubclass(fresh.GovernanceViolation, sys.modules["lacuna.errors"].LacunaError)
    assert "enable" not in vars(fresh)
    assert set(fresh.__all__) <= set(dir(fresh))  # listed before they are imported


def test_lazy_names_are_the_objects_of_their_modules(fresh_root):
    fresh, _, session = fresh_root
    for name, module in session.items():  # the session's modules: no second copy is imported
        if name != "lacuna":
            sys.modules[name] = module
    api = sys.modules["lacuna.api"]
    assert fresh.enable is api.enable  # the enable() that installs the hooks, nothing else
    assert fresh.governed is api.governed
    assert fresh.check is api.check
    assert fresh.Config is sys.modules["lacuna.config"].Config
    assert fresh.classify is sys.modules["lacuna.classify"].classify
    assert fresh.governor is sys.modules["lacuna.governor"]  # `lacuna.governor.current()`
    assert fresh.datasets is sys.modules["lacuna.datasets"]
    assert vars(fresh)["enable"] is api.enable  # bound once: later look-ups are plain


@pytest.mark.parametrize("verb", ["anonymize", "classify", "synthesize"])
def test_a_verb_stays_bound_when_its_module_is_bound_on_the_root(monkeypatch, verb):
    module = importlib.import_module(f"lacuna.{verb}")
    # what the import system does when the module is imported after the root
    monkeypatch.setattr(lacuna, verb, module)
    assert getattr(lacuna, verb) is getattr(module, verb)
    assert callable(getattr(lacuna, verb))


def test_a_value_set_on_a_verb_by_hand_is_kept(monkeypatch):
    def fake(*_args: object, **_kwargs: object) -> str:
        return "fake"

    monkeypatch.setattr(lacuna, "classify", fake)
    assert lacuna.classify is fake
    monkeypatch.setattr(lacuna, "not_a_verb", sys.modules["lacuna.classify"], raising=False)
    assert lacuna.not_a_verb is sys.modules["lacuna.classify"]


def test_an_unknown_root_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="'lacuna' has no attribute 'enabel'"):
        lacuna.enabel  # noqa: B018
    assert not hasattr(lacuna, "enabel")
    with pytest.raises(ImportError, match="enabel"):
        exec("from lacuna import enabel", {})
