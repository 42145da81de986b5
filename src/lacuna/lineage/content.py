"""Content fingerprints: does a column still hold what its label's class was computed from?

A column's class is stored under its label, but a label can be moved onto other content
(``df["region"] = df["email"]``, a swap of two names, ``df.loc[:, "region"] = ...``). When a
class is computed, Lacuna also stores a fingerprint of the column's content; at a boundary
(export, ``lacuna.check``, ``lacuna.anonymize``) the fingerprint is taken again and compared.

The fingerprint is a hash of the values at ``ROWS`` evenly spaced row positions (plus the row
count), so it costs one small ``take`` per object, whatever the size of the frame. It tells
*which* column's content a label now holds (the hash of ``email``'s sample is found under
``region``), not *whether a single cell* changed outside the sampled rows. Row operations
(filters, sorts) change the sampled rows, so after them no fingerprint matches: the boundary then
re-checks the values (see :func:`lacuna.lineage.frames.effective_state`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

ROWS = 32  # sampled positions per fingerprint
UNNAMED = "0"  # the label of an unnamed Series: what to_csv writes as its header


def positions(n: int, rows: int = ROWS) -> list[int]:
    """``rows`` evenly spaced positions in ``range(n)`` (all of them when ``n <= rows``)."""
    if n <= rows:
        return list(range(n))
    step = n / rows
    return [int(i * step) for i in range(rows)]


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
    pos = positions(n)
    out: dict[str, list[int]] = {}
    if isinstance(obj, pd.Series):
        label = label_of(obj)
        if wanted is None or label in wanted:
            out[label] = [_hash(obj.iloc[pos], n)]
    else:
        columns = [(i, str(c)) for i, c in enumerate(obj.columns)]
        columns = [(i, c) for i, c in columns if wanted is None or c in wanted]
        if columns:
            sample = obj.iloc[pos, [i for i, _ in columns]]
            for j, (_, label) in enumerate(columns):
                out.setdefault(label, []).append(_hash(sample.iloc[:, j], n))
    for level, name in enumerate(obj.index.names):
        if name is None or (wanted is not None and str(name) not in wanted):
            continue
        if str(name) in out:
            continue
        values = obj.index.get_level_values(level)[pos]
        out[str(name)] = [_hash(pd.Series(values), n)]
    return {label: hs[0] if len(hs) == 1 else hash(tuple(hs)) for label, hs in out.items()}


def _hash(values: pd.Series, n: int) -> int:
    array = values.to_numpy()
    if array.dtype.kind in "biufcmM":
        return hash((n, array.dtype.str, array.tobytes()))
    try:
        return hash((n, repr(array.tolist())))
    except Exception:  # an exotic object whose repr fails: never equal to anything else
        return hash((n, id(values)))
