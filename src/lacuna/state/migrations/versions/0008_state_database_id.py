"""The state database gets its own random id (``lacuna_database_id``), which every signed
checkpoint names from then on (``lacuna.state.database_id``).

A checkpoint that names no database lets a checkpoint copied from another state database signed
with the same key (another deployment sharing it, a fresh database's ``#0`` checkpoint) vouch
for this one. The id is made here, once, for a new database and for an older one at its
upgrade. Checkpoints written before the upgrade name no database: ``lacuna audit verify``
accepts them and says so, until the next append replaces them (docs/audit.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "lacuna_database_id"


def upgrade() -> None:
    from lacuna.state.database_id import new_id

    bind = op.get_bind()
    if TABLE not in set(sa.inspect(bind).get_table_names()):
        op.create_table(
            TABLE,
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("database_id", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    table = sa.table(TABLE, sa.column("id", sa.Integer()), sa.column("database_id", sa.String()),
                     sa.column("created_at", sa.String()))
    if bind.execute(sa.select(table.c.id).where(table.c.id == 1)).first() is None:
        bind.execute(sa.insert(table).values(
            id=1, database_id=new_id(), created_at=datetime.now(UTC).isoformat()))


def downgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table(TABLE)
