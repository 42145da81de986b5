"""Someone who can write rows in the state database, but does not hold the server's signing
key, cannot make themselves anyone or give themselves a role: ``lacuna_users`` and
``lacuna_console_sessions`` rows are signed, and a row that does not verify authenticates
nobody (401, audited, saying how to re-issue it).

Each attack goes through the real server (the app as ``lacuna serve`` builds it, its real
sign-in flow) on SQLite and on PostgreSQL, changing the database only with plain SQL, as such
a writer would. On Lacuna before the rows were signed every one of them succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from fixtures_postgres import new_postgres_database
from lacuna.identity import UserStore
from lacuna.server.console.session import COOKIE

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Served:
    client: Any
    state: Any
    db: str
    tokens: dict[str, str]
    engine: Any
    key: bytes  # the server's signing key

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def sql(self, statement: str, **params: Any) -> Any:
        with self.engine.begin() as conn:
            return conn.execute(text(statement), params)

    def fresh(self, name: str, role: str) -> str:
        """A new user of the server's own making (``lacuna users add``'s path)."""
        return self.state.users.add(name, roles=(role,))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from fastapi.testclient import TestClient

    from lacuna.server.outer import serving
    from server.conftest import in_process_app, server_files

    root = tmp_path_factory.mktemp("ident")
    db, config, _ = server_files(root)
    if request.param == "postgresql":
        db = new_postgres_database(request.getfixturevalue("postgres_url"))
    old = os.environ.get("LACUNA_HOME")
    os.environ["LACUNA_HOME"] = str(root / "home")
    app = in_process_app(db, config, audit_refusals_burst=1_000_000)
    state = app.state.lacuna
    tokens = {name: state.users.add(name, roles=roles) for name, roles in
              {"ana": ("analyst",), "jane": ("data_steward",), "joe": ("data_steward",)}.items()}
    engine = create_engine(db)
    from lacuna.signing import default_keyring

    key = default_keyring().current.key  # the server's: its LACUNA_HOME's
    try:
        with TestClient(serving(app)) as client:
            yield Served(client=client, state=state, db=db, tokens=tokens, engine=engine,
                         key=key)
    finally:
        engine.dispose()
        if old is None:
            os.environ.pop("LACUNA_HOME", None)
        else:
            os.environ["LACUNA_HOME"] = old


@pytest.fixture(autouse=True)
def _servers_key(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own processes (the CLI, another store) hold the server's key, as an
    operator running ``lacuna users`` beside the server does."""
    monkeypatch.setenv("LACUNA_SIGNING_KEY", served.key.hex())


def _unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def _refused_as_unsigned(served: Served, answer: Any, name: str) -> None:
    """A 401 that says which record failed and how to mend it, and an audit record of it."""
    assert answer.status_code == 401, answer.text
    detail = answer.json()["detail"]
    for part in (repr(name), "signature", f"lacuna users add {name} --role ROLE --replace"):
        assert part in detail, detail
    found = served.client.get("/api/v1/audit", params={"denied": "true", "limit": 50},
                              headers=served.headers(served.tokens["jane"]))
    assert found.status_code == 200, found.text
    assert any(name in json.dumps(r) and "signature" in json.dumps(r)
               for r in found.json()["records"]), "the refusal was not audited"


def _sign_in(served: Served, token: str) -> Any:
    from fastapi.testclient import TestClient

    client = TestClient(served.client.app)
    form = client.get("/console/login")
    answer = client.post("/console/login", follow_redirects=False, data={
        "csrf_token": CSRF.search(form.text).group(1), "token": token})
    assert answer.status_code == 303, answer.text
    return client


# -- the attacks ----------------------------------------------------------------------------

def test_a_role_edited_in_the_table_gives_no_role(served: Served) -> None:
    name = _unique("mal")
    token = served.fresh(name, "analyst")
    served.sql("UPDATE lacuna_users SET roles = :r WHERE name = :n", r='["admin"]', n=name)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    _refused_as_unsigned(served, answer, name)


def test_an_inserted_user_and_token_digest_are_nobody(served: Served) -> None:
    name = _unique("ghost")
    token = "lac_" + secrets.token_urlsafe(32)
    served.sql("INSERT INTO lacuna_users (name, roles, token_sha256, created_at, disabled) "
               "VALUES (:n, :r, :t, '2026-12-04T00:00:00+00:00', :d)", n=name,
               r='["admin"]', t=hashlib.sha256(token.encode()).hexdigest(), d=False)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    _refused_as_unsigned(served, answer, name)


