"""What a Spark read or write is bound to (a red-team review's leftovers): a statement's
parameter values, a table's partitions with a location of their own, a DataFrame taken out as a
pyarrow table, and a file edited in place with its size and modification time kept. Each is
checked on the denied path and the allowed one (read back)."""

from __future__ import annotations

import os
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

import lacuna
import lacuna.spark
from lacuna.integrations import pyarrow as lacuna_arrow
from lacuna.lineage.sidecar import read_sidecar
from lacuna.model import Tier
from lacuna.spark._jvm import job_ids


def data_file(name: str) -> str:
    return str(resources.files("lacuna") / "data" / name)


def _column(df, name: str) -> str:
    return lacuna.spark.classification(df).columns[name].classification.value


def _wrote(folder: Path) -> bool:
    return folder.exists() and any(p.is_file() for p in folder.rglob("*"))


def test_sql_parameters_are_bound_with_their_class(gspark, governed):
    """``spark.sql(…, args=…)``: a value bound as a parameter read as a constant, so an e-mail
    passed as ``:x`` was PUBLIC and its write to ~/Downloads allowed; a Column value
    (``F.lit``, ``F.array``, ``F.create_map``) was not bound at all, so such a write could not
    run governed (UNBOUND_SQL_PARAMETER). Each is bound as Spark binds it and takes the class of
    its values; a value Spark does not take (a column reference) is refused before anything
    runs."""
    spark = gspark
    email = spark.read.csv(data_file("customers.csv"), header=True).select("email").first()[0]
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    for args in ({"x": email}, {"x": F.lit(email)}, [F.array(F.lit(email))]):
        marker = ":x" if isinstance(args, dict) else "?"
        read = spark.sql(f"SELECT {marker} AS v, 'note' AS w", args=args)
        assert (_column(read, "v"), _column(read, "w")) == ("pii", "public"), args
        before = job_ids(spark)
        with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
            spark.sql(
                f"INSERT OVERWRITE DIRECTORY '{down}/p' USING json SELECT {marker} AS v", args=args
            )
        with pytest.raises(lacuna.GovernanceViolation):  # what is derived from it keeps it
            read.select(F.to_json(F.struct("v")).alias("u")).write.csv(str(down / "derived"))
        assert job_ids(spark) == before
    with pytest.raises(AnalysisException, match="INVALID_SQL_ARG"):  # not a value: refused
        spark.sql(
            f"INSERT OVERWRITE DIRECTORY '{down}/c' USING csv SELECT :x AS v",
            args={"x": F.col("email")},
        )
    assert job_ids(spark) == before
    assert not _wrote(down)
    # the same value written in the query (SQL text, F.lit) read as a constant: PUBLIC, and
    # written to ~/Downloads; now classified by its value ('note' above stays public). An
    # address never bound on this session: a bound one is remembered (see above)
    written_only = "written.only.7@example.org"
    for written in (spark.sql(f"SELECT '{written_only}' AS v, 'note' AS w"),
                    spark.sql("SELECT 1 AS n").select(F.lit(written_only).alias("v"))):
        assert _column(written, "v") == "pii"
        with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
            written.write.csv(str(down / "literal"))
    assert job_ids(spark) == before
    assert not _wrote(down)
    # the allowed paths: Column values bound, into a governed folder and, when nothing in them
    # is personal, to ~/Downloads; read back
    spark.sql(
        f"INSERT OVERWRITE DIRECTORY '{inside}/p' USING parquet SELECT :x AS v, :m AS m",
        args={"x": F.lit(email), "m": F.create_map(F.lit("k"), F.lit(1))},
    )
    back = spark.read.parquet(str(inside / "p"))
    assert [(r.v, r.m) for r in back.collect()] == [(email, {"k": 1})]
    assert _column(back, "v") == "pii"
    spark.sql(
        f"INSERT OVERWRITE DIRECTORY '{down}/ok' USING json SELECT ? AS n, ? AS a",
        [F.lit("north"), F.array(F.lit(1), F.lit(2))],
    )
    assert [tuple(r) for r in spark.read.json(str(down / "ok")).collect()] == [([1, 2], "north")]


