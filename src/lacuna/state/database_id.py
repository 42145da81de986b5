"""The state database's own random id (``lacuna_database_id``), named by its checkpoints.

Revision 0008 (:mod:`lacuna.state.migrations`) creates the table with one row (``id = 1``) and
a random 128-bit id when it first migrates a database (a new one, or an older one at its
upgrade). Every signed checkpoint written afterwards names it (``database`` in
:class:`lacuna.audit.checkpoint.Checkpoint`), and ``lacuna audit verify`` refuses a checkpoint
that names another database, so a checkpoint (with or without its chain) copied from another
state database signed with the same key no longer matches.

The id is a plain row: whoever can write the database can change it (to the id of the
database a checkpoint was copied from). The audit trail's records of user issues name it
(:mod:`lacuna.identity`), so once one is recorded a changed row is reported by ``lacuna audit
verify`` and nothing is signed for it; a full copy of the database is the same database (same
id, same trail). What it detects, and what it does not, is in ``docs/audit.md`` ("Tying
checkpoints to their database").
"""

from __future__ import annotations

import secrets

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, inspect, select

TABLE = "lacuna_database_id"

metadata = MetaData()
table = Table(
    TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("database_id", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
)


def missing(what: str) -> str:
    """Why nothing can be appended to ``what`` (the audit trail in ..., the decision log in ...):
    its database's id row was deleted, and a writer never carries on from a tampered database."""
    return (f"cannot append to {what}: its state database has no id (the row of {TABLE} that "
            "every checkpoint names was deleted), so the database was tampered with. Nothing "
            "was recorded. Run `lacuna audit verify` and keep the database as evidence; start "
            "a new one elsewhere.")


def new_id() -> str:
    """A fresh random id (32 hex digits)."""
    return secrets.token_hex(16)


def read(conn: Connection) -> str | None:
    """The database's id, or None when it has none: written before revision 0008 and not
    upgraded since (a read-only verify migrates nothing), or its row or table was deleted."""
    if not inspect(conn).has_table(TABLE):
        return None
    row = conn.execute(select(table.c.database_id).where(table.c.id == 1)).first()
    return None if row is None else str(row.database_id)