def test_a_token_digest_swapped_onto_a_steward_cannot_approve_as_them(served: Served) -> None:
    """The writer puts their own token's digest on joe's row (a configured steward) to approve
    an exception as joe."""
    dest = str(Path(served.state.governor.config.destinations.unmanaged[0]) / "board.csv")
    asked = served.client.post("/api/v1/exceptions", headers=served.headers(
        served.tokens["ana"]), json={"destination": dest, "purpose": "Board Q4 deck for CFO",
                                     "approver": "joe", "duration_hours": 2})
    assert asked.status_code == 201, asked.text
    mine = "lac_" + secrets.token_urlsafe(32)
    before = served.sql("SELECT token_sha256, signature FROM lacuna_users WHERE name = 'joe'"
                        ).one() if _has_signature(served) else None
    served.sql("UPDATE lacuna_users SET token_sha256 = :t WHERE name = 'joe'",
               t=hashlib.sha256(mine.encode()).hexdigest())
    try:
        answer = served.client.post(f"/api/v1/exceptions/{asked.json()['id']}/approve",
                                    json={}, headers=served.headers(mine))
        _refused_as_unsigned(served, answer, "joe")
        shown = served.client.get(f"/api/v1/exceptions/{asked.json()['id']}",
                                  headers=served.headers(served.tokens["jane"]))
        assert shown.json()["status"] == "pending"
    finally:  # joe's real row back, for the other tests
        if before is not None:
            served.sql("UPDATE lacuna_users SET token_sha256 = :t, signature = :s "
                       "WHERE name = 'joe'", t=before[0], s=before[1])


def _has_signature(served: Served) -> bool:
    from sqlalchemy import inspect

    return "signature" in {c["name"] for c in inspect(served.engine).get_columns("lacuna_users")}


def test_a_disabled_user_enabled_again_in_the_table_stays_out(served: Served) -> None:
    name = _unique("gone")
    token = served.fresh(name, "data_steward")
    served.state.users.disable(name)
    served.sql("UPDATE lacuna_users SET disabled = :d WHERE name = :n", d=False, n=name)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    _refused_as_unsigned(served, answer, name)


def test_a_role_edited_in_the_table_gives_no_console_role(served: Served) -> None:
    """A console session signed in with an API token takes the user's roles from the users
    table on each request: an edited role must end the session, not widen it."""
    name = _unique("con")
    browser = _sign_in(served, served.fresh(name, "analyst"))
    assert browser.get("/console/audit").status_code == 403
    served.sql("UPDATE lacuna_users SET roles = :r WHERE name = :n", r='["data_steward"]',
               n=name)
    answer = browser.get("/console/audit", follow_redirects=False)
    assert answer.status_code == 401, answer.status_code


def test_a_signed_out_session_revived_in_the_table_stays_out(served: Served) -> None:
    """A copy of a session cookie, after its owner signed out: the writer clears
    ``ended_at``."""
    browser = _sign_in(served, served.fresh(_unique("out"), "data_steward"))
    copied = browser.cookies.get(COOKIE)
    page = browser.get("/console/exceptions")
    assert browser.post("/console/logout", follow_redirects=False, data={
        "csrf_token": CSRF.search(page.text).group(1)}).status_code == 303
    served.sql("UPDATE lacuna_console_sessions SET ended_at = NULL")
    from fastapi.testclient import TestClient

    thief = TestClient(served.client.app)
    thief.cookies.set(COOKIE, copied)
    assert thief.get("/console/audit", follow_redirects=False).status_code == 401


def _keep_row(served: Served, name: str) -> dict[str, Any]:
    """The user's row as it is now, every column (what a writer can read and keep)."""
    return dict(served.sql("SELECT * FROM lacuna_users WHERE name = :n", n=name).mappings()
                .one())


def _put_back(served: Served, row: dict[str, Any]) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in row if c != "name")
    served.sql(f"UPDATE lacuna_users SET {sets} WHERE name = :name", **row)


