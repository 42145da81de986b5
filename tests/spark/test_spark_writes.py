"""Governed writes: decided before any job, labelled, recorded; SQL and outside writes."""

from __future__ import annotations

import time
from importlib import resources

import pytest
from pyspark.sql import functions as F

import lacuna
import lacuna.spark
from lacuna.model import Tier
from lacuna.spark._jvm import job_ids
from lacuna.spark.patches import RDD_WRITERS, V2_WRITERS, WRITER_METHODS, WRITER_SETTERS


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


def test_every_pyspark_writer_is_governed():
    from pyspark.sql.readwriter import DataFrameWriter, DataFrameWriterV2

    public = {m for m in vars(DataFrameWriter) if not m.startswith("_")}
    assert public == set(WRITER_METHODS) | set(WRITER_SETTERS)
    public_v2 = {m for m in vars(DataFrameWriterV2) if not m.startswith("_")}
    assert set(V2_WRITERS) <= public_v2
    from pyspark import RDD

    assert {m for m in vars(RDD) if m.startswith("saveAs")} == set(RDD_WRITERS)


def test_parquet_write_labels_the_files(gspark, governed):
    spark = gspark
    customers = spark.read.csv(data_file("customers.csv"), header=True)
    out = governed / "governed" / "workspace" / "customers.parquet"
    customers.select("customer_id", F.col("email").alias("who")).write.parquet(str(out))
    back = spark.read.parquet(str(out))  # reading Parquet schemas is a Spark job
    before = job_ids(spark)
    c = lacuna.spark.classification(back)
    assert job_ids(spark) == before  # the sidecar declares it: no sample job
    assert c.tier is Tier.PROPRIETARY
    assert c.columns["who"].pii_type == "email"
    from lacuna.lineage.records import DatasetRef

    (run,) = lacuna.governor.current().lineage_store.runs(DatasetRef.of(str(out)))
    assert {(e.source_column, e.target_column) for e in run.column_edges} == {
        ("customer_id", "customer_id"), ("email", "who")}


def test_denied_write_message_matches_pandas(gspark, governed):
    import pandas as pd

    spark = gspark
    target = str(governed / "Downloads" / "c.csv")
    with pytest.raises(lacuna.GovernanceViolation) as spark_err:
        spark.read.csv(data_file("customers.csv"), header=True).write.csv(target)
    with pytest.raises(lacuna.GovernanceViolation) as pandas_err:
        pd.read_csv(data_file("customers.csv")).to_csv(target)
    spark_lines = str(spark_err.value).splitlines()
    pandas_lines = str(pandas_err.value).splitlines()
    assert spark_lines[:5] == pandas_lines[:5]
    assert [x for x in spark_lines if x.startswith("Policy:")] == [
        x for x in pandas_lines if x.startswith("Policy:")]


def test_sql_ctas_and_insert_are_decided_before_they_run(gspark, governed):
    spark = gspark
    spark.read.csv(data_file("customers.csv"), header=True).write.mode(
        "overwrite").saveAsTable("people")
    try:
        spark.sql("CREATE TABLE people_copy USING parquet AS "
                  "SELECT email AS handle, region FROM people")
        c = lacuna.spark.classification(spark.table("people_copy"))
        assert c.tier is Tier.PROPRIETARY
        assert c.columns["handle"].pii_type == "email"
        down = governed / "Downloads" / "dump"
        before = job_ids(spark)
        with pytest.raises(lacuna.GovernanceViolation):
            spark.sql(f"INSERT OVERWRITE DIRECTORY '{down}' USING csv SELECT * FROM people")
        assert job_ids(spark) == before
        assert not down.exists()
    finally:
        spark.sql("DROP TABLE IF EXISTS people")
        spark.sql("DROP TABLE IF EXISTS people_copy")


def test_writer_v2(gspark):
    spark = gspark
    df = spark.read.csv(data_file("customers.csv"), header=True).select("email", "region")
    try:
        df.select(F.col("email").alias("contact")).writeTo("v2_people").using("parquet").create()
        c = lacuna.spark.classification(spark.table("v2_people"))
        assert c.tier is Tier.PROPRIETARY
        assert c.columns["contact"].pii_type == "email"
    finally:
        spark.sql("DROP TABLE IF EXISTS v2_people")


