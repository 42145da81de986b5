"""One sampler of built tables (lacuna.dbt.warehouse.sampler) for every warehouse: a DuckDB
file given by its path (the project's, ``--database``, ``lacuna dbt record``) goes through the
same SQLAlchemy code as ``--warehouse URL``; read-only, and no connection is left open."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacuna.dbt.manifest import DbtNode
from lacuna.dbt.warehouse import sampler

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("duckdb_engine")


def _node(table: str, schema: str = "main") -> DbtNode:
    return DbtNode(unique_id=f"model.p.{table}", name=table, resource_type="model",
                   package_name="p", path=f"{table}.sql", original_file_path=f"models/{table}.sql",
                   folder="", schema=schema, alias=table)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table customers as select 'person' || i || '@example.org' as contact, "
                "i as n from range(300) t(i)")
    con.close()
    return path


def test_a_duckdb_file_is_sampled_through_sqlalchemy(warehouse: Path) -> None:
    sample = sampler(warehouse, 50)
    got = sample(_node("customers"), ["CONTACT", "n", "no_such_column"])
    assert got is not None
    assert list(got) == ["CONTACT", "n"]  # the columns that exist, as asked
    assert got["CONTACT"][:2] == ["person0@example.org", "person1@example.org"]
    assert len(got["n"]) == 50


def test_an_unbuilt_table_falls_back_and_nothing_stays_open(warehouse: Path) -> None:
    seen: list[str] = []

    def fallback(node: DbtNode, names: object) -> dict[str, list[str]]:
        seen.append(node.name)
        return {"x": ["from the seed"]}

    sample = sampler(warehouse, 10, fallback=fallback)
    assert sample(_node("not_built"), ["x"]) == {"x": ["from the seed"]}
    assert sample(_node("customers"), ["contact"]) is not None
    assert seen == ["not_built"]
    # read-only, and no pooled connection left behind: dbt (or lacuna dbt apply) can open the
    # file read-write in this very process right after classification sampled it
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("insert into customers values ('late@example.org', 999)")
    finally:
        con.close()


def test_the_sampler_never_writes(warehouse: Path) -> None:
    import sqlalchemy as sa

    from lacuna.dbt.warehouse import engine_for

    engine = engine_for(warehouse, read_only=True)
    with pytest.raises(sa.exc.SQLAlchemyError), engine.connect() as con:
        con.execute(sa.text("create table t (a int)"))
