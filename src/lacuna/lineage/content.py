"""Content fingerprints: does a column still hold what its label's class was computed from?

A column's class is stored under its label, but a label can be moved onto other content
(``df["region"] = df["email"]``, a swap of two names, ``df.loc[:, "region"] = ...``). When a
class is computed, Lacuna also stores a fingerprint of the column's content; at a boundary
(export, ``lacuna.check``, ``lacuna.anonymize``) the fingerprint is taken again and compared.

The fingerprint is a hash of the values in ``ROWS`` rows, taken as a few evenly spaced runs
(plus the row count), so it costs a few slices per object, whatever the size of the frame. It tells
*which* column's content a label now holds (the hash of ``email``'s sample is found under
``region``), not *whether a single cell* changed outside the sampled rows. Row operations
(filters, sorts) change the sampled rows, so after them no fingerprint matches: the boundary then
re-checks the values (see :func:`lacuna.lineage.frames.effective_state`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

ROWS = 32  # sampled rows per fingerprint
BLOCKS = 4  # taken as this many evenly spaced runs of ROWS // BLOCKS rows: slices are views
_UNIQUE = itertools.count()  # fingerprints of unreadable content: equal to nothing
WIDE = 24  # above this many columns, converting a few row slices once beats column by column
UNNAMED = "0"  # the label of an unnamed Series: what to_csv writes as its header


def blocks(n: int) -> list[slice]:
    """Evenly spaced row slices covering ``ROWS`` rows of ``n`` (all rows when ``n <= ROWS``).

    Slices rather than scattered positions: slicing pandas, numpy and Arrow data is a view, so
    the cost does not grow with the number of rows.
    """
    if n <= ROWS:
        return [slice(0, n)]
    run = ROWS // BLOCKS
    return [slice(int(i * n / BLOCKS), int(i * n / BLOCKS) + run) for i in range(BLOCKS)]


def label_of(obj: pd.Series) -> str:
    """The label a Series' content goes by: its name, or ``UNNAMED``."""
    return UNNAMED if obj.name is None else str(obj.name)


def fingerprints(
    obj: pd.DataFrame | pd.Series, names: Iterable[str] | None = None
) -> dict[str, int]:
    """``{label: fingerprint}`` for the columns (and named index levels) of ``obj``.

    Args:
        obj: a DataFrame or Series.
        names: only these labels (default: every column and named index level). Duplicate
            column labels share one fingerprint over all their columns.
    """
    wanted = None if names is None else set(names)
    n = len(obj)
    runs = blocks(n)
    out: dict[str, list[int]] = {}
    if isinstance(obj, pd.Series):
        label = label_of(obj)
        if wanted is None or label in wanted:
            out[label] = [_column(obj.array, runs, n, str(obj.dtype))]
    else:
        picked = [
            (i, str(c)) for i, c in enumerate(obj.columns) if wanted is None or str(c) in wanted
        ]
        if len(picked) > WIDE:
            out = _wide(obj, picked, runs, n)
        else:  # narrow: slice each column's backing array (a view)
            chosen = dict(picked)
            for i, (_, column) in enumerate(obj.items()):
                if i in chosen:
                    kind = str(column.dtype)
                    out.setdefault(chosen[i], []).append(_column(column.array, runs, n, kind))
    for level, name in enumerate(obj.index.names):
        if name is None or str(name) in out or (wanted is not None and str(name) not in wanted):
            continue
        index = obj.index.get_level_values(level)
        out[str(name)] = [_column(index.array, runs, n, str(index.dtype))]
    return {label: hs[0] if len(hs) == 1 else hash(tuple(hs)) for label, hs in out.items()}