def test_writes_outside_the_python_api_are_flagged(gspark, governed):
    from lacuna.spark.session import _SESSIONS, _key

    spark = gspark
    df = spark.read.csv(data_file("customers.csv"), header=True)
    out = governed / "governed" / "workspace" / "jvm_side"
    df._jdf.write().mode("overwrite").parquet(str(out))  # straight to the JVM: not wrapped
    listener = _SESSIONS[_key(spark)]
    assert listener is not None
    deadline = time.monotonic() + 30
    records = []
    while time.monotonic() < deadline:
        listener.flush(5)
        gov = lacuna.governor.current()
        records = [r for r in gov.audit.list(limit=None) if "UNGOVERNED" in r.body]
        if records:
            break
        time.sleep(0.5)
    assert records, "the listener did not flag the write"


def test_denied_spark_write_suggests_pyspark_that_runs_as_printed(gspark, governed):
    spark = gspark
    target = str(governed / "Downloads" / "contacts.csv")
    df = spark.read.csv(data_file("customers.csv"), header=True).select(
        "customer_id", "email", "region")
    with pytest.raises(lacuna.GovernanceViolation) as err:
        df.write.csv(target)
    codes = {a.kind: a.code for a in err.value.decision.alternatives if a.code}
    assert {"anonymize", "governed_location"} <= set(codes), codes
    assert "anon_df.write.csv(" in codes["anonymize"]
    assert "df.write.csv(" in codes["governed_location"]
    assert "to_csv" not in "".join(codes.values())
    for kind in ("anonymize", "governed_location"):  # each runs as printed, and is allowed
        exec(codes[kind], {"df": df, "lacuna": lacuna})
    written = spark.read.csv(str(governed / "Downloads" / "contacts_anon.csv"))
    assert written.count() == 60


def test_an_ingested_claim_does_not_declare_a_spark_source(gspark, governed):
    """The lineage store's latest version of a source was taken as its declaration (no sample):
    an analyst who posted an OpenLineage event calling a CSV of customers PUBLIC, for a file
    Lacuna had never written, made Spark read it as PUBLIC. Only a version Lacuna's pipeline
    recorded declares; an ingested one only adds restrictions to what a sample shows."""
    import shutil
    from datetime import UTC, datetime

    from lacuna.lineage.claims import ingest
    from lacuna.lineage.records import DatasetRef, DatasetVersion, Run, RunStatus
    from lacuna.model import Classification

    path = governed / "governed" / "workspace" / "plain_customers.csv"
    shutil.copy(data_file("customers.csv"), path)  # no sidecar: Lacuna never wrote it
    gov = lacuna.governor.current()
    columns = ("customer_id", "name", "email", "phone", "address", "region", "signup_date")
    public = Classification.from_dict({"tier": "PUBLIC", "columns": {
        c: {"classification": "public", "sensitivity": "low"} for c in columns}})
    raised = Classification.from_dict({"tier": "PUBLIC", "tags": ["DEAL_DATA"], "columns": {
        "region": {"classification": "financial", "sensitivity": "high"}}})
    other = governed / "governed" / "workspace" / "other_customers.csv"
    shutil.copy(data_file("customers.csv"), other)
    now = datetime.now(UTC)
    for run_id, target, claim in (("r-spark-public", path, public),
                                  ("r-spark-raise", other, raised)):
        ingest(Run(id=run_id, operation="relabel", status=RunStatus.SUCCEEDED, outputs=(
            DatasetVersion(dataset=DatasetRef.of(str(target)), classification=claim,
                           columns=columns),), user_id="ana", role="analyst",
                   started_at=now, ended_at=now), gov.lineage_store, gov.config.classification)
    c = lacuna.spark.classification(gspark.read.csv(str(path), header=True))
    assert c.tier is Tier.PROPRIETARY
    assert c.columns["email"].classification.value == "pii"
    c = lacuna.spark.classification(gspark.read.csv(str(other), header=True))
    assert c.columns["email"].classification.value == "pii"
    assert c.columns["region"].classification.value == "financial"  # the claim's raise: kept


