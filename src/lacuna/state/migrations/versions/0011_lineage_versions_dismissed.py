"""Lineage versions a steward dismissed (``lacuna_lineage_versions.dismissed``).

An ingested run (OpenLineage over HTTP, ``lacuna lineage import``) may only raise what the store
knows, and any token holder may send one: a wrong raise (a shared public table claimed
RESTRICTED) would deny everyone's use of the data, and nothing could take it back.
:func:`lacuna.lineage.dismiss_claim` lets a steward dismiss such a run: its versions stay on
record (the history shows what was claimed) but no longer count as what the store knows of a
dataset or of its content. Existing versions are not dismissed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLE = "lacuna_lineage_versions"


def upgrade() -> None:
    if TABLE not in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # the baseline creates it (at head) when the lineage store first opens
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("dismissed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    if TABLE not in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("dismissed")
