"""Quality-gate configuration: ADR-0012's sections validated, with nearest-key errors."""

from __future__ import annotations

import pytest
import yaml

from lacuna.dbt.compile import detect_layer, load_project_gates
from lacuna.dbt.gates import (
    ESCALATION,
    LayerDetection,
    escalation_for,
    load_gates,
    normalize_tests,
)
from lacuna.dbt.manifest import DbtNode
from lacuna.errors import ConfigError

ADR_GATES = yaml.safe_load("""
minimum_test_coverage: 80
required_tests: [not_null, unique, freshness]
enforcement: strict
block_on_failure: true
layers:
  bronze: {required_tests: [not_null_pk], minimum_coverage: 50}
  silver: {required_tests: [not_null_pk, unique_pk, freshness], minimum_coverage: 80}
  gold: {required_tests: [not_null_pk, unique_pk, freshness, documentation],
         minimum_coverage: 100}
""")
ADR_QUALITY = yaml.safe_load("""
dbt_tests: {enabled: true, fail_on_warning: false}
gates:
  - name: staging_completeness
    scope: {tags: [staging]}
    checks:
      - {type: row_count, min: 1}
      - {type: null_percentage, columns: ["*_id"], max: 0}
    on_failure: block
  - name: gold_freshness
    scope: {layer: gold}
    checks:
      - {type: freshness, max_age_hours: 24}
    on_failure: warn
""")


def test_gates_load_the_adr_sections_unchanged():
    gates = load_gates(ADR_GATES, ADR_QUALITY)
    qg = gates.quality_gates
    assert (qg.enforcement, qg.block_on_failure, qg.minimum_test_coverage) == ("strict", True, 80)
    assert qg.layers["gold"].required_tests == (
        "not_null_pk", "unique_pk", "freshness", "documentation")
    assert [g.name for g in gates.quality.gates] == ["staging_completeness", "gold_freshness"]
    assert gates.quality.gates[0].checks[1].columns == ("*_id",)
    assert gates.quality.gates[1].checks[0].max_age_hours == 24
    # 1 global rule + 3 layers + 2 gates
    assert gates.rules_loaded == 1 + len(ADR_GATES["layers"]) + len(ADR_QUALITY["gates"])


@pytest.mark.parametrize(("gates", "quality", "path", "nearest"), [
    ({"minimum_test_coverag": 80}, None, "governance.quality_gates.minimum_test_coverag",
     "minimum_test_coverage"),
    ({"layers": {"gold": {"minimum_coverag": 3}}}, None,
     "governance.quality_gates.layers.gold.minimum_coverag", "minimum_coverage"),
    ({"layers": {"gould": {}}}, None, "governance.quality_gates.layers.gould", "gold"),
    (None, {"gates": [{"name": "g", "checks": [{"type": "freshness", "max_age_hour": 3}]}]},
     "quality.gates[0].checks[0].max_age_hour", "max_age_hours"),
    (None, {"gates": [{"name": "g", "checks": [{"type": "fresh"}]}]},
     "quality.gates[0].checks[0].type", "freshness"),
    (None, {"gates": [{"name": "g", "scop": {}}]}, "quality.gates[0].scop", "scope"),
])
def test_gates_unknown_key_names_path_and_nearest_key(gates, quality, path, nearest):
    with pytest.raises(ConfigError) as info:
        load_gates(gates, quality, where="floe.yaml")
    message = str(info.value)
    assert message.startswith("floe.yaml: invalid quality gates:")
    assert f"\n  - floe.yaml: {path}: " in message
    assert f"'{nearest}'" in message


@pytest.mark.parametrize(("raw", "problem"), [
    ({"enforcement": "strictest"}, "enforcement"),
    ({"minimum_test_coverage": 120}, "less than or equal to 100"),
    ({"layers": {"gold": {"minimum_coverage": -1}}}, "greater than or equal to 0"),
])
def test_gates_bad_values_are_config_errors(raw, problem):
    with pytest.raises(ConfigError, match=problem):
        load_gates(raw, None)


def test_gates_normalize_pk_aliases_and_all():
    assert normalize_tests(["not_null", "unique", "all", "accepted_values"]) == (
        "not_null_pk", "unique_pk", "freshness", "documentation", "accepted_values")


