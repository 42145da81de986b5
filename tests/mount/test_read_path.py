"""The mount's read path (``read_buf``): plaintext files handed to libfuse by descriptor, sealed
files decrypted into libfuse's buffer; every byte at every offset is the file's, across
requests (512 KiB each at most), segments and page-cache evictions."""

from __future__ import annotations

import os
import random

import pytest

from lacuna.mount.fs import MAX_READ
from lacuna.storage.sealed import MAGIC, SEGMENT_BYTES


def _evict(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _check_reads(path, expected: bytes, seed: int) -> None:
    with open(path, "rb", buffering=0) as fh:  # sequential, the kernel's read-ahead
        assert fh.read() == expected
    _evict(path)  # the mount's pages gone: every read below goes through the mount again
    rng = random.Random(seed)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(40):
            offset = rng.randrange(len(expected) + 10)
            size = rng.choice([1, 4095, 4096, 65537, MAX_READ, 3 * MAX_READ // 2])
            assert os.pread(fd, size, offset) == expected[offset:offset + size], (offset, size)
            if rng.random() < 0.2:
                _evict(path)
    finally:
        os.close(fd)


@pytest.fixture
def payload() -> bytes:
    # several read requests and sealed segments, with a tail that fills neither
    return random.Random(1).randbytes(3 * MAX_READ + 2 * SEGMENT_BYTES + 12_345)


def test_a_plaintext_file_reads_byte_for_byte_through_the_mount(mount, payload):
    (mount.source / "blob.bin").write_bytes(payload)
    _check_reads(mount.mnt / "blob.bin", payload, seed=2)


def test_a_sealed_file_reads_byte_for_byte_through_the_mount(mount, payload):
    (mount.mnt / "blob-sealed.bin").write_bytes(payload)  # sealed into governed storage
    on_disk = (mount.source / "blob-sealed.bin").read_bytes()
    assert on_disk.startswith(MAGIC)
    assert payload[:4096] not in on_disk
    assert os.path.getsize(mount.mnt / "blob-sealed.bin") == len(payload)
    _check_reads(mount.mnt / "blob-sealed.bin", payload, seed=3)


def test_a_file_that_changes_under_the_mount_is_read_fresh(mount, payload):
    path = mount.source / "changing.bin"
    path.write_bytes(payload)
    assert (mount.mnt / "changing.bin").read_bytes() == payload
    changed = payload[::-1]
    path.write_bytes(changed)
    os.utime(path, ns=(1, 1))  # a different mtime: auto_cache drops the pages at open
    import time

    time.sleep(1.1)  # past attr_timeout, so the kernel asks for the new attributes
    assert (mount.mnt / "changing.bin").read_bytes() == changed
