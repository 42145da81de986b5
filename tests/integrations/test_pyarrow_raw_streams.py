"""pyarrow's raw byte streams to a path (``pa.OSFile``, ``pa.output_stream``,
``pa.CompressedOutputStream``, the memory maps) under a governed root: refused, since a raw
stream cannot be sealed (they wrote plaintext there); the writers the refusal names seal the
same data, which reads back through Lacuna; elsewhere the streams are pyarrow's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.storage import sealed


def _table() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["marker-one", "marker-two", "marker-three"]})


def _into(stream: Any) -> None:
    with stream as sink:
        pq.write_table(_table(), sink)


RAW: dict[str, Callable[[Path], Any]] = {
    "OSFile-wb": lambda p: _into(pa.OSFile(str(p), "wb")),
    "OSFile-w-keyword": lambda p: _into(pa.OSFile(str(p), mode="w")),
    "OSFile-ab": lambda p: _into(pa.OSFile(str(p), "ab")),
    "output_stream-str": lambda p: _into(pa.output_stream(str(p))),
    "output_stream-Path": lambda p: _into(pa.output_stream(p)),
    "output_stream-raw-bytes": lambda p: pa.output_stream(str(p)).write(b"a,b\n1,x\n"),
    "output_stream-gzip": lambda p: _into(pa.output_stream(str(p), compression="gzip")),
    "CompressedOutputStream": lambda p: _into(pa.CompressedOutputStream(str(p), "gzip")),
    "create_memory_map": lambda p: pa.create_memory_map(str(p), 64).close(),
}


@pytest.mark.parametrize("opener", sorted(RAW))
def test_a_raw_arrow_stream_into_governed_storage_is_refused_naming_the_writers_that_seal(
    governed: Path, opener: str
) -> None:
    target = governed / "governed" / "workspace" / "raw.parquet"
    with pytest.raises(StorageError) as refused:
        RAW[opener](target)
    message = str(refused.value)
    assert str(target) in message
    assert "cannot be sealed" in message
    assert "pq.write_table(table, path)" in message
    assert "pq.ParquetWriter(path, schema)" in message
    assert "pa.ipc.new_file(path, schema)" in message
    assert message.endswith("Nothing was written.")
    assert not target.exists()  # refused before pyarrow created (or truncated) the file


def test_a_writable_memory_map_of_a_governed_file_is_refused_and_the_file_is_kept(
    governed: Path,
) -> None:
    target = governed / "governed" / "workspace" / "kept.parquet"
    pq.write_table(_table(), target)  # sealed
    before = target.read_bytes()
    for mode in ("r+", "w"):
        with pytest.raises(StorageError, match="cannot be sealed"):
            pa.memory_map(str(target), mode)
    assert target.read_bytes() == before
    assert pq.read_table(target).replace_schema_metadata(None).equals(_table())


def test_reading_a_governed_file_through_a_raw_stream_is_not_refused(governed: Path) -> None:
    """A raw read gives the bytes on disk: the sealed file's ciphertext, never plaintext."""
    target = governed / "governed" / "workspace" / "x.parquet"
    pq.write_table(_table(), target)
    with pa.OSFile(str(target)) as raw:
        head = raw.read(8)
    with pa.memory_map(str(target)) as mapped:
        assert mapped.read(8) == head
    assert head == b"LACUNAS1"


SEALING: dict[str, tuple[Callable[[Path], Any], Callable[[Path], pa.Table]]] = {
    "parquet.write_table": (lambda p: pq.write_table(_table(), p), lambda p: pq.read_table(p)),
    "parquet.ParquetWriter": (
        lambda p: _closing(pq.ParquetWriter(p, _table().schema)),
        lambda p: pq.read_table(p),  # the hooked reader, looked up when called
    ),
    "ipc.new_file": (
        lambda p: _closing(pa_ipc.new_file(str(p), _table().schema)),
        lambda p: pa_ipc.open_file(str(p)).read_all(),
    ),
    "ipc.new_stream": (
        lambda p: _closing(pa_ipc.new_stream(str(p), _table().schema)),
        lambda p: pa_ipc.open_stream(str(p)).read_all(),
    ),
}


def _closing(writer: Any) -> None:
    writer.write_table(_table())
    writer.close()


@pytest.mark.parametrize("writer", sorted(SEALING))
def test_the_writers_the_refusal_names_seal_the_data_and_read_it_back(
    governed: Path, writer: str
) -> None:
    write, read = SEALING[writer]
    target = governed / "governed" / "workspace" / "sealed.arrow"
    write(target)
    assert sealed.is_sealed(target)
    assert b"marker-" not in target.read_bytes()  # ciphertext on disk: no value in plaintext
    back = read(target)
    assert back.replace_schema_metadata(None).equals(_table())


def test_a_raw_stream_outside_governed_storage_is_pyarrows_own(downloads: Path) -> None:
    target = downloads / "raw.parquet"
    _into(pa.OSFile(str(target), "wb"))  # decided (public: allowed), its declaration embedded
    assert pq.read_table(target).replace_schema_metadata(None).equals(_table())
    raw = downloads / "raw.bin"
    with pa.output_stream(str(raw)) as out:
        out.write(b"bytes")
    assert raw.read_bytes() == b"bytes"


def test_personal_data_into_a_raw_stream_is_decided_for_the_file_it_is_open_on(
    downloads: Path,
) -> None:
    """``pa.OSFile`` has no name, but its descriptor is open on a file: the export is decided
    for that path (it was ``stream://pyarrow.OSFile``)."""
    target = downloads / "people.parquet"
    people = pa.table({"email": ["ann@example.com", "bob@example.org"]})
    with pytest.raises(GovernanceViolation) as denied, pa.OSFile(str(target), "wb") as sink:
        pq.write_table(people, sink)
    assert f"Export to {target}" in str(denied.value)
    assert target.read_bytes() == b""


def test_raw_streams_are_pyarrows_own_when_lacuna_is_bypassed(governed: Path) -> None:
    target = governed / "governed" / "workspace" / "internal.bin"
    with _bypass.bypass(), pa.OSFile(str(target), "wb") as raw:
        raw.write(b"Lacuna's own")
    assert target.read_bytes() == b"Lacuna's own"
