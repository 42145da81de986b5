"""Heavy work inside the engine: full-scan classification, anonymisation and synthesis."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

import lacuna
import lacuna.spark
from lacuna.model import ANONYMIZED, Tier


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


def test_full_scan_finds_values_a_sample_misses(spark):
    # 2,000 harmless rows, then 1,000 e-mail addresses in a column named "notes": a head-heavy
    # sample of the first rows would miss them, the full scan counts every row
    rows = [f"item {i}" for i in range(2000)] + [f"p{i}@example.org" for i in range(1000)]
    df = spark.createDataFrame(pd.DataFrame({"notes": rows})).repartition(3)
    full = lacuna.spark.classify(df, full_scan=True)
    col = full.columns["notes"]
    assert col.pii_type == "email"
    assert "full scan of 3000 values" in col.reasoning
    assert full.tier is Tier.PROPRIETARY


def test_full_scan_agrees_with_pandas_on_the_sample_data(spark):
    from lacuna.classify import classify_frame

    pdf = pd.read_csv(data_file("customers.csv"))
    df = spark.createDataFrame(pdf)
    full = lacuna.spark.classify(df, full_scan=True)
    expected = classify_frame(pdf, cascade=False)
    assert full.tier == expected.tier
    assert {n: c.pii_type for n, c in full.columns.items()} == {
        n: c.pii_type for n, c in expected.columns.items()}


def test_spark_and_pandas_full_scans_run_one_implementation(spark):
    from lacuna.classify.fullscan import full_scan, merge_evidence, scan_batch
    from lacuna.spark.scan import evidence

    n = 24_000  # three Arrow batches over two partitions: counts summed across them
    pdf = pd.DataFrame({
        "ref": [f"C{i}" for i in range(n)],
        "contact": [f"user{i % 5000}@example.org" if i % 3 else f"+1 415 555 {i % 10000:04d}"
                    for i in range(n)],
        "region": [("AMER", "EMEA", "APAC", "LATAM")[i % 4] for i in range(n)],
    })
    df = spark.createDataFrame(pdf).repartition(2)
    got = evidence(df).set_index(["column", "recognizer", "mode"])
    ours = merge_evidence(scan_batch(pdf)).set_index(["column", "recognizer", "mode"])
    # the same recognizers fire on the same columns; every value was counted
    assert set(got.index) == set(ours.index)
    assert got.xs("", level="recognizer")["n"].to_dict() == {
        (c, ""): n for c in pdf.columns}
    assert got.loc[("contact", "email", "column"), "hits"] == pytest.approx(16_000, rel=0.02)
    spark_c, pandas_c = lacuna.spark.classify(df, full_scan=True), full_scan(pdf)
    assert spark_c.tier == pandas_c.tier
    assert {k: (c.pii_type, c.classification) for k, c in spark_c.columns.items()} == {
        k: (c.pii_type, c.classification) for k, c in pandas_c.columns.items()}


def test_anonymize_matches_pandas_and_keeps_the_key_out_of_the_plan(gspark, capsys):
    spark = gspark
    key = "spark-test-key-0123456789abcdef"
    pdf = pd.read_csv(data_file("customers.csv"))[["customer_id", "email", "region"]]
    df = spark.createDataFrame(pdf)
    out = lacuna.anonymize(df, ["email"], strategy="hash", key=key)
    expected = lacuna.anonymize(pdf, ["email"], strategy="hash", key=key)
    got = out.toPandas()
    assert got["email"].tolist() == expected["email"].tolist()
    c = lacuna.spark.classification(out)
    assert ANONYMIZED in c.tags
    assert not c.columns["email"].is_personal
    plan = out._jdf.queryExecution().toString()
    assert key not in plan
    # derived frames start from the anonymized classification
    assert not lacuna.spark.classification(out.select("email")).columns["email"].is_personal


def test_mask_and_synthesize_run_on_the_executors(gspark):
    spark = gspark
    pdf = pd.read_csv(data_file("customers.csv"))[["name", "email"]]
    df = spark.createDataFrame(pdf)
    masked = lacuna.anonymize(df, ["name"], strategy="mask").toPandas()
    assert masked["name"].tolist() == lacuna.anonymize(pdf, ["name"], strategy="mask")[
        "name"].tolist()
    a = lacuna.spark.synthesize(df, ["email"], seed=7).toPandas()
    b = lacuna.synthesize(pdf, 7, ["email"])
    assert a["email"].tolist() == b["email"].tolist()
    assert set(a["email"]).isdisjoint(set(pdf["email"]))


def test_importing_lacuna_does_not_import_pyspark():
    import subprocess
    import sys

    code = "import sys, lacuna; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("value", ["maybe"])
def test_bad_flag_is_a_config_error(spark, value):
    from lacuna.errors import ConfigError

    with pytest.raises(ConfigError, match=r"spark\.lacuna\.enabled"):
        spark.conf.set("spark.lacuna.enabled", value)
    assert spark.conf.get("spark.lacuna.enabled", None) is None  # refused, not set


def test_chunked_arrow_strings_are_scanned():
    """pandas 3 strings backed by a chunked Arrow array (what pyspark's toPandas and
    pd.concat give) are classified like any other strings."""
    from lacuna.classify.scan import column_sample

    parts = [pd.Series(["ada@example.org", "x y"], dtype="string[pyarrow]"),
             pd.Series(["alan@example.org"], dtype="string[pyarrow]")]
    sample = column_sample("c", pd.concat(parts, ignore_index=True))
    assert sample.values.to_pylist() == ["ada@example.org", "x y", "alan@example.org"]
    assert sample.text.to_pylist() == ["x y"]


def _noise_config(**anonymize):  # type: ignore[no-untyped-def]
    from lacuna.config import active_config

    config = active_config()
    return config.model_copy(update={"anonymize": config.anonymize.model_copy(update=anonymize)})


def test_a_noised_dataframe_is_one_release_however_often_it_is_read(gspark, governed):
    """Spark evaluates a plan again on every action; each evaluation drew new noise, so
    toPandas() called 200 times was 200 releases whose average is the data. The release is
    checkpointed once and spends its epsilon once, from the same budget as pandas'."""
    from lacuna.anonymize.budget import BudgetExhausted, ledger

    ages = [31, 45, 52, 67, 38, 29, 74, 41, 58, 36] * 3
    path = governed / "patients.csv"
    path.write_text("patient,age\n" + "".join(f"P{i:03d},{a}\n" for i, a in enumerate(ages)))
    config = _noise_config(noise_sensitivity=100.0, epsilon=4.0)
    df = gspark.read.csv(str(path), header=True, inferSchema=True)
    out = lacuna.anonymize(df, ["age"], strategy="noise", config=config)
    first, again = out.toPandas(), out.toPandas()
    assert first["age"].tolist() == again["age"].tolist() != ages
    assert out.filter("age > -1000").count() == len(ages)
    assert lacuna.spark.classification(out).columns["age"].classification.value == "public"
    assert ANONYMIZED in lacuna.spark.classification(out).tags
    released = governed / "Downloads" / "ages"  # public now: the allowed export, read back
    out.select("age").write.csv(str(released))
    back = sorted(float(r[0]) for r in gspark.read.csv(str(released)).collect())
    assert back == sorted(first["age"].tolist())
    lacuna.anonymize(df.withColumnRenamed("age", "years"), ["years"], strategy="noise",
                     config=config)
    with pytest.raises(BudgetExhausted, match=f"column 'age' of {path}"):
        lacuna.anonymize(pd.read_csv(path), ["age"], strategy="noise", config=config)
    # the source column, and the values (Spark's content digest)
    assert [(s.epsilon, s.releases) for s in ledger(config)] == [(8.0, 2)] * 2


