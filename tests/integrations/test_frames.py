"""polars, pyarrow and DuckDB's Python API: writes decided before anything is written,
classification kept across conversions, Arrow joins and group-bys following the shared rules like
pandas (``Table.join``, ``Dataset.join``, ``group_by().aggregate`` reach the hooked
``pyarrow.acero`` functions), and hooks removed on disable. Real libraries, real files."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")
import pyarrow as pa  # noqa: E402
import pyarrow.acero as pac  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.dataset as pa_ds  # noqa: E402
import pyarrow.orc as pa_orc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lacuna.integrations import duckdb as governed_duckdb  # noqa: E402
from lacuna.integrations import polars as governed_polars  # noqa: E402
from lacuna.integrations import pyarrow as governed_arrow  # noqa: E402
from lacuna.integrations.pyarrow._compute import join_map  # noqa: E402
from lacuna.lineage.sidecar import sidecar_path  # noqa: E402
from lacuna.model import Classification  # noqa: E402


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for table in ("customers", "sales"):
        shutil.copy(resources.files("lacuna") / "data" / f"{table}.csv", tmp_path / f"{table}.csv")
    return tmp_path


def cfg(folder: Path) -> lacuna.Config:
    return config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                             "audit": {"url": f"sqlite:///{folder / 'audit.db'}"}})


def test_polars_pii_write_is_denied_and_nothing_written(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pl.read_csv(folder / "customers.csv")
        renamed = customers.lazy().select(pl.col("email").alias("notes"))
        target = folder / "out.parquet"
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            renamed.sink_parquet(target)
        assert not target.exists()
        for serialize in (lambda: customers.serialize(folder / "frame.bin"),  # the data itself
                          lambda: customers.lazy().serialize(folder / "plan.bin")):
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                serialize()
        assert not (folder / "frame.bin").exists()
        assert not (folder / "plan.bin").exists()
        assert customers.serialize() is not None  # into memory: not an export
        counts = customers.lazy().group_by("region").agg(pl.len())
        assert governed_polars.classification(counts).tier.value == "INTERNAL"  # k-anonymous
        assert governed_polars.classification(renamed).tier.value == "PROPRIETARY"


def test_polars_table_format_writes_are_decided_whatever_names_the_table(folder: Path) -> None:
    """Delta and Iceberg writers, eager and lazy, to a path or to a table object (a
    ``deltalake.DeltaTable``, named by its ``table_uri``): decided before the table library is
    even needed (neither is installed here)."""

    class DeltaTable:  # what polars accepts besides a path: a table object
        table_uri = str(folder / "delta_object")

    with lacuna.governed(cfg(folder)):
        customers = pl.read_csv(folder / "customers.csv")
        writes = {
            "write_delta path": lambda: customers.write_delta(folder / "delta"),
            "write_delta object": lambda: customers.write_delta(DeltaTable()),
            "sink_delta": lambda: customers.lazy().sink_delta(folder / "delta_lazy"),
            "sink_iceberg": lambda: customers.lazy().sink_iceberg("db.customers",
                                                                  mode="append"),
        }
        for name, write in writes.items():
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                write()
            assert not any(p.name.startswith("delta") for p in folder.iterdir()), name


def test_classification_crosses_conversions(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pl.read_csv(folder / "customers.csv")
        notes = customers.select(pl.col("email").alias("notes"))
        back = notes.to_pandas()
        assert back.lacuna_classification.columns["notes"].classification.value == "pii"
        again = pl.from_pandas(back)
        assert governed_polars.classification(again).columns["notes"].classification.value == "pii"
        table = pa.Table.from_pandas(back)
        assert governed_arrow.classification(table).tier.value == "PROPRIETARY"
        assert table.to_pandas().lacuna_classification.columns["notes"].classification.value \
            == "pii"


def test_pyarrow_writes_are_decided(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        for write in (lambda: pq.write_table(customers, folder / "c.parquet"),
                      lambda: pa_csv.write_csv(customers, folder / "c.csv"),
                      lambda: pa_orc.write_table(customers, folder / "c.orc")):
            with pytest.raises(GovernanceViolation):
                write()
        assert not (folder / "c.parquet").exists()
        assert not (folder / "c.csv").exists()
        assert not (folder / "c.orc").exists()


def test_duckdb_copy_and_relation_writes_are_decided(folder: Path) -> None:
    con = duckdb.connect()
    with lacuna.governed(cfg(folder)):
        customers = con.read_csv(str(folder / "customers.csv"))
        rel = con.sql("SELECT email AS notes FROM customers")
        assert governed_duckdb.classification(rel).columns["notes"].classification.value == "pii"
        with pytest.raises(GovernanceViolation):
            rel.write_csv(str(folder / "r.csv"))
        with pytest.raises(GovernanceViolation):
            con.execute(f"COPY (SELECT email FROM '{folder / 'customers.csv'}') "
                        f"TO '{folder / 'copy.csv'}'")
        with pytest.raises(GovernanceViolation):  # executemany runs the statement too
            con.executemany(f"COPY (SELECT email FROM '{folder / 'customers.csv'}') "
                            f"TO '{folder / 'many.csv'}'", [[]])
        with pytest.raises(GovernanceViolation):
            duckdb.executemany(f"COPY (SELECT email FROM '{folder / 'customers.csv'}') "
                               f"TO '{folder / 'many2.csv'}'", [[]])
        assert not (folder / "r.csv").exists()
        assert not (folder / "copy.csv").exists()
        assert not (folder / "many.csv").exists()
        assert not (folder / "many2.csv").exists()
        frame = rel.df()
        assert frame.lacuna_classification.tier.value == "PROPRIETARY"
        del customers
    con.close()


def test_duckdb_relation_writes_into_tables_are_decided_like_create_table_as(folder: Path
                                                                            ) -> None:
    """``rel.create(t)``, ``rel.to_table(t)`` and ``rel.insert_into(t)`` write the relation's rows
    into a table of the connection's database, as ``CREATE TABLE t AS``/``INSERT … SELECT``
    do: the same decision (an export to ``duckdb:///<file>#t``), nothing written when denied."""
    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    con.execute("CREATE TABLE kept (customer_id BIGINT, email VARCHAR)")
    with lacuna.governed(cfg(folder)):
        rel = con.read_csv(str(folder / "customers.csv")).select("customer_id, email")
        for name, write in (("made", lambda: rel.create("made")),
                            ("copied", lambda: rel.to_table("copied")),
                            ("kept", lambda: rel.insert_into("kept"))):
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
                write()
            op = err.value.decision.operation
            assert op is not None
            assert op.destination is not None
            assert op.destination.uri.endswith(f"warehouse.duckdb#{name}")
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"kept"}
    assert con.execute("SELECT count(*) FROM kept").fetchall() == [(0,)]
    con.close()