def test_the_row_from_before_disable_put_back_stays_out(served: Served) -> None:
    """The writer kept the row (and its signature, which holds) from before ``disable`` and
    puts it back: the audit trail's record of the disable refuses it."""
    name = _unique("replay")
    token = served.fresh(name, "data_steward")
    kept = _keep_row(served, name)
    served.state.users.disable(name)
    _put_back(served, kept)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    assert answer.status_code == 401, answer.text
    assert "older than the audit trail's last change" in answer.json()["detail"]


def test_the_row_from_before_a_replace_put_back_stays_out(served: Served) -> None:
    """A steward demoted with ``--replace`` (a new token) puts back their old row: old token,
    old role, old signature."""
    name = _unique("demoted")
    old_token = served.fresh(name, "data_steward")
    kept = _keep_row(served, name)
    new_token = served.state.users.add(name, roles=("analyst",), replace=True)
    _put_back(served, kept)
    answer = served.client.get("/api/v1/audit", headers=served.headers(old_token))
    assert answer.status_code == 401, answer.text
    # the writer's own later row is not a way around it either: the new token's row is gone
    assert served.client.get("/api/v1/audit",
                             headers=served.headers(new_token)).status_code == 401
    # re-issued by an admin: in again
    again = served.state.users.add(name, roles=("analyst",), replace=True)
    assert served.client.get("/api/v1/exceptions",
                             headers=served.headers(again)).status_code == 200


def test_the_session_row_from_before_sign_out_put_back_stays_out(served: Served) -> None:
    """A copy of the cookie, and the session's row (its signature holds) kept from before the
    sign-out, put back: the trail's record of the sign-out refuses it."""
    browser = _sign_in(served, served.fresh(_unique("sess"), "data_steward"))
    copied = browser.cookies.get(COOKIE)
    kept = [dict(r) for r in served.sql("SELECT * FROM lacuna_console_sessions "
                                        "WHERE ended_at IS NULL").mappings()]
    page = browser.get("/console/exceptions")
    assert browser.post("/console/logout", follow_redirects=False, data={
        "csrf_token": CSRF.search(page.text).group(1)}).status_code == 303
    for row in kept:  # put back as it was (inserted again if a new sign-in dropped it)
        served.sql("DELETE FROM lacuna_console_sessions WHERE id_sha256 = :id_sha256", **row)
        served.sql(f"INSERT INTO lacuna_console_sessions ({', '.join(row)}) VALUES "
                   f"({', '.join(':' + c for c in row)})", **row)
    from fastapi.testclient import TestClient

    thief = TestClient(served.client.app)
    thief.cookies.set(COOKIE, copied)
    assert thief.get("/console/audit", follow_redirects=False).status_code == 401


# -- the allowed paths ----------------------------------------------------------------------

def test_users_made_through_lacuna_work_and_round_trip(served: Served) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    name = _unique("ok")
    cli = CliRunner()
    made = cli.invoke(app, ["users", "add", name, "--role", "analyst", "--db", served.db])
    assert made.exit_code == 0, made.output
    token = next(line for line in made.stdout.splitlines() if line.startswith("lac_"))
    assert served.client.get("/api/v1/audit", headers=served.headers(token)).status_code == 403
    browser = _sign_in(served, token)
    assert browser.get("/console/exceptions").status_code == 200
    assert browser.get("/console/audit").status_code == 403
    again = cli.invoke(app, ["users", "add", name, "--role", "data_steward", "--replace",
                             "--db", served.db])
    assert again.exit_code == 0, again.output
    new = next(line for line in again.stdout.splitlines() if line.startswith("lac_"))
    assert served.client.get("/api/v1/audit", headers=served.headers(new)).status_code == 200
    time.sleep(UserStore.CHECK_S + 0.1)  # another process's change: seen within CHECK_S
    assert served.client.get("/api/v1/audit", headers=served.headers(token)).status_code == 401
    assert browser.get("/console/audit", follow_redirects=False).status_code == 401  # ended
    steward = _sign_in(served, new)
    assert steward.get("/console/audit").status_code == 200
    listed = cli.invoke(app, ["users", "list", "--db", served.db])
    assert f"{name}\tdata_steward" in listed.stdout
    assert cli.invoke(app, ["users", "disable", name, "--db", served.db]).exit_code == 0
    assert steward.get("/console/audit", follow_redirects=False).status_code == 401
    time.sleep(UserStore.CHECK_S + 0.1)
    assert served.client.get("/api/v1/audit", headers=served.headers(new)).status_code == 401
    # the CLI's changes are on the trail (its own process's appends), which still verifies
    jane = served.headers(served.tokens["jane"])
    events = served.client.get("/api/v1/audit", params={"action": "identity", "limit": 500},
                               headers=jane).json()["records"]
    mine = [r for r in events if r["what"].get("user") == name]
    assert [r["what"]["event"] for r in mine] == ["disabled", "replaced", "created"]
    assert [r["identity"].get("roles") for r in mine] == [
        ["data_steward"], ["data_steward"], ["analyst"]]  # newest first
    assert token not in json.dumps(events)
    assert new not in json.dumps(events)
    assert hashlib.sha256(new.encode()).hexdigest() not in json.dumps(events)
    report = served.client.get("/api/v1/audit/verify", headers=jane).json()
    assert report["ok"], report
    assert _sign_in(served, served.tokens["jane"]).get("/console/audit").status_code == 200


