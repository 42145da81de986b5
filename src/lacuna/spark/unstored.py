"""Tables whose new label could not be stored after a governed write: their old label is stale.

A write replaces a table's label after it ran (:func:`lacuna.spark.writes._label`). When that
fails (the metastore refuses ``ALTER TABLE … SET TBLPROPERTIES``, is down, a permission), the
old label is still there. A table whose files are a local folder binds its label to them, so
the write made it stale; a table whose files are remote (``s3://…``, ``hdfs://…``) binds it to
the column names only, and the old, lower label stayed trusted: e-mails written over a PUBLIC
table read as PUBLIC. Before, the failure was a log line.

Now the table is marked here: in this process its label is not trusted until a label is
stored for it again (so is a table the query listener saw moved onto other files, ``ALTER
TABLE … SET LOCATION``, until it re-labels it); it only adds restrictions to what the
lineage store recorded of the write and a sample (:func:`lacuna.spark.sources.classify_leaf`).
Another process cannot see the mark (see docs/spark.md).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lacuna.spark.sources import Leaf

_LOCK = threading.Lock()
_STALE: dict[str, str] = {}  # table name -> why its label is stale


def failed(table: str, why: str) -> None:
    """A label for ``table`` could not be stored after a write: its old one is stale."""
    with _LOCK:
        _STALE[table] = why


def stored(table: str) -> None:
    """A label for ``table`` was stored: it is trusted again as it says."""
    with _LOCK:
        _STALE.pop(table, None)


def stale(table: str | None) -> str | None:
    """Why the label of ``table`` is stale in this process (None: it is not known to be)."""
    if table is None:
        return None
    with _LOCK:
        return _STALE.get(table)


def without_label(leaf: Leaf) -> tuple[Leaf, str | None]:
    """``leaf`` without its table label's properties, and that label (None: it has none)."""
    from lacuna.spark.labels import PREFIX, read_table_label

    label = read_table_label(dict(leaf.properties))
    kept = tuple((k, v) for k, v in leaf.properties if not k.startswith(PREFIX + "."))
    return replace(leaf, properties=kept), label


__all__ = ["failed", "stale", "stored", "without_label"]
