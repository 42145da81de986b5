"""The DB-API and DuckDB integrations import Lacuna's SQL analysis (sqlglot) themselves. When it
does not import, a statement sent on a ``sqlite3``, DuckDB, psycopg or asyncpg connection was
denied naming a bare ImportError (enforce; nothing said what to install) or, in ``warn`` mode,
run ungoverned. Each is now refused in every mode, as the SQLAlchemy hook refuses it, with the
ComponentImportError that says what to install; nothing runs. polars SQL (``SQLContext.execute``,
``pl.sql``, ``DataFrame.sql``) is refused the same way (its result was classified as the
strictest registered table, a reason naming the ImportError). In-process: the import is made
to fail through ``sys.modules`` (monkeypatch puts every module back), after the allowed path
ran (so every module the analysis imports is loaded before, and restored after)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

import lacuna
import loops
from fixtures_postgres import libpq_dsn as _dsn
from lacuna.errors import ComponentImportError, IntegrationError
from lacuna.model import Tier

MODES = ("enforce", "warn")
_ANALYSIS = ("lacuna.sql.govern", "lacuna.sql.statements", "lacuna.sql.tables",
             "lacuna.lineage.sql", "lacuna.lineage.sql_dialects")


def _installed() -> bool:
    try:
        return bool(metadata.requires("lacuna"))
    except metadata.PackageNotFoundError:
        return False


def _without_sqlglot(patch: pytest.MonkeyPatch) -> None:
    """A process without sqlglot: the analysis is imported again, and sqlglot is not there.
    Each module taken out is put back on its package too: one imported again meanwhile
    (``lacuna.sql.tables`` needs no sqlglot) is bound there by the import system, and a later
    test patching ``lacuna.sql.tables.X`` patched that copy, not the module the code uses."""
    for name in _ANALYSIS:
        module = sys.modules.get(name)
        if module is None:
            continue
        patch.delitem(sys.modules, name)
        package, _, attribute = name.rpartition(".")
        patch.setattr(sys.modules[package], attribute, module)
    for name in [n for n in sys.modules if n.startswith("sqlglot.")]:
        patch.setitem(sys.modules, name, None)
    patch.setitem(sys.modules, "sqlglot", None)


@pytest.fixture(autouse=True)
def _modules_kept() -> Any:
    """Each module of the analysis is, after the test, the one its package holds."""
    yield
    for name in _ANALYSIS:
        package, _, attribute = name.rpartition(".")
        module = sys.modules.get(name)
        bound = getattr(sys.modules[package], attribute, module)
        if module is not None and isinstance(bound, ModuleType):  # lacuna.sql.govern: a function
            assert bound is module, name


def _refused(run: Callable[[], Any], said: str = "The statement did not run") -> None:
    """``run`` is refused with the error that names the analysis and says what to install."""
    with pytest.raises(ComponentImportError) as refused:
        run()
    error = refused.value
    assert isinstance(error, IntegrationError)
    assert (error.name or "").split(".")[0] == "sqlglot"
    message = str(error)
    assert message.startswith("Lacuna's SQL statement analysis (lacuna.sql.govern")
    assert said in message
    fix = message.partition("Fix: ")[2]
    assert "sqlglot" in fix
    if _installed():
        assert fix.startswith('pip install "sqlglot')


def _enable(sandbox_config: Callable[..., lacuna.Config], mode: str, *urls: str) -> None:
    lacuna.enable(sandbox_config(mode=mode, destinations={
        "unmanaged": [str(Path.cwd() / "Downloads")],
        "classification_aware_databases": list(urls)}))


@pytest.mark.parametrize("mode", MODES)
def test_sqlite3_without_the_analysis_runs_nothing_and_says_what_to_install(
        tmp_path, sandbox_config, monkeypatch, mode):
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as plain:
        plain.execute("CREATE TABLE counts (n INTEGER)")
    plain.close()
    _enable(sandbox_config, mode, f"sqlite:///{path}")
    try:
        con = sqlite3.connect(path)
        con.execute("INSERT INTO counts VALUES (1)")  # allowed, with the analysis importable
        con.commit()
        with monkeypatch.context() as patch:
            _without_sqlglot(patch)
            _refused(lambda: con.execute("INSERT INTO counts VALUES (2)"))
            _refused(lambda: con.executemany("INSERT INTO counts VALUES (?)", [(3,)]))
            _refused(lambda: con.executescript("INSERT INTO counts VALUES (4);"))
            _refused(lambda: pd.read_sql("SELECT n FROM counts", con), "it did not run")
            _refused(lambda: pd.DataFrame({"n": [6]}).to_sql("counts", con, if_exists="append",
                                                             index=False), "nothing was written")
        con.commit()
        con.execute("INSERT INTO counts VALUES (5)")  # importable again: decided, allowed
        con.commit()
        con.close()
    finally:
        lacuna.disable()
    with sqlite3.connect(path) as plain:
        assert [n for (n,) in plain.execute("SELECT n FROM counts ORDER BY n")] == [1, 5]
    plain.close()


@pytest.mark.parametrize("mode", MODES)
def test_duckdb_without_the_analysis_runs_nothing_and_says_what_to_install(
        tmp_path, sandbox_config, monkeypatch, mode):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "w.duckdb"
    _enable(sandbox_config, mode, f"duckdb:///{path}")
    try:
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE counts (n INTEGER)")
        con.execute("INSERT INTO counts VALUES (1)")  # allowed, with the analysis importable
        with monkeypatch.context() as patch:
            _without_sqlglot(patch)
            _refused(lambda: con.execute("INSERT INTO counts VALUES (2)"))
            _refused(lambda: con.sql("INSERT INTO counts VALUES (3)"))
            _refused(lambda: duckdb.execute("SELECT 1"))  # the module's default connection
        con.execute("INSERT INTO counts VALUES (5)")  # importable again: decided, allowed
        rows = con.execute("SELECT n FROM counts ORDER BY n").fetchall()
        con.close()
    finally:
        lacuna.disable()
    assert rows == [(1,), (5,)]


@pytest.mark.parametrize("mode", MODES)
def test_postgres_drivers_without_the_analysis_run_nothing(
        pg, sandbox_config, monkeypatch, tmp_path, mode):
    psycopg = pytest.importorskip("psycopg")
    psycopg2 = pytest.importorskip("psycopg2")
    asyncpg = pytest.importorskip("asyncpg")
    _enable(sandbox_config, mode, pg)
    con = psycopg.connect(_dsn(pg), autocommit=True)
    try:
        con.execute("CREATE TABLE counts (n INTEGER)")
        con.execute("INSERT INTO counts VALUES (1)")  # allowed, with the analysis importable

        async def on_asyncpg() -> None:
            other = await asyncpg.connect(_dsn(pg))
            try:
                await other.execute("INSERT INTO counts VALUES (10)")  # allowed
                with monkeypatch.context() as patch:
                    _without_sqlglot(patch)
                    with pytest.raises(ComponentImportError, match=r"Fix: .*sqlglot"):
                        await other.execute("INSERT INTO counts VALUES (11)")
                    with pytest.raises(ComponentImportError, match=r"Fix: .*sqlglot"):
                        await other.fetch("SELECT n FROM counts")
            finally:
                await other.close()

        old = psycopg2.connect(_dsn(pg))
        try:
            with old.cursor() as cur:
                cur.execute("INSERT INTO counts VALUES (20)")  # allowed
            old.commit()
            with monkeypatch.context() as patch:
                _without_sqlglot(patch)
                _refused(lambda: con.execute("INSERT INTO counts VALUES (2)"))
                _refused(lambda: con.cursor().executemany("INSERT INTO counts VALUES (%s)",
                                                          [(3,)]))
                _refused(lambda: old.cursor().execute("INSERT INTO counts VALUES (21)"))
                with (tmp_path / "counts.csv").open("w") as out:
                    _refused(lambda: old.cursor().copy_expert("COPY counts TO STDOUT", out))
            old.rollback()
        finally:
            old.close()
        loops.run(on_asyncpg())
        rows = [n for (n,) in con.execute("SELECT n FROM counts ORDER BY n").fetchall()]
    finally:
        con.close()
        lacuna.disable()
    assert rows == [1, 10, 20]
    assert not (tmp_path / "counts.csv").read_text()  # nothing copied into the file


def _kind(column: Any) -> tuple[Any, ...]:
    """What a column's class says (not how it was found: by lineage or by its values)."""
    return (column.classification, column.pii_type, column.sensitivity)


