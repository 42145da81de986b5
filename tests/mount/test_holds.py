"""Legal holds through the mount: held data is not deleted, moved away, replaced or changed.

Every refusal is EACCES for the program and a decision on the audit trail naming the hold (its
id, reason and who placed it) and how to proceed; reading stays allowed, and once the hold is
released the same operations go through. Holds are placed while the mount runs (the mount
reads them again when they change), with the same CLI as retention.
"""

from __future__ import annotations

import os
import sqlite3
import uuid

import pytest
from typer.testing import CliRunner

from lacuna.audit import AuditStore

pytestmark = pytest.mark.xdist_group("mount")

TRANSPORTS = ["mount", "libfuse_mount", "plain_mount"]


def _cli(m, monkeypatch, *args):
    from lacuna.cli import app

    monkeypatch.setenv("LACUNA_HOME", str(m.root / "home"))  # the mount's trail signing key
    result = CliRunner().invoke(app, ["retention", *args, "--config", str(m.config)])
    assert result.exit_code == 0, result.output
    return result.output


def _hold(m, monkeypatch, path, reason):
    return _cli(m, monkeypatch, "hold", str(path), "--reason", reason).split()[1]


def _refusals(m, hold_id):
    store = AuditStore(m.audit_url)
    try:
        return [
            r
            for r in store.list(limit=None)
            if r.kind == "decision" and not r.allowed and r.policy_id == f"retention.hold.{hold_id}"
        ]
    finally:
        store.close()


def _assert_refused(m, hold_id, method, reason, count=1):
    found = [r for r in _refusals(m, hold_id) if r.data["how"]["method"] == method]
    assert len(found) == count, [
        (r.data["how"]["method"], r.reasoning) for r in _refusals(m, hold_id)
    ]
    for rec in found:
        assert rec.action == "write"
        assert rec.user_id == "analyst_alice"
        assert f"legal hold {hold_id}" in rec.reasoning
        assert repr(reason) in rec.reasoning
        assert "placed by analyst_alice" in rec.reasoning
        assert f"lacuna retention release {hold_id}" in rec.reasoning
    return found


