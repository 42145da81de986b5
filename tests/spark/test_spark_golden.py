"""Spark's runner for the golden cases (tests/golden/cases/*.yaml, see tests/golden/
test_golden.py for the format): the same tiers, tags and decisions as pandas."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import lacuna
import lacuna.spark
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.model import Classification

CASES_DIR = Path(__file__).resolve().parent.parent / "golden" / "cases"
TABLES = ("customers", "sales")
CASES = [raw for path in sorted(CASES_DIR.glob("*.yaml"))
         for raw in yaml.safe_load(path.read_text())] if CASES_DIR.is_dir() else []


@dataclass(frozen=True)
class Outcome:
    tier: str
    tags: tuple[str, ...]
    columns: dict[str, str]
    decision: str | None = None
    alternatives: tuple[str, ...] = ()


def _config(folder: Path, aware: str | None = None) -> lacuna.Config:
    # the scratch databases sit in /tmp, unmanaged by default, where a database file is
    # external (lacuna.destinations): the unmanaged place here is the folder's "outside"
    destinations: dict[str, Any] = {"unmanaged": [str(folder / "outside"), "~/Downloads"]}
    if aware:
        destinations["classification_aware_databases"] = [aware]
    return config_from_dict({
        "user": {"id": "analyst_alice", "role": "data_analyst"},
        "audit": {"url": f"sqlite:///{folder / 'audit.db'}"},
        "destinations": destinations,
    })


def _outcome(c: Classification, decision: str | None = None,
             alternatives: tuple[str, ...] = ()) -> Outcome:
    return Outcome(c.tier.value, tuple(sorted(c.tags)),
                   {n: col.classification.value for n, col in c.columns.items()},
                   decision, alternatives)


def _decided(write: Any) -> tuple[str, tuple[str, ...]]:
    try:
        write()
    except GovernanceViolation as exc:
        return "denied", tuple(sorted({a.kind for a in exc.decision.alternatives if a.kind}))
    return "allowed", ()


def run_pandas(case: dict[str, Any], folder: Path) -> Outcome:
    out_db = folder / f"pandas-{uuid.uuid4().hex[:8]}.db"
    aware = f"sqlite:///{out_db}" if case.get("write") == "aware_database" else None
    with lacuna.governed(_config(folder, aware)):
        frames = {t: pd.read_csv(folder / f"{t}.csv") for t in TABLES}
        result = eval(case["pandas"], {"pd": pd}, frames)
        c = result.lacuna_classification
        if case.get("write") is None:
            return _outcome(c)
        with sqlite3.connect(out_db) as con:
            decision, kinds = _decided(lambda: result.to_sql("golden_out", con, index=False))
    return _outcome(c, decision, kinds)


def run_spark(case: dict[str, Any], folder: Path, spark: Any) -> Outcome:
    from pyspark.sql import functions as F

    out_db = folder / f"spark-{uuid.uuid4().hex[:8]}.db"
    aware = f"sqlite:///{out_db}" if case.get("write") == "aware_database" else None
    with lacuna.governed(_config(folder, aware)):
        lacuna.spark.enable(spark)
        try:
            frames = {t: spark.read.csv(str(folder / f"{t}.csv"), header=True, inferSchema=True)
                      for t in TABLES}
            if case.get("spark"):
                result = eval(case["spark"], {"F": F}, frames)
            else:
                for name, df in frames.items():
                    df.createOrReplaceTempView(name)
                result = spark.sql(case["sql"])
            c = lacuna.spark.classification(result)
            if case.get("write") is None:
                return _outcome(c)

            def write() -> None:  # no SQLite JDBC driver here: an allowed write fails after
                try:
                    result.write.jdbc(f"jdbc:sqlite:///{out_db}", "golden_out")
                except GovernanceViolation:
                    raise
                except Exception as exc:
                    if "driver" not in str(exc).lower():
                        raise

            decision, kinds = _decided(write)
        finally:
            lacuna.spark.disable(spark)
            for name in TABLES:  # a view named customers shadows a later test's table
                spark.catalog.dropTempView(name)
    return _outcome(c, decision, kinds)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden-spark")
    for table in TABLES:
        shutil.copy(resources.files("lacuna") / "data" / f"{table}.csv", path / f"{table}.csv")
    return path


@pytest.mark.skipif(not CASES, reason="the golden cases (tests/golden/cases) are not here")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_golden_case_on_spark(case: dict[str, Any], folder: Path, spark: Any) -> None:
    if "spark" in case.get("xfail", {}):
        pytest.xfail(case["xfail"]["spark"])
    got = run_spark(case, folder, spark)
    expect = case["expect"]
    if "tier" in expect:
        assert got.tier == expect["tier"], got
    assert set(expect.get("tags", ())) <= set(got.tags), got
    for column, cls in expect.get("columns", {}).items():
        assert got.columns.get(column) == cls, (column, got)
    if case.get("write") is not None:
        assert got.decision == expect["decision"], got
        assert set(expect.get("alternatives", ())) <= set(got.alternatives), got
    ref = run_pandas(case, folder)
    assert (got.tier, got.tags, got.decision) == (ref.tier, ref.tags, ref.decision), (got, ref)
    assert got.alternatives == ref.alternatives, (got, ref)
