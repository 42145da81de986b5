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
    mine = [r["what"]["event"] for r in events if r["what"].get("user") == name]
    assert mine == ["disabled", "replaced"], mine  # newest first
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
    """An operator running ``lacuna users`` with a key that is not the server's: ``add``
    warns (the server will refuse that user), ``resign`` refuses to sign anything."""
    from typer.testing import CliRunner

    from lacuna.cli import app

    served.sql("DELETE FROM lacuna_users WHERE signature IS NULL")
    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ab" * 32)
    cli = CliRunner()
    made = cli.invoke(app, ["users", "add", _unique("wk"), "--role", "analyst", "--db",
                            served.db])
    assert made.exit_code == 0, made.output
    assert "are signed with another key" in made.stderr
    assert "LACUNA_SIGNING_KEY" in made.stderr
    served.sql("INSERT INTO lacuna_users (name, roles, token_sha256, created_at, disabled) "
               "VALUES (:n, '[\"analyst\"]', :t, '2026-12-04T00:00:00+00:00', :d)",
               n=_unique("pre"), t=secrets.token_hex(32), d=False)
    refused = cli.invoke(app, ["users", "resign", "--yes", "--db", served.db])
    assert refused.exit_code == 2
    assert "refusing to sign" in refused.stderr
    assert served.sql("SELECT count(*) FROM lacuna_users WHERE signature IS NULL").scalar() == 1
    served.sql("DELETE FROM lacuna_users WHERE signature IS NULL")
