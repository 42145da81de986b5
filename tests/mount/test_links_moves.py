"""Links and moves reach no data without a decision: a name moved or linked out of a folder a
read policy refuses is refused, and nothing moved into an outside folder keeps a second way in
from governed storage (a hard link, a symbolic link, a descriptor open for writing)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from lacuna.audit import AuditStore

pytestmark = pytest.mark.xdist_group("mount")

PUBLIC = "city,visits\nOslo,3\nLima,5\n"


def _records(m, method, *, allowed=False):
    store = AuditStore(m.audit_url)
    try:
        return [r for r in store.list(limit=None) if r.kind == "decision"
                and r.allowed is allowed and r.data["how"]["method"] == method]
    finally:
        store.close()


def _sh(m, script):
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=m.mnt,
                          timeout=60, check=False)


def _public(m, tag):
    """A plaintext PUBLIC file in governed storage (put there as the data folder holds it)."""
    name = f"pub-{tag}.csv"
    (m.source / name).write_text(PUBLIC)
    return name


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_a_file_or_folder_a_read_policy_refuses_is_neither_linked_nor_moved_out(transport,
                                                                               request):
    m = request.getfixturevalue(transport)
    tag = uuid.uuid4().hex[:6]
    secret = m.source / "restricted" / "customers.csv"
    before = secret.read_bytes()
    assert m.run("cat", str(m.mnt / "restricted" / "customers.csv")).returncode != 0
    for cmd in (["ln", str(m.mnt / "restricted" / "customers.csv"), str(m.mnt / f"l-{tag}.csv")],
                ["mv", str(m.mnt / "restricted" / "customers.csv"), str(m.mnt / f"m-{tag}.csv")],
                ["mv", str(m.mnt / "restricted"), str(m.mnt / f"open-{tag}")]):
        result = m.run(*cmd)
        assert result.returncode != 0, cmd
        assert "Permission denied" in result.stderr
    assert secret.read_bytes() == before
    assert not any(p.name.endswith(tag) or tag in p.name for p in m.source.iterdir())
    for method in ("fuse.link", "fuse.rename"):
        found = [r for r in _records(m, method) if str(secret) in r.data["what"]["sources"]]
        assert found, method
        assert all(r.action == "read" and "data stewards" in r.reasoning for r in found)
    assert "DENIED read /restricted/customers.csv" in m.log.read_text()


@pytest.mark.parametrize("transport", ["mount", "plain_mount"])
def test_a_public_file_moves_and_links_within_the_mount_and_out_byte_for_byte(transport,
                                                                              request):
    m = request.getfixturevalue(transport)
    tag = uuid.uuid4().hex[:6]
    name = _public(m, tag)
    assert m.run("ln", str(m.mnt / name), str(m.mnt / f"ln-{tag}.csv")).returncode == 0
    assert (m.mnt / f"ln-{tag}.csv").read_text() == PUBLIC
    assert m.run("rm", str(m.mnt / f"ln-{tag}.csv")).returncode == 0
    assert m.run("mv", str(m.mnt / name), str(m.mnt / f"mv-{tag}.csv")).returncode == 0
    result = m.run("mv", str(m.mnt / f"mv-{tag}.csv"), str(m.mnt / "outbox" / name))
    assert result.returncode == 0, result.stderr
    assert (m.source / "outbox" / name).read_text() == PUBLIC
    assert (m.mnt / "outbox" / name).read_text() == PUBLIC
    assert [r for r in _records(m, "fuse.rename", allowed=True)
            if str(m.source / f"mv-{tag}.csv") in r.data["what"]["sources"]]


@pytest.mark.parametrize("transport", ["mount", "plain_mount"])
def test_a_symbolic_link_is_not_moved_into_the_outbox(transport, request):
    m = request.getfixturevalue(transport)
    tag = uuid.uuid4().hex[:6]
    name = _public(m, tag)
    for link in (str(m.source / name), name):  # pointing at the backing file, or relative
        result = _sh(m, f"ln -s {link} s-{tag}.csv && mv s-{tag}.csv outbox/")
        assert result.returncode != 0
        assert "Permission denied" in result.stderr
        assert not os.path.lexists(m.source / "outbox" / f"s-{tag}.csv")
        assert (m.source / f"s-{tag}.csv").is_symlink()
        os.unlink(m.source / f"s-{tag}.csv")
    found = [r for r in _records(m, "fuse.rename")
             if r.destination == str(m.source / "outbox" / f"s-{tag}.csv")]
    assert len(found) == 2
    assert all(r.policy_id == "lacuna.mount" and "symbolic link" in r.reasoning for r in found)


def test_a_hard_linked_file_is_not_moved_into_the_outbox(plain_mount):
    m = plain_mount
    tag = uuid.uuid4().hex[:6]
    name = _public(m, tag)
    # both names one file: what is later written through the first would arrive outside
    result = _sh(m, f"ln {name} b-{tag}.csv && mv b-{tag}.csv outbox/")
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (m.source / "outbox" / f"b-{tag}.csv").exists()
    assert _sh(m, f"cat customers.csv >> {name}").returncode == 0  # governed: allowed
    [rec] = [r for r in _records(m, "fuse.rename")
             if r.destination == str(m.source / "outbox" / f"b-{tag}.csv")]
    assert rec.policy_id == "lacuna.mount"
    assert "hard link" in rec.reasoning


def test_an_outside_file_is_not_hard_linked_into_governed_storage(plain_mount):
    m = plain_mount
    tag = uuid.uuid4().hex[:6]
    out = m.source / "outbox" / f"o-{tag}.csv"
    out.write_text(PUBLIC)
    result = m.run("ln", str(m.mnt / "outbox" / out.name), str(m.mnt / f"g-{tag}.csv"))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (m.source / f"g-{tag}.csv").exists()
    # a write in place to the governed name would have changed the exported file
    _sh(m, f"cat customers.csv > g-{tag}.csv")
    assert out.read_text() == PUBLIC
    [rec] = [r for r in _records(m, "fuse.link") if r.destination == str(out)]
    assert rec.action == "export"
    assert rec.policy_id == "lacuna.mount"


def test_a_file_open_for_writing_is_not_moved_into_the_outbox(plain_mount):
    m = plain_mount
    tag = uuid.uuid4().hex[:6]
    # written in place (passed through): a descriptor kept open would write to it out there
    result = _sh(m, f"exec 3>w-{tag}.csv; echo 'p,q' >&3; mv w-{tag}.csv outbox/; "
                    "cat customers.csv >&3; exec 3>&-")
    assert "Permission denied" in result.stderr
    assert not (m.source / "outbox" / f"w-{tag}.csv").exists()
    assert "@" in (m.source / f"w-{tag}.csv").read_text()  # governed storage: allowed
    [rec] = [r for r in _records(m, "fuse.rename")
             if r.destination == str(m.source / "outbox" / f"w-{tag}.csv")]
    assert "open for writing" in rec.reasoning


MAPPED = """\
import mmap, os, subprocess, sys
path, outbox, pii = sys.argv[1:]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, (b"city,visits\\n" + b"Oslo,3\\n" * 600)[:4096])  # PUBLIC when it is moved
mm = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
os.close(fd)  # the mapping outlives the descriptor
moved = subprocess.run(["mv", path, outbox], capture_output=True, text=True)
data = open(pii, "rb").read()[:4000]
mm[:len(data)] = data
mm.flush()
mm.close()
print(moved.returncode)
"""


def test_a_file_mapped_for_writing_is_not_moved_into_the_outbox(plain_mount):
    m = plain_mount
    name = f"mm-{uuid.uuid4().hex[:6]}.csv"
    result = m.run(sys.executable, "-c", MAPPED, str(m.mnt / name), str(m.mnt / "outbox"),
                   str(m.mnt / "customers.csv"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() != "0"  # mv refused
    assert not (m.source / "outbox" / name).exists()
    [rec] = [r for r in _records(m, "fuse.rename")
             if r.destination == str(m.source / "outbox" / name)]
    assert "open for writing" in rec.reasoning


@pytest.mark.parametrize("transport", ["mount", "libfuse_mount"])
def test_a_name_removed_or_moved_while_a_program_writes_it_acts_at_once(transport, request):
    """rm and mv act on the name while a program still writes the file (its write staged in
    the outbox until its close): rm failed (nothing published yet) and the close published
    the file anyway; mv failed the same way (see test_release_race for every ordering)."""
    m = request.getfixturevalue(transport)
    tag = uuid.uuid4().hex[:6]
    result = _sh(m, f"exec 3> outbox/rm-{tag}.csv; echo 'city,visits' >&3; "
                    f"rm outbox/rm-{tag}.csv; ls outbox; echo 'Oslo,3' >&3; exec 3>&-; "
                    f"exec 4> outbox/mv-{tag}.csv; echo 'city,visits' >&4; "
                    f"mv outbox/mv-{tag}.csv outbox/moved-{tag}.csv; echo 'Lima,5' >&4; "
                    "exec 4>&-")
    assert result.returncode == 0, result.stderr
    assert f"rm-{tag}.csv" not in result.stdout.split()
    m.settled()
    assert not (m.source / "outbox" / f"rm-{tag}.csv").exists()
    assert not (m.source / "outbox" / f"mv-{tag}.csv").exists()
    assert (m.mnt / "outbox" / f"moved-{tag}.csv").read_text() == "city,visits\nLima,5\n"
