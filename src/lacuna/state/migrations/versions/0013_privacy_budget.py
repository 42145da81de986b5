"""The privacy budget (``lacuna_privacy_budget``): what noise releases spent, per source column.

A ``noise`` release that calls personal data public spends its epsilon from the budget of each
column it came from (:mod:`lacuna.anonymize.budget`); the ledger is new, so every subject starts
with its whole budget.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLE = "lacuna_privacy_budget"


def upgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("described", sa.Text(), nullable=False),
        sa.Column("released", sa.String(length=256), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("spent_at", sa.String(length=40), nullable=False),
        sa.Column("spent_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lacuna_privacy_budget_subject", TABLE, ["subject"], unique=False)


def downgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table(TABLE)  # its index goes with it
