"""Where an Arrow or Python stream writes, when Lacuna must tell: ``pyarrow.fs`` output
streams on a governed path (refused, as the raw ``pa.output_stream``; they wrote plaintext
there), ``pa.PythonFile`` wrappers and file objects with a bytes ``name`` (governed as the file
they are open on; they counted as in memory), streams opened before ``lacuna.enable()``, and
platforms where a descriptor's path cannot be found (fail closed under sealed storage; they
counted as in memory). Each refusal beside the allowed write, read back."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import lacuna
from lacuna.errors import GovernanceViolation, StorageError
from lacuna.integrations.pandas import _frames
from lacuna.storage import sealed


def _public() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["marker-one", "marker-two", "marker-three"]})


def _people() -> pa.Table:
    return pa.table({"customer_id": [101, 102], "email": ["ann@example.com", "bob@example.org"]})


def _workspace(root: Path) -> Path:
    return root / "governed" / "workspace"


def _plain(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata(None)


# -- pyarrow.fs output streams ------------------------------------------------------------------

FS_STREAMS: dict[str, Callable[[Path], Any]] = {
    "LocalFileSystem.open_output_stream":
        lambda p: pafs.LocalFileSystem().open_output_stream(str(p)),
    "LocalFileSystem.open_append_stream":
        lambda p: pafs.LocalFileSystem().open_append_stream(str(p)),
    "SubTreeFileSystem.open_output_stream":
        lambda p: pafs.SubTreeFileSystem(str(p.parent), pafs.LocalFileSystem())
        .open_output_stream(p.name),
    "SubTreeFileSystem-nested.open_output_stream":
        lambda p: pafs.SubTreeFileSystem(
            "workspace", pafs.SubTreeFileSystem(str(p.parent.parent), pafs.LocalFileSystem()))
        .open_output_stream(p.name),
    "FSSpecHandler.open_output_stream":
        lambda p: _fsspec_local().open_output_stream(str(p)),
    "FSSpecHandler.open_append_stream":
        lambda p: _fsspec_local().open_append_stream(f"file://{p}"),
}


def _fsspec_local() -> pafs.FileSystem:
    import fsspec

    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("file")))


@pytest.mark.parametrize("opener", sorted(FS_STREAMS))
def test_a_pyarrow_fs_stream_on_a_governed_path_is_refused_naming_the_writers_that_seal(
    governed: Path, opener: str
) -> None:
    target = _workspace(governed) / "fs.parquet"
    with pytest.raises(StorageError) as refused:
        FS_STREAMS[opener](target)
    message = str(refused.value)
    assert f"pyarrow.fs.{opener.replace('-nested', '')} to {target} is refused" in message
    assert "cannot be sealed" in message
    assert "pq.write_table(table, path)" in message
    assert message.endswith("Nothing was written.")
    assert not target.exists()  # refused before pyarrow created the file


FS_WRITERS: dict[str, Callable[[Path], Any]] = {
    "write_table-LocalFileSystem": lambda p: pq.write_table(
        _public(), str(p), filesystem=pafs.LocalFileSystem()),
    "write_table-from_uri": lambda p: pq.write_table(
        _public(), p, filesystem=pafs.FileSystem.from_uri(str(p))[0]),
    "write_table-SubTreeFileSystem": lambda p: pq.write_table(
        _public(), p.name,
        filesystem=pafs.SubTreeFileSystem(str(p.parent), pafs.LocalFileSystem())),
    "ParquetWriter-SubTreeFileSystem": lambda p: _closing(pq.ParquetWriter(
        p.name, _public().schema,
        filesystem=pafs.SubTreeFileSystem(str(p.parent), pafs.LocalFileSystem()))),
}


def _closing(writer: Any) -> None:
    writer.write_table(_public())
    writer.close()


@pytest.mark.parametrize("writer", sorted(FS_WRITERS))
def test_a_path_writer_given_a_local_file_system_seals_and_reads_back(
    governed: Path, writer: str
) -> None:
    """What the refusal names: the path writers, also with ``filesystem=`` (``LocalFileSystem``
    raised pyarrow's ValueError there; a ``SubTreeFileSystem`` path was governed as a path
    under the working folder and written in plaintext)."""
    target = _workspace(governed) / "sealed.parquet"
    FS_WRITERS[writer](target)
    assert sealed.is_sealed(target)
    assert b"marker-" not in target.read_bytes()
    assert _plain(pq.read_table(target)).equals(_public())  # the governed reader decrypts


def test_a_pyarrow_fs_stream_outside_governed_storage_is_pyarrows_own(downloads: Path) -> None:
    target = downloads / "fs.parquet"
    with pafs.LocalFileSystem().open_output_stream(str(target)) as sink:
        pq.write_table(_public(), sink)  # public into an unmanaged stream: allowed
    assert _plain(pq.read_table(target)).equals(_public())
    with pytest.raises(GovernanceViolation), \
            pafs.LocalFileSystem().open_output_stream(str(downloads / "people.parquet")) as sink:
        pq.write_table(_people(), sink)
    other = downloads / "fsspec.parquet"
    with _fsspec_local().open_output_stream(str(other)) as sink:
        pq.write_table(_public(), sink)
    assert _plain(pq.read_table(other)).equals(_public())


def test_a_file_system_of_pyarrows_own_class_is_still_a_local_file_system(governed: Path) -> None:
    """pyarrow checks ``isinstance(filesystem, LocalFileSystem)`` against the module's name,
    which now names the hook: one made by ``FileSystem.from_uri`` still passes."""
    made, _ = pafs.FileSystem.from_uri(str(governed))
    assert type(made) is not pafs.LocalFileSystem
    assert isinstance(made, pafs.LocalFileSystem)
    assert isinstance(pafs.LocalFileSystem(), type(made))


# -- pa.PythonFile and bytes names ----------------------------------------------------------------

def _python_file(path: Path) -> Any:
    return pa.PythonFile(open(path, "wb"), mode="w")


def _bytes_name(path: Path) -> BinaryIO:
    fh = open(os.fsencode(path), "wb")  # noqa: SIM115 (the caller's with closes it)
    assert isinstance(fh.name, bytes)
    return fh


SINKS: dict[str, Callable[[Path], Any]] = {"PythonFile": _python_file, "bytes-name": _bytes_name}
INTO: dict[str, Callable[[pa.Table, Any], Any]] = {
    "parquet.write_table": lambda t, sink: pq.write_table(t, sink),
    "parquet.ParquetWriter": lambda t, sink: _written(pq.ParquetWriter(sink, t.schema), t),
    "pandas.to_parquet": lambda t, sink: t.to_pandas().to_parquet(sink),
}


def _written(writer: Any, table: pa.Table) -> None:
    writer.write_table(table)
    writer.close()


@pytest.mark.parametrize("into", sorted(INTO))
@pytest.mark.parametrize("sink", sorted(SINKS))
def test_a_wrapped_or_bytes_named_file_under_a_governed_root_is_refused(
    governed: Path, sink: str, into: str
) -> None:
    target = _workspace(governed) / "public.parquet"
    with SINKS[sink](target) as fh, pytest.raises(StorageError) as refused:
        INTO[into](_public(), fh)
    assert str(target) in str(refused.value)
    assert "cannot be encrypted" in str(refused.value)
    # the remedy names the writers of the library the caller used
    assert ("by to_csv, to_parquet" if into.startswith("pandas") else
            "by pyarrow's csv.write_csv, feather.write_feather, parquet.write_table") \
        in str(refused.value)
    assert target.read_bytes() == b""  # the caller's open() made it; nothing written into it


@pytest.mark.parametrize("into", sorted(INTO))
@pytest.mark.parametrize("sink", sorted(SINKS))
def test_a_wrapped_or_bytes_named_file_is_decided_as_its_path_and_public_data_reads_back(
    downloads: Path, sink: str, into: str
) -> None:
    people = downloads / "people.parquet"
    with SINKS[sink](people) as fh, pytest.raises(GovernanceViolation) as denied:
        INTO[into](_people(), fh)
    assert f"Export to {people}" in str(denied.value)
    assert people.read_bytes() == b""
    public = downloads / "public.parquet"
    with SINKS[sink](public) as fh:
        INTO[into](_public(), fh)
    assert pq.read_table(public).to_pylist() == _public().to_pylist()  # pandas: large_string


def test_a_python_file_over_a_buffer_stays_an_unmanaged_stream(governed: Path) -> None:
    """No file behind it: named ``stream://pyarrow.PythonFile`` as before (personal data
    denied, public data written)."""
    import io

    buffer = io.BytesIO()
    with pytest.raises(GovernanceViolation, match=r"stream://pyarrow\.PythonFile"):
        pq.write_table(_people(), pa.PythonFile(buffer, mode="w"))
    pq.write_table(_public(), pa.PythonFile(buffer, mode="w"))
    assert _plain(pq.read_table(pa.BufferReader(buffer.getvalue()))).equals(_public())


# -- streams opened before lacuna.enable() ---------------------------------------------------------

def test_a_file_object_opened_before_enable_is_refused_at_the_next_governed_write(
    sandbox: Path, sandbox_config: Callable[..., lacuna.Config]
) -> None:
    """Lacuna names it by its path when it is written into, whenever it was opened."""
    target = _workspace(sandbox) / "early.parquet"
    early = {"open": open(target, "wb"),  # noqa: SIM115 (closed below, one by one)
             "OSFile": pa.OSFile(str(target), "wb"),
             "PythonFile": pa.PythonFile(open(target, "wb"), mode="w")}  # noqa: SIM115
    lacuna.enable(sandbox_config())
    for name, fh in early.items():
        with pytest.raises(StorageError, match="cannot be encrypted"):
            pq.write_table(_public(), fh)
        fh.close()
        assert target.read_bytes() == b"", name
    pq.write_table(_public(), target)  # the path: sealed
    assert _plain(pq.read_table(target)).equals(_public())


def test_a_pyarrow_fs_stream_opened_before_enable_is_an_unmanaged_stream(
    sandbox: Path, sandbox_config: Callable[..., lacuna.Config]
) -> None:
    """The documented limit: its path is not known to Python (compiled, no descriptor), so it
    is ``stream://pyarrow.NativeFile``: personal data is denied (nothing written)."""
    target = _workspace(sandbox) / "early.parquet"
    stream = pafs.LocalFileSystem().open_output_stream(str(target))
    lacuna.enable(sandbox_config())
    with pytest.raises(GovernanceViolation, match=r"stream://pyarrow\.NativeFile"):
        pq.write_table(_people(), stream)
    stream.close()
    assert target.read_bytes() == b""