def _wide(
    frame: pd.DataFrame, picked: list[tuple[int, str]], runs: list[slice], n: int
) -> dict[str, list[int]]:
    """Wide frames: a few row slices of the whole frame, converted to objects once."""
    out: dict[str, list[int]] = {}
    try:
        positions = [i for i, _ in picked]
        whole = len(positions) == frame.shape[1]
        parts = [frame.iloc[r] if whole else frame.iloc[r, positions] for r in runs]
        arrays = [p.to_numpy(dtype=object) for p in parts]
        dtypes = frame.dtypes
        for j, (i, label) in enumerate(picked):
            kind = str(dtypes.iloc[i])
            out.setdefault(label, []).append(_hash([a[:, j] for a in arrays], n, kind))
    except Exception:  # an exotic dtype: column by column, each failure fails closed
        out = {}
        for i, label in picked:
            column = frame.iloc[:, i]
            out.setdefault(label, []).append(_column(column.array, runs, n, str(column.dtype)))
    return out


def _column(array: Any, runs: list[slice], n: int, kind: str) -> int:
    """The fingerprint of one column's backing array (slicing it is a view)."""
    try:
        return _hash([np.asarray(array[r], dtype=object) for r in runs], n, kind)
    except Exception:  # a dtype that cannot be sliced or converted: matches nothing, so the
        return hash(("unreadable", next(_UNIQUE)))  # boundary re-checks it (fail closed)


def _hash(arrays: list[Any], n: int, kind: str) -> int:
    """Values as Python objects (``to_numpy(dtype=object)``), so a column hashes the same alone
    or inside any frame. NaN is normalised (its hash is per object); unhashable values (lists,
    dicts) are hashed by their text."""
    values = [v for a in arrays for v in a.tolist()]
    try:
        return hash(
            (n, kind, tuple(None if isinstance(v, float) and v != v else v for v in values))
        )
    except TypeError:
        try:
            return hash((n, kind, repr(values)))
        except Exception:  # an object whose repr fails: equal to nothing
            return hash(("unreadable", next(_UNIQUE)))


# -- value digests: a declaration stored inside a data file names the values it was made for ----
#
# Unlike the fingerprints above (``hash()``: salted per process, dtype-specific, sampled), a
# digest is stored in a signed declaration (:func:`lacuna.lineage.sidecar.embedded_declaration`)
# and checked in another process after the file went through Parquet, Feather, ORC, pickle or
# Polars/Arrow. So it is sha256, covers every value, and hashes a canonical form of the values
# that a faithful round trip keeps although the dtype changes:
#
# - numbers (bool, int, float; numpy, nullable, Arrow or Python objects) as float64, so ``Int64``
#   with a missing value read back as ``float64`` digests the same; integers beyond 2**53 as text;
# - date-times (any unit, naive or with any time zone, ``datetime.date`` objects) as the UTC
#   instant in microseconds; durations in microseconds;
# - strings (``object``, ``str``, ``string[pyarrow]``, ``large_string``) as UTF-8 with lengths;
#   categoricals as their values;
# - anything else (lists, dicts, Decimal that is not finite, bytes, mixed objects) as text of
#   the value, lists and arrays alike;
# - missing values (None, NaN, NaT, pd.NA) as a mask, whatever their kind.
#
# A value whose form a format does change (a list of mixed scales of Decimal, sub-microsecond
# time) gives another digest: the declaration is then untrusted, which only adds restrictions.

DIGEST_VERSION = b"lacuna-values-1"
DIGEST_CHARS = 32  # hex characters kept (128 bits)
_EXACT = 2.0**53  # integers up to this magnitude are exact as float64


def digests(frame: pd.DataFrame) -> dict[str, str]:
    """``{label: digest}`` of every column and named index level of ``frame`` (the labels
    :func:`fingerprints` uses); duplicate labels share one digest over all their columns."""
    parts: dict[str, list[str]] = {}
    for i, label in enumerate(frame.columns):
        parts.setdefault(str(label), []).append(value_digest(frame.iloc[:, i]))
    for level, name in enumerate(frame.index.names):
        if name is not None and str(name) not in parts:
            parts[str(name)] = [value_digest(frame.index.get_level_values(level))]
    return {label: ds[0] if len(ds) == 1
            else hashlib.sha256("\0".join(ds).encode()).hexdigest()[:DIGEST_CHARS]
            for label, ds in parts.items()}


