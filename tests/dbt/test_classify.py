"""Classification from dbt meta, through the DAG, and suggestions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lacuna.dbt import load_project
from lacuna.dbt.classify import classify_project
from lacuna.errors import ConfigError
from lacuna.model import ColumnKind, Layer, Sensitivity, Tier


@pytest.fixture(scope="module")
def example(dbt_built: Any) -> Any:
    return classify_project(load_project(dbt_built.dir))


def test_floe_meta_with_critical_sensitivity_is_declared(example: Any) -> None:
    ssn = example.classification("bronze_customers").columns["ssn"]
    assert (ssn.classification, ssn.pii_type, ssn.sensitivity, ssn.layer) == (
        ColumnKind.PII, "ssn", Sensitivity.CRITICAL, Layer.DECLARED)
    assert "meta.floe" in ssn.reasoning
    phone = example.classification("silver_customers").columns["phone"]
    assert "meta.lacuna" in phone.reasoning
    # a seed column declared only under config.meta
    amount = example.classification("raw_orders").columns["amount"]
    assert amount.classification is ColumnKind.FINANCIAL


def test_model_level_meta_sets_floor_and_tags(example: Any) -> None:
    bronze_orders = example.classification("bronze_orders")
    assert bronze_orders.floor is Tier.PROPRIETARY
    assert {"PII", "CUSTOMER_DATA"} <= set(bronze_orders.tags)
    # gold_revenue has no meta of its own: the floor and tags come from its parents
    revenue = example.classification("gold_revenue")
    assert revenue.floor is Tier.PROPRIETARY
    assert "CUSTOMER_DATA" in revenue.tags


def test_classes_flow_through_compiled_sql(example: Any) -> None:
    silver = example.of("silver_customers")
    full_name = silver.classification.columns["full_name"]
    email = silver.classification.columns["email_address"]
    assert full_name.classification is ColumnKind.PII
    assert full_name.layer is Layer.INHERITED
    assert (email.pii_type, email.sensitivity) == ("email", Sensitivity.HIGH)
    assert {"full_name", "email_address"} <= set(silver.inherited)
    gold = example.classification("gold_customer_orders")
    assert gold.columns["email_address"].pii_type == "email"
    assert not gold.columns["order_count"].is_personal  # a count of orders
    edges = {(e.source_column, e.target_column) for e in silver.edges}
    assert ("email", "email_address") in edges


def test_seed_columns_from_csv_are_suggested_from_values(example: Any) -> None:
    raw = example.of("raw_orders")
    assert set(raw.classification.columns) == {"order_id", "customer_id", "order_date",
                                               "amount", "status"}
    assert "order_date" in raw.suggested
    assert raw.classification.columns["order_date"].layer is not Layer.DECLARED


def _renamed_email(tmp_path: Path, gen: SimpleNamespace, declared: dict[str, Any]) -> Any:
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"email": gen.floe("pii", pii_type="email",
                                                                      sensitivity="high")}),
              gen.model("m", sql='select email as contact from "db"."main"."src"',
                        parents=("seed.p.src",), columns={"contact": declared}))
    return classify_project(load_project(tmp_path, verify=False)).of("m")


def test_a_declaration_cannot_lower_what_a_column_inherits(tmp_path: Path,
                                                           gen: SimpleNamespace) -> None:
    nc = _renamed_email(tmp_path, gen, gen.floe("public"))
    col = nc.classification.columns["contact"]
    assert (col.classification, col.pii_type) == (ColumnKind.PII, "email")
    assert col.layer is Layer.INHERITED
    assert nc.classification.tier is not Tier.PUBLIC
    assert "contact" not in nc.declared
    assert "contact" in nc.inherited
    [over] = nc.overruled
    assert over.column == "contact"
    assert over.declared.classification is ColumnKind.PUBLIC
    assert "never lower it" in over.message
    assert "keyed hash" in over.fix
    assert any("declared public (low)" in n for n in nc.notes)


def test_cli_classify_shows_an_overruled_declaration(tmp_path: Path,
                                                     gen: SimpleNamespace) -> None:
    import json

    from typer.testing import CliRunner

    from lacuna.cli import app

    _renamed_email(tmp_path, gen, gen.floe("public"))
    runner = CliRunner()
    out = runner.invoke(app, ["dbt", "classify", "--project-dir", str(tmp_path), "--json",
                                      "--no-verify-manifest"])
    assert out.exit_code == 0, out.output
    m = json.loads(out.output)["model.p.m"]
    assert m["overruled"] == ["contact"]
    assert m["columns"]["contact"]["classification"] == "pii"
    table = runner.invoke(app, ["dbt", "classify", "--project-dir", str(tmp_path),
                                        "--no-verify-manifest"],
                          env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "overruled" in table.output
    assert "never lower it" in table.output


def test_suggest_lists_an_overruled_declaration_to_fix_by_hand(tmp_path: Path,
                                                               gen: SimpleNamespace) -> None:
    from lacuna.dbt.suggest import suggestions, suggestions_yaml

    nc = _renamed_email(tmp_path, gen, gen.floe("public"))
    pc = classify_project(load_project(tmp_path, verify=False))
    [listed] = [s for s in suggestions(pc) if s.column == "contact"]
    assert listed.source == "inherited, declared public (lower: overruled)"
    assert listed.meta()["classification"] == "pii"
    assert "overruled" in suggestions_yaml([listed])
    assert nc.overruled


@pytest.mark.parametrize(("declared", "why"), [
    ({"meta": {"floe": {"classification": "identifier"}}}, "another, lower class"),
    ({"meta": {"floe": {"classification": "pii", "sensitivity": "low"}}}, "less sensitive"),
    ({"meta": {"classification": "public"}}, "flat meta"),
    ({"tags": ["public"]}, "a tag"),
    ({"meta": {"floe": {"classification": "identifier", "sensitivity": "critical"}}},
     "a class that is not personal, however sensitive (it may roll up to pii's tier)"),
    ({"meta": {"floe": {"classification": "financial", "sensitivity": "critical"}}},
     "financial at critical"),
])
def test_every_way_of_declaring_less_is_overruled(tmp_path: Path, gen: SimpleNamespace,
                                                  declared: dict[str, Any], why: str) -> None:
    col = _renamed_email(tmp_path, gen, declared).classification.columns["contact"]
    assert col.classification is ColumnKind.PII, why
    assert col.sensitivity is Sensitivity.HIGH, why


@pytest.mark.parametrize(("declared", "kind", "sensitivity"), [
    ({"classification": "pii", "pii_type": "email", "sensitivity": "critical"},
     ColumnKind.PII, Sensitivity.CRITICAL),
    ({"classification": "pii", "pii_type": "contact"}, ColumnKind.PII, Sensitivity.HIGH),
    ({"classification": "phi", "sensitivity": "critical"}, ColumnKind.PHI, Sensitivity.CRITICAL),
    ({"classification": "phi", "sensitivity": "high"}, ColumnKind.PHI, Sensitivity.HIGH),
])
def test_a_declaration_that_raises_or_matches_stands(
        tmp_path: Path, gen: SimpleNamespace, declared: dict[str, Any], kind: ColumnKind,
        sensitivity: Sensitivity) -> None:
    nc = _renamed_email(tmp_path, gen, {"meta": {"lacuna": declared}})
    col = nc.classification.columns["contact"]
    assert (col.classification, col.sensitivity, col.layer) == (kind, sensitivity,
                                                                Layer.DECLARED)
    assert not nc.overruled


def test_a_masked_column_may_be_declared_public(tmp_path: Path, gen: SimpleNamespace) -> None:
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"email": gen.floe("pii", pii_type="email",
                                                                      sensitivity="high")}),
              gen.model("m", sql='select count(distinct email) as n from "db"."main"."src"',
                        parents=("seed.p.src",), columns={"n": gen.floe("public")}))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.classification.columns["n"].layer is Layer.DECLARED
    assert not nc.overruled


@pytest.mark.parametrize(("sql", "path"), [
    ("select ((( from nowhere", "m.sql"),  # SQL Lacuna cannot parse
    ('unpivot (select email from "db"."main"."src") on email into name k value contact',
     "m.sql"),
    ("def model(dbt, session):\n    return dbt.ref('src')\n", "m.py"),  # dbt compile'd
    (None, "m.py"),  # a Python model after dbt parse
])
def test_untraceable_sql_overrules_a_lower_declaration(tmp_path: Path, gen: SimpleNamespace,
                                                       sql: str | None, path: str) -> None:
    """The fail-closed guess for code Lacuna cannot trace is the parents' worst case: what any
    column may hold. A declaration below it was believed, so `email` renamed `contact` in a
    Python model and declared public was public: untransformed in non-production copies and
    in full in Cube. It is overruled (compile: an error); a declaration at least as strict
    stands."""
    model = gen.model("m", sql=sql, parents=("seed.p.src",),
                      columns={"contact": gen.floe("public"), "id": gen.floe("identifier"),
                               "diag": gen.floe("phi", sensitivity="critical"), "x": {}})
    model[1]["original_file_path"] = f"models/{path}"
    gen.write(tmp_path, gen.model("src", kind="seed", columns={"email": gen.floe(
        "pii", pii_type="email", sensitivity="high")}), model)
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    columns = nc.classification.columns
    assert columns["contact"].classification is ColumnKind.PII
    assert columns["contact"].pii_type == "email"
    assert columns["id"].classification is ColumnKind.PII
    assert columns["x"].classification is ColumnKind.PII
    # stricter than the guess: the declaration stands
    assert columns["diag"].classification is ColumnKind.PHI
    assert columns["diag"].layer is Layer.DECLARED
    over = {o.column: o for o in nc.overruled}
    assert set(over) == {"contact", "id"}
    assert over["contact"].guessed
    assert "may hold pii/email (high)" in over["contact"].message
    assert "cannot trace" in over["contact"].fix


def test_a_parsed_sql_model_without_compiled_sql_keeps_its_declarations(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    """After `dbt parse` no model has compiled SQL: undeclared columns take the guess, and
    declarations stand until `dbt compile` makes the SQL traceable (the note says so)."""
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"email": gen.floe("pii", pii_type="email",
                                                                      sensitivity="high")}),
              gen.model("m", sql=None, parents=("seed.p.src",),
                        columns={"id": gen.floe("identifier"), "x": {}}))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.classification.columns["id"].classification is ColumnKind.IDENTIFIER
    assert nc.classification.columns["x"].classification is ColumnKind.PII
    assert not nc.overruled
    assert any("dbt compile" in n for n in nc.notes)


def test_untraceable_sql_fails_closed(tmp_path: Path, gen: SimpleNamespace) -> None:
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"ssn": gen.floe("pii", pii_type="ssn",
                                                                    sensitivity="critical")}),
              gen.model("m", sql="select ((( from nowhere", parents=("seed.p.src",),
                        columns={"x": {}}))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.classification.columns["x"].sensitivity is Sensitivity.CRITICAL
    assert nc.classification.tier is Tier.PROPRIETARY
    assert any("could not be traced" in n for n in nc.notes)


def test_undeclared_columns_are_classified_by_name_and_description(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    gen.write(tmp_path, gen.model("s", kind="seed", columns={
        "customer_email": {}, "notes_x": {"description": "The customer's e-mail address"},
        "colour": {}}))
    nc = classify_project(load_project(tmp_path, verify=False)).of("s")
    cols = nc.classification.columns
    assert cols["customer_email"].pii_type == "email"
    assert cols["colour"].classification is ColumnKind.PUBLIC
    assert set(nc.undeclared) >= {"customer_email"}


def test_column_tags_and_upper_case_dbt_tags(tmp_path: Path, gen: SimpleNamespace) -> None:
    gen.write(tmp_path, gen.model("s", kind="seed", tags=("PII", "daily"),
                                  columns={"diag": {"tags": ["phi"]}}))
    c = classify_project(load_project(tmp_path, verify=False)).classification("s")
    assert c.columns["diag"].classification is ColumnKind.PHI
    assert "PII" in c.tags
    assert "DAILY" not in c.tags


@pytest.mark.parametrize(("meta", "match"), [
    ({"floe": {"classification": "pii", "sensitivity": "extreme"}}, "sensitivity"),
    ({"lacuna": {"classification": "secretish"}}, "secretish"),
])
def test_bad_declaration_names_file_and_column(tmp_path: Path, gen: SimpleNamespace,
                                               meta: dict[str, Any], match: str) -> None:
    gen.write(tmp_path, gen.model("m", kind="seed", columns={"c": {"meta": meta}}))
    # the YAML that declares the column's meta, not the node's SQL file
    with pytest.raises(ConfigError, match=rf"^models/schema\.yml: m\.c: meta\.\w+: .*{match}"):
        classify_project(load_project(tmp_path, verify=False))


@pytest.mark.parametrize(("meta", "match"), [
    ({"floe": {"pii_type": "email"}}, r"meta\.floe declares pii_type but no classification"),
    ({"lacuna": {"sensitivity": "high"}},
     r"meta\.lacuna declares sensitivity but no classification"),
    ({"floe": "pii"}, r"meta\.floe is 'pii', not a mapping"),
    ({"lacuna": ["pii"]}, r"meta\.lacuna is \['pii'\], not a mapping"),
    # a flat class that is no column class was skipped: the column fell to the guess
    ({"classification": "PROPRIETARY"},
     r"meta: unknown column classification 'PROPRIETARY'.* is a table tier"),
    ({"classification": "confidential"}, r"meta: unknown column classification 'confidential'"),
])
def test_a_declaration_without_a_class_fails_closed(tmp_path: Path, gen: SimpleNamespace,
                                                    meta: dict[str, Any], match: str) -> None:
    """A column meta block that names no class (`floe: {pii_type: email}`) read as declared
    public (low), over what the column's name or values suggest, and a block that is no
    mapping (`floe: pii`) or a flat word that is no column class was skipped: all are errors
    naming file, column and the fix."""
    gen.write(tmp_path, gen.model("m", kind="seed", columns={"email": {"meta": meta}}))
    with pytest.raises(ConfigError, match=rf"^models/schema\.yml: m\.email: {match}") as info:
        classify_project(load_project(tmp_path, verify=False))
    assert "classification" in str(info.value)


@pytest.mark.parametrize("spec", [
    {"tags": ["pii"], "meta": {"floe": {"pii_type": "email"}}},
    {"meta": {"classification": "pii", "floe": {"pii_type": "email"}}},
    {"config": {"tags": ["PII"], "meta": {"lacuna": {"pii_type": "email"}}}},
])
def test_a_block_without_a_class_takes_the_columns_tag_or_flat_class(
        tmp_path: Path, gen: SimpleNamespace, spec: dict[str, Any]) -> None:
    """`tags: [pii]` with `floe: {pii_type: email}` declares pii/email: the tag was dropped
    for the block, and the block's missing class read as public."""
    gen.write(tmp_path, gen.model("m", kind="seed", columns={"contact": spec}),
              gen.model("d", sql='select contact as c from "db"."main"."m"',
                        parents=("seed.p.m",)))
    pc = classify_project(load_project(tmp_path, verify=False))
    col = pc.classification("m").columns["contact"]
    assert (col.classification, col.pii_type, col.sensitivity, col.layer) == (
        ColumnKind.PII, "email", Sensitivity.HIGH, Layer.DECLARED)
    assert pc.classification("m").tier is Tier.PROPRIETARY
    down = pc.classification("d").columns["c"]  # and downstream it stays so
    assert (down.classification, down.pii_type) == (ColumnKind.PII, "email")


