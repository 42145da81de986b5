"""A table's stored classification under every spelling of its name, and through renames.

Lacuna keeps what a governed write stored by table name. It used to key it by the name as the
statement spelled it, so a table written as ``main.b`` (or ``"E"``) and read as ``b`` (or
``e``) was classified by its values alone: a column personal only by the name it was taken
from (``date_of_birth AS d``) went to Downloads. And ``ALTER TABLE … RENAME COLUMN`` moved
only a class already stored, so a column personal by its own name (``date_of_birth``, in a
table made outside Lacuna) lost its class when renamed. Now one canonical name
(:func:`lacuna.sql.tables.canonical`) keys the record, and a rename classifies the table as a
read would before it moves the class."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.governor import current
from lacuna.lineage.recording import Produced, run_for
from lacuna.lineage.records import DatasetRef, RunStatus
from lacuna.model import Action, ColumnKind, Tier
from lacuna.sql import tables
from lacuna.sql.tables import stored_classification

# names that are one table: SQLite and DuckDB fold every name, quoted or not
SPELLINGS = {
    "sqlite": ("{t}", "main.{t}", '"{T}"', 'MAIN."{T}"'),
    "duckdb": ("{t}", "main.{t}", '"{T}"', 'MAIN."{T}"'),
    "postgresql": ("{t}", "public.{t}", "PUBLIC.{T}"),  # unquoted: folded to lower case
}


def kids() -> pd.DataFrame:
    """Dates of birth that do not look like anyone's (children's, in the 2010s): the column's
    name, ``date_of_birth``, is what makes it personal."""
    return pd.DataFrame({
        "person_id": [f"P{i:03}" for i in range(60)],
        "date_of_birth": [f"201{i % 10}-0{1 + i % 9}-1{i % 10}" for i in range(60)],
        "region": [f"R{i % 4}" for i in range(60)]})


def load_kids(url: str) -> pd.DataFrame:
    frame = kids()
    engine = sa.create_engine(url)
    try:
        with _bypass.bypass():
            frame.to_sql("kids", engine, index=False)
    finally:
        engine.dispose()
    return frame


def to_downloads(engine: sa.Engine, sql: str, out: Path) -> pd.DataFrame:
    """``pd.read_sql(sql)`` then ``to_csv`` into Downloads, governed; the file read back."""
    with lacuna.governed(current().config):
        pd.read_sql(sql, engine).to_csv(out, index=False)
    return pd.read_csv(out, dtype=str)


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_a_table_written_under_one_spelling_keeps_its_class_under_every_other(
        kind, make_db, governed_engine, sandbox):
    """``CREATE TABLE main.b AS SELECT date_of_birth AS d …`` then ``SELECT d FROM b`` (and
    every other pair of spellings): ``d`` is read as the personal column it was stored as, and
    to Downloads it is denied; the public ``region`` beside it goes, its values intact."""
    url = make_db(kind, tables=())
    frame = load_kids(url)
    engine = governed_engine(url, aware=True)
    gov = current()
    spellings = SPELLINGS[kind]
    for i, written in enumerate(spellings):
        name = written.format(t=f"t{i}", T=f"T{i}")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE {name} AS SELECT date_of_birth AS d, region FROM kids")
        for j, read in enumerate(spellings):
            if read == written:
                continue
            other = read.format(t=f"t{i}", T=f"T{i}")
            stored = stored_classification(gov, engine.url.render_as_string(
                hide_password=False), other.replace('"', ""))
            assert stored is not None, (name, other)
            assert stored.columns["d"].classification is ColumnKind.PII, (name, other)
            out = sandbox / "Downloads" / f"d{i}{j}.csv"
            with pytest.raises(GovernanceViolation):
                to_downloads(engine, f"SELECT d FROM {other}", out)
            assert not out.exists(), (name, other)
            kept = to_downloads(engine, f"SELECT region FROM {other}",
                                sandbox / "Downloads" / f"r{i}{j}.csv")
            assert kept["region"].tolist() == frame["region"].tolist(), (name, other)


def test_canonical_names_fold_case_and_drop_the_default_schema():
    canonical = tables.canonical
    sqlite, pg = "sqlite:////x/w.db", "postgresql+psycopg://u@h:5432/crm"
    assert {canonical(sqlite, n) for n in ("a", "main.a", "A", "MAIN.A")} == {"a"}
    assert canonical(sqlite, "o.A") == "o.a"  # an attached database's prefix stays
    assert canonical("duckdb:////x/w.duckdb", "Main.Kids") == "kids"
    assert canonical(pg, "public.Kids") == "kids"
    assert canonical(pg, "main.kids") == "main.kids"  # not PostgreSQL's default schema


def test_a_class_stored_under_an_older_spelling_is_still_found(
        make_db, governed_engine, sandbox):
    """A record made before names were canonical (under the statement's spelling, ``#Older``)
    is still found: reading ``Older`` or ``main.Older`` is personal, not values only."""
    url = make_db("sqlite", tables=())
    load_kids(url)
    engine = governed_engine(url, aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE kept AS SELECT date_of_birth AS d FROM kids")
    gov = current()
    store = gov.lineage_store
    full = engine.url.render_as_string(hide_password=False)
    personal = stored_classification(gov, full, "kept")
    assert personal is not None
    with _bypass.bypass(), sqlite3.connect(sandbox / "warehouse.db") as plain:
        plain.execute("CREATE TABLE Older AS SELECT region AS d FROM kids")  # looks harmless
    plain.close()
    old = Produced(operation="test", inputs=(), outputs=(DatasetRef.of(f"{full}#Older"),),
                   classification=personal, columns=("d",))  # as the old code keyed it
    op = gov.operation(Action.TRANSFORM, personal, method="test")
    store.record(run_for(old, op, None, status=RunStatus.SUCCEEDED))
    for spelling in ("Older", "main.Older"):
        found = stored_classification(gov, full, spelling)
        assert found is not None, spelling
        assert found.columns["d"].classification is ColumnKind.PII, spelling
        with pytest.raises(GovernanceViolation):
            to_downloads(engine, f"SELECT d FROM {spelling}",
                         sandbox / "Downloads" / "older.csv")
    assert not (sandbox / "Downloads" / "older.csv").exists()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_a_column_renamed_keeps_the_class_its_name_gave_it(
        kind, make_db, governed_engine, sandbox):
    """A table made outside Lacuna: ``date_of_birth`` is personal by its name. Renamed to ``s``
    it stays so (SQLAlchemy); the renamed public ``region`` still goes, its values intact."""
    url = make_db(kind, tables=())
    frame = load_kids(url)
    engine = governed_engine(url, aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE kids RENAME COLUMN date_of_birth TO s")
        conn.exec_driver_sql("ALTER TABLE kids RENAME COLUMN region TO area")
    with pytest.raises(GovernanceViolation):
        to_downloads(engine, "SELECT s FROM kids", sandbox / "Downloads" / "s.csv")
    assert not (sandbox / "Downloads" / "s.csv").exists()
    c = lacuna.sql.table_classification(engine, "kids")
    assert c.columns["s"].classification is ColumnKind.PII
    kept = to_downloads(engine, "SELECT area FROM kids", sandbox / "Downloads" / "a.csv")
    assert kept["area"].tolist() == frame["region"].tolist()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgresql"])
def test_a_table_renamed_under_any_spelling_keeps_its_class(
        kind, make_db, governed_engine, sandbox):
    """A stored class (``date_of_birth AS d``) and a name's class move with ``RENAME TO`` and
    ``RENAME COLUMN`` whichever way the statement spells the table."""
    url = make_db(kind, tables=())
    frame = load_kids(url)
    engine = governed_engine(url, aware=True)
    default = "public" if kind == "postgresql" else "main"
    quoted = '"T1"' if kind != "postgresql" else "T1"
    renames = [
        (f"ALTER TABLE {default}.t0 RENAME COLUMN d TO e", "t0", "e"),
        (f"ALTER TABLE {quoted} RENAME COLUMN d TO e", "t1", "e"),
        ("ALTER TABLE t2 RENAME TO u2", "u2", "d"),
        (f"ALTER TABLE {default}.t3 RENAME TO u3", "u3", "d"),
        (f"ALTER TABLE {default}.kids RENAME TO k4", "k4", "date_of_birth"),
    ]
    for i, (rename, table, column) in enumerate(renames):
        with engine.begin() as conn:
            if i < 4:
                conn.exec_driver_sql(
                    f"CREATE TABLE t{i} AS SELECT date_of_birth AS d, region FROM kids")
            conn.exec_driver_sql(rename)
        out = sandbox / "Downloads" / f"{table}.csv"
        with pytest.raises(GovernanceViolation):
            to_downloads(engine, f"SELECT {column} FROM {table}", out)
        assert not out.exists(), rename
        kept = to_downloads(engine, f"SELECT region FROM {table}",
                            sandbox / "Downloads" / f"r{i}.csv")
        assert kept["region"].tolist() == frame["region"].tolist(), rename


@pytest.fixture
def enabled(sandbox_config: Callable[..., lacuna.Config], sandbox: Path):
    lacuna.enable(sandbox_config(destinations={"unmanaged": [str(sandbox / "Downloads")]}))
    yield
    lacuna.disable()


def test_a_rename_on_a_plain_sqlite3_connection_keeps_the_class(sandbox, enabled):
    """The same through ``sqlite3`` used directly (lacuna.integrations.sqlite3)."""
    frame = kids()
    path = sandbox / "plain.db"
    with _bypass.bypass():
        con = sqlite3.connect(path)
        frame.to_sql("kids", con, index=False)
        con.commit()
        con.close()
    con = sqlite3.connect(path)
    try:
        con.execute("ALTER TABLE kids RENAME COLUMN date_of_birth TO s")
        con.execute("ALTER TABLE kids RENAME COLUMN region TO area")
        con.execute("ALTER TABLE kids RENAME TO k2")
        con.commit()
        out = sandbox / "Downloads" / "s.csv"
        with pytest.raises(GovernanceViolation):
            pd.read_sql("SELECT s FROM k2", con).to_csv(out, index=False)
        assert not out.exists()
        back = sandbox / "Downloads" / "area.csv"
        pd.read_sql("SELECT area FROM k2", con).to_csv(back, index=False)
        assert pd.read_csv(back)["area"].tolist() == frame["region"].tolist()
    finally:
        con.close()


def test_a_frame_written_with_to_sql_keeps_its_class_under_another_spelling(
        sandbox, sandbox_config):
    """``df.to_sql("Kids2", con)`` of a frame whose ``d`` was ``date_of_birth`` stores it as
    personal; ``SELECT d FROM kids2`` (or ``main.KIDS2``) finds that, on a ``sqlite3``
    connection where pandas' record is the only one."""
    path = sandbox / "frames.db"
    lacuna.enable(sandbox_config(destinations={
        "unmanaged": [str(sandbox / "Downloads")],
        "classification_aware_databases": [f"sqlite:///{path}"]}))
    try:
        with _bypass.bypass():
            kids().to_csv(sandbox / "kids.csv", index=False)
        frame = pd.read_csv(sandbox / "kids.csv").rename(columns={"date_of_birth": "d"})
        con = sqlite3.connect(path)
        try:
            frame.to_sql("Kids2", con, index=False)
            con.commit()
            for spelling in ("kids2", "main.KIDS2"):
                out = sandbox / "Downloads" / "d.csv"
                with pytest.raises(GovernanceViolation):
                    pd.read_sql(f"SELECT d FROM {spelling}", con).to_csv(out, index=False)
                assert not out.exists(), spelling
                back = sandbox / "Downloads" / "region.csv"
                pd.read_sql(f"SELECT region FROM {spelling}", con).to_csv(back, index=False)
                assert pd.read_csv(back)["region"].tolist() == kids()["region"].tolist()
        finally:
            con.close()
    finally:
        lacuna.disable()


def test_a_quoted_capitalised_postgres_table_never_replaces_the_folded_ones_class(
        make_db, governed_engine):
    """PostgreSQL keeps a quoted name's case: ``"Contacts"`` is another table than
    ``contacts``, so a public write into it does not lower what ``contacts`` holds (its stored
    class, nor its comment), though names are otherwise folded to lower case."""
    engine = governed_engine(make_db("postgresql"), aware=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(  # e-mails that do not look like e-mails: PII by lineage only
            "CREATE TABLE contacts AS SELECT replace(replace(email, '@', ' '), '.', ' ') "
            "AS region FROM customers")
        conn.exec_driver_sql('CREATE TABLE "Contacts" AS SELECT \'R1\' AS region')
    gov = current()
    url = engine.url.render_as_string(hide_password=False)
    for spelling in ("contacts", "Contacts", "PUBLIC.CONTACTS"):
        found = stored_classification(gov, url, spelling)
        assert found is not None
        assert found.columns["region"].classification is ColumnKind.PII, spelling
    with engine.connect() as conn:
        c = lacuna.sql.classification(conn.exec_driver_sql("SELECT region FROM contacts"))
        assert c is not None
        assert c.columns["region"].classification is ColumnKind.PII
    # both exist: Lacuna cannot tell which a name without its quotes means (fail closed)
    for spelling in ('"Contacts"', "Contacts"):
        with engine.connect() as conn, pytest.raises(GovernanceViolation, match="two tables"):
            conn.exec_driver_sql(f"SELECT region FROM {spelling}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE contacts")
    with engine.connect() as conn:  # alone, it is found by neither spelling: PROPRIETARY
        result = conn.exec_driver_sql('SELECT region FROM "Contacts"')
        assert result.scalar() == "R1"
        c = lacuna.sql.classification(result)
        assert c is not None
        assert c.tier is Tier.PROPRIETARY
