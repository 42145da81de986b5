"""Retention holds and the classification cache's hit/miss counters.

Both tables were first created by their stores directly (before they were under migrations);
only missing ones are created, so such databases are adopted as they are.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "lacuna_retention_holds" not in existing:
        op.create_table(
            "lacuna_retention_holds",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("dataset", sa.Text(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("placed_by", sa.String(length=255), nullable=False),
            sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("released_by", sa.String(length=255), nullable=True),
            sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_lacuna_retention_holds_dataset", "lacuna_retention_holds",
                        ["dataset"], unique=False)
    if "lacuna_classify_cache_stats" not in existing:
        op.create_table(
            "lacuna_classify_cache_stats",
            sa.Column("counter", sa.String(length=32), nullable=False),
            sa.Column("count", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("counter"),
        )


def downgrade() -> None:
    op.drop_table("lacuna_classify_cache_stats")
    op.drop_index("ix_lacuna_retention_holds_dataset", table_name="lacuna_retention_holds")
    op.drop_table("lacuna_retention_holds")
