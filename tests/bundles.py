"""Policy bundles the tests write: the default bundle with one package replaced."""

from __future__ import annotations

import shutil
from pathlib import Path

import lacuna

DENY_CONTRACTORS = '''package governance.baseline

import rego.v1

metadata := {
	"id": "P-2024-000",
	"title": "Baseline Data Use",
	"owner": "data-governance@example.com",
	"version": "1.0.0",
	"actions": ["read", "transform"],
}

default allow := false

allow if input.user.role != "contractor"

reasons contains "contractors may not read governed data" if input.user.role == "contractor"
'''


def contractor_denying_bundle(tmp_path: Path) -> Path:
    """A copy of the default bundle (under ``tmp_path/policies``) whose baseline denies every
    read and transform by a ``contractor``: "contractors may not read governed data"."""
    bundle = tmp_path / "policies"
    shutil.copytree(Path(lacuna.__file__).parent / "policies" / "default", bundle)
    (bundle / "governance" / "baseline_test.rego").unlink()
    (bundle / "governance" / "baseline.rego").write_text(DENY_CONTRACTORS)
    return bundle


DENY_PERSONAL_READS = '''package governance.baseline

import rego.v1

metadata := {
	"id": "P-2024-000",
	"title": "Baseline Data Use",
	"owner": "data-governance@example.com",
	"version": "1.0.0",
	"actions": ["read", "transform"],
}

allow := true

deny contains "personal data may not be read here" if {
	input.action == "read"
	"PII" in input.source.tags
}
'''


def personal_read_denying_bundle(tmp_path: Path) -> Path:
    """A copy of the default bundle (under ``tmp_path/policies``) whose baseline denies every
    read of data tagged PII: "personal data may not be read here"."""
    bundle = tmp_path / "policies"
    shutil.copytree(Path(lacuna.__file__).parent / "policies" / "default", bundle)
    (bundle / "governance" / "baseline_test.rego").unlink()
    (bundle / "governance" / "baseline.rego").write_text(DENY_PERSONAL_READS)
    return bundle
