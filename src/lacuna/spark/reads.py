"""Governed reads: the DataFrame's sources are classified when it is created (no job for a
labelled table or file; a distributed sample otherwise) and the read is decided."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
