"""A state database edited by hand: an older signed grant written back over its revocation,
and the table of files written under an exception edited (a row removed, ``deleted_at`` set,
a row inserted for another file, a directory). None of it is acted on; each is reported."""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta

import pandas as pd
import pytest

import lacuna
from lacuna.exceptions.authority import ExceptionNotAuthorized
from lacuna.model import utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.fixture
def as_user(sandbox_config):
    def switch(user_id: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]}))

    switch("analyst_alice")
    return switch


@pytest.fixture
def customers(governed):
    return pd.read_csv("customers.csv")


@pytest.fixture
def target(governed):
    return governed / "Downloads" / "board_report.csv"


def db(governed) -> sqlite3.Connection:
    # the governor's own writers (decision log, trail) share the file: wait for them under load
    return sqlite3.connect(governed / "audit.db", isolation_level=None, timeout=30)


def granted(as_user, customers, target, **write):
    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id, **write)
    assert target.exists()
    return exc


def saved_row(governed, exception_id):
    with db(governed) as conn:
        return conn.execute("select body, status from lacuna_exceptions where id = ?",
                            (exception_id,)).fetchone()


def write_back(governed, exception_id, row):
    conn = db(governed)
    conn.execute("update lacuna_exceptions set body = ?, status = ? where id = ?",
                 (row[0], row[1], exception_id))
    conn.close()


def revoke_while_the_trail_is_down(monkeypatch, exception_id):
    """Revoke ``exception_id`` while the audit trail fails to record just the revocation."""
    from lacuna.audit.store import AuditStore
    from lacuna.errors import AuditError

    record_event = AuditStore.record_event

    def failing(self, body):
        if body["what"].get("event") == "revoked":
            raise AuditError("disk I/O error")
        return record_event(self, body)

    monkeypatch.setattr(AuditStore, "record_event", failing)
    lacuna.revoke_exception(exception_id, comment="cancelled")
    monkeypatch.setattr(AuditStore, "record_event", record_event)


def test_an_approved_grant_is_honoured(as_user, customers, target):
    exc = granted(as_user, customers, target)
    customers.to_csv(target, exception_id=exc.id)  # used again: still honoured


def test_a_revoked_grant_written_back_is_not_honoured(as_user, customers, target, governed):
    exc = granted(as_user, customers, target, encrypt=True, index=False)
    before = saved_row(governed, exc.id)  # the approved row, signed
    lacuna.revoke_exception(exc.id, comment="cancelled")
    write_back(governed, exc.id, before)  # rolled back: the signature still verifies
    from lacuna.governor import current

    assert current().exceptions.verified(current().exceptions.get(exc.id))
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exc.id)
    assert any("was revoked (the audit trail records it)" in w for w in err.value.decision.why)
    with pytest.raises(lacuna.exceptions.DecryptionRefused, match="was revoked"):
        lacuna.decrypt(target)


def test_a_denied_request_written_back_as_pending_cannot_be_approved(as_user, customers,
                                                                     target, governed):
    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    before = saved_row(governed, exc.id)
    as_user(STEWARD)
    lacuna.deny_exception(exc.id, comment="use the aggregate")
    write_back(governed, exc.id, before)
    with pytest.raises(lacuna.exceptions.ExceptionNotAuthorized, match="was denied"):
        lacuna.approve_exception(exc.id)


def test_no_grant_when_the_trail_cannot_be_read(as_user, customers, target, monkeypatch):
    exc = granted(as_user, customers, target)
    from lacuna.exceptions.store import ExceptionStore, TrailUnreadable

    def unreadable(self, exception_id):
        raise TrailUnreadable("the audit trail (lacuna_audit) could not be read (disk I/O)")

    monkeypatch.setattr(ExceptionStore, "ended_on_trail", unreadable)
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exc.id)
    assert any("could not be checked against the audit trail" in w
               for w in err.value.decision.why)


def lookup_plan(store, exception_id):
    """The SQL ``ended_on_trail`` sends, its answer, and SQLite's plan for it."""
    from sqlalchemy import event

    sent = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "lacuna_audit" in statement:
            sent.append((statement, parameters))

    event.listen(store._engine, "before_cursor_execute", seen)
    try:
        found = store.ended_on_trail(exception_id)
    finally:
        event.remove(store._engine, "before_cursor_execute", seen)
    ((statement, parameters),) = sent
    with store._engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
    return found, plan


def test_the_terminal_lookup_uses_the_index(as_user, customers, target, governed):
    exc = granted(as_user, customers, target)
    from lacuna.governor import current

    found, plan = lookup_plan(current().exceptions, exc.id)
    assert found is None
    assert any("ix_lacuna_audit_exception_id" in str(row) for row in plan), plan