def test_remembered_parameters_are_bounded_per_session_and_fail_closed(monkeypatch):
    """The parameter values a session bound were kept in one process-wide mapping that only
    grew (a loop binding a million e-mails kept a million classes, and each plan walk scanned
    every key). They are kept per session, one shared class object per kind, at most
    ``MAX_PARAMETERS``; past that a literal the session no longer tells apart takes the
    strictest class bound (fail closed), never PUBLIC. No Spark needed: the bookkeeping only."""
    from lacuna.config import ClassificationConfig
    from lacuna.model import ColumnClass, ColumnKind, Sensitivity
    from lacuna.spark import statements

    monkeypatch.setattr(statements, "MAX_PARAMETERS", 2)
    monkeypatch.setattr(statements, "_PARAMETERS", {})
    config = ClassificationConfig()
    mail = ColumnClass(classification=ColumnKind.PII, sensitivity=Sensitivity.HIGH,
                       pii_type="email", reasoning="an e-mail")
    money = ColumnClass(classification=ColumnKind.FINANCIAL, reasoning="an amount")
    with statements._VARIABLES_LOCK:
        statements.keep_parameter(1, "'a@x.org'", mail, config)
        statements.keep_parameter(1, "'b@x.org'", replace(mail), config)  # same kind: shared
        statements.keep_parameter(1, "'c@x.org'", money, config)  # one too many
        statements.keep_parameter(1, "'d@x.org'", mail, config)
    held = statements._PARAMETERS[1]
    assert len(held.values) == 2
    assert held.values["'a@x.org'"] is held.values["'b@x.org'"]
    assert statements.remembered_parameter(1, "'a@x.org'") is held.values["'a@x.org'"]
    unknown = statements.remembered_parameter(1, "'EMEA'")  # any literal now: the strictest
    assert unknown is not None
    assert unknown.classification is ColumnKind.PII
    assert "no longer tells them apart" in unknown.reasoning
    assert statements.remembered_parameter(2, "'a@x.org'") is None  # another session: none


def test_a_partition_with_its_own_location_is_not_the_labelled_table(gspark, governed):
    """A partition given a location of its own (``ALTER TABLE … ADD PARTITION … LOCATION``)
    is read as part of the table, but the table's label is bound to its own folder: a partition
    on a folder of e-mails was read at the label's PUBLIC class, and went to ~/Downloads. The
    label then only adds restrictions to a sample; without such a partition it declares the
    table again, without a job. A write into the table can put files into such a partition's
    location: it was decided as the managed table, and e-mails went into a partition on
    ~/Downloads; it is decided as a write there too, before any job."""
    spark = gspark
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    people = spark.read.csv(data_file("customers.csv"), header=True).select(
        F.col("email").alias("code")
    )
    people.write.parquet(str(inside / "emails"))
    public = spark.createDataFrame([("A1", "north"), ("B2", "south")], ["code", "region"])
    try:
        public.write.format("parquet").partitionBy("region").saveAsTable("parts_t")
        before = job_ids(spark)
        assert lacuna.spark.classification(spark.table("parts_t")).tier is Tier.PUBLIC
        assert job_ids(spark) == before  # the label declares it
        spark.sql(f"ALTER TABLE parts_t ADD PARTITION (region='x') LOCATION '{inside}/emails'")
        table = spark.table("parts_t")
        c = lacuna.spark.classification(table)
        assert c.columns["code"].classification.value == "pii"
        assert any("partitions whose files lie outside its folder" in r for r in c.reasoning)
        with pytest.raises(lacuna.GovernanceViolation):
            table.write.csv(str(down / "parts"))
        assert not _wrote(down)
        spark.sql("ALTER TABLE parts_t DROP PARTITION (region='x')")
        (down / "p").mkdir()
        spark.sql(f"ALTER TABLE parts_t ADD PARTITION (region='d') LOCATION '{down}/p'")
        before = job_ids(spark)
        with pytest.raises(lacuna.GovernanceViolation, match="Downloads/p"):
            spark.sql("INSERT INTO parts_t PARTITION (region='d') SELECT code FROM {t}", t=people)
        with pytest.raises(lacuna.GovernanceViolation, match="Downloads/p"):  # any partition
            people.withColumn("region", F.lit("north")).write.insertInto("parts_t")
        assert job_ids(spark) == before
        assert not _wrote(down)
        spark.sql("ALTER TABLE parts_t DROP PARTITION (region='d')")
        back = spark.table("parts_t")
        before = job_ids(spark)
        assert lacuna.spark.classification(back).tier is Tier.PUBLIC
        assert job_ids(spark) == before
        back.write.csv(str(down / "public"))  # the allowed path
        assert sorted(r[0] for r in spark.read.csv(str(down / "public")).collect()) == ["A1", "B2"]
        (inside / "g").mkdir()  # a partition in a governed folder: the allowed path
        spark.sql(f"ALTER TABLE parts_t ADD PARTITION (region='g') LOCATION '{inside}/g'")
        spark.sql("INSERT INTO parts_t PARTITION (region='g') SELECT code FROM {t}", t=people)
        assert spark.table("parts_t").where("region = 'g'").count() == 60
        assert _column(spark.table("parts_t"), "code") == "pii"
        side = read_sidecar(inside / "g")
        assert side.trusted
        assert side.classification.columns["code"].classification.value == "pii"
    finally:
        spark.sql("DROP TABLE IF EXISTS parts_t")


