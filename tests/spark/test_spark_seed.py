"""The seed's Databricks snippet, adapted to local Spark."""

from __future__ import annotations

from importlib import resources

import pytest
from pyspark.sql import functions as F

import lacuna
import lacuna.spark
from lacuna.errors import ConfigError, PolicyError
from lacuna.model import Tier
from lacuna.spark._jvm import job_ids


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


@pytest.fixture
def customers(gspark):
    """The bundled customers, saved as table `customers` by a governed write."""
    spark = gspark
    spark.sql("CREATE DATABASE IF NOT EXISTS analytics")
    spark.read.csv(data_file("customers.csv"), header=True).write.mode(
        "overwrite").saveAsTable("customers")
    yield spark
    spark.sql("DROP TABLE IF EXISTS customers")
    spark.sql("DROP TABLE IF EXISTS analytics.customer_summary")


def test_seed_snippet(customers, sandbox):
    spark = customers
    spark.conf.set("spark.lacuna.enabled", "true")
    before = job_ids(spark)
    df = spark.read.table("customers")
    c = lacuna.spark.classification(df)
    assert c.tier is Tier.PROPRIETARY
    assert "PII" in c.tags
    assert job_ids(spark) == before  # a labelled table: classified without a job

    summary = df.groupBy("region").agg(F.count("*").alias("customers"))
    s = lacuna.spark.classification(summary)
    assert s.tier is Tier.INTERNAL, s.reasoning
    assert "DERIVED_FROM_PII" in s.tags
    summary.write.saveAsTable("analytics.customer_summary")
    stored = lacuna.spark.classification(spark.read.table("analytics.customer_summary"))
    assert stored.tier is Tier.INTERNAL
    # lineage shows the column edges of the write, from the customers table
    runs = lacuna.governor.current().lineage_store.runs(limit=10)
    written = [r for r in runs
               if any(o.dataset.name.endswith("customer_summary") for o in r.outputs)]
    assert written
    edges = {(_stem(e.source.name), e.source_column, e.target_column)
             for r in written for e in r.column_edges}
    assert ("customers", "region", "region") in edges, edges

    from lacuna.spark.listener import flush

    flush(spark)
    before = job_ids(spark)
    target = str(sandbox / "Downloads" / "customers")
    with pytest.raises(lacuna.GovernanceViolation) as err:
        df.write.csv(target)
    assert job_ids(spark) == before  # denied before any job started
    assert "Cannot export PROPRIETARY data to unmanaged location" in str(err.value)
    assert not (sandbox / "Downloads" / "customers").exists()


def test_renamed_pii_column_keeps_its_class(customers):
    df = customers.read.table("customers")
    renamed = df.withColumnRenamed("email", "region_code").select("region_code")
    c = lacuna.spark.classification(renamed)
    assert c.tier is Tier.PROPRIETARY
    assert c.columns["region_code"].pii_type == "email"


def _stem(name: str) -> str:
    """``customers`` for the table (``spark_catalog.default.customers``) or for the file it was
    loaded from (``…/customers.csv``): which one the lineage names depends on what the session
    ran before."""
    base = name.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    for suffix in (".csv", ".parquet", ".json"):
        base = base.removesuffix(suffix)
    return base.rsplit(".", 1)[-1]


@pytest.mark.parametrize(("yaml", "files", "expected"), [
    ("policy: {dir: p/}\n",
     {"p/broken.rego": "package governance.x\nimport rego.v1\nallow if {\n  input.x ==\n}\n"},
     (PolicyError, "broken.rego:")),
    ("classification:\n  k_anonymty: 5\n", {}, (ConfigError, "lacuna.yaml:2: .*did you mean")),
])
def test_enable_reads_lacuna_yaml_and_compiles_the_bundle_first(spark, sandbox, yaml, files,
                                                                 expected):
    """``lacuna.spark.enable(spark)`` with no configuration reads ``lacuna.yaml`` and compiles its
    policy bundle then, as ``lacuna.enable()`` does: a typo or a broken policy fails at enable,
    naming the file and line, and the session stays ungoverned (it used to fail only at the
    first read or write, as a fail-closed denial)."""
    from lacuna.spark.session import governed

    (sandbox / "lacuna.yaml").write_text(yaml, encoding="utf-8")
    for name, text in files.items():
        (sandbox / name).parent.mkdir(parents=True, exist_ok=True)
        (sandbox / name).write_text(text, encoding="utf-8")
    error, where = expected
    with pytest.raises(error, match=where):
        lacuna.spark.enable(spark)
    assert not governed(spark)
    assert lacuna.governor.existing_process() is None  # the next enable reads the file anew
