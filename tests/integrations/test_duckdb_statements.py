"""A string of several statements given to DuckDB (``execute``, ``sql``, the module's) is
decided as a whole: one whose first word says no data flows (``BEGIN``, ``SET``,
``PREPARE``) ran the ``COPY`` after it undecided, the customers' e-mails written to
~/Downloads. Several statements that each move no data still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacuna.errors import GovernanceViolation

duckdb = pytest.importorskip("duckdb")


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN; COPY c TO '{out}'; COMMIT",
        "SET threads = 1; COPY (SELECT email FROM c) TO '{out}'",
        "PREPARE p AS COPY c TO '{out}'; EXECUTE p",
        "CHECKPOINT; COPY c TO '{out}' (FORMAT parquet)",
    ],
)
@pytest.mark.parametrize("how", ["connection", "module"])
def test_a_copy_after_a_statement_that_moves_nothing_is_denied(
    downloads: Path, sandbox: Path, sql: str, how: str
) -> None:
    out = downloads / "c.csv"
    con = duckdb.connect() if how == "connection" else duckdb.default_connection()
    con.execute(f"CREATE OR REPLACE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    run = con.execute if how == "connection" else duckdb.execute
    with pytest.raises(GovernanceViolation, match=r"[23] statements") as err:
        run(sql.format(out=out))
    assert err.value.decision.operation.classification.tier.value == "PROPRIETARY"
    assert not out.exists()


@pytest.mark.parametrize("how", ["execute", "sql", "module", "query="])
def test_a_statement_object_is_decided_as_its_text(
    downloads: Path, sandbox: Path, how: str
) -> None:
    """``con.execute(con.extract_statements("COPY c TO '~/Downloads/…'")[0])`` ran the
    ``duckdb.Statement`` undecided (it is not a string): the customers were written to
    ~/Downloads. It is now decided and run as its text; a public one is written and read back,
    and a query's result carries its class."""
    from lacuna.integrations.duckdb import classification

    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    run = {"execute": con.execute, "sql": con.sql, "module": duckdb.execute,
           "query=": lambda s: con.execute(query=s)}[how]
    if how == "module":
        duckdb.execute(f"CREATE OR REPLACE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    out = downloads / "c.csv"
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        run(con.extract_statements(f"COPY (SELECT email FROM c) TO '{out}';")[0])
    assert not out.exists()
    run(con.extract_statements(f"COPY (SELECT DISTINCT region FROM c ORDER BY 1) TO '{out}'")[0])
    assert out.read_text().split() == ["region", "AMER", "APAC", "EMEA", "LATAM"]
    if how == "sql":
        rel = run(con.extract_statements("SELECT email AS x FROM c; SELECT 1")[0])
        assert classification(rel).tier.value == "PROPRIETARY"
        assert len(rel.fetchall()) == 60


def test_statements_that_move_nothing_run_and_a_public_copy_alone_is_written(
    downloads: Path,
) -> None:
    con = duckdb.connect()
    con.execute("BEGIN; CREATE TABLE t (n INTEGER); COMMIT")  # CREATE without data: passes
    con.execute("SET threads = 1; SET threads = 2;")
    con.execute("INSERT INTO t VALUES (1), (2)")
    con.execute(f"COPY t TO '{downloads / 'n.csv'}'")
    assert (downloads / "n.csv").read_text().split() == ["n", "1", "2"]


@pytest.mark.parametrize("create", ["CREATE VIEW", "CREATE OR REPLACE VIEW", "CREATE TEMP VIEW"])
def test_a_sql_view_in_memory_carries_its_class_as_a_table_there_does(
    downloads: Path, sandbox: Path, create: str
) -> None:
    """``CREATE VIEW v AS SELECT …`` of personal data in an in-memory database was refused as
    an export to a database without classification support, where ``CREATE TABLE … AS`` and
    ``rel.create_view`` are derived relations this process holds. Now it runs, recorded as a
    read, and the view carries its query's class as its comment: a hashed e-mail under a new
    name stays personal through the view."""
    from lacuna.integrations.duckdb import classification

    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    con.execute(f"{create} v AS SELECT md5(email) AS h, region FROM c")
    con.execute(f"{create} pv AS SELECT region FROM c")
    assert classification(con.sql("SELECT h AS x FROM v")).tier.value == "PROPRIETARY"
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        con.execute(f"COPY (SELECT h AS x FROM v) TO '{downloads / 'v.csv'}'")
    assert not (downloads / "v.csv").exists()
    con.execute(f"COPY pv TO '{downloads / 'pv.csv'}'")  # public through a view: written
    back = (downloads / "pv.csv").read_text().split()
    assert back[0] == "region"
    assert sorted(set(back[1:])) == ["AMER", "APAC", "EMEA", "LATAM"]


def _salaries(sandbox: Path) -> Path:
    (sandbox / "kids.csv").write_text(
        "person_id,salary,region\n"
        + "".join(f"P{i:03},{50000 + 137 * i},R{i % 4}\n" for i in range(60))
    )
    return sandbox / "kids.csv"


@pytest.mark.parametrize("how", ["polars", "pandas", "arrow"])
def test_a_registered_frame_keeps_its_class(downloads: Path, sandbox: Path, how: str) -> None:
    """``con.register("t", frame)`` made a view DuckDB reads the frame through; a query of
    ``t`` was classified from a sample of the view: salaries renamed ``x`` (round numbers under
    a neutral name) were PUBLIC and went to ~/Downloads. The registered object's state now."""
    import pandas as pd
    import polars as pl

    kids = _salaries(sandbox)
    frame: object = {
        "polars": lambda: pl.read_csv(kids).select(pl.col("salary").alias("x")),
        "pandas": lambda: pd.read_csv(kids)[["salary"]].rename(columns={"salary": "x"}),
        "arrow": lambda: pl.read_csv(kids).select(pl.col("salary").alias("x")).to_arrow(),
    }[how]()
    con = duckdb.connect()
    con.register("t", frame)
    with pytest.raises(GovernanceViolation, match="Cannot export INTERNAL"):
        con.execute(f"COPY (SELECT x AS pay FROM t) TO '{downloads / 'x.csv'}'")
    assert not (downloads / "x.csv").exists()
    con.unregister("t")  # the name now reads a public frame
    con.register("t", pd.DataFrame({"x": ["red", "green"]}))
    con.execute(f"COPY t TO '{downloads / 'p.csv'}'")
    assert (downloads / "p.csv").read_text().split() == ["x", "red", "green"]


def test_arrow_readers_and_datasets_are_scanned_once_by_duckdb_not_by_lacuna(
    downloads: Path, sandbox: Path
) -> None:
    """A record batch reader (registered, in ``FROM``, ``from_arrow``) or a dataset scanned by
    name made Lacuna fail (its look consumed the reader: "already consumed"; a dataset has no
    ``columns``): refused as an internal error even for public data. A reader of a tracked
    table carries its state; an untracked one is PROPRIETARY (fail closed) and not read by
    Lacuna; a dataset is classified from its first rows."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.dataset as pa_ds

    (sandbox / "colours.csv").write_text("colour,size\n" + "red,1\ngreen,2\nblue,3\n" * 10)
    public = pa_csv.read_csv(sandbox / "colours.csv")  # a governed read: tracked
    con = duckdb.connect()
    con.register("r", public.to_reader())
    con.execute(f"COPY r TO '{downloads / 'r.csv'}'")
    assert pa_csv.read_csv(downloads / "r.csv").num_rows == public.num_rows
    rel = con.from_arrow(public.to_reader())
    rel.write_csv(str(downloads / "f.csv"))
    assert pa_csv.read_csv(downloads / "f.csv").num_rows == public.num_rows
    dataset = pa_ds.dataset(sandbox / "colours.csv", format="csv")  # noqa: F841 (scanned by name)
    con.execute(f"COPY (SELECT * FROM dataset) TO '{downloads / 'd.csv'}'")
    assert pa_csv.read_csv(downloads / "d.csv").num_rows == public.num_rows
    unseen = pa.RecordBatchReader.from_batches(  # noqa: F841 (scanned by name)
        public.schema.remove_metadata(), public.to_batches()
    )
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        con.execute(f"COPY (SELECT * FROM unseen) TO '{downloads / 'u.csv'}'")
    assert not (downloads / "u.csv").exists()
    customers = pa_ds.dataset(sandbox / "customers.csv", format="csv")  # noqa: F841
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        con.execute(f"COPY (SELECT email AS q FROM customers) TO '{downloads / 'c.csv'}'")


def test_a_frame_registered_on_the_default_connection_keeps_its_class(
    downloads: Path, sandbox: Path
) -> None:
    import polars as pl

    kids = pl.read_csv(_salaries(sandbox)).select(pl.col("salary").alias("x"))
    duckdb.register("kids_pay", kids)
    try:
        with pytest.raises(GovernanceViolation, match="Cannot export INTERNAL"):
            duckdb.execute(f"COPY kids_pay TO '{downloads / 'x.csv'}'")
        with pytest.raises(GovernanceViolation, match="Cannot export INTERNAL"):
            duckdb.sql("SELECT x FROM kids_pay").pl().write_csv(downloads / "y.csv")
    finally:
        duckdb.unregister("kids_pay")
    assert list(downloads.iterdir()) == []


def test_a_registered_name_replaced_by_a_view_is_read_as_the_view(
    downloads: Path, sandbox: Path
) -> None:
    import pandas as pd

    con = duckdb.connect()
    con.execute(f"CREATE TABLE c AS SELECT * FROM '{sandbox / 'customers.csv'}'")
    con.register("t", pd.DataFrame({"x": ["red", "green"]}))
    con.execute("CREATE OR REPLACE TEMP VIEW t AS SELECT md5(email) AS x FROM c")
    with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
        con.execute(f"COPY t TO '{downloads / 'x.csv'}'")
    assert not (downloads / "x.csv").exists()