def test_tables_with_their_own_location_are_decided_as_that_folder(gspark, governed):
    """A table given a location (``CREATE TABLE … LOCATION … AS SELECT``, ``writeTo(t)
    .option("path", …)``), or an existing external table written again (``INSERT INTO``), was
    decided as a managed catalog table: the e-mails were written to ~/Downloads (the listener
    only flagged it afterwards). Its location is the destination, decided before any job."""
    spark = gspark
    down = governed / "Downloads"
    df = spark.read.csv(data_file("customers.csv"), header=True)
    df.createOrReplaceTempView("people_view")
    writes = {
        "ctas": lambda: spark.sql(f"CREATE TABLE loc_ctas USING csv LOCATION '{down / 'ctas'}' "
                                  "AS SELECT email AS x FROM people_view"),
        "ctas_options": lambda: spark.sql(
            f"CREATE TABLE loc_opts USING csv OPTIONS (path '{down / 'ctas_options'}') "
            "AS SELECT email AS x FROM people_view"),
        "v2": lambda: df.select(F.col("email").alias("x")).writeTo("loc_v2").using(
            "csv").option("path", str(down / "v2")).create(),
    }
    try:
        spark.sql(f"CREATE TABLE loc_ext (x string) USING csv LOCATION '{down / 'ext'}'")
        writes["insert"] = lambda: spark.sql("INSERT INTO loc_ext SELECT email FROM people_view")
        writes["insertInto"] = lambda: df.select("email").write.insertInto("loc_ext")
        writes["append"] = lambda: df.select(F.col("email").alias("x")).writeTo(
            "loc_ext").append()
        for name, write in writes.items():
            before = job_ids(spark)
            with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
                write()
            assert job_ids(spark) == before, name
            assert not any(p.is_file() for p in down.rglob("*")), name
        inside = governed / "governed" / "workspace" / "ext_ok"  # a governed location: allowed
        spark.sql(f"CREATE TABLE loc_ok USING parquet LOCATION '{inside}' "
                  "AS SELECT email AS x FROM people_view")
        assert lacuna.spark.classification(spark.table("loc_ok")).tier is Tier.PROPRIETARY
    finally:
        for t in ("loc_ctas", "loc_opts", "loc_v2", "loc_ext", "loc_ok"):
            spark.sql(f"DROP TABLE IF EXISTS {t}")
        spark.catalog.dropTempView("people_view")


def test_switching_governance_off_is_recorded_and_later_writes_are_flagged(gspark, governed):
    """``spark.conf.set("spark.lacuna.enabled", "false")`` by the analyst switched governance
    off silently: nothing in the audit trail said so. The user owns the process, so it is not
    refused, but the switch is recorded, and writes after it are flagged by the listener."""
    from lacuna.spark.listener import flush

    spark = gspark
    df = spark.read.csv(data_file("customers.csv"), header=True)
    out = governed / "Downloads" / "after_off"
    try:
        spark.conf.set("spark.lacuna.enabled", "false")
        gov = lacuna.governor.current()
        (switched,) = [r for r in gov.audit.list(limit=None)
                       if "spark.conf.set(spark.lacuna.enabled=false)" in r.body]
        assert "switched off" in switched.body
        df.select(F.col("email").alias("x")).write.csv(str(out))  # ungoverned: it runs
        deadline = time.monotonic() + 30
        flagged = []
        while not flagged and time.monotonic() < deadline:
            flush(spark, 5)
            flagged = [r for r in gov.audit.list(limit=None)
                       if "UNGOVERNED" in r.body and "after_off" in r.body]
            time.sleep(0.2)
        assert flagged, "the write after the switch was not flagged"
    finally:
        spark.conf.set("spark.lacuna.enabled", "true")