def edit_file_records(governed, tamper: str) -> None:
    """The files table edited by hand: ``deleted_at`` set, the row removed, or the signature
    dropped (a row as recorded before file records were signed)."""
    conn = db(governed)
    if tamper == "deleted_at":
        conn.execute("update lacuna_exception_files set deleted_at = ?",
                     (utcnow().isoformat(),))
    elif tamper == "delete-row":
        conn.execute("delete from lacuna_exception_files")
    else:
        conn.execute("update lacuna_exception_files set signature = NULL")
    conn.close()


def _sweep_later():
    return lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))


def test_a_normal_sweep_still_deletes(as_user, customers, target):
    granted(as_user, customers, target)
    report = _sweep_later()
    assert report.deleted == (str(target),)
    assert report.failed == ()
    assert _sweep_later().failed == ()  # settled: nothing to report again


@pytest.mark.parametrize("tamper", ["deleted_at", "delete-row", "unsigned"])
def test_a_file_record_edited_by_hand_is_reported_every_sweep(as_user, customers, target,
                                                              governed, tamper):
    exc = granted(as_user, customers, target)
    edit_file_records(governed, tamper)
    for _ in range(2):
        report = _sweep_later()
        assert report.deleted == ()
        assert [f.split(": ", 1)[0] for f in report.failed] == [str(target)]
    assert target.exists()  # never deleted on the word of a record that does not verify
    assert exc.id in report.failed[0] or "lacuna_exception_files" in report.failed[0]


def test_a_row_inserted_for_another_file_deletes_nothing(as_user, customers, target, governed):
    exc = granted(as_user, customers, target)
    victim = governed / "precious"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    lone = governed / "lone.txt"
    lone.write_text("keep")
    conn = db(governed)
    for path in (victim, lone):
        conn.execute(
            "insert into lacuna_exception_files (exception_id, path, written_by, written_at, "
            "encrypted, directory) values (?, ?, 'analyst_alice', ?, 0, 1)",
            (exc.id, str(path), utcnow().isoformat()))
    conn.close()
    report = _sweep_later()
    assert report.deleted == (str(target),)
    assert sorted(f.split(": ", 1)[0] for f in report.failed) == sorted([str(victim), str(lone)])
    assert (victim / "keep.txt").exists()
    assert lone.exists()


def test_a_directory_is_removed_only_when_its_signed_record_says_so(as_user, customers, target,
                                                                   governed):
    exc = granted(as_user, customers, target)
    target.unlink()
    target.mkdir()  # a directory now stands where a file was written
    (target / "part-0").write_text("data")
    report = _sweep_later()
    assert report.deleted == ()
    assert "is a directory, but its signed record says a file" in report.failed[0]
    assert (target / "part-0").exists()
    from lacuna.governor import current

    store = current().exceptions
    out = governed / "spark_out"
    out.mkdir()
    (out / "part-0").write_text("data")
    store.record_file(exc.id, str(out), written_by="analyst_alice", encrypted=False,
                      directory=True)
    report = _sweep_later()
    assert str(out) in report.deleted
    assert not out.exists()


def test_retention_never_removes_a_tree_from_a_file_record(as_user, customers, target, governed):
    from lacuna.retention import apply

    exc = granted(as_user, customers, target)
    target.unlink()
    target.mkdir()
    (target / "part-0").write_text("data")
    as_user(STEWARD)
    lacuna.revoke_exception(exc.id, comment="ended")
    from lacuna.governor import current

    report = apply(current())
    assert (target / "part-0").exists()
    assert any(str(target) in f and "is a directory" in f for f in report.failed)



def test_a_spark_write_under_an_exception_is_recorded_for_the_sweep(as_user, customers, target,
                                                                   governed):
    """The recording call Spark's governed writes make before running (tested without a JVM:
    a Spark session takes ~11 s to start; the call is the same one the write makes)."""
    from lacuna.governor import current
    from lacuna.lineage.records import DatasetRef
    from lacuna.spark.writes import Target, remember_exception_write

    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    out = governed / "Downloads" / "spark_out"
    for kind, name in (("table", "default.customers"), ("path", "s3a://partner/out")):
        with pytest.raises(ExceptionNotAuthorized, match="cannot delete this target"):
            remember_exception_write(current(), exc.id, Target(  # not a folder it can delete
                kind=kind, name=name, ref=DatasetRef("spark_catalog", "x")))
    assert current().exceptions.files(exc.id) == []
    remember_exception_write(current(), exc.id, Target(
        kind="path", name=f"file://{out}", ref=DatasetRef("file", str(out))))
    (written,) = current().exceptions.files(exc.id)
    assert (written.path, written.directory) == (str(out), True)
    out.mkdir()
    (out / "part-00000.parquet").write_text("data")
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    report = _sweep_later()
    assert report.deleted == (str(out),)
    assert not out.exists()


