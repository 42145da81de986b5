"""The seed's exception workflow end to end: request → approve → encrypted export under the
exception → decrypt → expiry → sweep deletes the file; history, audit, report, revoke routes."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.errors import ConfigError, LacunaError, StorageError
from lacuna.exceptions import DecryptionRefused, ExceptionNotAuthorized, Status
from lacuna.governor import current
from lacuna.model import utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"


@pytest.fixture
def as_user(sandbox_config, governed):
    def switch(user_id: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]}))

    switch("analyst_alice")
    return switch


@pytest.fixture
def customers(as_user):
    return pd.read_csv("customers.csv")


def seed_request(target, hours: float = 2):
    """The seed's spelling, word for word."""
    return lacuna.request_exception(
        operation={"action": "export", "source": "customers.csv", "destination": str(target)},
        purpose=PURPOSE,
        business_justification="Board requested customer growth metrics with examples.",
        approver=STEWARD,
        duration_hours=hours,
        conditions=["File will be encrypted", "File will be deleted after presentation"],
    )


def events_of(exception_id: str, allowed: bool | None = None) -> list[str]:
    out = []
    for rec in reversed(current().audit.list(limit=None)):
        data = rec.data
        if allowed is not None and rec.allowed is not allowed:
            continue
        if data.get("kind") == "exception" and data["what"]["exception_id"] == exception_id:
            out.append(data["what"]["event"])
    return out


def test_seed_flow_encrypted_export_decrypt_expire_sweep(governed, as_user, customers):
    target = governed / "Downloads" / "board_report.csv"
    exc = seed_request(target)
    assert exc.id == f"EXC-{utcnow():%Y}-001"
    assert [h.event for h in exc.history] == ["requested"]

    as_user(STEWARD)
    granted = lacuna.approve_exception(exc.id, comment="approved: encrypt it")
    assert granted.status is Status.APPROVED
    assert [(h.event, h.by, h.comment) for h in granted.history][1] == (
        "approved", STEWARD, "approved: encrypt it")

    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id, encrypt=True, index=False)
    raw = target.read_bytes()
    assert raw.startswith(b"LACUNAE1")  # a plain open() sees ciphertext
    assert not any(e.encode() in raw for e in customers["email"])
    assert b"customer_id" not in raw
    back = pd.read_csv(io.BytesIO(lacuna.decrypt(target)))
    pd.testing.assert_frame_equal(back, customers)
    # a governed read of the envelope itself says how to read it (it was a UnicodeDecodeError
    # from deep in pandas' parser)
    with pytest.raises(StorageError, match=r"written with encrypt=True.*lacuna decrypt"):
        pd.read_csv(target)

    parquet = governed / "Downloads" / "board_report.parquet"
    p_exc = seed_request(parquet)
    as_user(STEWARD)
    lacuna.approve_exception(p_exc.id)
    as_user("analyst_alice")
    customers.to_parquet(parquet, exception_id=p_exc.id, encrypt=True)
    assert parquet.read_bytes().startswith(b"LACUNAE1")
    assert not parquet.read_bytes().endswith(b"PAR1")  # not a Parquet file any more
    back = pd.read_parquet(io.BytesIO(lacuna.decrypt(parquet)))
    pd.testing.assert_frame_equal(back, customers)
    with pytest.raises(StorageError, match="lacuna decrypt"):
        pd.read_parquet(parquet)

    as_user("mallory")  # another user may not decrypt it
    with pytest.raises(DecryptionRefused, match="written by analyst_alice"):
        lacuna.decrypt(target)
    as_user("analyst_alice")

    later = utcnow() + timedelta(hours=3)
    report = lacuna.sweep_exceptions(now=later)
    assert set(report.expired) == {exc.id, p_exc.id}
    assert set(report.deleted) == {str(target), str(parquet)}
    assert not target.exists()
    assert not parquet.exists()
    store = current().exceptions
    swept = store.get(exc.id)
    assert swept.status is Status.EXPIRED
    assert [h.event for h in swept.history] == ["requested", "approved", "file-deleted",
                                                "expired"]
    assert all(f.deleted_at is not None for f in store.files(exc.id))
    assert events_of(exc.id, allowed=True) == ["requested", "approved", "file-written",
                                               "decrypt", "file-deleted", "expired"]
    assert events_of(exc.id, allowed=False) == ["decrypt"]  # mallory's attempt
    assert lacuna.sweep_exceptions(now=later).expired == ()  # idempotent
    with pytest.raises(lacuna.GovernanceViolation) as err:  # expired: the denial says so
        customers.to_csv(target, exception_id=exc.id)
    assert f"exception {exc.id} expired at {swept.valid_until:%Y-%m-%d %H:%M} UTC" in (
        err.value.decision.why)
    assert current().audit.verify().ok  # the events are part of the chain


