"""Exceptions tried as an attacker: self-approval, a non-steward, rows forged or edited in the
state database, a signature replayed onto another grant, another installation's key. None is
honoured, and each says why."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.exceptions import ExceptionNotAuthorized, Status
from lacuna.model import utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.fixture
def customers(governed):
    return pd.read_csv("customers.csv")


@pytest.fixture
def as_user(sandbox_config):
    def switch(user_id: str, stewards: dict | None = None) -> None:
        chosen = {"default": [STEWARD]} if stewards is None else stewards
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards=chosen))

    switch("analyst_alice")
    return switch


@pytest.fixture
def target(governed):
    return governed / "Downloads" / "board_report.csv"


@pytest.fixture
def request_(customers, target):
    return lacuna.request_exception(
        data=customers, destination=str(target), purpose=PURPOSE, approver=STEWARD,
        duration_hours=1,
    )


def db(governed) -> sqlite3.Connection:
    # the governor's own writers (decision log, trail) share the file: wait for them under load
    return sqlite3.connect(governed / "audit.db", isolation_level=None, timeout=30)


def body_of(governed, exception_id: str) -> dict:
    with db(governed) as conn:
        (body,) = conn.execute(
            "select body from lacuna_exceptions where id = ?", (exception_id,)
        ).fetchone()
    return json.loads(body)


def write_body(governed, exception_id: str, body: dict) -> None:
    conn = db(governed)
    conn.execute(
        "update lacuna_exceptions set body = ?, status = ? where id = ?",
        (json.dumps(body), body["status"], exception_id),
    )
    conn.close()


def denied_why(customers, target, exception_id: str) -> tuple[str, ...]:
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exception_id)
    assert not target.exists()
    return err.value.decision.why


def test_requester_cannot_approve_their_own_even_as_a_steward(as_user, request_, customers,
                                                              target):
    as_user("analyst_alice", stewards={"default": ["analyst_alice", STEWARD]})
    with pytest.raises(ExceptionNotAuthorized, match="cannot approve it"):
        lacuna.approve_exception(request_.id)
    from lacuna.governor import current

    assert current().exceptions.get(request_.id).status is Status.PENDING
    denied_why(customers, target, request_.id)


def test_cli_by_anyone_is_refused(as_user, request_, governed, monkeypatch):
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\nstewards: {{default: [{STEWARD}]}}\n"
    )
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    runner = CliRunner()

    def approve(*extra: str) -> str:
        out = runner.invoke(app, ["exceptions", "approve", request_.id, *extra])
        assert out.exit_code == 1
        return " ".join(out.output.split())

    assert "not as 'anyone'" in approve("--by", "anyone")
    assert "analyst_alice filed exception" in approve()
    monkeypatch.setenv("LACUNA_USER", "anyone")
    refused = approve("--by", "anyone")
    assert "anyone is not entitled" in refused
    assert STEWARD in refused  # says who is


def test_non_steward_cannot_approve(as_user, request_, customers, target):
    as_user("bob@example.com")
    with pytest.raises(ExceptionNotAuthorized, match="not entitled") as err:
        lacuna.approve_exception(request_.id)
    assert STEWARD in str(err.value)
    assert "stewards:" in str(err.value)
    as_user("analyst_alice")
    assert any("pending" in w for w in denied_why(customers, target, request_.id))


def test_without_stewards_only_the_policy_steward_may_approve(as_user, request_, customers,
                                                             target):
    as_user(STEWARD, stewards={})
    with pytest.raises(ExceptionNotAuthorized) as err:
        lacuna.approve_exception(request_.id)
    owner = request_.policy_steward
    assert owner == "data-governance@example.com"  # P-2024-001's metadata
    assert owner in str(err.value)
    as_user(owner, stewards={})
    lacuna.approve_exception(request_.id)
    as_user("analyst_alice", stewards={})
    customers.to_csv(target, exception_id=request_.id)
    assert target.exists()


def test_policy_and_domain_stewards(as_user, request_):
    from dataclasses import replace

    from lacuna.config import StewardsConfig
    from lacuna.exceptions import approvers

    stewards = StewardsConfig(policies={"P-2024-001": ("pii-lead@example.com",)},
                              domains={"marketing": ("mkt@example.com", "analyst_alice")})
    assert "mkt@example.com" not in approvers(request_, stewards)
    in_domain = replace(request_, domains=("marketing",))
    assert "mkt@example.com" in approvers(in_domain, stewards)
    assert "analyst_alice" not in approvers(in_domain, stewards)  # the requester, never
    lead = "pii-lead@example.com"
    as_user(lead, stewards={"policies": {"P-2024-001": [lead]}})
    assert lacuna.approve_exception(request_.id).decided_role == "data_steward"


def test_a_steward_removed_from_the_config_no_longer_grants(as_user, request_, customers, target):
    as_user(STEWARD)
    lacuna.approve_exception(request_.id)
    as_user("analyst_alice", stewards={"default": ["someone.else@example.com"]})
    why = denied_why(customers, target, request_.id)
    assert any("not (or no longer) a steward" in w for w in why)


def test_row_inserted_by_hand_is_not_honoured(as_user, customers, target, governed):
    now = utcnow()
    body = {
        "id": "EXC-2026-900", "requested_by": "analyst_alice", "requester_role": "data_analyst",
        "action": "export", "destination": str(target), "sources": [], "tier": "PROPRIETARY",
        "tags": [], "purpose": PURPOSE, "business_justification": "", "approver": STEWARD,
        "duration_hours": 1.0, "conditions": [], "created_at": now.isoformat(),
        "status": "approved", "decided_by": STEWARD, "decided_role": "data_steward",
        "decided_at": now.isoformat(), "comment": None,
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_until": (now + timedelta(hours=1)).isoformat(),
    }
    lacuna.request_exception(destination="y.csv", purpose=PURPOSE, approver=STEWARD)  # table
    conn = db(governed)
    conn.execute(
        "insert into lacuna_exceptions (id, year, requested_by, status, duration_hours, body) "
        "values (?, ?, ?, ?, ?, ?)",
        (body["id"], "2026", "analyst_alice", "approved", 1.0, json.dumps(body)),
    )
    conn.close()
    why = denied_why(customers, target, "EXC-2026-900")
    assert any("carries no Lacuna signature" in w for w in why)
    body["signature"] = "hmac-sha256:000000000000:" + "0" * 64
    write_body(governed, "EXC-2026-900", body)
    why = denied_why(customers, target, "EXC-2026-900")
    assert any("does not match its signature" in w for w in why)


def test_garbage_row_is_not_honoured(as_user, customers, target, governed, request_):
    conn = db(governed)
    conn.execute("update lacuna_exceptions set body = '{\"status\": 1, \"x\": [' where id = ?",
                 (request_.id,))
    conn.close()
    why = denied_why(customers, target, request_.id)
    assert any("not a request Lacuna wrote" in w for w in why)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda b: b.update(valid_until=(utcnow() + timedelta(days=365)).isoformat()),
                     id="extended-expiry"),
        pytest.param(lambda b: b.update(requested_by="mallory"), id="other-user"),
        pytest.param(lambda b: b.update(destination="/tmp/elsewhere.csv"), id="other-destination"),
        pytest.param(lambda b: b.update(decided_by="x"), id="approver"),
    ],
)
def test_edited_grant_is_not_honoured(as_user, request_, customers, target, governed, edit):
    as_user(STEWARD)
    lacuna.approve_exception(request_.id, start=utcnow() - timedelta(hours=2))  # expired
    body = body_of(governed, request_.id)
    edit(body)
    body["valid_from"] = (utcnow() - timedelta(minutes=5)).isoformat()
    write_body(governed, request_.id, body)
    as_user(body["requested_by"])
    why = denied_why(customers, target, request_.id)
    assert any("does not match its signature" in w for w in why)


def test_edited_pending_or_denied_row_cannot_be_approved_or_used(as_user, request_, customers,
                                                                target, governed):
    body = body_of(governed, request_.id)
    body["policy_steward"] = "mallory@example.com"  # try to make an accomplice entitled
    write_body(governed, request_.id, body)
    as_user("mallory@example.com")
    with pytest.raises(ExceptionNotAuthorized, match="changed outside Lacuna"):
        lacuna.approve_exception(request_.id)
    body.update(status="approved", decided_by=STEWARD, decided_role="data_steward",
                valid_from=utcnow().isoformat(),
                valid_until=(utcnow() + timedelta(hours=1)).isoformat())
    write_body(governed, request_.id, body)
    as_user("analyst_alice")
    assert any("does not match its signature" in w
               for w in denied_why(customers, target, request_.id))


def test_signature_replayed_onto_another_grant(as_user, customers, target, governed):
    mine = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                    approver=STEWARD)
    elsewhere = lacuna.request_exception(data=customers, destination="/tmp/elsewhere.csv",
                                         purpose=PURPOSE, approver=STEWARD)
    as_user(STEWARD)
    lacuna.approve_exception(elsewhere.id)
    granted = body_of(governed, elsewhere.id)
    forged = {**granted, "id": mine.id, "destination": str(target)}
    write_body(governed, mine.id, forged)
    as_user("analyst_alice")
    assert any("does not match its signature" in w for w in denied_why(customers, target, mine.id))
    whole = {**granted, "id": mine.id}  # the whole signed body under another id
    write_body(governed, mine.id, whole)
    assert any("does not match its signature" in w for w in denied_why(customers, target, mine.id))


def test_grant_signed_with_another_key_is_not_honoured(as_user, request_, customers, target,
                                                      monkeypatch):
    as_user(STEWARD)
    monkeypatch.setenv("LACUNA_SIGNING_KEY", "ab" * 32)  # another installation's key
    with pytest.raises(ExceptionNotAuthorized, match="changed outside Lacuna"):
        lacuna.approve_exception(request_.id)  # the request itself was signed with ours
    from lacuna.governor import current

    gov = current()
    store = type(gov.exceptions)(gov.config.audit_url)
    assert not store.verified(store.get(request_.id))
    monkeypatch.delenv("LACUNA_SIGNING_KEY")
    assert store.verified(store.get(request_.id)) is False  # keyring cached per store
    assert type(gov.exceptions)(gov.config.audit_url).verified(store.get(request_.id))


def test_cli_shows_what_is_not_honoured(as_user, request_, governed, monkeypatch):
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n")
    runner = CliRunner()
    listed = runner.invoke(app, ["exceptions", "list", "--json"])
    assert json.loads(listed.output)["verified"] is True
    body = body_of(governed, request_.id)
    body["status"] = "approved"
    write_body(governed, request_.id, body)
    listed = runner.invoke(app, ["exceptions", "list", "--json"])
    assert json.loads(listed.output)["verified"] is False
    shown = runner.invoke(app, ["exceptions", "show", request_.id])
    assert "does not match its signature" in " ".join(shown.output.split())
    conn = db(governed)
    conn.execute("update lacuna_exceptions set body = 'garbage' where id = ?", (request_.id,))
    conn.close()
    broken = runner.invoke(app, ["exceptions", "show", request_.id])
    assert broken.exit_code == 1
    assert "not a request Lacuna wrote" in " ".join(broken.output.split())
    missing = runner.invoke(app, ["exceptions", "show", "EXC-1999-001"])
    assert missing.exit_code == 1


# -- files written under an exception must not outlive it --------------------------------------


def _granted_and_written(as_user, request_, customers, target, **write):
    as_user(STEWARD)
    lacuna.approve_exception(request_.id)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=request_.id, **write)
    assert target.exists()


def test_status_column_edited_does_not_keep_a_file_past_its_exception(
        as_user, request_, customers, target, governed):
    """The table's status column is an index, not the record: set to 'pending' by hand while
    the signed body says approved, it must not hide the grant's files from the sweep."""
    _granted_and_written(as_user, request_, customers, target)
    db(governed).execute("update lacuna_exceptions set status = 'pending' where id = ?",
                         (request_.id,))
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert report.deleted == (str(target),)
    assert not target.exists()
    assert any(request_.id in f and "edited outside Lacuna" in f for f in report.failed)


