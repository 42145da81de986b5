"""``apply_environment`` and ``read_model`` through SQLAlchemy: DuckDB (duckdb-engine), SQLite
and a live PostgreSQL holding the example's built tables. Synthetic values keep referential
integrity across models on each, and agree between warehouses for the same seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from lacuna import _bypass
from lacuna.dbt.runtime import apply_environment, read_model
from lacuna.errors import GovernanceViolation
from lacuna.model import Tier, User

duckdb = pytest.importorskip("duckdb")
JOIN = ("select r.customer_id, r.first_name, b.first_name, b.email from main.raw_customers r "
        "join main.bronze_customers b on r.customer_id = b.customer_id order by 1")
ORDERS = ("select count(*) from main.silver_orders o join main.silver_customers c "
          "on o.customer_id = c.customer_id")


def _tables(warehouse: Path) -> dict[tuple[str, str], pd.DataFrame]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute("select schema_name, table_name from duckdb_tables() "
                            "where schema_name in ('main', 'snapshots')").fetchall()
        return {(s, t): con.execute(f'select * from "{s}"."{t}"').fetchdf() for s, t in names}
    finally:
        con.close()


def _load(url: str, tables: dict[tuple[str, str], pd.DataFrame], *, schemas: bool) -> None:
    engine = sa.create_engine(url)
    with _bypass.bypass(), engine.begin() as con:
        for schema in {s for s, _ in tables}:
            if schemas:
                con.execute(sa.text(f'create schema if not exists "{schema}"'))
        for (schema, table), frame in tables.items():
            frame.to_sql(table, con, schema=schema if schemas else None, index=False)
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(sa.text(sql)).fetchall()]
    finally:
        engine.dispose()


def _check_integrity(url: str, before: list[tuple[Any, ...]], orders: int) -> list[str]:
    after = _rows(url, JOIN)
    assert [r[0] for r in after] == [r[0] for r in before]  # keys untouched
    originals = {r[1] for r in before}
    assert all(r[1] == r[2] for r in after)  # the same synthetic value in both models
    assert not originals & {r[1] for r in after}  # every name replaced
    assert {r[3] for r in after} == {None}  # email redacted
    assert _rows(url, ORDERS)[0][0] == orders  # joins across models still line up
    return [r[1] for r in after]


def test_duckdb_through_sqlalchemy(built_copy: Path) -> None:
    pytest.importorskip("duckdb_engine")
    url = f"duckdb:///{built_copy / 'target' / 'warehouse.duckdb'}"
    before, orders = _rows(url, JOIN), _rows(url, ORDERS)[0][0]
    report = apply_environment(built_copy, environment="development", seed=7, warehouse=url)
    assert report.tables["main.bronze_customers"]["first_name"] == "synthesize"
    assert report.database == url
    _check_integrity(url, before, orders)
    types = dict(_rows(url, "select column_name, data_type from information_schema.columns "
                            "where table_name = 'bronze_customers'"))
    assert types["date_of_birth"] == "DATE"


def test_postgresql_keeps_referential_integrity(dbt_built: Any, built_copy: Path,
                                                postgres_url: str) -> None:
    from fixtures_postgres import new_postgres_database

    url = new_postgres_database(postgres_url)
    _load(url, _tables(dbt_built.warehouse), schemas=True)
    engine = sa.create_engine(url)
    with _bypass.bypass(), engine.begin() as con:  # DuckDB's DATE (pandas made it a timestamp)
        con.execute(sa.text("alter table main.bronze_customers alter column date_of_birth "
                            "type date using date_of_birth::date"))
    engine.dispose()
    before, orders = _rows(url, JOIN), _rows(url, ORDERS)[0][0]
    report = apply_environment(dbt_built.dir, environment="development", seed=7, warehouse=url)
    assert report.tables["main.bronze_customers"] == {
        "first_name": "synthesize", "last_name": "synthesize", "email": "redact",
        "phone": "redact", "ssn": "redact", "date_of_birth": "redact"}
    assert "snapshots.customers_snapshot" in report.tables
    names = _check_integrity(url, before, orders)
    types = dict(_rows(url, "select column_name, data_type from information_schema.columns "
                            "where table_schema = 'main' and table_name = 'bronze_customers'"))
    assert types["date_of_birth"] == "date"  # the column keeps its type
    # the same seed gives the same synthetic values as on DuckDB
    duck = built_copy / "target" / "warehouse.duckdb"
    apply_environment(built_copy, environment="development", seed=7, database=duck)
    con = duckdb.connect(str(duck), read_only=True)
    try:
        assert [r[0] for r in con.execute(
            "select first_name from main.bronze_customers order by customer_id").fetchall()
                ] == names
    finally:
        con.close()
    # the session's built warehouse is untouched
    assert _tables(dbt_built.warehouse)[("main", "bronze_customers")]["email"].notna().all()


def test_postgresql_read_model_restricted(dbt_built: Any, postgres_url: str) -> None:
    from fixtures_postgres import new_postgres_database

    url = new_postgres_database(postgres_url)
    _load(url, {k: v for k, v in _tables(dbt_built.warehouse).items()
                if k[1] in ("gold_customer_orders", "gold_revenue")}, schemas=True)
    analyst = User(id="bob", role="analyst")
    with pytest.raises(GovernanceViolation) as info:
        read_model(dbt_built.dir, "gold_customer_orders", user=analyst,
                   environment="production", warehouse=url)
    assert "requires role data_owner or compliance" in info.value.decision.reasoning
    owner = User(id="ann", role="data_owner", clearance=Tier.PROPRIETARY)
    frame = read_model(dbt_built.dir, "gold_customer_orders", user=owner,
                       environment="production", warehouse=url)
    assert len(frame) == _rows(url, "select count(*) from main.gold_customer_orders")[0][0] > 0
    assert "email_address" in frame.columns


def test_sqlite_through_sqlalchemy(dbt_built: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    _load(url, {k: v for k, v in _tables(dbt_built.warehouse).items() if k[0] == "main"},
          schemas=False)  # SQLite's own schema is "main", as in the manifest
    before, orders = _rows(url, JOIN), _rows(url, ORDERS)[0][0]
    report = apply_environment(dbt_built.dir, environment="preview", seed=7, warehouse=url)
    assert report.skipped == ("snapshot.lacuna_example.customers_snapshot",)
    _check_integrity(url, before, orders)


def test_suggest_samples_values_from_any_warehouse(dbt_built: Any, tmp_path: Path) -> None:
    """Undeclared columns are classified from the values of the warehouse SQLAlchemy opens
    (here SQLite), not only from a DuckDB file or seed CSVs: a neutral-named column holding
    e-mails there is suggested as an e-mail, on the CLI too."""
    import json

    from typer.testing import CliRunner

    from lacuna.cli import app
    from lacuna.dbt import load_project
    from lacuna.dbt.classify import classify_project, seed_sampler
    from lacuna.dbt.warehouse import sampler
    from lacuna.model import ColumnKind

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    tables = {k: v for k, v in _tables(dbt_built.warehouse).items() if k[0] == "main"}
    project = load_project(dbt_built.dir)
    plain = classify_project(project, sampler=seed_sampler(project))
    node, column = next(
        (nc.node, name) for nc in plain.nodes.values()
        if ("main", nc.node.table) in tables
        for name, col in nc.classification.columns.items()
        if col.classification is ColumnKind.PUBLIC and name not in nc.declared
        and name not in nc.inherited and name in tables[("main", nc.node.table)]
        and pd.api.types.is_string_dtype(tables[("main", nc.node.table)][name]))
    frame = tables[("main", node.table)]
    frame[column] = [f"person{i}@example.org" for i in range(len(frame))]
    _load(url, tables, schemas=False)
    sampled = sampler(url, 50)(node, [column, "no_such_column"])
    assert sampled is not None
    assert list(sampled) == [column]
    assert sampled[column][:2] == ["person0@example.org", "person1@example.org"]
    found = classify_project(project, sampler=sampler(url, 50, fallback=seed_sampler(project)))
    col = found.nodes[node.unique_id].classification.columns[column]
    assert col.classification is not ColumnKind.PUBLIC
    assert col.pii_type == "email"
    out = CliRunner().invoke(app, ["dbt", "classify", "--project-dir", str(dbt_built.dir),
                                   "--warehouse", url, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[node.unique_id]["columns"][column]["pii_type"] == "email"
