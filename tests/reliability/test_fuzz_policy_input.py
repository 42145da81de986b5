"""Fuzz the policy input builder and the embedded engine with hostile operations.

Whatever an integration hands over (odd column names, control characters, lone surrogates,
huge tag lists, odd user attributes, any destination), ``build_input`` gives a JSON document
or a ``LacunaError``, and ``PolicyEngine.decide`` never raises and never allows by accident:
data at PROPRIETARY or INTERNAL tier leaving for an unmanaged, external destination is denied
by the default bundle whatever else the operation says.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lacuna.errors import LacunaError
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Sensitivity,
    Source,
    Tier,
    User,
)
from lacuna.policy import PolicyEngine
from lacuna.policy.inputs import build_input

pytestmark = pytest.mark.reliability

# Any text, lone surrogates and control characters included.
texts = st.text(st.characters(codec=None, blacklist_categories=()), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)
column_classes = st.builds(
    ColumnClass,
    classification=st.sampled_from(list(ColumnKind)),
    pii_type=st.none() | texts,
    sensitivity=st.sampled_from(list(Sensitivity)),
    confidence=st.floats(0, 1),
    reasoning=texts,
)
classifications = st.builds(
    Classification,
    tier=st.sampled_from(list(Tier)),
    tags=st.lists(texts, max_size=50).map(tuple),
    columns=st.dictionaries(texts, column_classes, max_size=12),
    reasoning=st.lists(texts, max_size=3).map(tuple),
)
destinations = st.builds(
    Destination,
    uri=texts,
    type=st.sampled_from(list(DestinationType)),
    scope=st.sampled_from(list(Scope)),
    encrypted=st.booleans(),
    managed=st.booleans(),
    path=st.none() | texts,
    path_prefix=st.none() | texts,
)
users = st.builds(
    User,
    id=texts,
    role=texts,
    clearance=st.sampled_from(list(Tier)),
    department=st.none() | texts,
    attributes=st.dictionaries(texts, json_values, max_size=4),
)
operations = st.builds(
    Operation,
    action=st.sampled_from(list(Action)),
    user=users,
    classification=classifications,
    sources=st.lists(st.builds(Source, name=texts, classification=classifications),
                     max_size=3).map(tuple),
    destination=st.none() | destinations,
    environment=st.sampled_from(["development", "preview", "staging", "production"]) | texts,
    purpose=st.none() | texts,
    exception_id=st.none() | texts,
    method=texts,
    code_location=st.none() | texts,
    variable=st.none() | texts,
)

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(cache_size=0)


@SETTINGS
@given(operation=operations)
def test_build_input_gives_json_or_a_lacuna_error(operation: Operation) -> None:
    try:
        doc = build_input(operation)
    except LacunaError:
        return
    json.dumps(doc)  # serialisable as it is: only str, numbers, bool, None, lists, dicts


@SETTINGS
@given(operation=operations)
def test_engine_never_raises_and_fails_closed(engine: PolicyEngine, operation: Operation) -> None:
    decision = engine.decide(operation, log=False)
    assert decision.operation_id == operation.id
    if decision.engine_error:
        assert not decision.allowed  # an engine that could not decide denies
    risky = (
        operation.action is Action.EXPORT
        and operation.destination is not None
        and operation.destination.scope is Scope.EXTERNAL
        and not operation.destination.managed
        and operation.classification.tier is not Tier.PUBLIC
        and operation.classification.personal_columns
    )
    if risky:
        assert not decision.allowed, decision.reasoning


def _risky(operation: Operation) -> Operation:
    """The same operation, made an export of personal data to an unmanaged external place."""
    columns = {**operation.classification.columns,
               "contact": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                                      sensitivity=Sensitivity.HIGH)}
    classification = replace(operation.classification, tier=Tier.PROPRIETARY, columns=columns,
                             tags=(*operation.classification.tags, "PII"))
    downloads = Destination(uri="/home/u/Downloads/x.csv", type=DestinationType.FILE,
                            scope=Scope.EXTERNAL, managed=False, path="/home/u/Downloads/x.csv",
                            path_prefix="~/Downloads")
    return replace(operation, action=Action.EXPORT, classification=classification,
                   destination=downloads, exception_id=None)


@SETTINGS
@given(operation=operations.map(_risky))
def test_personal_data_to_downloads_is_denied_whatever_else_is_odd(
    engine: PolicyEngine, operation: Operation
) -> None:
    decision = engine.decide(operation, log=False)
    assert not decision.allowed, decision.reasoning


@pytest.mark.parametrize("cache_size", [0, 64])
def test_a_lone_surrogate_gets_a_decision_not_an_encoder_error(cache_size: int) -> None:
    """A name JSON cannot carry (``os.fsdecode`` of undecodable bytes gives lone surrogates) is
    escaped for the engine: the export of personal data is still denied, a read decided."""
    engine = PolicyEngine(cache_size=cache_size)
    odd = "report-\udf96.csv"
    read = Operation(action=Action.READ, user=User(id="ana\udc80", role="analyst"),
                     classification=Classification(tier=Tier.PUBLIC, tags=(odd,)),
                     sources=(Source(name=odd, classification=Classification()),))
    decision = engine.decide(read, log=False)
    assert decision.engine_error is None, decision.reasoning
    assert decision.allowed, decision.reasoning
    export = _risky(read)
    denied = engine.decide(export, log=False)
    assert not denied.allowed
    assert denied.engine_error is None, denied.reasoning  # denied by the policy, not an error


@pytest.mark.parametrize(("scope", "managed"), [(Scope.EXTERNAL, False), (Scope.EXTERNAL, True),
                                                 (Scope.INTERNAL, False)])
def test_governed_storage_described_as_unmanaged_or_external_is_not_approved(
    engine: PolicyEngine, scope: Scope, managed: bool
) -> None:
    """Hypothesis found it: PROPRIETARY personal data to "encrypted governed storage" that is also
    external and unmanaged was allowed, the bundle looking at the type and encryption only. Lacuna
    builds governed storage managed and internal; any other description is refused."""
    export = _risky(Operation(action=Action.EXPORT, user=User(id="ana", role="analyst"),
                              classification=Classification()))
    odd = Destination(uri="s3://bucket/x.csv", type=DestinationType.GOVERNED_STORAGE, scope=scope,
                      encrypted=True, managed=managed, path="/x.csv")
    decision = engine.decide(replace(export, destination=odd), log=False)
    assert not decision.allowed
    assert decision.engine_error is None, decision.reasoning
    assert "governed storage described as unmanaged or outside the company" in decision.reasoning
    governed = replace(odd, scope=Scope.INTERNAL, managed=True)
    assert engine.decide(replace(export, destination=governed), log=False).allowed
