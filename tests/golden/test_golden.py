"""The same rules everywhere: one set of golden cases, run by every engine Lacuna governs.

**The cases** live in ``tests/golden/cases/*.yaml``, a list per file. Each case reads the two
bundled datasets, ``customers`` and ``sales`` (``lacuna/data/*.csv``), and says what it does once
per host language, and what every engine must conclude::

    - name: rename_email_to_region          # unique across files
      pandas: customers[["email"]].rename(columns={"email": "region"})   # an expression
      sql: SELECT email AS region FROM customers     # ANSI enough for SQLite/DuckDB/PostgreSQL
      spark: ...                            # optional: PySpark expression (else `sql` is used)
      write: database                       # optional: also write the result to a database
                                            #   without classification support, or to an
                                            #   `aware_database` (classification_aware_databases)
      expect:
        tier: PROPRIETARY                   # optional: the result's tier
        tags: [PII]                         # optional: tags the result must carry
        columns: {region: pii}              # optional: column -> class (pii, identifier, ...)
        decision: denied                    # with `write`: allowed | denied
        alternatives: [anonymize]           # optional: kinds the denial must offer
      xfail: {duckdb: "why"}                # optional: a known semantic gap, per engine

**A runner** is one function per engine, ``runner(case, world) -> Outcome``: it loads the two
tables its own way, runs the case, and reports the result's classification (tier, tags, column
classes) and, for a write, the decision and the alternatives' kinds. :data:`RUNNERS` maps an
engine's name to it; the test runs every case with every runner and checks the outcome against
the case's ``expect`` and against the pandas outcome (the reference): the same tier, tags,
decision and alternatives. The in-process frame libraries (:data:`FILE_WRITERS`) also write a
write case's result to a local Parquet file, decided like pandas' ``to_parquet`` of the same
result; pyarrow, which has no database writer, is compared on that file write only.
A Spark runner loads the CSVs with ``spark.read.csv``, evaluates ``case.spark`` (or
``spark.sql(case.sql)`` over temp views), reads ``lacuna.spark.classification(df)``, and writes
with ``df.write.saveAsTable``; it needs only its own loader and the ``Outcome`` it builds.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

import lacuna
import lacuna.sql
from fixtures_postgres import new_postgres_database
from lacuna import _bypass
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.model import Classification

CASES_DIR = Path(__file__).parent / "cases"
TABLES = ("customers", "sales")


@dataclass(frozen=True)
class Case:
    name: str
    pandas: str
    sql: str
    expect: dict[str, Any]
    write: str | None = None
    spark: str | None = None
    polars: str | None = None  # a polars expression (eager and lazy runners)
    pyarrow: str | None = None  # an Arrow Table expression, where Arrow has the operation
    xfail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    tier: str
    tags: tuple[str, ...]
    columns: dict[str, str]
    decision: str | None = None
    alternatives: tuple[str, ...] = ()
    # a write case's result also written to a local Parquet file (an unmanaged location): the
    # destination every frame library can write to, compared with pandas' ``to_parquet``
    file_decision: str | None = None
    file_alternatives: tuple[str, ...] = ()


@dataclass
class World:
    """Where a runner works: a folder with the CSVs, and the URL of a scratch database for
    engines that write elsewhere (pandas)."""

    folder: Path
    url: str = ""


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text()):
            cases.append(Case(**raw))
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "golden case names must be unique"
    return cases


CASES = load_cases()


OUTSIDE = "outside"  # the world's unmanaged place: its scratch databases sit beside it in /tmp


def config(folder: Path, aware: str | None = None) -> lacuna.Config:
    # /tmp, unmanaged by default, holds the world: a database file there would be external
    # (lacuna.destinations); the unmanaged place here is the world's own "outside" folder
    destinations: dict[str, Any] = {"unmanaged": [str(folder / OUTSIDE), "~/Downloads"]}
    if aware:
        destinations["classification_aware_databases"] = [aware]
    return config_from_dict({
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
        "destinations": destinations,
    })


def outcome(c: Classification, decision: str | None = None,
            alternatives: tuple[str, ...] = (),
            file: tuple[str, tuple[str, ...]] | None = None) -> Outcome:
    return Outcome(
        tier=c.tier.value, tags=tuple(sorted(c.tags)),
        columns={n: col.classification.value for n, col in c.columns.items()},
        decision=decision, alternatives=alternatives,
        file_decision=file[0] if file else None, file_alternatives=file[1] if file else (),
    )


def parquet_path(world: World, engine: str) -> Path:
    """A fresh local file in the world's unmanaged place, for a write case's file write."""
    (world.folder / OUTSIDE).mkdir(exist_ok=True)
    return world.folder / OUTSIDE / f"{engine}-{uuid.uuid4().hex[:8]}.parquet"


def decided_file(write: Callable[[], Any], path: Path) -> tuple[str, tuple[str, ...]]:
    """The decision of a file write; a denied write leaves no file."""
    got = decided(write)
    assert path.exists() == (got[0] == "allowed"), "a denied write writes nothing"
    return got


@contextlib.contextmanager
def deciding(out: list[tuple[str, tuple[str, ...]]]) -> Iterator[None]:
    """Appends to ``out`` the decision of the write made inside the block (denied: with the
    kinds of the alternatives offered). A block, not a callable, where the write must run in
    the caller's frame (DuckDB finds the relations a query names in the calling frame)."""
    try:
        yield
    except GovernanceViolation as exc:
        out.append(("denied", tuple(sorted({a.kind for a in exc.decision.alternatives
                                            if a.kind}))))
        return
    out.append(("allowed", ()))