def test_duckdb_parameters_are_bound_then_decided(folder: Path) -> None:
    """``COPY (…) TO ?`` and ``read_csv(?)`` with parameters: decided for the file the bound
    statement reads and writes (positional, ``$1`` and ``$name``; ``executemany`` per set), a
    policy denial rather than an internal failure; a value Lacuna cannot bind is refused
    saying so, and nothing is written."""
    customers, con = str(folder / "customers.csv"), duckdb.connect()
    with lacuna.governed(cfg(folder)):
        for sql, params in (
                ("COPY (SELECT email FROM read_csv(?)) TO ?", [customers, "p1.csv"]),
                ("COPY (SELECT email FROM read_csv($1)) TO $2 (FORMAT csv)",
                 [customers, "p2.csv"]),
                ("COPY (SELECT email FROM read_csv($src)) TO $dst",
                 {"src": customers, "dst": "p3.csv"})):
            target = folder / str(params[1] if isinstance(params, list) else params["dst"])
            bound = [str(folder / p) if p.endswith(".csv") and "/" not in p else p
                     for p in params] if isinstance(params, list) else {
                "src": customers, "dst": str(target)}
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
                con.execute(sql, bound)
            assert err.value.decision.engine_error is None  # a decision, not a failure
            op = err.value.decision.operation
            assert op is not None
            assert op.destination is not None
            assert op.destination.uri.endswith(str(target))  # the real file, not "?"
            assert not target.exists()
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.executemany("COPY (SELECT email FROM read_csv(?)) TO ?",
                            [[customers, str(folder / "m1.csv")]])
        assert not (folder / "m1.csv").exists()
        # Allowed: what was written is what was decided (the label names the real file).
        regions = [str(folder / "r1.csv"), str(folder / "r2.csv")]
        con.executemany("COPY (SELECT region FROM read_csv(?)) TO ?",
                        [[customers, r] for r in regions])
        for r in regions:
            assert pd.read_csv(r).columns.tolist() == ["region"]
            assert sidecar_path(r).exists()
        with pytest.raises(lacuna.errors.IntegrationError, match="cannot bind a object"):
            con.execute("COPY (SELECT email FROM read_csv(?)) TO ?", [customers, object()])
        with pytest.raises(lacuna.errors.IntegrationError, match="has no value"):
            con.execute("COPY (SELECT email FROM read_csv(?)) TO ?", [customers])
    con.close()


