"""lacuna dbt suggest: YAML to paste, and --apply editing schema files in place."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.dbt import load_project, run_dbt
from lacuna.dbt.classify import classify_project
from lacuna.dbt.suggest import suggestions

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
BRONZE = Path("models/customer_analytics/bronze/schema.yml")


def test_suggest_prints_yaml_for_undeclared_columns(built_copy: Path) -> None:
    out = runner.invoke(app, ["dbt", "suggest", "--project-dir", str(built_copy)])
    assert out.exit_code == 0, out.output
    doc = yaml.safe_load(out.output)
    assert doc["version"] == 2
    models = {m["name"]: {c["name"]: c for c in m["columns"]} for m in doc["models"]}
    full_name = models["silver_customers"]["full_name"]
    # the project has a floe.yaml: Floe's namespace
    assert full_name["meta"]["floe"] == {"classification": "pii", "pii_type": "name",
                                         "sensitivity": "medium"}
    assert "email" not in models["bronze_customers"]  # declared: never suggested
    assert "inherited:" in out.output  # each suggestion says why


def test_apply_keeps_comments_and_dbt_reads_the_result(built_copy: Path) -> None:
    before = (built_copy / BRONZE).read_text()
    assert "# critical: explicit approval in production" in before
    pc = classify_project(load_project(built_copy))
    wanted = {(s.node.name, s.column) for s in suggestions(pc)}
    assert ("silver_customers", "full_name") in wanted
    out = runner.invoke(app, ["dbt", "suggest", "--project-dir", str(built_copy), "--apply",
                              "--namespace", "lacuna"])
    assert out.exit_code == 0, out.output
    after = (built_copy / BRONZE).read_text()
    assert "# critical: explicit approval in production" in after
    assert after.startswith(before.split("\n", 1)[0])
    # the original text is still there, line for line, in order
    kept = [line for line in before.splitlines() if line.strip()]
    it = iter(after.splitlines())
    assert all(any(line == other for other in it) for line in kept)
    # dbt accepts the edited files, and every suggestion is now a declaration
    run_dbt(["parse"], built_copy)
    again = classify_project(load_project(built_copy))
    assert suggestions(again) == []
    col = again.classification("silver_customers").columns["full_name"]
    assert "meta.lacuna" in col.reasoning


SOURCES = """\
version: 2

sources:
  # the CRM export, loaded nightly
  - name: crm
    schema: main
    tables:
      - name: contacts
        description: one row per CRM contact
        columns:
          - name: contact_id
          - name: contact_email
          - name: mobile_phone
"""


def test_apply_writes_source_tables_under_their_source(built_copy: Path) -> None:
    path = built_copy / "models" / "sources.yml"
    path.write_text(SOURCES)
    run_dbt(["parse"], built_copy)
    pc = classify_project(load_project(built_copy))
    wanted = {s.column for s in suggestions(pc) if s.node.resource_type == "source"}
    assert {"contact_email", "mobile_phone"} <= wanted

    printed = yaml.safe_load(runner.invoke(app, ["dbt", "suggest", "--project-dir",
                                                 str(built_copy)]).output)
    table = printed["sources"][0]["tables"][0]
    assert (printed["sources"][0]["name"], table["name"]) == ("crm", "contacts")

    out = runner.invoke(app, ["dbt", "suggest", "--project-dir", str(built_copy), "--apply"])
    assert out.exit_code == 0, out.output
    after = path.read_text()
    assert "# the CRM export, loaded nightly" in after
    columns = {c["name"]: c for c in yaml.safe_load(after)["sources"][0]["tables"][0]["columns"]}
    assert columns["contact_email"]["meta"]["floe"]["pii_type"] == "email"
    run_dbt(["parse"], built_copy)  # dbt accepts the edited file
    again = classify_project(load_project(built_copy))
    assert not [s for s in suggestions(again) if s.node.resource_type == "source"]
    assert "meta.floe" in again.classification("contacts").columns["contact_email"].reasoning
