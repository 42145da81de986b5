"""asyncpg used directly under ``lacuna.enable()``: ``copy_from_table``/``copy_from_query`` of a
PII table into ~/Downloads, ``CREATE TABLE … AS SELECT email …``, ``executemany`` and
``copy_records_to_table`` of e-mail addresses ran undecided. Each statement of an asyncpg
``Connection`` (a pool's too, a prepared statement's, a cursor's) is now decided before it runs
as a governed SQLAlchemy engine's is (lacuna.integrations.asyncpg), on the session's live
PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

import lacuna
import lacuna.sql
import loops
from audit_rows import methods as _methods
from fixtures_postgres import libpq_dsn as _dsn
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.model import ColumnKind, Tier

asyncpg = pytest.importorskip("asyncpg", reason="pip install 'asyncpg>=0.29'")

PLAIN_FETCH = asyncpg.Connection.fetch
EMAILS = [(f"user{i}@example.org",) for i in range(5)]


def _on(pg: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """``work(con)`` on a new asyncpg connection to ``pg``, on a loop of its own."""

    async def main() -> Any:
        con = await asyncpg.connect(_dsn(pg))
        try:
            return await work(con)
        finally:
            await con.close()

    return loops.run(main())


async def _exists(con: Any, table: str) -> bool:
    return bool(await con.fetchval("SELECT to_regclass($1) IS NOT NULL", table))


def test_exports_of_pii_to_a_local_file_are_refused_with_nothing_written(enabled, pg, sandbox):
    enabled()
    out = sandbox / "Downloads" / "mails.csv"

    async def work(con: Any) -> None:
        with open(out, "wb") as fh:
            for export in (
                lambda: con.copy_from_table("customers", output=str(out), format="csv"),
                lambda: con.copy_from_table("customers", columns=["email"], output=out),
                lambda: con.copy_from_query("SELECT email FROM customers", output=fh),
                lambda: con.copy_from_query(
                    "SELECT email FROM customers WHERE customer_id <> $1", "C0001", output=fh
                ),
            ):
                with pytest.raises(GovernanceViolation) as err:
                    await export()
                assert err.value.decision.operation.destination.uri == str(out)

    _on(pg, work)
    assert out.read_bytes() == b""
    assert _methods(sandbox) == [("sql.postgres.copy", False)] * 4


def test_a_copy_into_a_file_under_sealed_governed_storage_is_refused(governed, pg):
    """Its rows would land there in plaintext (Lacuna cannot seal the file asyncpg writes)."""
    sealed = governed / "governed" / "workspace" / "sales.csv"

    async def work(con: Any) -> None:
        with pytest.raises(StorageError, match="governed root"):
            await con.copy_from_table("sales", output=sealed)
        with open(sealed, "wb") as fh, pytest.raises(StorageError, match="governed root"):
            await con.copy_from_query("SELECT * FROM sales", output=fh)

    _on(pg, work)
    assert sealed.read_bytes() == b""


def test_an_allowed_export_and_a_copy_into_memory_round_trip(enabled, pg, sandbox):
    """A k-anonymous count may leave for ~/Downloads; rows copied into a buffer are a read by
    the client."""
    enabled()
    out = sandbox / "Downloads" / "by_category.csv"
    counts = (
        "SELECT product_category, COUNT(*) AS n FROM sales GROUP BY product_category "
        "HAVING COUNT(*) >= 5 ORDER BY 1"
    )

    async def work(con: Any) -> tuple[list[Any], bytes]:
        await con.copy_from_query(counts, output=out, format="csv")
        expected = await con.fetch(counts)
        buffer = io.BytesIO()
        await con.copy_from_query(
            "SELECT customer_id, email FROM customers ORDER BY 1", output=buffer
        )
        return expected, buffer.getvalue()

    expected, copied = _on(pg, work)
    assert out.read_text() == "".join(f"{c},{n}\n" for c, n in expected)
    lines = copied.decode().splitlines()
    assert len(lines) == 60
    assert lines[0] == "C0001\tkira.kowalski1@example.com"
    assert (
        _methods(sandbox)
        == [("sql.postgres.copy", True)] * 2
        + [  # decided, then done
            ("sql.postgres.select", True)
        ]
        + [("sql.postgres.copy", True)] * 2
    )


def test_pii_copied_into_a_table_is_decided(enabled, pg, sandbox):
    enabled()

    async def work(con: Any) -> None:
        with pytest.raises(GovernanceViolation):
            await con.execute("CREATE TABLE kept AS SELECT email FROM customers")
        await con.execute("CREATE TABLE notes (who TEXT)")
        with pytest.raises(GovernanceViolation):
            await con.execute("INSERT INTO notes SELECT email FROM customers")
        with pytest.raises(GovernanceViolation, match="notes"):
            await con.executemany("INSERT INTO notes (who) VALUES ($1)", EMAILS)
        with pytest.raises(GovernanceViolation, match="notes"):
            await con.copy_records_to_table("notes", records=EMAILS)
        with pytest.raises(GovernanceViolation, match="COPY"):  # data Lacuna does not read
            await con.copy_to_table("notes", source=io.BytesIO(b"ann@example.org\n"))
        assert not await _exists(con, "kept")
        assert await con.fetchval("SELECT COUNT(*) FROM notes") == 0

    _on(pg, work)
    assert [(m, ok) for m, ok in _methods(sandbox) if not ok] == [
        ("sql.postgres.create", False),
        ("sql.postgres.insert", False),
        ("sql.postgres.insert", False),
        ("sql.postgres.insert", False),
        ("sql.postgres.copy_from", False),
    ]


def test_allowed_writes_round_trip_with_their_classification(enabled, pg, sandbox):
    """On a classification-aware database the same writes run, with their values' and the
    table's classification stored (the database named ``postgresql+asyncpg://…``)."""
    enabled(aware=True)

    async def work(con: Any) -> list[Any]:
        await con.execute("CREATE TABLE kept AS SELECT customer_id, email FROM customers")
        await con.execute("CREATE TABLE notes (who TEXT)")
        await con.executemany("INSERT INTO notes (who) VALUES ($1)", iter(EMAILS))
        await con.copy_records_to_table("notes", records=iter(EMAILS), columns=["who"])
        return [tuple(r) for r in await con.fetch("SELECT who FROM notes ORDER BY who")]

    assert _on(pg, work) == sorted(EMAILS * 2)
    engine = sa.create_engine(pg)
    try:
        for table in ("kept", "notes"):
            stored = lacuna.sql.table_classification(engine, table)
            assert stored is not None
            column = "email" if table == "kept" else "who"
            assert stored.columns[column].classification is ColumnKind.PII
            assert stored.tier is not Tier.PUBLIC
    finally:
        engine.dispose()
    methods = [m for m, _ in _methods(sandbox)]
    assert methods.count("sql.postgres.create") == 2  # decided, then done
    assert methods.count("sql.postgres.insert") == 4


