"""The kernel session (lacuna.mount.kernel) with FUSE passthrough: the bytes of plain files in
governed storage go from the backing file to the program without this process, while every
open is still decided and audited, and the names, renames and unlinks the session keeps track
of stay right for files held open."""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from lacuna.audit import AuditStore
from lacuna.lineage.sidecar import read_sidecar
from lacuna.mount.kernel_dev import probe
from lacuna.storage.sealed import MAGIC

pytestmark = pytest.mark.xdist_group("mount")
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_LIBC.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


@pytest.fixture(scope="module")
def passthrough(mount):
    """The default mount, known to pass files through (skips where the kernel cannot)."""
    why = probe(str(mount.source))
    if why is not None:
        pytest.skip(f"no FUSE passthrough here: {why}")
    assert "transport: the kernel session with FUSE passthrough" in mount.log.read_text()
    return mount


def _written_by_mount(mount) -> int:
    """Bytes the mount process has written (its replies to the kernel among them)."""
    with open(f"/proc/{mount.pid}/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))


def _decisions(mount, source, action=None):
    store = AuditStore(mount.audit_url)
    try:
        return [r for r in store.list(limit=None) if r.kind == "decision"
                and str(source) in r.data["what"]["sources"]
                and (action is None or r.action == action)]
    finally:
        store.close()


def _name() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


def test_a_passthrough_read_returns_the_bytes_without_the_mount_copying_them(passthrough):
    m = passthrough
    data = random.Random(1).randbytes(24 << 20)
    name = _name()
    (m.source / f"{name}.bin").write_bytes(data)
    before = _written_by_mount(m)
    assert (m.mnt / f"{name}.bin").read_bytes() == data
    plain = _written_by_mount(m) - before
    assert plain < 1 << 20  # replies to LOOKUP/OPEN/...: never the 24 MiB
    assert [r.allowed for r in _decisions(m, m.source / f"{name}.bin", "read")] == [True]

    # the contrast that shows the measure works: a sealed file is decrypted by the mount
    (m.mnt / f"{name}-sealed.bin").write_bytes(data)
    before = _written_by_mount(m)
    assert (m.mnt / f"{name}-sealed.bin").read_bytes() == data
    assert _written_by_mount(m) - before >= len(data)


def test_many_programs_at_once_each_get_their_files_bytes(passthrough):
    """Concurrent opens (each decided) and reads, plain and sealed, from several threads."""
    m = passthrough
    rng = random.Random(9)
    files = {}
    for i in range(12):
        data = rng.randbytes(rng.randrange(1, 3 << 20))
        path = (m.source if i % 2 else m.mnt) / f"{_name()}-{i}.bin"  # half sealed
        path.write_bytes(data)
        files[m.mnt / path.name] = data

    def read(path):
        return path.read_bytes()

    with ThreadPoolExecutor(max_workers=12) as pool:
        for _ in range(2):
            got = dict(zip(files, pool.map(read, files), strict=True))
            assert got == files


def test_a_denied_open_is_still_eacces_and_audited(passthrough):
    m = passthrough
    name = _name()
    (m.source / "restricted" / f"{name}.csv").write_bytes((m.source / "customers.csv")
                                                          .read_bytes())
    for _ in range(2):
        with pytest.raises(PermissionError):
            (m.mnt / "restricted" / f"{name}.csv").read_bytes()
    denied = _decisions(m, m.source / "restricted" / f"{name}.csv", "read")
    assert [r.allowed for r in denied] == [False, False]
    assert denied[0].policy_id == "T-MOUNT-1"


def test_a_file_changed_behind_the_mounts_back_is_read_fresh_at_the_next_open(passthrough):
    m = passthrough
    path = m.source / f"{_name()}.bin"
    through = m.mnt / path.name
    rng = random.Random(2)
    for size in (300_000, 300_000, 1000):  # in place (same inode), same size, shorter
        data = rng.randbytes(size)
        path.write_bytes(data)
        assert through.read_bytes() == data
    # replaced by another file while the old one is held open through the mount
    with open(through, "rb") as held:
        fresh = rng.randbytes(5000)
        aside = path.with_suffix(".new")
        aside.write_bytes(fresh)
        os.replace(aside, path)
        assert through.read_bytes() == fresh  # a new open sees the new file at once
        assert held.read() == data  # the old open keeps the file it opened


def test_an_open_file_renamed_through_the_mount_keeps_reading(passthrough):
    m = passthrough
    (m.mnt / "work").mkdir(exist_ok=True)
    data = random.Random(3).randbytes(2 << 20)
    name = _name()
    (m.source / "work" / f"{name}.bin").write_bytes(data)
    with open(m.mnt / "work" / f"{name}.bin", "rb") as fh:
        head = fh.read(1 << 20)
        os.rename(m.mnt / "work" / f"{name}.bin", m.mnt / "work" / f"{name}-moved.bin")
        assert head + fh.read() == data
        assert os.fstat(fh.fileno()).st_size == len(data)
    assert not (m.mnt / "work" / f"{name}.bin").exists()
    assert (m.mnt / "work" / f"{name}-moved.bin").read_bytes() == data
    # a folder renamed: the files below it follow
    os.mkdir(m.mnt / "work" / name)
    os.rename(m.mnt / "work" / f"{name}-moved.bin", m.mnt / "work" / name / "inner.bin")
    os.rename(m.mnt / "work" / name, m.mnt / "work" / f"{name}-dir")
    assert (m.mnt / "work" / f"{name}-dir" / "inner.bin").read_bytes() == data


def test_an_open_file_unlinked_through_the_mount_keeps_reading(passthrough):
    m = passthrough
    data = random.Random(4).randbytes(1 << 20)
    name = _name()
    (m.source / f"{name}.bin").write_bytes(data)
    with open(m.mnt / f"{name}.bin", "rb") as fh:
        first = fh.read(1000)
        os.unlink(m.mnt / f"{name}.bin")
        assert not (m.mnt / f"{name}.bin").exists()
        assert not (m.source / f"{name}.bin").exists()
        (m.source / f"{name}.bin").write_bytes(b"another file of the same name")
        assert (m.mnt / f"{name}.bin").read_bytes() == b"another file of the same name"
        assert first + fh.read() == data  # still the unlinked file
        assert os.fstat(fh.fileno()).st_size == len(data)


@pytest.mark.parametrize("raw", [b" -x;rm -rf ~ .csv", "d\u00e9j\u00e0 vu.csv".encode(),
                                 b"n" * 230 + b".csv", b"a'b\"c$(id)`x`.csv"])
def test_odd_names_round_trip(passthrough, raw):
    m = passthrough
    folder = os.fsencode(m.mnt / "work")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, raw)
    content = b"region,n\nEMEA,3\n" + raw
    with open(path, "wb") as fh:
        fh.write(content)
    with open(path, "rb") as fh:
        assert fh.read() == content
    assert raw in os.listdir(folder)
    assert os.path.exists(os.path.join(os.fsencode(m.source / "work"), raw))
    os.rename(path, path + b".moved")
    with open(path + b".moved", "rb") as fh:
        assert fh.read() == content
    os.unlink(path + b".moved")
    assert raw not in os.listdir(folder)