def test_to_arrow_keeps_the_class(gspark, governed):
    """``df.toArrow()`` gave a pyarrow table with no classification (``toPandas`` kept it), so
    ``sha2(email)`` left through ``pq.write_table`` as PUBLIC. The table carries the class and
    sources, as the pyarrow integration carries a table's."""
    spark = gspark
    people = spark.read.csv(data_file("customers.csv"), header=True)
    table = people.select(F.sha2("email", 256).alias("h"), "region").toArrow()
    assert table.num_rows == 60
    assert lacuna_arrow.classification(table).columns["h"].classification.value == "pii"
    down = governed / "Downloads"
    for what in (table, table.select(["h"])):  # a table Arrow derives from it keeps it too
        with pytest.raises(lacuna.GovernanceViolation):
            pq.write_table(what, str(down / "hashes.parquet"))
    assert not (down / "hashes.parquet").exists()
    out = governed / "governed" / "workspace" / "hashes.parquet"
    pq.write_table(table, str(out))  # the allowed path: the file keeps the class and sources
    back = pq.read_table(str(out))
    assert back.column("h").to_pylist() == table.column("h").to_pylist()
    assert lacuna_arrow.classification(back).columns["h"].classification.value == "pii"
    counts = people.groupBy("region").count().toArrow()  # no personal data: no restriction
    assert lacuna_arrow.classification(counts).tier is Tier.INTERNAL
    plain = spark.createDataFrame([("north", 1), ("south", 2)], ["region", "n"]).toArrow()
    assert lacuna_arrow.classification(plain).tier is Tier.PUBLIC
    pq.write_table(plain, str(down / "plain.parquet"))  # PUBLIC: allowed to ~/Downloads
    assert pq.read_table(str(down / "plain.parquet")).to_pylist() == plain.to_pylist()