def test_denials_say_exactly_why(governed, as_user, customers):
    target = governed / "Downloads" / "board_report.csv"
    exc = seed_request(target, hours=1)
    fresh = seed_request(target)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id, start=utcnow() - timedelta(hours=2))
    lacuna.approve_exception(fresh.id)
    as_user("analyst_alice")

    def why(dest, exc_id, data=customers):
        with pytest.raises(lacuna.GovernanceViolation) as err:
            data.to_csv(dest, exception_id=exc_id)
        assert not (governed / "Downloads" / "other.csv").exists()
        return " | ".join(err.value.decision.why)

    assert f"exception {exc.id} expired at " in why(target, exc.id)
    other = governed / "Downloads" / "other.csv"
    assert (f"exception {fresh.id} covers the destination {target}, not {other}"
            in why(other, fresh.id))
    sales = pd.read_csv("sales.csv")
    assert f"exception {fresh.id} covers data from customers.csv, not from sales.csv" in why(
        target, fresh.id, sales)
    assert not target.exists()
    customers.to_csv(target, exception_id=fresh.id)  # the grant itself works
    assert target.exists()


def test_revoke_routes_and_authority(governed, as_user, customers):
    target = governed / "Downloads" / "r.csv"
    exc = seed_request(target)
    with pytest.raises(LacunaError, match="only an approved exception can be revoked"):
        lacuna.revoke_exception(exc.id)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("bob@example.com")  # not a steward, not the requester
    with pytest.raises(ExceptionNotAuthorized, match="not entitled"):
        lacuna.revoke_exception(exc.id)
    with pytest.raises(ExceptionNotAuthorized, match="not entitled"):
        lacuna.deny_exception(exc.id)
    assert "revoke-refused" in events_of(exc.id)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id)
    as_user(STEWARD)
    revoked = lacuna.revoke_exception(exc.id, comment="presentation cancelled")
    assert revoked.status is Status.REVOKED
    assert revoked.history[-1].event == "revoked"
    assert revoked.history[-1].comment == "presentation cancelled"
    as_user("analyst_alice")
    with pytest.raises(lacuna.GovernanceViolation) as err:
        customers.to_csv(target, exception_id=exc.id)
    assert f"exception {exc.id} is revoked, not approved" in err.value.decision.why
    assert lacuna.sweep_exceptions().deleted == (str(target),)  # revoked: files go at once
    assert not target.exists()


def test_encrypt_never_falls_back_to_plaintext(governed, as_user, customers):
    with pytest.raises((ConfigError, lacuna.GovernanceViolation), match="encrypt=True"):
        customers.to_csv(io.BytesIO(), encrypt=True)  # a usage error: denied, fail closed
    lacuna.disable()  # pandas unpatched (TypeError) or patched but not governing (ConfigError)
    with pytest.raises((ConfigError, TypeError), match="encrypt"):
        customers.to_csv(governed / "plain.csv", encrypt=True)
    assert not (governed / "plain.csv").exists()


def test_report_includes_exceptions(governed, as_user, customers):
    target = governed / "Downloads" / "board_report.csv"
    exc = seed_request(target)
    denied = seed_request(target)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id, comment="fine")
    lacuna.deny_exception(denied.id, comment="use the aggregate")
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id)
    customers.to_csv(target, exception_id=exc.id)
    from lacuna.exceptions.report import build

    report = build(current(), since=utcnow() - timedelta(hours=1)).to_dict()
    assert report["by_status"]["approved"] == 1
    assert report["by_status"]["denied"] == 1
    items = {i["id"]: i for i in report["exceptions"]}
    assert items[exc.id]["uses"] == 2
    assert items[denied.id]["comment"] == "use the aggregate"
    assert [f["path"] for f in items[exc.id]["files"]] == [str(target), str(target)]
    assert report["files_not_deleted"] == 2
    assert build(current(), since=utcnow() + timedelta(hours=1)).to_dict()["total"] == 0


