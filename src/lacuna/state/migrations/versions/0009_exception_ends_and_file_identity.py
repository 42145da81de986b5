"""The sweep's marks of exception ends seen on the audit trail (``lacuna_exception_ends``),
what was written under an exception (``lacuna_exception_files.identity``), and the audit
trail's exception index guarded against bodies that are not JSON.

- ``lacuna_exception_ends``: one signed row per exception whose revocation, denial or expiry
  the sweep has seen on the audit trail; the sweep looks up only the ends without a mark that
  verifies, not every exception that ever ended. Empty at the upgrade: the first sweep looks
  each ended exception up once and marks it.
- ``lacuna_exception_files.identity``: the device, inode, size and modification time of what
  was written (signed with the row), so the sweep deletes that file and not another one written
  at the same path later. NULL in rows recorded before this revision (the sweep then deletes
  only a file not modified after the exception ended).
- ``ix_lacuna_audit_exception_id``: an index made by revision 0007 before it read bodies only
  when they are valid JSON is made again with that guard (the queries name the guarded
  expression, so they would no longer use the old index); on PostgreSQL, the guard's function
  ``lacuna_jsonb`` is created first.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FILES = "lacuna_exception_files"
ENDS = "lacuna_exception_ends"
AUDIT = "lacuna_audit"
INDEX = "ix_lacuna_audit_exception_id"
# as revision 0007 makes it now (lacuna.exceptions.store.TRAIL_KEY)
EXPRESSIONS = {
    "sqlite": "(CASE WHEN json_valid(body) THEN json_extract(body, '$.what.exception_id') END)",
    "postgresql": "(lacuna_jsonb(body) #>> '{what,exception_id}')",
}
GUARD = {"sqlite": "json_valid", "postgresql": "lacuna_jsonb"}
DEFINITION = {
    "sqlite": f"SELECT sql FROM sqlite_master WHERE type = 'index' AND name = '{INDEX}'",
    "postgresql": f"SELECT indexdef FROM pg_indexes WHERE indexname = '{INDEX}'",
}
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
    if ENDS not in existing:
        op.create_table(
            ENDS,
            sa.Column("exception_id", sa.String(length=32), nullable=False),
            sa.Column("event", sa.String(length=16), nullable=False),
            sa.Column("seen_at", sa.String(length=40), nullable=False),
            sa.Column("signature", sa.String(length=128), nullable=False),
            sa.PrimaryKeyConstraint("exception_id"),
        )
    if FILES in existing:
        columns = {c["name"] for c in sa.inspect(bind).get_columns(FILES)}
        if "identity" not in columns:
            with op.batch_alter_table(FILES) as batch:
                batch.add_column(sa.Column("identity", sa.String(length=200), nullable=True))
    dialect = bind.dialect.name
    if dialect not in EXPRESSIONS:
        return
    if dialect == "postgresql":
        op.execute(JSONB)
    found = bind.execute(sa.text(DEFINITION[dialect])).scalar()
    if found is not None and GUARD[dialect] not in str(found):  # 0007's, without the guard
        op.execute(f"DROP INDEX {INDEX}")
        op.execute(f"CREATE INDEX {INDEX} ON {AUDIT} ({EXPRESSIONS[dialect]}) "
                   "WHERE action = 'exception'")


def downgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if ENDS in existing:
        op.drop_table(ENDS)
    if FILES in existing:
        with op.batch_alter_table(FILES) as batch:
            batch.drop_column("identity")
