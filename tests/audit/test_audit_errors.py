from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from lacuna.audit import AuditStore
from lacuna.audit import schema as audit_schema
from lacuna.errors import AuditError


def test_non_database_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(AuditError, match="not an SQLite database") as info:
        AuditStore(f"sqlite:///{path}")
    assert str(path) in str(info.value)
    assert "Move it aside" in str(info.value)
    assert path.read_text() == "these are my notes, not a database\n"


def test_damaged_database_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    data = audit_schema.SQLITE_MAGIC + b"\x00\x01" * 2000
    path.write_bytes(data)
    with pytest.raises(AuditError, match=r"damaged|not an SQLite") as info:
        AuditStore(f"sqlite:///{path}")
    assert str(path) in str(info.value)
    assert path.read_bytes() == data


def test_folder_at_the_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="is a folder"):
        AuditStore(f"sqlite:///{tmp_path}")


def test_unwritable_parent_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AuditError, match="cannot create the folder"):
        AuditStore(f"sqlite:///{blocker / 'sub' / 'audit.db'}")


def test_malformed_url() -> None:
    with pytest.raises(AuditError, match="not a database URL"):
        AuditStore("not a url")


def test_missing_driver_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed: import fails
    with pytest.raises(AuditError, match=r"not installed.*pip install 'psycopg\[binary\]'"):
        AuditStore("postgresql+psycopg://lacuna@localhost/governance")


def test_create_false_does_not_create(tmp_path: Path) -> None:
    path = tmp_path / "none" / "audit.db"
    with pytest.raises(AuditError, match="no audit trail"):
        AuditStore(f"sqlite:///{path}", create=False)
    assert not path.parent.exists()


def test_foreign_table_with_our_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE lacuna_audit (x INTEGER)")
    with pytest.raises(AuditError, match="not written by Lacuna"):
        AuditStore(f"sqlite:///{path}")


def test_newer_layout_is_refused(db_url: str) -> None:
    AuditStore(db_url).close()
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE lacuna_audit_head SET layout_version = 99")
    with pytest.raises(AuditError, match="newer Lacuna"):
        AuditStore(db_url)


def test_lock_held_too_long_is_an_audit_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch, mk: Any
) -> None:
    monkeypatch.setattr(audit_schema, "BUSY_TIMEOUT_S", 0.05)
    store = AuditStore(db_url)
    blocker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        op = mk.op()
        with pytest.raises(AuditError, match="lock"):
            store.record(mk.decision(op), op, session="s")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    op = mk.op()
    assert store.record(mk.decision(op), op, session="s").seq == 1  # nothing half-written
    store.close()


def test_read_error_is_an_audit_error(store: AuditStore, tmp_path: Path) -> None:
    with sqlite3.connect(store.path) as conn:  # type: ignore[arg-type]
        conn.execute("DROP TABLE lacuna_audit")
    with pytest.raises(AuditError, match="cannot read the audit trail"):
        store.list()
    report = store.verify()  # the trail's checkpoint says it existed
    assert not report.ok
    assert "holds no audit tables" in report.problem
