"""The OpenLineage outbox (``lacuna_lineage_outbox``): runs whose events are not yet sent.

A governed run is marked pending here in the transaction that records it, and cleared once the
transport accepted its events (:mod:`lacuna.lineage.outbox`): events of a process killed before
its background sender got to them are re-sent by the next governed process or by
``lacuna lineage flush``. The table is new: nothing recorded before is pending.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "lacuna_lineage_outbox"


def upgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        TABLE,
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("created", sa.String(length=40), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_at", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("mark", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "destination"),
    )


def downgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table(TABLE)
