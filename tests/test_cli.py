from __future__ import annotations

import json
import re
import shutil
from importlib import resources

import pytest
from typer.testing import CliRunner

from lacuna.cli import app

runner = CliRunner()


@pytest.fixture
def data(tmp_path):
    for name in ("customers.csv", "sales.csv"):
        shutil.copy(resources.files("lacuna") / "data" / name, tmp_path / name)
    return tmp_path


def test_classify_table_and_json(data):
    result = runner.invoke(app, ["classify", "customers.csv"])
    assert result.exit_code == 0, result.output
    assert "PROPRIETARY" in result.output
    assert "email" in result.output
    result = runner.invoke(app, ["classify", "customers.csv", "--json"])
    payload = json.loads(result.output)
    assert payload["tier"] == "PROPRIETARY"
    assert payload["columns"]["email"]["pii_type"] == "email"
    result = runner.invoke(app, ["classify", "customers.csv", "sales.csv", "--json"])
    assert set(json.loads(result.output)) == {"customers.csv", "sales.csv"}


def test_version_prints_what_a_bug_report_asks_for():
    """A fail-closed denial says to send 'the output of `lacuna --version`': it was 'No such
    option: --version' (exit 2)."""
    from lacuna.governor import REPORT_HINT

    assert "lacuna --version" in REPORT_HINT
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"lacuna \S+( \(not installed\))?, Python 3\.\d+\.\d+\n", result.output)
    assert runner.invoke(app, ["--help"]).output.count("--version") == 1
    assert runner.invoke(app, ["classify", "--help"]).exit_code == 0  # commands unchanged


def test_classify_explain_shows_evidence(data):
    result = runner.invoke(app, ["classify", "customers.csv", "--explain"])
    assert result.exit_code == 0
    assert "•" in result.output


def test_check_exit_codes(data):
    denied = runner.invoke(app, ["check", "customers.csv", "--to", "~/Downloads/c.csv"])
    assert denied.exit_code == 1, denied.output
    assert "P-2024-001" in denied.output
    allowed = runner.invoke(
        app, ["check", "customers.csv", "--to", "/governed/workspace/c.csv", "--json"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.output)["allowed"] is True
    internal = runner.invoke(
        app,
        [
            "check",
            "sales.csv",
            "--to",
            "~/Downloads/s.csv",
            "--user",
            "bob",
            "--role",
            "data_analyst",
            "--environment",
            "production",
        ],
    )
    assert internal.exit_code == 1


def _check_exit(monkeypatch: pytest.MonkeyPatch, to: str) -> int | str | None:
    """``lacuna check customers.csv --to <to>`` as the console script runs it (``main()``, so
    the exit code and stderr are the user's), with its exit code."""
    from lacuna.cli import main

    monkeypatch.setattr("sys.argv", ["lacuna", "check", "customers.csv", "--to", to])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code


@pytest.mark.parametrize("to", ["", "   ", "s3://", "/tmp/a\x00b.csv"])
def test_check_with_no_usable_destination_is_a_usage_error(data, to, monkeypatch, capsys):
    """Exit 2 with what is wrong with --to: not a fail-closed denial (exit 1) and a traceback."""
    code = _check_exit(monkeypatch, to)
    out = capsys.readouterr()
    assert code == 2, out
    flat = " ".join((out.out + out.err).split())
    assert "configuration error: --to" in flat
    assert "is not a destination:" in flat
    assert "Traceback" not in out.out + out.err
    assert "denied" not in flat.lower()


def test_check_does_not_write_anything(data):
    runner.invoke(app, ["check", "customers.csv", "--to", str(data / "out.csv")])
    assert not (data / "out.csv").exists()


def test_errors_exit_2_with_the_file_named(data, monkeypatch, capsys):
    (data / "lacuna.yaml").write_text("mode: [\n")
    assert _check_exit(monkeypatch, "x.csv") == 2
    assert "lacuna.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(("files", "says"), [
    ({}, "holds no .rego policy files"),
    ({"a.rego": 'package x\ndeny contains "x" if { true\n'}, "a.rego:3:1"),
])
def test_check_with_a_policy_folder_that_does_not_load_is_a_configuration_error(
        data, monkeypatch, capsys, files, says):
    """README: exit 2 for a configuration error. A broken policy.dir was a fail-closed denial
    (exit 1, a box saying 'Governance could not decide' and a traceback on stderr)."""
    (data / "policies").mkdir()
    for name, text in files.items():
        (data / "policies" / name).write_text(text)
    (data / "lacuna.yaml").write_text("policy: {dir: policies}\n")
    assert _check_exit(monkeypatch, "out.csv") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err
    assert "Traceback" not in err
    shutil.rmtree(data / "policies")  # README: lacuna policy init policies/, then it loads
    assert runner.invoke(app, ["policy", "init", "policies/"]).exit_code == 0
    allowed = runner.invoke(app, ["check", "sales.csv", "--to", "/governed/workspace/s.csv"])
    assert allowed.exit_code == 0, allowed.output