@pytest.mark.parametrize(("spec", "kind"), [
    ({"tags": ["pii"], "meta": {"floe": {"classification": "public"}}}, ColumnKind.PII),
    ({"meta": {"classification": "pii", "floe": {"classification": "identifier"}}},
     ColumnKind.PII),
    ({"meta": {"floe": {"classification": "phi"}, "lacuna": {"classification": "public"}}},
     ColumnKind.PHI),
    ({"tags": ["financial"], "meta": {"lacuna": {"classification": "public"}}},
     ColumnKind.FINANCIAL),
    ({"tags": ["public"], "meta": {"floe": {"classification": "pii"}}}, ColumnKind.PII),
])
def test_declarations_that_disagree_hold_the_strictest(
        tmp_path: Path, gen: SimpleNamespace, spec: dict[str, Any], kind: ColumnKind) -> None:
    """`tags: [pii]` beside `floe: {classification: public}` declared public (the block won
    over the tag, and `lacuna:` over `floe:` whatever each said): a column declared personal
    anywhere is personal."""
    gen.write(tmp_path, gen.model("m", kind="seed", columns={"contact": spec}))
    col = classify_project(load_project(tmp_path, verify=False)).classification(
        "m").columns["contact"]
    assert (col.classification, col.layer) == (kind, Layer.DECLARED), col.reasoning