def test_an_edit_that_keeps_size_and_mtime_is_seen(gspark, governed):
    """The cached classification of a file was keyed by its size and modification time: an
    edit in place keeping both (``touch -r``, ``os.utime``) reused the PUBLIC class of what
    was there before. The key has the change time, which no call sets back."""
    spark = gspark
    path = governed / "governed" / "workspace" / "codes.csv"
    path.write_text("code,region\nZZZZZZZZZZZZZZZZZZZZZZ,north\nYYYYYYYYYYYYYYYYYYYYYY,south\n")
    assert _column(spark.read.csv(str(path), header=True), "code") == "public"
    st, text = path.stat(), path.read_text()
    edited = text.replace("ZZZZZZZZZZZZZZZZZZZZZZ", "ann.lee1@example.co.uk").replace(
        "YYYYYYYYYYYYYYYYYYYYYY", "bob.lee2@example.co.uk"
    )
    assert len(edited) == len(text)
    with open(path, "r+") as fh:
        fh.write(edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    read = spark.read.csv(str(path), header=True)
    assert _column(read, "code") == "pii"
    with pytest.raises(lacuna.GovernanceViolation):
        read.write.csv(str(governed / "Downloads" / "codes"))
    inside = governed / "governed" / "workspace" / "codes_pq"
    read.write.parquet(str(inside))  # the allowed path: labelled with the class it has now
    back = spark.read.parquet(str(inside))
    assert sorted(r.code for r in back.collect()) == [
        "ann.lee1@example.co.uk",
        "bob.lee2@example.co.uk",
    ]
    assert _column(back, "code") == "pii"


def test_execute_immediate_using_values_keep_their_class(gspark, governed):
    """``EXECUTE IMMEDIATE '…' USING v``: Spark binds the value of each argument (a session
    variable, an expression, a parameter of the outer statement) into the statement it runs as
    a literal, which read as a constant: an e-mail put in a variable and passed with USING went
    to ~/Downloads as PUBLIC, and a write of it was decided on an unbound statement. Each value
    takes the class of what the argument reads and of the value; a public one is allowed."""
    spark = gspark
    spark.read.csv(data_file("customers.csv"), header=True).createOrReplaceTempView("people_u")
    spark.sql("DECLARE OR REPLACE first_u STRING")
    spark.sql("SET VAR first_u = (SELECT min(email) FROM people_u)")
    spark.sql("DECLARE OR REPLACE area_u STRING DEFAULT 'AMER'")
    email = spark.sql("SELECT first_u AS v").first()[0]
    down, inside = governed / "Downloads", governed / "governed" / "workspace"
    reads = {
        "positional": spark.sql("EXECUTE IMMEDIATE 'SELECT ? AS v, ? AS w' USING first_u, 'x'"),
        "named": spark.sql(
            "EXECUTE IMMEDIATE 'SELECT :e AS v, :n AS w' USING upper(first_u) AS e, 'x' AS n"
        ),
        "outer": spark.sql(
            "EXECUTE IMMEDIATE 'SELECT ? AS v, ? AS w' USING :x, 'x'", args={"x": email}
        ),
    }
    for how, df in reads.items():
        assert (_column(df, "v"), _column(df, "w")) == ("pii", "public"), how
    assert reads["named"].first().v == email.upper()
    before = job_ids(spark)
    for how, df in reads.items():
        with pytest.raises(lacuna.GovernanceViolation):
            df.write.csv(str(down / how))
    with pytest.raises(lacuna.GovernanceViolation, match="unmanaged"):
        spark.sql(
            f"EXECUTE IMMEDIATE \"INSERT OVERWRITE DIRECTORY '{down}/w' USING json "
            'SELECT ? AS v" USING first_u'
        )
    assert job_ids(spark) == before
    assert not _wrote(down)
    # INTO a variable: it holds what the bound statement reads
    spark.sql("DECLARE OR REPLACE copy_u STRING")
    spark.sql("EXECUTE IMMEDIATE 'SELECT lower(?)' INTO copy_u USING first_u")
    assert _column(spark.sql("SELECT copy_u AS v"), "v") == "pii"
    # the allowed paths, read back: the value into a governed folder keeps its class; a public
    # variable's value goes to ~/Downloads
    spark.sql(
        f"EXECUTE IMMEDIATE \"INSERT OVERWRITE DIRECTORY '{inside}/u' USING parquet "
        'SELECT ? AS v" USING first_u'
    )
    back = spark.read.parquet(str(inside / "u"))
    assert [r.v for r in back.collect()] == [email]
    assert _column(back, "v") == "pii"
    spark.sql(
        f"EXECUTE IMMEDIATE \"INSERT OVERWRITE DIRECTORY '{down}/area' USING json "
        'SELECT :a AS a" USING area_u AS a'
    )
    assert [r.a for r in spark.read.json(str(down / "area")).collect()] == ["AMER"]