def test_reads_of_public_tables_return_exact_rows(enabled, pg, sandbox):
    expected = _on(pg, lambda con: con.fetch("SELECT * FROM sales ORDER BY order_id"))
    enabled()

    async def work(con: Any) -> None:
        assert await con.fetch("SELECT * FROM sales ORDER BY order_id") == expected
        assert len(expected) == 240
        row = await con.fetchrow("SELECT revenue FROM sales WHERE order_id = $1", "O00001")
        assert row is not None
        assert row["revenue"] == expected[0]["revenue"]
        assert await con.fetchval("SELECT $1::int + 1", 41) == 42
        assert (
            await con.fetchval("SELECT email FROM customers WHERE customer_id = $1", "C0002")
            == "elena.petrov2@example.com"
        )
        read = lacuna.sql.classification()
        assert read is not None
        assert read.columns["email"].classification is ColumnKind.PII

    _on(pg, work)
    assert _methods(sandbox) == [("sql.postgres.select", True)] * 3


def test_prepared_statements_and_cursors_are_governed(enabled, pg, sandbox):
    _on(
        pg,
        lambda con: con.execute(
            "CREATE FUNCTION leak() RETURNS int LANGUAGE plpgsql AS "
            "$$ BEGIN CREATE TABLE kept AS SELECT email FROM customers; RETURN 1; END $$"
        ),
    )
    enabled()

    async def work(con: Any) -> None:
        create = await con.prepare("CREATE TABLE kept AS SELECT email FROM customers")
        with pytest.raises(GovernanceViolation):
            await create.fetch()
        by_id = await con.prepare("SELECT email FROM customers WHERE customer_id = $1")
        assert await by_id.fetchval("C0002") == "elena.petrov2@example.com"
        assert [r["email"] for r in await by_id.fetchmany([("C0001",), ("C0002",)])] == [
            "kira.kowalski1@example.com",
            "elena.petrov2@example.com",
        ]
        async with con.transaction():
            rows = [r async for r in con.cursor("SELECT email FROM customers", prefetch=7)]
            assert len(rows) == 60
            cur = await by_id.cursor("C0001")
            assert [r["email"] for r in await cur.fetch(5)] == ["kira.kowalski1@example.com"]
            with pytest.raises(GovernanceViolation, match="leak"):
                await con.cursor("SELECT leak()")
            with pytest.raises(GovernanceViolation, match="leak"):
                [r async for r in con.cursor("SELECT leak()")]
        assert not await _exists(con, "kept")

    _on(pg, work)
    assert (
        _methods(sandbox)
        == [("sql.postgres.create", False)]
        + [("sql.postgres.select", True)] * 4
        + [("sql.postgres.select", False)] * 2
    )


