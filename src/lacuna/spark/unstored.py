"""Tables whose new label could not be stored after a governed write: their old label is stale.

A write replaces a table's label after it ran (:func:`lacuna.spark.writes._label`). When that
fails (the metastore refuses ``ALTER TABLE … SET TBLPROPERTIES``, is down, a permission), the
old label is still there. A table whose files are a local folder binds its label to them, so
the write made it stale; a table whose files are remote (``s3://…``, ``hdfs://…``) binds it to
the column names only, and the old, lower label stayed trusted: e-mails written over a PUBLIC
table read as PUBLIC. Before, the failure was a log line.

Now the table is marked: its label is not trusted until a label is stored for it again (so
is a table the query listener saw moved onto other files, ``ALTER TABLE … SET LOCATION``,
until it re-labels it); it only adds restrictions to what the lineage store recorded of the
write and a sample (:func:`lacuna.spark.sources.classify_leaf`).

The mark is kept in this process's memory and recorded in the lineage store, where labels'
runs persist: a run of operation :data:`MARK` (status FAILED, so it is no version of the table
and adds no edge), naming the table as its output and why as its error. Before, the mark was
this process's only, and another process (a new session) reading the table trusted the old,
lower label. Any process reads the newest such run of a table (:func:`persisted`): the label is
stale unless it was written after that run (a write that stored a label since, or the
listener's re-label of a moved table). A store that cannot record the mark is logged as an
error (the mark stays in memory); one that cannot answer a read refuses it, as the store's
other answers do (:func:`lacuna.spark.sources._from_store`).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lacuna.lineage.store import LineageStore
    from lacuna.spark.sources import Leaf

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_STALE: dict[str, str] = {}  # table name -> why its label is stale


MARK = "spark.label-stale"  # the operation of the lineage store's run marking a stale label


def failed(table: str, why: str) -> None:
    """A label for ``table`` could not be stored after a write: its old one is stale, in this
    process and, recorded in the lineage store (:data:`MARK`), in any other. Never raises
    (a mark the store cannot take is logged)."""
    with _LOCK:
        _STALE[table] = why
    try:
        _record(table, why)
    except Exception as exc:
        log.error("could not record in the lineage store that the label of %s is stale (%s: "
                  "%s); another process reading it trusts that label until a write stores "
                  "one", table, type(exc).__name__, exc)


def _record(table: str, why: str) -> None:
    import uuid

    from lacuna.governor import current
    from lacuna.lineage.records import DatasetVersion, Run, RunStatus
    from lacuna.model import Classification, utcnow
    from lacuna.spark.sources import table_ref

    gov = current()
    now = utcnow()
    gov.lineage_store.record(Run(
        id=uuid.uuid4().hex, operation=MARK, status=RunStatus.FAILED,
        outputs=(DatasetVersion(dataset=table_ref(table), classification=Classification()),),
        user_id=gov.config.user.to_user().id, session=gov.session, started_at=now,
        ended_at=now, method="lacuna.spark",
        error=f"the label of {table} is stale: {why}"))


def persisted(store: LineageStore, table: str | None, label: str | None) -> str | None:
    """Why the label ``label`` (JSON text; None: none) of ``table`` is stale as the lineage
    ``store`` recorded it (None: it is not): its newest :data:`MARK` run, unless ``label`` was
    written after it.

    Raises:
        LineageError: the store cannot answer.
    """
    if table is None:
        return None
    from lacuna.lineage.clock import aware
    from lacuna.lineage.records import RunStatus
    from lacuna.spark.sources import table_ref

    marks = [r for r in store.runs(table_ref(table), limit=None, status=RunStatus.FAILED)
             if r.operation == MARK]
    if not marks:
        return None
    mark = marks[0]  # newest first
    marked = aware(mark.ended_at or mark.started_at)
    written = None
    if label is not None:
        try:
            body = json.loads(label)
            written = aware(body.get("written_at")) if isinstance(body, dict) else None
        except ValueError:
            written = None
    if written is not None and written > marked:
        return None
    return f"{mark.error or 'marked stale'} (the lineage store, {marked:%Y-%m-%d %H:%M:%S} UTC)"


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


__all__ = ["MARK", "failed", "persisted", "stale", "stored", "without_label"]
