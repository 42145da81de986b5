"""Writers given an open file object, one rule everywhere (pandas', which pyarrow's streaming
writers and ``os.fdopen`` files escaped): a file object with a path (its ``name``, or the file
its descriptor is open on) is governed like that path — personal data to ~/Downloads denied
with nothing written, refused under a governed root (Lacuna cannot seal the caller's file) —
and an in-memory buffer (``io.BytesIO``) is no export: written as the library writes it."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import pytest

from lacuna import _bypass
from lacuna.errors import GovernanceViolation, StorageError


def _people() -> pa.Table:
    return pa.table({"customer_id": [101, 102], "email": ["ann@example.com", "bob@example.org"]})


def _public() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})


def _closing(writer: Any, table: pa.Table) -> None:
    writer.write_table(table)
    writer.close()


# a writer of ``table`` into the open binary file ``fh``
WRITERS: dict[str, Callable[[pa.Table, BinaryIO], Any]] = {
    "parquet.ParquetWriter": lambda t, fh: _closing(pq.ParquetWriter(fh, t.schema), t),
    "ipc.new_file": lambda t, fh: _closing(pa_ipc.new_file(fh, t.schema), t),
    "ipc.new_stream": lambda t, fh: _closing(pa_ipc.new_stream(fh, t.schema), t),
    "csv.CSVWriter": lambda t, fh: _closing(pa_csv.CSVWriter(fh, t.schema), t),
    "parquet.write_table": lambda t, fh: pq.write_table(t, fh),
    "pandas.to_parquet": lambda t, fh: t.to_pandas().to_parquet(fh),
    "polars.write_parquet": lambda t, fh: pl.from_arrow(t).write_parquet(fh),
    "polars.write_ipc": lambda t, fh: pl.from_arrow(t).write_ipc(fh),
}
READERS: dict[str, Callable[[Path], pa.Table]] = {
    "ipc.new_file": lambda p: pa_ipc.open_file(str(p)).read_all(),
    "ipc.new_stream": lambda p: pa_ipc.open_stream(str(p)).read_all(),
    "csv.CSVWriter": lambda p: pa_csv.read_csv(p),
    "polars.write_ipc": lambda p: pa_ipc.open_file(str(p)).read_all(),
}


def _by_name(path: Path) -> BinaryIO:
    return open(path, "wb")


def _by_descriptor(path: Path) -> BinaryIO:
    """``os.fdopen``: a file object whose ``name`` is its descriptor, not a path."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


OPENERS = {"open": _by_name, "fdopen": _by_descriptor}


@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_personal_data_into_a_file_object_in_downloads_is_denied_as_the_path(
    downloads: Path, writer: str, opener: str
) -> None:
    target = downloads / "people.bin"
    with pytest.raises(GovernanceViolation) as denied, OPENERS[opener](target) as fh:
        WRITERS[writer](_people(), fh)
    assert f"Export to {target}" in str(denied.value)
    assert target.read_bytes() == b""  # nothing written into the caller's file


@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_file_object_under_a_governed_root_is_refused(
    governed: Path, writer: str, opener: str
) -> None:
    target = governed / "governed" / "workspace" / "public.bin"
    with pytest.raises(StorageError) as refused, OPENERS[opener](target) as fh:
        WRITERS[writer](_public(), fh)
    assert str(target) in str(refused.value)
    assert "cannot be encrypted" in str(refused.value)
    assert target.read_bytes() == b""  # the caller's open() made it; nothing was written into it


@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_public_data_into_a_file_object_in_downloads_is_written_as_plain_and_reads_back(
    downloads: Path, writer: str, opener: str
) -> None:
    plain, target = downloads / "plain.bin", downloads / "governed.bin"
    with _bypass.bypass(), open(plain, "wb") as fh:
        WRITERS[writer](_public(), fh)
    with OPENERS[opener](target) as fh:
        WRITERS[writer](_public(), fh)
    if writer.startswith(("ipc.", "csv.")):  # no declaration embedded: the very same bytes
        assert target.read_bytes() == plain.read_bytes()
    back = READERS.get(writer, pq.read_table)(target)
    expected = READERS.get(writer, pq.read_table)(plain)
    assert back.replace_schema_metadata(None).equals(expected.replace_schema_metadata(None))


def test_a_stream_into_an_arrow_file_is_decided_for_the_file_it_is_open_on(
    downloads: Path,
) -> None:
    """``pq.ParquetWriter(pa.OSFile(path, "wb"))``: the stream was not governed at all."""
    target = downloads / "people.parquet"
    with pytest.raises(GovernanceViolation) as denied, pa.OSFile(str(target), "wb") as sink:
        _closing(pq.ParquetWriter(sink, _people().schema), _people())
    assert f"Export to {target}" in str(denied.value)
    assert target.read_bytes() == b""
    public = downloads / "public.parquet"
    with pa.output_stream(str(public)) as sink:
        _closing(pq.ParquetWriter(sink, _public().schema), _public())
    assert pq.read_table(public).replace_schema_metadata(None).equals(_public())


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_an_in_memory_buffer_is_no_export_and_is_written_as_plain(
    governed: Path, writer: str
) -> None:
    """As pandas: personal data into ``io.BytesIO`` stays in the process; the bytes are the
    library's own."""
    with _bypass.bypass():
        plain = io.BytesIO()
        WRITERS[writer](_people(), plain)
    buffer = io.BytesIO()
    WRITERS[writer](_people(), buffer)
    if writer.startswith(("ipc.", "csv.")):
        assert buffer.getvalue() == plain.getvalue()
    assert buffer.getvalue()