def decided(write: Callable[[], Any]) -> tuple[str, tuple[str, ...]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    with deciding(out):
        write()
    return out[0]


# -- pandas ------------------------------------------------------------------------------------


def run_pandas(case: Case, world: World) -> Outcome:
    out_db = world.folder / f"pandas-{uuid.uuid4().hex[:8]}.db"
    aware = f"sqlite:///{out_db}" if case.write == "aware_database" else None
    with lacuna.governed(config(world.folder, aware)):
        frames = {t: pd.read_csv(world.folder / f"{t}.csv") for t in TABLES}
        result = eval(case.pandas, {"pd": pd}, frames)
        c = result.lacuna_classification
        if case.write is None:
            return outcome(c)
        with sqlite3.connect(out_db) as con:
            decision, kinds = decided(lambda: result.to_sql("golden_out", con, index=False))
        path = parquet_path(world, "pandas")
        file = decided_file(lambda: result.to_parquet(path), path)
    return outcome(c, decision, kinds, file)


# -- SQL: SQLite, DuckDB, PostgreSQL through governed SQLAlchemy engines --------------------------


def run_sql(case: Case, world: World) -> Outcome:
    engine = sa.create_engine(world.url)
    lacuna.sql.govern(engine)
    target = f"golden_{uuid.uuid4().hex[:8]}"
    aware = world.url if case.write == "aware_database" else None
    try:
        with lacuna.governed(config(world.folder, aware)):
            with engine.connect() as conn:
                c = lacuna.sql.classification(conn.exec_driver_sql(case.sql))
                assert c is not None, "a governed read carries its classification"
            if case.write is None:
                return outcome(c)

            def write() -> None:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"CREATE TABLE {target} AS {case.sql}")

            decision, kinds = decided(write)
            created = target in sa.inspect(engine).get_table_names()
            assert created == (decision == "allowed"), "a denied write executes nothing"
        return outcome(c, decision, kinds)
    finally:
        engine.dispose()


def load_tables(url: str, folder: Path) -> None:
    engine = sa.create_engine(url)
    try:
        with _bypass.bypass():  # the fixture's own load, not a governed write
            for table in TABLES:
                pd.read_csv(folder / f"{table}.csv").to_sql(table, engine, index=False)
    finally:
        engine.dispose()


# -- polars (eager and lazy), pyarrow and DuckDB's Python API -------------------------------------


def _run_polars(case: Case, world: World, *, lazy: bool) -> Outcome:
    import polars as pl

    from lacuna.integrations import polars as governed_polars

    if case.polars is None:
        pytest.skip("no polars expression for this case")
    out_db = world.folder / f"polars-{uuid.uuid4().hex[:8]}.db"
    aware = f"sqlite:///{out_db}" if case.write == "aware_database" else None
    with lacuna.governed(config(world.folder, aware)):
        read = pl.scan_csv if lazy else pl.read_csv
        frames = {t: read(world.folder / f"{t}.csv") for t in TABLES}
        result = eval(case.polars, {"pl": pl}, frames)
        assert isinstance(result, pl.LazyFrame if lazy else pl.DataFrame)
        c = governed_polars.classification(result)
        if case.write is None:
            return outcome(c)
        eager = result.collect() if lazy else result
        decision, kinds = decided(lambda: eager.write_database(
            "golden_out", f"sqlite:///{out_db}", engine="sqlalchemy"))
        created = out_db.exists() and "golden_out" in sa.inspect(
            sa.create_engine(f"sqlite:///{out_db}")).get_table_names()
        assert created == (decision == "allowed"), "a denied write executes nothing"
        path = parquet_path(world, "polars")
        write = (lambda: result.sink_parquet(path)) if lazy else (
            lambda: eager.write_parquet(path))
        file = decided_file(write, path)
    return outcome(c, decision, kinds, file)


def run_polars(case: Case, world: World) -> Outcome:
    return _run_polars(case, world, lazy=False)


def run_polars_lazy(case: Case, world: World) -> Outcome:
    return _run_polars(case, world, lazy=True)


def run_pyarrow(case: Case, world: World) -> Outcome:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from lacuna.integrations import pyarrow as governed_arrow

    if case.pyarrow is None:
        pytest.skip("no pyarrow expression for this case")
    with lacuna.governed(config(world.folder)):
        tables = {t: pa_csv.read_csv(world.folder / f"{t}.csv") for t in TABLES}
        result = eval(case.pyarrow, {}, tables)
        c = governed_arrow.classification(result)
        if case.write is None:
            return outcome(c)
        path = parquet_path(world, "pyarrow")
        file = decided_file(lambda: pq.write_table(result, path), path)
    return outcome(c, file=file)  # Arrow has no database writer: its file write is compared


