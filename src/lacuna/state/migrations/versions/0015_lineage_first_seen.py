"""When a Lacuna server first saw a dataset's data written (``lacuna_lineage_first_seen``).

The retention clock of a client's file in server mode (:mod:`lacuna.lineage.seen`): recorded by
the server when it allows a write, never from the client's sidecar. The table is new: nothing
recorded before has a clock here (its first write from now on starts one).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLE = "lacuna_lineage_first_seen"


def upgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        TABLE,
        sa.Column("namespace", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=2048), nullable=False),
        sa.Column("first_seen", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "name"),
    )


def downgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table(TABLE)