@pytest.mark.parametrize(("sql", "outside"), [
    # a hard-coded table joined to a public parent: the parent's worst case (public) stood
    # for it, so the ssn it joins in was public
    ('select p.name, s.ssn from "db"."main"."pub" p join "db"."hr"."people" s using (id)',
     "db.hr.people"),
    ('select p.name, s.* from "db"."main"."pub" p join hr.people s using (id)', "hr.people"),
    ("select p.name, s.v as ssn from \"db\".\"main\".\"pub\" p, "
     "read_parquet('/hr/ssn.parquet') s", "READ_PARQUET('/hr/ssn.parquet')"),
])
def test_a_relation_outside_the_project_is_unknown(tmp_path: Path, gen: SimpleNamespace,
                                                   sql: str, outside: str) -> None:
    gen.write(tmp_path, gen.model("pub", kind="seed", columns={
        "name": gen.floe("public"), "id": gen.floe("identifier")}),
        gen.model("m", sql=sql, parents=("seed.p.pub",), columns={"ssn": {}}))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.unknown_reads == (f"{outside} (outside the project)",)
    assert nc.classification.tier is Tier.PROPRIETARY
    ssn = nc.classification.columns["ssn"]
    assert (ssn.classification, ssn.sensitivity) == (ColumnKind.PII, Sensitivity.HIGH)
    assert nc.unnamed is not None
    assert nc.unnamed.classification is ColumnKind.PII
    assert any("as a dbt source" in n for n in nc.notes)