def test_a_pool_connection_is_governed(enabled, pg, sandbox):
    enabled()

    async def main() -> None:
        async with asyncpg.create_pool(_dsn(pg), min_size=1, max_size=1) as pool:
            async with pool.acquire() as con:
                with pytest.raises(GovernanceViolation):
                    await con.execute("CREATE TABLE kept AS SELECT email FROM customers")
                assert await _exists(con, "kept") is False
            assert len(await pool.fetch("SELECT email FROM customers")) == 60

    loops.run(main())
    assert _methods(sandbox) == [("sql.postgres.create", False), ("sql.postgres.select", True)]


def test_sqlalchemy_on_asyncpg_is_decided_once(enabled, pg, sandbox):
    """SQLAlchemy's asyncpg dialect runs ``prepare``/``fetch`` itself: the SQL hook decides its
    statement, once (its look-ups included: Lacuna's own); its raw connection is governed."""
    from sqlalchemy.ext.asyncio import create_async_engine

    enabled()

    async def main() -> None:
        engine = create_async_engine(pg.replace("postgresql+psycopg://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as conn:
                result = await conn.exec_driver_sql("SELECT email FROM customers")
                assert len(result.fetchall()) == 60
                raw = (await conn.get_raw_connection()).driver_connection
                with pytest.raises(GovernanceViolation):
                    await raw.execute("CREATE TABLE kept AS SELECT email FROM customers")
        finally:
            await engine.dispose()

    loops.run(main())
    assert _methods(sandbox) == [("sql.postgres.select", True), ("sql.postgres.create", False)]


def test_after_disable_connections_are_plain(enabled, pg, sandbox):
    enabled()
    assert asyncpg.Connection.fetch is not PLAIN_FETCH
    lacuna.disable()
    assert asyncpg.Connection.fetch is PLAIN_FETCH

    async def work(con: Any) -> int:
        await con.execute("CREATE TABLE kept AS SELECT email FROM customers")
        return int(await con.fetchval("SELECT COUNT(*) FROM kept"))

    assert _on(pg, work) == 60
    assert _methods(sandbox) == []


def test_a_library_whose_name_starts_with_asyncpg_is_governed(enabled, pg, sandbox):
    """asyncpgsa, asyncpg_utils, ...: their module names start with "asyncpg" but they are not
    asyncpg. Before, a statement they ran (the caller's) was taken for asyncpg's own and ran
    undecided."""
    enabled()
    helper: dict[str, Any] = {"__name__": "asyncpgsa.connection"}
    exec(  # a function of a module named like asyncpgsa's, running the caller's statement
        "async def execute(con, sql):\n    return await con.execute(sql)\n", helper)

    async def work(con: Any) -> None:
        with pytest.raises(GovernanceViolation):
            await helper["execute"](con, "CREATE TABLE kept AS SELECT email FROM customers")
        assert not await _exists(con, "kept")
        await helper["execute"](con, "CREATE TABLE notes (who TEXT)")  # allowed: it runs
        assert await _exists(con, "notes")

    _on(pg, work)
    assert [(m, ok) for m, ok in _methods(sandbox) if not ok] == [("sql.postgres.create", False)]
