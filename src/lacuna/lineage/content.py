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