@pytest.mark.parametrize(("levels", "expected"), [
    (["public"], "public"),
    (["identifier", "public"], "internal"),
    (["financial"], "confidential"),
    (["PROPRIETARY"], "confidential"),
    (["critical"], "confidential"),
    (["financial", "pii"], "pii"),
    (["pii", "phi"], "phi"),
    (["PII"], "pii"),
])
def test_gates_escalation_takes_the_most_demanding_row(levels, expected):
    level, minimum, tests = escalation_for(levels)
    assert (level, minimum, tests) == (expected, *ESCALATION[expected])


def test_gates_escalation_of_nothing_is_nothing():
    assert escalation_for(["CUSTOMER_DATA"]) == (None, 0.0, ())


def _node(name: str, *, folder: str = "", tags: tuple[str, ...] = (),
          meta: dict[str, object] | None = None) -> DbtNode:
    return DbtNode(unique_id=f"model.p.{name}", name=name, resource_type="model",
                   package_name="p", path=f"{folder}/{name}.sql",
                   original_file_path=f"models/{folder}/{name}.sql", folder=folder, tags=tags,
                   meta=meta or {})


@pytest.mark.parametrize(("node", "layer"), [
    (_node("stg_orders"), "bronze"),
    (_node("int_orders"), "silver"),
    (_node("mart_revenue"), "gold"),
    (_node("bronze_x"), "bronze"),
    (_node("orders", folder="marts/finance"), "gold"),
    (_node("orders", tags=("silver",)), "silver"),
    (_node("stg_orders", meta={"layer": "gold"}), "gold"),  # config.meta wins over the prefix
    (_node("stg_orders", meta={"floe": {"layer": "silver"}}), "silver"),
    (_node("orders"), None),
])
def test_gates_layer_detection_order(node, layer):
    assert detect_layer(node, LayerDetection()) == layer


def test_gates_layer_detection_is_configurable():
    detection = LayerDetection(prefixes={"gold": ("rpt_",)}, folders={}, tags=False)
    assert detect_layer(_node("rpt_sales", tags=("bronze",)), detection) == "gold"
    assert detect_layer(_node("stg_sales"), detection) is None


def test_gates_project_files_floe_and_lacuna_at_their_strictest(tmp_path):
    (tmp_path / "lacuna.yaml").write_text("quality_gates: {enforcement: warn}\n")
    gates, source = load_project_gates(tmp_path)
    assert (gates.quality_gates.enforcement, source) == ("warn", str(tmp_path / "lacuna.yaml"))
    (tmp_path / "floe.yaml").write_text(
        "governance:\n  quality_gates: {enforcement: strict}\n"
        "quality:\n  gates: [{name: g, checks: [{type: row_count, min: 1}]}]\n")
    gates, source = load_project_gates(tmp_path)
    assert (gates.quality_gates.enforcement, source) == (
        "strict", f"{tmp_path / 'floe.yaml'}, {tmp_path / 'lacuna.yaml'}")
    assert len(gates.quality.gates) == 1
    (tmp_path / "floe.yaml").write_text("governance:\n  quality_gates: {enforcement: 'off'}\n")
    (tmp_path / "lacuna.yaml").write_text("quality_gates: {enforcement: strict}\n")
    assert load_project_gates(tmp_path)[0].quality_gates.enforcement == "strict"


def test_gates_project_file_error_names_the_file(tmp_path):
    (tmp_path / "floe.yaml").write_text("governance:\n  quality_gates: {enforcment: strict}\n")
    with pytest.raises(ConfigError, match=r"floe\.yaml: governance\.quality_gates\.enforcment: "
                                          r"unknown setting; did you mean 'enforcement'"):
        load_project_gates(tmp_path)


def test_gates_in_lacuna_yaml_under_governance_load_for_compile_and_for_lacuna(tmp_path):
    """docs/dbt.md: in lacuna.yaml the ADR's quality_gates and quality sit under governance:
    (its top level is Lacuna's); both forms are read by compile, and the file stays a valid
    lacuna.yaml for every other command (governance.quality was an unknown setting)."""
    from lacuna.config import load_config

    path = tmp_path / "lacuna.yaml"
    path.write_text(
        "governance:\n"
        "  quality_gates: {enforcement: strict, minimum_test_coverage: 80}\n"
        "  quality:\n"
        "    gates:\n"
        "      - name: gold_freshness\n"
        "        scope: {layer: gold}\n"
        "        checks: [{type: freshness, max_age_hours: 24}]\n"
        "        on_failure: warn\n")
    gates, source = load_project_gates(tmp_path)
    assert source == str(path)
    assert gates.quality_gates.enforcement == "strict"
    assert [g.name for g in gates.quality.gates] == ["gold_freshness"]
    assert load_config(path).governance["quality"]["gates"][0]["name"] == "gold_freshness"
    path.write_text("quality:\n  gates: []\n")  # the floe.yaml form is not lacuna.yaml's
    with pytest.raises(ConfigError, match="quality: unknown setting"):
        load_config(path)


