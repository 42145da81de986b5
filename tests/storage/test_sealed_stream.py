"""The sealed format's streaming hot path, byte for byte: any write pattern (whole segments
straight from the caller, partial ones gathered, a file ending exactly on a segment boundary,
an empty file) reads back the same through readinto, read(n), readall and seeks, and the
STREAM construction still detects a dropped last segment and an appended one."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from lacuna.errors import StorageError
from lacuna.keystore import FileKeyBackend, KeyStore
from lacuna.storage.sealed import TAG_BYTES, SealedReader, SealedWriter

SEG = 4096  # small segments: many of them, every boundary case in a few KiB


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(FileKeyBackend(tmp_path / "keys"))


def _seal(path: Path, keys: KeyStore, data: bytes, pieces: list[int]) -> None:
    writer = SealedWriter(path, keys, key_id="storage", segment=SEG)
    pos = 0
    for n in pieces:
        writer.write(memoryview(data)[pos:pos + n])
        pos += n
    writer.write(data[pos:])
    writer.close()


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + 7])
@pytest.mark.parametrize("pattern", ["one write", "segments", "small", "random"])
def test_every_write_pattern_reads_back(tmp_path, keys, size, pattern):
    rng = random.Random(f"{size}{pattern}")
    data = rng.randbytes(size)
    pieces = {"one write": [], "segments": [SEG] * (size // SEG), "small": [100] * (size // 100),
              "random": [rng.randrange(1, 2 * SEG) for _ in range(5)]}[pattern]
    path = tmp_path / "f.bin"
    _seal(path, keys, data, pieces)
    segments = max(-(-size // SEG), 1)
    with SealedReader(path, keys) as raw:
        assert raw.size == size
        assert raw.readall() == data
        raw.seek(0)
        out = bytearray(size + 10)
        assert raw.readinto(out) == size
        assert bytes(out[:size]) == data
        for _ in range(20):
            at, n = rng.randrange(size + 2), rng.randrange(1, 2 * SEG + 3)
            raw.seek(at)
            assert raw.read(n) == data[at:at + n]
    with SealedReader(path, keys) as raw, io.BufferedReader(raw, buffer_size=SEG) as fh:
        assert fh.read() == data
        assert fh.mode == "rb"  # as an open(path, "rb") says: readers check it
    tail = os.path.getsize(path) - segments * TAG_BYTES - size
    assert tail > 0  # header and slots before the segments: each segment carries one tag


def test_a_file_ending_on_a_boundary_cannot_lose_its_last_segment(tmp_path, keys):
    data = random.Random(5).randbytes(3 * SEG)
    path = tmp_path / "f.bin"
    _seal(path, keys, data, [SEG, SEG, SEG])
    whole = path.read_bytes()
    path.write_bytes(whole[:-(SEG + TAG_BYTES)])  # drop the last segment
    with pytest.raises(StorageError, match="segment 1 does not authenticate"):
        SealedReader(path, keys)
    path.write_bytes(whole + whole[-(SEG + TAG_BYTES):])  # append a copy of the last one
    with pytest.raises(StorageError, match="does not authenticate"):
        SealedReader(path, keys)


def test_a_seek_with_an_unknown_whence_is_a_value_error(tmp_path, keys):
    path = tmp_path / "f.bin"
    _seal(path, keys, b"abcdef", [])
    with SealedReader(path, keys) as raw:
        with pytest.raises(ValueError, match="invalid whence"):  # was a KeyError
            raw.seek(0, 3)
        assert raw.seek(-2, io.SEEK_END) == 4
        assert raw.read() == b"ef"
