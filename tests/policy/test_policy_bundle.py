"""Loading bundles: Rego v0/v1 per file, errors with positions, data files, test files, revision."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from lacuna.config import Config, PolicyConfig
from lacuna.errors import PolicyError
from lacuna.model import Action, Classification, Operation, Tier, User
from lacuna.policy import PolicyEngine

SEED = Path(__file__).parent / "seed"

V1_ALLOW_ALL = """package company.all

import rego.v1

metadata := {"id": "C-0", "title": "Everything"}

allow := true
"""

SEED_V0_CORRECTED = """package governance
default allow_export = false
allow_export {
  input.classification != "PROPRIETARY"
} {
  input.destination.type == "governed_storage"
  input.destination.encrypted == true
}
alternatives[msg] {
  not allow_export
  input.classification == "PROPRIETARY"
  msg := "Use anonymized version: lacuna.anonymize(data, pii_columns)"
}
alternatives[msg] {
  not allow_export
  input.classification == "PROPRIETARY"
  msg := sprintf("Save to governed location: %s", [approved_paths[_]])
}
approved_paths := ["/governed/workspace/"]
"""


def read_op() -> Operation:
    return Operation(action=Action.READ, user=User(id="alice"),
                     classification=Classification(tier=Tier.PUBLIC))


def test_bundle_malformed_v1_policy_raises_with_file_line_and_source(write_bundle) -> None:
    bad = "package company.bad\n\nimport rego.v1\n\nallow if {\n  input.x ==\n}\n"
    root = write_bundle({"ok.rego": V1_ALLOW_ALL, "sub/bad.rego": bad})
    with pytest.raises(PolicyError) as info:
        PolicyEngine(root)
    err = info.value
    assert err.path == str(root / "sub" / "bad.rego")
    assert (err.line, err.column) == (7, 1)
    text = str(err)
    assert text.startswith(f"{root / 'sub' / 'bad.rego'}:7:1: expecting expression")
    assert "\n    }\n    ^\n" in text
    assert "Rego v1" in text


def test_bundle_loads_v0_and_v1_files_side_by_side(write_bundle) -> None:
    root = write_bundle({"a.rego": V1_ALLOW_ALL, "legacy/pii_export.rego": SEED_V0_CORRECTED})
    engine = PolicyEngine(root)
    versions = {m.relpath: (m.package, m.rego_version) for m in engine.modules}
    assert versions == {"a.rego": ("company.all", "v1"),
                        "legacy/pii_export.rego": ("governance", "v0")}
    # The v0 package evaluates (it does not vote: it defines neither allow nor deny).
    assert [p.name for p in engine.packages] == ["company.all"]
    assert engine.decide(read_op()).allowed


def test_bundle_accepts_the_seed_v0_examples_verbatim() -> None:
    engine = PolicyEngine(SEED)
    versions = {m.relpath: m.rego_version for m in engine.modules}
    assert versions == {"data_export.rego": "v0", "marketing_domain.rego": "v0"}
    assert [p.name for p in engine.packages] == ["governance.export"]
    assert engine.packages[0].metadata["id"] == "P-2024-001"


def test_bundle_seed_policy_as_code_snippet_is_rejected_with_its_position(write_bundle) -> None:
    # The seed's first snippet chains a second body onto a partial set rule and uses an
    # undefined `approved_paths`; regorus rejects the chain. The error points at it.
    text = (SEED / "pii_export.rego.txt").read_text(encoding="utf-8")
    root = write_bundle({"pii_export.rego": text})
    with pytest.raises(PolicyError) as info:
        PolicyEngine(root)
    assert (info.value.line, info.value.column) == (21, 3)
    assert "Parsed as Rego v0 because Rego v1 parsing failed at line 6" in str(info.value)


def test_bundle_pragma_forces_a_version(write_bundle) -> None:
    v0 = "# lacuna: rego.v0\npackage old\ndefault allow = false\nallow { input.ok }\n"
    engine = PolicyEngine(write_bundle({"old.rego": v0}))
    assert engine.modules[0].rego_version == "v0"
    declared_v1 = "# lacuna: rego.v1\npackage old\nallow { input.ok }\n"
    with pytest.raises(PolicyError, match=r"(?s)old\.rego:3:7: .*parsed as Rego v1 as declared"):
        PolicyEngine(write_bundle({"old.rego": declared_v1}))


def test_bundle_config_rego_version_v1_rejects_v0_files(write_bundle) -> None:
    root = write_bundle({"old.rego": "package old\nallow { true }\n"})
    config = Config(policy=PolicyConfig(dir=root, rego_version="v1"))
    with pytest.raises(PolicyError, match="keyword is required"):
        PolicyEngine.from_config(config)
    assert PolicyEngine.from_config(Config(policy=PolicyConfig(dir=root, rego_version="v0")))


def test_bundle_v0_file_with_a_real_error_reports_the_v0_position(write_bundle) -> None:
    src = "package old\nallow {\n  true\n}\nallow {\n  input.x ==\n}\n"
    with pytest.raises(PolicyError) as info:
        PolicyEngine(write_bundle({"old.rego": src}))
    # regorus's v0 parser points at the body of the rule that fails to parse.
    assert (info.value.line, info.value.column) == (5, 7)
    assert "Parsed as Rego v0" in str(info.value)


def test_bundle_compile_error_surfaces_at_load(write_bundle) -> None:
    src = "package unsafe\n\nimport rego.v1\n\nallow if {\n  x\n}\n"
    with pytest.raises(PolicyError) as info:
        PolicyEngine(write_bundle({"unsafe.rego": src}))
    assert (info.value.line, info.value.column) == (6, 3)
    assert "unsafe" in str(info.value)
    assert "does not compile" in str(info.value)


def test_bundle_data_files_sit_at_their_folder_path(write_bundle) -> None:
    policy = """package company.limits

