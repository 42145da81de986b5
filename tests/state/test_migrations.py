"""The state schema's migrations: fresh, older (written before Alembic) and newer databases,
on SQLite and live PostgreSQL, through the stores and ``lacuna db``."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import Result
from sqlalchemy import create_engine, insert, inspect, text
from typer.testing import CliRunner

from lacuna.audit import AuditStore, ledger
from lacuna.audit.record import iso
from lacuna.cli import app
from lacuna.datasets.store import DatasetStore
from lacuna.exceptions import ExceptionStore
from lacuna.identity import AuthenticationError, UserStore
from lacuna.lineage.store import LineageStore
from lacuna.policy import log_sinks
from lacuna.signing import default_keyring
from lacuna.state import VERSION_TABLE, StateSchemaError, head_revision
from lacuna.state.schema import include_object, state_metadata

from .conftest import start_together

DATA = Path(__file__).parent / "data"
# The signing key the pre-Alembic file was written with (tests/state/data/make_pre_alembic.py).
OLD_KEY = "5a" * 32


def lacuna(*args: str, home: Path) -> Result:
    assert os.environ["LACUNA_HOME"] == str(home)
    return CliRunner().invoke(app, list(args))


def revisions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}).get_current_heads())
    finally:
        engine.dispose()


def schema_drift(url: str) -> list[object]:
    """What differs between the database and the stores' tables (nothing, at head)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            # SQLite's reflection skips revision 0007's expression index (and says so)
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": include_object})
            diffs = compare_metadata(ctx, state_metadata())
    finally:
        engine.dispose()
    return [d for d in diffs if not (isinstance(d, tuple) and d[0] == "remove_table"
                                     and d[1].name == VERSION_TABLE)]


def test_a_fresh_database_is_created_at_head_by_any_store(state_url: str, home: Path) -> None:
    ExceptionStore(state_url).close()
    assert revisions(state_url) == [head_revision()]
    # Every store's tables, exactly as the stores declare them: the migrations and the
    # stores' metadata cannot drift apart (a new table or column needs a new revision).
    assert schema_drift(state_url) == []


def _sqlite_contents(path: Path) -> tuple[list[tuple[str, str, str]], dict[str, list[Any]]]:
    """A SQLite file's schema statements and every table's rows (the database id left out)."""
    with sqlite3.connect(path) as conn:
        schema = sorted(conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
        rows = {name: sorted(conn.execute(f'SELECT * FROM "{name}"'))
                for kind, name, _ in schema
                if kind == "table" and name != "lacuna_database_id"}
        ids = conn.execute("SELECT id, database_id FROM lacuna_database_id").fetchall()
    assert [i for i, _ in ids] == [1]
    assert len(ids[0][1]) == 32
    return schema, rows


def test_a_new_sqlite_database_is_the_migrated_one_replayed(tmp_path: Path, home: Path
                                                            ) -> None:
    """A new SQLite database is given the head schema by replaying what the migrations left in
    one made in memory (sixteen Alembic migrations cost ~100 ms at each new database): the same
    statements and rows as every migration run on the file itself, with an id of its own."""
    from alembic import command

    from lacuna.state.schema import alembic_config

    replayed, migrated = tmp_path / "replayed.db", tmp_path / "migrated.db"
    AuditStore(f"sqlite:///{replayed}").close()
    engine = create_engine(f"sqlite:///{migrated}")
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(connection=conn), "head")
    finally:
        engine.dispose()
    assert _sqlite_contents(replayed) == _sqlite_contents(migrated)
    assert revisions(f"sqlite:///{replayed}") == [head_revision()]
    with sqlite3.connect(replayed) as a, sqlite3.connect(migrated) as b:
        first = a.execute("SELECT database_id FROM lacuna_database_id").fetchone()
        assert first != b.execute("SELECT database_id FROM lacuna_database_id").fetchone()
    again = tmp_path / "again.db"
    with pytest.MonkeyPatch.context() as mp:  # replayed: no migration runs on the file
        mp.setattr(command, "upgrade", lambda *a, **k: pytest.fail("migrated, not replayed"))
        AuditStore(f"sqlite:///{again}").close()
    with sqlite3.connect(again) as c:  # each new database its own id, not the template's
        assert c.execute("SELECT database_id FROM lacuna_database_id").fetchone() != first
    # a file holding anything at all is migrated, not replayed over
    partial = tmp_path / "partial.db"
    with sqlite3.connect(partial) as conn:
        conn.execute("CREATE TABLE mine (x)")
    AuditStore(f"sqlite:///{partial}").close()
    with sqlite3.connect(partial) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'mine'").fetchone()
    assert revisions(f"sqlite:///{partial}") == [head_revision()]


