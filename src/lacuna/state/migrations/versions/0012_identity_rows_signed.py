"""Users and console sessions are signed (``lacuna_users.signature``,
``lacuna_console_sessions.signature``).

Whoever can write the state database must not be able to make themselves a user, give
themselves a role, put their own token's digest on someone's row, enable a disabled user or
revive an ended console session: every row is signed with the installation's signing key over
all of its other columns (:func:`lacuna.identity.user_payload`, ``session_payload``), and one
that does not verify authenticates nobody.

Rows written before this revision are **not** signed here. A migration runs in whichever
process opens the database first, with that process's key (an analyst's install key is not the
server's), and signing would vouch for whatever the table holds, including an edit made before
the upgrade. So those users are refused (401, saying what to do) until an operator, with the
server's key, checks them (``lacuna users list`` marks them ``unsigned``) and signs them with
``lacuna users resign``, or re-issues them with ``lacuna users add NAME --role ROLE --replace``.
The server logs an error at start-up while any remain. Console sessions started before it end:
their holders sign in again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("lacuna_users", "lacuna_console_sessions")


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for table in TABLES:
        if table not in existing:
            continue
        columns = {c["name"] for c in sa.inspect(bind).get_columns(table)}
        if "signature" in columns:
            continue
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("signature", sa.String(length=128), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for table in TABLES:
        if table in existing:
            with op.batch_alter_table(table) as batch:
                batch.drop_column("signature")
