"""DuckDB results keep their class whichever API made them: a connection's pending result
(``con.execute(q).df()``, ``fetchdf``, ``fetch_df_chunk``, Arrow, the module's
``duckdb.execute`` / ``duckdb.fetchdf``), relations made by ``from_df``/``from_arrow``/
``from_query``/``table``/``view``/``table_function`` and every relation method
(``project``, ``aggregate``, ``join``, ``union``, ``group_by().agg``, ``query``, …), and the
module's frame functions (``duckdb.project(df, …)``, ``duckdb.write_csv(df, …)``).

``kids.csv``'s ``date_of_birth`` and ``salary`` are sensitive by their names only (2010s dates,
round numbers): renamed, only the tracked class can stop them. Each path is denied for them to
~/Downloads and allowed, the file read back equal, for public data there and for them into
governed storage. Real DuckDB, real files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import lacuna
from lacuna.errors import GovernanceViolation
from lacuna.model import Tier

duckdb = pytest.importorskip("duckdb")
# DuckDB's own advice on Arrow out of execute(): the paths are tested as users write them
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")

Make = Callable[[pd.DataFrame, str], pd.DataFrame]


@pytest.fixture(autouse=True)
def _fresh_default_connection() -> None:
    """Each case on a default connection of its own: a fetch with a count leaves the module's
    connection with an unfinished result (DuckDB's ResourceInUseException for the next case
    that uses it, in whatever order a worker runs them)."""
    duckdb.set_default_connection(duckdb.connect())


@pytest.fixture
def kids(sandbox: Path) -> pd.DataFrame:
    (sandbox / "kids.csv").write_text("person_id,date_of_birth,salary,region\n" + "".join(
        f"P{i:03},201{i % 10}-0{1 + i % 9}-1{i % 10},{50000 + 137 * i},R{i % 4}\n"
        for i in range(60)))
    return pd.read_csv(sandbox / "kids.csv")  # after lacuna.enable (the downloads fixture)


def public() -> pd.DataFrame:
    return pd.DataFrame({"colour": ["red", "green", "blue", "cyan"], "size": [1, 2, 3, 4]})


def _execute(src: pd.DataFrame, col: str) -> Any:
    return duckdb.connect().execute(f"SELECT {col} AS x FROM src ORDER BY x")


def _module_execute(src: pd.DataFrame, col: str) -> Any:
    duckdb.execute(f"SELECT {col} AS x FROM src ORDER BY x")
    return duckdb.default_connection()


def _table(src: pd.DataFrame, col: str) -> Any:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM src")
    return con


# each: a frame out of a DuckDB result of ``src``'s column ``col`` renamed ``x``
PATHS: dict[str, Make] = {
    "con.execute.df": lambda src, col: _execute(src, col).df(),
    "con.execute.fetchdf": lambda src, col: _execute(src, col).fetchdf(),
    "con.execute.fetch_df_chunk": lambda src, col: _execute(src, col).fetch_df_chunk(),
    "con.execute.to_arrow_table": lambda src, col: _execute(src, col).to_arrow_table()
    .to_pandas(),
    "con.execute.to_arrow_reader": lambda src, col: _execute(src, col).to_arrow_reader()
    .read_all().to_pandas(),
    "con.execute-parameters.df": lambda src, col: duckdb.connect().execute(
        f"SELECT {col} AS x FROM src WHERE ? ORDER BY x", [True]).df(),
    "duckdb.execute.fetchdf": lambda src, col: (_module_execute(src, col), duckdb.fetchdf())[1],
    "duckdb.execute.df": lambda src, col: _module_execute(src, col).df(),
    # the module's fetchers with a count: a fetch, not a relation made of an object
    "duckdb.execute.fetch_df_chunk(1)": lambda src, col: (
        _module_execute(src, col), duckdb.fetch_df_chunk(1))[1],
    "duckdb.execute.to_arrow_table(1000)": lambda src, col: (
        _module_execute(src, col), duckdb.to_arrow_table(1000))[1].to_pandas(),
    "relation.pl": lambda src, col: duckdb.sql(f"SELECT {col} AS x FROM src ORDER BY x").pl()
    .to_pandas(),
    "from_df.project": lambda src, col: duckdb.connect().from_df(src).project(
        f"{col} AS x").order("x").df(),
    "duckdb.from_df.project": lambda src, col: duckdb.from_df(src).project(
        f"{col} AS x").order("x").df(),
    "from_arrow.project": lambda src, col: duckdb.connect().from_arrow(
        pa.Table.from_pandas(src)).project(f"{col} AS x").order("x").df(),
    "from_query": lambda src, col: duckdb.connect().from_query(
        f"SELECT {col} AS x FROM src ORDER BY x").df(),
    "table.project": lambda src, col: _table(src, col).table("t").project(
        f"{col} AS x").order("x").df(),
    "view.project": lambda src, col: (lambda con: (
        con.sql("SELECT * FROM t").create_view("v"),
        con.view("v").project(f"{col} AS x").order("x").df())[1])(_table(src, col)),
    "set_alias.project": lambda src, col: duckdb.sql("SELECT * FROM src").set_alias(
        "z").project(f"z.{col} AS x").order("x").df(),
    "aggregate": lambda src, col: duckdb.sql("SELECT * FROM src").aggregate(
        f"max({col}) AS x").df(),
    "group_by.agg": lambda src, col: duckdb.sql("SELECT * FROM src").group_by(
        col).agg(f"max({col}) AS x").project("x").order("x").df(),
    "join.project": lambda src, col: duckdb.sql(f"SELECT {col} AS k FROM src").join(
        duckdb.sql(f"SELECT {col} AS k2, {col} AS x FROM src"), "k = k2").project(
        "x").order("x").df(),
    "union": lambda src, col: duckdb.sql("SELECT NULL AS x").union(duckdb.sql(
        f"SELECT {col} FROM src")).filter("x IS NOT NULL").order("x").df(),
    "cross": lambda src, col: duckdb.sql(f"SELECT {col} AS x FROM src").cross(
        duckdb.sql("SELECT 1 AS one")).project("x").order("x").df(),
    "query": lambda src, col: duckdb.sql("SELECT * FROM src").query(
        "q", f"SELECT {col} AS x FROM q ORDER BY x").df(),
    "max": lambda src, col: duckdb.sql(f"SELECT {col} AS y FROM src").max("y").df()
    .set_axis(["x"], axis=1),
    "duckdb.project(frame)": lambda src, col: duckdb.project(src, f"{col} AS x").order(
        "x").df(),
    "duckdb.query_df(frame)": lambda src, col: duckdb.query_df(
        src, "q", f"SELECT {col} AS x FROM q ORDER BY x").df(),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_duckdb_result_keeps_its_class_to_an_unmanaged_destination(
        downloads: Path, kids: pd.DataFrame, path: str) -> None:
    """Denied: the renamed sensitive column leaves DuckDB with its class, whichever API."""
    frame = PATHS[path](kids, "date_of_birth")
    assert frame.lacuna_classification.tier > Tier.PUBLIC, path
    target = downloads / "out.csv"
    with pytest.raises(GovernanceViolation):
        frame.to_csv(target, index=False)
    assert not target.exists()


@pytest.mark.parametrize("path", list(PATHS))
def test_a_duckdb_result_of_public_data_is_written_and_read_back(
        downloads: Path, path: str) -> None:
    """Allowed: the same path over public data writes ~/Downloads/out.csv, read back equal."""
    src = public()
    frame = PATHS[path](src, "colour")
    assert frame.lacuna_classification.tier == Tier.PUBLIC, path
    target = downloads / "out.csv"
    frame.to_csv(target, index=False)
    back = pd.read_csv(target)
    assert list(back.columns) == ["x"]
    assert sorted(back["x"]) == sorted(frame["x"])
    assert set(back["x"]) <= set(src["colour"])


@pytest.mark.parametrize("path", ["con.execute.df", "from_df.project", "join.project",
                                  "group_by.agg", "duckdb.query_df(frame)"])
def test_a_classified_duckdb_result_is_written_to_governed_storage(
        downloads: Path, sandbox: Path, kids: pd.DataFrame, path: str) -> None:
    """Allowed: the classified result goes to governed storage, read back equal."""
    frame = PATHS[path](kids, "date_of_birth")
    target = sandbox / "governed" / "workspace" / "out.csv"
    frame.to_csv(target, index=False)
    back = pd.read_csv(target)
    assert back["x"].astype(str).tolist() == frame["x"].astype(str).tolist()
    assert back.lacuna_classification.tier > Tier.PUBLIC


def _writes(rel: Any, target: Path) -> None:
    rel.write_csv(str(target))


# each: a relation write of ``src``'s column ``col`` renamed ``x`` to ``target``
WRITES: dict[str, Callable[[pd.DataFrame, str, Path], Any]] = {
    "from_df.project.write_csv": lambda src, col, t: _writes(
        duckdb.from_df(src).project(f"{col} AS x").order("x"), t),
    "aggregate.write_csv": lambda src, col, t: _writes(duckdb.sql("SELECT * FROM src")
                                                       .aggregate(f"max({col}) AS x"), t),
    "join.project.write_csv": lambda src, col, t: _writes(
        duckdb.sql(f"SELECT {col} AS k FROM src").join(duckdb.sql(
            f"SELECT {col} AS k2, {col} AS x FROM src"), "k = k2").project("x").order("x"), t),
    "table.project.to_csv": lambda src, col, t: _table(src, col).table("t").project(
        f"{col} AS x").order("x").to_csv(str(t)),
    "table_function.write_parquet": lambda src, col, t: duckdb.connect().table_function(
        "read_csv", [str(Path("src.csv").resolve())]).project(f"{col} AS x").order(
        "x").write_parquet(str(t)),
    "relation.query-COPY": lambda src, col, t: duckdb.sql("SELECT * FROM src").query(
        "q", f"COPY (SELECT {col} AS x FROM q ORDER BY x) TO '{t}' (HEADER)"),
    "duckdb.write_csv(frame)": lambda src, col, t: duckdb.write_csv(
        src[[col]].rename(columns={col: "x"}).sort_values("x"), str(t)),
}


def _read(target: Path) -> pd.DataFrame:
    if target.suffix == ".parquet":
        return pd.read_parquet(target)
    return pd.read_csv(target)


@pytest.mark.parametrize("path", list(WRITES))
def test_relation_writes_are_decided_on_the_relation_s_class(
        downloads: Path, sandbox: Path, kids: pd.DataFrame, path: str) -> None:
    """Denied to ~/Downloads for the sensitive column (nothing written); allowed there for
    public data and into governed storage for the sensitive one, each read back equal."""
    suffix = ".parquet" if "parquet" in path else ".csv"
    for src, col in ((kids, "date_of_birth"), (public(), "colour")):
        # table_function reads src.csv itself: the same rows as ``src``
        (sandbox / "src.csv").write_text((sandbox / "kids.csv").read_text()
                                         if col == "date_of_birth" else "colour,size\n" + "".join(
                                             f"{c},{n}\n" for c, n in src.itertuples(index=False)))
        target = downloads / f"public{suffix}"
        if col == "date_of_birth":
            denied = downloads / f"denied{suffix}"
            with pytest.raises(GovernanceViolation):
                WRITES[path](src, col, denied)
            assert not denied.exists()
            target = sandbox / "governed" / "workspace" / f"kept{suffix}"
        WRITES[path](src, col, target)
        back = _read(target)
        assert list(back.columns) == ["x"]
        expected = sorted(src[col].astype(str)) if "aggregate" not in path \
            else [str(src[col].max())]
        assert sorted(back["x"].astype(str)) == expected


def test_a_new_statement_replaces_the_pending_result(downloads: Path, kids: pd.DataFrame
                                                     ) -> None:
    """The pending result's class is the last statement's: a public query after a sensitive
    one is written; a sensitive one after a public one is not."""
    con, src = duckdb.connect(), kids  # noqa: F841 - DuckDB scans ``src`` by name
    con.execute("SELECT date_of_birth AS x FROM src").fetchall()
    con.execute("SELECT 'red' AS x").df().to_csv(downloads / "public.csv", index=False)
    assert pd.read_csv(downloads / "public.csv")["x"].tolist() == ["red"]
    con.execute("SELECT 'red' AS x").fetchall()
    with pytest.raises(GovernanceViolation):
        con.execute("SELECT date_of_birth AS x FROM src").df().to_csv(downloads / "k.csv")
    assert not (downloads / "k.csv").exists()


def test_a_relation_method_lacuna_does_not_know_is_classified_fail_closed(
        downloads: Path, kids: pd.DataFrame) -> None:
    """A method that is neither a filter, SQL nor a join (``describe``, ``value_counts``,
    ``rename``, ``unpivot``): every column takes the strictest class of its input's."""
    rel = duckdb.sql("SELECT date_of_birth, region FROM kids")
    for made in (rel.describe(), rel.value_counts("date_of_birth"),
                 rel.rename(date_of_birth="x"), rel.unpivot("date_of_birth")):
        frame = made.df()
        assert frame.lacuna_classification.tier > Tier.PUBLIC
        with pytest.raises(GovernanceViolation):
            frame.to_csv(downloads / "x.csv")
    assert not (downloads / "x.csv").exists()