def test_noise_sensitivity_is_checked_against_the_whole_columns_spread(gspark, governed):
    """Each Arrow batch saw only its own rows: ages 30-31 in one partition and 70-71 in the
    other passed noise_sensitivity=2, and the column was called public."""
    from lacuna.errors import ConfigError

    pdf = pd.DataFrame({"age": [30.0, 31.0] * 10 + [70.0, 71.0] * 10})
    df = gspark.createDataFrame(pdf)  # two partitions in local[2]: 30-31, then 70-71
    assert df.rdd.getNumPartitions() == 2
    with pytest.raises(ConfigError, match="its values span 41"):
        lacuna.anonymize(df, ["age"], strategy="noise",
                         config=_noise_config(noise_sensitivity=2.0))


def test_noise_is_not_refused_for_a_partition_holding_one_value(gspark, governed):
    """The whole column's spread is checked on the driver; a batch of one row (one value per
    partition) was refused on the executors as 'all the same' though the column spans 40."""
    df = gspark.createDataFrame(pd.DataFrame({"age": [30.0, 31.0, 45.0, 60.0, 70.0]}))
    out = lacuna.anonymize(df.repartition(5), ["age"], strategy="noise",
                           config=_noise_config(noise_sensitivity=100.0, epsilon=1.0))
    back = out.toPandas()["age"]
    assert len(back) == 5
    assert back.notna().all()
    assert lacuna.spark.classification(out).columns["age"].classification.value == "public"


def test_a_nan_does_not_hide_the_spread_of_a_spark_column(gspark, governed):
    """Spark orders NaN above every number: max(age) was NaN, the spread NaN, and any
    noise_sensitivity passed the whole-column check."""
    from lacuna.errors import ConfigError

    df = gspark.createDataFrame(pd.DataFrame({"age": [30.0, 45.0, 70.0, float("nan")]}))
    with pytest.raises(ConfigError, match="its values span 40"):
        lacuna.anonymize(df, ["age"], strategy="noise",
                         config=_noise_config(noise_sensitivity=2.0))


def test_noise_on_a_spark_string_column_is_refused_with_the_reason(gspark, governed):
    from lacuna.errors import ConfigError

    df = gspark.createDataFrame(pd.DataFrame({"age": ["thirty", "forty"]}))
    with pytest.raises(ConfigError, match="it holds string, not numbers"):
        lacuna.anonymize(df, ["age"], strategy="noise", config=_noise_config())


def test_a_refused_noise_release_leaves_no_checkpointed_rows(gspark, governed):
    """The noised rows were checkpointed before the budget was spent; a refused spend left
    them persisted in the session, where getPersistentRDDs() handed them out unlabelled."""
    from lacuna.anonymize.budget import BudgetExhausted

    df = gspark.createDataFrame(pd.DataFrame({"age": [30.0, 45.0, 60.0, 70.0]}))
    config = _noise_config(noise_sensitivity=100.0, epsilon=6.0)
    kept = lacuna.anonymize(df, ["age"], strategy="noise", config=config)
    persisted = set(gspark.sparkContext._jsc.getPersistentRDDs().keySet())
    with pytest.raises(BudgetExhausted):
        lacuna.anonymize(df, ["age"], strategy="noise", config=config)
    # none persisted since (Spark's cleaner may unpersist an earlier test's rows meanwhile:
    # a full run saw one go, and the test compared the sets for equality)
    assert set(gspark.sparkContext._jsc.getPersistentRDDs().keySet()) <= persisted
    assert len(kept.toPandas()) == 4  # the release that was spent still reads