def test_duckdb_in_memory_tables_carry_the_classification(folder: Path) -> None:
    """A table of an in-memory database is a derived relation, not an export: ``CREATE TABLE
    AS``, ``INSERT … SELECT`` and ``rel.create`` are allowed there, and the table carries the
    classification, so reading it back and exporting it is decided as the source would be.
    Catalog metadata (``information_schema``) holds no data and is readable."""
    customers, con = str(folder / "customers.csv"), duckdb.connect()
    with lacuna.governed(cfg(folder)):
        con.execute(f"CREATE TABLE t AS SELECT * FROM '{customers}'")
        con.execute("CREATE TABLE regions (region VARCHAR)")
        con.execute(f"INSERT INTO regions SELECT region FROM '{customers}'")
        con.read_csv(customers).select("email").create("mails")
        back = con.sql("SELECT email AS contact FROM t")
        assert governed_duckdb.classification(back).columns["contact"].classification.value \
            == "pii"
        assert "PII" in governed_duckdb.classification(con.sql("SELECT * FROM mails")).tags
        for leak in (lambda: back.write_csv(str(folder / "leak.csv")),
                     lambda: con.execute(f"COPY t TO '{folder / 'leak.csv'}'"),
                     lambda: con.execute(f"COPY (SELECT * FROM mails) TO '{folder / 'leak.csv'}'"),
                     lambda: con.sql("SELECT * FROM t").df().to_csv(folder / "leak.csv")):
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
                leak()
        assert not (folder / "leak.csv").exists()
        # A public table stays public: its export is allowed.
        con.execute(f"COPY regions TO '{folder / 'regions.csv'}'")
        assert (folder / "regions.csv").exists()
        # An insert of personal data into it raises what the table carries.
        con.execute(f"INSERT INTO regions SELECT email FROM '{customers}'")
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY regions TO '{folder / 'regions2.csv'}'")
        with lacuna._bypass.bypass():  # what the table carries: its column, by position
            (comment,) = con.execute("SELECT comment FROM duckdb_tables() "
                                     "WHERE table_name = 'regions'").fetchone()
        carried = json.loads(comment.split(" ", 1)[1])
        assert carried["tier"] == "PROPRIETARY"
        assert carried["columns"]["region"]["classification"] == "pii"
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"t", "regions", "mails"} <= names
        columns = con.execute("SELECT column_name FROM information_schema.columns "
                              "WHERE table_name = 't'").fetchall()
        assert ("email",) in columns
        meta = con.sql("SELECT table_name, column_name FROM information_schema.columns")
        assert governed_duckdb.classification(meta).tier.value == "PUBLIC"
    con.close()


def test_duckdb_temporary_tables_carry_the_classification(folder: Path) -> None:
    """A temporary table is the connection's own (a cursor, another connection, does not see
    it): creating one is allowed like any in-memory table, it carries its classification, and
    its export is decided on it (a public one is written and reads back equal)."""
    customers, con = str(folder / "customers.csv"), duckdb.connect()
    with lacuna.governed(cfg(folder)):
        con.execute(f"CREATE TEMP TABLE mails AS SELECT email FROM '{customers}'")
        con.execute(f"CREATE TEMPORARY TABLE regions AS SELECT region FROM '{customers}'")
        assert "PII" in governed_duckdb.classification(con.sql("SELECT * FROM mails")).tags
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY mails TO '{folder / 'leak.csv'}'")
        assert not (folder / "leak.csv").exists()
        con.execute(f"COPY regions TO '{folder / 'regions.csv'}'")  # public: allowed
        con.execute(f"INSERT INTO regions SELECT email FROM '{customers}'")  # now it is PII
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY regions TO '{folder / 'regions2.csv'}'")
    back = pd.read_csv(folder / "regions.csv")
    assert back["region"].tolist() == pd.read_csv(customers)["region"].tolist()
    con.close()