def _new_file(m, folder=""):
    name = f"held-{uuid.uuid4().hex[:8]}.csv"
    rel = os.path.join(folder, name) if folder else name
    content = b"id,note\n1,evidence kept as it is\n"
    (m.source / rel).write_bytes(content)
    return rel, content


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_held_file_is_not_removed_moved_replaced_or_written(transport, request, monkeypatch):
    m = request.getfixturevalue(transport)
    rel, content = _new_file(m)
    other, _ = _new_file(m)
    mnt, src = m.mnt / rel, m.source / rel
    # before the hold (and so before the mount read any): an edit goes through
    with open(mnt, "ab") as out:
        out.write(b"2,added before the hold\n")
    content += b"2,added before the hold\n"
    assert mnt.read_bytes() == content
    reason = f"litigation {uuid.uuid4().hex[:6]}"
    hold = _hold(m, monkeypatch, src, reason)
    on_disk = src.read_bytes()  # (sealed by the edit, on the encrypting mount)

    with pytest.raises(PermissionError):
        os.unlink(mnt)
    with pytest.raises(PermissionError):
        os.rename(mnt, m.mnt / f"moved-{rel}")
    with pytest.raises(PermissionError):
        os.rename(m.mnt / other, mnt)  # replaced by another file
    for mode in ("wb", "ab", "r+b"):
        with pytest.raises(PermissionError):
            open(mnt, mode).close()
    with pytest.raises(PermissionError):
        os.truncate(mnt, 0)
    label = m.source / f".{rel}.lacuna.json"  # its label (classification, clock) stays too
    label_bytes = label.read_bytes()
    with pytest.raises(PermissionError):
        os.unlink(m.mnt / label.name)
    # nothing changed; reading it stays allowed
    assert src.read_bytes() == on_disk
    assert label.read_bytes() == label_bytes
    assert mnt.read_bytes() == content
    assert (m.source / other).exists()
    assert not (m.source / f"moved-{rel}").exists()
    recs = _assert_refused(m, hold, "fuse.unlink", reason, count=2)
    assert any(f"is the label of {rel}, which is under legal hold" in r.reasoning for r in recs)
    _assert_refused(m, hold, "fuse.rename", reason, count=2)
    _assert_refused(m, hold, "fuse.open", reason, count=3)
    _assert_refused(m, hold, "fuse.truncate", reason)
    assert f"legal hold {hold}" in m.log.read_text()

    _cli(m, monkeypatch, "release", hold)
    with open(mnt, "ab") as out:
        out.write(b"3,after the release\n")
    assert mnt.read_bytes() == content + b"3,after the release\n"
    mnt.write_bytes(b"id,note\n9,rewritten\n")
    assert mnt.read_bytes() == b"id,note\n9,rewritten\n"
    os.rename(mnt, m.mnt / f"moved-{rel}")
    assert (m.mnt / f"moved-{rel}").read_bytes() == b"id,note\n9,rewritten\n"
    os.unlink(m.mnt / f"moved-{rel}")
    assert not (m.source / f"moved-{rel}").exists()
    assert len(_refusals(m, hold)) == 8


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_a_held_folder_and_a_folder_holding_it_are_kept(transport, request, monkeypatch):
    m = request.getfixturevalue(transport)
    case = f"case-{uuid.uuid4().hex[:6]}"
    (m.source / case / "legal" / "empty").mkdir(parents=True)
    rel, content = _new_file(m, f"{case}/legal")
    loose, loose_content = _new_file(m, case)  # beside the held folder: not held
    reason = "regulator request"
    hold = _hold(m, monkeypatch, m.source / case / "legal", reason)

    with pytest.raises(PermissionError):
        os.unlink(m.mnt / rel)
    with pytest.raises(PermissionError):
        os.rename(m.mnt / rel, m.mnt / case / "out.csv")  # moved away from the held folder
    with pytest.raises(PermissionError):
        open(m.mnt / rel, "wb").close()
    with pytest.raises(PermissionError):
        os.rmdir(m.mnt / case / "legal" / "empty")
    with pytest.raises(PermissionError):
        os.rename(m.mnt / case / "legal", m.mnt / case / "legal-old")
    with pytest.raises(PermissionError):  # not ENOTEMPTY: it holds held data
        os.rmdir(m.mnt / case)
    with pytest.raises(PermissionError):
        os.rename(m.mnt / case, m.mnt / f"{case}-old")
    assert (m.source / rel).read_bytes() == content
    assert (m.mnt / rel).read_bytes() == content
    assert (m.source / case / "legal" / "empty").is_dir()
    assert not (m.source / f"{case}-old").exists()
    _assert_refused(m, hold, "fuse.unlink", reason)
    _assert_refused(m, hold, "fuse.rename", reason, count=3)
    _assert_refused(m, hold, "fuse.open", reason)
    recs = _assert_refused(m, hold, "fuse.rmdir", reason, count=2)
    assert any(f"/{case} holds data under legal hold" in r.reasoning for r in recs)

    # a file beside the held folder is not held
    with open(m.mnt / loose, "ab") as out:
        out.write(b"2,more\n")
    assert (m.mnt / loose).read_bytes() == loose_content + b"2,more\n"
    os.unlink(m.mnt / loose)
    assert not (m.source / loose).exists()

    _cli(m, monkeypatch, "release", str(m.source / case / "legal"))
    os.rmdir(m.mnt / case / "legal" / "empty")
    os.rename(m.mnt / rel, m.mnt / case / "out.csv")
    assert (m.mnt / case / "out.csv").read_bytes() == content
    os.rename(m.mnt / case, m.mnt / f"{case}-old")
    assert (m.source / f"{case}-old" / "out.csv").read_bytes() == content
    assert len(_refusals(m, hold)) == 7


def test_a_staged_write_open_when_the_hold_is_placed_is_refused_at_close(mount, monkeypatch):
    """A file opened for writing before its hold (sealed storage stages it): its close does
    not put the new content in place."""
    m = mount
    rel, content = _new_file(m)
    out = open(m.mnt / rel, "ab")  # noqa: SIM115
    try:
        out.write(b"2,written while the hold is placed\n")
        hold = _hold(m, monkeypatch, m.source / rel, "late hold")
    finally:
        with pytest.raises(PermissionError):
            out.close()
    assert (m.source / rel).read_bytes() == content
    assert (m.mnt / rel).read_bytes() == content
    _assert_refused(m, hold, "fuse.write", "late hold")
    _cli(m, monkeypatch, "release", hold)