def test_a_frame_read_through_lacuna_writes_into_an_in_memory_buffer(governed: Path) -> None:
    """pandas wrote the frame with Lacuna's state in ``attrs``, which pyarrow cannot serialise:
    ``to_parquet(io.BytesIO())`` of any frame read through Lacuna raised ``TypeError``."""
    frame = pd.read_csv(governed / "customers.csv")
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    with _bypass.bypass():
        back = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    pd.testing.assert_frame_equal(back, frame)


class _Collecting:
    """A stream of the caller's (a network upload, say): only a ``write`` method."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def closed(self) -> bool:  # pyarrow asks
        return False

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _into_zip_member(archive: Path, write: Callable[[BinaryIO], Any]) -> None:
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf, zf.open("member", "w") as member:
        write(member)  # type: ignore[arg-type]


def _member(archive: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        return zf.read("member") if "member" in zf.namelist() else b""


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_stream_with_no_path_is_an_unmanaged_place_not_memory(
    downloads: Path, writer: str
) -> None:
    """A zip member, a stream of the caller's and a socket have no path and are no buffer
    either: they were taken for memory, so personal data went into ~/Downloads/people.zip, or
    over a socket, undecided. They are unmanaged places now; public data is written."""
    import socket

    archive = downloads / "people.zip"
    with pytest.raises(GovernanceViolation) as denied:
        _into_zip_member(archive, lambda m: WRITERS[writer](_people(), m))
    assert "stream://python." in str(denied.value)
    assert _member(archive) == b""
    collected = _Collecting()
    with pytest.raises(GovernanceViolation):
        WRITERS[writer](_people(), collected)  # type: ignore[arg-type]
    assert collected.getvalue() == b""
    left, right = socket.socketpair()
    with left, right, left.makefile("wb") as sent, pytest.raises(GovernanceViolation) as over:
        WRITERS[writer](_people(), sent)
    assert "stream://socket." in str(over.value)
    with _bypass.bypass():
        plain = io.BytesIO()
        WRITERS[writer](_public(), plain)
    public = downloads / "public.zip"
    _into_zip_member(public, lambda m: WRITERS[writer](_public(), m))
    collected = _Collecting()
    WRITERS[writer](_public(), collected)  # type: ignore[arg-type]
    if writer.startswith(("ipc.", "csv.")):  # no declaration embedded: the very same bytes
        assert _member(public) == plain.getvalue() == collected.getvalue()
    read = READERS.get(writer, pq.read_table)
    copies = [downloads / name for name in ("plain.bin", "member.bin", "collected.bin")]
    for copy, written in zip(
        copies, (plain.getvalue(), _member(public), collected.getvalue()), strict=True
    ):
        copy.write_bytes(written)
    expected, *backs = (read(c).replace_schema_metadata(None) for c in copies)
    assert all(back.equals(expected) for back in backs)


def test_pandas_text_writers_into_streams_and_standard_output(
    downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas' text writers into a pipe, a zip member or ``sys.stdout`` (a pipe here, as when
    a script's output is piped on): personal data denied with nothing written; public data
    written as pandas writes it. ``sys.stdout``'s name ``'<stdout>'`` was taken for a file in
    the working folder: public data was printed, then writing its sidecar failed (an internal
    error)."""
    import sys

    people, public = _people().to_pandas(), _public().to_pandas()
    archive = downloads / "people.zip"
    with pytest.raises(GovernanceViolation):
        _into_zip_member(archive, lambda m: people.to_json(m))
    assert _member(archive) == b""
    _into_zip_member(archive, lambda m: public.to_json(m))
    assert _member(archive) == public.to_json().encode()
    for stdout in (False, True):
        read, write = os.pipe()
        with os.fdopen(read, "rb") as r, open(write, "w") as w:
            if stdout:  # as Python makes sys.stdout
                w.buffer.raw.name = "<stdout>"  # type: ignore[attr-defined]
                monkeypatch.setattr(sys, "stdout", w)
            with pytest.raises(GovernanceViolation) as denied:
                people.to_csv(w, index=False)
            assert f"stream://pipe.{write}" in str(denied.value)
            public.to_csv(w, index=False)
            monkeypatch.setattr(sys, "stdout", sys.__stdout__)
            w.close()
            assert r.read() == public.to_csv(index=False).encode()
    assert not list(Path.cwd().glob("*stdout*"))


def test_standard_output_shown_to_the_user_is_no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.stdout`` in a notebook (ipykernel's ``OutStream``, its descriptor the kernel's
    pipe, if any) is shown to the user, as ``print()`` is; the same object elsewhere is not."""
    import sys

    from lacuna.integrations.pandas import _frames

    class OutStream(_Collecting):
        def fileno(self) -> int:
            raise io.UnsupportedOperation("fileno")

    OutStream.__module__ = "ipykernel.iostream"
    cell = OutStream()
    assert _frames.stream_name(cell) == "stream://python.OutStream"
    monkeypatch.setattr(sys, "stdout", cell)
    assert _frames.stream_name(cell) is None
    assert _frames.stream_name(io.StringIO()) is None