@pytest.mark.parametrize("sql", [
    # an incremental model reading its own table ({{ this }}): not outside the project
    'select id, name from "db"."main"."pub" where id > (select max(id) from "db"."main"."m")',
    'select p.id, p.name from "db"."main"."pub" p, range(3) r',  # generated rows
])
def test_its_own_table_and_generated_rows_are_not_outside(tmp_path: Path, gen: SimpleNamespace,
                                                         sql: str) -> None:
    gen.write(tmp_path, gen.model("pub", kind="seed", columns={
        "name": gen.floe("public"), "id": gen.floe("identifier")}),
        gen.model("m", sql=sql, parents=("seed.p.pub",)))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.unknown_reads == ()
    assert nc.classification.tier is Tier.PUBLIC
    assert {"id", "name"} <= set(nc.classification.columns)
    assert not any("outside the project" in n for n in nc.notes)


def test_a_project_relation_read_outside_depends_on_is_guessed_from(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    """SQL Lacuna cannot trace (it reads its own table) that names a project relation
    without ref(): no parent, so no guess, and the e-mail it took was public."""
    gen.write(tmp_path, gen.model("src", kind="seed", columns={"email": gen.floe(
        "pii", pii_type="email", sensitivity="high")}),
        gen.model("m", sql='select email as c from "db"."main"."src" union all '
                           'select c from "db"."main"."m"'))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.unknown_reads == ()
    assert nc.classification.columns["c"].classification is ColumnKind.PII


def test_sql_nested_too_deep_is_untraceable_not_a_crash(tmp_path: Path,
                                                        gen: SimpleNamespace) -> None:
    """Compiled SQL nested deeper than Python's stack raised RecursionError out of
    classify_project: lacuna dbt classify/record/read crashed. It is untraceable SQL now:
    the parents' worst case, a lower declaration overruled, a stricter one standing."""
    depth = 300
    sql = ('select email as contact, email as e2 from ' + '(select * from ' * depth
           + '"db"."main"."src"' + ') t' * depth)
    gen.write(tmp_path, gen.model("src", kind="seed", columns={"email": gen.floe(
        "pii", pii_type="email", sensitivity="high")}),
        gen.model("m", sql=sql, parents=("seed.p.src",), columns={
            "contact": gen.floe("public"), "e2": gen.floe("pii", sensitivity="critical")}))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert any("nested too deep" in n for n in nc.notes)
    cols = nc.classification.columns
    assert (cols["contact"].classification, cols["contact"].pii_type) == (ColumnKind.PII,
                                                                          "email")
    assert [o.column for o in nc.overruled] == ["contact"]
    assert (cols["e2"].sensitivity, cols["e2"].layer) == (Sensitivity.CRITICAL, Layer.DECLARED)


def test_cli_classify_json_samples_the_warehouse(dbt_built: Any) -> None:
    import json

    from typer.testing import CliRunner

    from lacuna.cli import app

    out = CliRunner().invoke(app, ["dbt", "classify", "--project-dir", str(dbt_built.dir),
                                   "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    silver = data["model.lacuna_example.silver_customers"]
    assert silver["columns"]["full_name"]["pii_type"] == "name"
    assert "full_name" in silver["inherited"]
    assert data["seed.lacuna_example.raw_customers"]["columns"]["ssn"]["sensitivity"] \
        == "critical"


def _ssn_seed(gen: SimpleNamespace) -> tuple[str, dict[str, Any]]:
    return gen.model("src", kind="seed", columns={
        "ssn": gen.floe("pii", pii_type="ssn", sensitivity="critical"), "id": {}})


def test_ephemeral_parent_is_traced_through_its_inlined_cte(tmp_path: Path,
                                                             gen: SimpleNamespace) -> None:
    """dbt inlines an ephemeral model as a CTE reading its own parents: the child's SQL names
    the grandparent, which is not in its depends_on. That was untraceable, and a child whose
    columns no YAML lists came out PUBLIC with ssn renamed."""
    eph = gen.model("eph", sql='select ssn as x, id from "db"."main"."src"',
                    parents=("seed.p.src",))
    eph[1]["config"]["materialized"] = "ephemeral"
    gen.write(tmp_path, _ssn_seed(gen), eph, gen.model(
        "m", parents=("eph",),
        sql=('with __dbt__cte__eph as (select ssn as x, id from "db"."main"."src") '
             "select x as ref_code, id from __dbt__cte__eph")))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.classification.columns["ref_code"].classification is ColumnKind.PII
    assert nc.classification.tier is Tier.PROPRIETARY
    assert not nc.notes


def test_relation_outside_depends_on_is_traced(tmp_path: Path, gen: SimpleNamespace) -> None:
    """A hard-coded table name (no ref) or a hand-edited manifest leaves depends_on empty: the
    SQL is still traced against the project's relations, not left unclassified (PUBLIC)."""
    gen.write(tmp_path, _ssn_seed(gen), gen.model(
        "m", sql='select ssn as ref_code from "db"."main"."src"', parents=()))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert nc.classification.columns["ref_code"].classification is ColumnKind.PII
    assert nc.classification.tier is Tier.PROPRIETARY


def test_untraceable_sql_without_listed_columns_keeps_the_parents_tier(
        tmp_path: Path, gen: SimpleNamespace) -> None:
    """Fail closed also when no YAML lists the model's columns: the table takes its most
    sensitive parent's tier and tags (the join rule), never PUBLIC."""
    gen.write(tmp_path, _ssn_seed(gen), gen.model(
        "m", parents=("seed.p.src",),
        sql=('select s.ssn as ref_code from "db"."main"."src" s '
             'join "db"."ext"."unknown" u on true')))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    assert any("could not be traced" in n for n in nc.notes)
    assert nc.classification.tier is Tier.PROPRIETARY
    assert "PII" in nc.classification.tags


def test_untraceable_sql_columns_are_named_from_its_select(tmp_path: Path,
                                                           gen: SimpleNamespace) -> None:
    """Runtime governance acts on column classes: an untraceable model whose columns no YAML
    lists must still list the columns its SELECT names (a * stands for the parents'), each
    with the most sensitive parent class, or production reads and non-production copies of
    it are unrestricted."""
    gen.write(tmp_path, _ssn_seed(gen),
              gen.model("m", parents=("seed.p.src",),
                        sql=('select s.ssn as ref_code from "db"."main"."src" s '
                             'join "db"."ext"."unknown" u on true')),
              gen.model("star", parents=("seed.p.src",),
                        sql=('select * from "db"."main"."src" s '
                             'join "db"."ext"."unknown" u on true')))
    pc = classify_project(load_project(tmp_path, verify=False))
    assert pc.classification("m").columns["ref_code"].classification is ColumnKind.PII
    assert pc.classification("star").columns["ssn"].classification is ColumnKind.PII


@pytest.mark.parametrize("spelling", ["Contact", "CONTACT"])
def test_a_declaration_spelled_in_another_case_is_the_same_column(
        tmp_path: Path, gen: SimpleNamespace, spelling: str) -> None:
    # `email as contact` declared public under `Contact`: the warehouse folds the case, so it
    # is the one column; it used to be two, the declared public one last, and a child reading
    # `contact` inherited public
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"email": gen.floe("pii", pii_type="email",
                                                                      sensitivity="high")}),
              gen.model("m", sql='select email as contact from "db"."main"."src"',
                        parents=("seed.p.src",), columns={spelling: gen.floe("public")}),
              gen.model("child", sql='select contact as c from "db"."main"."m"',
                        parents=("m",)))
    pc = classify_project(load_project(tmp_path, verify=False))
    nc = pc.of("m")
    assert list(nc.classification.columns) == ["contact"]
    assert nc.classification.columns["contact"].classification is ColumnKind.PII
    assert [o.column for o in nc.overruled] == ["contact"]
    child = pc.of("child").classification.columns["c"]
    assert (child.classification, child.pii_type) == (ColumnKind.PII, "email")


