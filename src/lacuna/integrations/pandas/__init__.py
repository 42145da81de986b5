"""The pandas integration: translate pandas calls into Lacuna operations, and back.

``install()`` patches pandas' readers, writers, merge/join/concat and group-by aggregations,
and adds ``.lacuna`` (plus the seed's ``lacuna_classification``, ``lacuna_tags`` and
``lacuna_lineage``) to DataFrame and Series; ``uninstall()`` restores every attribute exactly.
The wrappers only translate: classification, inheritance and decisions live in the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pandas as pd
from pandas.core.groupby.generic import DataFrameGroupBy, SeriesGroupBy

from lacuna.integrations.pandas._io import (
    READERS,
    SERIES_WRITERS,
    SQL_WRITER,
    WRITERS,
    wrap_reader,
    wrap_writer,
)
from lacuna.integrations.pandas._patch import Patch
from lacuna.integrations.pandas._reshape import (
    GROUPBY_METHODS,
    wrap_concat,
    wrap_groupby_method,
    wrap_join,
    wrap_merge,
)
from lacuna.integrations.pandas.accessor import PROPERTIES, LacunaAccessor, Lineage

Wrap = Callable[[Any], Any]


def _constant(value: object) -> Wrap:
    return lambda _original: value


def _reader(name: str) -> Wrap:
    return lambda original: wrap_reader(name, original)


def _writer(method: str) -> Wrap:
    return lambda original: wrap_writer(method, original)


def _aggregation(method: str) -> Wrap:
    return lambda original: wrap_groupby_method(method, original)


def _patches() -> list[Patch]:
    patches = [Patch(pd, name, _reader(name)) for name in READERS if hasattr(pd, name)]
    patches += [Patch(pd.DataFrame, m, _writer(m)) for m in WRITERS]
    patches += [Patch(pd.Series, m, _writer(m)) for m in SERIES_WRITERS]
    patches += [
        Patch(owner, SQL_WRITER, _writer(SQL_WRITER)) for owner in (pd.DataFrame, pd.Series)
    ]
    patches += [
        Patch(pd, "merge", wrap_merge),
        Patch(pd.DataFrame, "merge", wrap_merge),
        Patch(pd.DataFrame, "join", wrap_join),
        Patch(pd, "concat", wrap_concat),
    ]
    for cls in (DataFrameGroupBy, SeriesGroupBy):
        patches += [Patch(cls, m, _aggregation(m)) for m in GROUPBY_METHODS if hasattr(cls, m)]
    for owner in (pd.DataFrame, pd.Series):
        patches += [Patch(owner, name, _constant(prop)) for name, prop in PROPERTIES.items()]
    return patches


_PATCHES: list[Patch] = []
_LOCK = threading.Lock()


def install() -> None:
    """Patch pandas (idempotent)."""
    with _LOCK:
        if _PATCHES:
            return
        patches = _patches()
        try:
            for patch in patches:
                patch.install()
                _PATCHES.append(patch)
        except BaseException:
            _uninstall_locked()
            raise


def uninstall() -> None:
    """Restore pandas exactly as it was before ``install()``."""
    with _LOCK:
        _uninstall_locked()


def _uninstall_locked() -> None:
    while _PATCHES:
        _PATCHES.pop().uninstall()


def installed() -> bool:
    return bool(_PATCHES)


__all__ = ["LacunaAccessor", "Lineage", "install", "installed", "uninstall"]