@pytest.mark.parametrize("tamper", ["extend-expiry", "delete-row", "garbage"])
def test_files_of_an_untrusted_exception_are_reported_every_sweep(
        as_user, request_, customers, target, governed, tamper):
    """A record edited (its window extended), removed or broken says nothing trustworthy
    about its files: the sweep neither deletes on its word nor skips them silently."""
    _granted_and_written(as_user, request_, customers, target)
    conn = db(governed)
    if tamper == "extend-expiry":
        body = body_of(governed, request_.id)
        body["valid_until"] = (utcnow() + timedelta(days=365)).isoformat()
        write_body(governed, request_.id, body)
    elif tamper == "delete-row":
        conn.execute("delete from lacuna_exceptions where id = ?", (request_.id,))
    else:
        conn.execute("update lacuna_exceptions set body = 'garbage' where id = ?",
                     (request_.id,))
    conn.close()
    for _ in range(2):
        report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
        assert [f.split(": ", 1)[0] for f in report.failed] == [str(target)]
        assert "cannot be trusted" in report.failed[0]
    assert target.exists()  # not deleted on the word of a record that does not verify
    from lacuna.governor import current

    failed = [r.data for r in current().audit.list(limit=None, action="exception")
              if r.data["what"]["event"] == "file-delete-failed"]
    assert len(failed) == 2
    assert failed[0]["exception"]["path"] == str(target)


