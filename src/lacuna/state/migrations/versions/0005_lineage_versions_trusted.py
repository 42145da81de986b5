"""Lineage versions say whether Lacuna's own pipeline computed their classification
(``lacuna_lineage_versions.trusted``).

A version ingested from outside (OpenLineage over HTTP, ``lacuna lineage import``) may only raise
what a later read of the same content resolves; only a trusted one is the authority a read
restores from (docs/lineage.md, "Classifications from outside only raise"). Versions recorded
before this revision cannot be told apart (an ingested event could claim to be Lacuna's), so
they are all marked untrusted: fail closed. A file written before the upgrade and read back
without its sidecar is then classified from its values, with the stored classification adding
restrictions only; writing it again through Lacuna records a trusted version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "lacuna_lineage_versions"


def upgrade() -> None:
    if TABLE not in set(sa.inspect(op.get_bind()).get_table_names()):
        return  # the baseline creates it (at head) when the lineage store first opens
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("trusted", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    if TABLE not in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("trusted")
