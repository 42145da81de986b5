"""A data file opened for sampling with a ceiling on the bytes it may yield.

``pandas.read_csv(path, nrows=1000)`` reads lazily, but a first row has no size limit: a 2 MB
``.csv.gz`` of zeros decompresses into one 2 GB "row", and parsing it takes all of the
machine's memory (an upload to ``POST /api/v1/classify/file`` could kill the server). Readers
that sample text files read through :func:`open_capped` instead: decompressed as pandas would
(by extension), the same bytes pandas would have read, but reading past ``cap`` bytes raises
:class:`~lacuna.errors.ClassificationError`, which says what happened and what to do.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path
from typing import Any, Protocol

from lacuna.errors import ClassificationError

SAMPLE_BYTES = 64 << 20  # a sample of rows is far smaller; more is a hostile or broken file


class _Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def open_capped(path: Path, cap: int | None = None) -> io.BufferedReader:
    """``path`` for reading (decompressed when its extension says so), failing past ``cap``
    bytes (default :data:`SAMPLE_BYTES`). Close it after use."""
    raw = _decompressed(path)
    return io.BufferedReader(_Capped(raw, SAMPLE_BYTES if cap is None else cap, path.name))


# The parts of an .xlsx that openpyxl reads whole even when streaming a sheet (read-only mode
# streams the worksheet XML; the shared-strings table and the styles are loaded entirely).
_XLSX_LOADED_WHOLE = ("xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml")


def check_workbook(path: Path, cap: int | None = None) -> None:
    """Refuse an Excel workbook whose wholly-loaded parts decompress to more than ``cap``
    bytes (default :data:`SAMPLE_BYTES`): a 1 MB .xlsx can hold a 2 GB shared-strings table.

    Raises:
        ClassificationError: a part is over the ceiling.
    """
    limit = SAMPLE_BYTES if cap is None else cap
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {i.filename: i.file_size for i in archive.infolist()}
    except zipfile.BadZipFile:
        return  # not a workbook at all: the reader says so, naming the file
    for part in _XLSX_LOADED_WHOLE:
        if sizes.get(part, 0) > limit:
            raise _over_ceiling(path.name, f"its {part} decompresses to {sizes[part]:,} bytes",
                                limit)


def check_parquet_sample(metadata: Any, name: str, rows: int, cap: int | None = None) -> None:
    """Refuse a Parquet file whose first ``rows`` rows would decompress to more than ``cap``
    bytes (default :data:`SAMPLE_BYTES`), estimated from its first row group's uncompressed
    size (``metadata`` is a ``pyarrow.parquet.FileMetaData``): a few kB of zstd can hold a
    2 GB value, and reading a sample decompresses whole pages.

    Raises:
        ClassificationError: the sample's share of the first row group is over the ceiling.
    """
    if metadata.num_row_groups == 0:
        return
    group = metadata.row_group(0)
    size = sum(group.column(i).total_uncompressed_size for i in range(group.num_columns))
    share = size if group.num_rows <= rows else size * rows // max(group.num_rows, 1)
    limit = SAMPLE_BYTES if cap is None else cap
    if share > limit:
        raise _over_ceiling(name, f"its first {min(rows, group.num_rows):,} rows decompress to "
                            f"about {share:,} bytes", limit)


def _over_ceiling(name: str, what: str, limit: int) -> ClassificationError:
    """The refusal of a file whose metadata shows a sample would decompress past ``limit``."""
    msg = (f"cannot classify {name!r}: {what}, more than the {limit / (1 << 20):g} MiB a sample "
           "may read (a broken or hostile file: a decompression bomb). Check the file, or read "
           "a part of it with pandas and classify the DataFrame.")
    return ClassificationError(msg)


def _decompressed(path: Path) -> _Source:
    ext = path.suffix.lower()
    if ext == ".gz":
        return gzip.open(path, "rb")
    if ext == ".bz2":
        return bz2.open(path, "rb")
    if ext == ".xz":
        return lzma.open(path, "rb")
    if ext == ".zst":
        import zstandard  # optional, as for pandas

        handle: _Source = zstandard.open(path, "rb")
        return handle
    if ext == ".zip":
        with zipfile.ZipFile(path) as archive:  # the member keeps the file open
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                msg = (f"{path.name} holds {len(names)} files; a zipped data file holds "
                       "exactly one")
                raise ValueError(msg)
            return archive.open(names[0])
    return path.open("rb")


class _Capped(io.RawIOBase):
    """The bytes of ``raw``, until more than ``cap`` of them are asked for."""

    def __init__(self, raw: _Source, cap: int, name: str) -> None:
        super().__init__()
        self._raw, self._left, self._name, self._cap = raw, cap, name, cap

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not view:
            return 0
        data = self._raw.read(min(len(view), self._left + 1))
        if len(data) > self._left:
            mib = self._cap / (1 << 20)
            msg = (f"cannot classify {self._name!r}: its first rows are more than {mib:g} MiB "
                   "of data (decompressed), far more than a sample needs: a broken or hostile "
                   "file (a decompression bomb, a file without line breaks). Check the file, "
                   "or read a part of it with pandas and classify the DataFrame.")
            raise ClassificationError(msg)
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()
