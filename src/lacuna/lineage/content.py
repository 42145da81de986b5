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
    columns = [(label_of(obj), obj)] if isinstance(obj, pd.Series) else obj.items()
    for column, values in columns:
        label = str(column)
        if wanted is None or label in wanted:
            out.setdefault(label, []).append(_column(values.array, runs, n))
    for level, name in enumerate(obj.index.names):
        if name is None or str(name) in out or (wanted is not None and str(name) not in wanted):
            continue
        out[str(name)] = [_column(obj.index.get_level_values(level), runs, n)]
    return {label: hs[0] if len(hs) == 1 else hash(tuple(hs)) for label, hs in out.items()}


def _column(array: Any, runs: list[slice], n: int) -> int:
    """The fingerprint of one column's backing array (slicing it is a view)."""
    try:
        return _hash([np.asarray(array[r]) for r in runs], n)
    except Exception:  # a dtype that cannot be sliced or converted: matches nothing, so the
        return hash(("unreadable", next(_UNIQUE)))  # boundary re-checks it (fail closed)


def _hash(arrays: list[Any], n: int) -> int:
    parts: list[Any] = [n]
    for array in arrays:
        if array.dtype.kind in "biufcmM":
            parts.append((array.dtype.str, array.tobytes()))
        else:
            try:
                parts.append(repr(array.tolist()))
            except Exception:  # an exotic object whose repr fails: never equal to anything else
                parts.append(("unreadable", next(_UNIQUE)))
    return hash(tuple(parts))
