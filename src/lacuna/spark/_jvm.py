"""Small py4j helpers over Spark's JVM objects: Scala collections, plans, attributes.

Everything Lacuna reads from Spark's analyzed logical plan goes through here, so the rest of
:mod:`lacuna.spark` speaks Python.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def items(coll: Any) -> list[Any]:
    """The elements of a Scala collection (Seq, Set, Option) or a Java iterable."""
    if coll is None:
        return []
    if hasattr(coll, "isDefined") and hasattr(coll, "get") and not hasattr(coll, "size"):
        return [coll.get()] if coll.isDefined() else []
    it = coll.iterator()
    out = []
    while it.hasNext():
        out.append(it.next())
    return out


def option(opt: Any) -> Any:
    """A Scala ``Option``'s value, or None."""
    return opt.get() if opt is not None and opt.isDefined() else None


def kind(obj: Any) -> str:
    """The simple class name of a JVM object (``Project``, ``Alias``, ``LogicalRelation``)."""
    return str(obj.getClass().getSimpleName())


def analyzed(df: DataFrame) -> Any:
    return df._jdf.queryExecution().analyzed()


def children(plan: Any) -> list[Any]:
    return items(plan.children())


def leaf(plan: Any) -> Any:
    """The leaf a plan's first children lead to (the relation of a one-source plan)."""
    while found := children(plan):
        plan = found[0]
    return plan


def output(plan: Any) -> list[tuple[int, str]]:
    """A plan's output attributes as (exprId, name)."""
    return [(int(a.exprId().id()), str(a.name())) for a in items(plan.output())]


def references(expr: Any) -> list[int]:
    """The exprIds an expression reads."""
    return [int(a.exprId().id()) for a in items(expr.references().toSeq())]


def string_map(m: Any) -> dict[str, str]:
    """A Scala ``Map[String, String]`` as a dict."""
    return {str(t._1()): str(t._2()) for t in items(m.toSeq())}


def dataframe_of(spark: SparkSession, plan: Any) -> DataFrame:
    """A DataFrame over a logical plan of ``spark`` (analysis only, nothing runs)."""
    from pyspark.sql import DataFrame

    jvm = spark._jvm
    assert jvm is not None
    jdf = jvm.org.apache.spark.sql.classic.Dataset.ofRows(spark._jsparkSession, plan)
    return DataFrame(jdf, spark)


JOB_GROUP = "lacuna-job-ids"


def job_ids(spark: SparkSession) -> tuple[int, ...]:
    """The jobs the calling thread started (to check that nothing ran): those of its job group,
    which this puts the thread in when it has none. Work on other threads (the query
    listener's, handling earlier events) is not counted. The status tracker learns of a job
    from the listener bus, asynchronously: the bus is drained first (up to 10 s), so a job
    that has just run is counted before, not seen to appear after."""
    sc = spark.sparkContext
    group = sc.getLocalProperty("spark.jobGroup.id")
    if group is None:
        sc.setLocalProperty("spark.jobGroup.id", JOB_GROUP)
        group = JOB_GROUP
    with contextlib.suppress(Exception):  # py4j: not on this Spark; the count may then lag
        sc._jsc.sc().listenerBus().waitUntilEmpty(10_000)
    return tuple(sorted(sc.statusTracker().getJobIdsForGroup(group)))


PANDAS_WARNING = "PySpark does not yet fully support pandas"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """pyspark 4 warns about pandas 3 on every conversion (and its internals use deprecated
    pandas arguments); Lacuna's own conversions (samples, scans) keep that out of the user's
    warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
