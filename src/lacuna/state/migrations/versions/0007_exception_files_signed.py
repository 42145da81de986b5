"""Files written under an exception are signed (``lacuna_exception_files.signature``, over
every field including ``directory`` and ``deleted_at``), and the audit trail's exception
events are found by exception id through an index (``ix_lacuna_audit_exception_id``).

A row of ``lacuna_exception_files`` decides what the sweep and retention delete, so a row
inserted, edited (``deleted_at`` set by hand) or removed outside Lacuna must not be acted on.
Rows recorded before this revision carry no signature: they are not vouched for at the upgrade
(an edit made before it could not be told apart); the sweep reports them as failed, never
deletes on their word (docs/exceptions.md, "Expiry and the sweep").

The index is an expression index over the hash-chained records themselves (partial: exception
events only), so :func:`lacuna.exceptions.store.grant_for` finds a revocation, denial or expiry
of one exception with one indexed lookup. Dropping the index makes the lookup slower, never
different: it reads the chained records.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FILES = "lacuna_exception_files"
AUDIT = "lacuna_audit"
INDEX = "ix_lacuna_audit_exception_id"
# the same expressions as lacuna.exceptions.store.TRAIL_KEY (an index is used only when the
# query names its expression exactly)
EXPRESSIONS = {
    "sqlite": "json_extract(body, '$.what.exception_id')",
    "postgresql": "((body::jsonb) #>> '{what,exception_id}')",
}


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if FILES in existing:
        columns = {c["name"] for c in sa.inspect(bind).get_columns(FILES)}
        with op.batch_alter_table(FILES) as batch:
            if "directory" not in columns:
                batch.add_column(sa.Column("directory", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
            if "signature" not in columns:
                batch.add_column(sa.Column("signature", sa.String(length=128), nullable=True))
    expression = EXPRESSIONS.get(bind.dialect.name)
    # only over Lacuna's own trail: a table of that name without its columns is refused with
    # a clear message when the store opens, not here
    audit_columns = ({c["name"] for c in sa.inspect(bind).get_columns(AUDIT)}
                     if AUDIT in existing else set())
    if {"action", "body"} <= audit_columns and expression is not None:
        op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON {AUDIT} ({expression}) "
                   "WHERE action = 'exception'")


def downgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    if FILES in existing:
        with op.batch_alter_table(FILES) as batch:
            batch.drop_column("signature")
            batch.drop_column("directory")
