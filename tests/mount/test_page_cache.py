"""The kernel's page cache for the mount (``auto_cache``) never outlives a decision or the data:
every open is still decided (a denied open is EACCES while the file's pages are cached), a file
changed behind the mount's back is read fresh, and what is written through the mount is what
is read back."""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import uuid

import pytest

from lacuna.audit import AuditStore
from lacuna.storage.sealed import MAGIC

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_MAP_FAILED = ctypes.c_void_p(-1).value


def cached_pages(path) -> int:
    """How many of ``path``'s pages are in the page cache: ``mincore`` on a mapping of it
    (mapping and asking read nothing). Opening it is an open like any other (decided)."""
    size = os.path.getsize(path)
    pages = -(-size // mmap.PAGESIZE)
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            vec = (ctypes.c_ubyte * pages)()
            if _LIBC.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
            return sum(b & 1 for b in vec)
        finally:
            _LIBC.munmap(addr, size)
    finally:
        os.close(fd)


def _read_decisions(mount, source):
    store = AuditStore(mount.audit_url)
    try:
        return [r for r in store.list(limit=None) if r.kind == "decision"
                and r.action == "read" and str(source) in r.data["what"]["sources"]]
    finally:
        store.close()


def test_a_denied_open_is_denied_while_the_files_pages_are_cached(mount):
    name = f"cache-{uuid.uuid4().hex[:8]}.csv"
    (mount.source / "shared").mkdir(exist_ok=True)
    (mount.source / "shared" / name).write_bytes((mount.source / "customers.csv").read_bytes())
    allowed, denied = mount.mnt / "shared" / name, mount.mnt / "restricted" / name
    expected = (mount.source / "customers.csv").read_bytes()
    assert allowed.read_bytes() == expected  # allowed: decided, read, its pages now cached
    assert cached_pages(allowed) == -(-len(expected) // mmap.PAGESIZE)

    os.rename(allowed, denied)  # same file (same pages, size and mtime), now under restricted/
    result = mount.run("cat", str(denied))
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    assert result.stdout == ""
    refused = _read_decisions(mount, mount.source / "restricted" / name)
    assert [r.allowed for r in refused] == [False]
    assert refused[0].policy_id == "T-MOUNT-1"

    with pytest.raises(PermissionError):  # nor moved out of restricted/ through the mount
        os.rename(denied, allowed)
    os.rename(mount.source / "restricted" / name, mount.source / "shared" / name)
    assert allowed.read_bytes() == expected  # allowed again where it is allowed
    # every open decided and recorded (two reads and one mapping for mincore), and the move
    # into restricted/ as a read of what it carried: all allowed
    allowed_reads = _read_decisions(mount, mount.source / "shared" / name)
    assert [(r.allowed, r.data["how"]["method"]) for r in allowed_reads] == [
        (True, "fuse.open"), (True, "fuse.rename"), (True, "fuse.open"), (True, "fuse.open")]


def test_a_change_behind_the_mounts_back_is_read_at_the_next_open(mount):
    path = mount.source / f"behind-{uuid.uuid4().hex[:8]}.bin"
    first = random.Random(4).randbytes(300_000)
    path.write_bytes(first)
    through = mount.mnt / path.name
    assert through.read_bytes() == first
    assert cached_pages(through) > 0
    for n, size in enumerate((300_000, 123_457, 300_000)):  # same size too: mtime tells
        changed = random.Random(5 + n).randbytes(size)
        path.write_bytes(changed)
        assert through.read_bytes() == changed, n


def _letters(rng: random.Random, n: int) -> bytes:
    """Text no recognizer takes for personal data (an outside folder takes only allowed
    exports; random bytes are unreadable, so INTERNAL, so refused there)."""
    return bytes(rng.choices(b"abcdefghij \n", k=n))


def test_what_is_written_through_the_mount_is_read_back(mount):
    rng = random.Random(6)
    for folder, sealed, make in (("work", True, random.Random.randbytes),  # governed storage
                                 ("outbox", False, _letters)):  # an outside folder
        (mount.mnt / folder).mkdir(exist_ok=True)
        path = mount.mnt / folder / f"round-{uuid.uuid4().hex[:8]}.bin"
        content = make(rng, 700_000)
        path.write_bytes(content)
        # read twice: the first open after a write also drops the kernel's pages once (libfuse
        # compares with the size and mtime it saw before the write was published)
        assert path.read_bytes() == content
        assert path.read_bytes() == content
        assert cached_pages(path) > 0  # what follows writes over cached pages
        assert (mount.source / folder / path.name).read_bytes().startswith(MAGIC) is sealed
        for _ in range(3):  # in place over cached pages
            with open(path, "r+b") as fh:
                offset = rng.randrange(len(content))
                patch = make(rng, rng.randrange(1, 200_000))
                fh.seek(offset)
                fh.write(patch)
            content = content[:offset] + patch + content[offset + len(patch):]
            assert path.read_bytes() == content, folder
        for size in (900_000, 1000):  # rewritten longer, then shorter
            content = make(rng, size)
            path.write_bytes(content)
            assert path.read_bytes() == content, (folder, size)
        with open(path, "ab") as fh:
            fh.write(b"tail")
        assert path.read_bytes() == content + b"tail", folder