import rego.v1

allow if input.rows <= data.company.limits.max_rows
deny contains "too many" if input.rows > data.company.max_total
"""
    root = write_bundle({
        "company/limits/policy.rego": policy,
        "company/limits/data.json": '{"max_rows": 10}',
        "company/data.yaml": "max_total: 100\n",
    })
    engine = PolicyEngine(root)
    assert engine.evaluate({"action": "export", "rows": 5}).allowed
    assert not engine.evaluate({"action": "export", "rows": 50}).allowed
    assert engine.evaluate({"action": "export", "rows": 500}).reasoning == "too many"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"data.json": '{"a": 1,}'}, r"data\.json:1:9: not valid JSON"),
        ({"x/data.yaml": "a: [1,\n"}, r"data\.yaml:2:1: not valid YAML"),
        ({"data.json": "[1, 2]"}, "must hold a mapping"),
        ({"data.json": '{"a": {"b": 1}}', "a/data.json": '{"b": 2}'},
         r"data\.a\.b is already set by .*data\.json"),
        ({"bin.rego": b"\xff\xfe".decode("latin-1")}, "not UTF-8"),
    ],
)
def test_bundle_bad_data_or_file_raises(write_bundle, files, message) -> None:
    root = write_bundle({"p.rego": V1_ALLOW_ALL})
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("latin-1") if rel.endswith(".rego") else text.encode())
    with pytest.raises(PolicyError, match=message):
        PolicyEngine(root)


def test_bundle_test_files_never_affect_decisions(write_bundle) -> None:
    policy = ("package company.p\n\nimport rego.v1\n\n"
              "allow if input.action == \"read\"\n")
    sneaky = ("package company.p_test\n\nimport rego.v1\n\nallow := true\n\n"
              "test_read if data.company.p.allow with input as {\"action\": \"read\"}\n")
    engine = PolicyEngine(write_bundle({"p.rego": policy, "p_test.rego": sneaky}))
    assert [p.name for p in engine.packages] == ["company.p"]
    assert not engine.evaluate({"action": "export"}).allowed
    assert [m.relpath for m in engine.modules if m.is_test] == ["p_test.rego"]
    assert [(r.name, r.passed) for r in engine.run_tests()] == [("test_read", True)]


def test_bundle_broken_test_file_fails_at_load(write_bundle) -> None:
    root = write_bundle({"p.rego": V1_ALLOW_ALL, "p_test.rego": "package t\ntest_x if {\n"})
    with pytest.raises(PolicyError, match=r"p_test\.rego:3"):
        PolicyEngine(root)


@pytest.mark.parametrize("layout", ["missing", "empty", "only-tests"])
def test_bundle_without_policies_raises(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "policies"
    if layout != "missing":
        root.mkdir()
    if layout == "only-tests":
        (root / "a_test.rego").write_text("package a_test\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="policy folder"):
        PolicyEngine(root)


def test_bundle_revision_is_a_content_hash(write_bundle, tmp_path: Path) -> None:
    root = write_bundle({"p.rego": V1_ALLOW_ALL})
    copy = tmp_path / "elsewhere"
    shutil.copytree(root, copy)
    assert PolicyEngine(root).revision == PolicyEngine(copy).revision
    (copy / "p.rego").write_text(V1_ALLOW_ALL + "\n# changed\n", encoding="utf-8")
    assert PolicyEngine(root).revision != PolicyEngine(copy).revision
    assert len(PolicyEngine(root).revision) == 16


@pytest.mark.parametrize(
    ("metadata", "message"),
    [('"P-1"', "metadata of package company.m is a str"),
     ('{"actions": "export"}', "metadata.actions of package company.m must be a list")],
)
def test_bundle_malformed_metadata_raises(write_bundle, metadata, message) -> None:
    src = f"package company.m\n\nimport rego.v1\n\nmetadata := {metadata}\n\nallow := true\n"
    with pytest.raises(PolicyError, match=message):
        PolicyEngine(write_bundle({"m.rego": src}))


def test_bundle_default_is_shipped_as_package_data() -> None:
    engine = PolicyEngine.from_config(Config())
    assert [p.name for p in engine.packages] == ["governance.baseline", "governance.export"]
    assert {m.relpath for m in engine.modules} >= {
        "governance/export.rego", "governance/export_alternatives.rego",
        "governance/baseline.rego", "governance/export_test.rego",
    }
    assert all(m.rego_version == "v1" for m in engine.modules)
    assert engine.packages[1].ref().compliance == ("GDPR", "CCPA")


def test_bundle_engine_decides_from_other_threads() -> None:
    engine = PolicyEngine.from_config(Config())
    results: list[bool] = []

    def work() -> None:
        results.append(engine.decide(read_op()).allowed)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True, True]
