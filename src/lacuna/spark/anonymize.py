"""``lacuna.anonymize`` and ``lacuna.synthesize`` for Spark DataFrames, on the executors.

Each treated column runs the registered strategy (:mod:`lacuna.anonymize.builtin`: hash,
tokenize, fpe, generalize, mask, redact, noise, synthesize) as a pandas UDF over Arrow batches,
so the values are exactly what ``lacuna.anonymize`` gives for a pandas frame, and no row comes
to the driver.

**The key.** Keyed strategies (``hash``, ``synthesize``) read the key from a Spark *broadcast
variable*: the plan holds only a reference to the UDF and the broadcast's id, never the key, so
``explain()``, the query listener, event logs and the Spark UI do not show it. The broadcast is
shipped to executors through Spark's block manager (on a cluster, turn on
``spark.network.crypto.enabled`` and ``spark.io.encryption.enabled`` so it never crosses the
network or touches disk in clear) and lives as long as the SparkContext.

**The classification.** As for pandas (:func:`lacuna.anonymize.api.reclassify`): treated
columns take their strategy's class, ``ANONYMIZED`` is added, and the k-anonymity guard
(:func:`lacuna.privacy.guard_for_k`) counts the smallest group over the quasi-identifiers with
Spark. The result is registered for the anonymizing projection, so every DataFrame derived from
it starts from it (:mod:`lacuna.spark.plan`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd  # at run time: pandas_udf reads the type hints of the UDF

from lacuna.spark import _jvm

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lacuna.anonymize.budget import Charge
    from lacuna.config import Config
    from lacuna.model import Classification, ColumnClass
    from lacuna.spark.plan import Analysis

_NUMERIC_STRATEGIES = frozenset({"noise"})

_ANONYMIZED: dict[frozenset[int], Classification] = {}
_LOCK = threading.Lock()


def registered(output_ids: frozenset[int]) -> Classification | None:
    """The classification of an anonymizing projection with these output attributes."""
    with _LOCK:
        return _ANONYMIZED.get(output_ids)


def _udf(strategy: str, column: str, before: ColumnClass | None, key: Any, config: Config,
         return_type: Any) -> Any:
    from pyspark.sql.pandas.functions import pandas_udf

    def run(values: pd.Series) -> pd.Series:
        from lacuna.anonymize.base import Context, strategies

        impl = strategies.get(strategy)()
        context = Context(column=column, column_class=before,
                          key=lambda: key.value if key is not None else b"", config=config,
                          batch=True)  # _charges checked the whole column
        out = impl.apply(values, context)
        return out if strategy in _NUMERIC_STRATEGIES else out.astype("string")

    with _jvm.quiet():
        return pandas_udf(run, returnType=return_type)  # type: ignore[call-overload]


def anonymize(df: DataFrame, columns: Sequence[str] | str | None = None,
              strategy: str | Mapping[str, str] | None = None, *,
              key: bytes | str | None = None, config: Config | None = None) -> DataFrame:
    """See :func:`lacuna.anonymize`; the work runs on the executors."""
    from pyspark.sql import functions as F

    from lacuna.anonymize.api import _columns_to_treat, reclassify, strategy_for
    from lacuna.anonymize.base import strategies
    from lacuna.anonymize.keys import resolve
    from lacuna.governor import current
    from lacuna.spark.plan import analyze

    if isinstance(strategy, str):
        strategies.get(strategy)
    elif strategy is not None:
        for name in strategy.values():
            strategies.get(name)
    from lacuna.privacy import under_governor

    # classified as the governor classifies (its mapping, the higher k): config= says how
    cfg = under_governor(config if config is not None else current().config)
    gov = current()
    analysis = analyze(df, gov)
    source = analysis.classification
    if columns is None and isinstance(strategy, Mapping):
        columns = list(strategy)
    treated = [str(c) for c in _columns_to_treat(pd.DataFrame(columns=df.columns), columns,
                                                 source)]
    if not treated:
        return df
    chosen = {c: strategy_for(c, source.columns.get(c), strategy, cfg) for c in treated}
    keyed = {"hash", "synthesize", "tokenize"} & set(chosen.values())
    material = resolve(key, cfg) if keyed else None
    broadcast = df.sparkSession.sparkContext.broadcast(material.material) if material else None
    replaced = {}
    results: dict[str, ColumnClass] = {}
    for name, how in chosen.items():
        before = source.columns.get(name)
        # noise is a float whatever the column held (as in pandas): an int column's type
        # made Arrow refuse 68.23 as int32 on the executors
        rtype = "double" if how in _NUMERIC_STRATEGIES else "string"
        replaced[name] = _udf(how, name, before, broadcast, cfg, rtype)(F.col(name))
        notes = [f"keyed HMAC-SHA256, {material.ref}"] if how == "hash" and material else []
        if how == "synthesize" and (before is None or before.pii_type in (None, "free_text")):
            from lacuna.anonymize.builtin.synthesize import FREE_TEXT_NOTE

            notes.append(FREE_TEXT_NOTE)  # all free text: only the spans found are replaced
        from lacuna.anonymize.base import Context

        ctx = Context(column=name, column_class=before, key=lambda: b"", config=cfg)
        ctx.notes.extend(notes)
        results[name] = strategies.get(how)().classify(before, ctx.notes)
    charges = _charges(df, analysis, chosen, cfg)
    out = df.withColumns(replaced)
    label = "+".join(sorted(set(chosen.values())))
    result = reclassify(source, treated, label, cfg, results=results)
    result = _guard(out, source, result, cfg)
    if charges:
        return _released_once(out, result, charges, cfg)
    with _LOCK:
        _ANONYMIZED[frozenset(i for i, _ in _jvm.output(_jvm.analyzed(out)))] = result
    return out


def _charges(df: DataFrame, analysis: Analysis, chosen: Mapping[str, str],
             config: Config) -> list[Charge]:
    """What the treated columns spend from the privacy budget (:mod:`lacuna.anonymize.budget`),
    after the declassification checks that need the whole column (a batch on an executor sees
    only its own rows: its spread could pass a sensitivity the column's does not)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    from lacuna.anonymize.base import strategies
    from lacuna.anonymize.budget import Charge, Subject, source_subjects
    from lacuna.anonymize.builtin.noise import check_identifier, check_spread, not_numbers
    from lacuna.lineage.state import Origin

    costs: dict[str, float] = {}
    for name, how in chosen.items():
        before = analysis.classification.columns.get(name)
        cost = strategies.get(how)().privacy_cost(before, config)
        if cost <= 0:
            continue
        if not isinstance(df.schema[name].dataType, NumericType):  # min/max are no spread
            raise not_numbers(name, df.schema[name].dataType.simpleString())
        check_identifier(name, before)
        costs[name] = cost
    if not costs:
        return []
    aggregates = []
    for name in costs:  # one job for every noised column
        # NaN is no number (pandas drops it too): Spark orders it above every number, so a
        # NaN maximum made the spread NaN and passed any sensitivity
        number = F.when(~F.isnan(name), F.col(name))
        aggregates += [F.count(number), F.min(number), F.max(number),
                       F.sum(F.xxhash64(name).cast("decimal(38,0)"))]
    row = df.agg(*aggregates).first()
    stats: tuple[Any, ...] = tuple(row) if row is not None else (0, 0.0, 0.0, None) * len(costs)
    charges = []
    for i, (name, cost) in enumerate(costs.items()):
        count, low, high, digest = stats[4 * i:4 * i + 4]
        if count:
            check_spread(name, int(count), float(low), float(high),
                         config.anonymize.noise_sensitivity)
        origins = [Origin(ref, column, kind)
                   for index, column, kind in sorted(analysis.lineage.get(name, ()))
                   if (ref := analysis.leaves[index][0].ref) is not None]
        values = Subject(key=f"spark-values\0{count}\0{digest}",  # as subjects_of: both
                         described=f"the {count} values of column {name!r} (in Spark)")
        charges.append(Charge(name, cost, (*source_subjects(origins), values)))
    return charges


def _released_once(out: DataFrame, result: Classification, charges: list[Charge],
                   config: Config) -> DataFrame:
    """A noised DataFrame computed once: Spark evaluates a plan again on every action, and each
    evaluation draws new noise, so ``toPandas()`` called 200 times was 200 releases for the
    budget of one (their average is the data). The noised rows are checkpointed on the
    executors (``localCheckpoint``: nothing comes to the driver) and every action reads them;
    the budget is spent once they exist (a refused spend returns nothing)."""
    from lacuna.anonymize.budget import spend
    from lacuna.spark.sources import declare_frame

    once = out.localCheckpoint(eager=True)
    try:
        spend(config, charges)
    except BaseException:  # refused: the noised rows are dropped, not left among the
        _jvm.leaf(_jvm.analyzed(once)).rdd().unpersist(False)  # session's persistent RDDs
        raise
    declare_frame(once, result)
    return once


def _guard(out: DataFrame, source: Classification, result: Classification,
           config: Config) -> Classification:
    """k-anonymity over the quasi-identifiers, the smallest group counted by Spark."""
    from pyspark.sql import functions as F

    from lacuna.privacy import guard_for_k, guard_needed

    qis = guard_needed(source, out.columns, config, result)
    if not qis:
        return result
    row = out.groupBy(*qis).count().agg(F.min("count")).first()
    k = int(row[0]) if row is not None and row[0] is not None else 0
    return guard_for_k(k, source, result, qis, config)


def synthesize(df: DataFrame, columns: Sequence[str] | str | None = None, *,
               seed: int | str | bytes | None = None, config: Config | None = None) -> DataFrame:
    """Deterministic synthetic values for personal columns (:func:`lacuna.synthesize`: the
    same seed and value give the same synthetic value), on the executors. The locale and
    ``as_of`` of ``lacuna.synthesize`` stay at their defaults on the executors."""
    from lacuna.synthesize import synthesize as _synthesize

    out: DataFrame = _synthesize(df, seed, columns, config=config)
    return out