def test_the_store_verifies_on_both_databases(served: Served) -> None:
    store = UserStore(served.db)  # another process's store, the same key
    try:
        name = _unique("st")
        token = store.add(name, roles=("compliance_officer",))
        assert store.authenticate(token).roles == ("compliance_officer",)
        assert served.state.users.authenticate(token).name == name
    finally:
        store.close()


def test_disabling_or_ending_does_not_vouch_for_an_edited_row(served: Served) -> None:
    """``disable`` and sign-out sign a row again only when it verified: an edited row is
    disabled (or ended) but stays unverified, never signed with the edit."""
    name = _unique("edit")
    served.fresh(name, "analyst")
    served.sql("UPDATE lacuna_users SET roles = :r WHERE name = :n", r='["admin"]', n=name)
    served.state.users.disable(name)
    (record,) = [r for r in served.state.users.records() if r.name == name]
    assert (record.disabled, record.signature) == (True, "invalid")


def test_lacuna_users_with_another_key_says_so(served: Served,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator running ``lacuna users`` with a key that is not the server's: ``add`` and
    ``resign`` refuse (the server would refuse those users, and the trail would hold a record
    signed with a key that is not its own)."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    served.sql("DELETE FROM lacuna_users WHERE signature IS NULL")
    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ab" * 32)
    cli = CliRunner()
    made = cli.invoke(app, ["users", "add", _unique("wk"), "--role", "analyst", "--db",
                            served.db])
    assert made.exit_code == 2, made.output
    assert "refusing to add" in made.stderr
    assert "are signed with another key" in made.stderr
    assert "LACUNA_SIGNING_KEY" in made.stderr
    assert not [line for line in made.stdout.splitlines() if line.startswith("lac_")]
    served.sql("INSERT INTO lacuna_users (name, roles, token_sha256, created_at, disabled) "
               "VALUES (:n, '[\"analyst\"]', :t, '2026-12-04T00:00:00+00:00', :d)",
               n=_unique("pre"), t=secrets.token_hex(32), d=False)
    refused = cli.invoke(app, ["users", "resign", "--yes", "--db", served.db])
    assert refused.exit_code == 2
    assert "refusing to sign" in refused.stderr
    assert served.sql("SELECT count(*) FROM lacuna_users WHERE signature IS NULL").scalar() == 1
    served.sql("DELETE FROM lacuna_users WHERE signature IS NULL")


# -- creations on the trail: a signed row the trail did not see made is nobody ----------------

def _other_database(served: Served, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if served.db.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_url"))


def _made_elsewhere(served: Served, other: str, name: str, *, clone: bool
                    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A user made by ``lacuna users add`` in another state database signed with the same key
    (``clone``: one restored from a copy of the server's, so it carries the server's database
    id): its token, its row and the trail record of its creation, as a writer can read them."""
    store = UserStore(other)
    engine = create_engine(other)
    try:
        if clone:
            mine = served.sql("SELECT database_id FROM lacuna_database_id").scalar()
            with engine.begin() as conn:
                conn.execute(text("UPDATE lacuna_database_id SET database_id = :d"), {"d": mine})
        token = store.add(name, roles=("compliance_officer",))
        with engine.connect() as conn:
            row = dict(conn.execute(text("SELECT * FROM lacuna_users WHERE name = :n"),
                                    {"n": name}).mappings().one())
            record = conn.execute(text("SELECT * FROM lacuna_audit WHERE action = 'identity' "
                                       "ORDER BY seq DESC")).mappings().first()
        return token, row, dict(record) if record is not None else {}
    finally:
        engine.dispose()
        store.close()


def _insert_user(served: Served, row: dict[str, Any]) -> None:
    served.sql(f"INSERT INTO lacuna_users ({', '.join(row)}) VALUES "
               f"({', '.join(':' + c for c in row)})", **row)


def test_a_user_copied_from_another_database_with_the_same_key_is_nobody(
        served: Served, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Another deployment (or project) shares the signing key: its signed row, inserted here,
    does not verify (a row's signature names its state database)."""
    name = _unique("copied")
    token, row, _ = _made_elsewhere(served, _other_database(served, request, tmp_path), name,
                                    clone=False)
    _insert_user(served, row)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    _refused_as_unsigned(served, answer, name)


def test_a_user_copied_from_a_clone_of_this_database_is_nobody(
        served: Served, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A staging database restored from production (same database id, same key): a user made
    there verifies here, but this trail never recorded its creation, so it is refused; and the
    clone's record of the creation, copied onto this trail, is not relied on (it does not link
    into this chain)."""
    name = _unique("clone")
    token, row, record = _made_elsewhere(served, _other_database(served, request, tmp_path),
                                         name, clone=True)
    _insert_user(served, row)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    assert answer.status_code == 401, answer.text
    detail = answer.json()["detail"]
    assert "does not record its creation" in detail, detail
    assert f"lacuna users add {name} --role ROLE --replace" in detail
    from typer.testing import CliRunner

    from lacuna.cli import app

    listed = CliRunner().invoke(app, ["users", "list", "--db", served.db])
    assert f"{name}\tcompliance_officer  (its creation is not on the audit trail" in listed.stdout
    # the clone's creation record, put at the end of this trail
    top = served.sql("SELECT max(seq) FROM lacuna_audit").scalar()
    served.sql(f"INSERT INTO lacuna_audit ({', '.join(record)}) VALUES "
               f"({', '.join(':' + c for c in record)})", **{**record, "seq": top + 1})
    try:
        served.state.users._cache.clear()
        answer = served.client.get("/api/v1/audit", headers=served.headers(token))
        assert answer.status_code == 401, answer.text
    finally:  # the trail as it was, for the other tests
        served.sql("DELETE FROM lacuna_audit WHERE seq = :s", s=top + 1)
    # re-issued here by an admin: in
    again = served.state.users.add(name, roles=("compliance_officer",), replace=True)
    assert served.client.get("/api/v1/audit", headers=served.headers(again)).status_code == 200


@dataclass
class _Row:
    name: str
    roles: str
    token_sha256: str
    created_at: str
    disabled: bool


def _legacy_row(name: str, roles: str, created_at: str) -> tuple[str, dict[str, Any]]:
    """A token and its user row as a Lacuna from before creations were audited signed it
    (``lacuna-user-v1``: no database id), with the server's key (the environment's)."""
    from lacuna.identity import token_digest, user_payload
    from lacuna.signing import default_keyring

    token = "lac_" + secrets.token_urlsafe(32)
    row = {"name": name, "roles": roles, "token_sha256": token_digest(token),
           "created_at": created_at, "disabled": False}
    return token, {**row, "signature": default_keyring().sign(user_payload(_Row(**row)))}


def test_a_user_signed_before_creations_were_audited_is_kept_until_resigned(
        served: Served, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """An upgrade locks nobody out: a row signed before rows named their database (and before
    creations were on the trail), present when this version's server first starts, is taken
    on trust then (recorded on the trail), accepted on its signature, listed as such, and
    ``lacuna users resign`` ties it to this database's trail."""
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from lacuna.cli import app
    from lacuna.identity import token_digest
    from lacuna.server.outer import serving
    from server.conftest import in_process_app, server_files

    db = _other_database(served, request, tmp_path)
    UserStore(db).close()  # the tables, as the older Lacuna left them
    engine = create_engine(db)
    name = _unique("legacy")
    token, row = _legacy_row(name, '["data_steward"]', "2026-12-01T00:00:00.000000+00:00")
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO lacuna_users ({', '.join(row)}) VALUES "
                          f"({', '.join(':' + c for c in row)})"), row)
    _, config, _ = server_files(tmp_path / "upgraded")
    upgraded = in_process_app(db, config)  # this version's first start on that database
    cli = CliRunner()
    try:
        with TestClient(serving(upgraded)) as client:
            assert client.get("/api/v1/audit", headers=served.headers(token)).status_code == 200
            listed = cli.invoke(app, ["users", "list", "--db", db])
            assert f"{name}\tdata_steward  (signed before creations were audited" in (
                listed.stdout)
            done = cli.invoke(app, ["users", "resign", name, "--yes", "--db", db])
            assert done.exit_code == 0, done.output
            assert f"signed 1 user record(s): {name}" in done.stdout
            listed = cli.invoke(app, ["users", "list", "--db", db])
            assert f"{name}\tdata_steward\n" in listed.stdout
            time.sleep(UserStore.CHECK_S + 0.1)
            headers = served.headers(token)
            assert client.get("/api/v1/audit", headers=headers).status_code == 200
            events = client.get("/api/v1/audit", params={"action": "identity", "limit": 50},
                                headers=headers).json()["records"]
            kept = [r for r in events if r["what"]["event"] == "grandfathered"]
            assert kept[0]["identity"]["grandfathered"] == [
                {"user": name, "roles": ["data_steward"], "disabled": False,
                 "created_at": row["created_at"]}]
            resigned = [r for r in events if r["what"]["event"] == "resigned"
                        and name in json.dumps(r)]
            assert resigned[0]["identity"]["resigned"] == [
                {"user": name, "roles": ["data_steward"], "disabled": False,
                 "created_at": row["created_at"]}]
            assert token_digest(token) not in json.dumps(events)
            # once the trail knows the user, a legacy row of theirs from elsewhere (same key:
            # another role, another token) put in place of theirs is no legacy: refused
            mine, swapped = _legacy_row(name, '["admin"]', "2026-12-02T00:00:00.000000+00:00")
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM lacuna_users WHERE name = :n"), {"n": name})
                conn.execute(text(f"INSERT INTO lacuna_users ({', '.join(swapped)}) VALUES "
                                  f"({', '.join(':' + c for c in swapped)})"), swapped)
            answer = client.get("/api/v1/audit", headers=served.headers(mine))
            assert answer.status_code == 401, answer.text
            assert "does not record its creation" in answer.json()["detail"]
    finally:
        upgraded.state.lacuna.close()
        engine.dispose()