def test_unreadable_input_is_a_clear_error(data):
    from lacuna.errors import ClassificationError

    result = runner.invoke(app, ["classify", "nope.csv"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ClassificationError)
    assert "nope.csv" in str(result.exception)


def test_demo_runs_the_whole_scenario(tmp_path):
    (tmp_path / "kept").mkdir()  # --keep: an empty folder is used and kept
    result = runner.invoke(app, ["demo", "--keep", "kept"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kept" / "customers.csv").is_file()
    assert (tmp_path / "kept" / "audit.db").is_file()
    for expected in (
        "PROPRIETARY",
        "['PII', 'GDPR', 'FINANCIAL']",
        "customers.csv → analysis",
        "['FINANCIAL', 'DERIVED_FROM_PII']",
        "Governance Policy Violation",
        "File created: no",
        "intact",
        "Demo complete.",
    ):
        assert expected in result.output
    # each allowed export's outcome names the decision it completes, not a second "allowed"
    table = result.output[result.output.index("lacuna audit list"):]
    # #1: the configuration the demo runs under (its governed folder is not the default's)
    assert re.search(r"^ *1 .* configure .* configuration [0-9a-f]{16}: \d+ setting\(s\) changed",
                     table, re.MULTILINE), table
    assert re.search(r"^ *5 .* allowed .*\n *6 .* done \(#5\)", table, re.MULTILINE), table


def test_demo_keep_refuses_a_folder_with_files(tmp_path):
    """`lacuna demo --keep .` in a project folder replaced its customers.csv and sales.csv
    with the samples: a folder that holds anything is refused, nothing written."""
    (tmp_path / "customers.csv").write_text("my,own\n1,2\n")
    result = runner.invoke(app, ["demo", "--keep", "."], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "is not empty" in result.output
    assert "Choose a new or empty folder for --keep" in result.output
    assert (tmp_path / "customers.csv").read_text() == "my,own\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "customers.csv"]


def test_demo_writes_nothing_outside_its_sandbox(tmp_path):
    """Keys, caches and the audit trail all live in the demo's sandbox, which it removes."""
    import os
    import subprocess
    import sys

    home, tmp, cwd = tmp_path / "home", tmp_path / "tmp", tmp_path / "cwd"
    for folder in (home, tmp, cwd):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LACUNA_")}
    env.update(HOME=str(home), TMPDIR=str(tmp), COLUMNS="120")
    result = subprocess.run([sys.executable, "-m", "lacuna", "demo"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo complete." in result.stdout
    left = [p for folder in (home, tmp, cwd) for p in folder.rglob("*")]
    assert left == []


def test_a_configuration_error_is_printed_as_written_not_as_rich_markup(data, monkeypatch,
                                                                         capsys):
    """The message's [a, b] (and any [bracketed] text from the file) reaches the terminal."""
    (data / "lacuna.yaml").write_text("destinations:\n  governed: /gov\n")
    assert _check_exit(monkeypatch, "out.csv") == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "configuration error:" in said
    assert "expected a list (e.g. [a, b]; one item: [a])" in said
    (data / "lacuna.yaml").write_text('"[bold]mode": warn\n')  # the key as the file spells it
    assert _check_exit(monkeypatch, "out.csv") == 2
    assert "[bold]mode: unknown setting" in " ".join(capsys.readouterr().err.split())


def test_a_misspelt_shipped_bundle_names_the_shipped_ones(data):
    result = runner.invoke(app, ["policy", "test", "@sed"])
    assert result.exit_code == 2
    assert "the shipped bundles are @default and @seed" in result.output
    result = runner.invoke(app, ["policy", "check", "no-such-folder"])
    assert result.exit_code == 2
    assert "lacuna policy init DIR" in " ".join(result.output.split())
    assert runner.invoke(app, ["policy", "test", "@seed"]).exit_code == 0


@pytest.mark.parametrize("command", [["audit", "list"], ["audit", "verify"],
                                     ["lineage", "runs"], ["db", "current"]])
def test_a_postgres_url_says_postgresql_psycopg_not_a_traceback(data, command):
    option = "--url" if command[0] == "db" else "--db"
    result = runner.invoke(app, [*command, option, "postgres://ana:s3cret@127.0.0.1:1/gov"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "'postgresql+psycopg://user@host/db' (not postgres://)" in said
    assert "s3cret" not in said
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--action", "exprt", "'exprt' is not one of: read, write, export, transform"),
    ("--environment", "prod", "unknown environment 'prod'; expected one of: development"),
])
def test_check_names_the_option_a_bad_value_came_from(data, option, value, says):
    """`lacuna check --environment prod` said 'configuration error: <config>: environment'."""
    result = runner.invoke(app, ["check", "customers.csv", "--to", "out.csv", option, value])
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())
    assert f"Invalid value for '{option}': {says}" in said
    assert "<config>" not in said
    good = {"--action": "read", "--environment": "production"}[option]
    assert runner.invoke(app, ["check", "customers.csv", "--to", "out.csv", option,
                               good]).exit_code in (0, 1)  # decided, either way


def test_every_config_option_is_also_dash_c() -> None:
    """`-c lacuna.yaml` works on every command that reads one (audit and lineage lacked it)."""
    import typer

    def commands(node, path):
        for name, sub in getattr(node, "commands", {}).items():
            yield from commands(sub, [*path, name])
        yield path, node

    root = typer.main.get_command(app)
    lacking = [" ".join(path) for path, cmd in commands(root, ["lacuna"])
               for p in cmd.params if "--config" in p.opts and "-c" not in p.opts]
    assert not lacking, f"--config without -c: {lacking}"


def test_command_lists_show_each_summary_on_one_line() -> None:
    """`lacuna exceptions --help` listed 'deny  ... (a steward, or the requester' and then
    'withdrawing their own)' on a line of its own: the summary a list shows has no breaks."""
    import typer

    def groups(node, path):
        if hasattr(node, "commands"):
            yield path, node
            for name, sub in node.commands.items():
                yield from groups(sub, [*path, name])

    broken = [f"{' '.join(path)} {name}"
              for path, group in groups(typer.main.get_command(app), ["lacuna"])
              for name, cmd in group.commands.items()
              if "\n" in (cmd.short_help or cmd.help or "").strip().split("\n\n")[0]]
    assert not broken, f"summaries broken over lines in a command list: {broken}"


def test_status_finds_denials_behind_newer_denied_records(governed, capsys):
    """Outcomes of denied operations and refused exception steps are denied records too: a
    limit on the records read (not on the decisions shown) answered "No denials for ...";
    -n counts denials, as --help says."""
    import pandas as pd

    import lacuna
    from lacuna.cli.mount import status

    df = pd.DataFrame({"email": ["ann@example.com", "bob@example.org", "eve@example.net"]})
    with pytest.raises(lacuna.GovernanceViolation):
        df.to_csv("Downloads/first.csv")
    with pytest.warns(lacuna.GovernanceWarning), lacuna.governed(mode="warn"):
        df.to_csv("Downloads/second.csv")  # denied, ran: its outcome is the newest denied record
    capsys.readouterr()
    for n, names in ((1, ["second.csv"]), (2, ["second.csv", "first.csv"]),
                     (5, ["second.csv", "first.csv"])):
        status(limit=n, as_json=True)
        shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["what"]["destination"].rsplit("/", 1)[-1] for r in shown] == names
        assert all(not r["decision"]["allowed"] for r in shown)
    status(limit=1)
    text = capsys.readouterr().out
    assert "second.csv" in text
    assert "No denials" not in text
