"""Classification inside the engine: a distributed sample, or every row with ``full_scan``.

``full_scan=True`` runs the value recognizers of layer 1 over every value, in parallel over the
partitions (``mapInPandas``: Arrow batches on the executors). Each batch reports, per column and
recognizer, how many values it checked and how many were valid — counts, never values. The
driver merges the counts (a share over all rows, not a sample) and weighs them with the column
name's evidence exactly as a pandas classification does (:func:`lacuna.classify.combine.
combine`), then rolls the columns up to the table. Sensitive terms in values and the veto checks
use the distributed sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lacuna.spark import _jvm

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from lacuna.config import Config
    from lacuna.model import Classification

EVIDENCE_SCHEMA = ("column string, recognizer string, mode string, hits double, n long, "
                   "checked long, score double, weak boolean, below boolean")
_TOTAL = ""  # the recognizer name of a column's row count


def scan_batch(pdf: pd.DataFrame) -> pd.DataFrame:
    """Evidence rows for one Arrow batch (runs on an executor)."""
    import pandas as pd

    from lacuna.classify.heuristic import _engine
    from lacuna.classify.scan import column_sample

    engine = _engine()
    rows: list[tuple[Any, ...]] = []
    for name in pdf.columns:
        sample = column_sample(str(name), pdf[name])
        n = len(sample)
        rows.append((str(name), _TOTAL, "", 0.0, n, 0, 0.0, False, False))
        if not n:
            continue
        for recognizer in engine.values:
            m = recognizer.scan(sample)
            if m is not None:
                rows.append((str(name), recognizer.name, m.mode, m.ratio * m.sampled, m.sampled,
                             m.checked, m.score, m.weak, m.below))
    columns = ["column", "recognizer", "mode", "hits", "n", "checked", "score", "weak", "below"]
    return pd.DataFrame(rows, columns=columns)


def _scan_partitions(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        yield scan_batch(pdf)


def evidence(df: DataFrame) -> pd.DataFrame:
    """Per column and recognizer: valid values, values seen, checks, over every row."""
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
    return _merge(sampled, sample, evidence(df), cfg)


def _merge(sampled: Classification, sample: pd.DataFrame, found: pd.DataFrame,
           config: Config) -> Classification:
    from lacuna.classify.base import ValueMatch
    from lacuna.classify.combine import combine
    from lacuna.classify.heuristic import _engine
    from lacuna.classify.rollup import rollup
    from lacuna.classify.scan import column_sample
    from lacuna.model import Layer

    engine = _engine()
    by_name = {r.name: r for r in engine.values}
    totals = {r.column: int(r.n) for r in found.itertuples() if r.recognizer == _TOTAL}
    columns = dict(sampled.columns)
    for name in sample.columns:
        name = str(name)
        total = totals.get(name, 0)
        matches = []
        for r in found[(found["column"] == name) & (found["recognizer"] != _TOTAL)].itertuples():
            recognizer = by_name.get(str(r.recognizer))
            if recognizer is None or not total:
                continue
            ratio = float(r.hits) / total
            min_ratio = float(getattr(recognizer, "min_ratio", 0.0))
            below = r.mode == "column" and ratio < min_ratio
            weak = int(r.weak) * 2 >= int(r.batches)
            score = float(r.score)
            strength = getattr(recognizer, "strength", None)
            if r.mode == "column" and not weak and isinstance(strength, float):
                score = round(strength * (0.6 + 0.4 * ratio), 4)
            matches.append(ValueMatch(recognizer, str(r.mode), ratio, total, int(r.checked),
                                      0.0 if below else score, weak, below))
        col_sample = column_sample(name, sample[name]) if name in sample else None
        column = combine(name, engine.names.analyze(name), matches, col_sample)
        columns[name] = replace(column, reasoning=f"{column.reasoning} (full scan of {total} "
                                                  "values)".strip())
    result = rollup(columns, config.classification, floor=sampled.floor,
                    extra_tags=sampled.table_tags, layer=Layer.HEURISTIC)
    return replace(result, reasoning=(f"full scan: value recognizers over every row "
                                      f"({max(totals.values(), default=0)} values per column)",
                                      *result.reasoning))
