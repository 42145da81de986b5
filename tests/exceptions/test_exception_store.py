"""The exceptions table across releases: rows written before exceptions kept a history."""

from __future__ import annotations

import json


def _request():
    from lacuna.exceptions import ExceptionRequest
    from lacuna.model import utcnow

    return ExceptionRequest(
        id="", requested_by="alice", requester_role="analyst", action="export",
        destination="/tmp/x.csv", sources=(), tier="PUBLIC", tags=(),
        purpose="Quarterly board presentation of metrics", business_justification="",
        approver="steward@example.com", duration_hours=1.0, conditions=(),
        created_at=utcnow())


def test_rows_signed_before_history_existed_still_verify(tmp_path):
    """A grant written by the previous release (no ``history`` in its body) stays honoured."""
    import sqlite3

    from lacuna.exceptions import ExceptionStore
    from lacuna.exceptions.authority import PAYLOAD_KIND

    store = ExceptionStore(f"sqlite:///{tmp_path / 'state.db'}")
    made = store.add(_request())
    old = made.to_dict()
    del old["history"], old["signature"]
    old.pop("approval_conditions", None)  # nor approval conditions, which came later still
    old.pop("packages", None)  # nor the dry run's packages, which came later again
    old["signature"] = store.keyring.sign({"kind": PAYLOAD_KIND, "body": dict(old)})
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("update lacuna_exceptions set body = ? where id = ?",
                     (json.dumps(old), made.id))
    legacy = store.get(made.id)
    assert legacy.history == ()
    assert store.verified(legacy)
    tampered = dict(old, destination="/tmp/other.csv")
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("update lacuna_exceptions set body = ? where id = ?",
                     (json.dumps(tampered), made.id))
    assert not store.verified(store.get(made.id))
    store.close()


def test_requests_are_listed_in_the_order_they_were_filed_past_999(tmp_path):
    """Ids are ``EXC-<year>-<n>`` with at least three digits: the thousandth request of a year
    is listed after the 999th (text order put ``EXC-2026-1000`` first), and ``limit`` keeps the
    newest, still oldest first."""
    import sqlite3

    from lacuna.exceptions import ExceptionRequest, ExceptionStore
    from lacuna.model import utcnow

    store = ExceptionStore(f"sqlite:///{tmp_path / 'state.db'}")

    def filed(purpose: str) -> str:
        return store.add(ExceptionRequest(
            id="", requested_by="alice", requester_role="analyst", action="export",
            destination="/tmp/x.csv", sources=(), tier="PUBLIC", tags=(),
            purpose=purpose, business_justification="", approver="steward@example.com",
            duration_hours=1.0, conditions=(), created_at=utcnow())).id

    first = filed("Quarterly board presentation of metrics")
    year = first.split("-")[1]
    with sqlite3.connect(tmp_path / "state.db") as conn:  # as if 997 came before it
        (body,) = conn.execute("select body from lacuna_exceptions").fetchone()
        conn.execute("update lacuna_exceptions set id = ?, body = ? where id = ?",
                     (f"EXC-{year}-998", json.dumps({**json.loads(body), "id": f"EXC-{year}-998"}),
                      first))
    ids = [f"EXC-{year}-998", filed("The annual audit sample for the auditors"),
           filed("A one-off extract for the regulator's request")]
    assert ids[1:] == [f"EXC-{year}-999", f"EXC-{year}-1000"]
    assert [r.id for r in store.list()] == ids
    assert [r.id for r in store.list(limit=2)] == ids[1:]
    assert [r.purpose for r in store.list(limit=1)] == [
        "A one-off extract for the regulator's request"]  # read back whole
    store.close()


def test_a_deletion_is_marked_while_another_connection_writes(tmp_path, monkeypatch):
    """``mark_deleted`` reads the file's records, then marks them: begun DEFERRED, a commit of
    another connection in between (another process; this process's OpenLineage outbox thread)
    made SQLite answer "database is locked" at once, and the sweep failed (seen once in a full
    run). Its transaction now takes the write lock first: the other writer waits its turn,
    both land."""
    from datetime import timedelta

    from lacuna.exceptions import ExceptionStore
    from lacuna.model import utcnow
    from sqlite_meanwhile import CommitMeanwhile

    db = tmp_path / "state.db"
    store = ExceptionStore(f"sqlite:///{db}")
    made = store.add(_request())
    store.record_file(made.id, "/tmp/x.csv", written_by="alice", encrypted=False)
    meanwhile = CommitMeanwhile(db)
    verified = store.file_verified

    def between_read_and_write(written):
        meanwhile()
        return verified(written)

    monkeypatch.setattr(store, "file_verified", between_read_and_write)
    store.mark_deleted(made.id, "/tmp/x.csv", utcnow() + timedelta(hours=2))
    monkeypatch.undo()
    assert meanwhile.landed()
    (written,) = store.files(made.id)
    assert written.deleted_at is not None
    assert store.file_verified(written)  # signed again with its deletion time
    store.close()
