"""Governed Spark: classification, decisions and lineage for PySpark DataFrames.

>>> import lacuna.spark                                   # doctest: +SKIP
>>> spark.conf.set("spark.lacuna.enabled", "true")        # doctest: +SKIP
>>> df = spark.read.table("customers")                    # doctest: +SKIP
>>> lacuna.spark.classification(df).tier                  # doctest: +SKIP
<Tier.PROPRIETARY: 'PROPRIETARY'>

- :func:`enable` (or the seed's keys ``spark.lacuna.enabled`` /
  ``spark.databricks.lacuna.enabled``, and ``…lacuna.policy_server``) governs a session: reads
  classify their sources, writes are decided before any job runs (:mod:`lacuna.spark.writes`),
  and a query listener flags writes made outside Lacuna (:mod:`lacuna.spark.listener`).
- :func:`classification` is a DataFrame's classification, derived from Spark's analyzed plan by
  the shared rules (:mod:`lacuna.spark.plan`); :func:`lineage` its column lineage.
- :func:`classify` with ``full_scan=True`` runs the value recognizers over every row on the
  executors (:mod:`lacuna.spark.scan`); :func:`anonymize` and :func:`synthesize` run as Spark
  expressions and pandas UDFs (:mod:`lacuna.spark.anonymize`); ``lacuna.anonymize(df)`` and
  ``lacuna.synthesize(df)`` call them for a Spark DataFrame.

pyspark is an optional extra (``pip install lacuna[spark]``): ``import lacuna`` never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lacuna import _shadow
from lacuna.spark.session import disable, enable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pyspark.sql import DataFrame

    from lacuna.config import Config
    from lacuna.lineage.records import ColumnEdge
    from lacuna.model import Classification


# anonymize() below imports the module lacuna.spark.anonymize on its first call, and the import
# system binds that module on this package: `lacuna.spark.anonymize(df)` then raised "'module'
# object is not callable" from its second call on. The function stays (lacuna._shadow).
_shadow(__name__, "anonymize")


def classification(df: DataFrame) -> Classification:
    """The classification of a Spark DataFrame (tier, tags, columns), like pandas'
    ``df.lacuna.classification``: with what its column names hold read as a header, as a write
    decides it (:func:`lacuna.spark.plan.named`, :func:`lacuna.lineage.frames.reported`). No
    job runs except, for an aggregate of personal data, one that counts its smallest group
    (k-anonymity)."""
    from lacuna.classify.header import unnamed
    from lacuna.governor import current
    from lacuna.spark.plan import analyze, named

    gov = current()
    analysis, names = named(analyze(df, gov), gov.config.classification)
    return unnamed(analysis.classification, names)


def lineage(df: DataFrame, target: str = "<dataframe>") -> tuple[ColumnEdge, ...]:
    """Each output column's lineage down to the sources' columns, as column edges."""
    from lacuna.governor import current
    from lacuna.lineage.records import DatasetRef
    from lacuna.spark.plan import analyze
    from lacuna.spark.writes import _edges

    return _edges(analyze(df, current()), DatasetRef("spark", target))


def classify(df: DataFrame, *, full_scan: bool = False,
             config: Config | None = None) -> Classification:
    """Classify a Spark DataFrame's values: a distributed sample, or with ``full_scan=True``
    every row, the recognizers running in parallel over partitions (see
    :mod:`lacuna.spark.scan`)."""
    from lacuna.spark.scan import classify_dataframe

    return classify_dataframe(df, full_scan=full_scan, config=config)


def anonymize(df: DataFrame, columns: Sequence[str] | str | None = None,
              strategy: str | Mapping[str, str] | None = None, *,
              key: bytes | str | None = None, config: Config | None = None) -> DataFrame:
    """:func:`lacuna.anonymize` for a Spark DataFrame, on the executors."""
    from lacuna.spark.anonymize import anonymize as _anonymize

    return _anonymize(df, columns, strategy, key=key, config=config)


def synthesize(df: DataFrame, columns: Sequence[str] | str | None = None, *,
               seed: int | str | bytes | None = None, config: Config | None = None) -> DataFrame:
    """Deterministic synthetic values for personal columns, on the executors."""
    from lacuna.spark.anonymize import synthesize as _synthesize

    return _synthesize(df, columns, seed=seed, config=config)


def _install_hooks() -> None:
    """Let the seed's configuration keys switch governance on: ``spark.conf.set`` and the
    builder's ``getOrCreate`` are watched for them."""
    try:
        from pyspark.conf import SparkConf  # noqa: F401  (pyspark present)
        from pyspark.sql import SparkSession
        from pyspark.sql.conf import RuntimeConfig
    except ImportError:  # pragma: no cover - the extra is not installed
        return
    if getattr(RuntimeConfig.set, "__lacuna_hook__", False):
        return
    original_set = RuntimeConfig.set
    original_get = SparkSession.Builder.getOrCreate

    def set_(self: Any, key: str, value: Any) -> None:
        from lacuna.spark.session import ENABLED_KEYS, SERVER_KEYS, check_value, on_conf_set

        if key in ENABLED_KEYS or key in SERVER_KEYS:
            check_value(key, value)  # refused before it is set: ConfigError
        original_set(self, key, value)
        if key in ENABLED_KEYS or key in SERVER_KEYS:
            active = SparkSession.getActiveSession()
            if active is not None and active.conf is self:
                on_conf_set(active, key, value)

    def get_or_create(self: Any) -> SparkSession:
        spark = original_get(self)
        from lacuna.spark.session import ENABLED_KEYS, conf_value

        value = conf_value(spark, ENABLED_KEYS)
        if value is not None and value.lower() == "true":
            enable(spark)
        return spark

    set_.__lacuna_hook__ = True  # type: ignore[attr-defined]
    RuntimeConfig.set = set_  # type: ignore[method-assign]
    SparkSession.Builder.getOrCreate = get_or_create  # type: ignore[method-assign]


_install_hooks()

__all__ = ["anonymize", "classification", "classify", "disable", "enable", "lineage",
           "synthesize"]