@pytest.mark.parametrize("how", ["execute", "from_df"])
def test_a_duckdb_copy_keeps_the_retention_clock(sandbox: Path, how: str) -> None:
    """A copy through DuckDB of data first seen four years ago (another session, another
    trail) is written with that first_seen, as a pandas copy is: retention plans it due."""
    import time_machine
    import yaml

    from lacuna.lineage.sidecar import read_sidecar

    ws = sandbox / "governed" / "workspace"
    conf: dict[str, Any] = {
        "user": {"id": "records_manager", "role": "records_manager"},
        "destinations": {"governed": [f"{ws}/"]},
        "audit": {"url": f"sqlite:///{sandbox / 'audit.db'}"}}
    (sandbox / "first.yaml").write_text(yaml.safe_dump(conf))
    then = datetime.now(UTC) - timedelta(days=4 * 365)
    with time_machine.travel(then, tick=False):
        lacuna.enable(str(sandbox / "first.yaml"))
        pd.read_csv(sandbox / "sales.csv").to_csv(ws / "old.csv", index=False)
        lacuna.disable()
    conf["audit"] = {"url": f"sqlite:///{sandbox / 'elsewhere.db'}"}
    (sandbox / "elsewhere.yaml").write_text(yaml.safe_dump(conf))
    lacuna.enable(str(sandbox / "elsewhere.yaml"))
    frame = pd.read_csv(ws / "old.csv")
    copy = ws / "copy.csv"
    if how == "execute":
        duckdb.connect().execute("SELECT * FROM frame").df().to_csv(copy, index=False)
    else:
        duckdb.from_df(frame).project("*").write_csv(str(copy))
    assert pd.read_csv(copy).equals(pd.read_csv(ws / "old.csv"))  # sealed: read governed
    lacuna.disable()
    old, new = read_sidecar(ws / "old.csv"), read_sidecar(copy)
    assert new.trusted
    assert old.first_seen is not None
    assert new.first_seen == old.first_seen
    assert abs(old.first_seen - then) < timedelta(days=1)
    assert new.classification.tier == old.classification.tier



