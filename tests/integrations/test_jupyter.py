"""``%load_ext lacuna`` in a real IPython shell."""

from __future__ import annotations

import pytest

IPython = pytest.importorskip("IPython", reason="IPython is part of the dev extra")
from IPython.core.error import UsageError  # noqa: E402 - after the skip


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    shell.run_line_magic("unload_ext", "lacuna")
    InteractiveShell.clear_instance()


def test_load_ext_governs_pandas_and_magics_configure(shell, sandbox, capsys):
    import lacuna

    shell.run_line_magic("load_ext", "lacuna")
    assert lacuna.enabled()
    with pytest.raises(UsageError, match=r"holds no \.rego policy files"):  # said at once
        shell.run_line_magic("lacuna", f"config --policy-dir {sandbox}")
    policies = sandbox / "policies"
    policies.mkdir()
    (policies / "base.rego").write_text("package governance.base\nimport rego.v1\n"
                                        "allow := true\n")
    shell.run_line_magic(
        "lacuna", f"config --user bob --role data_analyst --mode warn --policy-dir {policies}"
    )
    out = capsys.readouterr().out
    assert "user:        bob (role data_analyst" in out
    assert f"policies:    {policies}" in out
    assert "config file: (none: settings given in code or by %lacuna config)" in out
    shell.run_line_magic("lacuna", "status")
    assert "Lacuna: ON (mode warn)" in capsys.readouterr().out
    shell.run_line_magic("lacuna", "off")
    assert not lacuna.enabled()


@pytest.mark.parametrize(("yaml", "says"), [
    ("mode: enforce\nclassification:\n  k_anonymty: 5\n", r"lacuna.yaml:3: .*k_anonymty"),
    ("policy: {dir: p/}\n", r"broken.rego:5:1: expecting expression"),
], ids=["typo", "broken-rego"])
def test_load_ext_under_a_broken_lacuna_yaml_says_so_in_one_line(shell, sandbox, yaml, says):
    """%load_ext lacuna reads lacuna.yaml and compiles its bundle: a mistake is IPython's
    one-line UsageError naming the file and line (it loaded silently, then every read was
    denied); once lacuna.yaml is fixed, loading again reads it again."""
    import lacuna

    (sandbox / "p").mkdir()
    (sandbox / "p" / "broken.rego").write_text("package governance.x\nimport rego.v1\n"
                                               "allow if {\n  input.x ==\n}\n")
    (sandbox / "lacuna.yaml").write_text(yaml)
    with pytest.raises(UsageError, match=says) as err:
        shell.run_line_magic("load_ext", "lacuna")
    assert "%load_ext lacuna again" in str(err.value)
    assert not lacuna.enabled()
    (sandbox / "lacuna.yaml").write_text("mode: warn\n")  # fixed: loads and governs
    shell.run_line_magic("load_ext", "lacuna")
    assert lacuna.enabled()
    from lacuna.governor import current

    assert current().config.mode == "warn"


def test_violation_in_a_cell_shows_the_learning_moment(shell, sandbox, sandbox_config, capsys):
    import lacuna

    shell.run_line_magic("load_ext", "lacuna")
    lacuna.enable(sandbox_config())
    shell.run_cell(
        "import pandas as pd\ndf = pd.read_csv('customers.csv')\n"
        f"df.to_csv(r'{sandbox / 'Downloads' / 'x.csv'}')"
    )
    out = capsys.readouterr().out
    assert "Governance Policy Violation" in out
    assert "Traceback" not in out
    assert not (sandbox / "Downloads" / "x.csv").exists()


def test_policy_server_option_as_in_the_seed(shell, capsys):
    shell.run_line_magic("load_ext", "lacuna")
    shell.run_line_magic("lacuna", "config --policy-server http://127.0.0.1:8181")
    assert "policies:    OPA server http://127.0.0.1:8181" in capsys.readouterr().out
    from lacuna.governor import current

    assert current().config.policy.server.url == "http://127.0.0.1:8181"


def test_bad_magic_arguments_say_how_to_fix(shell):
    from lacuna.errors import LacunaError
    from lacuna.integrations.jupyter import lacuna_magic

    with pytest.raises(LacunaError, match="%lacuna config --help"):
        lacuna_magic("config --mode loud")


@pytest.mark.parametrize(("line", "says"), [
    ("confg", "invalid choice: 'confg'"),
    ("config --policy-dir no-such-folder/", "is not a folder"),
])
def test_bad_magic_in_a_cell_is_one_line_not_a_traceback(shell, capsys, line, says):
    import lacuna

    shell.run_line_magic("load_ext", "lacuna")
    before = lacuna.governor.current().config
    shell.run_cell(f"%lacuna {line}")
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "UsageError" in shown
    assert says in shown
    assert "Traceback" not in shown
    assert lacuna.governor.current().config == before  # nothing half-applied