def test_a_revocation_the_trail_missed_is_recorded_by_the_sweep(as_user, customers, target,
                                                                 governed, monkeypatch):
    exc = granted(as_user, customers, target)
    before = saved_row(governed, exc.id)
    from lacuna.governor import current

    revoke_while_the_trail_is_down(monkeypatch, exc.id)
    assert current().exceptions.ended_on_trail(exc.id) is None  # the table alone says so

    lacuna.sweep_exceptions()
    assert current().exceptions.ended_on_trail(exc.id) == "revoked"
    lacuna.sweep_exceptions()  # idempotent: recorded once
    with db(governed) as conn:
        late = conn.execute(
            "select count(*) from lacuna_audit where action = 'exception' and "
            "json_extract(body, '$.what.event') = 'revoked' and "
            "json_extract(body, '$.exception.recorded_late')").fetchone()[0]
    assert late == 1
    write_back(governed, exc.id, before)  # the older signed grant written back
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exc.id)
    assert any("was revoked (the audit trail records it)" in w for w in err.value.decision.why)


def test_a_write_under_an_exception_to_a_target_the_sweep_cannot_delete_is_refused(
        as_user, customers, governed):
    """An object store: the data would outlive the exception, so nothing is written (pandas
    and polars, through their two write paths); a local file under the same kind of
    grant is written and recorded (the allowed path, read back)."""
    import fsspec
    import polars as pl

    remote = "memory://partner/board_report.csv"
    exc = lacuna.request_exception(data=customers, destination=remote, purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    memory = fsspec.filesystem("memory")
    with pytest.raises(ExceptionNotAuthorized, match="cannot delete this target"):
        customers.to_csv(remote, exception_id=exc.id)
    assert not memory.exists("/partner/board_report.csv")
    with pytest.raises(ExceptionNotAuthorized, match="Nothing was written"):
        pl.from_pandas(customers).write_csv(remote, exception_id=exc.id)
    assert not memory.exists("/partner/board_report.csv")
    from lacuna.governor import current

    assert current().exceptions.files(exc.id) == []

    local = governed / "Downloads" / "board_report.csv"
    kept = granted(as_user, customers, local)
    pd.testing.assert_frame_equal(pd.read_csv(local, index_col=0), customers)
    assert [f.path for f in current().exceptions.files(kept.id)] == [str(local)]


def _lookups(monkeypatch):
    """Count the sweep's lookups of an exception's end on the audit trail."""
    from lacuna.exceptions.store import ExceptionStore

    calls = []
    lookup = ExceptionStore.ended_on_trail

    def counted(self, exception_id):
        calls.append(exception_id)
        return lookup(self, exception_id)

    monkeypatch.setattr(ExceptionStore, "ended_on_trail", counted)
    return calls


def _ended(as_user, customers, target, n):
    """``n`` exceptions that ended (revoked, denied), their ends on the trail."""
    ids = []
    for k in range(n):
        exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                       approver=STEWARD, duration_hours=1)
        as_user(STEWARD)
        if k % 2:
            lacuna.deny_exception(exc.id, comment="use the aggregate")
        else:
            lacuna.approve_exception(exc.id)
            lacuna.revoke_exception(exc.id, comment="cancelled")
        as_user("analyst_alice")
        ids.append(exc.id)
    return ids


def test_a_sweep_looks_up_only_the_ends_it_has_not_seen(as_user, customers, target,
                                                        monkeypatch):
    ids = _ended(as_user, customers, target, 4)
    calls = _lookups(monkeypatch)
    lacuna.sweep_exceptions()
    assert sorted(calls) == ids  # each end seen on the trail once, and marked
    calls.clear()
    lacuna.sweep_exceptions()
    assert calls == []  # not every exception that ever ended, every sweep
    (more,) = _ended(as_user, customers, target, 1)
    calls.clear()  # deciding it looked it up too
    lacuna.sweep_exceptions()
    assert calls == [more]