def test_disable_restores_the_libraries() -> None:
    before = (pl.read_csv, pl.DataFrame.select, pq.write_table, duckdb.DuckDBPyConnection.sql)
    with lacuna.governed():
        assert pl.read_csv is not before[0]
    assert (pl.read_csv, pl.DataFrame.select, pq.write_table,
            duckdb.DuckDBPyConnection.sql) == before
    assert isinstance(pd.DataFrame(), pd.DataFrame)


# -- Arrow joins and group-bys ------------------------------------------------------------------


def summary(c: Classification) -> tuple[str, tuple[str, ...], dict[str, str]]:
    return (c.tier.value, tuple(sorted(c.tags)),
            {n: col.classification.value for n, col in c.columns.items()})


def test_join_combines_both_sides_like_pandas(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        sales = pa_csv.read_csv(folder / "sales.csv")
        joined = customers.join(sales, "customer_id", join_type="inner")
        state = governed_arrow.table_state(joined)
        frames = {t: pd.read_csv(folder / f"{t}.csv") for t in ("customers", "sales")}
        merged = frames["customers"].merge(frames["sales"], on="customer_id")
        expected = summary(merged.lacuna_classification)
        kept = joined.select(["email", "revenue"])  # a table Arrow derives: the token survives
        kept_state = governed_arrow.table_state(kept)
    assert summary(state.classification) == expected
    assert {Path(r).name for r in state.lineage.roots()} == {"customers.csv", "sales.csv"}
    assert state.lineage.operation == "pyarrow.join.inner"
    assert kept_state.lineage.operation == "pyarrow.join.inner"  # followed, not re-classified
    assert {o.column for o in kept_state.origins["email"]} == {"email"}


def test_group_by_follows_k_anonymity_like_pandas(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_csv.read_csv(folder / "customers.csv")
        frame = pd.read_csv(folder / "customers.csv")
        cases = {
            "k-anonymous count": (
                customers.group_by("region").aggregate([("customer_id", "count")]),
                frame.groupby("region", as_index=False).agg(n=("customer_id", "count"))),
            "personal key": (
                customers.group_by("email").aggregate([("region", "count_distinct")]),
                frame.groupby("email", as_index=False).agg(n=("region", "nunique"))),
            "groups below k": (
                customers.group_by("signup_date").aggregate([([], "count_all")]),
                frame.groupby("signup_date", as_index=False).size()),
            "personal output": (
                customers.group_by("region", use_threads=False).aggregate([("email", "first")]),
                frame.groupby("region", as_index=False).agg(e=("email", "first"))),
        }
        got = {name: governed_arrow.classification(t) for name, (t, _) in cases.items()}
        ref = {name: f.lacuna_classification for name, (_, f) in cases.items()}
    for name in cases:
        assert (got[name].tier, sorted(got[name].tags)) == (ref[name].tier,
                                                           sorted(ref[name].tags)), name
    assert got["k-anonymous count"].tier < got["personal key"].tier
    assert any("fewer than k" in r for r in got["groups below k"].reasoning)


def test_dataset_join_keeps_the_state(folder: Path) -> None:
    with lacuna.governed(cfg(folder)):
        customers = pa_ds.dataset(folder / "customers.csv", format="csv")
        sales = pa_csv.read_csv(folder / "sales.csv")
        joined = customers.join(sales, "customer_id", join_type="inner")
        found = governed_arrow.tracked(joined)
        table = joined.to_table()
        c = governed_arrow.classification(table)
    assert found is not None
    assert found.lineage.operation == "pyarrow.join.inner"
    assert c.columns["email"].classification.value == "pii"
    assert c.columns["revenue"].classification.value == "financial"


def test_join_map_follows_arrow_suffixes() -> None:
    got = join_map(["k", "a", "x", "b", "x_r"], [["k", "a", "x"], ["k", "b", "x"]],
                   [None, "_r"], [("k", "k")])
    assert got == {"k": ((0, "k"), (1, "k")), "a": ((0, "a"),), "x": ((0, "x"),),
                   "b": ((1, "b"),), "x_r": ((1, "x"),)}
    # keys named differently: the coalesced key comes from both key columns
    got = join_map(["id", "a", "b"], [["id", "a"], ["cid", "b"]], [None, None], [("id", "cid")])
    assert got["id"] == ((0, "id"), (1, "cid"))


def test_hooks_are_removed_on_disable() -> None:
    before = (pac._perform_join, pac._group_by)
    with lacuna.governed():
        assert pac._perform_join is not before[0]
        table = pa.table({"k": [1, 1], "v": [2, 3]})
        assert table.group_by("k").aggregate([("v", "sum")]).num_rows == 1
    assert (pac._perform_join, pac._group_by) == before


def test_duckdb_writes_into_an_attached_file_are_exports_to_that_file(folder: Path) -> None:
    """``ATTACH 'file' AS o`` then ``CREATE TABLE o.t AS …``: the rows land in that file, even
    from an in-memory connection, so the write is decided for it, not held as a frame."""
    out = folder / "elsewhere.duckdb"
    con = duckdb.connect()
    with lacuna.governed(cfg(folder)):
        con.read_csv(str(folder / "customers.csv")).create("customers")
        con.execute(f"ATTACH '{out}' AS o")
        con.execute("CREATE TABLE o.kept (email VARCHAR)")
        rel = con.sql("SELECT email FROM customers")
        for write in (lambda: con.execute("CREATE TABLE o.leak AS SELECT email FROM customers"),
                      lambda: con.execute("INSERT INTO o.kept SELECT email FROM customers"),
                      lambda: rel.create("o.made"), lambda: rel.insert_into("o.kept")):
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
                write()
            op = err.value.decision.operation
            assert op is not None
            assert op.destination is not None
            assert str(out) in op.destination.uri
        with pytest.raises(GovernanceViolation, match="COPY FROM DATABASE copies every table"):
            con.execute("COPY FROM DATABASE memory TO o")
        con.execute("CREATE TABLE mine AS SELECT email FROM customers")  # in memory: held
    assert con.execute("SELECT count(*) FROM o.kept").fetchall() == [(0,)]
    assert {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() "
                                      "WHERE database_name = 'o'").fetchall()} == {"kept"}
    con.close()


def test_duckdb_a_qualified_table_is_classified_as_itself_not_as_its_namesake(
        folder: Path) -> None:
    """``crm.customers`` (an ATTACHed file) is not this database's harmless ``customers``."""
    crm = duckdb.connect(str(folder / "crm.duckdb"))
    crm.execute("CREATE TABLE customers AS SELECT name AS a, email AS b, phone AS c "
                f"FROM read_csv('{folder / 'customers.csv'}')")
    crm.close()
    con = duckdb.connect()
    con.execute("CREATE TABLE customers AS SELECT 'x' AS a, 'y' AS b, 'z' AS c")
    with lacuna.governed(cfg(folder)):
        con.execute(f"ATTACH '{folder / 'crm.duckdb'}' AS crm (READ_ONLY)")
        for n, source in enumerate(("crm.customers", "crm.main.customers")):
            out = folder / f"out{n}.csv"
            with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
                con.execute(f"COPY (SELECT a, b, c FROM {source}) TO '{out}'")
            assert not out.exists()
            assert "PII" in err.value.decision.operation.classification.tags
    con.close()


def test_duckdb_statements_that_hand_back_data_are_reads_of_it(folder: Path) -> None:
    """``SET VARIABLE v = (SELECT …)`` then ``getvariable('v')``, ``SUMMARIZE t`` and
    ``DELETE/UPDATE … RETURNING`` hand back the table's values: each is a governed read
    carrying their classification (a session variable's fail closed: PROPRIETARY)."""
    from lacuna.governor import current

    db = folder / "w.duckdb"
    con = duckdb.connect(str(db))
    for table in ("customers", "sales"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{folder / table}.csv')")
    config = config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                               "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
                               # (the folder is in /tmp, unmanaged by default, where a
                               # database file is external)
                               "destinations": {"unmanaged": ["~/Downloads"],
                                                "classification_aware_databases": [
                                                    f"duckdb:///{db}"]}})
    out = folder / "c.csv"
    with lacuna.governed(config):
        con.execute("SET VARIABLE v = (SELECT string_agg(email, ',') FROM customers)")
        assert current().audit.list(limit=1)[0].action == "read"
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY (SELECT getvariable('v')) TO '{out}'")
        assert not out.exists()
        held = governed_duckdb.classification(con.sql("SELECT getvariable('v') AS v"))
        assert held.tier.value == "PROPRIETARY"
        con.execute(f"ATTACH '{folder / 'other.duckdb'}' AS o")
        con.execute("CREATE TABLE o.notes (note VARCHAR)")
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute("INSERT INTO o.notes VALUES (getvariable('v'))")  # not a literal
        con.execute("INSERT INTO o.notes VALUES ('north')")
        assert con.execute("SELECT note FROM o.notes").fetchall() == [("north",)]
        con.execute("SET VARIABLE n = 42")  # ordinary settings run as before
        con.execute("SET threads = 2")
        summary = con.sql("SUMMARIZE customers")
        assert "PII" in governed_duckdb.classification(summary).tags
        assert current().audit.list(limit=1)[0].action == "read"
        assert "PII" not in governed_duckdb.classification(con.sql("SUMMARIZE sales")).tags
        back = con.sql("DELETE FROM customers WHERE customer_id = 'C0001' RETURNING email")
        assert governed_duckdb.classification(back).columns["email"].classification.value \
            == "pii"
        assert back.fetchall() == [("kira.kowalski1@example.com",)]
        back = con.sql("UPDATE customers SET region = region WHERE customer_id = 'C0002' "
                       "RETURNING email")
        assert governed_duckdb.classification(back).columns["email"].classification.value \
            == "pii"
        assert back.fetchall() == [("elena.petrov2@example.com",)]
    con.close()