def test_an_event_the_listener_reaches_late_is_judged_by_when_it_came(gspark, governed,
                                                                       monkeypatch):
    """The listener's worker reached a governed write's event after the grace had run out
    (busy with earlier events, on a loaded machine) and flagged the write UNGOVERNED, with a
    job of its own and a second audit record. An event is now matched to a governed write by
    its query (lacuna.spark.expected), not by time; a write that was not governed is still
    flagged however late its event is handled."""
    from lacuna.spark import listener
    from lacuna.spark.listener import flush

    spark = gspark
    real = listener.handle

    def late(*args: object, **kwargs: object) -> None:
        time.sleep(0.8)  # the worker busy elsewhere
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(listener, "handle", late)
    gov = lacuna.governor.current()
    rows = spark.createDataFrame([("north", 1)], ["region", "n"])
    governed_out = governed / "governed" / "workspace" / "late_ok"
    rows.write.parquet(str(governed_out))
    ungoverned_out = governed / "governed" / "workspace" / "late_off"
    try:
        spark.conf.set("spark.lacuna.enabled", "false")
        rows.write.parquet(str(ungoverned_out))
    finally:
        spark.conf.set("spark.lacuna.enabled", "true")
    assert flush(spark, 30)
    flagged = {name for r in gov.audit.list(limit=None) if "UNGOVERNED" in r.body
               for name in ("late_ok", "late_off") if name in r.body}
    assert flagged == {"late_off"}


def test_a_table_a_temporary_view_shadows_is_written_governed_and_not_flagged(gspark, governed):
    """With a temporary view named ``customers`` (the golden tests leave theirs), a governed
    ``saveAsTable("customers")`` ran its insert as a second query that Spark reports as a file
    write to the table's folder with no table: the listener flagged it UNGOVERNED ("policy
    would have DENIED it"), ran a job to classify it and wrote a second audit record. The
    table's folder is now expected with the table; a write there outside Lacuna still is not."""
    from lacuna.spark.listener import flush

    spark = gspark
    df = spark.read.csv(data_file("customers.csv"), header=True)
    gov = lacuna.governor.current()
    df.createOrReplaceTempView("shadowed")
    try:
        df.write.mode("overwrite").saveAsTable("shadowed")
        assert flush(spark, 30)
        assert lacuna.spark.classification(spark.table("default.shadowed")).tier \
            is Tier.PROPRIETARY
        assert not [r for r in gov.audit.list(limit=None)
                    if "UNGOVERNED" in r.body and "shadowed" in r.body]
    finally:
        spark.sql("DROP TABLE IF EXISTS default.shadowed")
        spark.catalog.dropTempView("shadowed")


def test_a_label_copied_onto_another_table_is_not_trusted_there(gspark, governed):
    """The table label was bound to column names only: an analyst who copied a PUBLIC table's
    label properties onto a table of e-mails with the same column names made it read as PUBLIC,
    and its export to ~/Downloads was allowed. The label names its table now."""
    from lacuna.spark import labels

    spark = gspark
    people = spark.read.csv(data_file("customers.csv"), header=True).select(
        F.col("email").alias("code"), "region")
    public = spark.createDataFrame([("A1", "north"), ("B2", "south")], ["code", "region"])
    try:
        public.write.saveAsTable("label_public")
        people.write.saveAsTable("label_people")
        assert lacuna.spark.classification(spark.table("label_public")).tier is Tier.PUBLIC
        # metadata, not rows: it runs governed (it was refused as a query Lacuna cannot read)
        shown = spark.sql("SHOW TBLPROPERTIES label_public").collect()
        for metadata in ("SHOW COLUMNS IN label_public", "SHOW CREATE TABLE label_public",
                         "DESCRIBE label_public region"):
            assert spark.sql(metadata).collect()
        props = {k: v for k, v in shown if k.startswith(labels.PREFIX)}
        spark.sql(labels.set_properties_sql("label_people", props))
        copied = lacuna.spark.classification(spark.table("label_people"))
        assert copied.tier is not Tier.PUBLIC
        with pytest.raises(lacuna.GovernanceViolation):
            spark.table("label_people").write.csv(str(governed / "Downloads" / "copied"))
        assert lacuna.spark.classification(spark.table("label_public")).tier is Tier.PUBLIC
    finally:
        spark.sql("DROP TABLE IF EXISTS label_public")
        spark.sql("DROP TABLE IF EXISTS label_people")


