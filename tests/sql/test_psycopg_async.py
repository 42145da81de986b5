"""psycopg's ``AsyncConnection`` under ``lacuna.enable()``: ``await aconn.execute("COPY
customers TO '/tmp/x.csv'")`` or ``INSERT INTO notes SELECT email FROM customers`` ran
undecided (only the synchronous cursors were governed). Each async statement is now decided as
a synchronous cursor's is (lacuna.integrations.psycopg), on the session's live PostgreSQL,
with the catalog look-ups awaited on the statement's own connection."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
import loops
from audit_rows import methods as _methods
from fixtures_postgres import libpq_dsn as _dsn
from lacuna.errors import GovernanceViolation
from lacuna.integrations import aio
from lacuna.model import ColumnKind

PLAIN = {(owner, name): vars(owner)[name] for owner, names in (
    (psycopg.AsyncCursor, ("execute", "executemany", "copy", "stream")),
    (psycopg.AsyncServerCursor, ("execute", "executemany"))) for name in names}


@pytest.fixture
def pg(make_db: Callable[..., str]) -> str:
    """A new database on the session's PostgreSQL with ``customers`` and ``sales``, and an
    empty ``notes (e TEXT)`` (its SQLAlchemy URL)."""
    url = make_db("postgresql")
    with psycopg.connect(_dsn(url), autocommit=True) as con:
        con.execute("CREATE TABLE notes (e TEXT)")
    return url


def _count(pg: str, table: str) -> int:
    with psycopg.connect(_dsn(pg)) as con:  # synchronous: ungoverned before enable, or a read
        row = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _trigger_tables(pg: str) -> None:
    """``members`` (a trigger on it copies the customers' e-mails into ``contacts``) and
    ``guests`` (none), made before enable(): ungoverned."""
    with psycopg.connect(_dsn(pg), autocommit=True) as admin:
        for sql in (
            "CREATE TABLE contacts (c TEXT)",
            "CREATE FUNCTION copy_mails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO contacts SELECT email FROM customers; RETURN NULL; END $$",
            "CREATE TABLE members (id TEXT)",
            "CREATE TRIGGER on_insert AFTER INSERT ON members FOR EACH STATEMENT "
            "EXECUTE FUNCTION copy_mails()",
            "CREATE TABLE guests (id TEXT)",
        ):
            admin.execute(sql)


def test_async_copies_of_pii_out_are_refused_and_disable_restores(enabled, pg, sandbox):
    out = sandbox / "Downloads" / "mails.csv"

    async def main() -> None:
        before = await psycopg.AsyncConnection.connect(_dsn(pg))  # opened before enable()
        enabled()
        assert all(vars(owner)[name] is not plain for (owner, name), plain in PLAIN.items())
        con = await psycopg.AsyncConnection.connect(_dsn(pg))
        runs: list[Callable[[], Any]] = [
            lambda: con.execute(f"COPY (SELECT email FROM customers) TO '{out}'"),
            lambda: con.cursor().execute("INSERT INTO notes SELECT email FROM customers"),
            lambda: before.execute("CREATE TABLE kept AS SELECT email FROM customers"),
        ]
        for run in runs:
            with pytest.raises(GovernanceViolation):
                await run()
            await con.rollback()
            await before.rollback()
        lacuna.disable()
        assert all(vars(owner)[name] is plain for (owner, name), plain in PLAIN.items())
        cur = await con.execute("SELECT to_regclass('kept')")
        assert await cur.fetchone() == (None,)
        await con.execute("CREATE TABLE kept AS SELECT email FROM customers")  # ungoverned
        await con.commit()
        await con.close()
        await before.close()

    loops.run(main())
    assert not out.exists()
    assert _count(pg, "notes") == 0
    assert _count(pg, "kept") == 60
    assert [allowed for _, allowed in _methods(sandbox)] == [False, False, False]


def test_async_reads_and_allowed_writes_round_trip(enabled, pg, sandbox):
    """An allowed read returns its rows and is classified; allowed writes (``CREATE TABLE …
    AS``, ``executemany``) run between their decision and their record, and the written
    tables' classifications are stored, as on a synchronous cursor."""
    enabled(aware=True)

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(_dsn(pg)) as con:
            cur = await con.execute("SELECT email FROM customers WHERE customer_id = %s",
                                    ("C0001",))
            rows = await cur.fetchall()
            assert len(rows) == 1
            assert "@" in rows[0][0]
            read = lacuna.sql.classification()
            assert read is not None
            assert read.columns["email"].classification is ColumnKind.PII
            await con.execute("CREATE TABLE kept AS SELECT customer_id, email FROM customers")
            async with con.cursor() as cur:
                await cur.executemany("INSERT INTO notes VALUES (%(e)s)",
                                      ({"e": f"user{i}@example.org"} for i in range(3)))
            await con.commit()

    loops.run(main())
    methods = [m for m, _ in _methods(sandbox)]
    assert methods.count("sql.postgres.select") == 1
    assert methods.count("sql.postgres.create") == 2  # decided, then done
    assert methods.count("sql.postgres.insert") == 2
    assert _count(pg, "notes") == 3
    assert _count(pg, "kept") == 60
    engine = sa.create_engine(pg)
    try:
        for table, column in (("kept", "email"), ("notes", "e")):
            stored = lacuna.sql.table_classification(engine, table)
            assert stored is not None, table
            assert stored.columns[column].classification is ColumnKind.PII, table
    finally:
        engine.dispose()


def test_async_triggers_that_copy_pii_are_refused(enabled, pg, sandbox):
    """A PL/pgSQL trigger fired by an async ``INSERT`` runs its body undecided: refused, as on
    a synchronous cursor, also when the trigger was created earlier in the same (uncommitted)
    transaction, past Lacuna (libpq): the look-ups run on the statement's own connection."""
    _trigger_tables(pg)
    enabled(aware=True)

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(_dsn(pg)) as con:
            with pytest.raises(GovernanceViolation, match="trigger on_insert"):
                await con.execute("INSERT INTO members VALUES ('x')")
            await con.rollback()
            await con.execute("INSERT INTO guests VALUES ('x')")  # no trigger: runs
            con.pgconn.exec_(b"CREATE TRIGGER on_guest AFTER INSERT ON guests FOR EACH "
                             b"STATEMENT EXECUTE FUNCTION copy_mails()")
            with pytest.raises(GovernanceViolation, match="trigger on_guest"):
                await con.execute("INSERT INTO guests VALUES ('y')")
            await con.rollback()

    loops.run(main())
    assert _count(pg, "contacts") == 0
    assert _count(pg, "members") == 0
    assert _count(pg, "guests") == 0


def test_async_stream_copy_and_server_cursor_are_decided(enabled, pg, sandbox):
    with psycopg.connect(_dsn(pg), autocommit=True) as admin:  # before enable(): ungoverned
        admin.execute("CREATE FUNCTION leak() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
                      "INSERT INTO notes SELECT email FROM customers; RETURN 1; END $$")
    enabled()
    out = sandbox / "Downloads" / "server.csv"

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(_dsn(pg), autocommit=True) as con:
            cur = con.cursor()
            streamed = [row async for row in cur.stream("SELECT email FROM customers")]
            assert len(streamed) == 60
            assert all("@" in r[0] for r in streamed)
            read = lacuna.sql.classification()
            assert read is not None
            assert read.columns["email"].classification is ColumnKind.PII
            with pytest.raises(GovernanceViolation):  # decided before the query is sent
                async for _ in cur.stream(
                        "INSERT INTO notes SELECT email FROM customers RETURNING e"):
                    pass
            with pytest.raises(GovernanceViolation):  # decided when entered
                async with cur.copy("COPY notes FROM STDIN") as copy:
                    await copy.write_row(("someone@example.org",))
            async with cur.copy("COPY (SELECT region FROM customers) TO STDOUT") as copy:
                regions = [row async for row in copy.rows()]
            assert len(regions) == 60
        async with await psycopg.AsyncConnection.connect(_dsn(pg)) as con:
            async with con.cursor("named") as server:  # DECLARE named CURSOR FOR …
                with pytest.raises(GovernanceViolation):
                    await server.execute("SELECT leak()")
            await con.rollback()
            async with con.cursor("named") as server:
                await server.execute("SELECT email FROM customers")
                assert len(await server.fetchall()) == 60

    loops.run(main())
    assert not out.exists()
    assert _count(pg, "notes") == 0
    methods = _methods(sandbox)
    assert ("psycopg" not in str(methods)), methods
    assert [allowed for _, allowed in methods].count(False) == 3, methods


def test_sqlalchemy_async_on_psycopg_is_decided_once(enabled, pg, sandbox):
    """SQLAlchemy's asyncio engine on psycopg runs ``AsyncCursor.execute`` itself: the SQL hook
    decides its statement, once (its look-ups included: Lacuna's own), and the same query on
    psycopg's own ``AsyncConnection`` is decided once too."""
    from sqlalchemy.ext.asyncio import create_async_engine

    enabled()

    async def main() -> None:
        engine = create_async_engine(pg)
        try:
            async with engine.connect() as conn:
                result = await conn.exec_driver_sql("SELECT email FROM customers")
                assert len(result.fetchall()) == 60
        finally:
            await engine.dispose()
        async with await psycopg.AsyncConnection.connect(_dsn(pg)) as con:
            cur = await con.execute("SELECT email FROM customers")
            assert len(await cur.fetchall()) == 60

    loops.run(main())
    assert _methods(sandbox) == [("sql.postgres.select", True)] * 2


def test_without_greenlet_async_statements_are_refused_not_run(enabled, pg, sandbox,
                                                              monkeypatch):
    """Lacuna cannot decide an async statement without greenlet: enforce refuses it, saying
    how to fix it, and runs nothing; warn runs it, warning."""
    monkeypatch.setitem(sys.modules, "greenlet", None)
    aio._bridge.cache_clear()
    try:
        enabled()

        async def insert() -> None:
            async with await psycopg.AsyncConnection.connect(_dsn(pg), autocommit=True) as con:
                await con.execute("INSERT INTO notes VALUES ('public')")

        with pytest.raises(GovernanceViolation, match="pip install greenlet"):
            loops.run(insert())
        assert _count(pg, "notes") == 0
        lacuna.disable()
        enabled(mode="warn")
        with pytest.warns(UserWarning, match="greenlet"):
            loops.run(insert())
        assert _count(pg, "notes") == 1
    finally:
        monkeypatch.undo()
        aio._bridge.cache_clear()


def test_concurrent_tasks_a_governed_block_and_a_dict_row_connection(sandbox_config, pg,
                                                                   sandbox):
    """Tasks deciding at once (on their own connections and sharing one) each get their own
    decision; a ``governed()`` block of one task governs its statements only; a connection
    whose rows are dicts still has its triggers looked up (Lacuna reads tuples)."""
    from psycopg.rows import dict_row

    with psycopg.connect(_dsn(pg), autocommit=True) as admin:  # ungoverned: no enable()
        admin.execute("CREATE FUNCTION copy_mails() RETURNS trigger LANGUAGE plpgsql AS $$ "
                      "BEGIN INSERT INTO notes SELECT email FROM customers; RETURN NULL; END $$")
        admin.execute("CREATE TABLE members (id TEXT)")
        admin.execute("CREATE TRIGGER on_insert AFTER INSERT ON members FOR EACH STATEMENT "
                      "EXECUTE FUNCTION copy_mails()")
    config = sandbox_config(destinations={"unmanaged": [str(sandbox / "Downloads")]})

    async def read(con: Any) -> int:
        cur = await con.execute("SELECT email FROM customers")
        return len(await cur.fetchall())

    async def refused(con: Any, sql: str) -> str:
        try:
            await con.execute(sql)
        except GovernanceViolation:
            return "refused"
        finally:
            await con.rollback()
        return "ran"

    async def ungoverned() -> str:  # another task, outside the block: not governed
        async with await psycopg.AsyncConnection.connect(_dsn(pg)) as con:
            await con.execute("SELECT 1")
            return "ran"

    async def main() -> list[Any]:
        outside = asyncio.create_task(ungoverned())
        with lacuna.governed(config):
            cons = [await psycopg.AsyncConnection.connect(_dsn(pg)) for _ in range(3)]
            rows = await psycopg.AsyncConnection.connect(_dsn(pg), row_factory=dict_row)
            try:
                return [*await asyncio.gather(
                    read(cons[0]), refused(cons[1], "INSERT INTO notes SELECT email FROM "
                                                    "customers"),
                    read(cons[2]), read(cons[2]),  # two tasks on one connection
                    refused(rows, "INSERT INTO members VALUES ('x')"),
                ), await outside]
            finally:
                for con in (*cons, rows):
                    await con.close()

    assert loops.run(main()) == [60, "refused", 60, 60, "refused", "ran"]
    assert _count(pg, "notes") == 0
    assert sorted(_methods(sandbox)) == sorted(
        [("sql.postgres.select", True)] * 3 + [("sql.postgres.insert", False)] * 2)


def test_a_dict_row_synchronous_connection_is_decided_like_any_other(enabled, pg, sandbox):
    """The catalog look-ups read tuples whatever the connection's row factory: on a
    ``dict_row`` connection an allowed write runs (and reads back), a trigger is still found."""
    from psycopg.rows import dict_row

    _trigger_tables(pg)
    enabled(aware=True)
    with psycopg.connect(_dsn(pg), row_factory=dict_row, autocommit=True) as con:
        with pytest.raises(GovernanceViolation, match="trigger on_insert"):
            con.execute("INSERT INTO members VALUES ('x')")
        con.execute("INSERT INTO guests VALUES ('x')")  # no trigger: runs
        rows = con.execute("SELECT email FROM customers LIMIT 3").fetchall()
        assert len(rows) == 3
        assert set(rows[0]) == {"email"}  # the caller's rows keep their factory
        assert lacuna.sql.classification().columns["email"].classification is ColumnKind.PII
    lacuna.disable()
    assert (_count(pg, "contacts"), _count(pg, "members"), _count(pg, "guests")) == (0, 0, 1)