@pytest.mark.parametrize("mode", MODES)
def test_polars_sql_without_the_analysis_runs_nothing_and_says_what_to_install(
        sandbox_config, monkeypatch, mode):
    pl = pytest.importorskip("polars")
    from lacuna.integrations import polars as lpolars

    _enable(sandbox_config, mode)
    try:
        people = pl.DataFrame({"email": [f"user{i}@example.com" for i in range(20)],
                               "n": list(range(20))})
        email = lpolars.classification(people).columns["email"]
        assert email.classification.value == "pii"
        personal = lpolars.classification(people.select("email")).tier
        assert personal is not Tier.PUBLIC
        ctx = pl.SQLContext(t=people)
        # allowed, with the analysis importable: classified column by column
        picked = ctx.execute("SELECT email AS contact, n FROM t", eager=True)
        assert _kind(lpolars.classification(picked).columns["contact"]) == _kind(email)
        with monkeypatch.context() as patch:
            _without_sqlglot(patch)
            _refused(lambda: ctx.execute("SELECT n FROM t", eager=True))
            _refused(lambda: ctx.execute("CREATE TABLE z AS SELECT email FROM t"))
            _refused(lambda: pl.SQLContext(t=people).execute("SELECT n FROM t"))  # lazy
            _refused(lambda: people.sql("SELECT n FROM self"))
            _refused(lambda: people.lazy().sql("SELECT n FROM self"))
            _refused(lambda: pl.sql("SELECT n FROM people", eager=True))
            assert "z" not in ctx.tables()  # the CREATE TABLE did not run
        # importable again: decided column by column
        counted = pl.sql("SELECT n FROM people", eager=True)
        contacts = people.sql("SELECT email AS contact FROM self")
    finally:
        lacuna.disable()
    assert counted["n"].to_list() == list(range(20))
    assert lpolars.classification(counted).tier is Tier.PUBLIC
    assert _kind(lpolars.classification(contacts).columns["contact"]) == _kind(email)
    assert lpolars.classification(contacts).tier is personal
