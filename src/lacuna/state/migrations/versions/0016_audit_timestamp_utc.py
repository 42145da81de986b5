"""The audit trail's ``timestamp`` column in one sortable UTC form (``lacuna_audit.timestamp``).

The column is the indexed copy of each record's ``when`` that ``AuditStore.list(since=,
until=)`` and the metrics' period reads compare as text. It held ``when`` as the body spelled
it, so a record written with a UTC offset sorted by its local time: ``2026-12-01T23:30-05:00``
(04:30 UTC on the 2nd) was left out of ``since=2026-12-02T00:00Z``, and ``03:00+05:00`` on the
2nd (22:00 UTC on the 1st) was let in. The store now writes the instant in
:func:`lacuna.audit.record.iso`'s UTC form (:func:`~lacuna.audit.record.column_time`); this
rewrites the records written before it. The bodies (hashed and signed) keep their spelling, and
``lacuna audit verify`` takes the column as matching its body when it holds the same instant.

Only the rows whose column is not already in that form are read (a scan of the column's index;
Lacuna itself always wrote UTC, so usually none). A column that is no time at all is left as it
is (``verify`` reports a column that differs from its body; a body's own ``when`` that is no
time is refused by the store from now on).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from lacuna.audit.record import column_time

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

AUDIT = "lacuna_audit"
CANONICAL = "____-__-__T__:__:__.______+00:00"  # iso()'s shape (LIKE: _ is any one character)
BATCH = 5000


def _columns(bind: sa.Connection) -> set[str]:
    if AUDIT not in set(sa.inspect(bind).get_table_names()):
        return set()
    return {c["name"] for c in sa.inspect(bind).get_columns(AUDIT)}


def upgrade() -> None:
    bind = op.get_bind()
    if not {"seq", "timestamp", "body"} <= _columns(bind):
        return  # no trail, or not Lacuna's table (the store refuses it when it opens)
    rows = bind.execute(sa.text(
        f"SELECT seq, timestamp FROM {AUDIT} WHERE timestamp NOT LIKE :shape"),
        {"shape": CANONICAL}).all()
    fixed = [{"seq": seq, "ts": utc} for seq, text in rows
             if (utc := column_time(text)) is not None and utc != text]
    for i in range(0, len(fixed), BATCH):
        bind.execute(sa.text(f"UPDATE {AUDIT} SET timestamp = :ts WHERE seq = :seq"),
                     fixed[i:i + BATCH])


def downgrade() -> None:
    """Put back each rewritten column as its body spells ``when`` (what the store before
    this revision wrote, and its ``verify`` compares)."""
    bind = op.get_bind()
    if not {"seq", "timestamp", "body"} <= _columns(bind):
        return
    read = sa.text(f"SELECT seq, timestamp, body FROM {AUDIT} WHERE seq > :after "
                   "ORDER BY seq LIMIT :n")
    after = -1
    while True:
        rows = bind.execute(read, {"after": after, "n": BATCH}).all()
        back = []
        for seq, stored, text in rows:
            try:
                when = json.loads(text).get("when")
            except (TypeError, ValueError, AttributeError):
                continue
            if isinstance(when, str) and when != stored and column_time(when) == stored:
                back.append({"seq": seq, "ts": when})
        if back:
            bind.execute(sa.text(f"UPDATE {AUDIT} SET timestamp = :ts WHERE seq = :seq"), back)
        if len(rows) < BATCH:
            return
        after = rows[-1][0]
