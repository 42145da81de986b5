"""polars SQL (``DataFrame.sql``, ``pl.SQLContext``, ``pl.sql``) records each output column's
origins through the statement's column edges, as DuckDB's path does for the same statement:
it carried the classes but recorded no column edges, so a governed write of its result claimed
no column lineage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")

STATEMENT = ("SELECT upper(religion) AS code, salary * 2 AS pay, region FROM {t} "
             "WHERE qty > 1")
GROUPED = "SELECT region, max(salary) AS top FROM {t} GROUP BY region"


@pytest.fixture
def staff(downloads: Path) -> Any:
    Path("staff.csv").write_text("emp,religion,salary,region,qty\n" + "".join(
        f"E{i:03},f{(i * 7) % 5 + 1},{30000 + (i * 7919) % 50000},R{i % 4},{i % 9}\n"
        for i in range(40)))
    return pl.read_csv("staff.csv")


def _origins(frame: Any) -> dict[str, set[tuple[str, str, str, str]]]:
    from lacuna.integrations.polars import _ops

    return {column: {(Path(o.dataset.name).name, o.column, o.kind.value, o.description)
                     for o in found}
            for column, found in _ops.state(frame).origins.items()}


def test_polars_sql_records_the_column_edges_duckdb_records(staff):
    pf = staff
    for statement in (STATEMENT, GROUPED):
        expected = _origins(duckdb.sql(statement.format(t="pf")).pl())
        assert expected
        assert all(expected.values())
        ctx = pl.SQLContext(staff=pf)
        for route, result in {
            "DataFrame.sql": pf.sql(statement.format(t="self")),
            "SQLContext": ctx.execute(statement.format(t="staff"), eager=True),
            "SQLContext lazy": pl.SQLContext(staff=pf.lazy()).execute(
                statement.format(t="staff")).collect(),
            "pl.sql": pl.sql(statement.format(t="pf"), eager=True),
        }.items():
            assert _origins(result) == expected, route


def test_polars_sql_of_public_columns_exports_as_plain(staff, downloads):
    """A statement over public columns only: allowed, the plain call's bytes; over the coded
    religion: denied, nothing written."""
    pf = staff
    target, plain = downloads / "code.csv", downloads / "plain.csv"
    pf.sql("SELECT region AS code, qty FROM self").write_csv(target)
    with _bypass.bypass():
        pf.sql("SELECT region AS code, qty FROM self").write_csv(plain)
    assert target.read_bytes() == plain.read_bytes()
    target.unlink()
    with pytest.raises(GovernanceViolation):
        pf.sql("SELECT religion AS code FROM self").write_csv(target)
    assert not target.exists()
