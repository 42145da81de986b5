"""Ways personal data left a governed Spark session undecided or as PUBLIC (a red-team review):
SQL forms whose write is not the statement itself, tables whose files lie outside the
warehouse, reads of part of a folder Lacuna labelled, aggregates that pack values behind a
count, and ``toPandas``. Each is checked on the denied path and the allowed one (read back)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from pyspark.sql import functions as F

import lacuna
import lacuna.spark
from lacuna.errors import IntegrationError
from lacuna.lineage.sidecar import read_sidecar, sidecar_path
from lacuna.model import Tier
from lacuna.spark._jvm import job_ids


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


def _wrote(folder: Path) -> bool:
    return folder.exists() and any(p.is_file() for p in folder.rglob("*"))


def _same_columns(spark):
    """The e-mails as ``code`` and two PUBLIC codes: frames with the same column names."""
    people = spark.read.csv(data_file("customers.csv"), header=True).select(
        F.col("email").alias("code"), "region"
    )
    return people, spark.createDataFrame([("A1", "north"), ("B2", "south")], ["code", "region"])


def _column(df, name: str) -> str:
    return lacuna.spark.classification(df).columns[name].classification.value


def test_sql_writes_that_are_not_the_statement_itself(gspark, governed):
    """``WITH t AS (…) INSERT …`` and ``EXECUTE IMMEDIATE '…'`` wrote the e-mails into
    ~/Downloads undecided (the parsed statement's root was not a write), and so did a
    multi-insert and a SQL script. The first two are decided as the write they run; the others
    are refused, nothing run (a script whatever it holds: Spark runs its statements where
    Lacuna cannot decide them). A ``WITH`` query, refused as "could not decide" (its relation was
    sampled alone), is read and written with the class of what it reads."""
    spark = gspark
    spark.read.csv(data_file("customers.csv"), header=True).createOrReplaceTempView("people_v")
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    refused = {
        "with": (
            f"WITH t AS (SELECT email AS e FROM people_v) INSERT OVERWRITE DIRECTORY "
            f"'{down}/with' USING csv SELECT * FROM t"
        ),
        "immediate": (
            f"EXECUTE IMMEDIATE \"INSERT OVERWRITE DIRECTORY '{down}/immediate' "
            'USING csv SELECT email FROM people_v"'
        ),
    }
    before = job_ids(spark)
    for text in refused.values():
        with pytest.raises(lacuna.GovernanceViolation, match="PROPRIETARY"):
            spark.sql(text)
    for form, text in (
        (
            "multi-insert",
            f"FROM people_v INSERT OVERWRITE DIRECTORY '{down}/m1' USING csv "
            f"SELECT email INSERT OVERWRITE DIRECTORY '{down}/m2' USING csv SELECT region",
        ),
        (
            "SQL script",
            f"BEGIN INSERT OVERWRITE DIRECTORY '{down}/script' USING csv "
            "SELECT email FROM people_v; END",
        ),
    ):
        with pytest.raises(IntegrationError, match=f"{form}.*nothing was run"):
            spark.sql(text)
    with pytest.raises(IntegrationError, match="EXECUTE IMMEDIATE of a variable"):
        spark.sql("EXECUTE IMMEDIATE stmt")
    assert job_ids(spark) == before
    assert not _wrote(down)
    # the allowed paths, read back with their class
    spark.sql(
        f"WITH t AS (SELECT email AS e FROM people_v) INSERT OVERWRITE DIRECTORY "
        f"'{inside}/with' USING parquet SELECT * FROM t"
    )
    spark.sql(
        f"EXECUTE IMMEDIATE \"INSERT OVERWRITE DIRECTORY '{inside}/immediate' USING "
        'parquet SELECT email AS e FROM people_v"'
    )
    for name in ("with", "immediate"):
        back = spark.read.parquet(str(inside / name))
        assert back.count() == 60
        assert _column(back, "e") == "pii"
    query = spark.sql(
        "WITH t AS (SELECT email AS e, region FROM people_v) "
        "SELECT a.e FROM t a JOIN t b ON a.e = b.e"
    )
    assert _column(query, "e") == "pii"
    assert len(query.collect()) == 60
    with pytest.raises(lacuna.GovernanceViolation):
        query.write.csv(str(down / "query"))
    assert not _wrote(down)


def test_tables_whose_files_lie_outside_the_warehouse(gspark, governed):
    """A table in a database created with ``LOCATION '~/Downloads/…'``, or a managed table
    moved there (``ALTER TABLE … SET LOCATION``), was decided as Spark's managed catalog: the
    e-mails were written into ~/Downloads. Such a table is decided as a write to its folder;
    one in a database located in a governed folder is written and labelled."""
    spark = gspark
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    people = spark.read.csv(data_file("customers.csv"), header=True).select("email", "region")
    people.createOrReplaceTempView("people_t")
    spark.sql(f"CREATE DATABASE out_db LOCATION '{down}/db'")
    spark.sql(f"CREATE DATABASE in_db LOCATION '{inside}/db'")
    try:
        people.limit(0).write.saveAsTable("moved")  # an empty managed table, then moved
        spark.sql(f"ALTER TABLE moved SET LOCATION '{down}/moved'")
        before = job_ids(spark)
        for write in (
            lambda: people.write.saveAsTable("out_db.t"),
            lambda: spark.sql("CREATE TABLE out_db.t2 USING csv AS SELECT email FROM people_t"),
            lambda: people.write.insertInto("moved"),
        ):
            with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
                write()
        assert job_ids(spark) == before
        assert not _wrote(down)
        people.write.saveAsTable("in_db.t")  # a governed folder: written, labelled
        back = spark.table("in_db.t")
        assert back.count() == 60
        assert _column(back, "email") == "pii"
        assert _wrote(inside / "db" / "t")
        people.write.saveAsTable("kept")  # the warehouse: still the managed catalog
        assert _column(spark.table("kept"), "email") == "pii"
    finally:
        for table in ("out_db.t", "out_db.t2", "in_db.t", "moved", "kept"):
            spark.sql(f"DROP TABLE IF EXISTS {table}")
        spark.sql("DROP DATABASE IF EXISTS out_db CASCADE")
        spark.sql("DROP DATABASE IF EXISTS in_db CASCADE")


def test_part_of_a_labelled_folder_keeps_its_classification(gspark, governed):
    """A folder Lacuna wrote declares ``sha2(email)`` personal in its sidecar, but its values
    look like nothing in particular: a glob (``folder/*.parquet``), one part file, a partition
    or two folders read at once skipped the sidecar and were read as PUBLIC, then written to
    ~/Downloads. They carry the folder's classification; a malformed sidecar fails closed."""
    spark = gspark
    inside = governed / "governed" / "workspace"
    people = spark.read.csv(data_file("customers.csv"), header=True)
    hashed = people.select(F.sha2("email", 256).alias("h"), "region")
    hashed.write.partitionBy("region").parquet(str(inside / "hashed"))
    hashed.select("h").write.parquet(str(inside / "flat"))
    people.select(F.sha2("phone", 256).alias("h")).write.parquet(str(inside / "flat2"))
    folder = inside / "hashed"
    part = next(folder.rglob("part-*.parquet"))
    reads = {
        "folder": spark.read.parquet(str(folder)),
        "glob": spark.read.parquet(f"{folder}/*/*.parquet"),
        "part file": spark.read.parquet(str(part)),
        "partition": spark.read.parquet(str(part.parent)),
        "two folders": spark.read.parquet(str(inside / "flat"), str(inside / "flat2")),
    }
    for how, df in reads.items():
        assert _column(df, "h") == "pii", how
        with pytest.raises(lacuna.GovernanceViolation):
            df.write.csv(str(governed / "Downloads" / how.replace(" ", "_")))
    assert not _wrote(governed / "Downloads")
    reads["glob"].write.parquet(str(inside / "copy"))  # allowed, and labelled as the folder
    assert read_sidecar(inside / "copy").classification.columns["h"].classification.value == ("pii")
    side = sidecar_path(folder)
    side.write_text("{not json")
    c = lacuna.spark.classification(spark.read.parquet(str(part)))
    assert c.tier is Tier.PROPRIETARY  # the hashes' values alone look like nothing personal
    assert f"{folder} (PROPRIETARY)" in " ".join(c.reasoning)


def test_aggregate_packing_and_to_pandas_keep_the_class(gspark, governed):
    """``concat(count(*), collect_list(email))`` was taken for a count (the first aggregate
    function found), its e-mails PUBLIC; and ``toPandas()`` left Spark's classification behind,
    so ``sha2(email)`` went to ~/Downloads from pandas as PUBLIC. The packed column holds the
    e-mails; the pandas frame carries the class and lineage Spark derived."""
    spark = gspark
    people = spark.read.csv(data_file("customers.csv"), header=True)
    packed = people.groupBy("region").agg(
        F.concat(
            F.count("*").cast("string"), F.lit(":"), F.concat_ws(",", F.collect_list("email"))
        ).alias("x"),
        F.count("email").alias("n"),
    )
    c = lacuna.spark.classification(packed)
    assert c.columns["x"].classification.value == "pii"
    assert c.columns["n"].classification.value == "public"  # a count is still a count
    assert c.tier is Tier.PROPRIETARY
    hashed = people.select(F.sha2("email", 256).alias("h"), "region")
    frame = hashed.toPandas()
    assert len(frame) == 60
    assert frame.lacuna.classification.columns["h"].classification.value == "pii"
    with pytest.raises(lacuna.GovernanceViolation):
        frame.to_csv(governed / "Downloads" / "hashes.csv")
    assert not (governed / "Downloads" / "hashes.csv").exists()
    counts = people.groupBy("region").count().toPandas()  # no personal data: no restriction
    assert counts.lacuna.classification.tier is not Tier.PROPRIETARY
    out = governed / "governed" / "workspace" / "hashes.csv"
    frame.to_csv(out, index=False)  # the allowed path: the sidecar keeps the class and sources
    side = json.loads(sidecar_path(out).read_text())
    assert side["classification"]["columns"]["h"]["classification"] == "pii"
    assert any("customers.csv" in s for s in side["sources"])


def test_values_read_without_an_attribute_keep_their_class(gspark, governed):
    """A scalar subquery, a LATERAL subquery and a session variable read as constants: the
    e-mails they held went to ~/Downloads as PUBLIC. They carry the class of what they read (a
    variable: what ``SET VAR``, ``DECLARE … DEFAULT`` or ``EXECUTE IMMEDIATE … INTO`` put in
    it); a variable set from a literal stays PUBLIC, and goes to ~/Downloads."""
    spark = gspark
    spark.read.csv(data_file("customers.csv"), header=True).createOrReplaceTempView("people_s")
    down = governed / "Downloads"
    spark.sql("DECLARE OR REPLACE emails STRING")  # refused as "could not decide" before
    spark.sql("SET VAR emails = (SELECT concat_ws(',', collect_list(email)) FROM people_s)")
    spark.sql("DECLARE OR REPLACE first STRING")
    spark.sql("EXECUTE IMMEDIATE 'SELECT min(email) FROM people_s' INTO first")
    spark.sql("DECLARE OR REPLACE area STRING DEFAULT 'AMER'")
    hidden = {
        "scalar": spark.sql("SELECT (SELECT max(email) FROM people_s) AS x"),
        "lateral": spark.sql(
            "SELECT l.x FROM (SELECT 1 AS one) t, LATERAL (SELECT email AS x FROM people_s) l"
        ),
        "expr": spark.range(1).select(F.expr("(SELECT max(email) FROM people_s)").alias("x")),
        "set var": spark.sql("SELECT emails AS x"),
        "into": spark.sql("SELECT upper(first) AS x"),
    }
    for how, df in hidden.items():
        assert _column(df, "x") == "pii", how
    before = job_ids(spark)  # classified (a sample of spark.range): no job now
    for how, df in hidden.items():
        with pytest.raises(lacuna.GovernanceViolation):
            df.write.csv(str(down / how.replace(" ", "_")))
    assert job_ids(spark) == before
    assert not _wrote(down)
    public = spark.sql("SELECT area AS x")
    assert lacuna.spark.classification(public).tier is Tier.PUBLIC
    public.write.csv(str(down / "area"))  # the allowed path
    assert [
        r.x for r in spark.read.csv(str(down / "area")).withColumnRenamed("_c0", "x").collect()
    ] == ["AMER"]
    inside = governed / "governed" / "workspace" / "first"
    hidden["into"].write.parquet(str(inside))
    assert read_sidecar(inside).classification.columns["x"].classification.value == "pii"


def test_formatted_sql_and_temporary_views_over_files(gspark, governed):
    """``spark.sql("… FROM {t}", t=df)`` is formatted by pyspark before Spark parses it: the
    unformatted text did not parse, so its write ran undecided. ``INSERT INTO`` a temporary view
    over files (``CREATE TEMPORARY VIEW … USING csv OPTIONS (path …)``, itself refused as "could
    not decide") writes into its folder, and was decided as the managed catalog. Both are
    decided on where they write; into a governed folder the files are labelled. A statement with
    parameters (``args=``), which failed with UNBOUND_SQL_PARAMETER, is decided with them bound."""
    spark = gspark
    people = spark.read.csv(data_file("customers.csv"), header=True).select("email")
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    (down / "tv").mkdir()
    (inside / "tv").mkdir()
    spark.sql(f"CREATE TEMPORARY VIEW tv_out (email STRING) USING csv OPTIONS (path '{down}/tv')")
    spark.sql(f"CREATE TEMPORARY VIEW tv_in (email STRING) USING csv OPTIONS (path '{inside}/tv')")
    before = job_ids(spark)
    for write in (
        lambda: spark.sql(
            f"INSERT OVERWRITE DIRECTORY '{down}/kw' USING csv SELECT email FROM {{t}}", t=people
        ),
        lambda: spark.sql("INSERT INTO tv_out SELECT email FROM {t}", t=people),
        lambda: people.write.insertInto("tv_out"),
        lambda: spark.sql(  # parameters: failed with UNBOUND_SQL_PARAMETER, now decided
            f"INSERT OVERWRITE DIRECTORY '{down}/named' USING csv SELECT email FROM {{t}} "
            "WHERE email LIKE :p",
            args={"p": "%@%"},
            t=people,
        ),
        lambda: spark.sql(
            f"INSERT OVERWRITE DIRECTORY '{down}/pos' USING csv SELECT email FROM {{t}} "
            "WHERE email LIKE ?",
            ["%@%"],
            t=people,
        ),
    ):
        with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
            write()
    assert job_ids(spark) == before
    assert not _wrote(down)
    spark.sql(
        f"INSERT OVERWRITE DIRECTORY '{inside}/kw' USING parquet SELECT * FROM {{t}}", t=people
    )
    assert _column(spark.read.parquet(str(inside / "kw")), "email") == "pii"
    spark.sql(
        f"INSERT OVERWRITE DIRECTORY '{inside}/named' USING parquet SELECT email FROM {{t}} "
        "WHERE email LIKE :p",
        args={"p": "%example.org"},
        t=people,
    )
    named = spark.read.parquet(str(inside / "named"))
    assert named.count() == people.where("email LIKE '%example.org'").count() > 0
    assert _column(named, "email") == "pii"
    spark.sql("INSERT INTO tv_in SELECT email FROM {t}", t=people)
    assert spark.table("tv_in").count() == 60
    side = read_sidecar(inside / "tv")
    assert side.trusted
    assert side.classification.columns["email"].classification.value == "pii"


def test_a_table_label_is_bound_to_the_tables_files(gspark, governed):
    """A table's signed label was bound to its name and column names only, and the lineage
    store's record of the table declared it too: moving a PUBLIC table onto a folder of e-mails
    (``ALTER TABLE … SET LOCATION``), or copying the e-mails' files into its folder, left it
    PUBLIC, and the e-mails went to ~/Downloads. The label is bound to the files' content; an
    untouched table is still classified from its label without a job."""
    import shutil

    spark = gspark
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    people, public = _same_columns(spark)
    people.write.parquet(str(inside / "emails"))
    try:
        for table in ("moved_t", "copied_t"):
            public.write.format("parquet").saveAsTable(table)
        before = job_ids(spark)
        assert lacuna.spark.classification(spark.table("copied_t")).tier is Tier.PUBLIC
        assert job_ids(spark) == before  # the label declares it
        spark.sql(f"ALTER TABLE moved_t SET LOCATION '{inside}/emails'")
        folder = Path(
            spark.sql("DESCRIBE TABLE EXTENDED copied_t")
            .where("col_name = 'Location'")
            .first()
            .data_type.removeprefix("file:")
        )
        for part in (inside / "emails").glob("part-*"):
            shutil.copy(part, folder / f"copied-{part.name}")
        spark.catalog.refreshTable("copied_t")
        for table in ("moved_t", "copied_t"):
            assert _column(spark.table(table), "code") == "pii", table
            with pytest.raises(lacuna.GovernanceViolation):
                spark.table(table).write.csv(str(down / table))
        assert not _wrote(down)
        public.write.mode("overwrite").saveAsTable("copied_t")  # written again: labelled anew
        before = job_ids(spark)
        assert lacuna.spark.classification(spark.table("copied_t")).tier is Tier.PUBLIC
        assert job_ids(spark) == before
        spark.table("copied_t").write.csv(str(down / "public"))  # the allowed path
        assert spark.read.csv(str(down / "public")).count() == 2
    finally:
        for table in ("moved_t", "copied_t"):
            spark.sql(f"DROP TABLE IF EXISTS {table}")


def test_a_folder_whose_files_changed_is_not_declared_by_the_store(gspark, governed):
    """A folder Lacuna wrote as PUBLIC whose part files were replaced by e-mails (outside
    Spark) has a stale sidecar; the lineage store's record of the path then declared it PUBLIC
    (and a malformed sidecar was ignored the same way), so the e-mails went to ~/Downloads; a
    part file overwritten in place after a first read reused the cached classification.
    The record only adds restrictions to a sample; a malformed sidecar fails closed; the
    folder written again is declared by its sidecar, without a job."""
    import shutil

    spark = gspark
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    people, public = _same_columns(spark)
    public.write.parquet(str(inside / "pub"))
    people.write.parquet(str(inside / "emails"))
    for part in (inside / "pub").glob("part-*"):
        part.unlink()
    for part in (inside / "emails").glob("part-*"):
        shutil.copy(part, inside / "pub" / part.name)
    assert read_sidecar(inside / "pub").trust == "stale"
    assert _column(spark.read.parquet(str(inside / "pub")), "code") == "pii"
    # one file overwritten in place (its checksum too) after a read in the same session: the
    # folder's entries do not change, and the cached PUBLIC classification was reused
    public.coalesce(1).write.parquet(str(inside / "pub1"))
    people.coalesce(1).write.parquet(str(inside / "emails1"))
    assert _column(spark.read.parquet(str(inside / "pub1")), "code") == "public"
    target = next((inside / "pub1").glob("part-*.parquet"))
    source = next((inside / "emails1").glob("part-*.parquet"))
    shutil.copyfile(source, target)
    shutil.copyfile(source.parent / f".{source.name}.crc", target.parent / f".{target.name}.crc")
    assert _column(spark.read.parquet(str(inside / "pub1")), "code") == "pii"
    with pytest.raises(lacuna.GovernanceViolation):
        spark.read.parquet(str(inside / "pub")).write.csv(str(down / "pub"))
    assert not _wrote(down)
    sidecar_path(inside / "pub").write_text("{not json")
    c = lacuna.spark.classification(spark.read.parquet(str(inside / "pub")))
    assert c.tier is Tier.PROPRIETARY
    assert any(line.startswith("PROPRIETARY (fail closed)") for line in c.reasoning)
    public.write.mode("overwrite").parquet(str(inside / "pub"))  # written again
    back = spark.read.parquet(str(inside / "pub"))
    before = job_ids(spark)
    assert lacuna.spark.classification(back).tier is Tier.PUBLIC
    assert job_ids(spark) == before
    back.write.csv(str(down / "public"))  # the allowed path
    assert spark.read.csv(str(down / "public")).count() == 2