def test_a_checkpoint_is_decided_as_a_write_into_the_checkpoint_directory(gspark, governed):
    """``setCheckpointDir`` names a folder the analyst chooses; ``df.checkpoint()`` writes every
    row there. Under ~/Downloads the e-mails arrived undecided; now it is decided as
    ``df.write`` into that folder is, before the job runs. A governed folder is allowed."""
    spark = gspark
    down = governed / "Downloads" / "ckpt"
    people = spark.read.csv(data_file("customers.csv"), header=True).select(
        F.col("email").alias("x"))
    try:
        spark.sparkContext.setCheckpointDir(str(down))
        before = job_ids(spark)
        with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
            people.checkpoint()
        assert job_ids(spark) == before
        assert not any(p.is_file() and p.stat().st_size for p in down.rglob("*"))
        spark.sparkContext.setCheckpointDir(str(governed / "governed" / "workspace" / "ckpt"))
        kept = people.checkpoint()  # the allowed path: the rows come back as they were
        assert sorted(r.x for r in kept.collect()) == sorted(r.x for r in people.collect())
    finally:
        spark.sparkContext._jsc.sc().setCheckpointDir(str(governed / "spark-checkpoints"))


def test_an_rdd_checkpoint_is_decided_as_an_rdd_write_into_the_checkpoint_directory(
        gspark, governed):
    """``rdd.checkpoint()`` marks the RDD to be written into the checkpoint folder at its next
    action; under ~/Downloads the e-mails arrived there undecided. It is decided when marked,
    as an RDD writer is (PROPRIETARY: an RDD has no plan): refused, the RDD is not marked and
    its next action writes nothing; into a governed folder it is checkpointed."""
    spark = gspark
    down = governed / "Downloads" / "rdd-ckpt"
    inside = governed / "governed" / "workspace" / "rdd-ckpt"
    try:
        spark.sparkContext.setCheckpointDir(str(down))
        emails = spark.read.csv(data_file("customers.csv"), header=True).rdd.map(
            lambda r: r.email)
        with pytest.raises(lacuna.GovernanceViolation) as refused:
            emails.checkpoint()
        assert "Write a DataFrame instead" in str(refused.value)
        assert not emails.isCheckpointed()
        emails.count()  # the action that would have written it
        assert not any(p.is_file() and p.stat().st_size for p in down.rglob("*"))
        spark.sparkContext.setCheckpointDir(str(inside))
        kept = spark.read.csv(data_file("customers.csv"), header=True).rdd.map(
            lambda r: r.email)
        kept.checkpoint()  # the allowed path: written at the next action, read back
        assert sorted(kept.collect()) == sorted(emails.collect())
        assert kept.isCheckpointed()
        assert any(p.is_file() and p.stat().st_size for p in inside.rglob("part-*"))
    finally:
        spark.sparkContext._jsc.sc().setCheckpointDir(str(governed / "spark-checkpoints"))


def test_an_rdd_writer_is_decided_as_data_lacuna_cannot_classify(gspark, governed):
    """``df.rdd.map(...).saveAsTextFile("~/Downloads/…")`` wrote the e-mails undecided (an RDD
    has no plan to read). It is decided as PROPRIETARY going there: refused before any job,
    with what to do instead; into a governed folder it is written."""
    spark = gspark
    emails = spark.read.csv(data_file("customers.csv"), header=True).rdd.map(lambda r: r.email)
    down = governed / "Downloads" / "rdd"
    before = job_ids(spark)
    with pytest.raises(lacuna.GovernanceViolation) as refused:
        emails.saveAsTextFile(str(down))
    assert "Write a DataFrame instead" in str(refused.value)
    assert job_ids(spark) == before
    assert not down.exists()
    inside = governed / "governed" / "workspace" / "rdd"
    emails.saveAsTextFile(str(inside))
    written = "".join(p.read_text() for p in inside.glob("part-*"))
    assert "@" in written
