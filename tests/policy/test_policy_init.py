"""``lacuna policy init``: a new policy folder from a shipped bundle, ready to edit and test."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.cli.policy import app

runner = CliRunner()


@pytest.mark.parametrize("bundle", ["@default", "@seed"])
def test_init_copies_a_bundle_whose_tests_pass(tmp_path: Path, bundle: str) -> None:
    target = tmp_path / "policies"
    made = runner.invoke(app, ["init", str(target), "--from", bundle])
    assert made.exit_code == 0, made.output
    assert list(target.rglob("*.rego"))
    assert f"policy: {{dir: {target}}}" in made.output
    tested = runner.invoke(app, ["test", str(target)])
    assert tested.exit_code == 0, tested.output
    assert "PASS" in tested.output


def test_the_copy_governs_like_the_default(tmp_path: Path, sandbox_config) -> None:
    target = tmp_path / "policies"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    lacuna.enable(sandbox_config(policy={"dir": str(target)}))
    import pandas as pd

    customers = pd.read_csv("customers.csv")
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_csv(tmp_path / "Downloads" / "c.csv")
    assert not (tmp_path / "Downloads" / "c.csv").exists()


def test_init_refuses_a_non_empty_folder_and_keeps_its_files(tmp_path: Path) -> None:
    target = tmp_path / "policies"
    target.mkdir()
    (target / "mine.rego").write_text("package mine\n")
    refused = runner.invoke(app, ["init", str(target)])
    assert refused.exit_code == 2
    assert "not empty" in refused.output
    assert "--force" in refused.output
    assert [p.name for p in target.iterdir()] == ["mine.rego"]
    forced = runner.invoke(app, ["init", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (target / "mine.rego").read_text() == "package mine\n"


def test_init_unknown_bundle_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "p"), "--from", "@nope"])
    assert result.exit_code == 2
    assert "@default" in result.output
    assert not (tmp_path / "p").exists()
