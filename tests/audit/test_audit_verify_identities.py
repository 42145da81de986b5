"""``lacuna audit verify`` (and the server's ``/api/v1/audit/verify``) check the user and
console session rows beside the trail as sign-in checks them: a row edited, inserted, revived
or put back outside Lacuna is reported, with the remedy, and the CLI exits 1. Before, verify
looked only at the chain, so it said "intact" over a tampered users table.

On SQLite and on PostgreSQL, each change made with plain SQL, as a writer of the database
would make it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from fixtures_postgres import new_postgres_database
from lacuna.cli import app
from lacuna.identity import UserStore, token_digest

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@dataclass
class Db:
    url: str
    users: UserStore
    engine: Any

    def sql(self, statement: str, **params: Any) -> Any:
        with self.engine.begin() as conn:
            return conn.execute(text(statement), params)

    def verify(self) -> Any:
        return runner.invoke(app, ["audit", "verify", "--db", self.url])


def _state_db(request: pytest.FixtureRequest, tmp_path: Path, *users: tuple[str, str]
              ) -> Iterator[Db]:
    """A fresh state database on ``request.param``'s engine, ``users`` (name, role) added."""
    url = (
        f"sqlite:///{tmp_path / 'state.db'}"
        if request.param == "sqlite"
        else new_postgres_database(request.getfixturevalue("postgres_url"))
    )
    store = UserStore(url)
    engine = create_engine(url)
    for name, role in users:
        store.add(name, roles=(role,))
    try:
        yield Db(url=url, users=store, engine=engine)
    finally:
        engine.dispose()
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    yield from _state_db(request, tmp_path, ("ana", "analyst"), ("jane", "data_steward"))


def test_verify_reports_clean_identity_rows(db: Db) -> None:
    db.users.start_session("ana", time.time() + 3600)
    done = db.verify()
    assert done.exit_code == 0, done.output
    assert "Audit trail intact" in done.stdout
    assert "User and console session rows verified: 2 user(s), 1 session(s)." in done.stdout
    assert db.users.verify().ok


def test_verify_fails_on_a_role_edited_in_the_users_table(db: Db) -> None:
    db.sql("UPDATE lacuna_users SET roles = :r WHERE name = 'ana'", r='["admin"]')
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert "identity rows NOT VERIFIED: 1 user or console session row(s)" in done.stderr
    assert "the record of user 'ana' in lacuna_users does not match its signature" in done.stderr
    assert "lacuna users add ana --role ROLE --replace" in done.stderr
    assert "Audit trail intact" in done.stdout  # the chain itself is fine


def test_verify_fails_on_an_inserted_unsigned_user(db: Db) -> None:
    db.sql(
        "INSERT INTO lacuna_users (name, roles, token_sha256, created_at, disabled) "
        "VALUES ('mal', '[\"admin\"]', :t, '2026-12-04T00:00:00+00:00', :d)",
        t=token_digest("lac_" + secrets.token_urlsafe(32)),
        d=False,
    )
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert "the record of user 'mal' in lacuna_users carries no signature" in done.stderr


def test_verify_fails_on_a_user_row_put_back_from_before_a_replace(db: Db) -> None:
    with db.engine.connect() as conn:
        old = dict(
            conn.execute(text("SELECT * FROM lacuna_users WHERE name = 'jane'")).mappings().one()
        )
    db.users.add("jane", roles=("analyst",), replace=True)
    db.sql(
        "UPDATE lacuna_users SET roles = :roles, token_sha256 = :token_sha256, "
        "created_at = :created_at, signature = :signature WHERE name = 'jane'",
        **{k: old[k] for k in ("roles", "token_sha256", "created_at", "signature")},
    )
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert (
        "the record of user 'jane' in lacuna_users is older than the audit trail's last "
        "change of that user"
    ) in done.stderr


def test_verify_fails_on_a_session_revived_after_sign_out(db: Db) -> None:
    sid = db.users.start_session("ana", time.time() + 3600)
    with db.engine.connect() as conn:
        live = dict(conn.execute(text("SELECT * FROM lacuna_console_sessions")).mappings().one())
    assert db.users.end_session(sid)
    db.sql(
        "UPDATE lacuna_console_sessions SET ended_at = NULL, signature = :s", s=live["signature"]
    )  # the row from before the sign-out, its signature good
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert (
        f"console session {live['id_sha256'][:8]}… of 'ana': the audit trail records its end"
    ) in done.stderr


