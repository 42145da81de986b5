"""The metrics' hourly rollups (kept in each audit append's transaction) and the egress proxy's
fingerprints of values that governed reads have seen.

Both were first created by their stores directly (before they were under migrations); only
missing tables are created, so such databases are adopted as they are.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "lacuna_metrics_hourly" not in existing:
        op.create_table(
            "lacuna_metrics_hourly",
            sa.Column("hour", sa.String(length=13), nullable=False),
            sa.Column("role", sa.String(length=255), nullable=False),
            sa.Column("decisions", sa.Integer(), nullable=False),
            sa.Column("denials", sa.Integer(), nullable=False),
            sa.Column("resolved", sa.Integer(), nullable=False),
            sa.Column("resolution_minutes", sa.Float(), nullable=False),
            sa.Column("workarounds", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("hour", "role"),
        )
    if "lacuna_metrics_assets" not in existing:
        op.create_table(
            "lacuna_metrics_assets",
            sa.Column("hour", sa.String(length=13), nullable=False),
            sa.Column("role", sa.String(length=255), nullable=False),
            sa.Column("asset", sa.String(length=1000), nullable=False),
            sa.Column("covered", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("hour", "role", "asset"),
        )
        op.create_index("ix_lacuna_metrics_assets_asset", "lacuna_metrics_assets",
                        ["asset", "hour", "role", "covered"], unique=False)
    if "lacuna_metrics_recent" not in existing:
        op.create_table(
            "lacuna_metrics_recent",
            sa.Column("record_id", sa.String(length=32), nullable=False),
            sa.Column("user_id", sa.String(length=255), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.Column("fact", sa.Text(), nullable=False),
            sa.Column("resolved", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("record_id"),
        )
        op.create_index("ix_lacuna_metrics_recent_user_at", "lacuna_metrics_recent",
                        ["user_id", "at"], unique=False)
    if "lacuna_metrics_rollup" not in existing:
        op.create_table(
            "lacuna_metrics_rollup",
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("from_seq", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if "lacuna_proxy_fingerprints" not in existing:
        op.create_table(
            "lacuna_proxy_fingerprints",
            sa.Column("digest", sa.String(length=64), nullable=False),
            sa.Column("key_version", sa.Integer(), nullable=False),
            sa.Column("column_name", sa.Text(), nullable=False),
            sa.Column("column_class", sa.Text(), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("seen_at", sa.String(length=40), nullable=False),
            sa.PrimaryKeyConstraint("digest"),
        )


def downgrade() -> None:
    op.drop_table("lacuna_proxy_fingerprints")
    op.drop_table("lacuna_metrics_rollup")
    op.drop_index("ix_lacuna_metrics_recent_user_at", table_name="lacuna_metrics_recent")
    op.drop_table("lacuna_metrics_recent")
    op.drop_index("ix_lacuna_metrics_assets_asset", table_name="lacuna_metrics_assets")
    op.drop_table("lacuna_metrics_assets")
    op.drop_table("lacuna_metrics_hourly")
