"""Reading a bounded sample of a data file for classification.

Text formats (CSV, TSV, JSON Lines) and Excel read only their first ``rows`` rows; Parquet reads
its first record batch. A plain JSON document (an array or object) cannot be streamed, so it is
parsed whole and then cut to ``rows``. Compressed text files (``.gz``, ``.bz2``, ``.xz``,
``.zst``, ``.zip``) work as pandas reads them. Text is read through
:func:`lacuna.classify.bounded.open_capped`: a file whose first rows are more than 64 MiB
(decompressed) is refused, not parsed into memory. Reads run inside
``lacuna._bypass.bypass()`` so the governed pandas integration does not classify its own
sampling.

Every failure is a :class:`~lacuna.errors.ClassificationError` that names the file, says what
went wrong and what to do; the message never contains data from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.classify.bounded import check_parquet_sample, check_workbook, open_capped
from lacuna.errors import ClassificationError

_COMPRESSION = (".gz", ".bz2", ".xz", ".zst", ".zip")
FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
    ".pq": "parquet", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "excel",
    ".xlsm": "excel",
}


def file_format(path: str | os.PathLike[str]) -> str | None:
    """The format Lacuna reads a path as (``csv``, ``tsv``, ``parquet``, ``json``, ``jsonl``,
    ``excel``), from its extension, or ``None``.

    Example:
        >>> file_format("exports/users.CSV.gz"), file_format("x.parquet"), file_format("x.bin")
        ('csv', 'parquet', None)
    """
    name = Path(path).name.lower()
    for ext in _COMPRESSION:
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return FORMATS.get(Path(name).suffix)


def read_sample(path: str | os.PathLike[str], rows: int = 1000) -> pd.DataFrame:
    """Read at most about ``rows`` rows of a data file, for classification.

    Args:
        path: a CSV, TSV, Parquet, JSON, JSON Lines or Excel file (optionally compressed).
        rows: how many rows to read (from the start of the file).

    Returns:
        A DataFrame; without rows when the file is empty.

    Raises:
        ClassificationError: the file is missing, is a folder, is of an unsupported type, cannot
            be read, or is not valid for its format.
    """
    p = Path(path).expanduser()
    fmt = file_format(p)
    if not p.exists():
        msg = f"cannot classify {str(p)!r}: the file does not exist. Check the path."
        raise ClassificationError(msg)
    if p.is_dir():
        msg = (f"cannot classify {str(p)!r}: it is a folder. Pass one of its data files, "
               "or read the folder yourself and classify the DataFrame.")
        raise ClassificationError(msg)
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        msg = (f"cannot classify {str(p)!r}: unsupported file type {p.suffix or '(none)'!r}. "
               f"Supported: {known}; or read it with pandas and classify the DataFrame.")
        raise ClassificationError(msg)
    rows = max(1, int(rows))
    from lacuna.storage import is_sealed

    if is_sealed(p):  # governed storage: an audited read through Lacuna (docs/storage.md)
        return _read_sealed(p, fmt, rows)
    with _bypass.bypass():
        try:
            return _READERS[fmt](p, rows)
        except ClassificationError:
            raise
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
        except PermissionError as exc:
            msg = f"cannot classify {str(p)!r}: permission denied. Ask for read access."
            raise ClassificationError(msg) from exc
        except Exception as exc:  # readers raise many types: parser, arrow, zip, unicode, ...
            msg = (f"cannot classify {str(p)!r}: it is not a readable {fmt} file "
                   f"({type(exc).__name__}: {_first_line(exc)}). Check that the file is complete "
                   f"and really {fmt}, or read it yourself and classify the DataFrame.")
            raise ClassificationError(msg) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else "no details"


def _text_head(p: Path) -> bytes:
    with p.open("rb") as fh:
        return fh.read(8192)


def _read_delimited(p: Path, rows: int, sep: str) -> pd.DataFrame:
    if p.suffix.lower() not in _COMPRESSION and b"\x00" in _text_head(p):
        msg = f"binary content (NUL bytes) where text was expected in {p.name}"
        raise ValueError(msg)
    try:
        with open_capped(p) as fh:
            return pd.read_csv(fh, sep=sep, nrows=rows)
    except UnicodeDecodeError:  # legacy exports: Latin-1 decodes any byte sequence
        with open_capped(p) as fh:
            return pd.read_csv(fh, sep=sep, nrows=rows, encoding="latin-1")


def _read_parquet(p: Path, rows: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    with _bypass.bypass(), pq.ParquetFile(p) as pf:  # Lacuna's own sample read
        check_parquet_sample(pf.metadata, p.name, rows)
        for batch in pf.iter_batches(batch_size=rows):
            return batch.to_pandas()
        return pf.schema_arrow.empty_table().to_pandas()


def _read_json(p: Path, rows: int) -> pd.DataFrame:
    head = _text_head(p).lstrip()
    if not head:
        return pd.DataFrame()
    if head[:1] == b"{" and b"\n" in head.rstrip():  # looks like JSON Lines
        try:
            return _read_jsonl(p, rows)
        except ValueError:
            pass
    with open_capped(p) as fh:  # a whole document: at most SAMPLE_BYTES of it
        frame: Any = pd.read_json(fh)
    return frame.head(rows) if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)


def _read_jsonl(p: Path, rows: int) -> pd.DataFrame:
    with open_capped(p) as fh:
        return pd.read_json(fh, lines=True, nrows=rows)


def _read_excel(p: Path, rows: int) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401 - pandas needs it for .xlsx
    except ImportError as exc:
        msg = (f"cannot classify {str(p)!r}: reading Excel files needs openpyxl. "
               "Install it: pip install 'lacuna[excel]'.")
        raise ClassificationError(msg) from exc
    check_workbook(p)
    return pd.read_excel(p, nrows=rows)


def _read_sealed(p: Path, fmt: str, rows: int) -> pd.DataFrame:
    """A sealed governed file: decided and audited, then read from the decrypted stream."""
    from lacuna.storage import open_governed

    with open_governed(p, method="lacuna.classify") as fh, _bypass.bypass():
        if fmt in ("csv", "tsv"):
            return pd.read_csv(fh, sep="," if fmt == "csv" else "\t", nrows=rows)
        if fmt == "parquet":
            return pd.read_parquet(fh).head(rows)
        if fmt == "excel":
            return pd.read_excel(fh, nrows=rows)
        frame: Any = pd.read_json(fh, lines=fmt == "jsonl")
        return frame.head(rows) if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)


_READERS = {
    "csv": lambda p, rows: _read_delimited(p, rows, ","),
    "tsv": lambda p, rows: _read_delimited(p, rows, "\t"),
    "parquet": _read_parquet,
    "json": _read_json,
    "jsonl": _read_jsonl,
    "excel": _read_excel,
}