@pytest.mark.parametrize("raw", [b"new\nline.csv", b"caf\xe9-latin1.csv", b"\x1b[31mred.csv"])
def test_names_lacuna_cannot_record_are_refused_and_nothing_is_written(passthrough, raw):
    """Control characters and names that are not UTF-8: the audit trail (control characters)
    or the labels and lineage records (not UTF-8) could not name the file, so the write is
    refused (fail closed), not written unrecorded."""
    m = passthrough
    folder = os.fsencode(m.mnt / "work")
    os.makedirs(folder, exist_ok=True)
    with pytest.raises(PermissionError), open(os.path.join(folder, raw), "wb") as fh:
        fh.write(b"region,n\nEMEA,3\n")
    assert raw not in os.listdir(os.fsencode(m.source / "work"))
    assert raw not in os.listdir(folder)


def test_times_before_1970_and_far_ahead_round_trip(passthrough):
    m = passthrough
    path = m.source / f"{_name()}.txt"
    path.write_text("region,n\n")
    for ns in (-86_400 * 365 * 10**9 - 123, 4_102_444_800 * 10**9 + 5):  # 1969, 2100
        os.utime(m.mnt / path.name, ns=(ns, ns))
        assert os.stat(m.mnt / path.name).st_mtime_ns == ns
        assert os.stat(path).st_mtime_ns == ns


def test_lookups_of_dot_names_and_the_staging_folder_fail_closed(passthrough):
    m = passthrough
    assert not (m.mnt / ".lacuna-staging").exists()
    with pytest.raises(FileNotFoundError):
        os.open(m.mnt / ".lacuna-staging" / "x", os.O_WRONLY | os.O_CREAT)
    assert (m.mnt / "outbox" / ".." / "customers.csv").read_bytes() == (
        m.source / "customers.csv").read_bytes()


def test_a_reader_keeps_the_plain_file_while_a_write_seals_a_new_one(passthrough):
    """Encrypted governed storage: a write to a plain file is staged and sealed on close,
    while a reader holds the plain file passed through. The kernel allows one mode per inode,
    so the writer's open moves the path to a new node (ESTALE, retried by the kernel); the
    reader keeps its file, the next open reads the sealed one."""
    m = passthrough
    rng = random.Random(8)
    data = rng.randbytes(1 << 20)
    path = m.source / f"{_name()}.bin"
    path.write_bytes(data)
    with open(m.mnt / path.name, "rb", buffering=0) as reader:
        head = reader.read(1000)
        with open(m.mnt / path.name, "r+b") as writer:  # staged: the mount serves this one
            writer.seek(5000)
            writer.write(b"written")
        assert head + reader.read() == data  # the file it opened
        assert os.fstat(reader.fileno()).st_nlink == 1
    changed = data[:5000] + b"written" + data[5007:]
    assert (m.mnt / path.name).read_bytes() == changed
    assert path.read_bytes().startswith(MAGIC)  # sealed on close


