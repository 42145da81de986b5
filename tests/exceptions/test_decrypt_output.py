"""``lacuna decrypt FILE -o OUT`` (``lacuna.decrypt(path, output)``): the plaintext copy of a
file written with ``encrypt=True``, tried as the user who holds the exception and as someone
who can make links and files in OUT's folder.

Before: OUT was opened with ``O_CREAT|O_TRUNC`` (links followed, an existing file written
into, its owner kept) and got no sidecar (codes whose class came from their lineage read back
PUBLIC from it). Now OUT is a new file of mode 0600 renamed into place (as ``lacuna storage
cat -o``'s copy: :func:`lacuna.storage.access.write_plaintext_copy`), labelled with the class
the encrypted file was written as and its data's clock, and recorded under the exception for
the sweep; a device (``/dev/stdout``) is written as it is."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import lacuna
from lacuna.errors import LacunaError, StorageError
from lacuna.governor import current
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.model import Tier, utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"
ATTACKER_UID = 65534  # nobody: someone else who can write OUT's folder


@pytest.fixture
def as_user(sandbox_config, governed):
    def switch(user_id: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]}))

    switch("analyst_alice")
    return switch


@pytest.fixture
def granted(as_user, governed):
    """Codes derived from e-mail addresses (PROPRIETARY, PII by their lineage; their values
    alone look PUBLIC), written encrypted under an approved exception. Yields the encrypted
    file, the exception's id and the codes."""
    customers = pd.read_csv("customers.csv")
    codes = customers.assign(n=customers["email"].str.len() % 10)[["n"]]
    assert codes.lacuna_classification.tier is Tier.PROPRIETARY  # type: ignore[attr-defined]
    target = governed / "Downloads" / "codes.csv"
    exc = lacuna.request_exception(data=codes, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    codes.to_csv(target, exception_id=exc.id, encrypt=True, index=False)
    return target, exc.id, codes


def _cli(governed: Path, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    from lacuna.cli import app

    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n"
        f"stewards: {{default: [{STEWARD}]}}\n"
        f"destinations: {{unmanaged: ['{governed / 'Downloads'}'], "
        f"governed: ['{governed / 'governed' / 'workspace'}/']}}\n")
    monkeypatch.setenv("LACUNA_USER", "analyst_alice")
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        lacuna.disable()


def _cannot_sign(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Signing fails (the installation's key unreadable); verifying still works."""
    from lacuna.lineage import sidecar

    real = sidecar._signer()

    class Unreadable:
        verify = staticmethod(real.verify)

        @staticmethod
        def sign(body):  # type: ignore[no-untyped-def]
            raise LacunaError("the signing key under $LACUNA_HOME cannot be read")

    monkeypatch.setattr(sidecar, "_signer", Unreadable)


def _private_file(path: Path) -> os.stat_result:
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    return st


def test_decrypted_copy_reads_back_as_it_was_written(granted, governed, monkeypatch, as_user):
    """The allowed round trip through the command: the same bytes, a private file, a signed
    sidecar with the encrypted file's class and clock; read back, the codes are PROPRIETARY
    with PII (they read PUBLIC before: no sidecar); the sweep deletes the copy with the file."""
    target, exc_id, codes = granted
    written_as = read_sidecar(target)  # signed when the encrypted file was written
    assert written_as is not None
    assert written_as.trusted
    plain = lacuna.decrypt(target)
    lacuna.disable()
    out = governed / "plain.csv"
    result = _cli(governed, monkeypatch, "decrypt", str(target), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == plain
    _private_file(out)
    label = read_sidecar(out)
    assert label is not None
    assert label.trusted
    assert label.classification.tier is written_as.classification.tier
    assert set(written_as.classification.tags) <= set(label.classification.tags)
    assert label.first_seen == written_as.first_seen  # the data's clock, not the copy's
    assert label.sources == (str(target),)
    as_user("analyst_alice")
    (copy,) = [f for f in current().exceptions.files(exc_id) if f.path == str(out)]
    assert copy.identity is not None  # recorded under the exception: what was written
    back = pd.read_csv(out)
    assert back["n"].tolist() == codes["n"].tolist()
    read_as = back.lacuna_classification  # type: ignore[attr-defined]
    assert read_as.tier is written_as.classification.tier
    assert "PII" in read_as.tags
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert {str(target), str(out)} <= set(report.deleted)
    assert not out.exists()


def test_a_link_in_the_output_folder_is_replaced_never_written_through(granted, governed):
    """An attacker's link at OUT to a file elsewhere (theirs to read, or one to destroy): the
    plaintext lands in a new file at OUT, the link's target is untouched."""
    target, _, _ = granted
    victim = governed / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    out = governed / "plain.csv"
    out.symlink_to(victim)
    plain = lacuna.decrypt(target, out)
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    _private_file(out)
    assert out.read_bytes() == plain
    assert read_sidecar(out) is not None


def test_a_link_made_after_the_copy_is_recorded_is_not_followed(granted, governed,
                                                                 monkeypatch):
    """The link check at the record (``remember``) was not the write: a link put at OUT
    between the two was followed (the victim overwritten, chmod 600). The write itself never
    follows one now."""
    from lacuna.exceptions import files

    target, _, _ = granted
    victim = governed / "victim.txt"
    victim.write_text("precious\n")
    out = governed / "plain.csv"
    recorded = files.remember

    def then_a_link(*args, **kwargs):  # type: ignore[no-untyped-def]
        record = recorded(*args, **kwargs)
        out.symlink_to(victim)  # the attacker wins the race
        return record

    monkeypatch.setattr(files, "remember", then_a_link)
    plain = lacuna.decrypt(target, out)
    assert victim.read_text() == "precious\n"
    _private_file(out)
    assert out.read_bytes() == plain


def test_a_file_encrypted_without_an_exception_is_not_written_through_a_link(as_user,
                                                                             governed):
    """A file sealed without an exception has no record step at all: its writer's copy
    followed a link at OUT with no check."""
    target = governed / "regions.csv"
    pd.DataFrame({"region": ["AMER", "APAC"]}).to_csv(target, encrypt=True, index=False)
    victim = governed / "victim.txt"
    victim.write_text("precious\n")
    out = governed / "plain.csv"
    out.symlink_to(victim)
    plain = lacuna.decrypt(target, out)
    assert victim.read_text() == "precious\n"
    _private_file(out)
    assert out.read_bytes() == plain == b"region\nAMER\nAPAC\n"


def test_an_existing_file_is_replaced_not_written_into(granted, governed):
    """OUT already there: one of two hard links (the other name, elsewhere, received the
    plaintext) and, as root, a world-writable file another user owns (they kept it, and could
    chmod it back and read it). Now OUT is a new file of ours; the old ones keep their bytes;
    the sweep deletes the copy, never the other name."""
    target, _, _ = granted
    elsewhere = governed / "Downloads" / "shared.csv"
    elsewhere.write_text("old\n")
    out = governed / "plain.csv"
    os.link(elsewhere, out)
    old_inode = out.stat().st_ino
    plain = lacuna.decrypt(target, out)
    assert elsewhere.read_text() == "old\n"
    assert _private_file(out).st_ino != old_inode
    assert out.read_bytes() == plain
    if os.geteuid() == 0:
        planted = governed / "planted.csv"
        planted.write_text("old\n")
        planted.chmod(0o666)
        os.chown(planted, ATTACKER_UID, ATTACKER_UID)
        assert lacuna.decrypt(target, planted) == plain
        _private_file(planted)  # ours, 0600
        assert planted.read_bytes() == plain
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert str(out) in report.deleted
    assert elsewhere.read_text() == "old\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="a pipe of another user needs root to make")
def test_a_pipe_another_user_made_at_the_output_is_refused(granted, governed):
    target, exc_id, _ = granted
    out = governed / "plain.csv"
    os.mkfifo(out)
    os.chown(out, ATTACKER_UID, ATTACKER_UID)
    with pytest.raises(StorageError, match=r"made by another user \(uid 65534\)"):
        lacuna.decrypt(target, out)
    assert [f.path for f in current().exceptions.files(exc_id)] == [str(target)]


def test_when_the_sidecar_cannot_be_signed_no_plaintext_is_left(granted, governed,
                                                                monkeypatch):
    """Signing fails (the installation's key unreadable): the copy is removed, the error says
    what and how to fix it, and its record under the exception is closed, so the sweep neither
    reports a missing file nor has one to delete."""
    target, exc_id, _ = granted

    _cannot_sign(monkeypatch)
    out = governed / "plain.csv"
    with pytest.raises(StorageError, match="was not left at") as err:
        lacuna.decrypt(target, out)
    assert "signing key" in str(err.value)
    assert not out.exists()
    assert not sidecar_path(out).exists()
    assert [p.name for p in governed.iterdir() if p.name.startswith(".plain")] == []
    (closed,) = [f for f in current().exceptions.files(exc_id) if f.path == str(out)]
    assert closed.deleted_at is not None  # file-discarded: nothing there to answer for
    monkeypatch.undo()
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert report.deleted == (str(target),)
    assert not any(str(out) in f for f in report.failed)
    assert not any(str(out) in m for m in report.missing)


def test_the_command_says_why_when_the_sidecar_cannot_be_signed(granted, governed,
                                                                monkeypatch):
    target, _, _ = granted
    lacuna.disable()

    _cannot_sign(monkeypatch)
    out = governed / "plain.csv"
    result = _cli(governed, monkeypatch, "decrypt", str(target), "-o", str(out))
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "refused:" in flat
    assert f"was not left at {out}" in flat
    assert not out.exists()


def test_a_device_is_written_as_it_is_and_not_recorded(granted, governed):
    """``-o /dev/null`` (as ``/dev/stdout``): written where it leads, no file made in /dev,
    nothing recorded under the exception for the sweep to delete (a link there was refused
    under an exception before)."""
    target, exc_id, _ = granted
    assert lacuna.decrypt(target, "/dev/null") == lacuna.decrypt(target)
    assert [f.path for f in current().exceptions.files(exc_id)] == [str(target)]


def test_the_command_writes_to_dev_stdout(granted, governed):
    target, _, _ = granted
    plain = lacuna.decrypt(target)
    lacuna.disable()
    (governed / "lacuna.yaml").write_text(
        f"audit: {{url: 'sqlite:///{governed / 'audit.db'}'}}\n"
        f"stewards: {{default: [{STEWARD}]}}\n")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "LACUNA_USER": "analyst_alice",
           "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for extra in (["-o", "/dev/stdout"], []):
        done = subprocess.run([sys.executable, "-m", "lacuna", "decrypt", str(target), *extra],
                              cwd=governed, env=env, capture_output=True, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout == plain
