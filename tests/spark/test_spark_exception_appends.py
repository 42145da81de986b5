"""Spark's appends (``mode("append")``) to a folder written under an exception: refused
without that exception (the folder would change under the sweep's record, and its data outlive
the exception), allowed under it and removed by the sweep (docs/exceptions.md)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

import lacuna
from lacuna.model import utcnow
from spark.conftest import data_file

STEWARD = "jane.smith@example.com"


def _approved(out, sandbox_config):
    """An exception to write the customers to ``out``, approved by the steward; the analyst
    governed again when it returns."""
    exc = lacuna.request_exception(data=pd.read_csv(data_file("customers.csv")),
                                   destination=str(out),
                                   purpose="Board of Directors Q4 customer metrics",
                                   approver=STEWARD, duration_hours=1)
    lacuna.enable(sandbox_config(user={"id": STEWARD, "role": "data_analyst"},
                                 stewards={"default": [STEWARD]}))
    lacuna.approve_exception(exc.id)
    lacuna.enable(sandbox_config(stewards={"default": [STEWARD]}))
    return exc


def test_an_append_to_a_folder_written_under_an_exception(gspark, governed, sandbox_config):
    out = governed / "Downloads" / "spark_out"
    customers = gspark.read.csv(data_file("customers.csv"), header=True)
    exc = _approved(out, sandbox_config)
    customers.limit(3).write.csv(str(out), header=True, exception_id=exc.id)
    before = sorted(p.name for p in out.iterdir())
    public = gspark.createDataFrame([("x",)], ["c0"])
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
        public.write.mode("append").csv(str(out))
    assert sorted(p.name for p in out.iterdir()) == before
    customers.limit(2).write.mode("append").csv(str(out), exception_id=exc.id)
    assert gspark.read.csv(str(out)).count() == 5 + 1  # a header line in each write's part
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert (report.deleted, report.failed) == ((str(out),), ())
    assert not out.exists()


def test_table_appends_into_a_folder_written_under_an_exception(gspark, governed,
                                                                sandbox_config):
    """An external table whose location is that folder: ``insertInto``, ``saveAsTable(mode=
    "append")``, ``writeTo(t).append()`` and SQL ``INSERT INTO`` add files to it, so each is
    checked as an append to the folder before any job runs."""
    out = governed / "Downloads" / "spark_table"
    customers = gspark.read.csv(data_file("customers.csv"), header=True)
    exc = _approved(out, sandbox_config)
    customers.limit(3).select("email").write.csv(str(out), exception_id=exc.id)
    before = sorted(p.name for p in out.iterdir())
    public = gspark.createDataFrame([("x",)], ["c0"])
    plain = governed / "Downloads" / "plain_table"
    try:
        gspark.sql(f"CREATE TABLE exc_ext (c0 string) USING csv LOCATION '{out}'")
        appends = {
            "insertInto": lambda: public.write.insertInto("exc_ext"),
            "saveAsTable": lambda: public.write.mode("append").format("csv").saveAsTable(
                "exc_ext"),
            "writeTo": lambda: public.writeTo("exc_ext").append(),
            "INSERT INTO": lambda: gspark.sql("INSERT INTO exc_ext VALUES ('x')"),
        }
        for name, append in appends.items():
            with pytest.raises(lacuna.exceptions.AppendRefused,
                               match=f"exception {exc.id}") as refused:
                append()
            assert sorted(p.name for p in out.iterdir()) == before, name
            # what works: a table cannot be written under an exception, its folder can
            message = str(refused.value)
            assert f'.save("{out}", exception_id="{exc.id}")' in message, name
            assert 'spark.catalog.refreshTable("' in message, name
            assert "exception_id=" not in message.replace(
                f'.save("{out}", exception_id="{exc.id}")', ""), name
        with pytest.raises(lacuna.exceptions.ExceptionNotAuthorized,
                           match="a table cannot be written under an exception") as refused:
            public.write.insertInto("exc_ext", exception_id=exc.id)  # a table: unsweepable
        assert f'.save("{out}", exception_id="{exc.id}")' in str(refused.value)
        assert sorted(p.name for p in out.iterdir()) == before
        public.write.mode("append").format("csv").save(str(out), exception_id=exc.id)
        gspark.catalog.refreshTable("exc_ext")
        emails = customers.limit(3).select("email").collect()
        assert sorted(r.c0 for r in gspark.table("exc_ext").collect()) == sorted(
            [r.email for r in emails] + ["x"])
        gspark.sql(f"CREATE TABLE plain_ext (c0 string) USING csv LOCATION '{plain}'")
        public.write.insertInto("plain_ext")  # no exception holds it: the ordinary rules
        gspark.sql("INSERT INTO plain_ext VALUES ('y')")
        assert sorted(r.c0 for r in gspark.table("plain_ext").collect()) == ["x", "y"]
    finally:
        for table in ("exc_ext", "plain_ext"):
            gspark.sql(f"DROP TABLE IF EXISTS {table}")
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert (report.deleted, report.failed) == ((str(out),), ())
    assert not out.exists()


def test_an_overwrite_of_a_folder_written_under_an_exception_closes_its_record(
        gspark, governed, sandbox_config):
    """``mode("overwrite")`` (static partition overwrite, Spark's default) replaces all of the
    folder: the exception's record is closed (superseded), and the sweep neither deletes the
    new content nor reports it. The dynamic mode keeps the partitions not written: an append."""
    out = governed / "Downloads" / "spark_over"
    customers = gspark.read.csv(data_file("customers.csv"), header=True)
    exc = _approved(out, sandbox_config)
    customers.limit(3).write.csv(str(out), header=True, exception_id=exc.id)
    public = gspark.createDataFrame([("x",)], ["c0"])
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
        # dynamic: only the partitions written are replaced, the others kept (an append)
        public.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").csv(str(out))
    assert sorted(p.name for p in out.iterdir()) == before
    public.write.mode("overwrite").csv(str(out))
    assert [r[0] for r in gspark.read.csv(str(out)).collect()] == ["x"]
    store = lacuna.governor.current().exceptions
    assert [w.deleted_at is not None for w in store.files(exc.id)] == [True]
    assert [h.event for h in store.get(exc.id).history][-1] == "file-superseded"
    report = lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))
    assert (report.deleted, report.failed) == ((), ())
    assert out.exists()
