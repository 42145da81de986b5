"""The metrics' rollups keyed by every filter (role, policy, tier, domains), and resolutions and
workarounds per filter combination (``lacuna_metrics_pairs``); backfilled from the records.

The rollup tables are derived data: they are dropped, created in the new shape, and rebuilt
from every audit record in this migration's transaction (``lacuna.metrics.rollup.rebuild_in``,
the rule ``lacuna metrics rebuild`` applies), so an upgraded store answers every filter from
the rollups at once. On a large trail this reads every record once (minutes for millions).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY = ("role", "policy", "tier", "domains")


def _key() -> list[sa.Column[str]]:
    return [sa.Column("role", sa.String(length=255), nullable=False),
            sa.Column("policy", sa.String(length=255), nullable=False),
            sa.Column("tier", sa.String(length=32), nullable=False),
            sa.Column("domains", sa.String(length=1000), nullable=False)]


def _drop_rollups() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table in ("lacuna_metrics_hourly", "lacuna_metrics_assets", "lacuna_metrics_recent",
                  "lacuna_metrics_pairs"):
        if table in existing:
            op.drop_table(table)  # its indexes go with it


def upgrade() -> None:
    bind = op.get_bind()
    _drop_rollups()
    op.create_table(
        "lacuna_metrics_hourly",
        sa.Column("hour", sa.String(length=13), nullable=False), *_key(),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("denials", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Float(), nullable=False),
        sa.Column("workarounds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", *KEY),
    )
    op.create_table(
        "lacuna_metrics_assets",
        sa.Column("hour", sa.String(length=13), nullable=False), *_key(),
        sa.Column("asset", sa.String(length=1000), nullable=False),
        sa.Column("covered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", *KEY, "asset"),
    )
    op.create_index("ix_lacuna_metrics_assets_asset", "lacuna_metrics_assets",
                    ["asset", "hour", "covered", *KEY], unique=False)
    op.create_table(
        "lacuna_metrics_pairs",
        sa.Column("hour", sa.String(length=13), nullable=False),
        sa.Column("scope", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.Column("policy", sa.String(length=255), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Float(), nullable=False),
        sa.Column("workarounds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "scope", "role", "policy", "tier", "domain"),
    )
    op.create_table(
        "lacuna_metrics_recent",
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("fact", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_lacuna_metrics_recent_user_at", "lacuna_metrics_recent",
                    ["user_id", "at"], unique=False)
    found = sa.inspect(bind)
    names = set(found.get_table_names())
    columns = {c["name"] for c in found.get_columns("lacuna_audit")} \
        if "lacuna_audit" in names else set()
    if {"seq", "body"} <= columns:
        from lacuna.metrics.rollup import rebuild_in

        rebuild_in(bind)  # the backfill: every record, in append order
    elif "lacuna_metrics_rollup" in names:  # no trail here (or not Lacuna's: the audit store
        # refuses it when opened): the rollups start afresh when the store installs them
        bind.execute(sa.text("DELETE FROM lacuna_metrics_rollup"))


def downgrade() -> None:
    """Back to 0003's shapes, empty and marked incomplete from the current head (0003 reads the
    records until ``lacuna metrics rebuild``)."""
    bind = op.get_bind()
    _drop_rollups()
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
    names = set(sa.inspect(bind).get_table_names())
    if "lacuna_metrics_rollup" in names and "lacuna_audit_head" in names:
        bind.execute(sa.text("UPDATE lacuna_metrics_rollup SET from_seq = COALESCE((SELECT seq "
                             "FROM lacuna_audit_head WHERE id = 1), 0)"))
