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
