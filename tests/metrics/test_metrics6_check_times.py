"""``check_times`` ran on every console metrics page and searched audit page, and read the
whole audit table for it (``SELECT seq, id, timestamp ... ORDER BY seq``: every page of every
body; about 4 s warm for a million records and minutes from a cold disk). It now reads the
``timestamp`` index only (``seq`` is SQLite's rowid, so the index covers the read), and still
names the first record by ``seq`` whose column is no time, though the index yields them in
their text's order."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from audit_rows import denial_body
from lacuna.audit import AuditStore
from lacuna.errors import AuditError

WHENS = [f"2026-11-03T{h:02d}:00:00.000000+00:00" for h in range(8)]


def test_metrics6_check_times_reads_the_timestamp_index_not_the_table(tmp_path: Path) -> None:
    with AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", checkpoint=None) as store:
        store._append_all([denial_body(i, w) for i, w in enumerate(WHENS)])
        plans: list[str] = []

        def explain(conn, _cursor, statement, parameters, _context, _many) -> None:
            if "lacuna_audit" in statement and statement.lstrip().startswith("SELECT"):
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                            parameters).all()
                plans.append(" / ".join(str(r[-1]) for r in rows))

        event.listen(store.engine, "before_cursor_execute", explain)
        try:
            store.check_times()  # the allowed path: every column a time
        finally:
            event.remove(store.engine, "before_cursor_execute", explain)
    scans = [p for p in plans if "SCAN lacuna_audit" in p]
    assert scans == ["SCAN lacuna_audit USING COVERING INDEX ix_lacuna_audit_timestamp"]


def test_metrics6_check_times_names_the_first_by_seq_not_by_index_order(
        tmp_path: Path) -> None:
    """Two edited columns, the later record's sorting first in the index: the earlier record
    (#3) is named, as the scan in ``seq`` order named it."""
    path = tmp_path / "audit.db"
    with AuditStore(f"sqlite:///{path}", checkpoint=None) as store:
        store._append_all([denial_body(i, w) for i, w in enumerate(WHENS)])
        store.check_times()
        engine = store.engine
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE lacuna_audit SET timestamp = "
                                 "'2026-1X-03T00:00:00.000000+00:00' WHERE seq = 3")
            conn.exec_driver_sql("UPDATE lacuna_audit SET timestamp = "
                                 "'0000-11-03T00:00:00.000000+00:00' WHERE seq = 6")
        with pytest.raises(AuditError, match=r"audit record #3 \(id '0+2'\): its timestamp "
                                             r"column '2026-1X-03"):
            store.check_times()
        with engine.begin() as conn:  # an edit after a clean check is found at the next one
            conn.exec_driver_sql("UPDATE lacuna_audit SET timestamp = "
                                 "'2026-11-03T02:00:00.000000+00:00' WHERE seq = 3")
        with pytest.raises(AuditError, match=r"audit record #6 "):
            store.check_times()