def run_duckdb_python(case: Case, world: World) -> Outcome:
    """Relations read with ``read_csv`` and scanned by name; a write case is a
    ``CREATE TABLE … AS`` into the connection's own database file (a database without
    classification support, or listed in ``classification_aware_databases``) and a
    ``COPY (…) TO`` a local Parquet file."""
    import duckdb

    from lacuna.integrations import duckdb as governed_duckdb

    database = world.folder / f"duckdb-{uuid.uuid4().hex[:8]}.duckdb"
    aware = f"duckdb:///{database}" if case.write == "aware_database" else None
    con = duckdb.connect(str(database))
    try:
        with lacuna.governed(config(world.folder, aware)):
            customers = con.read_csv(str(world.folder / "customers.csv"))  # noqa: F841 - scanned by name
            sales = con.read_csv(str(world.folder / "sales.csv"))  # noqa: F841
            c = governed_duckdb.classification(con.sql(case.sql))
            if case.write is None:
                return outcome(c)
            out: list[tuple[str, tuple[str, ...]]] = []
            with deciding(out):
                con.sql(f"CREATE TABLE golden_out AS {case.sql}")
            decision, kinds = out.pop()
            with _bypass.bypass():
                created = con.execute("SELECT count(*) FROM duckdb_tables() "
                                      "WHERE table_name = 'golden_out'").fetchall()
            assert (created == [(1,)]) == (decision == "allowed"), "a denied write runs nothing"
            path = parquet_path(world, "duckdb")
            with deciding(out):
                con.sql(f"COPY ({case.sql}) TO '{path}' (FORMAT parquet)")
            file = out.pop()
            assert path.exists() == (file[0] == "allowed"), "a denied write writes nothing"
        return outcome(c, decision, kinds, file)
    finally:
        con.close()


RUNNERS: dict[str, Callable[[Case, World], Outcome]] = {
    "pandas": run_pandas,
    "sqlite": run_sql,
    "duckdb": run_sql,
    "postgresql": run_sql,
    "polars": run_polars,
    "polars_lazy": run_polars_lazy,
    "pyarrow": run_pyarrow,
    "duckdb_python": run_duckdb_python,
}
IN_PROCESS = frozenset({"pandas", "polars", "polars_lazy", "pyarrow", "duckdb_python"})
# Engines whose write cases also write a local Parquet file (compared with pandas' to_parquet);
# pyarrow writes only files (Arrow has no database writer), so only its file write is compared.
FILE_WRITERS = frozenset({"polars", "polars_lazy", "pyarrow", "duckdb_python"})
FILES_ONLY = frozenset({"pyarrow"})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden")
    for table in TABLES:
        shutil.copy(resources.files("lacuna") / "data" / f"{table}.csv", path / f"{table}.csv")
    return path


@pytest.fixture(scope="module")
def databases(folder: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """One database per SQL engine for the module, the tables loaded once."""
    urls = {"sqlite": f"sqlite:///{folder / 'golden.db'}",
            "duckdb": f"duckdb:///{folder / 'golden.duckdb'}"}
    with contextlib.suppress(pytest.skip.Exception):
        urls["postgresql"] = new_postgres_database(request.getfixturevalue("postgres_url"))
    for url in urls.values():
        load_tables(url, folder)
    return urls


@pytest.fixture(scope="module")
def reference(folder: Path) -> dict[str, Outcome]:
    """The pandas outcomes, which every other engine must match."""
    return {}


@pytest.mark.parametrize("engine", list(RUNNERS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden_case(case: Case, engine: str, folder: Path, databases: dict[str, str],
                     reference: dict[str, Outcome]) -> None:
    if engine in case.xfail:
        pytest.xfail(case.xfail[engine])
    if engine not in IN_PROCESS and engine not in databases:
        pytest.skip(f"{engine} is not available here")
    world = World(folder, databases.get(engine, ""))
    got = RUNNERS[engine](case, world)
    expect = case.expect
    if "tier" in expect:
        assert got.tier == expect["tier"], got
    assert set(expect.get("tags", ())) <= set(got.tags), got
    for column, cls in expect.get("columns", {}).items():
        assert got.columns.get(column) == cls, (column, got)
    if case.write is not None and engine not in FILES_ONLY:
        assert got.decision == expect["decision"], got
        assert set(expect.get("alternatives", ())) <= set(got.alternatives), got
    if engine == "pandas":
        reference[case.name] = got
        return
    ref = reference.get(case.name) or run_pandas(case, World(folder))
    assert (got.tier, got.tags) == (ref.tier, ref.tags), (got, ref)
    if engine not in FILES_ONLY:
        assert (got.decision, got.alternatives) == (ref.decision, ref.alternatives), (got, ref)
    if case.write is not None and engine in FILE_WRITERS:
        assert got.file_decision is not None, "a write case writes a file too"
        assert (got.file_decision, got.file_alternatives) == (
            ref.file_decision, ref.file_alternatives), (got, ref)