def test_duckdb_an_in_memory_table_keeps_its_class_through_a_rename(folder: Path) -> None:
    con = duckdb.connect()
    with lacuna.governed(cfg(folder)):
        con.read_csv(str(folder / "customers.csv")).create("customers")
        con.execute("CREATE TABLE mails AS SELECT replace(replace(email, '@', ' '), '.', ' ') "
                    "AS region FROM customers")
        con.execute("ALTER TABLE mails RENAME COLUMN region TO area")
        con.execute("ALTER TABLE mails RENAME TO kept")
        area = governed_duckdb.classification(con.sql("SELECT area FROM kept"))
        assert area.columns["area"].classification.value == "pii"
    con.close()


def test_duckdb_writes_into_an_attached_file_get_the_normal_decision(folder: Path) -> None:
    """``INSERT INTO o.kept … FROM customers`` names tables at two depths, and after ``USE o``
    an unqualified ``kept`` is ``o``'s: both are decided on what the rows hold, for the file,
    never refused as unreadable or as Lacuna's own failure."""
    out = folder / "elsewhere.duckdb"
    con = duckdb.connect()
    with lacuna.governed(cfg(folder)):
        con.read_csv(str(folder / "customers.csv")).create("customers")
        con.execute("CREATE TABLE kept (email VARCHAR)")  # a namesake in memory
        con.execute(f"ATTACH '{out}' AS o")
        con.execute("CREATE TABLE o.kept (email VARCHAR)")
        con.execute("INSERT INTO o.kept SELECT region FROM customers")  # nothing personal
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
            con.execute("INSERT INTO o.kept SELECT email FROM customers")
        assert "cannot classify" not in " ".join(
            err.value.decision.operation.classification.reasoning)
        con.execute("USE o")
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY") as err:
            con.execute("INSERT INTO kept SELECT email FROM memory.customers")
        assert str(out) in err.value.decision.operation.destination.uri
        assert "failed while governing" not in str(err.value)
        assert con.execute("INSERT INTO kept SELECT region FROM memory.customers"
                           ).fetchall() == [(60,)]  # the statement's own result, not Lacuna's
        con.execute("USE memory")
        con.execute("CREATE TABLE mine AS SELECT region FROM customers")  # in memory: held
        assert con.execute("INSERT INTO mine SELECT region FROM customers").fetchall() == [(60,)]
    assert con.execute("SELECT count(*) FROM o.kept").fetchall() == [(120,)]
    assert con.execute("SELECT count(*) FROM memory.kept").fetchall() == [(0,)]
    con.close()


