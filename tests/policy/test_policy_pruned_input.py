"""The policy input built already pruned: the same document as building it whole and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacuna.config import Config
from lacuna.destinations import classify_destination
from lacuna.errors import ConfigError
from lacuna.model import (
    Action,
    Classification,
    ColumnClass,
    ColumnKind,
    Operation,
    Sensitivity,
    Source,
    Tier,
    User,
)
from lacuna.policy import PolicyEngine, build_input, seed_bundle_root
from lacuna.policy.cache import input_trie, prune
from lacuna.policy.inputs import build_pruned_input
from lacuna.policy.jsontext import dumps

CONFIG = Config()
PII = Classification(
    tier=Tier.PROPRIETARY, tags=("PII", "GDPR"),
    columns={"email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                                  sensitivity=Sensitivity.HIGH),
             "region": ColumnClass()})
PUBLIC = Classification(tier=Tier.PUBLIC)
TARGETS = (None, "~/Downloads/x.csv", "/governed/workspace/x.csv", "s3://bucket/x.csv",
           "https://partner.example.org/upload", "postgresql://db.internal/analytics")
# Paths policies may read: whole subtrees, single fields, nested fields, and paths that the
# input does not have.
PATHS = (
    ("source",), ("source", "classification"), ("source", "tags"), ("source", "names"),
    ("source", "created_at"), ("source", "columns", "email", "pii_type"),
    ("source", "pii_types"), ("destination",), ("destination", "type"),
    ("destination", "path_prefix"), ("user",), ("user", "team"), ("user", "role"),
    ("lineage",), ("environment",), ("environment_category",), ("purpose",),
    ("exception_id",), ("exception_approved",), ("exception_approver_role",), ("context",),
    ("context", "method"), ("context", "variable", "deeper"), ("nope",), ("source", "nope"),
)


def operation(classification: Classification, target: str | None, *, sources: int = 1,
              naive: bool = False, method: str = "pandas.DataFrame.to_csv",
              variable: str | None = "df", environment: str = "development") -> Operation:
    tz = None if naive else timezone(timedelta(hours=2))
    made = tuple(Source(name=f"s{i}.csv", classification=classification,
                        created_at=datetime(2024, 1, 1 + i, 12, tzinfo=tz) if i else None)
                 for i in range(sources))
    return Operation(
        action=Action.EXPORT if target else Action.READ,
        user=User(id="alice", role="data_analyst", department="sales",
                  attributes={"team": "emea"}),
        classification=classification, sources=made,
        destination=classify_destination(target, CONFIG.destinations) if target else None,
        environment=environment, purpose="analytics", exception_id="EXC-1",
        method=method, variable=variable, code_location="a.py:3")


def same(op: Operation, trie: dict, **kw: object) -> None:
    expected = prune(build_input(op, **kw), trie)
    built = build_pruned_input(op, trie, **kw)
    assert built == expected
    assert dumps(built) == dumps(expected)  # the same text: same key order too


@settings(max_examples=150, deadline=None)
@given(paths=st.lists(st.sampled_from(PATHS), max_size=8),
       tier=st.sampled_from([PII, PUBLIC]), target=st.sampled_from(TARGETS),
       sources=st.integers(0, 3), naive=st.booleans(),
       method=st.sampled_from(["pandas.DataFrame.to_csv", "", "weird call()"]),
       variable=st.sampled_from(["df", None, "df[0]"]), approved=st.booleans(),
       role=st.sampled_from([None, "data_steward"]))
def test_pruned_input_is_the_whole_input_pruned(paths, tier, target, sources, naive, method,
                                                variable, approved, role) -> None:
    op = operation(tier, target, sources=sources, naive=naive, method=method,
                   variable=variable)
    trie = input_trie(paths)
    assert trie is not None
    same(op, trie, exception_approved=approved, exception_approver_role=role)
    same(op, trie, exception_approved=approved, exception_approver_role=role)  # shared parts


@pytest.mark.parametrize("root", [None, seed_bundle_root()], ids=["default", "seed"])
def test_pruned_input_of_a_real_bundle(root) -> None:
    trie = PolicyEngine(root)._state.trie
    assert trie is not None
    for target in TARGETS:
        for tier in (PII, PUBLIC):
            same(operation(tier, target, sources=2), trie)


def test_pruned_input_keeps_the_parts_lacuna_reads() -> None:
    trie = input_trie([("user", "role")])
    assert trie is not None
    doc = build_pruned_input(operation(PII, "~/Downloads/x.csv"), trie)
    assert doc == {"action": "export", "source": {"classification": "PROPRIETARY"},
                   "destination": {"type": "file"}, "user": {"role": "data_analyst"}}
    read = build_pruned_input(operation(PII, None), trie)
    assert read["destination"] is None


def test_pruned_input_checks_the_environment_even_when_no_policy_reads_it() -> None:
    op = operation(PII, "~/Downloads/x.csv", environment="moon")
    trie = input_trie([("action",)])
    assert trie is not None
    with pytest.raises(ConfigError, match="moon"):
        build_input(op)
    with pytest.raises(ConfigError, match="moon"):
        build_pruned_input(op, trie)
    decision = PolicyEngine(None).decide(op)
    assert not decision.allowed
    assert decision.engine_error is not None
    assert "moon" in decision.engine_error


def test_pruned_input_created_at_is_utc() -> None:
    trie = input_trie([("source", "created_at")])
    assert trie is not None
    op = operation(PUBLIC, None, sources=3, naive=True)
    assert build_pruned_input(op, trie)["source"] == {
        "classification": "PUBLIC", "created_at": datetime(2024, 1, 2, 12, tzinfo=UTC)
        .isoformat()}


def test_fallback_reasoning_names_the_tier_even_when_no_policy_reads_it(write_bundle) -> None:
    # Lacuna's own reasoning reads the tier and the destination type: they are in the input the
    # engine evaluates, and in the cache key, whether a policy reads them or not.
    root = write_bundle({"p.rego": 'package p\n\nimport rego.v1\n\n'
                                   'allow if input.user.role == "admin"\n'})
    engine = PolicyEngine(root)
    downloads = engine.decide(operation(PII, "~/Downloads/x.csv"))
    public = engine.decide(operation(PUBLIC, "~/Downloads/x.csv"))
    assert not downloads.allowed
    assert not public.allowed
    assert downloads.reasoning == ("No policy allows export of PROPRIETARY data to a file "
                                   "destination: p did not grant it.")
    assert public.reasoning == ("No policy allows export of PUBLIC data to a file "
                                "destination: p did not grant it.")
    admin = operation(PII, "~/Downloads/x.csv")
    admin = Operation(**{**{f: getattr(admin, f) for f in admin.__slots__},
                         "user": User(id="root", role="admin")})
    allowed = engine.decide(admin)
    assert allowed.allowed
    assert allowed.reasoning == "Allowed by p."