def test_cli_full_route(governed, monkeypatch):
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n"
        f"stewards: {{default: [{STEWARD}]}}\n"
        f"destinations: {{unmanaged: ['{governed / 'Downloads'}']}}\n"
    )
    runner = CliRunner()

    def run(user: str, *args: str, code: int = 0) -> str:
        monkeypatch.setenv("LACUNA_USER", user)
        out = runner.invoke(app, list(args))
        assert out.exit_code == code, out.output
        return out.output

    target = governed / "Downloads" / "cli.csv"
    out = run("analyst_alice", "exceptions", "request", str(target), "--purpose", PURPOSE,
              "--approver", STEWARD, "--source", "customers.csv", "--hours", "1",
              "--condition", "Encrypted")
    exc_id = out.split("Exception ID: ")[1].split()[0]
    second = run("analyst_alice", "exceptions", "request", str(target), "--purpose", PURPOSE,
                 "--approver", STEWARD).split("Exception ID: ")[1].split()[0]
    assert "not entitled" in run("bob", "exceptions", "approve", exc_id, code=1)
    run(STEWARD, "exceptions", "approve", exc_id, "--comment", "ok for the board",
        "--condition", "aggregate only", "--condition", " expires with  project X ")
    assert "✗ Exception Denied" in run(STEWARD, "exceptions", "deny", second, "--comment",
                                       "aggregate instead")
    shown = run(STEWARD, "exceptions", "show", exc_id)
    assert "History:" in shown
    assert "approved" in shown
    flat = " ".join(shown.split())  # as read, whatever the terminal's width
    assert "ok for the board" in flat
    assert (f"Conditions of approval (set by {STEWARD}): • aggregate only • expires with "
            "project X") in flat
    assert "ok for the board. conditions: aggregate only; expires with project X" in flat
    listed = [json.loads(line) for line in
              run(STEWARD, "exceptions", "list", "--json").splitlines()]
    assert [(i["id"], i["status"]) for i in listed] == [(exc_id, "approved"),
                                                          (second, "denied")]

    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    lacuna.enable(str(governed / "lacuna.yaml"))
    covered = lacuna.check("customers.csv", target, exception_id=exc_id)
    assert covered.allowed, covered
    # Every decision the grant covers states its conditions, signed with the grant.
    assert (f"exception {exc_id} applies under {STEWARD}'s conditions: aggregate only; "
            "expires with project X") in covered.why
    pd.read_csv("customers.csv").to_csv(target, exception_id=exc_id, encrypt=True, index=False)
    lacuna.disable()
    plain = governed / "plain.csv"
    run("analyst_alice", "decrypt", str(target), "-o", str(plain))
    assert plain.read_text().startswith("customer_id,")
    assert "may read it" in run("mallory", "decrypt", str(target), code=1)

    # settling a file is a steward's: never its requester and writer
    assert "filed exception" in run("analyst_alice", "exceptions", "settle", exc_id,
                                    str(target), "--reason", "deleted it myself", code=1)
    assert "not entitled" in run("bob", "exceptions", "revoke", exc_id, code=1)
    run(STEWARD, "exceptions", "revoke", exc_id, "--comment", "done")
    swept = json.loads(run(STEWARD, "exceptions", "sweep", "--json"))
    assert sorted(swept["deleted"]) == sorted([str(target), str(plain)])  # the plaintext too
    assert not target.exists()
    assert not plain.exists()
    assert "settled" in run(STEWARD, "exceptions", "settle", exc_id, str(target), "--reason",
                            "checked: the sweep deleted it")
    report = json.loads(run("auditor", "exceptions", "report", "--json"))
    assert report["by_status"]["revoked"] == 1
    assert report["files_not_deleted"] == 0
    assert exc_id in run("auditor", "exceptions", "report")


def test_encrypted_export_to_a_home_relative_path(governed, as_user, customers, monkeypatch):
    """The documented spelling, ``to_csv("~/Downloads/...", encrypt=True)``: the file is
    written (and recorded, and decrypted) under the user's home, never in a ``~`` folder."""
    monkeypatch.setenv("HOME", str(governed))
    target = governed / "Downloads" / "home_board.csv"
    exc = seed_request("~/Downloads/home_board.csv")
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    customers.to_csv("~/Downloads/home_board.csv", exception_id=exc.id, encrypt=True,
                     index=False)
    assert target.read_bytes().startswith(b"LACUNAE1")
    assert not (governed / "~").exists()
    assert [f.path for f in current().exceptions.files(exc.id)] == [str(target)]
    back = pd.read_csv(io.BytesIO(lacuna.decrypt("~/Downloads/home_board.csv")))
    pd.testing.assert_frame_equal(back, customers)