def test_a_write_under_an_exception_does_not_follow_a_symbolic_link(
        as_user, request_, customers, target, governed):
    """A link planted at the granted path would send the data elsewhere, and the sweep would
    delete only the link: refused, nothing written. An encrypted write replaces the link."""
    elsewhere = governed / "stash.csv"
    target.symlink_to(elsewhere)
    with pytest.raises(lacuna.exceptions.ExceptionNotAuthorized, match="symbolic link"):
        _granted_and_written(as_user, request_, customers, target)
    assert not elsewhere.exists()
    customers.to_csv(target, exception_id=request_.id, encrypt=True)
    assert not target.is_symlink()
    assert target.read_bytes().startswith(b"LACUNAE1")
    assert not elsewhere.exists()


def test_sweep_never_claims_a_link_or_a_hard_linked_file_deleted(
        as_user, request_, customers, target, governed):
    _granted_and_written(as_user, request_, customers, target)
    moved = governed / "stash.csv"
    target.rename(moved)
    target.symlink_to(moved)  # the file moved away, a link left in its place
    later = utcnow() + timedelta(hours=2)
    report = lacuna.sweep_exceptions(now=later)
    assert report.deleted == ()
    assert report.missing == (str(target),)
    assert target.is_symlink()
    assert moved.exists()
    from lacuna.governor import current

    history = current().exceptions.get(request_.id).history
    assert any(h.event == "file-missing" and "symbolic link" in (h.comment or "")
               for h in history)

    target.unlink()
    os.link(moved, target)  # the same data under a second name
    report = lacuna.sweep_exceptions(now=later)
    assert report.deleted == (str(target),)
    assert not target.exists()
    assert moved.exists()
    assert report.failed == (f"{target}: deleted at its recorded path, but the file has 1 "
                             "other hard link(s): its data still exists under another name",)