def test_verify_fails_on_a_session_row_edited(db: Db) -> None:
    db.users.start_session("ana", time.time() + 3600)
    db.sql("UPDATE lacuna_console_sessions SET expires_at = '2099-01-01T00:00:00.000000+00:00'")
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert "of 'ana': its row in lacuna_console_sessions does not match its signature" in (
        done.stderr
    )


def test_verify_without_identity_tables_says_nothing_of_them(tmp_path: Path) -> None:
    """A trail with no users table (a library's own trail): nothing to check, no failure."""
    from lacuna.audit import AuditStore

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    AuditStore(url).close()
    done = runner.invoke(app, ["audit", "verify", "--db", url])
    assert done.exit_code == 0, done.output
    assert "0 user(s), 0 session(s)" in done.stdout


def test_server_verify_reports_identity_rows(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's ``/api/v1/audit/verify`` carries the same check under ``identities``."""
    from fastapi.testclient import TestClient

    from lacuna.server.outer import serving
    from server.conftest import in_process_app, server_files

    _, config, _ = server_files(tmp_path / "srv")
    monkeypatch.setenv("LACUNA_HOME", str(Path(tmp_path / ".lacuna-home")))
    app_ = in_process_app(db.url, config)
    token = app_.state.lacuna.users.add("carla", roles=("compliance_officer",))
    with TestClient(serving(app_)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        clean = client.get("/api/v1/audit/verify", headers=headers).json()
        assert clean["ok"], clean
        assert clean["identities"] == {
            "ok": True,
            "users": 3,
            "sessions": 0,
            "problems": [],
            "legacy": [],
        }
        db.sql("UPDATE lacuna_users SET roles = :r WHERE name = 'ana'", r='["admin"]')
        bad = client.get("/api/v1/audit/verify", headers=headers).json()
    app_.state.lacuna.close()
    assert bad["ok"], bad  # the trail's own verdict: intact
    assert bad["identities"]["ok"] is False
    assert [p.split(" in lacuna_users")[0] for p in bad["identities"]["problems"]] == [
        "the record of user 'ana'"
    ]


def _insert_legacy(db: Db, name: str, created_at: str) -> str:
    """A user row as a Lacuna from before creations were audited signed it (v1, the same
    key): its token."""
    from lacuna.identity import user_payload

    token = "lac_" + secrets.token_urlsafe(32)
    row = {
        "name": name,
        "roles": '["analyst"]',
        "token_sha256": token_digest(token),
        "created_at": created_at,
        "disabled": False,
    }
    values = type("Row", (), row)()
    db.sql(
        "INSERT INTO lacuna_users (name, roles, token_sha256, created_at, disabled, signature) "
        "VALUES (:name, :roles, :token_sha256, :created_at, :disabled, :signature)",
        **row,
        signature=db.users.keyring.sign(user_payload(values)),
    )
    return token


def test_legacy_rows_are_taken_on_trust_once_and_verify_names_them(db: Db) -> None:
    """Legacy rows present when the trail first records which it takes on trust (the server's
    first start since the upgrade) stay in and are named by verify; one inserted after is
    refused, and verify fails on it."""
    from lacuna.identity import UnverifiedIdentityError

    kept = _insert_legacy(db, "old", "2026-11-01T00:00:00.000000+00:00")
    assert db.users.authenticate(kept).name == "old"  # before any start: as before
    assert db.users.grandfather() == ["old"]
    assert db.users.grandfather() is None  # once
    assert db.users.authenticate(kept).name == "old"
    done = db.verify()
    assert done.exit_code == 0, done.output
    assert "1 user(s) signed before their creation was on the audit trail, accepted as " in (
        done.stdout
    )
    late = _insert_legacy(db, "late", "2026-11-02T00:00:00.000000+00:00")
    db.users._cache.clear()
    with pytest.raises(UnverifiedIdentityError, match="not among the users this database's"):
        db.users.authenticate(late)
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert "the record of user 'late' in lacuna_users is signed as rows were before" in (
        done.stderr
    )
    assert [r.name for r in db.users.resign()] == ["old"]  # not "late": only when named
    assert [r.name for r in db.users.resign(["late"])] == ["late"]
    assert db.users.authenticate(late).name == "late"


def test_a_database_id_changed_in_its_row_is_reported_and_signs_nothing(db: Db) -> None:
    """The trail's issues of users name the state database's id, so changing the plain id row
    (to another database's, to make rows signed there verify here) is reported by verify, and
    no user row is signed for the new id."""
    from lacuna.errors import ConfigError

    mine = db.sql("SELECT database_id FROM lacuna_database_id").scalar()
    db.sql("UPDATE lacuna_database_id SET database_id = :d", d="ab" * 16)
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert (
        f"the state database's id in lacuna_database_id is '{'ab' * 16}', but audit record #1 "
        f"(an issue of a user, intact in the chain) names '{mine}'"
    ) in done.stderr
    other = UserStore(db.url)  # another process, reading the id now
    try:
        with pytest.raises(ConfigError, match="the id row was changed outside Lacuna"):
            other.add("bob", roles=("analyst",))
        assert not other.has_user("bob")
    finally:
        other.close()
    db.sql("UPDATE lacuna_database_id SET database_id = :d", d=mine)  # put back: all verifies
    assert db.verify().exit_code == 0


def test_server_start_records_legacy_users_once_and_says_when_it_cannot(
    db: Db, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up's grandfathering: a warning naming the legacy users taken on trust; an error
    (and no crash) when the trail cannot record it; an error naming a legacy user copied in
    since."""
    from lacuna.server.state import grandfather_users, warn_unverified_users

    _insert_legacy(db, "old", "2026-11-01T00:00:00.000000+00:00")

    def unwritable(**_: Any) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(db.users, "grandfather", unwritable)
        grandfather_users(db.users)
    assert "cannot record on the audit trail which legacy users it takes on trust" in (caplog.text)
    assert "disk full" in caplog.text
    caplog.clear()
    grandfather_users(db.users)
    assert "took 1 legacy user(s) on trust at this first start since the upgrade" in (caplog.text)
    assert ": old;" in caplog.text
    caplog.clear()
    grandfather_users(db.users)  # once: nothing more said or recorded
    assert "took" not in caplog.text
    _insert_legacy(db, "late", "2026-11-02T00:00:00.000000+00:00")
    warn_unverified_users(db.users)
    assert "it is not among the users this database's trail took on trust" in caplog.text
    assert "'late'" in caplog.text


def test_server_start_names_every_row_verify_fails_on(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    """Start-up says what ``lacuna audit verify`` says: a console session row edited and the
    state database's id changed are named with their remedies, not only unsigned users."""
    from lacuna.server.state import warn_unverified_users

    db.users.start_session("ana", time.time() + 3600)
    db.sql("UPDATE lacuna_console_sessions SET expires_at = '2099-01-01T00:00:00.000000+00:00'")
    mine = db.sql("SELECT database_id FROM lacuna_database_id").scalar()
    db.sql("UPDATE lacuna_database_id SET database_id = :d", d="ab" * 16)
    starting = UserStore(db.url)  # the server's, made at start-up
    with caplog.at_level("ERROR", logger="lacuna.server"):
        warn_unverified_users(starting)
    starting.close()
    # the id, the two users signed for the true id, the session
    assert "4 identity row(s) of 2 user(s) and 1 console session(s) let nobody in" in caplog.text
    assert "of 'ana': its row in lacuna_console_sessions does not match its signature" in (
        caplog.text
    )
    assert f"but audit record #1 (an issue of a user, intact in the chain) names '{mine}'" in (
        caplog.text
    )
    db.sql("UPDATE lacuna_database_id SET database_id = :d", d=mine)
    db.sql("DELETE FROM lacuna_console_sessions")
    caplog.clear()
    warn_unverified_users(db.users)  # all verifies: nothing said
    assert caplog.text == ""


def test_verify_says_when_the_identity_rows_cannot_be_read(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    import lacuna.identity

    def broken(_: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("connection reset"))

    monkeypatch.setattr(lacuna.identity, "verify_identities", broken)
    done = db.verify()
    assert done.exit_code == 2, done.output
    assert "cannot read the user and session rows in" in done.stderr
    assert "run lacuna audit verify again" in done.stderr


# -- the upgrade's one record of the legacy rows taken on trust ("grandfathered") ------------


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A state database whose only users are legacy rows (no ``lacuna users add`` since the
    upgrade): nothing on its trail names its id until the server's first start."""
    yield from _state_db(request, tmp_path)


def _grandfathered(db: Db) -> list[dict[str, Any]]:
    """The ``grandfathered`` events on the trail, in trail order, with their ``seq``."""
    import json

    rows = db.sql("SELECT seq, body FROM lacuna_audit WHERE action = 'identity' ORDER BY seq")
    bodies = [(seq, json.loads(body)) for seq, body in rows]
    return [{"seq": seq, **b} for seq, b in bodies if b["what"]["event"] == "grandfathered"]


def test_two_first_starts_at_once_record_the_legacy_rows_once(legacy_db: Db) -> None:
    """Two server workers starting together (each its own stores and connections, as two
    processes have) both find no ``grandfathered`` event and both go to append one: the check
    is made again inside the append's write transaction, so one appends and the other writes
    nothing, and both accept the same legacy rows. Before, both appended."""
    import threading

    from lacuna.identity import UnverifiedIdentityError
    from lacuna.identity.trail import LEGACY, NOT_GRANDFATHERED

    db = legacy_db
    old = _insert_legacy(db, "old", "2026-11-01T00:00:00.000000+00:00")
    workers = [UserStore(db.url), UserStore(db.url)]
    both_there = threading.Barrier(2, timeout=20)
    for worker in workers:  # both have checked before either appends: the race, every time
        audit = worker._trail.store()
        append = audit._append_all

        def at_once(*args: Any, _append: Any = append, **kwargs: Any) -> Any:
            both_there.wait()
            return _append(*args, **kwargs)

        audit._append_all = at_once
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    def start(i: int) -> None:
        try:
            results[i] = workers[i].grandfather()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert sorted(results, key=repr) == [None, ["old"]]  # one recorded, one found it
        events = _grandfathered(db)
        assert len(events) == 1, events
        assert [u["user"] for u in events[0]["identity"]["grandfathered"]] == ["old"]
        late = _insert_legacy(db, "late", "2026-11-02T00:00:00.000000+00:00")
        for worker in workers:  # the same legacy rows, in both
            assert worker.authenticate(old).name == "old"
            assert {r.name: r.trail for r in worker.records()} == {
                "late": NOT_GRANDFATHERED,
                "old": LEGACY,
            }
            with pytest.raises(UnverifiedIdentityError, match="not among the users"):
                worker.authenticate(late)
            assert worker.grandfather() is None  # a later start: nothing more
        assert len(_grandfathered(db)) == 1
    finally:
        for worker in workers:
            worker.close()


def test_the_first_intact_grandfathered_event_governs(legacy_db: Db) -> None:
    """Where a trail holds two ``grandfathered`` events (two workers of a Lacuna from before
    the check was made in the append's transaction, the second reading the users table later),
    the first intact one governs: a legacy row only the second lists is refused."""
    import json

    from lacuna.audit import AuditStore
    from lacuna.identity import UnverifiedIdentityError

    db = legacy_db
    old = _insert_legacy(db, "old", "2026-11-01T00:00:00.000000+00:00")
    assert db.users.grandfather() == ["old"]
    late = _insert_legacy(db, "late", "2026-11-02T00:00:00.000000+00:00")
    first = _grandfathered(db)[0]
    second = {k: v for k, v in first.items() if k not in ("seq", "id")}
    second["identity"] = {
        **first["identity"],
        "grandfathered": [
            *first["identity"]["grandfathered"],
            {"user": "late", "roles": ["analyst"], "disabled": False,
             "created_at": "2026-11-02T00:00:00.000000+00:00"},
        ],
    }
    audit = AuditStore(db.url)
    try:
        audit.record_event(json.loads(json.dumps(second)))
    finally:
        audit.close()
    events = _grandfathered(db)
    assert [len(e["identity"]["grandfathered"]) for e in events] == [1, 2]
    assert db.users.authenticate(old).name == "old"
    with pytest.raises(UnverifiedIdentityError, match="not among the users"):
        db.users.authenticate(late)
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert "the record of user 'late' in lacuna_users is signed as rows were before" in (
        done.stderr
    )
    assert "Audit trail intact" in done.stdout  # both events are good records


def test_a_database_id_changed_after_a_first_start_with_legacy_users_only_is_reported(
    legacy_db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    """No ``lacuna users add`` since the upgrade: the first start's ``grandfathered`` event
    is the trail's only identity record, and it names the state database's id, so changing
    the id row is reported by verify and at start-up, and ``lacuna users`` signs nothing for
    the changed id; put back, all verifies and a user can be added."""
    from lacuna.errors import ConfigError
    from lacuna.server.state import warn_unverified_users

    db = legacy_db
    old = _insert_legacy(db, "old", "2026-11-01T00:00:00.000000+00:00")
    assert db.users.grandfather() == ["old"]
    (event,) = _grandfathered(db)
    mine = db.sql("SELECT database_id FROM lacuna_database_id").scalar()
    assert event["identity"]["database"] == mine
    db.sql("UPDATE lacuna_database_id SET database_id = :d", d="ab" * 16)
    said = (
        f"the state database's id in lacuna_database_id is '{'ab' * 16}', but audit record "
        f"#{event['seq']} (the legacy users taken on trust at the upgrade, intact in the "
        f"chain) names '{mine}'"
    )
    done = db.verify()
    assert done.exit_code == 1, done.output
    assert said in done.stderr
    starting = UserStore(db.url)  # the server's, made at its next start
    try:
        with caplog.at_level("ERROR", logger="lacuna.server"):
            warn_unverified_users(starting)
        assert "1 identity row(s) of 1 user(s) and 0 console session(s) let nobody in" in (
            caplog.text
        )
        assert said in caplog.text
        with pytest.raises(ConfigError, match="the id row was changed outside Lacuna"):
            starting.add("bob", roles=("analyst",))
        assert not starting.has_user("bob")
    finally:
        starting.close()
    db.sql("UPDATE lacuna_database_id SET database_id = :d", d=mine)  # put back
    caplog.clear()
    after = UserStore(db.url)
    try:
        warn_unverified_users(after)
        assert "let nobody in" not in caplog.text
        after.add("bob", roles=("analyst",))
        assert after.authenticate(old).name == "old"
    finally:
        after.close()
    assert db.verify().exit_code == 0


def test_an_edited_grandfathered_event_takes_nobody_on_trust(
    legacy_db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    """The upgrade's record edited in place to list a row inserted since is no longer intact,
    so it is not relied on, and nothing takes its place: no legacy row is accepted on its
    signature, and a later start records nothing (the chain is broken: verify fails). Before,
    the trail read as never grandfathered: every legacy row was accepted, and the next start
    took on trust the rows present then, the inserted one too. An admin ties the rows they
    checked by name (``lacuna users resign NAME``)."""
    from lacuna.audit.record import canonical_json
    from lacuna.identity import UnverifiedIdentityError

    db = legacy_db
    old = _insert_legacy(db, "old", "2026-11-01T00:00:00.000000+00:00")
    assert db.users.grandfather() == ["old"]
    late = _insert_legacy(db, "late", "2026-11-02T00:00:00.000000+00:00")
    (event,) = _grandfathered(db)
    seq = event.pop("seq")
    event["identity"]["grandfathered"].append(
        {"user": "late", "roles": ["analyst"], "disabled": False,
         "created_at": "2026-11-02T00:00:00.000000+00:00"}
    )
    db.sql("UPDATE lacuna_audit SET body = :b WHERE seq = :s", b=canonical_json(event), s=seq)
    starting = UserStore(db.url)  # the next start
    try:
        assert starting.grandfather() is None  # nothing recorded in its place
        assert len(_grandfathered(db)) == 1
        assert (
            f"audit record #{seq} (the legacy users taken on trust at the upgrade) is not "
            "intact in the chain"
        ) in caplog.text
        for token in (late, old):
            with pytest.raises(UnverifiedIdentityError, match="not among the users"):
                starting.authenticate(token)
        done = db.verify()
        assert done.exit_code == 1, done.output
        assert "the record of user 'late' in lacuna_users is signed as rows were before" in (
            done.stderr
        )
        assert [r.name for r in starting.resign(["old"])] == ["old"]  # checked, tied by name
        assert starting.authenticate(old).name == "old"
        with pytest.raises(UnverifiedIdentityError, match="not among the users"):
            starting.authenticate(late)
    finally:
        starting.close()


def test_a_trail_that_cannot_be_read_signs_nothing_for_the_database_id(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id row is checked against the trail; a trail that is there but cannot be read is
    a problem said with the error (verify fails, nothing is signed), never "names nothing"."""
    from sqlalchemy.exc import OperationalError

    from lacuna.errors import ConfigError
    from lacuna.identity.trail import UserTrail

    def broken(self: UserTrail) -> None:
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(UserTrail, "read", broken)
    other = UserStore(db.url)
    try:
        problem = other._trail.database_problem()
        assert problem is not None
        assert "the audit trail cannot be read to check the state database's id" in problem
        assert "disk I/O error" in problem
        with pytest.raises(ConfigError, match="cannot be read to check the state database"):
            other.add("bob", roles=("analyst",))
        with pytest.raises(OperationalError):  # the CLI says so and exits 2 (the test above)
            other.verify()
    finally:
        other.close()