def test_cli_says_when_user_id_in_the_config_overrides_lacuna_user(governed, monkeypatch):
    """README's `LACUNA_USER=jane lacuna exceptions approve ...` in a folder whose lacuna.yaml
    names the analyst: refused as the analyst, and the refusal says why it was not jane."""
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n"
        "user: {id: analyst_alice, role: data_analyst}\n"
        f"stewards: {{default: [{STEWARD}]}}\n"
        f"destinations: {{unmanaged: ['{governed / 'Downloads'}']}}\n"
    )
    runner = CliRunner()
    out = runner.invoke(app, ["exceptions", "request", str(governed / "Downloads" / "o.csv"),
                              "--purpose", PURPOSE, "--approver", STEWARD])
    assert out.exit_code == 0, out.output
    exc_id = out.output.split("Exception ID: ")[1].split()[0]
    monkeypatch.setenv("LACUNA_USER", STEWARD)
    refused = runner.invoke(app, ["exceptions", "approve", exc_id])
    assert refused.exit_code == 1
    flat = " ".join(refused.output.split())
    assert "analyst_alice filed exception" in flat
    assert (f"you acted as 'analyst_alice', not $LACUNA_USER='{STEWARD}': the configuration's "
            "user.id (lacuna.yaml) wins over $LACUNA_USER") in flat
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")  # no note when they agree
    again = runner.invoke(app, ["exceptions", "approve", exc_id])
    assert again.exit_code == 1
    assert "$LACUNA_USER" not in again.output


def test_cli_show_says_whether_each_file_is_on_disk(governed, monkeypatch):
    """A file recorded before its write (so the sweep knows it) is 'on disk' only if it is."""
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n"
        f"stewards: {{default: [{STEWARD}]}}\n"
        f"destinations: {{unmanaged: ['{governed / 'Downloads'}']}}\n"
    )
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    lacuna.enable(str(governed / "lacuna.yaml"))
    exc = seed_request(governed / "Downloads" / "x.csv")
    written, failed = governed / "Downloads" / "x.csv", governed / "Downloads" / "gone.csv"
    written.write_text("a\n1\n")
    for path in (written, failed):
        current().exceptions.record_file(exc.id, str(path), written_by="analyst_alice",
                                         encrypted=False)
    out = CliRunner().invoke(app, ["exceptions", "show", exc.id])
    assert out.exit_code == 0, out.output
    flat = " ".join(out.output.split())
    assert f"{written} (plain, analyst_alice): on disk" in flat
    assert f"{failed} (plain, analyst_alice): not on disk (the write failed" in flat


def test_sweep_says_a_moved_file_is_missing_not_deleted(governed, as_user, customers):
    """The user renamed the file written under the exception: the sweep cannot delete what is
    not at its path, and must not claim it did. It reports it missing (may have been moved),
    audits that once, keeps the record not deleted, and deletes it if it comes back."""
    from lacuna.exceptions.report import build

    target = governed / "Downloads" / "board_report.csv"
    exc = seed_request(target, hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    customers.to_csv(target, exception_id=exc.id, encrypt=True, index=False)
    moved = governed / "Downloads" / "renamed.csv"
    target.rename(moved)

    later = utcnow() + timedelta(hours=2)
    report = lacuna.sweep_exceptions(now=later)
    assert report.deleted == ()
    assert report.missing == (str(target),)
    assert "already deleted" not in str(report)
    assert f"missing  {target} (not found at its recorded path" in str(report)
    assert "may have been moved" in str(report)
    assert moved.exists()  # Lacuna searches nothing: it has no fingerprint of the file
    store = current().exceptions
    assert [f.deleted_at for f in store.files(exc.id)] == [None]  # not recorded as deleted
    history = store.get(exc.id).history
    assert [h.event for h in history] == ["requested", "approved", "file-missing", "expired"]
    assert "may have been moved" in (history[2].comment or "")
    assert "file-deleted" not in events_of(exc.id)
    assert events_of(exc.id, allowed=False) == ["file-missing"]
    compliance = build(current())
    built = compliance.to_dict()
    files = [f for i in built["exceptions"] if i["id"] == exc.id for f in i["files"]]
    assert files[0]["deleted_at"] is None
    assert files[0]["missing_since"] is not None
    assert built["files_not_deleted"] == 1
    assert "NOT DELETED (missing at its recorded path since" in compliance.text()

    # Still missing: reported again, audited and noted only once.
    again = lacuna.sweep_exceptions(now=later)
    assert again.missing == (str(target),)
    assert [h.event for h in store.get(exc.id).history].count("file-missing") == 1
    assert events_of(exc.id).count("file-missing") == 1
    # Moved back: the next sweep deletes it.
    moved.rename(target)
    back = lacuna.sweep_exceptions(now=later)
    assert back.deleted == (str(target),)
    assert not target.exists()
    assert store.files(exc.id)[0].deleted_at is not None
