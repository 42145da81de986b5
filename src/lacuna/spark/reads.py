"""Governed reads: the DataFrame's sources are classified when it is created (no job for a
labelled table or file; a distributed sample otherwise) and the read is decided. A DataFrame
brought to pandas (``toPandas``) carries its classification there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lacuna.model import Action, Source
from lacuna.spark import _frames

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def govern_read(df: DataFrame, method: str) -> None:
    """Classify ``df``'s sources and decide the read (raises GovernanceViolation on a denial
    in enforce mode)."""
    from lacuna.governor import current
    from lacuna.spark.plan import analyze, named

    gov = current()
    try:  # a column name that is a value (a file's header): the record names its position
        analysis, _ = named(analyze(df, gov), gov.config.classification)
    except Exception as exc:
        gov.internal_error(exc, action=Action.READ, method=method)
        return
    frame = _frames.user_frame()
    op = gov.operation(
        Action.READ, analysis.classification,
        sources=[Source(name=leaf.label, classification=s.classification)
                 for leaf, s in analysis.leaves],
        method=method, code_location=_frames.code_location(frame),
    )
    gov.govern(op)


def to_pandas(df: DataFrame, frame: Any) -> None:
    """``df.toPandas()``: the pandas frame carries ``df``'s classification (as
    :func:`lacuna.spark.classification` gives it) and its column lineage down to the Spark
    sources, as ``spark.createDataFrame`` of a classified pandas frame keeps the frame's. Before,
    the frame carried nothing and was classified from its values at the next boundary: a column
    Spark knew was personal but whose values look like nothing in particular (``sha2(email)``)
    went to ~/Downloads as PUBLIC."""
    from lacuna.lineage.frames import attach

    state = _carried(df, "toPandas")
    if state is not None:
        attach(frame, state.classification, state.lineage, origins=state.origins)


def to_arrow(df: DataFrame, table: Any) -> Any:
    """``df.toArrow()``: the pyarrow table carries what :func:`to_pandas` gives a pandas frame,
    the way the pyarrow integration keeps a table's state (a token in its schema, which the
    tables Arrow derives from it keep: :func:`lacuna.integrations.pyarrow.carrying`). Before, it
    carried nothing, so ``sha2(email)`` left through ``pyarrow.parquet.write_table`` as PUBLIC.
    Returns the table to hand over (Arrow tables are immutable)."""
    state = _carried(df, "toArrow")
    if state is None:
        return table
    from lacuna.integrations.pyarrow import carrying

    return carrying(table, state)


def _carried(df: DataFrame, method: str) -> Any:
    """The state a frame taken out of ``df`` carries (a :class:`lacuna.lineage.state.DataState`:
    ``df``'s classification, a ``spark.<method>`` lineage node over its sources, each column's
    origins), or None after a recorded internal error (enforce mode raises it instead: what
    could not be classified is not handed over)."""
    from lacuna.classify.header import unnamed
    from lacuna.governor import current
    from lacuna.lineage.state import DataState, LineageNode, Origin
    from lacuna.spark.plan import analyze, named

    gov = current()
    try:
        analysis = analyze(df, gov)
        found, names = named(analysis, gov.config.classification)
    except Exception as exc:  # enforce refuses to hand over what it could not classify
        gov.internal_error(exc, action=Action.READ, method=f"spark.DataFrame.{method}")
        return None
    reads = tuple(LineageNode(name=leaf.label, operation="spark.read", ref=leaf.ref,
                              classification=s.classification, first_seen=s.first_seen)
                  for leaf, s in analysis.leaves)
    node = LineageNode(name=None, operation=f"spark.{method}", parents=reads)
    origins = {
        column: tuple(Origin(ref, source, kind) for index, source, kind in sorted(found_in)
                      if (ref := analysis.leaves[index][0].ref) is not None)
        for column, found_in in analysis.lineage.items()}
    return DataState(classification=unnamed(found.classification, names), lineage=node,
                     origins={c: o for c, o in origins.items() if o})