def test_duckdb_a_macro_does_not_launder_what_it_reads(folder: Path) -> None:
    con = duckdb.connect()
    out = folder / "m.csv"
    with lacuna.governed(cfg(folder)):
        con.read_csv(str(folder / "customers.csv")).create("customers")
        con.execute("CREATE MACRO m() AS (SELECT string_agg(email, ',') FROM customers)")
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY (SELECT m()) TO '{out}'")
        assert not out.exists()
        assert governed_duckdb.classification(con.sql("SELECT m()")).tier.value == "PROPRIETARY"
    con.close()


def test_duckdb_insert_returning_into_an_in_memory_table_is_that_write(folder: Path) -> None:
    """``INSERT INTO t SELECT … RETURNING …`` into an in-memory table is the write it is
    without ``RETURNING`` (held by this process: nothing leaves), plus a read of the columns it
    returns, classified by what they hold: not an export to ``duckdb:///:memory:``."""
    from bundles import personal_read_denying_bundle
    from lacuna.governor import current

    con = duckdb.connect()
    con.execute(f"CREATE TABLE customers AS SELECT * FROM '{folder / 'customers.csv'}'")
    con.execute("CREATE TABLE mails (id VARCHAR, email VARCHAR)")
    insert = "INSERT INTO mails SELECT customer_id, email FROM customers WHERE customer_id <= "
    with lacuna.governed(cfg(folder)):
        ids = con.sql(f"{insert} 'C0002' RETURNING id")
        assert sorted(ids.fetchall()) == [("C0001",), ("C0002",)]
        assert "PII" not in governed_duckdb.classification(ids).tags
        assert [(r.action, r.allowed) for r in current().audit.list(limit=2)] == [
            ("read", True), ("read", True)]  # the write (into memory), what comes back
        back = con.sql(f"{insert} 'C0001' RETURNING email")
        assert back.fetchall() == [("kira.kowalski1@example.com",)]
        assert governed_duckdb.classification(back).columns["email"].classification.value \
            == "pii"
        assert sorted(con.execute(f"{insert} 'C0002' RETURNING id").fetchall()) == [
            ("C0001",), ("C0002",)]
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY mails TO '{folder / 'leak.csv'}'")  # the table carries it
        assert not (folder / "leak.csv").exists()
    policy = config_from_dict({"user": {"id": "analyst_alice", "role": "data_analyst"},
                               "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
                               "policy": {"dir": str(personal_read_denying_bundle(folder))}})
    with lacuna.governed(policy):  # the returned columns decide the read, not the table
        ids = con.sql("INSERT INTO mails (id) SELECT customer_id FROM customers "
                      "WHERE customer_id = 'C0003' RETURNING id")
        assert ids.fetchall() == [("C0003",)]
        with pytest.raises(GovernanceViolation, match="personal data may not be read here"):
            con.sql("INSERT INTO mails (id) SELECT customer_id FROM customers "
                    "WHERE customer_id = 'C0004' RETURNING id, email")
    assert con.execute("SELECT count(*) FROM mails").fetchall() == [(6,)]
    con.close()


