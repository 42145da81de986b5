"""Writers that must take turns across processes, on any state database.

On SQLite a write transaction begins with ``BEGIN IMMEDIATE`` (the stores' engines do so when
asked with the ``sqlite_begin`` execution option), which already holds the whole database's
write lock. PostgreSQL locks rows, not tables: a writer that reads "the largest id so far" or a
head row that may not exist yet needs a lock of its own. :func:`serialize` takes a
transaction-level advisory lock named after what is being written; it is released at commit or
rollback, so a crashed writer never leaves it behind.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"lacuna:{name}".encode()).digest()[:8], "big",
                          signed=True)


def serialize(conn: Connection, name: str) -> None:
    """Inside the caller's write transaction: wait until no other transaction holds ``name``
    (PostgreSQL); a no-op on SQLite, whose write transaction already excludes every other."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
