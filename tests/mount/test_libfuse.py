"""The same governance through libfuse (``mount.passthrough: off``, mfusepy): the core denials
and round trips of the default transport, so the fallback stays a governed mount too."""

from __future__ import annotations

import random
import uuid

import pytest

from lacuna.audit import AuditStore
from lacuna.storage.sealed import MAGIC

pytestmark = pytest.mark.xdist_group("mount")


def _decisions(mount, **match):
    store = AuditStore(mount.audit_url)
    try:
        return [r for r in store.list(limit=None) if r.kind == "decision"
                and all(str(v) in (r.destination, *r.data["what"]["sources"])
                        for v in match.values())]
    finally:
        store.close()


def test_it_is_served_by_libfuse(libfuse_mount):
    assert "transport: libfuse (mfusepy); mount.passthrough is off" in (
        libfuse_mount.log.read_text())


def test_cp_of_pii_to_the_outbox_is_refused(libfuse_mount):
    m = libfuse_mount
    result = m.run("cp", str(m.mnt / "customers.csv"), str(m.mnt / "outbox" / "c.csv"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (m.source / "outbox" / "c.csv").exists()
    [denied] = _decisions(m, destination=m.source / "outbox" / "c.csv")
    assert not denied.allowed
    assert denied.action == "export"


def test_a_read_the_policy_denies_is_eacces_and_audited(libfuse_mount):
    m = libfuse_mount
    result = m.run("cat", str(m.mnt / "restricted" / "customers.csv"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    denied = _decisions(m, source=m.source / "restricted" / "customers.csv")
    assert denied
    assert not denied[0].allowed


def test_reads_and_writes_round_trip(libfuse_mount):
    m = libfuse_mount
    rng = random.Random(7)
    plain = rng.randbytes(3 << 20)
    (m.source / "plain.bin").write_bytes(plain)
    assert (m.mnt / "plain.bin").read_bytes() == plain
    (m.mnt / "work").mkdir(exist_ok=True)
    path = m.mnt / "work" / f"r-{uuid.uuid4().hex[:8]}.bin"
    content = rng.randbytes(700_000)
    path.write_bytes(content)
    assert path.read_bytes() == content
    assert (m.source / "work" / path.name).read_bytes().startswith(MAGIC)
    with open(path, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"patched")
    assert path.read_bytes() == content[:1000] + b"patched" + content[1007:]
