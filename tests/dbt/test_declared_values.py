"""A seed's or source's column declared below what its sampled values show (e-mails declared
``public``) is not trusted silently: it is held at the values' class (fail closed), compile
reports it (``lacuna.classification.overruled``, blocking under strict) and every consumer of
the classification (lineage, record's facets, compile's escalation) sees the raised class."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lacuna.dbt import load_project
from lacuna.dbt.classify import classify_project, value_evidence
from lacuna.dbt.compile import compile_project
from lacuna.dbt.gates import load_gates
from lacuna.model import ColumnKind, Layer

SEED = "seed.p.contacts"
OVERRULED = "lacuna.classification.overruled"


def _seed_project(root: Path, gen: SimpleNamespace, contact: dict[str, Any]) -> Any:
    """A seed of e-mails (``contact``, declared as given), colours declared public and e-mails
    declared pii, and a model that selects all three."""
    (root / "seeds").mkdir(parents=True)
    (root / "seeds" / "contacts.csv").write_text(
        "id,contact,colour,mail\n" + "".join(
            f"{i},person{i}@example.com,{('red', 'green', 'blue')[i % 3]},p{i}@example.org\n"
            for i in range(1, 41)), encoding="utf-8")
    uid, seed = gen.model("contacts", kind="seed", columns={
        "contact": contact, "colour": gen.floe("public"),
        "mail": gen.floe("pii", pii_type="email", sensitivity="high")})
    seed["original_file_path"] = "seeds/contacts.csv"
    gen.write(root, (uid, seed), gen.model(
        "m", sql='select contact, colour, mail from "db"."main"."contacts"', parents=(uid,)))
    return load_project(root, verify=False)


# escalation off: the only error left is the declaration's (the model holds e-mails either way)
STRICT = load_gates({"enforcement": "strict", "minimum_test_coverage": 0,
                    "classification_escalation": False}, None)
WARN = load_gates({"enforcement": "warn", "minimum_test_coverage": 0,
                  "classification_escalation": False}, None)


def test_declared_public_emails_are_raised_and_block_strict_compile(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    project = _seed_project(tmp_path, gen, gen.floe("public"))
    pc = classify_project(project)
    nc = pc.nodes[SEED]
    contact = nc.classification.columns["contact"]
    assert (contact.classification, contact.pii_type) == (ColumnKind.PII, "email")
    assert "valid e-mail addresses" in contact.reasoning
    assert nc.raised == ("contact",)
    assert "contact" not in nc.declared
    [over] = nc.overruled
    assert over.by_values
    assert over.declared.classification is ColumnKind.PUBLIC
    assert any("its sampled values are pii/email" in n for n in nc.notes)
    # what the model builds from it inherits the raised class through the SQL's lineage
    m = pc.of("m").classification.columns["contact"]
    assert (m.classification, m.pii_type) == (ColumnKind.PII, "email")
    report = compile_project(project, STRICT)
    [finding] = [f for f in report.findings if f.rule_id == OVERRULED]
    assert (finding.column, finding.model, finding.level) == ("contact", SEED, "error")
    assert "seed 'contacts': contact: declared public" in finding.message
    assert "classification: pii, pii_type: email" in finding.fix
    assert finding.path == "models/schema.yml"
    assert report.failed
    warned = compile_project(project, WARN)
    assert [f.level for f in warned.findings if f.rule_id == OVERRULED] == ["warning"]
    assert not warned.failed


def test_the_same_seed_declared_what_it_holds_compiles(tmp_path: Path,
                                                       gen: SimpleNamespace) -> None:
    project = _seed_project(tmp_path, gen, gen.floe("pii", pii_type="email"))
    nc = classify_project(project).nodes[SEED]
    assert nc.overruled == ()
    assert nc.raised == ()
    assert not [f for f in compile_project(project, STRICT).findings if f.rule_id == OVERRULED]
    assert not compile_project(project, STRICT).failed


def test_ordinary_values_declared_public_stay_public(tmp_path: Path,
                                                     gen: SimpleNamespace) -> None:
    nc = classify_project(_seed_project(tmp_path, gen, gen.floe("public"))).nodes[SEED]
    colour = nc.classification.columns["colour"]
    assert colour.classification is ColumnKind.PUBLIC
    assert colour.layer is Layer.DECLARED
    assert "colour" in nc.declared
    assert [o.column for o in nc.overruled] == ["contact"]


def test_a_declared_pii_column_is_unchanged(tmp_path: Path, gen: SimpleNamespace) -> None:
    nc = classify_project(_seed_project(tmp_path, gen, gen.floe("public"))).nodes[SEED]
    mail = nc.classification.columns["mail"]
    assert (mail.classification, mail.pii_type, mail.sensitivity.value, mail.layer) == (
        ColumnKind.PII, "email", "high", Layer.DECLARED)
    assert "declared in dbt meta.floe" in mail.reasoning


@pytest.mark.parametrize(("values", "expected"), [
    (["ana@example.com", "bo@test.org", "cy@example.net"], "email"),
    (["4111111111111111", "5500005555555559", "4242424242424242"], "card_number"),
    (["n/a", "none", "unknown"], None),  # a column named email, of no e-mail: the name is no
    (["red", "green", "blue"], None),     # evidence here
    # a minority of valid addresses among other values is not the column's values
    (["ana@example.com", *(["n/a"] * 9)], None),
])
def test_value_evidence_is_the_values_alone(values: list[str], expected: str | None) -> None:
    from lacuna.config import ClassificationConfig

    found = value_evidence("email", values, ClassificationConfig())
    assert (found.pii_type if found else None) == expected


def test_a_source_declared_public_is_raised_from_its_warehouse_table(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    """A source has no CSV: its values come from the warehouse (the sampler record and compile
    use when the DuckDB file is there)."""
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("duckdb_engine")
    from lacuna.dbt.warehouse import sampler as warehouse_sampler

    db = tmp_path / "db.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table main.people as select i as id, 'user' || i || '@example.com' "
                "as handle from range(1, 30) t(i)")
    con.close()
    gen.write(tmp_path)
    manifest_path = tmp_path / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["sources"] = {"source.p.crm.people": {
        "resource_type": "source", "name": "people", "source_name": "crm", "package_name": "p",
        "database": "db", "schema": "main", "identifier": "people",
        "original_file_path": "models/sources.yml", "path": "models/sources.yml",
        "columns": {"id": {"name": "id", **gen.floe("identifier")},
                    "handle": {"name": "handle", **gen.floe("public")}}}}
    manifest_path.write_text(json.dumps(manifest))
    project = load_project(tmp_path, verify=False)
    without = classify_project(project).nodes["source.p.crm.people"]
    assert without.classification.columns["handle"].classification is ColumnKind.PUBLIC
    pc = classify_project(project, sampler=warehouse_sampler(db))
    nc = pc.nodes["source.p.crm.people"]
    assert nc.classification.columns["handle"].pii_type == "email"
    assert nc.classification.columns["id"].classification is ColumnKind.IDENTIFIER
    from lacuna.cli.compile import _sampler

    report = compile_project(project, STRICT, sampler=_sampler(project, db))
    [finding] = [f for f in report.findings if f.rule_id == OVERRULED]
    assert finding.column == "handle"
    assert "source 'people'" in finding.message


def test_cli_compile_prints_the_finding_and_fails_under_strict(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    _seed_project(tmp_path, gen, gen.floe("public"))
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    (tmp_path / "floe.yaml").write_text(
        "quality_gates: {enforcement: strict, classification_escalation: false}\n")
    out = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"}).invoke(
        app, ["compile", "--project-dir", str(tmp_path), "--no-verify-manifest"])
    text = " ".join(out.output.split())
    assert out.exit_code == 1, out.output
    step2 = text.split("[2/5]")[1].split("[3/5]")[0]
    assert "ERROR: seed 'contacts': contact: declared public" in step2
    assert "Fix: declare contact as what it holds" in step2
