"""Every settings section is validated by one mechanism (lacuna.sections): an unknown key or a
bad value is one ConfigError naming the file, the line, the dotted key and what to do, whether
the section is lacuna.yaml's own or owned by another module (dbt, retention, governance, the
classification cascade) or the server's settings file."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

from lacuna.config import load_config
from lacuna.errors import ConfigError
from lacuna.sections import Origin, Section, validate_section

CASES = [
    # (yaml, line of the bad key, the line that must be said, docs page)
    ("mode: warn\nclassification:\n  k_anonymty: 3\n", 3,
     "classification.k_anonymty: unknown setting; did you mean 'k_anonymity'?", "docs/config.md"),
    ("mode: warn\ndbt:\n  project_dir: x\n  projet_dir: y\n", 4,
     "dbt.projet_dir: unknown setting; did you mean 'project_dir'?", "docs/dbt.md"),
    ("retention:\n  tiers:\n    INTERNAL: {min: 1y}\n  audti: {min: 7y}\n", 4,
     "retention.audti: unknown setting; did you mean 'audit'?", "docs/retention.md"),
    ("retention:\n  datasets:\n    'a/*':\n      min: forever\n", 4,
     "retention.datasets.a/*.min: expected a duration", "docs/retention.md"),
    ("governance:\n  policies:\n    pii:\n      prodution: {action: redact}\n", 4,
     "governance.policies.pii.prodution: unknown setting; did you mean 'production'?",
     "docs/dbt.md"),
    ("classification:\n  cascade:\n    llm:\n      timeout_ms: 0\n", 4,
     "classification.cascade.llm.timeout_ms: Input should be greater than or equal to 1",
     "docs/classification.md"),
    ("classification:\n  cascade:\n    thresholds:\n      heuristc: 0.5\n", 4,
     "classification.cascade.thresholds.heuristc: unknown setting; did you mean 'heuristic'?",
     "docs/classification.md"),
]


@pytest.mark.parametrize(("text", "line", "says", "docs"), CASES,
                         ids=[c[2].split(":")[0] for c in CASES])
def test_every_section_names_file_line_key_and_fix(tmp_path: Path, text: str, line: int,
                                                   says: str, docs: str) -> None:
    path = tmp_path / "lacuna.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: invalid "), message
    assert f"  - {path}:{line}: {says}" in message, message
    title = message.split("invalid ", 1)[1].split(":", 1)[0]
    assert message.endswith(f"See {docs} for the {title}.")
    assert "<config>" not in message  # the file, not a placeholder


def test_a_valid_file_with_every_owned_section_loads(tmp_path: Path) -> None:
    path = tmp_path / "lacuna.yaml"
    path.write_text("dbt:\n  project_dir: x\n  roles: {data_owner: olga}\n"
                    "retention:\n  tiers:\n    INTERNAL: {max: 2y}\n"
                    "governance:\n  policies:\n    pii:\n      production: {action: redact}\n"
                    "classification:\n  cascade:\n    llm: {timeout_ms: 5}\n", encoding="utf-8")
    config = load_config(path)
    assert config.dbt["roles"] == {"data_owner": "olga"}
    assert config.classification.cascade == {"llm": {"timeout_ms": 5}}


def test_server_settings_file_errors_name_the_line(tmp_path: Path) -> None:
    from lacuna.server.settings import load_settings

    path = tmp_path / "server.yaml"
    path.write_text("host: 127.0.0.1\nprot: 8181\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert f"{path}:2: prot: unknown setting; did you mean 'port'?" in str(err.value)
    path.write_text("port: 8182\n", encoding="utf-8")
    assert load_settings(path, environ={}).port == 8182
    with pytest.raises(ConfigError, match="bogus: unknown setting; valid keys: host, port"):
        load_settings(environ={"LACUNA_SERVER_BOGUS": "1"})


def test_load_governance_names_the_line_in_floe_yaml(tmp_path: Path) -> None:
    from lacuna.dbt.governance import load_governance

    (tmp_path / "floe.yaml").write_text(
        "name: x\ngovernance:\n  policys: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_governance(tmp_path)
    assert (f"{tmp_path / 'floe.yaml'}:3: governance.policys: unknown setting; "
            "did you mean 'policies'?") in str(err.value)


def test_not_a_mapping_names_the_section() -> None:
    class Limits(Section):
        rows: int = 10

    with pytest.raises(ConfigError, match=r"^f.yaml:7: limits: expected a mapping of settings, "
                                          r"got list \(see docs/x.md\)$"):
        validate_section(Limits, [1], prefix=("limits",), docs="docs/x.md",
                         origin=Origin("f.yaml", {("limits",): 7}))
    assert validate_section(Limits, None).rows == 10
    assert validate_section(Limits, {"rows": 3}).rows == 3


SETTINGS_MODULES = ["lacuna.config", "lacuna.dbt.settings", "lacuna.retention.settings",
                    "lacuna.classify.settings", "lacuna.server.settings", "lacuna.dbt.governance",
                    "lacuna.dbt.gates", "lacuna.dbt.consumption"]


@pytest.mark.parametrize("name", SETTINGS_MODULES)
def test_every_settings_model_is_a_section(name: str) -> None:
    module = importlib.import_module(name)
    models = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
              if issubclass(obj, BaseModel) and obj.__module__ == name]
    assert models
    loose = [m.__name__ for m in models if not issubclass(m, Section)]
    assert not loose, f"{name}: {loose} do not derive from lacuna.sections.Section"


def test_settings_are_immutable_all_the_way_down_and_still_plain_to_write() -> None:
    import copy
    import json
    import pickle

    import orjson
    import yaml

    from lacuna.config import Config, UserConfig
    from lacuna.sections import SettingsDict, SettingsList

    config = Config(user=UserConfig(id="ana", role="analyst",
                                    attributes={"teams": ["a", {"b": [1]}], "region": "eu"}),
                    retention={"datasets": {"crm": {"max": "30d"}}})
    attributes = config.user.attributes
    assert isinstance(attributes, SettingsDict)
    assert isinstance(attributes["teams"], SettingsList)
    assert isinstance(attributes["teams"][1]["b"], SettingsList)
    for change in (lambda: attributes.__setitem__("x", 1), lambda: attributes.pop("region"),
                   lambda: attributes.update(x=1), lambda: attributes.setdefault("x", 1),
                   lambda: attributes.clear(), lambda: attributes.__delitem__("region"),
                   lambda: attributes["teams"].append("c"),
                   lambda: attributes["teams"][1]["b"].extend([2]),
                   lambda: config.retention["datasets"]["crm"].__setitem__("max", "1d"),
                   lambda: config.classification.mapping.pop("pii")):
        with pytest.raises(TypeError, match="immutable once validated"):
            change()
    assert attributes == {"teams": ["a", {"b": [1]}], "region": "eu"}
    # a copy to change is a plain one; written out, they are the dict and list they hold
    mine = dict(attributes)
    mine["x"] = 1
    assert type(config.model_dump()["user"]["attributes"]) is dict
    assert json.loads(json.dumps(attributes)) == orjson.loads(orjson.dumps(attributes))
    assert yaml.safe_load(yaml.safe_dump(attributes)) == attributes
    updated = config.model_copy(update={"governance": {"environment": "production",
                                                       "policies": {"pii": ["x"]}}})
    with pytest.raises(TypeError, match=r"immutable once validated.*lacuna\.governor\."):
        updated.governance["policies"]["pii"].append("y")
    for again in (copy.copy(config), copy.deepcopy(config), pickle.loads(pickle.dumps(config)),
                  config.model_copy(deep=True), Config.model_validate(config.model_dump())):
        assert again == config
        assert isinstance(again.user.attributes["teams"], SettingsList)
