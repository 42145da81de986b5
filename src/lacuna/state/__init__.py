"""Lacuna's state database: one SQLAlchemy URL (``audit.url``) for every store, and its schema.

Every store (the audit trail, the decision log, exceptions, lineage, the token vault, the dataset
registry, server identities, the classification cache) keeps its tables in the state database,
SQLite by default and PostgreSQL by URL. The schema is versioned with Alembic
(:mod:`lacuna.state.migrations`): :func:`upgrade` brings a database to the head revision, and
every store calls it when it opens, so a fresh database is created, an older one (including a
file written before Lacuna used Alembic) is upgraded, and one written by a newer Lacuna is
refused with :class:`StateSchemaError`. ``lacuna db upgrade`` and ``lacuna db current`` do the
same from the command line. See ``docs/state.md``.
"""

from __future__ import annotations

from lacuna.state.schema import (
    VERSION_TABLE,
    SchemaStatus,
    StateSchemaError,
    head_revision,
    status,
    upgrade,
)

__all__ = [
    "VERSION_TABLE",
    "SchemaStatus",
    "StateSchemaError",
    "head_revision",
    "status",
    "upgrade",
]