@pytest.mark.parametrize("database", [":memory:", "warehouse.duckdb"])
def test_duckdb_pieces_stored_in_different_tables_rejoin_the_column(folder: Path,
                                                                     database: str) -> None:
    """Each table keeps 4 characters of the address (a generalisation: public); a statement
    that puts two different pieces back together carries the address's class (in memory the pieces
    are remembered by the tables' comments, in a file by the lineage store too)."""
    customers = str(folder / "customers.csv")
    con = duckdb.connect(database if database == ":memory:" else str(folder / database))
    with lacuna.governed(cfg(folder)):
        if database == ":memory:":
            con.execute(f"CREATE TABLE c AS SELECT * FROM '{customers}'")
            source = "c"
        else:
            source = f"'{customers}'"
        for name, piece in (("a", "left(address, 4)"), ("b", "substring(address, 5, 4)"),
                            ("a2", "left(address, 4)")):
            con.execute(f"CREATE TABLE {name} AS SELECT customer_id, {piece} AS s FROM {source}")
        joined = con.sql("SELECT a.s || b.s AS e FROM a JOIN b USING (customer_id)")
        e = governed_duckdb.classification(joined).columns["e"]
        assert (e.classification.value, e.pii_type) == ("pii", "address")
        with pytest.raises(GovernanceViolation, match="Cannot export PROPRIETARY"):
            con.execute(f"COPY (SELECT a.s || b.s FROM a JOIN b USING (customer_id)) "
                        f"TO '{folder / 'leak.csv'}'")
        assert not (folder / "leak.csv").exists()
        con.execute(f"COPY (SELECT a.s, a2.s FROM a JOIN a2 USING (customer_id)) "
                    f"TO '{folder / 'same.csv'}'")  # the same piece twice: still one piece
        assert (folder / "same.csv").exists()
    con.close()