def test_a_hold_the_table_lost_still_holds_and_a_hand_made_row_keeps_data(plain_mount, monkeypatch):
    """The holds retention obeys: one placed on the audit trail whose row was removed by hand
    still holds; a row the trail does not bear out keeps data too (fail closed), saying so."""
    m = plain_mount
    rel, content = _new_file(m)
    hold = _hold(m, monkeypatch, m.source / rel, "trail hold")
    db = sqlite3.connect(m.audit_url.removeprefix("sqlite:///"))
    with db:
        db.execute("DELETE FROM lacuna_retention_holds WHERE id = ?", (hold,))
    with pytest.raises(PermissionError):
        os.unlink(m.mnt / rel)
    assert (m.source / rel).read_bytes() == content
    _assert_refused(m, hold, "fuse.unlink", "trail hold")

    forged, forged_content = _new_file(m)
    with db:
        db.execute(
            "INSERT INTO lacuna_retention_holds (id, dataset, reason, placed_by, "
            "placed_at) VALUES ('f0f0', ?, 'by hand', 'mallory', '2026-01-01 00:00:00')",
            (str(m.source / forged),),
        )
    try:
        with pytest.raises(PermissionError):
            os.rename(m.mnt / forged, m.mnt / f"x-{forged}")
        [rec] = [r for r in _refusals(m, "f0f0") if r.data["how"]["method"] == "fuse.rename"]
        assert "placed by mallory" in rec.reasoning
        assert "does not bear it out" in rec.reasoning
        assert (m.source / forged).read_bytes() == forged_content
    finally:
        with db:
            db.execute("DELETE FROM lacuna_retention_holds WHERE id = 'f0f0'")
        db.close()
    _cli(m, monkeypatch, "release", hold)  # released on the trail: the file goes
    os.rename(m.mnt / forged, m.mnt / f"x-{forged}")
    os.unlink(m.mnt / rel)
    assert not (m.source / rel).exists()
    assert (m.source / f"x-{forged}").read_bytes() == forged_content


def _governance(sandbox, sandbox_config):
    from lacuna.governor import Governor
    from lacuna.mount.decide import MountGovernance
    from lacuna.mount.layout import MountLayout, mount_config

    source, mnt = sandbox / "governed" / "workspace", sandbox / "mnt"
    mnt.mkdir()
    layout = MountLayout.of(source, mnt)
    return MountGovernance(Governor(mount_config(sandbox_config(), layout)), layout)


def test_holds_are_read_again_only_when_they_change(sandbox, sandbox_config, monkeypatch):
    """The trail is scanned for holds once, and again only after a hold is placed or
    released (or the holds table changes): not per file-system call."""
    from lacuna.retention import api

    governance = _governance(sandbox, sandbox_config)
    (sandbox / "governed" / "workspace" / "a.csv").write_text("id\n1\n")
    scans = []
    real = api.active_holds
    monkeypatch.setattr(api, "active_holds", lambda ctx: scans.append(1) or real(ctx))

    def keep():
        governance.keep_held("remove /a.csv", ("/a.csv",), os.getpid(), method="fuse.unlink")

    for _ in range(5):
        keep()
    assert len(scans) == 1
    hold = api.place_hold(
        governance.gov, str(sandbox / "governed" / "workspace" / "a.csv"), reason="audit 7"
    )
    for _ in range(3):
        with pytest.raises(PermissionError, match=f"legal hold {hold.id}"):
            keep()
    assert len(scans) == 2
    api.release_hold(governance.gov, hold.id)
    keep()
    keep()
    assert len(scans) == 3
    # a placement through the mount's own path is compared as the file behind it
    hold = api.place_hold(governance.gov, str(sandbox / "governed" / "workspace"), reason="audit 8")
    with sqlite3.connect(sandbox / "audit.db") as db:
        db.execute(
            "UPDATE lacuna_retention_holds SET dataset = ? WHERE id = ?",
            (str(sandbox / "mnt" / "a.csv"), hold.id),
        )
    with pytest.raises(
        PermissionError,
        match=f"legal hold {hold.id} on {sandbox / 'governed' / 'workspace' / 'a.csv'}",
    ):
        keep()


def test_holds_that_cannot_be_read_refuse_and_say_so(sandbox, sandbox_config, monkeypatch):
    from lacuna.audit import AuditStore
    from lacuna.errors import GovernanceViolation

    governance = _governance(sandbox, sandbox_config)

    def broken():
        msg = "database is locked"
        raise sqlite3.OperationalError(msg)

    monkeypatch.setattr(governance.keeping(), "mark", broken)
    with pytest.raises(GovernanceViolation) as caught:
        governance.keep_held("remove /a.csv", ("/a.csv",), os.getpid(), method="fuse.unlink")
    message = caught.value.decision.reasoning
    assert "the legal holds could not be read (OperationalError: database is locked)" in message
    assert "fail closed" in message
    store = AuditStore(f"sqlite:///{sandbox / 'audit.db'}")
    try:
        [rec] = [r for r in store.list(limit=None) if r.kind == "decision" and not r.allowed]
    finally:
        store.close()
    assert rec.data["how"]["method"] == "fuse.unlink"
    assert "could not be read" in rec.reasoning
