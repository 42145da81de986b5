"""The lazy root as tools see it: every public name resolves and is listed, introspection does
not fail, and what Lacuna hands out (its data objects, its errors: a denial raised in a worker
process reaches the parent pickled) comes back whole from ``pickle``."""

from __future__ import annotations

import inspect
import pickle
import pydoc

import pandas as pd
import pytest

import lacuna
import lacuna.sql
from lacuna.anonymize.base import UnknownColumnError
from lacuna.anonymize.budget import BudgetExhausted
from lacuna.errors import ComponentImportError, LacunaError, PolicyError


@pytest.mark.parametrize("module", [lacuna, lacuna.sql], ids=lambda m: m.__name__)
def test_every_public_name_resolves_is_listed_and_documents(module):
    assert set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert {n for n, _ in inspect.getmembers(module)} >= set(module.__all__)
    text = pydoc.render_doc(module, renderer=pydoc.plaintext)
    assert module.__name__ in text


def test_the_verbs_document_as_functions():
    for name in ("anonymize", "classify", "synthesize"):
        verb = getattr(lacuna, name)
        assert inspect.isfunction(verb)
        assert f"function {name}" in pydoc.render_doc(verb, renderer=pydoc.plaintext)


def test_data_objects_round_trip_through_pickle():
    c = lacuna.classify(["customer_id", "email", "region"])
    for value in (c, c.columns, lacuna.Tier.PROPRIETARY, lacuna.load_config()):
        assert pickle.loads(pickle.dumps(value)) == value


def test_a_denial_round_trips_through_pickle(governed):
    df = pd.DataFrame({"email": ["kira@example.com"], "name": ["Kira"]})
    with pytest.raises(lacuna.GovernanceViolation) as denied:
        df.to_csv(governed / "Downloads" / "out.csv")
    violation = denied.value
    back = pickle.loads(pickle.dumps(violation))
    assert type(back) is lacuna.GovernanceViolation
    assert back.decision == violation.decision
    assert (str(back), back.feedback, back.to_json()) == (
        str(violation), violation.feedback, violation.to_json())
    assert isinstance(back, PermissionError)


@pytest.mark.parametrize("error", [
    PolicyError("bundle does not compile", path="p.rego", line=3, column=4),
    UnknownColumnError("no column 'emial'", column="emial"),  # keyword-only, required
    BudgetExhausted("budget spent", subject="alice", spent=1.0, limit=0.5),
    ComponentImportError("the x (lacuna.x)", "It did not run",
                         ModuleNotFoundError("No module named 'y'", name="y")),
], ids=lambda e: type(e).__name__)
def test_errors_round_trip_through_pickle(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert isinstance(back, LacunaError)
    assert (back.args, str(back), vars(back)) == (error.args, str(error), vars(error))