def test_a_legacy_user_copied_in_after_the_upgrade_is_nobody_until_resigned(
        served: Served) -> None:
    """A row signed the old way (no database id) with the same key, in another database or by
    an older Lacuna, inserted after this version's server first started, for a name this trail
    never issued: not among the legacy users the trail took on trust at the upgrade, so 401;
    ``lacuna users resign`` signs it only when it is named, after which it is in."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    name = _unique("late")
    token, row = _legacy_row(name, '["admin"]', "2026-11-01T00:00:00.000000+00:00")
    _insert_user(served, row)
    answer = served.client.get("/api/v1/audit", headers=served.headers(token))
    assert answer.status_code == 401, answer.text
    detail = answer.json()["detail"]
    for part in (repr(name), "not among the users this database's trail took on trust",
                 f"lacuna users resign {name}", f"lacuna users add {name} --role ROLE --replace"):
        assert part in detail, detail
    cli = CliRunner()
    listed = cli.invoke(app, ["users", "list", "--db", served.db])
    assert f"{name}\tadmin  (signed before creations were audited, but not taken on trust" in (
        listed.stdout)
    verified = cli.invoke(app, ["audit", "verify", "--db", served.db])
    assert verified.exit_code == 1, verified.output
    assert f"the record of user {name!r} in lacuna_users is signed as rows were before" in (
        verified.stderr)
    everyone = cli.invoke(app, ["users", "resign", "--db", served.db], input="n\n")
    assert name not in everyone.stdout  # not offered along with the rows the upgrade found
    done = cli.invoke(app, ["users", "resign", name, "--yes", "--db", served.db])
    assert done.exit_code == 0, done.output
    assert f"signed 1 user record(s): {name}" in done.stdout
    time.sleep(UserStore.CHECK_S + 0.1)
    assert served.client.get("/api/v1/audit", headers=served.headers(token)).status_code == 200
    served.sql("DELETE FROM lacuna_users WHERE name = :n", n=name)  # no admin for the others


def test_user_changes_are_listed_by_lacuna_audit_list(served: Served) -> None:
    from typer.testing import CliRunner

    from lacuna.cli import app

    name = _unique("listed")
    served.fresh(name, "analyst")
    served.state.users.disable(name)
    shown = CliRunner().invoke(app, ["audit", "list", "--action", "identity", "-n", "5",
                                     "--db", served.db], env={"COLUMNS": "240"})
    assert shown.exit_code == 0, shown.output
    assert f"user {name}: disabled" in shown.stdout
    assert f"user {name}: created (analyst)" in shown.stdout


def test_a_nul_in_an_address_is_refused_before_any_store_reads_it(served: Served) -> None:
    """PostgreSQL refuses a NUL in any text parameter: an exception id or a file route's id
    holding ``%00`` was a 500, and an audit, lineage or feedback search a 400 whose message
    named the state database's URL (host, port, user, database), to any caller, the
    console's pages answering with that JSON. No id, name or filter holds one: refused
    before any route, on both databases; without the NUL the routes answer as before."""
    jane = served.headers(served.tokens["jane"])
    where = served.db.rsplit("@", 1)[-1].rsplit("/", 1)[0]  # host:port, or the folder
    asks = [("/api/v1/exceptions/EXC-2026-001%00", None),
            ("/api/v1/exceptions/EXC-2026-001%00/files", None),
            ("/api/v1/audit", {"user": "ana\x00"}), ("/api/v1/audit/a%00b", None),
            ("/api/v1/lineage/upstream", {"dataset": "/data/a\x00.csv"}),
            ("/console/exceptions/EXC-2026-001%00", None),  # (a bearer token signs in too)
            ("/console/feedback/a%00b", None), ("/console/audit", {"dataset": "a\x00"})]
    for path, params in asks:
        answer = served.client.get(path, params=params, headers=jane)
        assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
        assert answer.json()["code"] == "BadRequest"
        assert where not in answer.text
    for path, params in asks:  # the allowed path: the same routes without it
        clean = path.replace("%00", "")
        params = {k: v.replace("\x00", "") for k, v in (params or {}).items()}
        answer = served.client.get(clean, params=params, headers=jane)
        assert answer.status_code in (200, 404), (clean, answer.status_code, answer.text[:200])


def test_an_error_never_tells_a_caller_where_the_state_database_is(served: Served) -> None:
    """A NUL in a body's id (PostgreSQL refuses it in any parameter) made the store's error
    the answer: 'cannot read the audit trail postgresql+psycopg://lacuna@host:port/db: …',
    to any caller. The answer says "the server's state database" instead (the log keeps it);
    the same bodies without the NUL are answered as before."""
    ana = served.headers(served.tokens["ana"])
    where = served.state.governor.audit.where
    made = served.client.post("/api/v1/exceptions", headers=ana, json={
        "destination": "/tmp/x.csv", "purpose": "Board of Directors quarterly metrics deck"})
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    for path, body in (("/api/v1/audit/outcomes", {"of": "a\x00"}),
                       (f"/api/v1/exceptions/{eid}/files",
                        {"operation_id": "a\x00", "host": "h", "path": "/tmp/x.csv"})):
        answer = served.client.post(path, headers=ana, json=body)
        assert answer.status_code in (400, 403, 404), (path, answer.text[:300])
        assert where not in answer.text, answer.text[:300]
        assert "127.0.0.1" not in answer.text
        clean = {k: v.replace("\x00", "") for k, v in body.items()}
        again = served.client.post(path, headers=ana, json=clean)
        assert again.status_code in (403, 404), (path, again.text[:300])
    from starlette.requests import Request

    from lacuna.server.app import unplaced

    request = Request({"type": "http", "app": served.client.app.app, "headers": []})
    told = unplaced(request, ValueError(f"cannot read the audit trail {where}: gone"))
    assert told == "cannot read the audit trail the server's state database: gone"