def test_a_declaration_in_another_case_that_raises_stands(tmp_path: Path,
                                                          gen: SimpleNamespace) -> None:
    gen.write(tmp_path,
              gen.model("m", sql="select 'x' as code", columns={
                  "CODE": gen.floe("pii", pii_type="ssn", sensitivity="critical")}),
              gen.model("child", sql='select code from "db"."main"."m"', parents=("m",)))
    pc = classify_project(load_project(tmp_path, verify=False))
    assert list(pc.of("m").classification.columns) == ["code"]
    assert pc.of("m").declared == ("code",)
    assert pc.of("child").classification.columns["code"].sensitivity is Sensitivity.CRITICAL



def test_a_placeholder_name_listed_in_yaml_is_still_unnamed(tmp_path: Path,
                                                           gen: SimpleNamespace) -> None:
    # `_col_1` is sqlglot's name for `upper(email)`; the warehouse calls it otherwise, so a
    # YAML entry of that name (what a suggestion could write) names no built column
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"email": gen.floe("pii", pii_type="email",
                                                                      sensitivity="high")}),
              gen.model("m", sql='select 1 as id, upper(email) from "db"."main"."src"',
                        parents=("seed.p.src",), columns={"_col_1": {}}))
    unnamed = classify_project(load_project(tmp_path, verify=False)).of("m").unnamed
    assert unnamed is not None
    assert (unnamed.classification, unnamed.pii_type) == (ColumnKind.PII, "email")


