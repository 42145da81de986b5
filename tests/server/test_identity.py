"""Users, roles, API tokens (stored hashed) and OIDC/JWT bearer tokens against a JWKS file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lacuna.errors import ConfigError
from lacuna.identity import (
    AuthenticationError,
    Authenticator,
    OidcSettings,
    OidcVerifier,
    Principal,
    UserStore,
)


def test_token_is_printed_once_and_stored_only_hashed(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    from typer.testing import CliRunner

    from lacuna.cli import app

    result = CliRunner().invoke(app, ["users", "add", "ana@example.com", "--role", "analyst",
                                      "--db", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
    token = next(line for line in result.stdout.splitlines() if line.startswith("lac_"))
    assert token.startswith("lac_")
    assert len(token) > 40
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("state.db-*"))
    assert token.encode() not in raw
    rows = sqlite3.connect(db).execute("select name, roles, token_sha256 from lacuna_users")
    assert [r[:2] for r in rows] == [("ana@example.com", '["analyst"]')]
    users = UserStore(f"sqlite:///{db}")
    assert users.authenticate(token) == Principal("ana@example.com", ("analyst",))
    with pytest.raises(AuthenticationError):
        users.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(ConfigError, match="exists"):
        users.add("ana@example.com", roles=["analyst"])
    new = users.add("ana@example.com", roles=["analyst", "data_steward"], replace=True)
    with pytest.raises(AuthenticationError):
        users.authenticate(token)  # the old token stopped working
    assert users.authenticate(new).roles == ("analyst", "data_steward")
    users.disable("ana@example.com")
    with pytest.raises(AuthenticationError, match="disabled"):
        users.authenticate(new)


@pytest.mark.parametrize("change", ["disable", "replace"])
def test_a_token_revoked_by_another_process_stops_within_a_second(tmp_path: Path,
                                                                  change: str) -> None:
    """A worker's cache of accepted tokens does not outlive a change made elsewhere (the admin
    CLI is another process, with its own UserStore) by more than ``CHECK_S``."""
    db = f"sqlite:///{tmp_path / 'state.db'}"
    admin = UserStore(db)
    token = admin.add("ana", roles=["analyst"])
    admin.add("joe", roles=["data_steward"])
    worker = UserStore(db)
    assert worker.authenticate(token).name == "ana"
    assert worker.cached(token) == Principal("ana", ("analyst",))
    if change == "disable":
        admin.disable("ana")
    else:
        admin.add("ana", roles=["analyst"], replace=True)
    time.sleep(UserStore.CHECK_S + 0.1)
    assert worker.cached(token) is None
    with pytest.raises(AuthenticationError):
        worker.authenticate(token)


def test_a_failed_check_of_the_users_table_trusts_no_cached_token(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    users = UserStore(f"sqlite:///{db}")
    token = users.add("ana", roles=["analyst"])
    assert users.authenticate(token).name == "ana"
    sqlite3.connect(db).execute("alter table lacuna_users rename to gone").connection.commit()
    time.sleep(UserStore.CHECK_S + 0.1)
    assert users.cached(token) is None
    with pytest.raises(Exception, match="lacuna_users"):
        users.authenticate(token)


def test_unknown_roles_and_names_are_refused(tmp_path: Path) -> None:
    users = UserStore(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(ConfigError, match="unknown role 'superuser'"):
        users.add("x", roles=["superuser"])
    with pytest.raises(ConfigError, match="not valid"):
        users.add("bad name; drop", roles=["analyst"])


@pytest.fixture
def oidc(tmp_path: Path) -> tuple[OidcVerifier, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    settings = OidcSettings(issuer="https://idp.example.com/", audience="lacuna",
                            jwks_file=jwks, name_claim="preferred_username")
    return OidcVerifier(settings), key


def _jwt(key: rsa.RSAPrivateKey, **claims: object) -> str:
    now = int(time.time())
    body = {"iss": "https://idp.example.com/", "aud": "lacuna", "exp": now + 300, "iat": now,
            "preferred_username": "sam@example.com", "roles": ["data_steward", "other"]}
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def test_oidc_bearer_tokens(oidc: tuple[OidcVerifier, rsa.RSAPrivateKey], tmp_path: Path) -> None:
    verifier, key = oidc
    auth = Authenticator(UserStore(f"sqlite:///{tmp_path / 's.db'}"), verifier)
    assert auth.authenticate(_jwt(key)) == Principal("sam@example.com", ("data_steward",))
    for bad, why in ((_jwt(key, aud="other"), "audience"), (_jwt(key, iss="https://evil/"),
                     "issuer"), (_jwt(key, exp=int(time.time()) - 3600), "expired"),
                     (_jwt(key, roles=["nobody"]), "no Lacuna role")):
        with pytest.raises(AuthenticationError, match=f"(?i){why}"):
            auth.authenticate(bad)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthenticationError, match=r"[Ss]ignature"):
        auth.authenticate(_jwt(other))
    # Forged without the issuer's key: unsigned (alg none), or HMAC-signed with the public key
    # as the secret (the algorithm-confusion attack), or naming a key the JWKS does not have.
    body = jwt.decode(_jwt(key), options={"verify_signature": False})
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    unsigned = jwt.encode(body, None, algorithm="none", headers={"kid": "k1"})
    confused = ".".join([
        *(base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
          for part in ({"alg": "HS256", "typ": "JWT", "kid": "k1"}, body))])
    confused += "." + base64.urlsafe_b64encode(hmac.new(
        public, confused.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    unknown_key = jwt.encode(body, key, algorithm="RS256", headers={"kid": "k9"})
    for forged in (unsigned, confused, unknown_key):
        with pytest.raises(AuthenticationError, match=r"(?i)rejected|algorithm|no key"):
            auth.authenticate(forged)


def test_an_oidc_name_that_is_also_a_local_user_is_refused(
        oidc: tuple[OidcVerifier, rsa.RSAPrivateKey], tmp_path: Path) -> None:
    """OIDC and API-token users share one namespace (the trail's user, an exception's
    requester and approver): a bearer token naming a local user, enabled or disabled, would
    make two people one identity (a self-approval check passed, another's exception decided)."""
    verifier, key = oidc
    users = UserStore(f"sqlite:///{tmp_path / 's.db'}")
    auth = Authenticator(users, verifier)
    users.add("sam@example.com", roles=["analyst"])
    with pytest.raises(AuthenticationError, match=r"'preferred_username' claim names "
                       r"'sam@example.com', which is also a local Lacuna user"):
        auth.authenticate(_jwt(key))
    users.disable("sam@example.com")
    with pytest.raises(AuthenticationError, match="also a local Lacuna user"):
        auth.authenticate(_jwt(key))
    other = auth.authenticate(_jwt(key, preferred_username="kim@example.com"))
    assert other == Principal("kim@example.com", ("data_steward",))
    token = users.add("lee", roles=["analyst"])  # API tokens are not affected
    assert auth.authenticate(token).name == "lee"


def test_a_bad_jwks_file_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "jwks.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="JWKS"):
        OidcVerifier(OidcSettings(issuer="i", audience="a", jwks_file=tmp_path / "jwks.json"))


def test_the_server_names_the_users_it_will_refuse_at_start_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An upgrade must not lock people out without a word: users whose rows carry no signature
    (or one that does not match) are listed at start-up with what to do."""
    from sqlalchemy import update

    from lacuna.identity import users_table
    from lacuna.server.state import warn_unverified_users

    users = UserStore(f"sqlite:///{tmp_path / 's.db'}")
    for name in ("ana", "bob", "cy"):
        users.add(name, roles=["analyst"])
    with users._engine.begin() as conn:
        conn.execute(update(users_table).where(users_table.c.name == "ana").values(
            signature=None))
        conn.execute(update(users_table).where(users_table.c.name == "bob").values(
            roles='["admin"]'))
    with caplog.at_level("ERROR", logger="lacuna.server"):
        warn_unverified_users(users)
    text = caplog.text
    assert "2 identity row(s) of 3 user(s) and 0 console session(s) let nobody in" in text
    assert "the record of user 'ana' in lacuna_users carries no signature" in text
    assert "lacuna users resign" in text
    assert "the record of user 'bob' in lacuna_users does not match its signature" in text
    assert "'cy'" not in text
    users.close()


def test_removing_the_trails_record_of_a_disable_is_seen_by_audit_verify(tmp_path: Path) -> None:
    """Where the refusal of an older row put back ends: a writer who also deletes the trail's
    record of the disable gets the old row accepted again, and ``lacuna audit verify`` reports
    the trail as tampered (docs/server.md, "Not yet")."""
    from sqlalchemy import delete, select, update

    from lacuna.audit import AuditStore
    from lacuna.audit.schema import records
    from lacuna.identity import UnverifiedIdentityError, users_table

    url = f"sqlite:///{tmp_path / 'state.db'}"
    users = UserStore(url)
    token = users.add("ana", roles=["data_steward"])
    with users._engine.connect() as conn:
        kept = dict(conn.execute(select(users_table)).mappings().one())
    users.disable("ana")
    with users._engine.begin() as conn:
        conn.execute(update(users_table).values(**kept))
    with pytest.raises(UnverifiedIdentityError, match="older than the audit trail"):
        users.authenticate(token)
    with users._engine.begin() as conn:  # only the disable: the creation must stay
        conn.execute(delete(records).where(records.c.action == "identity",
                                           records.c.body.contains('"event":"disabled"')))
    again = UserStore(url)
    assert again.authenticate(token).name == "ana"  # accepted: the anchor is gone ...
    trail = AuditStore(url)
    try:
        assert not trail.verify().ok  # ... and the trail says it was tampered with
    finally:
        trail.close()
        again.close()
        users.close()


def test_a_user_is_not_created_when_the_trail_cannot_record_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A creation the trail did not record would be refused at sign-in: ``add`` says so and
    leaves no row, rather than print a token that does not work."""
    from lacuna.audit import AuditStore
    from lacuna.errors import AuditError

    url = f"sqlite:///{tmp_path / 'state.db'}"
    users = UserStore(url)
    try:
        def broken(self: AuditStore, body: dict) -> None:
            msg = "disk full"
            raise AuditError(msg)

        monkeypatch.setattr(AuditStore, "record_event", broken)
        with pytest.raises(AuditError, match="was not created: the audit trail could not"):
            users.add("ana", roles=["analyst"])
        assert users.records() == []
        monkeypatch.undo()
        token = users.add("ana", roles=["analyst"])
        assert users.authenticate(token).name == "ana"
    finally:
        users.close()


@pytest.mark.parametrize(("claims", "why"), [
    ({"roles": 5}, "no Lacuna role"),  # a number was iterated: a TypeError, a 500
    ({"roles": {"data_steward": False}}, "no Lacuna role"),  # an object's keys were roles
    ({"roles": [["data_steward"]]}, "no Lacuna role"),
    ({"preferred_username": ["sam"]}, "preferred_username"),  # was the text "['sam']"
    ({"preferred_username": {"n": "sam"}}, "preferred_username"),
    ({"preferred_username": 42}, "preferred_username"),
    ({"preferred_username": "\u200b"}, "preferred_username"),  # nobody: same_name never holds
    ({"preferred_username": "  "}, "preferred_username"),
    ({"preferred_username": "kim\nuser ana: approved"}, "preferred_username"),
    ({"preferred_username": "kim\x1b[8m"}, "preferred_username"),
])
def test_an_oidc_claim_of_another_shape_is_refused_not_crashed(
        oidc: tuple[OidcVerifier, rsa.RSAPrivateKey], tmp_path: Path, claims: dict[str, Any],
        why: str) -> None:
    verifier, key = oidc
    auth = Authenticator(UserStore(f"sqlite:///{tmp_path / 's.db'}"), verifier)
    with pytest.raises(AuthenticationError, match=why):
        auth.authenticate(_jwt(key, **claims))
    # the shapes an issuer does send still work: a list, or a space-separated text
    for roles in (["analyst", 7, "data_steward"], "analyst data_steward"):
        assert auth.authenticate(_jwt(key, roles=roles)) == Principal(
            "sam@example.com", ("analyst", "data_steward"))



def test_a_prefixless_api_token_is_the_users_with_oidc_on_and_off(
        oidc: tuple[OidcVerifier, rsa.RSAPrivateKey], tmp_path: Path, monkeypatch) -> None:
    """One rule with OIDC configured and without: a credential a users row holds is that
    user's API token (one made before tokens started with ``lac_`` too), anything else no
    row holds is an OIDC token where an issuer is configured, else refused. Before, with
    OIDC on, the prefix-less token went to the JWT check alone (refused), though it signed
    in without OIDC. A row that holds it and refuses (a disabled user) is not passed on to
    the issuer's check."""
    from lacuna.identity import users as users_module

    verifier, key = oidc
    users = UserStore(f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setattr(users_module, "new_token", lambda: "legacy-0123456789abcdef")
    legacy = users.add("old@example.com", roles=["analyst"])  # a signed row, as Lacuna writes
    monkeypatch.undo()
    token = users.add("ana@example.com", roles=["analyst"])
    for auth in (Authenticator(users), Authenticator(users, verifier)):
        assert auth.authenticate(token) == Principal("ana@example.com", ("analyst",))
        assert auth.authenticate(legacy) == Principal("old@example.com", ("analyst",))
        with pytest.raises(AuthenticationError):
            auth.authenticate("not-a-token")
    assert Authenticator(users, verifier).authenticate(_jwt(key)).name == "sam@example.com"
    with pytest.raises(AuthenticationError, match="unknown API token"):
        Authenticator(users).authenticate(_jwt(key))  # a JWT where no issuer is configured
    users.disable("old@example.com")
    for auth in (Authenticator(users), Authenticator(users, verifier)):
        with pytest.raises(AuthenticationError, match="disabled"):
            auth.authenticate(legacy)
