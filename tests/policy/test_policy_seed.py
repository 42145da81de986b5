"""The seed's example policies, shipped as the @seed bundle, behave as the seed describes."""

from __future__ import annotations

from pathlib import Path

import policy_seed_cases as seed_cases
import pytest

from lacuna.errors import GovernanceViolation
from lacuna.policy import seed_bundle_root

SEED_CASES = seed_cases.SEED_CASES


@pytest.fixture(scope="module")
def engine():
    return seed_cases.seed_engine()


@pytest.mark.parametrize("path", SEED_CASES, ids=[p.stem for p in SEED_CASES])
def test_seed_golden_decision(engine, path: Path) -> None:
    doc, expected = seed_cases.load(path)
    decision = engine.evaluate(doc)
    assert seed_cases.answer(decision) == expected
    assert decision.bundle_revision == engine.revision


def test_seed_cases_cover_every_seed_policy() -> None:
    names = {p.stem.split("_")[0] for p in SEED_CASES}
    assert names >= {"export", "marketing", "environment", "time", "purpose"}
    for stem in ("marketing_domain_grants_what_corporate_leaves_open",
                 "marketing_domain_cannot_lift_corporate_deny"):
        assert any(p.stem == stem for p in SEED_CASES)


def test_seed_bundle_rego_tests_pass_with_full_coverage(engine) -> None:
    report = engine.run_tests(coverage=True)
    assert [r.rule for r in report.failed] == []
    assert len(report) >= 30
    tested = {r.package.removesuffix("_test") for r in report}
    assert tested >= {"governance.export", "governance.domains.marketing",
                      "governance.environment_aware", "governance.time_based",
                      "governance.purpose_based", "governance.pii_export"}
    assert report.coverage_percent == 100.0


def test_seed_bundle_mixes_v0_seed_text_and_v1_additions(engine) -> None:
    versions = {m.relpath: m.rego_version for m in engine.modules}
    assert versions["governance/export/data_export.rego"] == "v0"
    assert versions["governance/export/data_export_lacuna.rego"] == "v1"
    assert versions["governance/time_based/time_based.rego"] == "v0"
    seed_text = (Path(str(seed_bundle_root())) / "governance/export/data_export.rego").read_text()
    original = (Path(__file__).parent / "seed" / "data_export.rego").read_text()
    assert original.split("package", 1)[1] in seed_text  # the seed's P-2024-001, verbatim


def test_seed_fixes_are_marked_in_comments() -> None:
    root = Path(str(seed_bundle_root())) / "governance"
    assert (root / "pii_export.rego").read_text().count("# Lacuna fix:") == 2
    assert (root / "time_based" / "time_based.rego").read_text().count("# Lacuna fix:") == 2


def test_seed_time_based_bundle_is_never_cached(engine) -> None:
    assert engine.cache is None
    assert [(Path(f).name, name) for f, _, name in engine.nondeterministic] == [
        ("time_based.rego", "time.now_ns")]


def test_seed_metadata_from_rule_and_annotations(engine) -> None:
    by_name = {p.name: p for p in engine.all_packages}
    marketing = by_name["governance.domains.marketing"]
    assert marketing.ref().id == "MKT-001"  # annotation
    assert marketing.ref().owner == "marketing-data-lead@example.com"  # metadata rule
    assert (marketing.domain, marketing.inherits) == ("marketing", ("governance.export",))
    export = by_name["governance.export"]
    assert export.actions == frozenset({"export", "write"})  # annotation adds actions
    assert export.ref().compliance == ("GDPR", "CCPA")  # the seed's metadata rule
    assert by_name["governance"].votes is False


def test_seed_violation_message_names_policy_and_steward(engine) -> None:
    doc, _ = seed_cases.load(seed_cases.SEED_CASES[0].parent /
                             "export_proprietary_to_downloads_denied.yaml")
    text = str(GovernanceViolation(engine.evaluate(doc)))
    assert "Cannot export PROPRIETARY data to unmanaged location" in text
    assert "P-2024-001 (PII Export Restrictions)" in text
    assert "data-governance@example.com" in text


def test_seed_time_based_rule_reads_created_at_from_real_operations(engine) -> None:
    from datetime import UTC, datetime, timedelta

    from lacuna.model import Action, Classification, Operation, Source, Tier, User

    c = Classification(tier=Tier.INTERNAL, tags=("CUSTOMER_DATA",))

    def read(days: int, role: str, *, naive: bool = False) -> Operation:
        created = datetime.now(UTC) - timedelta(days=days)
        if naive:
            created = created.replace(tzinfo=None)  # taken as UTC
        return Operation(action=Action.READ, user=User(id="u", role=role), classification=c,
                         environment="production",
                         sources=(Source(name="crm.csv", classification=c, created_at=created),))

    old = engine.decide(read(120, "data_analyst"))
    assert (old.allowed, old.policy_id) == (False, "P-2024-003")
    assert engine.decide(read(120, "compliance_officer")).allowed
    assert engine.decide(read(10, "data_analyst", naive=True)).allowed
    assert not engine.decide(read(100, "data_analyst", naive=True)).allowed
