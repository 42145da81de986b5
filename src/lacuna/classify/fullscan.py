"""Full-scan classification: the value recognizers over every value, batch by batch.

One implementation for pandas and Spark. :func:`scan_batch` turns one batch of rows into
evidence rows — per column and recognizer, how many values it saw, how many were valid, how many
candidates the validator checked — counts, never values. Spark runs it on the executors
(``mapInPandas`` over Arrow batches, :mod:`lacuna.spark.scan`), pandas over slices of the frame
(:func:`full_scan`); :func:`merge_evidence` sums the batches and :func:`classify_evidence` weighs
the totals with the column name's evidence exactly as a sampled classification does
(:func:`lacuna.classify.combine.combine`), then rolls the columns up to the table.

Why the scan is fast (see ``docs/benchmarks.md``): each pattern runs over a whole batch at once
(RE2 through ``pyarrow.compute``), over the distinct values only when a column repeats itself,
and not at all when no value's length fits it; only evenly spaced candidates (at most the
recognizer's ``max_checks`` per batch) become Python strings for the checksum or dictionary
validator. There is deliberately **no early stop** on the patterns: a full scan promises that
every value was looked at (a column that is clean for nine million rows and holds SSNs after
that must be found); the validator's work is what is bounded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.config import ClassificationConfig
    from lacuna.model import Classification

BATCH_ROWS = 10_000  # Spark's Arrow batch size (spark.sql.execution.arrow.maxRecordsPerBatch)
EVIDENCE_COLUMNS = ("column", "recognizer", "mode", "hits", "n", "checked", "score", "weak",
                    "below")
EVIDENCE_SCHEMA = ("column string, recognizer string, mode string, hits double, n long, "
                   "checked long, score double, weak boolean, below boolean")
TOTAL = ""  # the recognizer name of a column's row count


def scan_batch(frame: pd.DataFrame) -> pd.DataFrame:
    """Evidence rows for one batch of rows (:data:`EVIDENCE_COLUMNS`)."""
    import pandas as pd

    from lacuna.classify.heuristic import _engine
    from lacuna.classify.scan import column_sample

    engine = _engine()
    rows: list[tuple[Any, ...]] = []
    for name in frame.columns:
        sample = column_sample(str(name), frame[name])
        n = len(sample)
        rows.append((str(name), TOTAL, "", 0.0, n, 0, 0.0, False, False))
        if not n:
            continue
        for recognizer in engine.values:
            m = recognizer.scan(sample)
            if m is not None:
                rows.append((str(name), recognizer.name, m.mode, m.ratio * m.sampled, m.sampled,
                             m.checked, m.score, m.weak, m.below))
    return pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))


def merge_evidence(batches: pd.DataFrame) -> pd.DataFrame:
    """The batches' evidence summed per column and recognizer (what Spark's ``groupBy`` in
    :func:`lacuna.spark.scan.evidence` computes)."""
    keys = ["column", "recognizer", "mode"]
    grouped = batches.assign(weak=batches["weak"].astype(int),
                             below=batches["below"].astype(int)).groupby(keys, sort=False)
    return grouped.agg(hits=("hits", "sum"), n=("n", "sum"), checked=("checked", "sum"),
                       score=("score", "max"), weak=("weak", "sum"),
                       batches=("hits", "size"), below=("below", "sum")).reset_index()


def classify_evidence(sampled: Classification, sample: pd.DataFrame, found: pd.DataFrame,
                      config: ClassificationConfig) -> Classification:
    """The classification from merged evidence over every row; ``sampled`` (a classification
    of ``sample``) gives the floor, the table tags and the columns without values."""
    from lacuna.classify.base import ValueMatch
    from lacuna.classify.combine import combine
    from lacuna.classify.heuristic import _engine
    from lacuna.classify.rollup import rollup
    from lacuna.classify.scan import column_sample
    from lacuna.model import Layer

    engine = _engine()
    by_name = {r.name: r for r in engine.values}
    totals = {str(r.column): int(r.n) for r in found.itertuples() if r.recognizer == TOTAL}
    columns = dict(sampled.columns)
    for name in sample.columns:
        name = str(name)
        total = totals.get(name, 0)
        matches = []
        for r in found[(found["column"] == name) & (found["recognizer"] != TOTAL)].itertuples():
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
    result = rollup(columns, config, floor=sampled.floor, extra_tags=sampled.table_tags,
                    layer=Layer.HEURISTIC)
    return replace(result, reasoning=(f"full scan: value recognizers over every row "
                                      f"({max(totals.values(), default=0)} values per column)",
                                      *result.reasoning))


def full_scan(df: pd.DataFrame, *, config: ClassificationConfig | None = None,
              batch_rows: int = BATCH_ROWS) -> Classification:
    """A pandas DataFrame classified with the value recognizers over every row (one core).

    Sensitive terms in values and the veto checks use the bounded sample, as for Spark.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"contact": ["ann@example.org"] * 3 + [None] * 2})
        >>> full_scan(df).columns["contact"].pii_type
        'email'
    """
    import pandas as pd

    from lacuna.classify.heuristic import _default_config, classify_frame
    from lacuna.classify.scan import sample_frame

    cc = config or _default_config()
    sample = sample_frame(df, cc.sample_rows)
    sampled = classify_frame(sample, config=cc, cascade=False)
    if batch_rows < 1:
        from lacuna.errors import ClassificationError

        msg = (f"full_scan(batch_rows={batch_rows}): a batch holds at least one row; leave "
               f"batch_rows out for {BATCH_ROWS:,}")
        raise ClassificationError(msg)
    parts = [scan_batch(df.iloc[lo: lo + batch_rows]) for lo in range(0, len(df), batch_rows)]
    if not parts:
        return sampled
    return classify_evidence(sampled, sample, merge_evidence(pd.concat(parts)), cc)


__all__ = ["BATCH_ROWS", "classify_evidence", "full_scan", "merge_evidence", "scan_batch"]
