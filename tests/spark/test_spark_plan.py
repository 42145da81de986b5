"""Classification and column lineage from Spark's analyzed plan, by the shared rules."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

import lacuna
import lacuna.spark
from lacuna.lineage.records import EdgeKind
from lacuna.model import Tier


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


@pytest.fixture
def frames(gspark):
    spark = gspark
    customers = spark.read.csv(data_file("customers.csv"), header=True)
    sales = spark.read.csv(data_file("sales.csv"), header=True, inferSchema=True)
    return spark, customers, sales


def _pandas(name: str) -> pd.DataFrame:
    from lacuna.governor import current

    df = pd.read_csv(data_file(name))
    return df, current()


def test_csv_reads_are_classified_like_pandas(frames):
    from lacuna.classify import classify_frame

    _, customers, sales = frames
    for name, df in (("customers.csv", customers), ("sales.csv", sales)):
        expected = classify_frame(pd.read_csv(data_file(name)), path=data_file(name))
        got = lacuna.spark.classification(df)
        assert got.tier == expected.tier, name
        assert set(got.tags) == set(expected.tags), name


def test_join_then_aggregate_follows_the_seed(frames):
    _, customers, sales = frames
    analysis = customers.join(sales, "customer_id")
    c = lacuna.spark.classification(analysis)
    assert c.tier is Tier.PROPRIETARY
    assert {"PII", "FINANCIAL"} <= set(c.tags)
    summary = analysis.groupBy("region").agg(F.sum("revenue").alias("revenue"))
    s = lacuna.spark.classification(summary)
    assert s.tier is Tier.INTERNAL
    assert list(s.tags) == ["FINANCIAL", "DERIVED_FROM_PII"]


def test_small_groups_keep_the_aggregate_proprietary(frames):
    _, customers, _ = frames
    per_person = customers.groupBy("signup_date").agg(F.count("*").alias("n"))
    assert lacuna.spark.classification(per_person).tier is Tier.PROPRIETARY


def test_grouping_by_pii_keeps_it(frames):
    _, customers, _ = frames
    by_email = customers.groupBy("email").count()
    assert lacuna.spark.classification(by_email).tier is Tier.PROPRIETARY


def test_renames_computations_udfs_and_windows_cannot_launder(frames):
    _, customers, _ = frames
    shout = F.udf(lambda s: s.upper() if s else s)
    cases = {
        "alias": customers.select(F.col("email").alias("notes")),
        "renamed": customers.withColumnRenamed("email", "x").select("x"),
        "computed": customers.select(F.concat(F.col("email"), F.lit("!")).alias("x")),
        "udf": customers.select(shout("email").alias("x")),
        "window": customers.select(
            F.first("email").over(Window.partitionBy("region")).alias("x")),
        "sql": customers.selectExpr("lower(email) AS x"),
    }
    for label, df in cases.items():
        c = lacuna.spark.classification(df)
        assert c.tier is Tier.PROPRIETARY, label
        col = next(iter(c.columns.values()))
        assert col.pii_type == "email", label


def test_projection_of_safe_columns_is_recomputed(frames):
    _, customers, _ = frames
    regions = customers.select("region")
    assert lacuna.spark.classification(regions).tier < Tier.PROPRIETARY


def test_union_and_self_join(frames):
    _, customers, _ = frames
    safe = customers.select(F.col("region").alias("v"))
    pii = customers.select(F.col("email").alias("v"))
    assert lacuna.spark.classification(safe.unionByName(pii)).tier is Tier.PROPRIETARY
    left = customers.select("customer_id", "region")
    right = customers.select("customer_id", F.col("phone").alias("p"))
    assert lacuna.spark.classification(left.join(right, "customer_id")).tier is Tier.PROPRIETARY


def test_column_lineage_edges(frames):
    _, customers, sales = frames
    out = (customers.join(sales, "customer_id")
           .withColumnRenamed("email", "contact")
           .groupBy("region").agg(F.sum("revenue").alias("rev")))
    edges = lacuna.spark.lineage(out, "summary")
    by_target = {(e.target_column, e.source_column, e.kind) for e in edges}
    assert ("region", "region", EdgeKind.IDENTITY) in by_target
    assert ("rev", "revenue", EdgeKind.AGGREGATION) in by_target
    sources = {e.source.name.rsplit("/", 1)[-1] for e in edges}
    assert sources == {"customers.csv", "sales.csv"}
    renamed = customers.withColumnRenamed("email", "contact").select("contact")
    (edge,) = lacuna.spark.lineage(renamed)
    assert (edge.source_column, edge.target_column, edge.kind) == (
        "email", "contact", EdgeKind.IDENTITY)


def test_data_in_memory_is_classified_by_a_sample(gspark):
    df = gspark.createDataFrame(pd.DataFrame({
        "contact": [f"user{i}@example.org" for i in range(50)], "n": range(50)}))
    c = lacuna.spark.classification(df)
    assert c.tier is Tier.PROPRIETARY
    assert c.columns["contact"].pii_type == "email"


def test_a_classified_pandas_frame_keeps_its_classification(gspark):
    from lacuna.spark._jvm import job_ids

    pdf = pd.read_csv(data_file("customers.csv"))  # governed: classified by Lacuna
    df = gspark.createDataFrame(pdf)
    before = job_ids(gspark)
    c = lacuna.spark.classification(df)
    assert job_ids(gspark) == before  # declared by pandas: no sample job
    assert c.tier is Tier.PROPRIETARY
    assert c.columns["email"].pii_type == "email"


def test_walking_plans_on_two_threads_never_leaves_the_recursion_limit_raised():
    """Thread A raises the limit, B enters, A leaves (B still walks: the limit stays raised),
    B leaves: the limit is the one from before. Each thread putting back what it saw left it
    at 10,000 for good when they interleaved."""
    import sys
    import threading

    from lacuna.spark.plan import deep_recursion

    before = sys.getrecursionlimit()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def a() -> None:
        with deep_recursion():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:
        a_in.wait(10)
        with deep_recursion():
            b_in.set()
            a_out.wait(10)
            seen["b, after a left"] = sys.getrecursionlimit()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"b, after a left": max(before, 10_000)}
    assert sys.getrecursionlimit() == before
