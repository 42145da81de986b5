"""The console's sessions (``lacuna_console_sessions``): signing out ends a session server-side.

A console session cookie names one row (by the SHA-256 of its random id), checked on every
request; signing out marks it ended, so a copy of the cookie taken before stops working.
Cookies issued before this revision name no row: their holders sign in again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "lacuna_console_sessions"


def upgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        TABLE,
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.String(length=40), nullable=False),
        sa.Column("ended_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    op.create_index("ix_lacuna_console_sessions_name", TABLE, ["name"], unique=False)


def downgrade() -> None:
    if TABLE in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table(TABLE)  # its index goes with it
