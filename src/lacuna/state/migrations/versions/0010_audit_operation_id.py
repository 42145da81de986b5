"""Audit layout 3: each decision record's operation id in an indexed column
(``lacuna_audit.operation_id``, ``ix_lacuna_audit_operation_id``), so
:meth:`lacuna.audit.store.AuditStore.of_operation` (the decision id a violation message names)
is one index lookup instead of a scan of every body.

The column is derived from the hashed body (:func:`lacuna.audit.record.indexed_operation_id`:
a decision's ``operation_id``; NULL for outcomes and events), never hashed or signed itself, so
the chain and its signatures do not change; ``lacuna audit verify`` reports a record whose
column disagrees with its body. The existing records are filled in here from their bodies, in
batches of :data:`BATCH` records read in ``seq`` order (memory stays bounded on a trail of
millions; SQLite fills a million records in about 25 s, during which appends wait, as in any
migration), then the index is made and the trail's head moves from layout 2 to 3. A trail
still at layout 1 (unsigned) stays at 1: the store signs it when it opens and sets layout 3.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from lacuna.audit.record import indexed_operation_id

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

AUDIT = "lacuna_audit"
HEAD = "lacuna_audit_head"
INDEX = "ix_lacuna_audit_operation_id"
BATCH = 5000  # records read (and their bodies parsed) at a time


def upgrade() -> None:
    bind = op.get_bind()
    if AUDIT not in set(sa.inspect(bind).get_table_names()):
        return
    columns = {c["name"] for c in sa.inspect(bind).get_columns(AUDIT)}
    # only over Lacuna's own trail: a table of that name without its columns is refused with
    # a clear message when the store opens, not here
    if not {"seq", "body"} <= columns:
        return
    if "operation_id" not in columns:
        op.add_column(AUDIT, sa.Column("operation_id", sa.String(length=255), nullable=True))
        backfill(bind)
    op.create_index(INDEX, AUDIT, ["operation_id"], unique=False, if_not_exists=True)
    if HEAD in set(sa.inspect(bind).get_table_names()):
        op.execute(f"UPDATE {HEAD} SET layout_version = 3 WHERE layout_version = 2")


def backfill(bind: sa.Connection) -> int:
    """Fill ``operation_id`` in from every record's body, :data:`BATCH` records at a time;
    how many records got an id. A body that is not a JSON object gets none (``verify`` reports
    that record anyway)."""
    read = sa.text(f"SELECT seq, body FROM {AUDIT} WHERE seq > :after ORDER BY seq LIMIT :n")
    write = sa.text(f"UPDATE {AUDIT} SET operation_id = :op WHERE seq = :seq")
    after, filled = -1, 0
    while True:
        rows = bind.execute(read, {"after": after, "n": BATCH}).all()
        found = []
        for seq, text in rows:
            try:
                body = json.loads(text)
            except (TypeError, ValueError):
                continue
            key = indexed_operation_id(body) if isinstance(body, dict) else None
            if key is not None:
                found.append({"op": key, "seq": seq})
        if found:
            bind.execute(write, found)
            filled += len(found)
        if len(rows) < BATCH:
            return filled
        after = rows[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    if AUDIT not in set(sa.inspect(bind).get_table_names()):
        return
    op.drop_index(INDEX, table_name=AUDIT, if_exists=True)
    if "operation_id" in {c["name"] for c in sa.inspect(bind).get_columns(AUDIT)}:
        # a plain DROP COLUMN (SQLite 3.35+), not a batch copy of the table, which would lose
        # revision 0009's expression index (SQLite's reflection skips it)
        op.execute(f"ALTER TABLE {AUDIT} DROP COLUMN operation_id")
    if HEAD in set(sa.inspect(bind).get_table_names()):
        op.execute(f"UPDATE {HEAD} SET layout_version = 2 WHERE layout_version = 3")