def test_lacuna_db_upgrade_and_current(state_url: str, home: Path) -> None:
    before = lacuna("db", "current", "--url", state_url, home=home)
    assert before.exit_code == 1, before.output
    up = lacuna("db", "upgrade", "--url", state_url, home=home)
    assert up.exit_code == 0, up.output
    assert f"to {head_revision()} (head)" in up.output
    now = lacuna("db", "current", "--url", state_url, home=home)
    assert now.exit_code == 0, now.output
    assert "up to date" in now.output
    assert lacuna("db", "upgrade", "--url", state_url, home=home).output.count("nothing to do")


def test_a_newer_database_is_refused_untouched(state_url: str, home: Path) -> None:
    AuditStore(state_url).close()
    engine = create_engine(state_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    for opener in (AuditStore, ExceptionStore, DatasetStore, UserStore):
        with pytest.raises(StateSchemaError, match=r"newer Lacuna \(schema revision 9999"):
            opener(state_url)
    with pytest.raises(Exception, match="newer Lacuna") as raised:
        LineageStore(state_url)
    assert type(raised.value).__name__ == "LineageError"
    current = lacuna("db", "current", "--url", state_url, home=home)
    assert current.exit_code == 2
    assert "newer than this Lacuna" in current.output
    assert lacuna("db", "upgrade", "--url", state_url, home=home).exit_code == 2
    assert revisions(state_url) == ["9999"]  # nothing was changed
    engine.dispose()


def test_a_database_written_before_alembic_is_adopted(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written by Lacuna before it used migrations (main at fa463bd) keeps everything
    readable and verifiable, and is stamped at head on first open."""
    monkeypatch.setenv("LACUNA_SIGNING_KEY", OLD_KEY)
    db = tmp_path / "audit.db"
    with sqlite3.connect(db) as conn:  # the file, from its SQL dump (text in git, not a binary)
        conn.executescript((DATA / "pre_alembic.sql").read_text(encoding="utf-8"))
    conn.close()
    shutil.copy(DATA / "pre_alembic.db.decision_log.checkpoint",
                tmp_path / "audit.db.decision_log.checkpoint")
    url = f"sqlite:///{db}"
    before = lacuna("db", "current", "--url", url, home=home)
    assert (before.exit_code, "no schema revision recorded" in before.output) == (1, True)

    with AuditStore(url, checkpoint=None) as store:
        report = store.verify()
        assert (report.ok, report.checked) == (True, 3), report.problem
        assert [r.user_id for r in store.list()] == ["user2", "user1", "user0"]
    assert revisions(url) == [head_revision()]
    assert schema_drift(url) == []
    exceptions = ExceptionStore(url)
    try:
        (request,) = exceptions.list()
        assert (request.id, exceptions.verified(request)) == ("EXC-2026-001", True)
    finally:
        exceptions.close()
    with LineageStore(url) as lineage:
        run = lineage.get_run("run-1")
        assert run is not None
        assert [v.dataset.name for v in run.outputs] == ["/data/b.csv"]
    users = UserStore(url)
    try:
        assert [p.name for p, _ in users.list()] == ["steward_sam"]
    finally:
        users.close()
    sink = log_sinks.SqlDecisionLog(url)
    try:
        with sink._engine.connect() as conn:
            report = ledger.verify_ledger(conn, log_sinks.table, log_sinks.heads,
                                          default_keyring(),
                                          ledger.checkpoint_path(db))
        assert (report.ok, report.checked) == (True, 1), report.problem
        sink.write([{"decision_id": f"new-{k}", "timestamp": "2026-12-03T00:00:00.000000Z",
                     "path": "lacuna/decision", "result": {"operation_id": "op", "allowed": True},
                     "bundles": {"lacuna": {"revision": "r"}}} for k in range(2)])
        with sink._engine.connect() as conn:  # the old chain goes on (the raw SQLite path)
            report = ledger.verify_ledger(conn, log_sinks.table, log_sinks.heads,
                                          default_keyring(), ledger.checkpoint_path(db))
        assert (report.ok, report.checked) == (True, 3), report.problem
    finally:
        sink.close()


def test_an_older_partial_database_gets_the_missing_tables(state_url: str, home: Path) -> None:
    """Only some stores had been used (no version table): the rest is added, nothing lost."""
    engine = create_engine(state_url)
    try:
        from lacuna.datasets import store as datasets_store

        with engine.begin() as conn:
            datasets_store.metadata.create_all(conn)
            conn.execute(insert(datasets_store.table).values(
                name="kept", updated_at="2026-11-30T09:00:00+00:00", body="{}"))
        AuditStore(state_url).close()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM lacuna_datasets")).scalar() == "kept"
            assert inspect(conn).has_table("lacuna_exceptions")
    finally:
        engine.dispose()
    assert revisions(state_url) == [head_revision()]


OPENER = """
import sys
from lacuna.exceptions import ExceptionStore
from lacuna.lineage.store import LineageStore
url = sys.argv[1]
print("ready", flush=True)
sys.stdin.readline()
ExceptionStore(url).close()
LineageStore(url).close()
"""


def test_processes_opening_a_new_database_together_migrate_it_once(
    state_url: str, home: Path
) -> None:
    start_together(OPENER, [[state_url]] * 3, home)
    assert revisions(state_url) == [head_revision()]
    assert schema_drift(state_url) == []


def _decision_row(seq: int, when: datetime, user: str, role: str, *, allowed: bool,
                  dest: str | None, policy: str) -> dict[str, object]:
    rid = f"{seq:032x}"
    body = {"id": rid, "seq": seq, "operation_id": rid, "when": iso(when),
            "who": {"user_id": user, "role": role, "session": "t"},
            "what": {"action": "write" if allowed else "export", "sources": ["/lake/crm/c"],
                     "destination": dest, "tier": "INTERNAL", "columns": {}},
            "decision": {"allowed": allowed, "policy_id": policy, "engine_error": None,
                         "policies": [{"package": "lacuna.export", "id": policy}]},
            "why": {"exception_id": None}}
    return {"seq": seq, "id": rid, "timestamp": iso(when), "user_id": user,
            "action": body["what"]["action"], "allowed": allowed,  # type: ignore[index]
            "policy_id": policy, "body": json.dumps(body), "prev_hash": "0" * 64,
            "hash": "0" * 64, "signature": None}


def test_0004_rebuilds_the_metrics_rollups_of_a_store_at_0003(state_url: str,
                                                              home: Path) -> None:
    """A trail written at revision 0003 (rollups per hour and role only, and a stale counter)
    is upgraded: the rollups are rebuilt from its records, keyed by every filter."""
    from lacuna.audit.schema import LAYOUT_VERSION, head, records
    from lacuna.governor import Governor, build_config
    from lacuna.metrics import GovernanceMetrics
    from lacuna.state.schema import upgrade

    engine = create_engine(state_url)
    start = datetime(2026, 11, 2, 6, tzinfo=UTC)
    rows = []
    for i in range(120):  # a denial every 4th hour, resolved (analysts) or retried (others)
        when = start + timedelta(minutes=37 * i)
        user, role = f"u{i % 3}", ("data_analyst", "finance", "ops")[i % 3]
        denied = i % 4 == 0
        rows.append(_decision_row(2 * i + 1, when, user, role, allowed=not denied,
                                  dest=f"/home/{user}/Downloads/{i}.csv" if denied else None,
                                  policy="P-EXPORT" if denied else "P-ALLOW"))
        if denied:
            rows.append(_decision_row(2 * i + 2, when + timedelta(minutes=4), user, role,
                                      allowed=i % 8 != 0, policy="P-EXPORT",
                                      dest=f"/home/{user}/Downloads/{i}-v2.csv" if i % 8 == 0
                                      else "/governed/ws/ok.csv"))
    try:
        assert upgrade(engine, where="test", target="0003").current == ("0003",)
        with engine.begin() as conn:
            conn.execute(insert(records), rows)
            conn.execute(head.delete())
            conn.execute(insert(head).values(id=1, seq=len(rows), hash="0" * 64,
                                             layout_version=LAYOUT_VERSION))
            conn.execute(text("INSERT INTO lacuna_metrics_hourly VALUES "
                              "('2026-11-02T06', 'stale', 999, 0, 0, 0, 0)"))
            conn.execute(text("DELETE FROM lacuna_metrics_rollup"))
            conn.execute(text("INSERT INTO lacuna_metrics_rollup VALUES (1, 0)"))
        AuditStore(state_url, checkpoint=None).close()  # opening it upgrades it
        assert revisions(state_url) == [head_revision()]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM lacuna_metrics_hourly WHERE role = "
                                     "'stale'")).scalar() == 0
            assert conn.execute(text("SELECT SUM(decisions) FROM lacuna_metrics_hourly")
                                ).scalar() == len(rows)
            # retries and resolutions here have their denial's key: rolled up with it
            assert conn.execute(text("SELECT SUM(workarounds), SUM(resolved) FROM "
                                     "lacuna_metrics_hourly")).one() == (15, 15)
        assert schema_drift(state_url) == []
    finally:
        engine.dispose()
    gov = Governor(build_config(None, audit={"url": state_url},
                                user={"id": "t", "role": "x"}))
    try:
        period = (start + timedelta(minutes=50), start + timedelta(days=2, minutes=10))
        for filters in ({}, {"user_group": "finance"}, {"policy": "P-EXPORT"},
                        {"domain": "export", "tier": "internal"}):
            fast = GovernanceMetrics(period, governor=gov, **filters)
            assert fast.source == "rollups"
            assert fast.to_dict() == GovernanceMetrics(period, governor=gov, exact=True,
                                                       **filters).to_dict()
        assert GovernanceMetrics(period, governor=gov).workaround_attempts > 0
        assert GovernanceMetrics(period, governor=gov).avg_resolution_time_minutes == 4.0
    finally:
        gov.close()


def _event(seq: int, body: str) -> dict[str, object]:
    return {"seq": seq, "id": f"{seq:032x}", "timestamp": "2026-12-03T09:00:00.000000Z",
            "user_id": "u", "action": "exception", "allowed": True, "policy_id": None,
            "body": body, "prev_hash": "0" * 64, "hash": f"{seq:064x}", "signature": None}


def _index_plan(conn: Any, dialect: str, statement: str, parameters: Any) -> str:
    if dialect == "sqlite":
        return str(conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                        parameters).fetchall())
    conn.exec_driver_sql("SET enable_seqscan = off")  # a handful of rows: seq scan otherwise
    return str(conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).fetchall())


def test_0007_indexes_a_trail_whose_exception_events_are_not_all_json(state_url: str,
                                                                     home: Path) -> None:
    """Exception events whose body is not JSON, or JSON of another shape (written by hand,
    damaged): the index is made (they are indexed as NULL), and the store's lookups still use
    it and still find the events that are there."""
    from sqlalchemy import event

    from lacuna.audit.schema import build_engine, parse_url, records
    from lacuna.state.schema import upgrade

    engine = build_engine(parse_url(state_url))
    revoked = json.dumps({"kind": "exception", "what": {"action": "exception",
                                                         "event": "revoked",
                                                         "exception_id": "EXC-2026-001"}})
    written = json.dumps({"kind": "exception", "what": {"event": "file-written",
                                                         "exception_id": "EXC-2026-001"},
                          "exception": {"path": "/tmp/out.csv"}})
    odd = ["not json {", '"a string"', "[1, 2]", '{"what": "x"}', "null",
           '{"what": {"exception_id": "EXC-2026-001", "event": "bad\\u0000"}}']
    try:
        assert upgrade(engine, where="test", target="0006").current == ("0006",)
        with engine.begin() as conn:
            conn.execute(insert(records), [_event(k, body) for k, body
                                           in enumerate([*odd, revoked, written], 1)])
        store = ExceptionStore(state_url)  # upgrades to head
    finally:
        engine.dispose()
    try:
        assert revisions(state_url) == [head_revision()]
        dialect = store._engine.dialect.name
        sent: list[tuple[str, Any]] = []

        def seen(*args: Any) -> None:
            if "lacuna_audit" in args[2]:
                sent.append((args[2], args[3]))

        event.listen(store._engine, "before_cursor_execute", seen)
        assert store.ended_on_trail("EXC-2026-001") == "revoked"
        assert store.ended_on_trail("EXC-2026-002") is None
        event.remove(store._engine, "before_cursor_execute", seen)
        assert store.files_on_trail() == {("EXC-2026-001", "/tmp/out.csv")}
        with store._engine.connect() as conn:
            for statement, parameters in sent:
                assert "ix_lacuna_audit_exception_id" in _index_plan(
                    conn, dialect, statement, parameters)
    finally:
        store.close()


def test_0009_remakes_an_index_0007_made_without_the_json_guard(state_url: str,
                                                               home: Path) -> None:
    from lacuna.audit.schema import build_engine, parse_url
    from lacuna.state.schema import upgrade

    engine = build_engine(parse_url(state_url))
    old = {"sqlite": "json_extract(body, '$.what.exception_id')",
           "postgresql": "((body::jsonb) #>> '{what,exception_id}')"}
    definition = {"sqlite": "SELECT sql FROM sqlite_master WHERE name = "
                            "'ix_lacuna_audit_exception_id'",
                  "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = "
                                "'ix_lacuna_audit_exception_id'"}
    dialect = engine.dialect.name
    try:
        upgrade(engine, where="test", target="0007")
        with engine.begin() as conn:  # as revision 0007 made it before it had the guard
            conn.execute(text("DROP INDEX ix_lacuna_audit_exception_id"))
            conn.execute(text(f"CREATE INDEX ix_lacuna_audit_exception_id ON lacuna_audit "
                              f"({old[dialect]}) WHERE action = 'exception'"))
        upgrade(engine, where="test")
        with engine.connect() as conn:
            made = str(conn.execute(text(definition[dialect])).scalar())
    finally:
        engine.dispose()
    assert {"sqlite": "json_valid(body)", "postgresql": "lacuna_jsonb(body)"}[dialect] in made


def test_0010_fills_in_the_operation_ids_of_a_trail_at_0009(state_url: str,
                                                            home: Path) -> None:
    """A signed trail written at revision 0009 (audit layout 2: no operation_id column) is
    migrated when a writer opens it: the column filled in from every body (decisions only),
    indexed, layout 3; the chain verifies as before and of_operation answers the same."""
    from lacuna.audit.record import iso as iso_time
    from lacuna.model import Action, Classification, Decision, Operation, User

    ids, answers = [], {}
    with AuditStore(state_url, checkpoint=None) as store:
        for i in range(9):
            op = Operation(action=Action.EXPORT, user=User(id=f"u{i % 2}"),
                           classification=Classification())
            decision = Decision(allowed=i % 2 == 0, operation_id=op.id, reasoning="r",
                                policy_id=None if i % 2 == 0 else "P-1", operation=op)
            rec = store.record(decision, op, session="s")
            ids.append(op.id)
            if i % 3 == 0:  # an outcome and an event naming the same operation, after it
                store.record_outcome(decision, op, session="s", of=rec.id)
                store.record_event({"kind": "feedback", "operation_id": op.id,
                                    "who": {"user_id": "u0"}, "what": {"action": "feedback"},
                                    "when": iso_time(op.timestamp),
                                    "decision": {"allowed": True, "policy_id": None}})
        for op_id in ids:
            found = store.of_operation(op_id)
            assert found is not None
            assert found.kind == "decision"
            answers[op_id] = found.seq
        before = store.verify()
    engine = create_engine(state_url)
    try:
        with engine.begin() as conn:  # the trail as revision 0009 left it
            conn.execute(text("DROP INDEX ix_lacuna_audit_operation_id"))
            conn.execute(text("ALTER TABLE lacuna_audit DROP COLUMN operation_id"))
            if inspect(conn).has_table("lacuna_lineage_versions"):  # and without 0011's column
                conn.execute(text("ALTER TABLE lacuna_lineage_versions DROP COLUMN dismissed"))
            conn.execute(text("UPDATE lacuna_audit_head SET layout_version = 2"))
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0009'"))
        with AuditStore(state_url, checkpoint=None) as store:  # opening it migrates it
            report = store.verify()
            assert (report.ok, report.checked, report.head) == (
                True, before.checked, before.head), report.problem
            assert {op_id: store.of_operation(op_id).seq  # type: ignore[union-attr]
                    for op_id in ids} == answers
        assert revisions(state_url) == [head_revision()]
        assert schema_drift(state_url) == []
        dialect = engine.dialect.name
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT body, operation_id FROM lacuna_audit")).all()
            assert conn.execute(text("SELECT layout_version FROM lacuna_audit_head")
                                ).scalar() == 3
            plan = _index_plan(conn, dialect, "SELECT seq FROM lacuna_audit WHERE "
                               "operation_id = " + ("?" if dialect == "sqlite" else "%s")
                               + " ORDER BY seq DESC", (ids[0],))
    finally:
        engine.dispose()
    assert len(rows) == before.checked
    for body, column in rows:
        data = json.loads(body)
        assert column == (None if "kind" in data else data["operation_id"])
    assert sum(column is not None for _, column in rows) == len(ids)
    assert "ix_lacuna_audit_operation_id" in plan


def test_0010_downgrades_to_layout_2_and_upgrades_again(state_url: str, home: Path) -> None:
    """Revision 0010's downgrade drops the column and its index (keeping 0009's expression
    index) and sets the trail back to layout 2; upgrading again fills the column in anew."""
    from alembic import command

    from lacuna.model import Action, Classification, Decision, Operation, User
    from lacuna.state.schema import alembic_config

    with AuditStore(state_url, checkpoint=None) as store:
        op = Operation(action=Action.EXPORT, user=User(id="u"), classification=Classification())
        rec = store.record(Decision(allowed=True, operation_id=op.id, reasoning="r",
                                    operation=op), op, session="s")
    engine = create_engine(state_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0009")
        with engine.connect() as conn, warnings.catch_warnings():
            # SQLite's reflection skips revision 0009's expression index (and says so)
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            columns = {c["name"] for c in inspect(conn).get_columns("lacuna_audit")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("lacuna_audit")}
            layout = conn.execute(text("SELECT layout_version FROM lacuna_audit_head")).scalar()
        assert "operation_id" not in columns
        assert "ix_lacuna_audit_operation_id" not in indexes
        assert layout == 2
        assert revisions(state_url) == ["0009"]
        with AuditStore(state_url, checkpoint=None) as store:
            assert store.verify().ok
            found = store.of_operation(op.id)
            assert found is not None
            assert found.seq == rec.seq
        with engine.connect() as conn:
            assert conn.execute(text("SELECT operation_id FROM lacuna_audit")).scalar() == op.id
            assert conn.execute(text("SELECT layout_version FROM lacuna_audit_head")
                                ).scalar() == 3
            if engine.dialect.name == "sqlite":  # 0009's expression index survived both ways
                assert conn.execute(text(
                    "SELECT name FROM sqlite_master WHERE name = "
                    "'ix_lacuna_audit_exception_id'")).scalar() is not None
    finally:
        engine.dispose()


def test_0011_adds_dismissed_to_a_lineage_store_at_0010(state_url: str, home: Path) -> None:
    """A lineage store written at revision 0010 (no ``dismissed`` column) is migrated when it
    opens: its versions are not dismissed, still count, and a claim can be dismissed."""
    from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
    from lacuna.model import Classification

    ref = DatasetRef("file", "/data/a.csv")
    claim = Classification.from_dict({"tier": "PROPRIETARY"})
    with LineageStore(state_url) as store:
        store.record(Run(id="r-1", operation="relabel", status=RunStatus.SUCCEEDED,
                         outputs=(DatasetVersion(dataset=ref, classification=claim),)),
                     trusted=False)
    engine = create_engine(state_url)
    try:
        with engine.begin() as conn:  # the store as revision 0010 left it
            conn.execute(text("ALTER TABLE lacuna_lineage_versions DROP COLUMN dismissed"))
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0010'"))
    finally:
        engine.dispose()
    with LineageStore(state_url) as store:  # opening it migrates it
        latest = store.latest(ref)
        assert latest is not None
        assert latest.classification.tier.value == "PROPRIETARY"
        assert [v.dataset for v in store.dismiss("r-1")] == [ref]
        assert store.latest(ref) is None
    assert revisions(state_url) == [head_revision()]
    assert schema_drift(state_url) == []


def test_0012_signs_no_user_row_of_a_store_at_0011_until_an_operator_resigns(
        state_url: str, home: Path) -> None:
    """Users and console sessions written at revision 0011 carry no signature. Opening the
    store migrates it (the signature columns) but vouches for nothing: those users are refused
    with a message saying what to do, ``lacuna users list`` marks them, ``lacuna users resign``
    (the operator's check) signs them as they are, and a row edited after signing is never
    signed by it."""
    from lacuna.identity import UnverifiedIdentityError

    users = UserStore(state_url)
    tokens = {name: users.add(name, roles=[role]) for name, role in
              (("sam", "data_steward"), ("ana", "analyst"), ("old", "analyst"))}
    users.disable("old")
    sid = users.start_session("sam", datetime.now(UTC).timestamp() + 3600)
    assert users.authenticate(tokens["sam"]).name == "sam"
    users.close()
    engine = create_engine(state_url)
    try:
        with engine.begin() as conn:  # the store as revision 0011 left it
            for table in ("lacuna_users", "lacuna_console_sessions"):
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN signature"))
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0011'"))
    finally:
        engine.dispose()
    users = UserStore(state_url)  # opening it migrates it
    try:
        assert revisions(state_url) == [head_revision()]
        assert schema_drift(state_url) == []
        with pytest.raises(UnverifiedIdentityError, match=r"no signature.*lacuna users resign"):
            users.authenticate(tokens["sam"])
        assert not users.session_active(sid, "sam")  # sessions from before: sign in again
        listed = lacuna("users", "list", "--db", state_url, home=home)
        assert "sam\tdata_steward  (unsigned" in listed.stdout, listed.output
        refused = CliRunner().invoke(app, ["users", "resign", "--db", state_url], input="n\n")
        assert refused.exit_code == 1
        assert "nothing signed" in refused.stdout
        engine = create_engine(state_url)
        try:  # edited after signing (this key's signature, of something else): not resigned
            with engine.begin() as conn:
                conn.execute(text("UPDATE lacuna_users SET signature = :s, "
                                  "roles = '[\"admin\"]' WHERE name = 'ana'"),
                             {"s": users.keyring.sign({"another": "row"})})
        finally:
            engine.dispose()
        done = lacuna("users", "resign", "--yes", "--db", state_url, home=home)
        assert done.exit_code == 0, done.output
        assert "signed 2 user record(s): old, sam" in done.stdout
        assert users.authenticate(tokens["sam"]).roles == ("data_steward",)
        with pytest.raises(AuthenticationError, match="disabled"):
            users.authenticate(tokens["old"])  # signed as it was: still disabled
        with pytest.raises(UnverifiedIdentityError, match="does not match its signature"):
            users.authenticate(tokens["ana"])
        assert {r.name: r.signature for r in users.records()} == {
            "ana": "invalid", "old": "signed", "sam": "signed"}
        new = users.add("ana", roles=["analyst"], replace=True)  # re-issued: in again
        assert users.authenticate(new) == users.principal_of("ana")
    finally:
        users.close()
