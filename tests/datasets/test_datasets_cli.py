"""``lacuna datasets`` end to end, and two processes reading a dataset whose source changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lacuna.cli import app

STEWARD = "steward@example.com"


def write_config(sandbox: Path) -> Path:
    from lacuna.config import Config

    has_stewards = "stewards" in Config.model_fields  # branch `exceptions`
    stewards = f'stewards: {{default: ["{STEWARD}"]}}\n' if has_stewards else ""
    path = sandbox / "lacuna.yaml"
    path.write_text(textwrap.dedent(f"""\
        user: {{id: analyst_alice, role: data_analyst}}
        audit: {{url: "sqlite:///{sandbox / 'audit.db'}"}}
        destinations:
          governed: ["{sandbox / 'governed' / 'workspace'}/"]
        """) + stewards)
    return path


def lacuna_cli(sandbox: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200",
           "LACUNA_CONFIG": str(sandbox / "lacuna.yaml")}
    return subprocess.run([sys.executable, "-m", "lacuna", "datasets", *args], cwd=sandbox,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def cli(sandbox, monkeypatch):
    """The CLI in this process (a subprocess costs seconds of imports)."""
    monkeypatch.setenv("LACUNA_CONFIG", str(write_config(sandbox)))
    runner = CliRunner()

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        result = runner.invoke(app, ["datasets", *args], env={"COLUMNS": "200"})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.output)

    return invoke


def test_register_list_show_refresh(cli):
    lacuna_cli = lambda _sandbox, *args: cli(*args)  # noqa: E731 - same call shape below
    sandbox = None
    done = lacuna_cli(sandbox, "register", "customers_anonymized", "customers.csv",
                      "--approved-by", STEWARD, "--refresh", "0 3 * * *")
    assert done.returncode == 0, done.stderr
    assert 'lacuna.datasets.get("customers_anonymized")' in done.stdout
    listed = lacuna_cli(sandbox, "list", "--json")
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["name"] == "customers_anonymized"
    assert entry["refresh"] == "0 3 * * *"  # a schedule is stored for a scheduler
    assert entry["classification"]["tier"] == "PUBLIC"
    shown = lacuna_cli(sandbox, "show", "customers_anonymized")
    assert f"approved by:    {STEWARD}" in shown.stdout
    assert "classification: PUBLIC (ANONYMIZED)" in shown.stdout
    refreshed = lacuna_cli(sandbox, "refresh", "customers_anonymized")
    assert refreshed.returncode == 0
    assert "Rebuilt customers_anonymized: 60 rows, PUBLIC" in (
        refreshed.stdout)


def test_list_and_show_say_a_class_was_decided_under_other_settings(sandbox, cli):
    """``list`` and ``show`` print the stored class; after a steward changed the classification
    settings (k_anonymity) they showed the build's PUBLIC as if current, until the next get
    rebuilt it. They say so now, and how to rebuild."""
    import lacuna

    assert cli("register", "c", "customers.csv", "--approved-by", STEWARD).returncode == 0
    assert json.loads(cli("list", "--json").stdout)["built_under_other_settings"] is False
    assert "other settings" not in cli("list").stdout
    config = sandbox / "lacuna.yaml"
    config.write_text(config.read_text(encoding="utf-8")
                      + "classification: {k_anonymity: 500}\n", encoding="utf-8")
    listed = cli("list")
    assert "PUBLIC (built under other settings)" in listed.stdout
    assert "lacuna datasets refresh c" in listed.stdout
    assert json.loads(cli("list", "--json").stdout)["built_under_other_settings"] is True
    shown = cli("show", "c")
    assert "classification: PUBLIC (ANONYMIZED) (built under other settings)" in shown.stdout
    assert "The next get rebuilds it" in shown.stdout
    assert json.loads(cli("show", "c", "--json").stdout)["built_under_other_settings"] is True
    built = json.loads(cli("show", "c", "--json").stdout)["built_at"]
    lacuna.governor.configure()  # the new lacuna.yaml: the get rebuilds it under k=500
    assert lacuna.datasets.get("c") is not None
    rebuilt = json.loads(cli("show", "c", "--json").stdout)
    assert rebuilt["built_under_other_settings"] is False
    assert rebuilt["built_at"] > built
    assert "other settings" not in cli("list").stdout


def test_errors_are_one_line_and_exit_2(sandbox, cli):
    from lacuna.datasets import DatasetNotApproved

    missing = lacuna_cli(sandbox, "show", "nope")  # a real process: main() turns errors to 2
    assert missing.returncode == 2
    assert "no registered dataset 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
    with pytest.raises(DatasetNotApproved, match="cannot approve a dataset"):
        cli("register", "x", "customers.csv", "--approved-by", "analyst_alice")
    bad = cli("register", "x", "customers.csv", "--approved-by", STEWARD, "--column", "email")
    assert bad.returncode == 2
    assert "COLUMN=STRATEGY, COLUMN=drop or COLUMN=keep" in bad.stderr  # keep was not said


READER = """
import sys, lacuna
lacuna.enable()
df = lacuna.datasets.get("c")
print(len(df), sorted(set(df["region"]))[:1])
"""


def test_two_processes_read_while_the_source_changed(sandbox, cli):
    assert cli("register", "c", "customers.csv", "--approved-by", STEWARD).returncode == 0
    raw = pd.read_csv(sandbox / "customers.csv")
    raw.head(7).to_csv(sandbox / "customers.csv", index=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "LACUNA_CONFIG": str(sandbox / "lacuna.yaml")}
    procs = [subprocess.Popen([sys.executable, "-c", READER], cwd=sandbox, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs  # stdout and stderr of each
    assert all(out.split()[0] == "7" for out, _ in outs)
    shown = json.loads(cli("show", "c", "--json").stdout)
    assert shown["rows"] == 7
    assert not any(p.name.endswith(".tmp") for p in (sandbox / "governed" / "workspace" /
                                                      "datasets").iterdir())
