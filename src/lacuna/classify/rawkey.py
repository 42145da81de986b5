"""A key for a small column's raw values, so the same small column is sampled only once.

Layer 1 memoizes its answer by a fingerprint of the sample (:mod:`lacuna.classify.heuristic`),
but building that sample (:func:`lacuna.classify.scan.column_sample`: a dozen Arrow kernels,
decoding, spelled-out reading) costs about as much for four values as for four thousand: a
``pd.concat`` of 25,000 four-row frames nobody classified spent ~3.6 ms a frame there, 51 s
against 0.1 s plain. A column of at most :data:`MAX_VALUES` plain scalars (``str``, ``int``,
``float``, ``bool``, their NumPy kinds, missing) is keyed by its name, its dtype and the
``repr`` of each value, which tells ``1`` from ``1.0``, ``True``, ``"1"`` and
``np.int64(1)``: the same key is the same input to ``column_sample``, so its sample and answer
are those of the first time, exactly. Anything else (a larger column, objects, dates) has no
key and is sampled as before. Each column is still classified on its own values: a
ratio-based detector sees each small frame's values, not a dilution of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

MAX_VALUES = 64
MAX_CHARS = 4096  # the reprs of one column, together: longer values are sampled each time
_PLAIN = (str, int, float, bool, type(None), type(pd.NA))
_NUMPY = (np.integer, np.floating, np.bool_)  # a NumPy column's values: repr names the type


def raw_key(name: str, values: Sequence[Any] | pd.Series, limit: int) -> bytes | None:
    """The key of a small column of plain scalars (module docstring), or None."""
    if len(values) > min(MAX_VALUES, limit):
        return None
    if isinstance(values, pd.Series):
        kind = str(values.dtype)
        try:
            items = values.array.tolist()  # the ExtensionArray's: no Series hook involved
        except (AttributeError, TypeError, ValueError):
            return None
    elif isinstance(values, (list, tuple)):
        kind, items = type(values).__name__, list(values)
    else:
        return None
    if not all(type(v) in _PLAIN or isinstance(v, _NUMPY) for v in items):
        return None
    text = "\x1f".join(map(repr, items))
    if len(text) > MAX_CHARS:
        return None
    seen = f"{name}\x1e{kind}\x1e{limit}\x1e{text}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(seen, digest_size=16).digest()


__all__ = ["MAX_CHARS", "MAX_VALUES", "raw_key"]
