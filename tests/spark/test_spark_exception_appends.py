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


def test_an_append_to_a_folder_written_under_an_exception(gspark, governed, sandbox_config):
    out = governed / "Downloads" / "spark_out"
    customers = gspark.read.csv(data_file("customers.csv"), header=True)
    exc = lacuna.request_exception(data=pd.read_csv(data_file("customers.csv")),
                                   destination=str(out),
                                   purpose="Board of Directors Q4 customer metrics",
                                   approver=STEWARD, duration_hours=1)
    lacuna.enable(sandbox_config(user={"id": STEWARD, "role": "data_analyst"},
                                 stewards={"default": [STEWARD]}))
    lacuna.approve_exception(exc.id)
    lacuna.enable(sandbox_config(stewards={"default": [STEWARD]}))
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
