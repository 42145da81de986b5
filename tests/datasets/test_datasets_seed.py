"""The Done-when of issue 11's registry: the pre-approved dataset just works, and the denial of
the raw export names it as an alternative with code that runs."""

from __future__ import annotations

import contextlib
import io
import textwrap

import pandas as pd
import pytest

import lacuna

STEWARD = "steward@example.com"


def run(code: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(textwrap.dedent(code), namespace)
    return out.getvalue()


def test_get_to_downloads_just_works(sandbox, home, enabled):
    enabled()
    entry = lacuna.datasets.register("customers_anonymized", "customers.csv",
                                     approved_by=STEWARD)
    assert entry.built
    assert entry.classification is not None
    assert not entry.classification.personal_columns
    lacuna.datasets.get("customers_anonymized").to_csv("~/Downloads/output.csv")
    written = pd.read_csv(home / "Downloads" / "output.csv", index_col=0)
    raw = pd.read_csv(sandbox / "customers.csv")
    assert list(written.columns) == list(raw.columns)
    assert len(written) == len(raw)
    assert not set(written["email"]) & set(raw["email"])  # the values really were replaced


def test_the_raw_export_denial_names_the_dataset_and_its_code_runs(sandbox, home, enabled):
    enabled()
    lacuna.datasets.register("customers_anonymized", "customers.csv", approved_by=STEWARD)
    namespace = {"__name__": "__user__"}
    run('import lacuna\nimport pandas as pd\ndf = pd.read_csv("customers.csv")', namespace)
    with pytest.raises(lacuna.GovernanceViolation) as err:
        run('df.to_csv("~/Downloads/output.csv")', namespace)
    assert not (home / "Downloads" / "output.csv").exists()
    first = err.value.decision.alternatives[0]
    assert "customers_anonymized" in first.title
    assert first.code == ('df_anon = lacuna.datasets.get("customers_anonymized")\n'
                          'df_anon.to_csv("~/Downloads/output.csv")')
    assert 'lacuna.datasets.get("customers_anonymized")' in str(err.value)
    run(first.code, namespace)  # runs as printed and is allowed
    assert (home / "Downloads" / "output.csv").exists()


def test_declared_in_lacuna_yaml(sandbox, home):
    (sandbox / "lacuna.yaml").write_text(textwrap.dedent(f"""
        user: {{id: analyst_alice, role: data_analyst}}
        audit: {{url: "sqlite:///{sandbox / 'audit.db'}"}}
        destinations:
          governed: ["{sandbox / 'governed' / 'workspace'}/"]
        stewards: {{default: ["{STEWARD}"]}}
        datasets:
          customers_anonymized:
            source: customers.csv
            transform: anonymize
            approved_by: {STEWARD}
        """))
    from lacuna.config import Config

    if "stewards" not in Config.model_fields:  # without branch `exceptions`: no stewards key
        text = (sandbox / "lacuna.yaml").read_text().splitlines()
        (sandbox / "lacuna.yaml").write_text(
            "\n".join(line for line in text if not line.startswith("stewards")))
    lacuna.enable(str(sandbox / "lacuna.yaml"))
    namespace = {"__name__": "__user__"}
    run('import lacuna\nimport pandas as pd\ndf = pd.read_csv("customers.csv")', namespace)
    with pytest.raises(lacuna.GovernanceViolation) as err:
        run('df.to_csv("~/Downloads/output.csv")', namespace)
    assert "customers_anonymized" in err.value.decision.alternatives[0].title
    run(err.value.decision.alternatives[0].code, namespace)
    assert (home / "Downloads" / "output.csv").exists()
    names = [d.name for d in lacuna.datasets.list()]
    assert names == ["customers_anonymized"]
