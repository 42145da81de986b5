"""Values a governed pandas Series hands out as Python or NumPy values stay findable.

``Series.tolist()`` (``to_list``), ``to_numpy()`` of text and ``list(s)`` copy a column's
values out of pandas into objects that carry nothing: no ``attrs``, no Arrow buffer Lacuna
recorded. A religion coded ``f1``..``f5`` (no classifier recognises the values; only the
column name does) built from them into an Arrow table under another name
(``pa.table({"code": df["religion"].tolist()})``) was classified from ``code`` and its values,
and written as PUBLIC. Each of these methods, on a Series that holds a column classed above
public, indexes what it returns by what it holds
(:func:`lacuna.integrations.pyarrow._arrays.taken`): the same values reaching Arrow again are
matched and keep the class. Installed without the guard (pandas iterates Series internally):
a Series Lacuna never classified costs one dictionary look-up.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from lacuna.integrations.pandas._frames import governed_here
from lacuna.lineage.state import get_state

# the Series methods that hand values out as a list, a NumPy array or an iterator of them
TAKING = ("tolist", "to_list", "to_numpy", "__iter__")


def _index(series: Any, values: Any) -> None:
    arrays = sys.modules.get("lacuna.integrations.pyarrow._arrays")
    if arrays is None:  # the pyarrow integration is not loaded: nothing matches in Arrow
        return
    from lacuna.integrations.pyarrow._copies import series_sources

    arrays.taken(values, series_sources(series))


def wrap_taking(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``Series.tolist``, ``to_list``, ``to_numpy`` and ``__iter__`` (``name``): what they hand
    out of a governed column is indexed (module docstring); an iterator as the list it yields
    (``list(s)``, ``[v for v in s]``)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def taking(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if get_state(self) is None or not governed_here():
                return result
            try:
                values = self._values.tolist() if name == "__iter__" else result
            except (AttributeError, TypeError, ValueError):  # no list of its values
                return result
            _index(self, values)
            return result

        return taking

    return make


__all__ = ["TAKING", "wrap_taking"]