def test_polars_writes_under_an_exception_are_swept(as_user, request_, target):
    """Every writer that honours exception_id records its file for the sweep, not pandas only."""
    pl = pytest.importorskip("polars")
    as_user(STEWARD)
    lacuna.approve_exception(request_.id)
    as_user("analyst_alice")
    frame = pl.read_csv("customers.csv")
    with pytest.raises(lacuna.GovernanceViolation):
        frame.write_csv(target)
    frame.write_csv(target, exception_id=request_.id)
    from lacuna.governor import current

    (written,) = current().exceptions.files(request_.id)
    assert written.path == str(target)
    assert written.identity is not None  # what was written, recorded once the write returned
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert report.deleted == (str(target),)
    assert not target.exists()


def test_no_plaintext_is_released_without_its_audit_record(as_user, request_, customers, target,
                                                           monkeypatch, governed):
    _granted_and_written(as_user, request_, customers, target, encrypt=True, index=False)
    from lacuna.audit.store import AuditStore
    from lacuna.errors import AuditError
    from lacuna.exceptions import DecryptionRefused

    def unwritable(self, body):
        raise AuditError("the audit trail is full")

    monkeypatch.setattr(AuditStore, "record_event", unwritable)
    out = governed / "plain.csv"
    with pytest.raises(DecryptionRefused, match="could not record this decryption"):
        lacuna.decrypt(target, out)
    assert not out.exists()


def test_decrypted_output_is_private_even_over_an_existing_file(as_user, request_, customers,
                                                                target, governed):
    _granted_and_written(as_user, request_, customers, target, encrypt=True, index=False)
    out = governed / "plain.csv"
    out.write_text("old\n")
    out.chmod(0o644)
    lacuna.decrypt(target, out)
    assert out.stat().st_mode & 0o777 == 0o600  # plaintext: never readable by others


def test_decrypted_output_never_lands_in_sealed_governed_storage(as_user, request_, customers,
                                                                 target, governed):
    """Governed storage is encrypted at rest: ``lacuna decrypt -o`` into it is refused before
    anything is decrypted, and the same output elsewhere round-trips exactly."""
    from lacuna.errors import StorageError

    _granted_and_written(as_user, request_, customers, target, encrypt=True, index=False)
    inside = governed / "governed" / "workspace" / "plain.csv"
    with pytest.raises(StorageError, match="under a governed root"):
        lacuna.decrypt(target, inside)
    assert not inside.exists()
    outside = governed / "plain.csv"
    lacuna.decrypt(target, outside)
    pd.testing.assert_frame_equal(pd.read_csv(outside), customers)
    # the plaintext lives no longer than the exception: the sweep deletes it with the file
    # (it outlived the exception, recorded nowhere)
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert {str(target), str(outside)} <= set(report.deleted)
    assert not outside.exists()
    assert not target.exists()