# -- writes passed through (governed storage not encrypted) --------------------------------------


def test_a_write_in_place_is_classified_and_decided_at_close(plain_mount):
    m = plain_mount
    if probe(str(m.source)) is not None:
        pytest.skip("no FUSE passthrough here")
    (m.mnt / "work").mkdir(exist_ok=True)
    target = m.mnt / "work" / f"{_name()}.csv"
    target.write_bytes(b"x")  # created (decided: no PII)
    first = read_sidecar(m.source / "work" / target.name)
    assert first is not None
    assert "PII" not in first.classification.tags
    with open(target, "r+b") as fh:  # opened in place: the kernel writes the backing file
        fh.write((m.source / "customers.csv").read_bytes())
    assert (m.source / "work" / target.name).read_bytes() == (
        m.source / "customers.csv").read_bytes()  # plain on disk: not encrypted here
    label = read_sidecar(m.source / "work" / target.name)
    assert label is not None
    assert "PII" in label.classification.tags  # the write the mount never saw, decided on close
    writes = _decisions_to(m, m.source / "work" / target.name)
    assert len(writes) >= 2
    assert all(r.allowed and r.action == "write" for r in writes)


def _decisions_to(mount, destination):
    store = AuditStore(mount.audit_url)
    try:
        return [r for r in store.list(limit=None) if r.kind == "decision"
                and r.destination == str(destination)]
    finally:
        store.close()


def test_a_reader_keeps_reading_while_another_writes_the_file_in_place(plain_mount):
    m = plain_mount
    if probe(str(m.source)) is not None:
        pytest.skip("no FUSE passthrough here")
    rng = random.Random(5)
    data = bytearray(rng.randbytes(2 << 20))
    path = m.source / f"{_name()}.bin"
    path.write_bytes(bytes(data))
    with open(m.mnt / path.name, "rb", buffering=0) as reader:
        head = reader.read(1 << 20)
        patch = rng.randbytes(4096)
        with open(m.mnt / path.name, "r+b", buffering=0) as writer:
            writer.seek((1 << 20) + 8192)
            writer.write(patch)
        data[(1 << 20) + 8192:(1 << 20) + 8192 + 4096] = patch
        assert head + reader.read() == bytes(data)  # one file, seen by both opens
    assert (m.mnt / path.name).read_bytes() == bytes(data)
    assert [r.allowed for r in _decisions_to(m, path)] == [True]


def test_a_write_to_the_outbox_is_still_staged_and_refused(plain_mount):
    m = plain_mount
    name = f"{_name()}.csv"
    result = m.run("cp", str(m.mnt / "customers.csv"), str(m.mnt / "outbox" / name))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert not (m.source / "outbox" / name).exists()


def test_a_write_through_a_mapping_after_close_is_decided_at_release(plain_mount):
    """The kernel writes a passed-through file's mapping itself: the mount sees neither the
    write nor (after close) a flush; release finds the file changed and decides it. (libc's
    mmap: Python's mmap keeps a duplicate descriptor, whose close would be a flush.)"""
    m = plain_mount
    if probe(str(m.source)) is not None:
        pytest.skip("no FUSE passthrough here")
    (m.mnt / "work").mkdir(exist_ok=True)
    pii = (m.source / "customers.csv").read_bytes()
    target = m.mnt / "work" / f"{_name()}.csv"
    target.write_bytes(b"n" * len(pii))  # no PII yet

    def tags() -> tuple[str, ...]:
        label = read_sidecar(m.source / "work" / target.name)
        assert label is not None
        return label.classification.tags

    fd = os.open(target, os.O_RDWR)
    addr = _LIBC.mmap(None, len(pii), mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value)
    os.close(fd)  # the last flush: decided, no PII
    assert "PII" not in tags()
    ctypes.memmove(addr, pii, len(pii))
    assert _LIBC.msync(ctypes.c_void_p(addr), len(pii), mmap.MS_SYNC if hasattr(mmap, "MS_SYNC")
                       else 4) == 0
    _LIBC.munmap(ctypes.c_void_p(addr), len(pii))  # the last reference: release
    deadline = time.monotonic() + 10
    while "PII" not in tags():
        assert time.monotonic() < deadline, "the write after close was never decided"
        time.sleep(0.05)
    assert (m.source / "work" / target.name).read_bytes() == pii
