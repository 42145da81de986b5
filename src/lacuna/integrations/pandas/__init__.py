"""The pandas integration: translate pandas calls into Lacuna operations, and back.

``install()`` patches pandas' readers, writers, merge/join/concat, the reshapes that drop
``attrs`` (crosstab, pivot, get_dummies, value_counts, ...), group-by aggregations and
per-row group-by methods (transform, ffill, cumsum, ...), and the operations that move columns
between labels (rename, ``columns =``, ``__setitem__``, ``insert``, ``to_frame``,
``Series.name``) or mix one object's values into another (Series and DataFrame operators,
``combine_first``, ``where``, ``fillna``, ``update``, ``loc``/``iloc`` writes), the results
pandas builds without the input's ``attrs`` (``to_datetime``/``to_numeric``/``to_timedelta``,
``pd.Series(s)``, ``eval``, whole-table ``agg``, an Index made of a column), and adds
``.lacuna`` (plus the seed's ``lacuna_classification``, ``lacuna_tags`` and
``lacuna_lineage``) to DataFrame and Series;
``uninstall()`` restores every attribute exactly.
The wrappers only translate: classification, inheritance and decisions live in the pipeline.

Every governing hook is installed behind one guard (:func:`._patch.guard`): it passes calls
through where governance is off in the calling context, and turns an internal error of Lacuna
into a denial (``enforce``) or a warning (``warn``/``observe``). The patches stay installed
while ``lacuna.enable()`` is on or any ``governed()`` block is open (``hold()``/``release()``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
from pandas.core.generic import NDFrame
from pandas.core.groupby.generic import DataFrameGroupBy, SeriesGroupBy
from pandas.core.indexing import _LocationIndexer
from pandas.core.strings.accessor import StringMethods
from pandas.io.formats.style import Styler

from lacuna.integrations.pandas._columns import (
    FRAME_MIXING,
    columns_axis,
    from_arrow_owners,
    index_axis,
    mixing_methods,
    series_name,
    wrap_frame_mixing,
    wrap_from_arrow,
    wrap_from_records,
    wrap_index_new,
    wrap_index_to,
    wrap_init,
    wrap_insert,
    wrap_location_setitem,
    wrap_mixing,
    wrap_relabelling,
    wrap_series_init,
    wrap_set_index,
    wrap_setitem,
    wrap_to_frame,
)
from lacuna.integrations.pandas._io import (
    READERS,
    wrap_reader,
    wrap_store_close,
    wrap_store_put,
    wrap_writer,
)
from lacuna.integrations.pandas._patch import Patch, Replacement
from lacuna.integrations.pandas._reshape import (
    FRAME_RESHAPES,
    GROUPBY_METHODS,
    GROUPBY_ROW_METHODS,
    RESHAPES,
    SERIES_RESHAPES,
    STRING_RESHAPES,
    UTIL_RESHAPES,
    WINDOW_METHODS,
    wrap_aggregation,
    wrap_concat,
    wrap_conversion,
    wrap_eval,
    wrap_frame_eval,
    wrap_groupby_method,
    wrap_groupby_rows,
    wrap_join,
    wrap_merge,
    wrap_value_counts,
    wrap_window,
)
from lacuna.integrations.pandas._stores import wrap_excel_open, wrap_hdf_init, wrap_hdf_open
from lacuna.integrations.pandas._values import (
    FRAME_TAKING,
    TAKING,
    TAKING_PROPERTIES,
    wrap_finalize,
    wrap_frame_taking,
    wrap_frame_value,
    wrap_frame_values,
    wrap_taking,
    wrap_taking_property,
    wrap_value,
)
from lacuna.integrations.pandas._writers import (
    DATAFRAME_WRITERS,
    SERIES_WRITERS,
    STYLER_WRITERS,
    Writer,
)
from lacuna.integrations.pandas.accessor import PROPERTIES, LacunaAccessor, Lineage

Wrap = Callable[[Any], Any]


def _constant(value: object) -> Wrap:
    return lambda _original: value


def _reader(name: str) -> Wrap:
    return lambda original: wrap_reader(name, original)


def _writer(spec: Writer) -> Wrap:
    return lambda original: wrap_writer(spec, original)


def _store_put(method: str) -> Wrap:
    return lambda original: wrap_store_put(method, original)


def _aggregation(method: str) -> Wrap:
    return lambda original: wrap_groupby_method(method, original)


def _per_row(method: str) -> Wrap:
    return lambda original: wrap_groupby_rows(method, original)


def _windowed(method: str) -> Wrap:
    return lambda original: wrap_window(method, original)


def _inheriting(method: str) -> Wrap:
    return lambda original: wrap_aggregation(method, original)


def _frame_mixing(method: str) -> Wrap:
    return lambda original: wrap_frame_mixing(method, original)


def _window_classes() -> tuple[type, ...]:
    """pandas' window objects (``rolling``, ``rolling(win_type=...)``, ``expanding``,
    ``ewm`` and their group-by forms)."""
    from pandas.api import typing as pdt

    names = ("Rolling", "Window", "Expanding", "ExponentialMovingWindow", "RollingGroupBy",
             "ExpandingGroupBy", "ExponentialMovingWindowGroupBy")
    return tuple(getattr(pdt, n) for n in names if hasattr(pdt, n))


def _patches() -> list[Replacement]:
    patches: list[Replacement] = [Patch(pd, name, _reader(name)) for name in READERS
                                  if hasattr(pd, name)]
    for owner, specs in (
        (pd.DataFrame, DATAFRAME_WRITERS), (pd.Series, SERIES_WRITERS), (Styler, STYLER_WRITERS)
    ):
        patches += [Patch(owner, w.method, _writer(w)) for w in specs if hasattr(owner, w.method)]
    patches += [Patch(pd.HDFStore, m, _store_put(m)) for m in ("put", "append")]
    # opening a store for writing changes its file: checked (and recorded) before it opens
    patches.append(Patch(pd.HDFStore, "__init__", wrap_hdf_init))  # takes exception_id=
    patches.append(Patch(pd.HDFStore, "open", wrap_hdf_open))  # by __init__, and after close()
    patches.append(Patch(pd.ExcelWriter, "__init__", wrap_excel_open))  # truncates the file
    patches += [Patch(owner, "close", wrap_store_close) for owner in (pd.ExcelWriter, pd.HDFStore)]
    patches += [
        Patch(pd, "merge", wrap_merge),
        Patch(pd.DataFrame, "merge", wrap_merge),
        Patch(pd.DataFrame, "join", wrap_join),
        Patch(pd, "concat", wrap_concat),
    ]
    # reshapes whose result pandas builds without the input's attrs: inherit from the inputs
    for owner, reshapes in ((pd, RESHAPES), (pd.DataFrame, FRAME_RESHAPES),
                            (pd.Series, SERIES_RESHAPES), (StringMethods, STRING_RESHAPES),
                            (pd.util, UTIL_RESHAPES)):
        patches += [Patch(owner, name, wrap) for name, wrap in reshapes.items()
                    if hasattr(owner, name)]
    patches += [Patch(owner, "value_counts", wrap_value_counts)
                for owner in (pd.DataFrame, pd.Series)]
    patches += [  # operations that move content between labels: classes move with it
        Patch(pd.DataFrame, "columns", columns_axis),
        *(Patch(pd.DataFrame, m, wrap_relabelling) for m in ("rename", "add_prefix", "add_suffix")),
        Patch(pd.DataFrame, "__setitem__", wrap_setitem),
        Patch(pd.DataFrame, "insert", wrap_insert),
        Patch(pd.Series, "name", series_name),
        Patch(pd.Series, "to_frame", wrap_to_frame),
        Patch(pd.DataFrame, "__init__", wrap_init),
        # a classmethod: replaced as one (behind no guard, as Series.name and the axes are)
        Replacement(pd.DataFrame, "from_records", wrap_from_records),
        *(Patch(owner, "index", index_axis) for owner in (pd.DataFrame, pd.Series)),
        Patch(pd.DataFrame, "set_index", wrap_set_index),
        # an Index carrying a column's class (``IndexAxis``) put back under a label
        Replacement(pd.Series, "__init__", wrap_series_init),  # hot: behind no guard
        # values handed out as a list or NumPy array: indexed by what they hold (hot: no guard)
        *(Replacement(pd.Series, name, wrap_taking(name)) for name in TAKING),
        *(Replacement(pd.Series, name, wrap_taking_property) for name in TAKING_PROPERTIES),
        *(Replacement(pd.DataFrame, name, wrap_frame_taking(name)) for name in FRAME_TAKING),
        Replacement(pd.DataFrame, "values", wrap_frame_values),
        # single values taken one at a time: their column indexed once (hot: no guard)
        Replacement(pd.Series, "_ixs", wrap_value),
        Replacement(pd.DataFrame, "_get_value", wrap_frame_value),
        # parts (a row, a filter, a slice) recorded with what they were cut from (hot: no guard)
        Replacement(NDFrame, "__finalize__", wrap_finalize),
        # the values ``ChunkedArray.to_pandas()`` makes of a governed Arrow column
        *(Replacement(owner, "__from_arrow__", wrap_from_arrow) for owner in from_arrow_owners()),
        Replacement(pd.Index, "__new__", wrap_index_new),
        *(Patch(pd.Index, m, wrap_index_to) for m in ("to_series", "to_frame")),
        # conversions and whole-table aggregations pandas builds without the input's attrs
        *(Patch(pd, m, wrap_conversion) for m in ("to_datetime", "to_numeric", "to_timedelta")),
        *(Patch(owner, m, _inheriting(m)) for owner in (pd.DataFrame, pd.Series)
          for m in ("agg", "aggregate")),
        *(Patch(owner, "apply", _inheriting("apply")) for owner in (pd.Series, pd.DataFrame)),
        # pandas finds an expression's names ``level`` frames up: one frame added, no guard
        Replacement(pd, "eval", wrap_eval),
        Replacement(pd.DataFrame, "eval", wrap_frame_eval),
        # results that mix in another Series' values: pandas keeps the left operand's attrs
        *(Patch(owner, m, wrap_mixing) for owner, methods in mixing_methods() for m in methods
          if hasattr(owner, m)),
        # frames computed column by column from another frame or Series, or written in place
        *(Patch(pd.DataFrame, m, _frame_mixing(m)) for m in FRAME_MIXING
          if hasattr(pd.DataFrame, m)),
        Patch(_LocationIndexer, "__setitem__", wrap_location_setitem),
    ]
    for cls in (DataFrameGroupBy, SeriesGroupBy):
        patches += [Patch(cls, m, _aggregation(m)) for m in GROUPBY_METHODS if hasattr(cls, m)]
        patches += [Patch(cls, m, _per_row(m)) for m in GROUPBY_ROW_METHODS if hasattr(cls, m)]
    for cls in _window_classes():  # each method where it is defined (subclasses inherit it)
        patches += [Patch(cls, m, _windowed(m)) for m in WINDOW_METHODS if m in vars(cls)]
    for owner in (pd.DataFrame, pd.Series):
        patches += [Patch(owner, name, _constant(prop)) for name, prop in PROPERTIES.items()]
    return patches


_PATCHES: list[Replacement] = []
_BUILT: list[Replacement] | None = None  # the patches, made once (see _install_locked)
_LOCK = threading.Lock()
_WANTED = False  # install() was called and uninstall() not since (lacuna.enable())
_HOLDS = 0  # open governed() blocks, in every thread


def install() -> None:
    """Patch pandas (idempotent)."""
    global _WANTED
    with _LOCK:
        _install_locked()
        _WANTED = True


def uninstall() -> None:
    """Restore pandas exactly as it was before ``install()``, unless a ``governed()`` block is
    still open somewhere (then when the last one closes)."""
    global _WANTED
    with _LOCK:
        _WANTED = False
        if not _HOLDS:
            _uninstall_locked()


def hold() -> None:
    """A ``governed()`` block opens: make sure pandas is patched while it is open."""
    global _HOLDS
    with _LOCK:
        _install_locked()
        _HOLDS += 1


def release() -> None:
    """A ``governed()`` block closes: unpatch pandas if nothing else needs it."""
    global _HOLDS
    with _LOCK:
        _HOLDS = max(_HOLDS - 1, 0)
        if not _HOLDS and not _WANTED:
            _uninstall_locked()


def suspend() -> None:
    """Unpatch pandas while its module code runs again (``importlib.reload``: it binds its
    own functions, never a hook); :func:`resume` patches it again."""
    with _LOCK:
        _uninstall_locked()


def resume() -> None:
    """Patch pandas again after :func:`suspend` if ``enable()`` or a ``governed()`` block
    wants it, around what pandas holds now."""
    with _LOCK:
        _uninstall_locked()
        if _WANTED or _HOLDS:
            _install_locked()


def _install_locked() -> None:
    global _BUILT
    if _PATCHES:
        return
    if _BUILT is None:
        _BUILT = _patches()  # built once; each patch reuses its replacement (Patch.install)
    patches = _BUILT
    try:
        for patch in patches:
            patch.install()
            _PATCHES.append(patch)
    except BaseException:
        _uninstall_locked()
        raise


def _uninstall_locked() -> None:
    while _PATCHES:
        _PATCHES.pop().uninstall()


def installed() -> bool:
    return bool(_PATCHES)


__all__ = [
    "LacunaAccessor", "Lineage", "hold", "install", "installed", "release", "resume", "suspend",
    "uninstall",
]