@pytest.mark.parametrize("mark", ["forged", "copied", "other-trail", "edited"])
def test_an_end_mark_that_does_not_verify_hides_no_missed_revocation(
        as_user, customers, target, governed, monkeypatch, mark):
    (other,) = _ended(as_user, customers, target, 1)
    lacuna.sweep_exceptions()  # other's end is seen and marked
    exc = granted(as_user, customers, target)
    before = saved_row(governed, exc.id)
    from lacuna.governor import current

    revoke_while_the_trail_is_down(monkeypatch, exc.id)
    assert current().exceptions.ended_on_trail(exc.id) is None
    conn = db(governed)
    event, seen_at, signature = conn.execute(
        "select event, seen_at, signature from lacuna_exception_ends where exception_id = ?",
        (other,)).fetchone()
    if mark == "forged":
        signature = "hmac-sha256:0000:" + "0" * 64
    elif mark == "other-trail":  # signed with this key, for another database's trail
        from lacuna.exceptions.store import _end_payload

        signature = current().exceptions.keyring.sign(
            _end_payload(exc.id, "revoked", seen_at, "another trail"))
    elif mark == "edited":  # a valid mark of another exception, its id changed
        conn.execute("update lacuna_exception_ends set exception_id = ? where exception_id = ?",
                     (exc.id, other))
    if mark != "edited":
        conn.execute("insert into lacuna_exception_ends values (?, ?, ?, ?)",
                     (exc.id, event, seen_at, signature))
    conn.close()

    lacuna.sweep_exceptions()
    assert current().exceptions.ended_on_trail(exc.id) == "revoked"  # recorded late
    write_back(governed, exc.id, before)  # the older signed grant written back
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exc.id)
    assert any("was revoked (the audit trail records it)" in w for w in err.value.decision.why)


def saved_file_row(governed):
    conn = db(governed)
    conn.row_factory = sqlite3.Row
    (row,) = conn.execute("select * from lacuna_exception_files").fetchall()
    conn.close()
    return dict(row)


def write_file_row_back(governed, row):
    columns = [c for c in row if c != "id"]
    conn = db(governed)
    conn.execute(f"update lacuna_exception_files set {', '.join(f'{c} = ?' for c in columns)} "
                 "where id = ?", [row[c] for c in columns] + [row["id"]])
    conn.close()


def test_an_older_file_record_written_back_deletes_no_new_file(as_user, customers, target,
                                                               governed):
    exc = granted(as_user, customers, target)
    row = saved_file_row(governed)  # signed, not yet deleted
    assert _sweep_later().deleted == (str(target),)
    write_file_row_back(governed, row)  # the older row, over its deletion
    target.write_text("a new report, written later and not under the exception")
    for _ in range(2):
        report = _sweep_later()
        assert report.deleted == ()
        assert [f.split(": ", 1)[0] for f in report.failed] == [str(target)]
        assert f"not the one written there under exception {exc.id}" in report.failed[0]
    assert target.read_text().startswith("a new report")
    from lacuna.governor import current
    from lacuna.retention import apply

    as_user(STEWARD)
    apply(current())  # retention keeps it too
    assert target.exists()


def test_a_record_without_what_was_written_vouches_only_for_a_file_from_its_window(
        as_user, customers, target, governed):
    """A record from before the write returned (an older copy written back, or a write that
    did not finish): only a file not modified after the exception ended is deleted."""
    exc = granted(as_user, customers, target)
    from lacuna.governor import current

    store = current().exceptions
    out = governed / "Downloads" / "other.csv"
    out.write_text("written under the exception")
    store.record_file(exc.id, str(out), written_by="analyst_alice", encrypted=False)
    row = next(w for w in store.files(exc.id) if w.path == str(out))
    assert getattr(row, "identity", None) is None
    assert str(out) in _sweep_later().deleted  # written inside the window
    conn = db(governed)
    conn.execute("update lacuna_exception_files set deleted_at = NULL, signature = ? "
                 "where path = ?", (row.signature, str(out)))
    conn.close()
    out.write_text("a new file, written after the exception ended")
    later = (store.get(exc.id).valid_until + timedelta(minutes=5)).timestamp()
    os.utime(out, (later, later))
    report = _sweep_later()
    assert str(out) not in report.deleted
    assert any(f.startswith(f"{out}: modified at") and f"after exception {exc.id} ended" in f
               for f in report.failed), report.failed
    assert out.exists()


def test_a_file_moved_away_and_back_is_still_deleted(as_user, customers, target, governed):
    granted(as_user, customers, target)
    away = governed / "away.csv"
    target.rename(away)
    away.rename(target)
    assert _sweep_later().deleted == (str(target),)