def test_gates_platform_quality_gates_kept_beside_project_quality_section(tmp_path):
    """ADR-0012's own layout: the platform team's `governance.quality_gates` in manifest.yaml,
    the project's `quality:` gates in floe.yaml. The first file with either section was taken
    whole, so floe.yaml's `quality:` hid the platform's strict minimums (defaults: warn, 0 %)."""
    (tmp_path / "manifest.yaml").write_text(
        "governance:\n  quality_gates: {enforcement: strict, minimum_test_coverage: 80}\n")
    (tmp_path / "floe.yaml").write_text(
        "quality:\n  gates: [{name: g, scope: {layer: gold}, "
        "checks: [{type: row_count, min: 1}]}]\n")
    gates, source = load_project_gates(tmp_path)
    assert gates.quality_gates.enforcement == "strict"
    assert gates.quality_gates.minimum_test_coverage == 80
    assert [g.name for g in gates.quality.gates] == ["g"]
    assert "manifest.yaml" in source
    assert "floe.yaml" in source


def test_gates_project_file_cannot_lower_the_platform_minimums(tmp_path):
    """The platform's quality_gates are minimums: a project file's own quality_gates may
    raise them, never lower them (floe.yaml's `enforcement: off` undid manifest.yaml's strict)."""
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"governance": {
        "quality_gates": ADR_GATES}}))
    (tmp_path / "floe.yaml").write_text(yaml.safe_dump({"governance": {"quality_gates": {
        "enforcement": "off", "block_on_failure": False, "minimum_test_coverage": 90,
        "required_tests": ["documentation"], "classification_escalation": False,
        "layers": {"gold": {"required_tests": ["not_null_pk"], "minimum_coverage": 10},
                   "bronze": {"required_tests": ["documentation"]}}}}}))
    qg = load_project_gates(tmp_path)[0].quality_gates
    assert (qg.enforcement, qg.block_on_failure, qg.classification_escalation) == (
        "strict", True, True)
    assert qg.minimum_test_coverage == 90  # raised by the project
    assert set(qg.required_tests) == {"not_null", "unique", "freshness", "documentation"}
    gold = ADR_GATES["layers"]["gold"]
    assert qg.layers["gold"].minimum_coverage == gold["minimum_coverage"]
    assert set(qg.layers["gold"].required_tests) == set(gold["required_tests"])
    assert set(qg.layers["bronze"].required_tests) == {"not_null_pk", "documentation"}
    assert qg.layers["bronze"].minimum_coverage == ADR_GATES["layers"]["bronze"][
        "minimum_coverage"]
    assert set(qg.layers) == set(ADR_GATES["layers"])


def test_gates_config_option_is_read_alone(tmp_path):
    """--config names the one file to read: the project's files are not merged in."""
    (tmp_path / "floe.yaml").write_text("governance:\n  quality_gates: {enforcement: strict}\n")
    other = tmp_path / "other.yaml"
    other.write_text("governance:\n  quality_gates: {enforcement: warn}\n")
    gates, source = load_project_gates(tmp_path, other)
    assert (gates.quality_gates.enforcement, source) == ("warn", str(other))


def test_gates_a_file_counts_only_for_its_own_sections(tmp_path):
    """floe.yaml with quality: alone brings no quality_gates defaults into the merge: the
    platform's own block_on_failure: false and classification_escalation: false stand."""
    (tmp_path / "manifest.yaml").write_text(
        "governance:\n  quality_gates: {enforcement: strict, block_on_failure: false,\n"
        "    classification_escalation: false}\n"
        "quality:\n  dbt_tests: {enabled: false}\n")
    (tmp_path / "floe.yaml").write_text(
        "quality:\n  dbt_tests: {fail_on_warning: true}\n")
    gates = load_project_gates(tmp_path)[0]
    qg = gates.quality_gates
    assert (qg.enforcement, qg.block_on_failure, qg.classification_escalation) == (
        "strict", False, False)
    assert (gates.quality.dbt_tests.enabled, gates.quality.dbt_tests.fail_on_warning) == (
        True, True)
