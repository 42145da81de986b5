"""Classification inside the engine: a distributed sample, or every row with ``full_scan``.

``full_scan=True`` runs the value recognizers of layer 1 over every value, in parallel over the
partitions (``mapInPandas``: Arrow batches on the executors), with the same code a pandas full
scan runs (:mod:`lacuna.classify.fullscan`). Each batch reports, per column and recognizer, how
many values it checked and how many were valid — counts, never values. The driver merges the
counts (a share over all rows, not a sample) and weighs them with the column name's evidence
exactly as a pandas classification does, then rolls the columns up to the table. Sensitive terms
in values and the veto checks use the distributed sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lacuna import _bypass
from lacuna.classify.fullscan import EVIDENCE_SCHEMA, classify_evidence, scan_batch
from lacuna.spark import _jvm

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from lacuna.config import Config
    from lacuna.model import Classification

__all__ = ["EVIDENCE_SCHEMA", "classify_dataframe", "evidence", "scan_batch"]


def _scan_partitions(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        yield scan_batch(pdf)


def evidence(df: DataFrame) -> pd.DataFrame:
    """Per column and recognizer: valid values, values seen, checks, over every row (the
    Spark form of :func:`lacuna.classify.fullscan.merge_evidence`)."""
    from pyspark.sql import functions as F

    with _jvm.quiet():
        merged = (
            df.mapInPandas(_scan_partitions, EVIDENCE_SCHEMA)
            .groupBy("column", "recognizer", "mode")
            .agg(F.sum("hits").alias("hits"), F.sum("n").alias("n"),
                 F.sum("checked").alias("checked"), F.max("score").alias("score"),
                 F.sum(F.col("weak").cast("int")).alias("weak"), F.count("*").alias("batches"),
                 F.sum(F.col("below").cast("int")).alias("below"))
        )
        with _bypass.bypass():  # counts, not the user's data: no state to carry
            return merged.toPandas()


def classify_dataframe(df: DataFrame, *, full_scan: bool = False,
                       config: Config | None = None) -> Classification:
    from lacuna.classify.heuristic import classify_frame
    from lacuna.governor import current
    from lacuna.spark.sources import sample_frame

    cfg = config or current().config
    cc = cfg.classification
    plan = _jvm.analyzed(df)
    sample = sample_frame(df.sparkSession, plan, len(df.columns), cc)
    sampled = classify_frame(sample, config=cc, cascade=False)
    if not full_scan:
        return sampled
    return classify_evidence(sampled, sample, evidence(df), cc)
