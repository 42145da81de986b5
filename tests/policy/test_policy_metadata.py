"""Policy metadata: the `metadata` rule, OPA `# METADATA` annotations, federation fields."""

from __future__ import annotations

import pytest

from lacuna.errors import GovernanceViolation, PolicyError
from lacuna.model import PolicyRef
from lacuna.policy import PolicyEngine
from lacuna.policy.annotations import parse_annotations

ANNOTATED = """# METADATA
# title: Export Limits
# description: What may leave.
# authors:
# - name: Data Governance
#   email: gov@example.com
# related_resources:
# - ref: https://wiki.example.com/export-limits
# custom:
#   id: C-7
#   compliance: [SOX]
#   version: 2.0.0
#   last_updated: 2025-01-15
package company.export

import rego.v1

# METADATA
# title: the main rule
deny contains "too big" if input.rows > 10
"""


def test_metadata_from_annotations(write_bundle) -> None:
    engine = PolicyEngine(write_bundle({"e.rego": ANNOTATED}))
    [package] = engine.packages
    assert package.ref("deny") == PolicyRef(package="company.export", id="C-7",
                                            title="Export Limits", owner="gov@example.com",
                                            version="2.0.0", compliance=("SOX",), effect="deny")
    assert package.metadata["last_updated"] == "2025-01-15"  # a YAML date, as JSON text
    decision = engine.evaluate({"action": "export", "rows": 11})
    assert (decision.policy_id, decision.policy_title, decision.steward, decision.docs_url) == (
        "C-7", "Export Limits", "gov@example.com", "https://wiki.example.com/export-limits")
    assert decision.policies == (package.ref("deny"),)
    text = str(GovernanceViolation(decision))
    assert "C-7 (Export Limits)" in text
    assert "gov@example.com" in text


def test_metadata_rule_wins_over_annotations(write_bundle) -> None:
    rule = ANNOTATED.replace("import rego.v1\n",
                             'import rego.v1\n\nmetadata := {"id": "C-8", "owner": "o@x"}\n')
    [package] = PolicyEngine(write_bundle({"e.rego": rule})).packages
    ref = package.ref()
    assert (ref.id, ref.owner, ref.title) == ("C-8", "o@x", "Export Limits")


def test_metadata_subpackages_scope_is_inherited(write_bundle) -> None:
    parent = ("# METADATA\n# scope: subpackages\n# custom:\n#   owner: corp@example.com\n"
              "#   compliance: [GDPR]\npackage corp\n")
    child = "package corp.domains.sales\n\nimport rego.v1\n\nallow := true\n"
    engine = PolicyEngine(write_bundle({"corp.rego": parent, "sales.rego": child}))
    [package] = engine.packages
    assert (package.ref().owner, package.ref().compliance) == ("corp@example.com", ("GDPR",))
    assert package.domain == "sales"  # from governance-style path .domains.<domain>


def test_metadata_rule_annotations_do_not_become_package_metadata() -> None:
    notes = parse_annotations(ANNOTATED, "e.rego")
    assert [(a.scope, a.rule, a.line) for a in notes] == [("package", None, 1),
                                                          ("rule", "deny", 18)]


@pytest.mark.parametrize(("block", "message"), [
    ("# METADATA\n# title: [unclosed\n", r"e\.rego:2: the # METADATA block starting at line 1"),
    ("# METADATA\n# owner: me\n", "unknown # METADATA key 'owner'.*under 'custom:'"),
    ("# METADATA\n# scope: everything\n", "unknown # METADATA scope 'everything'"),
    ("# METADATA\n# - a list\n", "must hold YAML key: value pairs"),
])
def test_metadata_bad_annotations_raise_with_position(write_bundle, block, message) -> None:
    source = block + "package p\n\nimport rego.v1\n\nallow := true\n"
    with pytest.raises(PolicyError, match=message):
        PolicyEngine(write_bundle({"e.rego": source}))


def test_metadata_inherits_must_name_a_package(write_bundle) -> None:
    domain = ('package governance.domains.hr\n\nimport rego.v1\n\n'
              'metadata := {"inherits": ["governance.exprot"]}\n\nallow := true\n')
    with pytest.raises(PolicyError, match=r"inherits governance\.exprot, which no policy file"):
        PolicyEngine(write_bundle({"hr.rego": domain}))
    with pytest.raises(PolicyError, match=r"metadata\.inherits of package .* must be a list"):
        PolicyEngine(write_bundle({"hr.rego": domain.replace('["governance.exprot"]', '"x"')}))