def test_one_broken_row_does_not_stop_the_sweep_for_the_others(as_user, request_, customers,
                                                              target, governed):
    other = lacuna.request_exception(data=customers, destination="/tmp/elsewhere.csv",
                                     purpose=PURPOSE, approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(other.id)
    _granted_and_written(as_user, request_, customers, target)
    conn = db(governed)
    conn.execute("update lacuna_exceptions set body = 'garbage' where id = ?", (other.id,))
    conn.close()
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert report.deleted == (str(target),)
    assert report.expired == (request_.id,)


def test_oversized_text_is_refused_before_anything_is_stored(as_user, customers, target):
    """A request or decision cannot carry megabytes into the store, the trail and every
    notification; the limits hold for Python, the CLI, the API and the console alike."""
    from lacuna.errors import ConfigError
    from lacuna.exceptions.authority import MAX_CONDITION_CHARS, MAX_CONDITIONS, TEXT_LIMITS

    gov = lacuna.governor.current()
    before = len(gov.exceptions.list())
    for extra in ({"business_justification": "j" * (TEXT_LIMITS["business_justification"] + 1)},
                  {"conditions": ["c" * (MAX_CONDITION_CHARS + 1)]},
                  {"conditions": [f"c{i}" for i in range(MAX_CONDITIONS + 1)]},
                  {"purpose": PURPOSE + " " + "p" * TEXT_LIMITS["purpose"]}):
        with pytest.raises(ConfigError, match="at most"):
            lacuna.request_exception(data=customers, destination=str(target), approver=STEWARD,
                                     **{"purpose": PURPOSE, **extra})
    assert len(gov.exceptions.list()) == before
    one = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, conditions="Encrypt the file")
    assert one.conditions == ("Encrypt the file",)  # one condition, not one per character
    as_user(STEWARD)
    with pytest.raises(ConfigError, match="comment is 4,001 characters"):
        lacuna.deny_exception(one.id, comment="x" * 4001)
    assert gov.exceptions.get(one.id).status is Status.PENDING


def test_cli_shows_a_requesters_markup_as_text(as_user, customers, target, governed):
    """Rich markup in a request ("[bold red]APPROVED...[/]") is shown as typed by
    ``lacuna exceptions show`` and ``list``, never obeyed as styling."""
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n")
    fake = "[bold red]APPROVED BY THE CISO[/]"
    made = lacuna.request_exception(data=customers, destination=str(target),
                                    purpose=f"{PURPOSE} {fake}", approver=STEWARD,
                                    business_justification=fake, duration_hours=1)
    runner = CliRunner()
    shown = runner.invoke(app, ["exceptions", "show", made.id])
    assert shown.exit_code == 0, shown.output
    assert f"Justification: {fake}" in shown.output
    listed = runner.invoke(app, ["exceptions", "list"])
    assert "[bold" in listed.output


def test_a_justification_with_a_terminal_escape_is_refused(as_user, customers, target):
    with pytest.raises(lacuna.errors.ConfigError, match="U\\+001B at position 0"):
        lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                 approver=STEWARD, business_justification="\x1b[2Kok",
                                 duration_hours=1)
    ok = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                  approver=STEWARD, business_justification="line\nnext",
                                  duration_hours=1)
    from lacuna.governor import current

    assert current().exceptions.get(ok.id).business_justification == "line next"  # folded


def test_a_signed_grant_under_another_row_id_is_not_honoured(as_user, customers, target,
                                                              governed, request_):
    """The signed body of a grant, revoked, copied into a row of another id: its signature
    still verifies, but the trail's revocation is of its own id. The row's id must be the
    body's, or a revoked grant is honoured again under an id nobody revoked (and the sweep
    never ends its files)."""
    as_user(STEWARD)
    lacuna.approve_exception(request_.id)
    granted = body_of(governed, request_.id)
    lacuna.revoke_exception(request_.id, comment="project cancelled")
    alias = "EXC-2026-950"
    conn = db(governed)
    conn.execute(
        "insert into lacuna_exceptions (id, year, requested_by, status, duration_hours, body) "
        "values (?, ?, ?, ?, ?, ?)",
        (alias, "2026", "analyst_alice", "approved", 1.0, json.dumps(granted)))
    conn.close()
    as_user("analyst_alice")
    why = denied_why(customers, target, alias)
    assert any(alias in w and request_.id in w and "not a request Lacuna wrote" in w
               for w in why), why
    from lacuna.governor import current

    with pytest.raises(lacuna.exceptions.MalformedException, match=request_.id):
        current().exceptions.get(alias)
    assert current().exceptions.get(request_.id).status is Status.REVOKED  # its own row reads