def test_an_fsspec_file_system_made_before_enable_is_checked_when_it_opens(
    sandbox: Path, sandbox_config: Callable[..., lacuna.Config]
) -> None:
    """Its streams are opened in Python, by the handler: hooked on the class."""
    early = _fsspec_local()
    lacuna.enable(sandbox_config())
    target = _workspace(sandbox) / "early.parquet"
    with pytest.raises(StorageError, match="cannot be sealed"):
        early.open_output_stream(str(target))
    assert not target.exists()


# -- a platform that cannot tell a descriptor's path ----------------------------------------------

def _fdopen(path: Path) -> BinaryIO:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


@pytest.fixture
def fake_platform_without_descriptor_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake platform probe: neither /proc/self/fd nor F_GETPATH (Windows, the BSDs)."""
    monkeypatch.setattr(_frames, "descriptor_namer", lambda: None)


@pytest.mark.usefixtures("fake_platform_without_descriptor_paths")
def test_without_descriptor_paths_a_descriptor_file_is_refused_while_storage_is_sealed(
    downloads: Path,
) -> None:
    """It may be under a governed root: refused, even in Downloads (it counted as memory)."""
    target = downloads / "out.parquet"
    with _fdopen(target) as fh, pytest.raises(StorageError) as refused:
        pq.write_table(_public(), fh)
    message = str(refused.value)
    assert "Lacuna cannot tell which file it is open on" in message
    assert "Pass the file's path instead" in message
    assert target.read_bytes() == b""
    with _fdopen(target) as fh, pytest.raises(StorageError, match="cannot tell which file"):
        _people().to_pandas().to_csv(fh)
    pq.write_table(_public(), target)  # the path: decided for it, written
    assert _plain(pq.read_table(target)).equals(_public())


@pytest.mark.usefixtures("fake_platform_without_descriptor_paths")
def test_without_descriptor_paths_and_sealed_storage_the_file_is_an_unmanaged_stream(
    sandbox: Path, sandbox_config: Callable[..., lacuna.Config]
) -> None:
    lacuna.enable(sandbox_config(storage={"encrypt": False}))
    target = sandbox / "Downloads" / "out.parquet"
    with _fdopen(target) as fh, pytest.raises(GovernanceViolation) as denied:
        pq.write_table(_people(), fh)
    assert "stream://file-descriptor." in str(denied.value)
    assert target.read_bytes() == b""
    with _fdopen(target) as fh:
        pq.write_table(_public(), fh)
    assert _plain(pq.read_table(target)).equals(_public())


def test_a_memory_file_is_still_memory_without_descriptor_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not a regular file (a pipe), or deleted since it was opened: nothing reaches it by a
    path, as before."""
    monkeypatch.setattr(_frames, "descriptor_namer", lambda: None)
    read, write = os.pipe()
    with os.fdopen(read, "rb") as r, os.fdopen(write, "wb") as w:
        assert _frames.file_path(w) is None
        assert _frames.file_path(r) is None
    gone = tmp_path / "gone.bin"
    with _fdopen(gone) as fh:
        gone.unlink()
        assert _frames.file_path(fh) is None
    with _fdopen(tmp_path / "kept.bin") as fh:
        assert _frames.file_path(fh) == f"{_frames.UNNAMED_FILE}{fh.fileno()}"