def test_a_refused_statement_does_not_unclassify_the_pending_result(
        downloads: Path, kids: pd.DataFrame) -> None:
    """A refused ``execute`` does not clear the earlier query's state: what is fetched next is
    nothing (Lacuna's own catalog look-ups ran on the connection) or carries that class."""
    con, src = duckdb.connect(), kids  # noqa: F841 - DuckDB scans ``src`` by name
    con.execute("SELECT date_of_birth AS x FROM src ORDER BY x")
    with pytest.raises(GovernanceViolation):
        con.execute(f"COPY (SELECT date_of_birth FROM src) TO '{downloads / 'c.csv'}'")
    assert not (downloads / "c.csv").exists()
    frame = con.df()
    assert frame is None or frame.lacuna_classification.tier > Tier.PUBLIC


def test_a_table_macro_is_fail_closed_as_a_scalar_one_is(downloads: Path, kids: pd.DataFrame
                                                        ) -> None:
    """``FROM m()`` of a table macro runs a body Lacuna does not read: the statement is
    PROPRIETARY (fail closed), as ``SELECT m()`` of a scalar macro is (docs/sql.md); a query
    of the same table without the macro is classified column by column as before."""
    con, src = duckdb.connect(), kids  # noqa: F841 - DuckDB scans ``src`` by name
    con.execute("CREATE TABLE t AS SELECT * FROM src")
    con.execute("CREATE MACRO m() AS TABLE SELECT date_of_birth AS x FROM t")
    con.execute("CREATE MACRO regions() AS TABLE SELECT region FROM t")
    for made in (lambda: con.sql("SELECT * FROM m()").df(),
                 lambda: con.sql("SELECT * FROM regions()").df()):
        frame = made()
        assert frame.lacuna_classification.tier is Tier.PROPRIETARY
        assert "defined in the database" in " ".join(frame.lacuna_classification.reasoning)
        with pytest.raises(GovernanceViolation):
            frame.to_csv(downloads / "m.csv")
    with pytest.raises(GovernanceViolation):
        con.execute(f"COPY (SELECT * FROM m()) TO '{downloads / 'c.csv'}'")
    assert not (downloads / "m.csv").exists()
    assert not (downloads / "c.csv").exists()
    con.sql("SELECT region FROM t").df().to_csv(downloads / "r.csv", index=False)
    assert sorted(pd.read_csv(downloads / "r.csv")["region"]) == sorted(kids["region"])


@pytest.mark.parametrize("make", ["create_view", "to_view"])
def test_a_view_made_from_a_relation_carries_its_class(downloads: Path, kids: pd.DataFrame,
                                                      make: str) -> None:
    """``rel.create_view("v")``: a later ``SELECT … FROM v`` is decided on the relation's class
    (the view's comment), not on its names and values; a view of public columns is written and
    read back."""
    con = duckdb.connect()
    getattr(con.from_df(kids).project("date_of_birth AS x"), make)("v")
    frame = con.sql("SELECT x FROM v ORDER BY x").df()
    assert frame.lacuna_classification.tier > Tier.PUBLIC
    with pytest.raises(GovernanceViolation):
        frame.to_csv(downloads / "v.csv")
    assert not (downloads / "v.csv").exists()
    getattr(con.from_df(kids).project("region AS r"), make)("pub")
    con.sql("SELECT r FROM pub").df().to_csv(downloads / "pub.csv", index=False)
    assert sorted(pd.read_csv(downloads / "pub.csv")["r"]) == sorted(kids["region"])
