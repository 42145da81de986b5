from __future__ import annotations

from pathlib import Path

import pytest

from lacuna.config import Config, load_config
from lacuna.errors import ConfigError
from lacuna.model import Tier


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_file():
    config = load_config()
    assert config.mode == "enforce"
    assert config.environment == "development"
    assert config.classification.k_anonymity == 5
    assert config.source is None


def test_lacuna_yaml_in_cwd_is_found(tmp_path):
    write(tmp_path / "lacuna.yaml", "mode: warn\nuser: {id: alice, role: data_analyst}\n")
    config = load_config()
    assert (config.mode, config.user.id, config.user.role) == ("warn", "alice", "data_analyst")
    assert config.source.endswith("lacuna.yaml")


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    path = write(tmp_path / "lacuna.yaml", "mode: warn\nuser:\n  id: [alice\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:" in str(err.value)
    assert "not valid YAML" in str(err.value)
    assert ":4:" in str(err.value) or ":3:" in str(err.value)


def test_unknown_key_is_reported_with_its_location(tmp_path):
    path = write(tmp_path / "lacuna.yaml", "classification:\n  k_anonymty: 3\n")
    with pytest.raises(ConfigError, match=r"classification\.k_anonymty: unknown setting"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mode: loud\n", "mode"),
        ("environment: prod\n", "unknown environment 'prod'"),
        ("user: {clearance: TOP_SECRET}\n", "unknown tier 'TOP_SECRET'"),
        ("classification: {k_anonymity: 0}\n", "k_anonymity"),
        # the analyst owns the file: k=1 would make every aggregate and generalisation anonymous
        ("classification: {k_anonymity: 1}\n", "group of one person anonymous.*at least 2"),
        ("classification: {mapping: {secret: {tier: PUBLIC}}}\n", "unknown column classification"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_invalid_values_fail_clearly(tmp_path, text, expected):
    path = write(tmp_path / "lacuna.yaml", text)
    with pytest.raises(ConfigError, match=expected) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_policy_dir_resolves_relative_to_the_file_and_must_exist(tmp_path):
    (tmp_path / "conf" / "policies").mkdir(parents=True)
    path = write(tmp_path / "conf" / "lacuna.yaml", "policy: {dir: policies}\n")
    assert load_config(path).policy.dir == tmp_path / "conf" / "policies"
    bad = write(tmp_path / "bad.yaml", "policy: {dir: nowhere}\n")
    with pytest.raises(ConfigError, match="is not a folder"):
        load_config(bad)


def test_missing_explicit_file_and_bad_env_var(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist") as missing:
        load_config(tmp_path / "nope.yaml")
    # the fix for a caller in Python too (it said only "drop the --config option")
    assert "lacuna.enable" in str(missing.value)
    assert "--config" in str(missing.value)
    (tmp_path / "proj").mkdir()  # a folder was said not to exist
    with pytest.raises(ConfigError, match="is a folder, not a file: name the lacuna"):
        load_config(tmp_path / "proj")
    (tmp_path / "proj" / "lacuna.yaml").write_text("mode: warn\n")
    assert load_config(tmp_path / "proj" / "lacuna.yaml").mode == "warn"
    monkeypatch.setenv("LACUNA_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="LACUNA_CONFIG"):
        load_config()


def test_partial_mapping_overrides_only_what_it_names():
    config = Config.model_validate(
        {"classification": {"mapping": {"identifier": {"tier": "PUBLIC"}}}}
    )
    assert config.classification.mapping["identifier"].tier is Tier.PUBLIC
    assert config.classification.mapping["pii"].tier is Tier.PROPRIETARY


def test_sensitive_terms_accept_plain_strings():
    config = Config.model_validate({"classification": {"sensitive_terms": ["falcon"]}})
    assert config.classification.sensitive_terms[0].term == "falcon"
    assert config.classification.sensitive_terms[0].tier is Tier.PROPRIETARY


def test_floe_yaml_governance_section_is_accepted(tmp_path):
    write(
        tmp_path / "floe.yaml",
        "name: shop\ngovernance:\n  classification:\n    source: dbt_meta\n"
        "  lacuna:\n    environment: production\n",
    )
    config = load_config()
    assert config.classification.source == "dbt_meta"
    assert config.environment == "production"


def test_config_is_frozen():
    with pytest.raises(Exception, match="frozen"):
        Config().mode = "warn"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ("mode: warn\nenvironment: Production\n", 2, "environment", "unknown environment"),
        ("user:\n  id: a\n  clearance: SECRET\n", 3, "user.clearance", "unknown tier 'SECRET'"),
        ("classification:\n  path_rules:\n    - {pattern: '*/v/*', tier: SECRET}\n", 3,
         "classification.path_rules.0.tier", "unknown tier"),
        ("classification:\n  sensitive_terms:\n    - {term: falcon, tier: top}\n", 3,
         "classification.sensitive_terms.0.tier", "unknown tier 'top'"),
        ("classification:\n  mapping:\n    piii: {tier: PROPRIETARY}\n", 2,
         "classification.mapping", "unknown column classification 'piii'"),
        ("retention:\n  unclassified_tier: SECRET\n", 2, "retention.unclassified_tier",
         "unknown tier"),
        ("retention:\n  tiers:\n    SECRET: {min: 1y}\n", 2, "retention.tiers", "unknown tier"),
    ],
)
def test_a_bad_tier_environment_or_class_names_its_line_and_key(tmp_path, text, line, key,
                                                                 says):
    """docs/config.md: every configuration problem names the file, the line and the key (an
    unknown tier or environment named neither)."""
    path = write(tmp_path / "lacuna.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}:{line}: {key}: {says}" in str(err.value)


def test_a_single_value_where_a_list_belongs_says_list(tmp_path):
    path = write(tmp_path / "lacuna.yaml", "destinations:\n  governed: /gov\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert (f"{path}:2: destinations.governed: expected a list (e.g. [a, b]; one item: [a]), "
            "got '/gov'") in str(err.value)
    assert "valid tuple" not in str(err.value)
    path.write_text("destinations:\n  governed: [/gov]\n")  # the fix it names is accepted
    assert load_config(path).destinations.governed == ("/gov",)


def test_an_empty_decision_log_section_keeps_logging_only_none_turns_it_off(tmp_path):
    from lacuna.policy.factory import decision_log_from_config
    from lacuna.policy.log_sinks import SqlDecisionLog

    path = tmp_path / "lacuna.yaml"
    audit = f"audit:\n  url: sqlite:///{tmp_path / 'state.db'}\n"
    # every line under decision_log: commented out is YAML null, not "off"
    path.write_text(audit + "policy:\n  decision_log:\n  #  type: http\n", encoding="utf-8")
    config = load_config(path)
    assert config.policy.decision_log is not None
    assert config.policy.decision_log.type == "sql"
    sink = decision_log_from_config(config)
    assert isinstance(sink, SqlDecisionLog)
    sink.close()
    path.write_text(audit + "policy:\n  decision_log:\n    type: none\n", encoding="utf-8")
    assert decision_log_from_config(load_config(path)) is None  # the one way to turn it off
    path.write_text(audit + "policy:\n  decision_log: {type: sql, batch_size: 7}\n",
                    encoding="utf-8")
    assert load_config(path).policy.decision_log.batch_size == 7