class FakeDarwinFcntl(types.ModuleType):
    """A fake ``fcntl`` module of macOS: ``F_GETPATH`` answers the path of a descriptor
    (taken here from Linux' /proc, which the fake platform probe hides)."""

    F_GETPATH = 50

    def __init__(self, proc: str) -> None:
        super().__init__("fcntl")
        self.proc = proc

    def fcntl(self, fd: int, cmd: int, buffer: bytes) -> bytes:
        assert cmd == self.F_GETPATH
        path = os.fsencode(os.readlink(f"{self.proc}/{fd}"))
        return path + b"\0" * (len(buffer) - len(path))


def test_the_f_getpath_fallback_names_the_descriptors_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _frames.descriptor_namer() is _frames._proc_fd_path  # this Linux host
    monkeypatch.setattr(_frames, "_PROC_FD", str(tmp_path / "no-proc"))  # fake: no /proc
    monkeypatch.setitem(sys.modules, "fcntl", FakeDarwinFcntl("/proc/self/fd"))
    assert _frames.descriptor_namer() is _frames._fcntl_path
    target = tmp_path / "named.bin"
    with _fdopen(target) as fh:
        assert _frames.file_path(fh) == str(target)
    monkeypatch.setitem(sys.modules, "fcntl", types.ModuleType("fcntl"))  # no F_GETPATH
    assert _frames.descriptor_namer() is None


def test_a_descriptor_path_naming_another_file_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"")
    monkeypatch.setattr(_frames, "descriptor_namer", lambda: lambda _fd: str(other))
    with _fdopen(tmp_path / "real.bin") as fh:
        assert _frames.file_path(fh) == f"{_frames.UNNAMED_FILE}{fh.fileno()}"