@pytest.mark.parametrize("tamper", ["deleted_at", "delete-row", "unsigned"])
def test_a_steward_settles_a_reported_file_and_the_sweep_stops_reporting_it(
        as_user, customers, target, governed, tamper):
    """A report the sweep cannot act on stood forever (an audit record every sweep: 288 a day
    at the scheduler's 5 minutes), and the only way out was editing the database. A steward
    who has checked the file settles it (audited); the requester and the file's writer may
    not, nor anyone who is not a steward."""
    from lacuna.audit import AuditStore
    from lacuna.errors import ConfigError
    from lacuna.exceptions import ExceptionNotFound, settle_file

    exc = granted(as_user, customers, target)
    edit_file_records(governed, tamper)
    assert [f.split(": ", 1)[0] for f in _sweep_later().failed] == [str(target)]
    assert "lacuna exceptions settle" in _sweep_later().failed[0]
    with pytest.raises(ExceptionNotAuthorized, match="filed exception"):  # requester, writer
        settle_file(exc.id, target, reason="checked: nothing to see")
    as_user("analyst_bob")
    with pytest.raises(ExceptionNotAuthorized, match="may not settle"):
        settle_file(exc.id, target, reason="checked: nothing to see")
    as_user(STEWARD)
    with pytest.raises(ConfigError, match="reason"):
        settle_file(exc.id, target, reason="  ")
    with pytest.raises(ExceptionNotFound):
        settle_file(exc.id, governed / "elsewhere.csv", reason="checked")
    before = settle_file(exc.id, target, reason="checked the report: deleted it by hand")
    assert len(before) == (0 if tamper == "delete-row" else 1)
    report = _sweep_later()
    assert report.failed == ()
    assert report.deleted == ()
    assert _sweep_later().failed == ()
    with AuditStore(lacuna.governor.current().config.audit_url) as trail:
        events = [(r.data["what"]["event"], r.user_id) for r in trail.list(limit=None)
                  if r.data.get("kind") == "exception"
                  and r.data["what"]["event"] in ("file-settled", "settle-refused")]
        settled = next(r for r in trail.list(limit=None) if r.data.get("kind") == "exception"
                       and r.data["what"]["event"] == "file-settled")
    assert sorted(events) == sorted([("settle-refused", "analyst_alice"),
                                     ("settle-refused", "analyst_bob"),
                                     ("settle-refused", STEWARD), ("settle-refused", STEWARD),
                                     ("file-settled", STEWARD)])
    assert settled.data["exception"]["reason"] == "checked the report: deleted it by hand"
    assert [r["verified"] for r in settled.data["exception"]["records"]] == (
        [] if tamper == "delete-row" else [False])


def test_a_settled_file_of_a_good_record_is_left_to_the_steward(as_user, customers, target):
    """A steward may settle a file whose record is fine (the data was dealt with otherwise,
    audited): the sweep then leaves it. Its requester may not: settling is not a way for the
    people the deletion is for to keep the file."""
    from lacuna.exceptions import settle_file

    exc = granted(as_user, customers, target)
    with pytest.raises(ExceptionNotAuthorized, match="filed exception"):
        settle_file(exc.id, str(target), reason="I promise I deleted it")
    as_user(STEWARD)
    relative = os.path.relpath(target)  # as a shell spells it: the recorded path is absolute
    [before] = settle_file(exc.id, relative, reason="moved to the board's data room")
    assert before.deleted_at is None
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((), ())
    assert target.exists()


def test_a_server_clients_file_records_are_left_to_that_hosts_sweep(as_user, customers,
                                                                     target, governed):
    """On a server, a client's file is recorded as file://<host><path> (docs/exceptions.md,
    "Server mode"): the server's sweep neither deletes a file of its own at that path nor
    reports the client's file missing every sweep (that host's sweep answers for it)."""
    from lacuna.exceptions import events
    from lacuna.governor import current

    exc = granted(as_user, customers, target)
    mine = governed / "same-path-here.csv"
    mine.write_text("the server's own file\n")
    gov = current()
    client = "file://laptop" + str(mine)
    gov.exceptions.record_file(exc.id, client, written_by="analyst_alice", encrypted=False)
    events.audit(gov, "file-written", None, exception_id=exc.id, detail={"path": client})
    report = _sweep_later()
    assert report.deleted == (str(target),)  # the file written here, as before
    assert report.missing == ()
    assert report.failed == ()
    assert mine.exists()
    pending = [w for w in gov.exceptions.files(exc.id) if w.deleted_at is None]
    assert [w.path for w in pending] == [client]  # open until the client's sweep says
    from lacuna.retention.inventory import exception_files

    # nor does retention take it for a file here (a relative 'file:/laptop/...' path)
    assert not list(exception_files(gov.exceptions, utcnow() + timedelta(hours=2)))