def value_digest(values: pd.Series | pd.Index) -> str:
    """The digest of one column's values (see the section comment)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values.array, copy=False)
    missing = np.asarray(series.isna(), dtype=bool)
    digest = hashlib.sha256(DIGEST_VERSION)
    digest.update(len(series).to_bytes(8, "little"))
    digest.update(np.packbits(missing).tobytes())
    if missing.all():
        digest.update(b"null")
    else:
        try:
            kind, payload = _canonical(series, missing)
        except Exception:  # a form Lacuna cannot read faithfully: the value's text
            kind, payload = b"text", _texts([_text(v) for v in series[~missing]])
        digest.update(kind)
        for chunk in payload:
            digest.update(chunk)
    return digest.hexdigest()[:DIGEST_CHARS]


def _canonical(series: pd.Series, missing: np.ndarray) -> tuple[bytes, list[Any]]:
    from pandas.api import types

    dtype = series.dtype
    present = series[~missing] if missing.any() else series
    if isinstance(dtype, pd.CategoricalDtype) or types.is_object_dtype(dtype):
        objects = np.asarray(present, dtype=object)
        inferred = types.infer_dtype(objects, skipna=False)
        if inferred in ("string", "empty"):
            return b"str", _texts(objects)
        present = pd.Series(objects, copy=False)
        if inferred in ("integer", "floating", "mixed-integer-float", "boolean", "decimal"):
            return _numbers(present, integers=inferred == "integer")
        if inferred in ("datetime", "datetime64", "date"):
            return _times(present)
        if inferred in ("timedelta", "timedelta64"):
            return _durations(present)
        return b"text", _texts([_text(v) for v in present])
    if types.is_bool_dtype(dtype) or types.is_integer_dtype(dtype):
        return _numbers(present, integers=not types.is_bool_dtype(dtype))
    if types.is_float_dtype(dtype):
        return _numbers(present, integers=False)
    if types.is_datetime64_any_dtype(dtype):
        return _times(present)
    if types.is_timedelta64_dtype(dtype):
        return _durations(present)
    if types.is_string_dtype(dtype):
        return b"str", _texts(present)
    return b"text", _texts([_text(v) for v in present])


def _numbers(present: pd.Series, *, integers: bool) -> tuple[bytes, list[Any]]:
    if present.dtype == object:
        floats = np.array([float(v) for v in present], dtype=np.float64)
    else:
        floats = np.asarray(present.to_numpy(dtype=np.float64), dtype=np.float64)
    if integers and floats.size and np.abs(floats).max() > _EXACT:  # not exact as a float
        return b"text", _texts([str(int(v)) for v in present])
    return b"num", [(floats + 0.0).tobytes()]  # + 0.0: -0.0 is 0.0


def _times(present: pd.Series) -> tuple[bytes, list[Any]]:
    stamps = pd.to_datetime(present, utc=True)
    micros = np.asarray(stamps.dt.tz_localize(None).astype("datetime64[us]")).view(np.int64)
    return b"time", [micros.tobytes()]


def _durations(present: pd.Series) -> tuple[bytes, list[Any]]:
    micros = np.asarray(pd.to_timedelta(present).astype("timedelta64[us]")).view(np.int64)
    return b"duration", [micros.tobytes()]


def _texts(values: Any) -> list[Any]:
    """Strings as their lengths then their UTF-8 bytes (Arrow's layout: fast, unambiguous)."""
    import pyarrow as pa

    source = values.array if isinstance(values, pd.Series) else values
    try:
        array = pa.array(source, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # an array pyarrow does not take as is
        array = pa.array(np.asarray(values, dtype=object), type=pa.large_string(),
                         from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    if not len(offsets):
        return []
    start, end = int(offsets[0]), int(offsets[-1])
    data = memoryview(buffers[2])[start:end] if buffers[2] is not None else b""
    return [np.diff(offsets).tobytes(), data]


def _text(value: Any) -> str:
    """A value's text, the same for a list, tuple or array of the same items."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_text(k)}:{_text(v)}" for k, v in sorted(
            value.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(value, np.generic):
        value = value.item()
    return f"{type(value).__name__}:{value}"