def test_cli_classify_prints_column_names_as_written(tmp_path: Path,
                                                     gen: SimpleNamespace) -> None:
    """rich read a column named like markup ("[bold]email") as markup and printed "email"."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={"[bold]email": gen.floe(
                  "pii", pii_type="email", sensitivity="high")}))
    table = CliRunner().invoke(app, ["dbt", "classify", "--project-dir", str(tmp_path),
                                     "--no-verify-manifest"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "[bold]email" in table.output


@pytest.mark.parametrize(("expression", "kind", "pii_type"), [
    ("left(ssn, 4)", ColumnKind.PII, "ssn"),  # a prefix of a direct identifier keeps its class
    ("right(ssn, 4)", ColumnKind.PII, "ssn"),
    ("substr(ssn, 6, 4)", ColumnKind.PII, "ssn"),
    ("substring(email, 1, 3)", ColumnKind.PII, "email"),
    ("left(zip, 3)", ColumnKind.PUBLIC, None),  # of a quasi-identifier: a generalisation
    ("extract(year from dob)", ColumnKind.PUBLIC, None),  # not a cut: as before
])
def test_a_cut_of_a_direct_identifier_keeps_its_class(tmp_path: Path, gen: SimpleNamespace,
                                                      expression: str, kind: ColumnKind,
                                                      pii_type: str | None) -> None:
    gen.write(tmp_path,
              gen.model("src", kind="seed", columns={
                  "ssn": gen.floe("pii", pii_type="ssn", sensitivity="critical"),
                  "email": gen.floe("pii", pii_type="email", sensitivity="high"),
                  "zip": gen.floe("pii", pii_type="zip", sensitivity="medium"),
                  "dob": gen.floe("pii", pii_type="dob", sensitivity="high")}),
              gen.model("m", sql=f'select {expression} as x from "db"."main"."src"',
                        parents=("seed.p.src",)))
    nc = classify_project(load_project(tmp_path, verify=False)).of("m")
    col = nc.classification.columns["x"]
    assert (col.classification, col.pii_type) == (kind, pii_type)
    if kind is ColumnKind.PII:
        assert "direct identifier" in col.reasoning
        assert nc.classification.tier is Tier.PROPRIETARY
