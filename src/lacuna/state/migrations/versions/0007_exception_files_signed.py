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
different: it reads the chained records. The indexed expression reads a record's body only when
it is valid JSON (``json_valid`` on SQLite; on PostgreSQL ``lacuna_jsonb``, created here):
an exception event whose body is not JSON (written by hand, or damaged) is indexed as NULL
instead of failing the migration, and ``lacuna audit verify`` reports it.

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
# query names its expression exactly); a body that is not JSON is indexed as NULL, never parsed
EXPRESSIONS = {
    "sqlite": "(CASE WHEN json_valid(body) THEN json_extract(body, '$.what.exception_id') END)",
    "postgresql": "(lacuna_jsonb(body) #>> '{what,exception_id}')",
}
# PostgreSQL 15 has no json_valid (``IS JSON`` came in 16): a text as jsonb, NULL when it is
# not JSON, without raising; IMMUTABLE, as an index expression needs; not PARALLEL SAFE (its
# exception block is a subtransaction, refused in a parallel worker)
JSONB = """
CREATE OR REPLACE FUNCTION lacuna_jsonb(doc text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN doc::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$
"""


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
    if bind.dialect.name == "postgresql":
        op.execute(JSONB)
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
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS lacuna_jsonb(text)")
    if FILES in existing:
        with op.batch_alter_table(FILES) as batch:
            batch.drop_column("signature")
            batch.drop_column("directory")
